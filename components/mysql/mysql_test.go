package mysql

import (
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const zone = "topology.kubernetes.io/zone"

func args() *Args {
	return &Args{
		Image: "percona/percona-server:8.4.8-8.1", ProxyImage: "percona/haproxy:2.8.18-1", ExporterImage: "prom/mysqld-exporter:v0.17.2",
		Members: 3, SpreadKey: zone,
		CPUMillis: 2000, MemoryMiB: 16384, DiskGiB: 256, MaxConnections: 990, ProxyConnections: 1980,
		StorageClass: "premium-disk-zonal-retain", Protection: infra.Protect, Issuer: "data-tier-ca",
	}
}

func devArgs() *Args {
	a := args()
	a.Members, a.SpreadKey, a.MemoryMiB, a.MaxConnections, a.ProxyConnections, a.Protection = 1, "kubernetes.io/hostname", 2048, 78, 156, infra.Retain
	return a
}

// last is the component the latest run registered.
var last *MySQL

func run(t *testing.T, a *Args) (*mocks.Recorder, error) {
	t.Helper()
	last = nil
	return mocks.RunAfter(func(ctx *pulumi.Context, ns pulumi.Resource) error {
		if a.DependsOn == nil {
			a.DependsOn = []pulumi.Resource{ns}
		}
		var err error
		last, err = New(ctx, "mysql", a)
		return err
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

func cluster(t *testing.T, rec *mocks.Recorder) mocks.Resource {
	t.Helper()
	cr, ok := rec.Named("kubernetes:ps.percona.com/v1:PerconaServerMySQL", "mysql-cluster")
	require.True(t, ok)
	return cr
}

func TestMyCnfSizing(t *testing.T) {
	for _, tc := range []struct{ mem, conns int }{{2048, 78}, {16384, 990}, {32768, 3230}} {
		cnf := MyCnf(tc.mem, tc.conns)
		assert.Contains(t, cnf, "innodb_buffer_pool_size = "+itoa(infra.BufferPoolMiB(tc.mem))+"M")
		assert.Contains(t, cnf, "max_connections = "+itoa(tc.conns))
	}
	cnf := MyCnf(16384, 990)
	assert.Contains(t, cnf, "innodb_buffer_pool_size = 9728M", "60% of 16 GiB in whole 128 MiB chunks")
	for _, want := range []string{"character-set-server = utf8mb4", "collation-server = utf8mb4_unicode_ci", "binlog_expire_logs_seconds = 604800", "slow_query_log = 1",
		// 1 GiB, up from group replication's 143 MB default.
		"group_replication_transaction_size_limit = 1073741824"} {
		assert.Contains(t, cnf, want)
	}
}

func TestHAProxyConfigurationChangesOnlyMaxconn(t *testing.T) {
	upstream, err := os.ReadFile("percona/haproxy-global.cfg")
	require.NoError(t, err)
	for _, conns := range []int{156, 1980, 6460} {
		got, err := haproxyConfiguration(conns)
		require.NoError(t, err)
		want := HAProxyMaxConn(conns)
		assert.GreaterOrEqual(t, want, conns, "room for every connection the stack opens")
		assert.GreaterOrEqual(t, want, 2048, "never below the operator's default")
		gl, ul := strings.Split(got, "\n"), strings.Split(string(upstream), "\n")
		require.Len(t, gl, len(ul))
		for i := range gl {
			if strings.TrimSpace(ul[i]) == "maxconn 2048" {
				assert.Equal(t, "      maxconn "+itoa(want), gl[i])
				continue
			}
			assert.Equal(t, ul[i], gl[i], "line %d is Percona's", i+1)
		}
	}
	assert.Equal(t, 7106, HAProxyMaxConn(6460), "10% headroom above the stack's connections")
}

func TestProdCluster(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	cr := cluster(t, rec)
	assert.True(t, cr.Protect, "the cluster is protected in prod")
	assert.Equal(t, "jsonpath={.status.state}=ready", cr.Input("metadata.annotations").(map[string]any)["pulumi.com/waitFor"])
	assert.Equal(t, ClusterName, cr.Input("metadata.name"))
	assert.Equal(t, infra.NamespaceData, cr.Input("metadata.namespace"))
	assert.Equal(t, CRVersion, cr.Input("spec.crVersion"))
	assert.Equal(t, "group-replication", cr.Input("spec.mysql.clusterType"))
	assert.Equal(t, float64(3), cr.Input("spec.mysql.size"))
	assert.Equal(t, float64(3), cr.Input("spec.proxy.haproxy.size"), "one proxy per zone")
	assert.Nil(t, cr.Input("spec.unsafeFlags"), "prod keeps the operator's safety checks")
	for _, part := range []string{"mysql", "proxy.haproxy"} {
		assert.Equal(t, zone, cr.Input("spec."+part+".affinity.antiAffinityTopologyKey"), "%s: one per zone, required", part)
		spread := cr.Input("spec." + part + ".topologySpreadConstraints").([]any)[0].(map[string]any)
		assert.Equal(t, zone, spread["topologyKey"], part)
		assert.Equal(t, "DoNotSchedule", spread["whenUnsatisfiable"], part)
		assert.Equal(t, float64(1), cr.Input("spec."+part+".podDisruptionBudget.maxUnavailable"), "%s: a drain takes one at a time", part)
		sc := cr.Input("spec." + part + ".containerSecurityContext").(map[string]any)
		assert.Equal(t, []any{"ALL"}, sc["capabilities"].(map[string]any)["drop"], part)
		assert.Equal(t, "RuntimeDefault", cr.Input("spec."+part+".podSecurityContext.seccompProfile.type"), part)
	}
	claim := cr.Input("spec.mysql.volumeSpec.persistentVolumeClaim").(map[string]any)
	assert.Equal(t, "premium-disk-zonal-retain", claim["storageClassName"])
	assert.Equal(t, "256Gi", claim["resources"].(map[string]any)["requests"].(map[string]any)["storage"])
	assert.Equal(t, UsersSecret, cr.Input("spec.secretsName"))
	assert.Equal(t, TLSSecret, cr.Input("spec.sslSecretName"))
	// HAProxy's failover detection, tuned.
	env := map[string]string{}
	for _, e := range cr.Input("spec.proxy.haproxy.env").([]any) {
		env[e.(map[string]any)["name"].(string)] = e.(map[string]any)["value"].(string)
	}
	assert.Contains(t, env["HA_SERVER_OPTIONS"], "inter 2000 rise 1 fall 2")
	assert.Equal(t, "2", env["HA_CONNECTION_TIMEOUT"])
	assert.Contains(t, cr.Input("spec.proxy.haproxy.configuration"), "maxconn 2178")
	// The exporter on every member, as the operator's monitor user.
	sidecar := cr.Input("spec.mysql.sidecars").([]any)[0].(map[string]any)
	assert.Equal(t, "prom/mysqld-exporter:v0.17.2", sidecar["image"])
	assert.Contains(t, sidecar["args"], "--mysqld.username=monitor")
	assert.Contains(t, sidecar["args"], "--collect.perf_schema.replication_group_members")
	assert.Equal(t, map[string]any{"name": UsersSecret, "key": "monitor"}, sidecar["env"].([]any)[0].(map[string]any)["valueFrom"].(map[string]any)["secretKeyRef"])
}

func TestDevIsOneMemberOfTheSameCluster(t *testing.T) {
	rec, err := run(t, devArgs())
	require.NoError(t, err)
	cr := cluster(t, rec)
	assert.False(t, cr.Protect)
	assert.Equal(t, float64(1), cr.Input("spec.mysql.size"))
	assert.Equal(t, float64(1), cr.Input("spec.proxy.haproxy.size"))
	assert.Equal(t, map[string]any{"mysqlSize": true, "proxySize": true}, cr.Input("spec.unsafeFlags"), "the operator refuses fewer than three unless told")
	assert.Equal(t, "none", cr.Input("spec.mysql.affinity.antiAffinityTopologyKey"))
	assert.Equal(t, Host(), last.MoodleEndpoint["host"], "the same service name as prod")
}

func TestOperatorRunsRestrictedFromTheChartsAccount(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	rel, ok := rec.Named("kubernetes:helm.sh/v3:Release", "mysql-operator")
	require.True(t, ok)
	assert.Equal(t, "ps-operator", rel.Input("chart"))
	assert.Equal(t, OperatorChartVersion, rel.Input("version"))
	assert.Equal(t, float64(0), rel.Input("values.replicaCount"), "the chart's own Deployment runs no pod")
	assert.Equal(t, false, rel.Input("values.watchAllNamespaces"), "a Role in the data namespace")
	dep, ok := rec.Named("kubernetes:apps/v1:Deployment", "mysql-operator-deployment")
	require.True(t, ok)
	assert.Contains(t, dep.Dependencies, rel.URN)
	pod := dep.Input("spec.template.spec").(map[string]any)
	assert.Equal(t, OperatorRelease, pod["serviceAccountName"], "the chart's service account and Role")
	c := pod["containers"].([]any)[0].(map[string]any)
	assert.Equal(t, OperatorImage, c["image"])
	env := map[string]any{}
	for _, e := range c["env"].([]any) {
		env[e.(map[string]any)["name"].(string)] = e.(map[string]any)["value"]
	}
	assert.Equal(t, "data", env["WATCH_NAMESPACE"])
	assert.Equal(t, "true", env["DISABLE_TELEMETRY"])
	sc := c["securityContext"].(map[string]any)
	assert.Equal(t, []any{"ALL"}, sc["capabilities"].(map[string]any)["drop"])
	assert.Equal(t, "RuntimeDefault", pod["securityContext"].(map[string]any)["seccompProfile"].(map[string]any)["type"])
	cr := cluster(t, rec)
	assert.Contains(t, cr.Dependencies, dep.URN, "the operator runs before its cluster is created")
}

func TestCredentialsAreSecretAndComplete(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	for _, p := range rec.OfType("random:index/randomPassword:RandomPassword") {
		assert.Equal(t, false, p.Input("special"))
		assert.Equal(t, float64(32), p.Input("length"))
	}
	users, ok := rec.Named("kubernetes:core/v1:Secret", "mysql-operator-users")
	require.True(t, ok)
	data := users.Input("stringData").(map[string]any)
	for _, u := range OperatorUsers {
		assert.Equal(t, mocks.Secret, data[u], "key %s is set, so the operator generates none", u)
	}
	assert.Len(t, data, len(OperatorUsers))
	sec, _ := rec.Named("kubernetes:core/v1:Secret", "mysql-credentials")
	assert.Equal(t, map[string]any{"backup-password": mocks.Secret, "exporter-password": mocks.Secret, "moodle-password": mocks.Secret, "root-password": mocks.Secret},
		sec.Input("stringData"))
	db, ok := rec.Named("kubernetes:core/v1:Secret", "mysql-moodle-db")
	require.True(t, ok)
	assert.Equal(t, infra.NamespaceMoodle, db.Input("metadata.namespace"))
	sd := db.Input("stringData").(map[string]any)
	assert.Equal(t, []string{"host", "name", "password", "port", "readonly-port", "user"}, keys(sd))
	assert.Equal(t, mocks.Secret, sd["password"])
	assert.Equal(t, map[string]string{"host": "mysql-haproxy.data.svc.cluster.local", "port": "3306", "readonly-port": "3307"}, last.MoodleEndpoint,
		"writes to the primary, reads from the secondaries")
}

func TestUsersJobIsIdempotentAndTLSOnly(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	job, ok := rec.Named("kubernetes:batch/v1:Job", "mysql-users")
	require.True(t, ok)
	assert.Equal(t, UsersJobName(args().Image), job.Input("metadata.name"))
	assert.NotEqual(t, UsersJobName(args().Image), UsersJobName("percona/percona-server:8.4.9-9.1"), "a new image runs it again")
	assert.Contains(t, job.Dependencies, cluster(t, rec).URN)
	for _, want := range []string{"CREATE DATABASE IF NOT EXISTS", "CREATE USER IF NOT EXISTS 'moodle'@'%'", "REQUIRE SSL", "CREATE USER IF NOT EXISTS 'backup'@'%'", "--ssl-mode=REQUIRED"} {
		assert.Contains(t, UsersScript(), want)
	}
	c := job.Input("spec.template.spec.containers").([]any)[0].(map[string]any)
	env := map[string]any{}
	for _, e := range c["env"].([]any) {
		em := e.(map[string]any)
		env[em["name"].(string)] = em["value"]
		if strings.Contains(em["name"].(string), "PASSWORD") {
			assert.Nil(t, em["value"], "%s comes from the secret", em["name"])
		}
	}
	assert.Equal(t, "3306", env["MYSQL_PORT"], "the primary, through the proxy")
}

func TestCertificateCoversTheOperatorsNames(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	cert, ok := rec.Named("kubernetes:cert-manager.io/v1:Certificate", "mysql-tls")
	require.True(t, ok)
	assert.Equal(t, TLSSecret, cert.Input("spec.secretName"))
	names := cert.Input("spec.dnsNames").([]any)
	for _, want := range []string{"*.mysql-mysql", "*.mysql-mysql.data.svc", "mysql-mysql-primary.data.svc", "mysql-haproxy.data.svc.cluster.local"} {
		assert.Contains(t, names, want)
	}
	assert.Equal(t, "ClusterIssuer", cert.Input("spec.issuerRef.kind"))
}

func TestLegacyKeepsTheOldNamesUntilImported(t *testing.T) {
	a := args()
	a.Legacy = &LegacyArgs{Image: "mysql:8.4.7", CPUMillis: 2000, MemoryMiB: 16384, DiskGiB: 256, StorageClass: "premium-disk-retain"}
	rec, err := run(t, a)
	require.NoError(t, err)
	sts, ok := rec.Named("kubernetes:apps/v1:StatefulSet", "mysql-statefulset")
	require.True(t, ok, "the single instance keeps its resource name (same URN)")
	assert.Equal(t, "mysql", sts.Input("metadata.name"))
	assert.True(t, sts.Protect)
	claim := sts.Input("spec.volumeClaimTemplates").([]any)[0].(map[string]any)
	assert.Equal(t, "data", claim["metadata"].(map[string]any)["name"], "claim data-mysql-0, as before")
	cm, _ := rec.Named("kubernetes:core/v1:ConfigMap", "mysql-config")
	assert.Equal(t, legacyMyCnf(16384, 990), cm.Input("data").(map[string]any)["moodle.cnf"])
	assert.NotContains(t, legacyMyCnf(16384, 990), "group_replication", "the single instance's settings do not change mid-move")
	assert.Equal(t, map[string]string{"host": LegacyHost(), "port": "3306", "readonly-port": ""}, last.MoodleEndpoint, "Moodle stays on the single instance until the import")

	a = args()
	a.Legacy = &LegacyArgs{Image: "mysql:8.4.7", CPUMillis: 2000, MemoryMiB: 16384, DiskGiB: 256, StorageClass: "premium-disk-retain", Imported: true}
	rec, err = run(t, a)
	require.NoError(t, err)
	assert.Equal(t, Host(), last.MoodleEndpoint["host"], "after the import Moodle uses the cluster")
	_, ok = rec.Named("kubernetes:apps/v1:StatefulSet", "mysql-statefulset")
	assert.True(t, ok, "kept until the config retires it")
}

func TestMySQLRejectsBadArgs(t *testing.T) {
	a := args()
	a.MemoryMiB, a.MaxConnections, a.DiskGiB, a.Members, a.SpreadKey, a.Issuer = 1024, 2000, 1, 2, "rack", ""
	rec, err := run(t, a)
	require.Error(t, err)
	for _, want := range []string{"1024 MiB cannot hold 2000 connections", "diskGiB 1 is below 4", "members 2 is not 1 or an odd number", `spreadKey "rack"`, "issuer"} {
		assert.Contains(t, err.Error(), want)
	}
	for _, r := range rec.Resources() {
		assert.NotEqual(t, TypeToken, r.Type, "nothing is registered")
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
