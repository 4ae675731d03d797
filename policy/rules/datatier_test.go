package rules

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

// haMySQL and haRedis are what prod renders (components/mysql,
// components/redis), reduced to what the rule reads.
func haMySQL() Resource {
	part := func() map[string]any {
		return map[string]any{
			"size":                float64(3),
			"affinity":            map[string]any{"antiAffinityTopologyKey": "topology.kubernetes.io/zone"},
			"podDisruptionBudget": map[string]any{"maxUnavailable": float64(1)},
		}
	}
	proxy := part()
	proxy["enabled"] = true
	return k8s(typePerconaMySQL, "mysql-cluster", map[string]any{
		"metadata": meta("data", "mysql"),
		"spec":     map[string]any{"sslSecretName": "mysql-ssl", "mysql": part(), "proxy": map[string]any{"haproxy": proxy}},
	})
}

func haRedis() Resource {
	role := func() map[string]any {
		return map[string]any{
			"replicas": float64(3),
			"pdb":      map[string]any{"enabled": true, "maxUnavailable": float64(1)},
			"affinity": map[string]any{"podAntiAffinity": map[string]any{"requiredDuringSchedulingIgnoredDuringExecution": []any{
				map[string]any{"matchLabelKeys": []any{"apps.kubernetes.io/pod-index"}, "topologyKey": "topology.kubernetes.io/zone"},
			}}},
		}
	}
	return k8s(typeRedisCluster, "redis-sessions-cluster", map[string]any{
		"metadata": meta("data", "redis-sessions"),
		"spec": map[string]any{"clusterSize": float64(3), "redisLeader": role(), "redisFollower": role(),
			"TLS": map[string]any{"secret": map[string]any{"secretName": "redis-sessions-tls"}}},
	})
}

func cert(ns, secret string) Resource {
	return k8s(typeCertificate, ns+"-"+secret, map[string]any{"metadata": meta(ns, secret), "spec": map[string]any{"secretName": secret}})
}

// mutate returns a deep copy of r with f applied to its spec.
func mutate(r Resource, f func(spec map[string]any)) Resource {
	b, _ := json.Marshal(r.Inputs)
	var in map[string]any
	_ = json.Unmarshal(b, &in)
	f(in["spec"].(map[string]any))
	r.Inputs = in
	return r
}

func sub(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		m = m[p].(map[string]any)
	}
	return m
}

func TestDataTierHAPassesProdsLayout(t *testing.T) {
	ns := namespace("data", nil)
	assert.Empty(t, DataTierHA.Check(prodStack(ns, haMySQL(), haRedis())))
	one := mutate(haMySQL(), func(s map[string]any) { sub(s, "mysql")["size"] = float64(1) })
	assert.Empty(t, DataTierHA.Check(devStack(ns, one)), "dev may run one member")
}

func TestDataTierHARefusesEverySinglePointOfFailure(t *testing.T) {
	ns := namespace("data", nil)
	cases := []struct {
		name string
		r    Resource
		want string
	}{
		{"one member", mutate(haMySQL(), func(s map[string]any) { sub(s, "mysql")["size"] = float64(1) }), "has 1 member(s): one failure stops the database"},
		{"unsafe flags", mutate(haMySQL(), func(s map[string]any) { s["unsafeFlags"] = map[string]any{"mysqlSize": true} }), "sets unsafeFlags"},
		{"one proxy", mutate(haMySQL(), func(s map[string]any) { sub(s, "proxy", "haproxy")["size"] = float64(1) }), "no proxy of at least 2 pods"},
		{"no proxy", mutate(haMySQL(), func(s map[string]any) { sub(s, "proxy", "haproxy")["enabled"] = false }), "no proxy of at least 2 pods"},
		{"members may share a zone", mutate(haMySQL(), func(s map[string]any) {
			sub(s, "mysql", "affinity")["antiAffinityTopologyKey"] = "none"
		}), "spec.mysql has no required anti-affinity"},
		{"budget of two", mutate(haMySQL(), func(s map[string]any) {
			sub(s, "proxy", "haproxy", "podDisruptionBudget")["maxUnavailable"] = float64(2)
		}), "spec.proxy.haproxy.podDisruptionBudget.maxUnavailable is 2, not 1"},
		{"one leader", mutate(haRedis(), func(s map[string]any) { sub(s, "redisLeader")["replicas"] = float64(1) }), "has 1 leader(s)"},
		{"no followers", mutate(haRedis(), func(s map[string]any) { sub(s, "redisFollower")["replicas"] = float64(0) }), "0 follower(s) for 3 leaders"},
		{"pairs may share a zone", mutate(haRedis(), func(s map[string]any) { delete(sub(s, "redisFollower"), "affinity") }), "spec.redisFollower has no required anti-affinity"},
		{"no budget", mutate(haRedis(), func(s map[string]any) { sub(s, "redisLeader", "pdb")["enabled"] = false }), "spec.redisLeader.pdb is not enabled"},
		{"single-pod store", k8s(typeStatefulSet, "redis-sessions", map[string]any{"metadata": meta("data", "redis-sessions"), "spec": map[string]any{"replicas": float64(1)}}),
			"StatefulSet data/redis-sessions is a single pod"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := []Resource{ns, haMySQL(), haRedis()}
			replaced := false
			for i := range rs {
				if rs[i].Type == tc.r.Type && rs[i].Name == tc.r.Name {
					rs[i], replaced = tc.r, true
				}
			}
			if !replaced {
				rs = append(rs, tc.r)
			}
			got := messages(DataTierHA.Check(prodStack(rs...)))
			assert.Len(t, got, 1, "%v", got)
			if len(got) == 1 {
				assert.Contains(t, got[0], tc.want)
			}
		})
	}
	// A prod stack with no replicated store at all.
	got := messages(DataTierHA.Check(prodStack(ns)))
	assert.ElementsMatch(t, []string{"no PerconaServerMySQL cluster: the prod database must be replicated", "no RedisCluster: the prod sessions must be replicated"}, got)
	// The cache and a moving stack's single instance are not on the list.
	cache := k8s(typeStatefulSet, "redis-cache", map[string]any{"metadata": meta("data", "redis-cache"), "spec": map[string]any{"replicas": float64(1)}})
	assert.Empty(t, DataTierHA.Check(prodStack(ns, haMySQL(), haRedis(), cache)))
}

func TestDataTierTLS(t *testing.T) {
	good := []Resource{haMySQL(), haRedis(), cert("data", "mysql-ssl"), cert("data", "redis-sessions-tls")}
	assert.Empty(t, DataTierTLS.Check(devStack(good...)))
	got := messages(DataTierTLS.Check(devStack(haMySQL(), haRedis(), cert("data", "mysql-ssl"), cert("moodle", "redis-sessions-tls"))))
	assert.Equal(t, []string{`RedisCluster data/redis-sessions: spec.TLS.secret.secretName "redis-sessions-tls" is no Certificate of the stack, so its traffic is not encrypted with the data tier's CA`}, got)
	plain := mutate(haRedis(), func(s map[string]any) { delete(s, "TLS") })
	got = messages(DataTierTLS.Check(devStack(haMySQL(), plain, cert("data", "mysql-ssl"))))
	assert.Len(t, got, 1)
	assert.Contains(t, got[0], `spec.TLS.secret.secretName ""`)
}

func TestMeshInjectionLetsTheDataNamespaceOutWithTLSOnly(t *testing.T) {
	data := namespace("data", nil)
	assert.Empty(t, MeshInjection.Check(devStack(data, cert("data", "mysql-ssl"))))
	assert.Equal(t, []string{"namespace data is not labelled for sidecar injection"}, messages(MeshInjection.Check(devStack(data))),
		"without the stores' certificates the data namespace needs the mesh")
}
