package mysql

import (
	"strconv"
	"strings"
	"testing"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func args() *Args {
	return &Args{
		Image: "mysql:8.4.7", ExporterImage: "prom/mysqld-exporter:v0.17.2",
		CPUMillis: 2000, MemoryMiB: 16384, DiskGiB: 256, MaxConnections: 990,
		StorageClass: "premium-disk-retain", Protection: infra.Protect,
	}
}

func run(t *testing.T, a *Args) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.RunAfter(func(ctx *pulumi.Context, ns pulumi.Resource) error {
		if a.DependsOn == nil {
			a.DependsOn = []pulumi.Resource{ns}
		}
		_, err := New(ctx, "mysql", a)
		return err
	})
}

func TestMyCnfSizing(t *testing.T) {
	for _, tc := range []struct{ mem, conns int }{{2048, 78}, {16384, 990}, {32768, 3230}} {
		cnf := MyCnf(tc.mem, tc.conns)
		assert.Contains(t, cnf, "innodb_buffer_pool_size = "+itoa(infra.BufferPoolMiB(tc.mem))+"M")
		assert.Contains(t, cnf, "max_connections = "+itoa(tc.conns))
	}
	cnf := MyCnf(16384, 990)
	assert.Contains(t, cnf, "innodb_buffer_pool_size = 9728M", "60% of 16 GiB in whole 128 MiB chunks")
	for _, want := range []string{"character-set-server = utf8mb4", "collation-server = utf8mb4_unicode_ci", "binlog_expire_logs_seconds = 604800", "slow_query_log = 1"} {
		assert.Contains(t, cnf, want)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestStatefulSet(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	sts, ok := rec.Named("kubernetes:apps/v1:StatefulSet", "mysql-statefulset")
	require.True(t, ok)
	assert.Equal(t, infra.NamespaceData, sts.Input("metadata.namespace"))
	assert.Equal(t, float64(1), sts.Input("spec.replicas"), "one primary")
	assert.Equal(t, "Retain", sts.Input("spec.persistentVolumeClaimRetentionPolicy.whenDeleted"))
	assert.True(t, sts.Protect, "the data claim template is protected in prod")
	claim := sts.Input("spec.volumeClaimTemplates").([]any)[0].(map[string]any)["spec"].(map[string]any)
	assert.Equal(t, "premium-disk-retain", claim["storageClassName"])
	assert.Equal(t, "256Gi", claim["resources"].(map[string]any)["requests"].(map[string]any)["storage"])

	pod := sts.Input("spec.template.spec").(map[string]any)
	assert.Equal(t, float64(999), pod["securityContext"].(map[string]any)["runAsUser"], "non-root for the restricted standard")
	containers := pod["containers"].([]any)
	require.Len(t, containers, 2)
	mysql := containers[0].(map[string]any)
	assert.Equal(t, "mysql:8.4.7", mysql["image"])
	assert.Equal(t, "16384Mi", mysql["resources"].(map[string]any)["limits"].(map[string]any)["memory"])
	assert.Contains(t, mysql["livenessProbe"].(map[string]any)["exec"].(map[string]any)["command"].([]any)[2], "MYSQL_PWD", "no password on the command line")
	assert.NotNil(t, mysql["readinessProbe"])
	assert.NotNil(t, mysql["startupProbe"])
	for _, e := range mysql["env"].([]any) {
		env := e.(map[string]any)
		if strings.Contains(env["name"].(string), "PASSWORD") {
			assert.Nil(t, env["value"], "%s comes from the secret", env["name"])
			assert.NotNil(t, env["valueFrom"])
		}
	}
	exporter := containers[1].(map[string]any)
	assert.Equal(t, "prom/mysqld-exporter:v0.17.2", exporter["image"])

	tsc := pod["topologySpreadConstraints"].([]any)[0].(map[string]any)
	assert.Equal(t, "topology.kubernetes.io/zone", tsc["topologyKey"])
	assert.Nil(t, pod["affinity"], "no zone affinity: the ZRS disk can follow the pod")
}

func TestCredentialsAreSecret(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	pws := rec.OfType("random:index/randomPassword:RandomPassword")
	require.Len(t, pws, 4)
	for _, p := range pws {
		assert.Equal(t, false, p.Input("special"))
		assert.Equal(t, float64(32), p.Input("length"))
	}
	sec, ok := rec.Named("kubernetes:core/v1:Secret", "mysql-credentials")
	require.True(t, ok)
	assert.Equal(t, map[string]any{"backup-password": mocks.Secret, "exporter-password": mocks.Secret, "moodle-password": mocks.Secret, "root-password": mocks.Secret},
		sec.Input("stringData"), "generated passwords are Pulumi secrets")
	db, ok := rec.Named("kubernetes:core/v1:Secret", "mysql-moodle-db")
	require.True(t, ok)
	assert.Equal(t, infra.NamespaceMoodle, db.Input("metadata.namespace"))
	assert.Equal(t, infra.MoodleDBSecret, db.Input("metadata.name"))
}

func TestServicesAndBudget(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	svc, ok := rec.Named("kubernetes:core/v1:Service", "mysql-mysql")
	require.True(t, ok)
	assert.Equal(t, "ClusterIP", svc.Input("spec.type"), "never a LoadBalancer or NodePort")
	assert.Equal(t, "tcp-mysql", svc.Input("spec.ports").([]any)[0].(map[string]any)["name"])
	head, _ := rec.Named("kubernetes:core/v1:Service", "mysql-mysql-headless")
	assert.Equal(t, "None", head.Input("spec.clusterIP"))
	pdb, ok := rec.Named("kubernetes:policy/v1:PodDisruptionBudget", "mysql-pdb")
	require.True(t, ok)
	assert.Equal(t, float64(1), pdb.Input("spec.maxUnavailable"))
	cm, _ := rec.Named("kubernetes:core/v1:ConfigMap", "mysql-config")
	assert.Contains(t, cm.Input("data").(map[string]any)["init-users.sh"], "GRANT PROCESS, REPLICATION CLIENT, SELECT")
}

func TestMySQLRejectsBadSizes(t *testing.T) {
	a := args()
	a.MemoryMiB, a.MaxConnections, a.DiskGiB = 1024, 2000, 1
	rec, err := run(t, a)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1024 MiB cannot hold 2000 connections")
	assert.Contains(t, err.Error(), "diskGiB 1 is below 4")
	for _, r := range rec.Resources() {
		assert.NotEqual(t, TypeToken, r.Type)
	}
}
