package mysql

// The single-instance database of the versions before the cluster: one
// StatefulSet "mysql" on a zone-redundant disk (claim data-mysql-0), with
// its Services "mysql" and "mysql-headless". A stack that runs it keeps it,
// with the same resource names (so Pulumi neither replaces nor deletes it),
// while infra.DatabaseMove says so: beside the new cluster until its data
// is imported, then retired (docs/database-move.md). Nothing here is used
// by a new stack.

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/fieldcert/moodle-aks/components/internal/pods"
	"github.com/fieldcert/moodle-aks/infra"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// LegacyService is the single instance's Service.
const LegacyService = "mysql"

// LegacyHost is its cluster DNS name.
func LegacyHost() string { return LegacyService + "." + infra.NamespaceData + ".svc.cluster.local" }

// The official image's mysql user.
const mysqlUID = 999

// ExporterUser is the single instance's exporter login (the cluster's
// exporter uses the operator's monitor user).
const ExporterUser = "exporter"

// LegacyArgs is the single instance as the earlier versions deployed it.
type LegacyArgs struct {
	// Image is its MySQL image (mysql:8.4.7 in the versions before the cluster).
	Image string
	// CPUMillis, MemoryMiB and DiskGiB as before (the same config keys).
	CPUMillis, MemoryMiB, DiskGiB int
	// StorageClass is its zone-redundant class (volumes.DiskClass).
	StorageClass string
	// Imported is true once the move's import has run: Moodle then uses the
	// cluster, and the single instance only waits to be retired.
	Imported bool
}

// legacyMyCnf is the single instance's configuration, unchanged from the
// versions that deployed it (a change would restart it mid-move).
func legacyMyCnf(memoryMiB, maxConnections int) string {
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
		"innodb_log_file_size = 256M",
		"max_connections = " + strconv.Itoa(maxConnections),
		// Moodle's restore and upgrade statements can be large.
		"max_allowed_packet = 64M",
		"table_open_cache = 4000",
		// Binary logs for point-in-time recovery and future replicas,
		// expired after a week.
		"log_bin = mysql-bin",
		"binlog_format = ROW",
		"binlog_expire_logs_seconds = 604800",
		"gtid_mode = ON",
		"enforce_gtid_consistency = ON",
		"slow_query_log = 1",
		"slow_query_log_file = /var/lib/mysql/slow.log",
		"long_query_time = 2",
		"",
		"[client]",
		"default-character-set = utf8mb4",
	}
	return strings.Join(lines, "\n") + "\n"
}

// initUsers creates the exporter and backup users on first start, with the
// passwords from the credentials secret (the image runs *.sh files in
// /docker-entrypoint-initdb.d once, on an empty data directory).
const initUsers = `#!/bin/bash
set -euo pipefail
docker_process_sql --database=mysql <<SQL
CREATE USER IF NOT EXISTS '` + ExporterUser + `'@'%' IDENTIFIED BY '${EXPORTER_PASSWORD}' WITH MAX_USER_CONNECTIONS 3;
GRANT PROCESS, REPLICATION CLIENT, SELECT ON *.* TO '` + ExporterUser + `'@'%';
CREATE USER IF NOT EXISTS '` + BackupUser + `'@'%' IDENTIFIED BY '${BACKUP_PASSWORD}';
GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, PROCESS, RELOAD ON *.* TO '` + BackupUser + `'@'%';
SQL
`

func quantity(n int, unit string) pulumi.String { return pulumi.String(strconv.Itoa(n) + unit) }

// newLegacy registers the single instance under its old names and returns
// its Service's DNS name.
func newLegacy(ctx *pulumi.Context, name string, a Args, protect []pulumi.ResourceOption, in []pulumi.ResourceOption) (string, error) {
	l := *a.Legacy
	ns := infra.NamespaceData
	cm, err := corev1.NewConfigMap(ctx, name+"-config", &corev1.ConfigMapArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("mysql-config"), Namespace: pulumi.String(ns)},
		Data: pulumi.StringMap{
			"moodle.cnf":    pulumi.String(legacyMyCnf(l.MemoryMiB, a.MaxConnections)),
			"init-users.sh": pulumi.String(initUsers),
		},
	}, in...)
	if err != nil {
		return "", fmt.Errorf("creating the MySQL configuration: %w", err)
	}

	labels := pulumi.StringMap{infra.AppLabel: pulumi.String(infra.MySQLApp)}
	ports := func(svcName string, headless bool) error {
		spec := &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: labels,
			Ports: corev1.ServicePortArray{
				// "tcp-": MySQL speaks first, so Istio must not sniff it.
				corev1.ServicePortArgs{Name: pulumi.String("tcp-mysql"), Port: pulumi.Int(infra.MySQLPort), TargetPort: pulumi.Int(infra.MySQLPort)},
				corev1.ServicePortArgs{Name: pulumi.String("http-metrics"), Port: pulumi.Int(infra.MySQLExporterPort), TargetPort: pulumi.Int(infra.MySQLExporterPort)},
			},
		}
		if headless {
			spec.ClusterIP = pulumi.String("None")
		}
		_, err := corev1.NewService(ctx, name+"-"+svcName, &corev1.ServiceArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(svcName), Namespace: pulumi.String(ns), Labels: labels},
			Spec:     spec,
		}, in...)
		if err != nil {
			return fmt.Errorf("creating service %s: %w", svcName, err)
		}
		return nil
	}
	if err := ports(infra.MySQLService, false); err != nil {
		return "", err
	}
	if err := ports(infra.MySQLService+"-headless", true); err != nil {
		return "", err
	}

	probe := func(cmd string, period, failures int) *corev1.ProbeArgs {
		return &corev1.ProbeArgs{
			Exec:             &corev1.ExecActionArgs{Command: pulumi.StringArray{pulumi.String("sh"), pulumi.String("-c"), pulumi.String(cmd)}},
			PeriodSeconds:    pulumi.Int(period),
			TimeoutSeconds:   pulumi.Int(5),
			FailureThreshold: pulumi.Int(failures),
		}
	}
	// MYSQL_PWD keeps the password off the command line.
	const ping = `MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysqladmin ping -uroot --silent`
	const query = `MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysql -uroot -e 'SELECT 1'`
	mem := quantity(l.MemoryMiB, "Mi")

	sts, err := appsv1.NewStatefulSet(ctx, name+"-statefulset", &appsv1.StatefulSetArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(infra.MySQLService), Namespace: pulumi.String(ns), Labels: labels},
		Spec: &appsv1.StatefulSetSpecArgs{
			Replicas:            pulumi.Int(1),
			ServiceName:         pulumi.String(infra.MySQLService + "-headless"),
			PodManagementPolicy: pulumi.String("OrderedReady"),
			Selector:            &metav1.LabelSelectorArgs{MatchLabels: labels},
			// Deleting or scaling down the StatefulSet keeps the disk.
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs{
				WhenDeleted: pulumi.String("Retain"), WhenScaled: pulumi.String("Retain"),
			},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{
					Labels: labels,
					Annotations: pulumi.StringMap{
						// The autoscaler may not move the database to save cost;
						// planned upgrades still can (in the maintenance window).
						"cluster-autoscaler.kubernetes.io/safe-to-evict": pulumi.String("false"),
						"prometheus.io/scrape":                           pulumi.String("true"),
						"prometheus.io/port":                             pulumi.String(strconv.Itoa(infra.MySQLExporterPort)),
					},
				},
				Spec: &corev1.PodSpecArgs{
					TerminationGracePeriodSeconds: pulumi.Int(120),
					SecurityContext: &corev1.PodSecurityContextArgs{
						RunAsUser: pulumi.Int(mysqlUID), RunAsGroup: pulumi.Int(mysqlUID), FsGroup: pulumi.Int(mysqlUID),
						RunAsNonRoot:   pulumi.Bool(true),
						SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
					},
					// On the user pool, never on the jobs pool.
					NodeSelector: pulumi.StringMap{pods.PoolLabel: pulumi.String("user")},
					// No zone affinity: the ZRS disk attaches in any zone, so the
					// pod can move when a zone fails; later replicas spread.
					TopologySpreadConstraints: corev1.TopologySpreadConstraintArray{corev1.TopologySpreadConstraintArgs{
						MaxSkew: pulumi.Int(1), TopologyKey: pulumi.String("topology.kubernetes.io/zone"),
						WhenUnsatisfiable: pulumi.String("ScheduleAnyway"),
						LabelSelector:     &metav1.LabelSelectorArgs{MatchLabels: labels},
					}},
					Containers: corev1.ContainerArray{
						corev1.ContainerArgs{
							Name:  pulumi.String("mysql"),
							Image: pulumi.String(l.Image),
							Env: corev1.EnvVarArray{
								secretEnv("MYSQL_ROOT_PASSWORD", CredentialsSecret, KeyRoot),
								corev1.EnvVarArgs{Name: pulumi.String("MYSQL_DATABASE"), Value: pulumi.String(infra.MoodleDatabase)},
								corev1.EnvVarArgs{Name: pulumi.String("MYSQL_USER"), Value: pulumi.String(infra.MoodleDBUser)},
								secretEnv("MYSQL_PASSWORD", CredentialsSecret, KeyMoodle),
								secretEnv("EXPORTER_PASSWORD", CredentialsSecret, KeyExporter),
								secretEnv("BACKUP_PASSWORD", CredentialsSecret, KeyBackup),
							},
							Ports: corev1.ContainerPortArray{corev1.ContainerPortArgs{Name: pulumi.String("mysql"), ContainerPort: pulumi.Int(infra.MySQLPort)}},
							Resources: &corev1.ResourceRequirementsArgs{
								Requests: pulumi.StringMap{"cpu": quantity(l.CPUMillis, "m"), "memory": mem},
								// Memory limit = request: the buffer pool is sized to it.
								Limits: pulumi.StringMap{"memory": mem},
							},
							StartupProbe:    &corev1.ProbeArgs{TcpSocket: &corev1.TCPSocketActionArgs{Port: pulumi.Int(infra.MySQLPort)}, PeriodSeconds: pulumi.Int(10), FailureThreshold: pulumi.Int(90)},
							ReadinessProbe:  probe(query, 10, 3),
							LivenessProbe:   probe(ping, 20, 6),
							SecurityContext: pods.RestrictedWritableRoot(),
							VolumeMounts: corev1.VolumeMountArray{
								corev1.VolumeMountArgs{Name: pulumi.String("data"), MountPath: pulumi.String("/var/lib/mysql")},
								corev1.VolumeMountArgs{Name: pulumi.String("config"), MountPath: pulumi.String("/etc/mysql/conf.d/moodle.cnf"), SubPath: pulumi.String("moodle.cnf")},
								corev1.VolumeMountArgs{Name: pulumi.String("config"), MountPath: pulumi.String("/docker-entrypoint-initdb.d/init-users.sh"), SubPath: pulumi.String("init-users.sh")},
								corev1.VolumeMountArgs{Name: pulumi.String("run"), MountPath: pulumi.String("/var/run/mysqld")},
								corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
							},
						},
						corev1.ContainerArgs{
							Name:  pulumi.String("exporter"),
							Image: pulumi.String(a.ExporterImage),
							Args: pulumi.StringArray{
								pulumi.String("--mysqld.address=127.0.0.1:" + strconv.Itoa(infra.MySQLPort)),
								pulumi.String("--mysqld.username=" + ExporterUser),
							},
							Env:   corev1.EnvVarArray{secretEnv("MYSQLD_EXPORTER_PASSWORD", CredentialsSecret, KeyExporter)},
							Ports: corev1.ContainerPortArray{corev1.ContainerPortArgs{Name: pulumi.String("metrics"), ContainerPort: pulumi.Int(infra.MySQLExporterPort)}},
							Resources: &corev1.ResourceRequirementsArgs{
								Requests: pulumi.StringMap{"cpu": pulumi.String("20m"), "memory": pulumi.String("32Mi")},
								Limits:   pulumi.StringMap{"memory": pulumi.String("64Mi")},
							},
							ReadinessProbe:  &corev1.ProbeArgs{HttpGet: &corev1.HTTPGetActionArgs{Path: pulumi.String("/"), Port: pulumi.Int(infra.MySQLExporterPort)}},
							SecurityContext: pods.RestrictedWritableRoot(),
						},
					},
					Volumes: corev1.VolumeArray{
						corev1.VolumeArgs{Name: pulumi.String("config"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: cm.Metadata.Name()}},
						corev1.VolumeArgs{Name: pulumi.String("run"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{}},
						corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{}},
					},
				},
			},
			VolumeClaimTemplates: corev1.PersistentVolumeClaimTypeArray{corev1.PersistentVolumeClaimTypeArgs{
				Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("data")},
				Spec: &corev1.PersistentVolumeClaimSpecArgs{
					AccessModes:      pulumi.StringArray{pulumi.String("ReadWriteOnce")},
					StorageClassName: pulumi.String(l.StorageClass),
					Resources:        &corev1.VolumeResourceRequirementsArgs{Requests: pulumi.StringMap{"storage": quantity(l.DiskGiB, "Gi")}},
				},
			}},
		},
	}, append(in, protect...)...)
	if err != nil {
		return "", fmt.Errorf("creating the MySQL StatefulSet: %w", err)
	}
	// One primary: a budget of one lets planned maintenance move it (a
	// budget of zero would block every node drain and AKS upgrade); with
	// replicas it keeps all but one running.
	if _, err := policyv1.NewPodDisruptionBudget(ctx, name+"-pdb", &policyv1.PodDisruptionBudgetArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(infra.MySQLService), Namespace: pulumi.String(ns)},
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable: pulumi.Int(1),
			Selector:       &metav1.LabelSelectorArgs{MatchLabels: labels},
		},
	}, append(in, pulumi.DependsOn([]pulumi.Resource{sts}))...); err != nil {
		return "", fmt.Errorf("creating the MySQL disruption budget: %w", err)
	}
	return LegacyHost(), nil
}
