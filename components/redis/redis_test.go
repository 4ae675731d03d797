package redis

import (
	"strings"
	"testing"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const zone = "topology.kubernetes.io/zone"

func prodArgs() *Args {
	return &Args{
		Image: "redis:7.4.6", ClusterImage: "quay.io/opstree/redis:v7.4.6", ExporterImage: "oliver006/redis_exporter:v1.74.0",
		MemoryMiB: 1024, Shards: 3, Followers: 3, SpreadKey: zone, PersistSessions: true,
		StorageClass: "premium-disk-zonal-retain", Protection: infra.Protect, Issuer: "data-tier-ca",
	}
}

func devArgs() *Args {
	a := prodArgs()
	a.MemoryMiB, a.Shards, a.Followers, a.SpreadKey, a.PersistSessions, a.Protection = 256, 1, 0, "kubernetes.io/hostname", false, infra.Retain
	return a
}

func run(t *testing.T, a *Args) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.RunAfter(func(ctx *pulumi.Context, ns pulumi.Resource) error {
		if a.DependsOn == nil {
			a.DependsOn = []pulumi.Resource{ns}
		}
		_, err := New(ctx, "redis", a)
		return err
	})
}

func TestCacheConfigIsTLSOnly(t *testing.T) {
	c := CacheConfig(256)
	assert.Contains(t, c, "maxmemory 192mb")
	assert.Contains(t, c, "maxmemory-policy allkeys-lru")
	assert.Contains(t, c, "port 0\n", "no plaintext port")
	assert.Contains(t, c, "tls-port 6379\n")
	assert.Contains(t, c, "tls-auth-clients no", "Moodle's cache store sends no client certificate")
	assert.Contains(t, c, "appendonly no")
}

func TestSessionsConfigOverridesTheImage(t *testing.T) {
	c := SessionsConfigFile(1024)
	for _, want := range []string{"maxmemory 768mb", "maxmemory-policy noeviction", "cluster-preferred-endpoint-type ip", "tls-auth-clients yes", "tls-ca-cert-file /tls/ca.crt"} {
		assert.Contains(t, c, want)
	}
}

func TestSeedsSelectClusterMode(t *testing.T) {
	// Moodle counts comma-separated entries; two or more is cluster mode.
	for _, followers := range []int{0, 3} {
		seeds := strings.Split(Seeds(followers), ",")
		require.Len(t, seeds, 2, "followers %d", followers)
		for _, s := range seeds {
			assert.True(t, strings.HasSuffix(s, ".data.svc.cluster.local:6379"), s)
		}
	}
	assert.Contains(t, Seeds(3), "redis-sessions-follower.")
	assert.NotContains(t, Seeds(0), "follower", "a cluster without followers has no follower Service to seed from")
}

func TestProdSessionsCluster(t *testing.T) {
	rec, err := run(t, prodArgs())
	require.NoError(t, err)
	rc, ok := rec.Named("kubernetes:redis.redis.opstreelabs.in/v1beta2:RedisCluster", "redis-sessions-cluster")
	require.True(t, ok)
	assert.True(t, rc.Protect, "the sessions cluster is protected in prod")
	assert.Equal(t, "jsonpath={.status.state}=Ready", rc.Input("metadata.annotations").(map[string]any)["pulumi.com/waitFor"])
	assert.Equal(t, float64(3), rc.Input("spec.redisLeader.replicas"))
	assert.Equal(t, float64(3), rc.Input("spec.redisFollower.replicas"))
	assert.Equal(t, true, rc.Input("spec.persistenceEnabled"))
	assert.Equal(t, "redis-sessions-tls", rc.Input("spec.TLS.secret.secretName"))
	assert.Equal(t, "redis-sessions", rc.Input("spec.kubernetesConfig.redisSecret.name"))
	assert.Equal(t, "Retain", rc.Input("spec.kubernetesConfig.persistentVolumeClaimRetentionPolicy.whenDeleted"))
	for _, role := range []string{"redisLeader", "redisFollower"} {
		assert.Equal(t, true, rc.Input("spec."+role+".pdb.enabled"), role)
		assert.Equal(t, float64(1), rc.Input("spec."+role+".pdb.maxUnavailable"), role)
		term := rc.Input("spec." + role + ".affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution").([]any)[0].(map[string]any)
		assert.Equal(t, zone, term["topologyKey"], role)
		assert.Equal(t, []any{"apps.kubernetes.io/pod-index"}, term["matchLabelKeys"], "leader i and follower i never share a zone (%s)", role)
		assert.Equal(t, map[string]any{"cluster": "redis-sessions"}, term["labelSelector"].(map[string]any)["matchLabels"], role)
		spread := rc.Input("spec." + role + ".topologySpreadConstraints").([]any)[0].(map[string]any)
		assert.Equal(t, zone, spread["topologyKey"], role)
	}
	assert.Equal(t, "DoNotSchedule", rc.Input("spec.redisLeader.topologySpreadConstraints").([]any)[0].(map[string]any)["whenUnsatisfiable"])
	claim := rc.Input("spec.storage.volumeClaimTemplate.spec").(map[string]any)
	assert.Equal(t, "premium-disk-zonal-retain", claim["storageClassName"])
	assert.Equal(t, true, rc.Input("spec.storage.nodeConfVolume"), "nodes.conf survives a restart")
	// Restricted Pod Security on every container the operator makes.
	for _, path := range []string{"spec.redisLeader.securityContext", "spec.redisFollower.securityContext", "spec.redisExporter.securityContext"} {
		sc := rc.Input(path).(map[string]any)
		assert.Equal(t, false, sc["allowPrivilegeEscalation"], path)
		assert.Equal(t, []any{"ALL"}, sc["capabilities"].(map[string]any)["drop"], path)
	}
	assert.Equal(t, "RuntimeDefault", rc.Input("spec.podSecurityContext.seccompProfile.type"))

	rel, ok := rec.Named("kubernetes:helm.sh/v3:Release", "redis-operator")
	require.True(t, ok)
	assert.Equal(t, OperatorChartVersion, rel.Input("version"))
	assert.Equal(t, "namespace", rel.Input("values.rbac.scope"), "a Role, not a ClusterRole")
	assert.Equal(t, "data", rel.Input("values.redisOperator.watchNamespace"))
	assert.Equal(t, true, rel.Input("values.featureGates.AvoidCommandLinePassword"))
	assert.Contains(t, rc.Dependencies, rel.URN, "the CRDs come first")

	sec, _ := rec.Named("kubernetes:core/v1:Secret", "redis-moodle-secret")
	assert.Equal(t, infra.NamespaceMoodle, sec.Input("metadata.namespace"))
}

func TestDevSessionsClusterHasOneLeader(t *testing.T) {
	rec, err := run(t, devArgs())
	require.NoError(t, err)
	rc, ok := rec.Named("kubernetes:redis.redis.opstreelabs.in/v1beta2:RedisCluster", "redis-sessions-cluster")
	require.True(t, ok, "dev runs the same operator and resource")
	assert.False(t, rc.Protect)
	assert.Equal(t, float64(1), rc.Input("spec.redisLeader.replicas"))
	assert.Equal(t, float64(0), rc.Input("spec.redisFollower.replicas"))
	assert.Nil(t, rc.Input("spec.redisLeader.pdb"), "a budget of one pod would block every drain")
	assert.Nil(t, rc.Input("spec.redisLeader.affinity"))
	assert.Nil(t, rc.Input("spec.storage.volumeClaimTemplate"), "no persistence in dev")
}

func TestCacheStaysOneTLSInstance(t *testing.T) {
	rec, err := run(t, prodArgs())
	require.NoError(t, err)
	cache, ok := rec.Named("kubernetes:apps/v1:StatefulSet", "redis-cache")
	require.True(t, ok)
	assert.Empty(t, cache.Input("spec.volumeClaimTemplates"), "the cache never persists")
	assert.False(t, cache.Protect)
	redis := cache.Input("spec.template.spec.containers").([]any)[0].(map[string]any)
	assert.Equal(t, "redis:7.4.6", redis["image"])
	probe := redis["readinessProbe"].(map[string]any)["exec"].(map[string]any)["command"].([]any)[2].(string)
	assert.Contains(t, probe, "--tls")
	assert.Contains(t, probe, "REDISCLI_AUTH")
	cert, ok := rec.Named("kubernetes:cert-manager.io/v1:Certificate", "redis-cache-tls")
	require.True(t, ok)
	assert.Contains(t, cert.Input("spec.dnsNames"), CacheHost(), "Moodle checks the cache's name")
	assert.Equal(t, "data-tier-ca", cert.Input("spec.issuerRef.name"))
	_, ok = rec.Named("kubernetes:apps/v1:StatefulSet", "redis-sessions")
	assert.False(t, ok, "no single-pod sessions StatefulSet any more")
}

func TestRedisRejectsBadArgs(t *testing.T) {
	a := prodArgs()
	a.MemoryMiB, a.StorageClass, a.Shards, a.Followers, a.Issuer = 64, "", 2, 1, ""
	_, err := run(t, a)
	require.Error(t, err)
	for _, want := range []string{"memoryMiB 64 is below 128", "shards 2 is not 1 or 3 to 9", "followers 1 is neither 0 nor one per leader (2)", "storageClass, issuer and dependsOn are required"} {
		assert.Contains(t, err.Error(), want)
	}
}
