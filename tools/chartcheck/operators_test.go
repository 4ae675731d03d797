package chartcheck

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func resourceOf(t *testing.T, s *Stack, kind string) Object {
	t.Helper()
	for _, o := range s.Objects {
		if o.Kind() == kind {
			return o
		}
	}
	require.Failf(t, "missing", "%s renders no %s", s.Name, kind)
	return nil
}

func names(cs []string) map[string]bool {
	out := map[string]bool{}
	for _, c := range cs {
		out[c] = true
	}
	return out
}

// TestOperatorPodModel holds the pods the model builds from prod's
// resources to what the operators' sources build (operators.go).
func TestOperatorPodModel(t *testing.T) {
	s, err := LoadStack(root, "prod")
	require.NoError(t, err)
	pods, err := operatorPods([]Object{resourceOf(t, s, "PerconaServerMySQL"), resourceOf(t, s, "RedisCluster")})
	require.NoError(t, err)
	byName := map[string]Pod{}
	for _, p := range pods {
		byName[p.Name] = p
	}
	require.Len(t, byName, 4, "members, proxies, leaders, followers")

	members := byName["mysql-mysql"]
	var cs []string
	for _, c := range members.Spec.Containers {
		cs = append(cs, c.Name)
	}
	assert.Equal(t, []string{"mysql", "exporter"}, cs, "mysqld, then the sidecars (no xtrabackup: backups are off)")
	assert.Equal(t, "mysql-init", members.Spec.InitContainers[0].Name)
	assert.Equal(t, "database", members.Meta.Labels["app.kubernetes.io/component"])
	assert.Equal(t, "true", members.Meta.Annotations["prometheus.io/scrape"])
	proxy := byName["mysql-haproxy"]
	assert.Len(t, proxy.Spec.Containers, 2, "haproxy and mysql-monit")
	assert.Equal(t, "proxy", proxy.Meta.Labels["app.kubernetes.io/component"])
	leader := byName["redis-sessions-leader"]
	assert.Equal(t, map[string]string{"app": "redis-sessions-leader", "redis_setup_type": "cluster", "role": "leader", "cluster": "redis-sessions"}, leader.Meta.Labels)
	assert.True(t, names([]string{leader.Spec.Containers[0].Name, leader.Spec.Containers[1].Name})["redis-exporter"])

	ev, err := NewEvaluator()
	require.NoError(t, err)
	for _, p := range pods {
		why, err := ev.Check(p, "restricted")
		require.NoError(t, err)
		assert.Empty(t, why, p.String())
	}

	// The operators' defaults are not restricted (the research notes, §1.1,
	// §4.2): without the resources' security contexts the check refuses
	// the pods, so the passes above are the program's doing.
	bare := deepCopy(resourceOf(t, s, "PerconaServerMySQL"))
	delete(asMap(bare["spec"])["mysql"].(map[string]any), "containerSecurityContext")
	delete(asMap(bare["spec"])["mysql"].(map[string]any), "podSecurityContext")
	bp, err := operatorPods([]Object{bare})
	require.NoError(t, err)
	why, err := ev.Check(bp[0], "restricted")
	require.NoError(t, err)
	assert.Contains(t, why, "allowPrivilegeEscalation", "Percona's members without a context")
	rbare := deepCopy(resourceOf(t, s, "RedisCluster"))
	delete(asMap(rbare["spec"])["redisExporter"].(map[string]any), "securityContext")
	rp, err := operatorPods([]Object{rbare})
	require.NoError(t, err)
	why, err = ev.Check(rp[0], "restricted")
	require.NoError(t, err)
	assert.Contains(t, why, `"redis-exporter"`, "the exporter sidecar without a context")

	// Dev: one leader and no follower StatefulSet pods.
	dev, err := LoadStack(root, "dev")
	require.NoError(t, err)
	dp, err := operatorPods([]Object{resourceOf(t, dev, "RedisCluster")})
	require.NoError(t, err)
	require.Len(t, dp, 1)
	assert.Equal(t, "redis-sessions-leader", dp[0].Name)
}

// The Prometheus Operator's pods, as it builds them, meet restricted with
// the chart's securityContext, and not without it (the model can fail).
func TestPrometheusOperatorPods(t *testing.T) {
	ev, err := NewEvaluator()
	require.NoError(t, err)
	cr := Object{"kind": "Prometheus", "metadata": map[string]any{"name": "kps", "namespace": "monitoring"},
		"spec": map[string]any{"securityContext": map[string]any{"runAsNonRoot": true, "runAsUser": float64(1000), "fsGroup": float64(2000),
			"seccompProfile": map[string]any{"type": "RuntimeDefault"}}}}
	pods, err := operatorPods([]Object{cr})
	require.NoError(t, err)
	require.Len(t, pods, 1)
	why, err := ev.Check(pods[0], "restricted")
	require.NoError(t, err)
	assert.Empty(t, why)

	bare := Object{"kind": "Alertmanager", "metadata": map[string]any{"name": "kps", "namespace": "monitoring"}, "spec": map[string]any{}}
	pods, err = operatorPods([]Object{bare})
	require.NoError(t, err)
	why, err = ev.Check(pods[0], "restricted")
	require.NoError(t, err)
	assert.Contains(t, why, "runAsNonRoot != true", "without the chart's securityContext the pod would be refused")
	assert.Contains(t, why, "seccompProfile")
}
