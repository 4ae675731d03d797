// Package mysql provides Moodle's database: Percona Server for MySQL in a
// group replication cluster run by Percona's operator (installed from its
// official chart, pinned), one member per zone in prod, each on its own
// retained zonal disk, behind HAProxy (writes on 3306 to the primary,
// reads on 3307 to the secondaries). Group replication elects a new
// primary by itself and commits nothing a majority has not agreed on, so
// the loss of a member (pod, node or zone) loses no committed transaction;
// HAProxy follows the primary with its own checks, so failover does not
// wait for the operator either.
//
// The program generates every credential (Pulumi secrets), creates the
// Moodle database, its user and the backup user idempotently, runs
// mysqld_exporter beside every member, and serves TLS with a certificate of
// the stack's data tier CA: the data namespace is outside the mesh (see
// README, "The data tier"), so TLS and the network policies protect it.
//
// Moving a stack that still runs the single-instance StatefulSet of
// earlier versions: legacy.go and docs/database-move.md.
package mysql

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fieldcert/moodle-aks/components/dataprotect"
	"github.com/fieldcert/moodle-aks/components/internal/helm"
	"github.com/fieldcert/moodle-aks/components/internal/pods"
	"github.com/fieldcert/moodle-aks/components/internal/tlscert"
	"github.com/fieldcert/moodle-aks/infra"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the component's type; with the child names it forms URNs.
const TypeToken = "moodle:mysql:MySQL"

// The operator and the names it derives from the custom resource's name
// (percona/percona-server-mysql-operator v1.1.0: pkg/mysql/mysql.go Name,
// pkg/haproxy/haproxy.go ServiceName; api/v1 DataVolumeName "datadir").
const (
	// OperatorRepo is Percona's chart repository.
	OperatorRepo = "https://percona.github.io/percona-helm-charts/"
	// OperatorChartVersion is the ps-operator chart, which installs
	// operator 1.1.0 and its CRDs.
	OperatorChartVersion = "1.1.0"
	// OperatorImage is the operator the chart's version ships.
	OperatorImage = "percona/percona-server-mysql-operator:1.1.0"
	// CRVersion is the custom resource's schema version (the operator's).
	CRVersion = "1.1.0"
	// OperatorRelease is the Helm release; the chart names its service
	// account and roles after it.
	OperatorRelease = "ps-operator"
	// OperatorApp labels the operator's pods (the Deployment of this
	// package, not the chart's, which runs no pod: see New).
	OperatorApp = "ps-operator"
	// OperatorDeployment is that Deployment (the chart's is OperatorRelease,
	// scaled to zero): the operator's own name (deploy/operator.yaml).
	OperatorDeployment = "percona-server-mysql-operator"

	// ClusterName is the PerconaServerMySQL resource.
	ClusterName = "mysql"
	// ProxyService is HAProxy's Service: WritePort reaches the primary,
	// ReadPort the secondaries (round robin; the primary when alone).
	ProxyService = ClusterName + "-haproxy"
	WritePort    = 3306
	ReadPort     = 3307
	// ProxyMetricsPort is HAProxy's Prometheus endpoint (/metrics).
	ProxyMetricsPort = 8404
	// Members are the pods <ClusterName>-mysql-<i>; their disks are the
	// claims datadir-<ClusterName>-mysql-<i>.
	MembersName = ClusterName + "-mysql"
	DataVolume  = "datadir"

	// Pod labels the operator sets (pkg/naming/kubernetes.go Labels).
	LabelComponent = "app.kubernetes.io/component"
	LabelInstance  = "app.kubernetes.io/instance"
	ComponentDB    = "database"
	ComponentProxy = "proxy"
)

// Secret and key names.
const (
	// UsersSecret holds every system user's password under the keys the
	// operator reads (pkg/secret/secret.go); a key missing there is one the
	// operator would generate itself, which Pulumi would then never see.
	UsersSecret = "mysql-operator-users"
	// TLSSecret is the members' certificate (spec.sslSecretName).
	TLSSecret = "mysql-ssl"
	// CredentialsSecret in the data namespace holds the passwords the
	// program's own Jobs use: root (restore), moodle, backup.
	CredentialsSecret = "mysql-credentials"
	KeyRoot           = "root-password"
	KeyMoodle         = "moodle-password"
	KeyExporter       = "exporter-password"
	KeyBackup         = "backup-password"
	// BackupUser dumps the database; the exporter logs in as the operator's
	// monitor user.
	BackupUser  = "backup"
	MonitorUser = "monitor"
)

// OperatorUsers are the keys of UsersSecret, in the order the operator
// lists them (api/v1 SystemUser: root, xtrabackup, monitor, operator,
// replication, orchestrator, heartbeat).
var OperatorUsers = []string{"root", "xtrabackup", "monitor", "operator", "replication", "orchestrator", "heartbeat"}

// perconaUID is the mysql user of Percona's images (uid and gid 1001).
const perconaUID = 1001

//go:embed percona/haproxy-global.cfg
var haproxyGlobal string

// Args configures the database.
type Args struct {
	// Image is Percona Server's image, ProxyImage Percona's HAProxy,
	// ExporterImage mysqld_exporter's, each pinned (required).
	Image, ProxyImage, ExporterImage string
	// Members of the group: 1, or odd from 3 to 9 (required).
	Members int
	// SpreadKey keeps members (and proxies) apart: the zone label, or the
	// host name where the stack has no zones (infra.Config.DataSpreadKey).
	SpreadKey string
	// CPUMillis and MemoryMiB size each member's mysqld (required).
	CPUMillis, MemoryMiB int
	// DiskGiB sizes each member's data disk (required).
	DiskGiB int
	// MaxConnections is each member's max_connections (infra.Config.MaxConnections).
	MaxConnections int
	// ProxyConnections is what one HAProxy pod must accept
	// (infra.Config.ProxyConnections); HAProxy's maxconn is sized from it.
	ProxyConnections int
	// StorageClass is the retained zonal disk class (required).
	StorageClass string
	// Protection guards the cluster and its disks (required).
	Protection infra.DataProtection
	// Issuer is the ClusterIssuer of the members' certificate (required).
	Issuer string
	// Legacy keeps the single-instance StatefulSet of earlier versions
	// running beside the cluster until its data is imported
	// (infra.DatabaseMove).
	Legacy *LegacyArgs
	// DependsOn are created first: namespaces, storage classes, the
	// issuer (required).
	DependsOn []pulumi.Resource
}

// MySQL is the database cluster and its credentials.
type MySQL struct {
	pulumi.ResourceState

	// Host is the proxy's cluster DNS name: WritePort for writes, ReadPort
	// for reads.
	Host string
	// BackupPassword is the backup user's password (secret), for the
	// backup and restore jobs' secret.
	BackupPassword pulumi.StringOutput
	// RootPassword is root's password (secret), for the restore job.
	RootPassword pulumi.StringOutput
	// MoodlePassword is the Moodle user's (secret).
	MoodlePassword pulumi.StringOutput
	// Ready are the cluster, its users and Moodle's secret: what Moodle's
	// workloads wait for.
	Ready []pulumi.Resource
	// LegacyHost is the single-instance database's Service while it is
	// kept (Args.Legacy), else "".
	LegacyHost string
	// MoodleEndpoint is what Moodle's secret points it at: host, port and
	// readonly-port (the secret holds them beside the password).
	MoodleEndpoint map[string]string
}

func (a *Args) validate() error {
	var errs []error
	if a.Image == "" || a.ProxyImage == "" || a.ExporterImage == "" {
		errs = append(errs, errors.New("image, proxyImage and exporterImage are required"))
	}
	if a.Members != 1 && (a.Members < 3 || a.Members > 9 || a.Members%2 == 0) {
		errs = append(errs, fmt.Errorf("members %d is not 1 or an odd number from 3 to 9", a.Members))
	}
	if a.SpreadKey != "topology.kubernetes.io/zone" && a.SpreadKey != "kubernetes.io/hostname" {
		errs = append(errs, fmt.Errorf("spreadKey %q is not the zone or the host name label", a.SpreadKey))
	}
	if a.CPUMillis < 250 || a.MemoryMiB < 1024 {
		errs = append(errs, fmt.Errorf("%dm CPU and %d MiB are below MySQL's minimum (250m, 1024 MiB)", a.CPUMillis, a.MemoryMiB))
	}
	if a.DiskGiB < 4 {
		errs = append(errs, fmt.Errorf("diskGiB %d is below 4", a.DiskGiB))
	}
	if a.MaxConnections < 10 {
		errs = append(errs, fmt.Errorf("maxConnections %d is below 10", a.MaxConnections))
	}
	if a.ProxyConnections < a.MaxConnections {
		errs = append(errs, fmt.Errorf("proxyConnections %d is below maxConnections %d", a.ProxyConnections, a.MaxConnections))
	}
	if need := infra.MySQLMemoryNeededMiB(infra.BufferPoolMiB(a.MemoryMiB), a.MaxConnections); need > a.MemoryMiB {
		errs = append(errs, fmt.Errorf("%d MiB cannot hold %d connections and the buffer pool (needs %d MiB)", a.MemoryMiB, a.MaxConnections, need))
	}
	if a.StorageClass == "" || a.Issuer == "" || len(a.DependsOn) == 0 {
		errs = append(errs, errors.New("storageClass, issuer and dependsOn are required"))
	}
	return errors.Join(errs...)
}

// MyCnf is the members' configuration for Moodle (spec.mysql.configuration;
// the operator adds group replication's own settings, build/ps-entrypoint.sh).
func MyCnf(memoryMiB, maxConnections int) string {
	lines := []string{
		"[mysqld]",
		// Moodle requires utf8mb4 with a case-insensitive collation.
		"character-set-server = utf8mb4",
		"collation-server = utf8mb4_unicode_ci",
		"skip-name-resolve",
		"innodb_buffer_pool_size = " + strconv.Itoa(infra.BufferPoolMiB(memoryMiB)) + "M",
		"innodb_buffer_pool_chunk_size = 128M",
		"innodb_file_per_table = 1",
		"innodb_flush_log_at_trx_commit = 1",
		"innodb_redo_log_capacity = 536870912",
		"max_connections = " + strconv.Itoa(maxConnections),
		// Moodle's restore and upgrade statements can be large.
		"max_allowed_packet = 64M",
		"table_open_cache = 4000",
		// Binary logs stay a week on every member: a manual point-in-time
		// replay after restoring the nightly dump (docs/restore.md).
		"binlog_expire_logs_seconds = 604800",
		// Group replication refuses a transaction above 143 MB by default;
		// Moodle's upgrade steps, bulk deletes and log purges write more in
		// one transaction (MySQL 8.4 manual, 20.3.2 Group Replication
		// Limitations).
		"group_replication_transaction_size_limit = 1073741824",
		"slow_query_log = 1",
		"long_query_time = 2",
		"",
		"[client]",
		"default-character-set = utf8mb4",
	}
	return strings.Join(lines, "\n") + "\n"
}

// HAProxyMaxConn is the proxy's maxconn for a number of connections: the
// operator's 2048, or more with headroom where the stack needs it.
func HAProxyMaxConn(connections int) int {
	return max(infra.HAProxyMaxConn, connections+connections/10)
}

// haproxyConfiguration is Percona's global HAProxy configuration
// (percona/haproxy-global.cfg, v1.1.0) with maxconn sized for the stack.
func haproxyConfiguration(connections int) (string, error) {
	const line = "      maxconn 2048\n"
	if strings.Count(haproxyGlobal, line) != 1 {
		return "", errors.New("percona/haproxy-global.cfg has no single maxconn 2048 line: copy the operator's file again")
	}
	return strings.Replace(haproxyGlobal, line, "      maxconn "+strconv.Itoa(HAProxyMaxConn(connections))+"\n", 1), nil
}

// HAProxyServerOptions are the checks HAProxy runs on each member: every
// 2 s, out after two failures, back after one success (the operator's
// default is every 10 s: 20 to 40 s of failed writes after a primary is
// lost; build/haproxy_add_mysql_nodes.sh, HA_SERVER_OPTIONS).
const HAProxyServerOptions = "resolvers kubernetes inter 2000 rise 1 fall 2 check weight 1"

// HAProxyCheckTimeout is the seconds one check may take (the operator's
// default 10, build/haproxy_check_primary.sh HA_CONNECTION_TIMEOUT): an
// unreachable member fails its check in 2 s instead of 10.
const HAProxyCheckTimeout = 2

// restricted is the container security context every data tier container
// runs with (Pod Security "restricted").
func restricted(readOnlyRoot bool) map[string]any {
	sc := map[string]any{
		"allowPrivilegeEscalation": false,
		"privileged":               false,
		"runAsNonRoot":             true,
		"capabilities":             map[string]any{"drop": []any{"ALL"}},
		"seccompProfile":           map[string]any{"type": "RuntimeDefault"},
	}
	if readOnlyRoot {
		sc["readOnlyRootFilesystem"] = true
	}
	return sc
}

func podSecurity(uid int) map[string]any {
	return map[string]any{
		"runAsNonRoot": true, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid,
		"supplementalGroups": []any{uid},
		"seccompProfile":     map[string]any{"type": "RuntimeDefault"},
	}
}

// spread keeps the pods of one component apart: a required anti-affinity
// on key (the operator's antiAffinityTopologyKey) and an even spread over
// zones. With one pod neither applies.
func (a *Args) spread(component string) (map[string]any, []any) {
	if a.Members == 1 {
		return map[string]any{"antiAffinityTopologyKey": "none"}, nil
	}
	return map[string]any{"antiAffinityTopologyKey": a.SpreadKey}, []any{map[string]any{
		"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
		"labelSelector": map[string]any{"matchLabels": map[string]any{LabelInstance: ClusterName, LabelComponent: component}},
	}}
}

// Spec is the PerconaServerMySQL's spec (plain values; every image and
// size from Args).
func (a *Args) Spec() (map[string]any, error) {
	proxyConf, err := haproxyConfiguration(a.ProxyConnections)
	if err != nil {
		return nil, err
	}
	mem := strconv.Itoa(a.MemoryMiB) + "Mi"
	mysqlAffinity, mysqlSpread := a.spread(ComponentDB)
	proxyAffinity, proxySpread := a.spread(ComponentProxy)
	onUserPool := map[string]any{pods.PoolLabel: "user"}
	secret := func(name, key string) map[string]any {
		return map[string]any{"secretKeyRef": map[string]any{"name": name, "key": key}}
	}
	spec := map[string]any{
		"crVersion":     CRVersion,
		"secretsName":   UsersSecret,
		"sslSecretName": TLSSecret,
		// A rolling restart that moves the primary last, and only with an
		// explicit image change (never an automatic version upgrade).
		"updateStrategy": "SmartUpdate",
		"upgradeOptions": map[string]any{"apply": "disabled"},
		"initContainer":  map[string]any{"image": OperatorImage, "containerSecurityContext": restricted(false)},
		"mysql": map[string]any{
			"clusterType":     "group-replication",
			"autoRecovery":    true,
			"size":            a.Members,
			"image":           a.Image,
			"imagePullPolicy": "IfNotPresent",
			"resources": map[string]any{
				"requests": map[string]any{"cpu": strconv.Itoa(a.CPUMillis) + "m", "memory": mem},
				// Memory limit = request: the buffer pool is sized to it.
				"limits": map[string]any{"memory": mem},
			},
			"configuration":             MyCnf(a.MemoryMiB, a.MaxConnections),
			"affinity":                  mysqlAffinity,
			"topologySpreadConstraints": mysqlSpread,
			// One member at a time: a drain never takes the majority.
			"podDisruptionBudget": map[string]any{"maxUnavailable": 1},
			"volumeSpec": map[string]any{"persistentVolumeClaim": map[string]any{
				"storageClassName": a.StorageClass,
				"accessModes":      []any{"ReadWriteOnce"},
				"resources":        map[string]any{"requests": map[string]any{"storage": strconv.Itoa(a.DiskGiB) + "Gi"}},
			}},
			// The pre-stop hook leaves the group cleanly (a primary hands
			// over at once); mysqld then shuts down InnoDB.
			"gracePeriod":  600,
			"nodeSelector": onUserPool,
			"annotations": map[string]any{
				// The autoscaler may not move a member to save cost; drains
				// (upgrades) still can, one at a time.
				"cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
				"prometheus.io/scrape":                           "true",
				"prometheus.io/port":                             strconv.Itoa(infra.MySQLExporterPort),
			},
			"podSecurityContext":       podSecurity(perconaUID),
			"containerSecurityContext": restricted(false),
			"sidecars": []any{map[string]any{
				"name":  "exporter",
				"image": a.ExporterImage,
				"args": []any{
					"--mysqld.address=127.0.0.1:" + strconv.Itoa(WritePort),
					"--mysqld.username=" + MonitorUser,
					// Group membership and apply queue, for the group alerts.
					"--collect.perf_schema.replication_group_members",
					"--collect.perf_schema.replication_group_member_stats",
				},
				"env":   []any{map[string]any{"name": "MYSQLD_EXPORTER_PASSWORD", "valueFrom": secret(UsersSecret, MonitorUser)}},
				"ports": []any{map[string]any{"name": "metrics", "containerPort": infra.MySQLExporterPort}},
				"resources": map[string]any{
					"requests": map[string]any{"cpu": "20m", "memory": "64Mi"},
					"limits":   map[string]any{"memory": "128Mi"},
				},
				"readinessProbe":  map[string]any{"httpGet": map[string]any{"path": "/", "port": infra.MySQLExporterPort}},
				"securityContext": restricted(true),
			}},
		},
		"proxy": map[string]any{
			"haproxy": map[string]any{
				"enabled":         true,
				"size":            a.Members,
				"image":           a.ProxyImage,
				"imagePullPolicy": "IfNotPresent",
				"env": []any{
					map[string]any{"name": "HA_SERVER_OPTIONS", "value": HAProxyServerOptions},
					map[string]any{"name": "HA_CONNECTION_TIMEOUT", "value": strconv.Itoa(HAProxyCheckTimeout)},
				},
				"configuration":             proxyConf,
				"affinity":                  proxyAffinity,
				"topologySpreadConstraints": proxySpread,
				"podDisruptionBudget":       map[string]any{"maxUnavailable": 1},
				"resources": map[string]any{
					"requests": map[string]any{"cpu": strconv.Itoa(infra.HAProxyCPUMillis) + "m", "memory": strconv.Itoa(infra.HAProxyMemMiB) + "Mi"},
					"limits":   map[string]any{"memory": strconv.Itoa(2*infra.HAProxyMemMiB) + "Mi"},
				},
				"gracePeriod":  30,
				"nodeSelector": onUserPool,
				"annotations": map[string]any{
					"prometheus.io/scrape": "true",
					"prometheus.io/port":   strconv.Itoa(ProxyMetricsPort),
				},
				"podSecurityContext":       podSecurity(perconaUID),
				"containerSecurityContext": restricted(false),
			},
			"router": map[string]any{"enabled": false},
		},
		"orchestrator": map[string]any{"enabled": false},
		"pmm":          map[string]any{"enabled": false},
		// The nightly logical dump (components/backup) is the backup of
		// record: Percona's XtraBackup to Azure needs an account key.
		"backup": map[string]any{"enabled": false},
	}
	if a.Members == 1 {
		// One member and one proxy (dev): the operator refuses fewer than
		// three unless told (api/v1 PerconaServerMySQLSpec validations).
		spec["unsafeFlags"] = map[string]any{"mysqlSize": true, "proxySize": true}
	}
	return spec, nil
}

// operatorValues are the ps-operator chart's values (charts/ps-operator
// values.yaml, 1.1.0).
type operatorValues struct {
	// ReplicaCount 0: the chart's Deployment sets neither seccomp nor
	// dropped capabilities and has no values for them, so the restricted
	// data namespace would refuse its pod; New runs the same operator in a
	// Deployment of its own that does.
	ReplicaCount       int                 `json:"replicaCount"`
	Image              operatorImageValues `json:"image"`
	WatchAllNamespaces bool                `json:"watchAllNamespaces"`
	RBAC               struct {
		Create bool `json:"create"`
	} `json:"rbac"`
	ServiceAccount struct {
		Create bool `json:"create"`
	} `json:"serviceAccount"`
	DisableTelemetry bool `json:"disableTelemetry"`
}

type operatorImageValues struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
}

func splitImage(ref string) (string, string) {
	i := strings.LastIndex(ref, ":")
	return ref[:i], ref[i+1:]
}

// OperatorValues are the values New installs the chart with.
func OperatorValues() operatorValues {
	var v operatorValues
	repo, tag := splitImage(OperatorImage)
	v.Image = operatorImageValues{Repository: repo, Tag: tag}
	// A Role in the data namespace only (templates/role.yaml).
	v.WatchAllNamespaces = false
	v.RBAC.Create, v.ServiceAccount.Create = true, true
	v.DisableTelemetry = true
	return v
}

// usersScript creates the Moodle database and the users the operator does
// not ("There are no unprivileged user accounts created by default",
// k8sps-docs users.md), through the proxy's write port, as root. Safe to
// run again: IF NOT EXISTS, and ALTER USER keeps the passwords current.
// REQUIRE SSL: neither user can log in without TLS. No backquotes: the
// here-document expands them (the database's name needs none).
const usersScript = `set -eu
export MYSQL_PWD="$ROOT_PASSWORD"
for i in $(seq 1 60); do
  mysql --ssl-mode=REQUIRED -h"$MYSQL_HOST" -P"$MYSQL_PORT" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
  echo "waiting for the primary through $MYSQL_HOST:$MYSQL_PORT ($i)"; sleep 5
done
mysql --ssl-mode=REQUIRED -h"$MYSQL_HOST" -P"$MYSQL_PORT" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS ` + infra.MoodleDatabase + ` DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '` + infra.MoodleDBUser + `'@'%' IDENTIFIED BY '${MOODLE_PASSWORD}' REQUIRE SSL;
ALTER USER '` + infra.MoodleDBUser + `'@'%' IDENTIFIED BY '${MOODLE_PASSWORD}' REQUIRE SSL;
GRANT ALL PRIVILEGES ON ` + infra.MoodleDatabase + `.* TO '` + infra.MoodleDBUser + `'@'%';
CREATE USER IF NOT EXISTS '` + BackupUser + `'@'%' IDENTIFIED BY '${BACKUP_PASSWORD}' REQUIRE SSL;
ALTER USER '` + BackupUser + `'@'%' IDENTIFIED BY '${BACKUP_PASSWORD}' REQUIRE SSL;
GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, PROCESS, RELOAD, REPLICATION CLIENT ON *.* TO '` + BackupUser + `'@'%';
SQL
echo "PASS: database ` + infra.MoodleDatabase + `, users ` + infra.MoodleDBUser + ` and ` + BackupUser + ` are in place"
`

// UsersScript is the users Job's script, for tests that run it.
func UsersScript() string { return usersScript }

func secretEnv(name, secret, key string) corev1.EnvVarArgs {
	return corev1.EnvVarArgs{
		Name: pulumi.String(name),
		ValueFrom: &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{
			Name: pulumi.String(secret), Key: pulumi.String(key),
		}},
	}
}

// Host returns the proxy's cluster DNS name.
func Host() string { return ProxyService + "." + infra.NamespaceData + ".svc.cluster.local" }

// New registers the database.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*MySQL, error) {
	if args == nil {
		return nil, fmt.Errorf("mysql %q: args are required", name)
	}
	a := *args
	err := a.validate()
	protect, perr := dataprotect.Options(a.Protection)
	err = errors.Join(err, perr)
	spec, serr := a.Spec()
	if err = errors.Join(err, serr); err != nil {
		return nil, fmt.Errorf("mysql %q: %w", name, err)
	}
	ns := infra.NamespaceData
	c := &MySQL{Host: Host()}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registering mysql component %q: %w", name, err)
	}
	in := []pulumi.ResourceOption{pulumi.Parent(c), pulumi.DependsOn(a.DependsOn)}

	// Generated once: the results live in the state as secrets and stay the
	// same on every later run. The first four keep the names of earlier
	// versions, so a stack moving from the single instance keeps them.
	password := func(key string) (pulumi.StringOutput, error) {
		pw, err := random.NewRandomPassword(ctx, name+"-"+key, &random.RandomPasswordArgs{
			Length: pulumi.Int(32),
			// Letters and digits only: the passwords pass through shell
			// scripts and DSNs unquoted.
			Special: pulumi.Bool(false),
		}, pulumi.Parent(c))
		if err != nil {
			return pulumi.StringOutput{}, fmt.Errorf("generating the %s: %w", key, err)
		}
		return pw.Result, nil
	}
	passwords := map[string]pulumi.StringOutput{}
	for _, key := range []string{KeyRoot, KeyMoodle, KeyExporter, KeyBackup} {
		if passwords[key], err = password(key); err != nil {
			return nil, err
		}
	}
	c.BackupPassword, c.RootPassword, c.MoodlePassword = passwords[KeyBackup], passwords[KeyRoot], passwords[KeyMoodle]
	users := pulumi.StringMap{"root": passwords[KeyRoot], MonitorUser: passwords[KeyExporter]}
	for _, u := range OperatorUsers {
		if _, ok := users[u]; ok {
			continue
		}
		pw, err := password(u + "-password")
		if err != nil {
			return nil, err
		}
		users[u] = pw
	}
	usersSecret, err := corev1.NewSecret(ctx, name+"-operator-users", &corev1.SecretArgs{
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(UsersSecret), Namespace: pulumi.String(ns)},
		Type:       pulumi.String("Opaque"),
		StringData: users,
	}, in...)
	if err != nil {
		return nil, fmt.Errorf("creating the operator's users secret: %w", err)
	}
	secretData := pulumi.StringMap{}
	for k, v := range passwords {
		secretData[k] = v
	}
	credentials, err := corev1.NewSecret(ctx, name+"-credentials", &corev1.SecretArgs{
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(CredentialsSecret), Namespace: pulumi.String(ns)},
		Type:       pulumi.String("Opaque"),
		StringData: secretData,
	}, in...)
	if err != nil {
		return nil, fmt.Errorf("creating the credentials secret: %w", err)
	}

	// The members' certificate: every name the operator's own would carry
	// (pkg/tls/tls.go DNSNames) and the proxy's.
	dnsNames := []string{}
	for _, base := range []string{MembersName, ClusterName + "-orchestrator", ClusterName + "-router"} {
		dnsNames = append(dnsNames, "*."+base, "*."+base+"."+ns, "*."+base+"."+ns+".svc")
	}
	for _, svc := range []string{MembersName + "-primary", ProxyService} {
		dnsNames = append(dnsNames, svc, svc+"."+ns, svc+"."+ns+".svc", svc+"."+ns+".svc.cluster.local")
	}
	cert, err := tlscert.New(ctx, name+"-tls", tlscert.Spec{
		Namespace: ns, SecretName: TLSSecret, CommonName: MembersName, DNSNames: dnsNames,
		Server: true, Client: true, Issuer: a.Issuer,
	}, in...)
	if err != nil {
		return nil, err
	}

	// The operator: the chart for its CRDs, service account and Role; the
	// pod from a Deployment of this package (see operatorValues).
	vals, err := helm.Values(OperatorValues())
	if err != nil {
		return nil, err
	}
	chart, err := helm.Release(ctx, name+"-operator", OperatorRelease, ns,
		helm.Chart{Repo: OperatorRepo, Name: "ps-operator", Version: OperatorChartVersion}, vals, in...)
	if err != nil {
		return nil, err
	}
	operator, err := operatorDeployment(ctx, name, append(in, pulumi.DependsOn([]pulumi.Resource{chart}))...)
	if err != nil {
		return nil, err
	}

	crOpts := append(append([]pulumi.ResourceOption{}, in...), pulumi.DependsOn([]pulumi.Resource{operator, usersSecret, cert}),
		// The first cluster takes minutes per member (bootstrap, clone).
		pulumi.Timeouts(&pulumi.CustomTimeouts{Create: "45m", Update: "60m"}))
	cluster, err := apiextensions.NewCustomResource(ctx, name+"-cluster", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("ps.percona.com/v1"),
		Kind:       pulumi.String("PerconaServerMySQL"),
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(ClusterName), Namespace: pulumi.String(ns),
			Annotations: pulumi.StringMap{
				// Pulumi waits until the operator reports the group ready.
				"pulumi.com/waitFor": pulumi.String("jsonpath={.status.state}=ready"),
			},
		},
		OtherFields: kubernetes.UntypedArgs{"spec": spec},
	}, append(crOpts, protect...)...)
	if err != nil {
		return nil, fmt.Errorf("creating the MySQL cluster: %w", err)
	}

	// Moodle's copy, in its namespace: writes to the primary, reads from
	// the secondaries. While a moved stack's data is not imported yet,
	// Moodle stays on the single instance (which has no read port).
	db := pulumi.StringMap{
		"host":          pulumi.String(c.Host),
		"port":          pulumi.String(strconv.Itoa(WritePort)),
		"readonly-port": pulumi.String(strconv.Itoa(ReadPort)),
		"name":          pulumi.String(infra.MoodleDatabase),
		"user":          pulumi.String(infra.MoodleDBUser),
		"password":      passwords[KeyMoodle],
	}
	c.MoodleEndpoint = map[string]string{"host": c.Host, "port": strconv.Itoa(WritePort), "readonly-port": strconv.Itoa(ReadPort)}
	if a.Legacy != nil && !a.Legacy.Imported {
		c.MoodleEndpoint = map[string]string{"host": LegacyHost(), "port": strconv.Itoa(infra.MySQLPort), "readonly-port": ""}
	}
	for k, v := range c.MoodleEndpoint {
		db[k] = pulumi.String(v)
	}
	moodleSecret, err := corev1.NewSecret(ctx, name+"-moodle-db", &corev1.SecretArgs{
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(infra.MoodleDBSecret), Namespace: pulumi.String(infra.NamespaceMoodle)},
		Type:       pulumi.String("Opaque"),
		StringData: db,
	}, in...)
	if err != nil {
		return nil, fmt.Errorf("creating Moodle's database secret: %w", err)
	}
	job, err := usersJob(ctx, name, a.Image, append(in, pulumi.DependsOn([]pulumi.Resource{cluster, credentials}))...)
	if err != nil {
		return nil, err
	}
	c.Ready = []pulumi.Resource{cluster, job, moodleSecret}

	if a.Legacy != nil {
		if c.LegacyHost, err = newLegacy(ctx, name, a, protect, in); err != nil {
			return nil, err
		}
	}
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"host": pulumi.String(c.Host)}); err != nil {
		return nil, fmt.Errorf("registering outputs of mysql %q: %w", name, err)
	}
	return c, nil
}

// operatorDeployment runs Percona's operator as the chart's Deployment
// would (templates/deployment.yaml, 1.1.0: the same image, command, args,
// environment, probes and service account), restricted.
func operatorDeployment(ctx *pulumi.Context, name string, opts ...pulumi.ResourceOption) (pulumi.Resource, error) {
	labels := pulumi.StringMap{infra.AppLabel: pulumi.String(OperatorApp)}
	probe := func(path string, delay, period int) *corev1.ProbeArgs {
		return &corev1.ProbeArgs{
			HttpGet:             &corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: pulumi.Int(8081)},
			InitialDelaySeconds: pulumi.Int(delay), PeriodSeconds: pulumi.Int(period),
		}
	}
	d, err := appsv1.NewDeployment(ctx, name+"-operator-deployment", &appsv1.DeploymentArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(OperatorDeployment), Namespace: pulumi.String(infra.NamespaceData), Labels: labels},
		Spec: &appsv1.DeploymentSpecArgs{
			// One pod with leader election: a second would only wait.
			Replicas: pulumi.Int(1),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: labels},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: labels},
				Spec: &corev1.PodSpecArgs{
					ServiceAccountName:            pulumi.String(OperatorRelease),
					TerminationGracePeriodSeconds: pulumi.Int(10),
					SecurityContext:               pods.RunAs(65532),
					// It calls the API server; its token is the chart's service account's.
					AutomountServiceAccountToken: pulumi.Bool(true),
					NodeSelector:                 pulumi.StringMap{pods.PoolLabel: pulumi.String("user")},
					Containers: corev1.ContainerArray{corev1.ContainerArgs{
						Name:    pulumi.String("manager"),
						Image:   pulumi.String(OperatorImage),
						Command: pulumi.StringArray{pulumi.String("/usr/local/bin/percona-server-mysql-operator")},
						Args:    pulumi.StringArray{pulumi.String("--leader-elect")},
						Env: corev1.EnvVarArray{
							pods.Value("LOG_STRUCTURED", "false"),
							pods.Value("LOG_LEVEL", "INFO"),
							pods.Value("WATCH_NAMESPACE", infra.NamespaceData),
							pods.Value("DISABLE_TELEMETRY", "true"),
						},
						ReadinessProbe: probe("/readyz", 5, 10),
						LivenessProbe:  probe("/healthz", 15, 20),
						Resources: &corev1.ResourceRequirementsArgs{
							Requests: pulumi.StringMap{"cpu": pulumi.String(strconv.Itoa(infra.OperatorCPUMillis) + "m"), "memory": pulumi.String(strconv.Itoa(infra.OperatorMemMiB) + "Mi")},
							Limits:   pulumi.StringMap{"memory": pulumi.String(strconv.Itoa(2*infra.OperatorMemMiB) + "Mi")},
						},
						SecurityContext: pods.RestrictedWritableRoot(),
					}},
				},
			},
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating the MySQL operator's Deployment: %w", err)
	}
	return d, nil
}

// UsersJobName is the users Job's name for an image.
func UsersJobName(image string) string {
	sum := sha256.Sum256([]byte(image + "\x00" + usersScript))
	return "mysql-users-" + hex.EncodeToString(sum[:])[:10]
}

// usersJob runs usersScript once per change of what it creates.
func usersJob(ctx *pulumi.Context, name, image string, opts ...pulumi.ResourceOption) (pulumi.Resource, error) {
	j, err := batchv1.NewJob(ctx, name+"-users", &batchv1.JobArgs{
		Metadata: &metav1.ObjectMetaArgs{
			// Named after what it runs: a new script or image is a new Job,
			// which runs; the same ones keep the finished Job.
			Name: pulumi.String(UsersJobName(image)), Namespace: pulumi.String(infra.NamespaceData),
			Labels: pulumi.StringMap{infra.AlertLabel: pulumi.String("backup")},
		},
		Spec: &batchv1.JobSpecArgs{
			BackoffLimit: pulumi.Int(4),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.StringMap{infra.AppLabel: pulumi.String("mysql-users")}},
				Spec: &corev1.PodSpecArgs{
					RestartPolicy:                pulumi.String("Never"),
					AutomountServiceAccountToken: pulumi.Bool(false),
					SecurityContext:              pods.RunAs(perconaUID),
					NodeSelector:                 pulumi.StringMap{pods.PoolLabel: pulumi.String("user")},
					Containers: corev1.ContainerArray{corev1.ContainerArgs{
						Name:    pulumi.String("users"),
						Image:   pulumi.String(image),
						Command: pulumi.StringArray{pulumi.String("bash"), pulumi.String("-c"), pulumi.String(usersScript)},
						Env: corev1.EnvVarArray{
							pods.Value("MYSQL_HOST", Host()),
							pods.Value("MYSQL_PORT", strconv.Itoa(WritePort)),
							secretEnv("ROOT_PASSWORD", CredentialsSecret, KeyRoot),
							secretEnv("MOODLE_PASSWORD", CredentialsSecret, KeyMoodle),
							secretEnv("BACKUP_PASSWORD", CredentialsSecret, KeyBackup),
							// The client writes its history file under $HOME.
							pods.Value("HOME", "/tmp"),
						},
						Resources: &corev1.ResourceRequirementsArgs{
							Requests: pulumi.StringMap{"cpu": pulumi.String("50m"), "memory": pulumi.String("64Mi")},
							Limits:   pulumi.StringMap{"memory": pulumi.String("256Mi")},
						},
						SecurityContext: pods.Restricted(),
						VolumeMounts:    corev1.VolumeMountArray{corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")}},
					}},
					Volumes: corev1.VolumeArray{corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{}}},
				},
			},
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating the MySQL users Job: %w", err)
	}
	return j, nil
}
