package redis

import (
	"testing"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func args(persist bool) *Args {
	return &Args{
		Image: "redis:7.4.6", ExporterImage: "oliver006/redis_exporter:v1.74.0", MemoryMiB: 1024,
		PersistSessions: persist, StorageClass: "premium-disk-retain", Protection: infra.Protect,
	}
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

func TestConfig(t *testing.T) {
	sessions := Config(1024, "noeviction", true)
	assert.Contains(t, sessions, "maxmemory 768mb")
	assert.Contains(t, sessions, "maxmemory-policy noeviction")
	assert.Contains(t, sessions, "appendonly yes")
	cache := Config(256, "allkeys-lru", false)
	assert.Contains(t, cache, "maxmemory 192mb")
	assert.Contains(t, cache, "appendonly no")
}

func TestTwoInstances(t *testing.T) {
	rec, err := run(t, args(true))
	require.NoError(t, err)
	sessions, ok := rec.Named("kubernetes:apps/v1:StatefulSet", "redis-sessions")
	require.True(t, ok)
	cache, ok := rec.Named("kubernetes:apps/v1:StatefulSet", "redis-cache")
	require.True(t, ok)
	assert.Len(t, sessions.Input("spec.volumeClaimTemplates"), 1, "sessions persist to a disk")
	assert.True(t, sessions.Protect)
	assert.Empty(t, cache.Input("spec.volumeClaimTemplates"), "the cache never persists")
	assert.False(t, cache.Protect)

	redis := sessions.Input("spec.template.spec.containers").([]any)[0].(map[string]any)
	assert.Equal(t, "redis:7.4.6", redis["image"])
	assert.Contains(t, redis["readinessProbe"].(map[string]any)["exec"].(map[string]any)["command"].([]any)[2], "REDISCLI_AUTH")
	assert.Equal(t, "1024Mi", redis["resources"].(map[string]any)["limits"].(map[string]any)["memory"])

	cfg, _ := rec.Named("kubernetes:core/v1:ConfigMap", "redis-sessions-config")
	assert.Contains(t, cfg.Input("data").(map[string]any)["redis.conf"], "noeviction")
	ccfg, _ := rec.Named("kubernetes:core/v1:ConfigMap", "redis-cache-config")
	assert.Contains(t, ccfg.Input("data").(map[string]any)["redis.conf"], "allkeys-lru")

	for _, n := range []string{"redis-sessions-service", "redis-cache-service"} {
		svc, ok := rec.Named("kubernetes:core/v1:Service", n)
		require.True(t, ok)
		assert.Equal(t, "ClusterIP", svc.Input("spec.type"))
		assert.Equal(t, "redis", svc.Input("spec.selector").(map[string]any)["app"])
	}
	sec, _ := rec.Named("kubernetes:core/v1:Secret", "redis-moodle-secret")
	assert.Equal(t, infra.NamespaceMoodle, sec.Input("metadata.namespace"))
	assert.Equal(t, map[string]any{"cache-host": mocks.Secret, "cache-password": mocks.Secret, "sessions-host": mocks.Secret, "sessions-password": mocks.Secret}, sec.Input("stringData"))
}

func TestNoPersistence(t *testing.T) {
	rec, err := run(t, args(false))
	require.NoError(t, err)
	sessions, _ := rec.Named("kubernetes:apps/v1:StatefulSet", "redis-sessions")
	assert.Empty(t, sessions.Input("spec.volumeClaimTemplates"))
	cfg, _ := rec.Named("kubernetes:core/v1:ConfigMap", "redis-sessions-config")
	assert.Contains(t, cfg.Input("data").(map[string]any)["redis.conf"], "appendonly no")
}

func TestRedisRejectsBadArgs(t *testing.T) {
	a := args(true)
	a.MemoryMiB, a.StorageClass = 64, ""
	_, err := run(t, a)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "memoryMiB 64 is below 128")
	assert.Contains(t, err.Error(), "persisting sessions needs a storageClass")
}
