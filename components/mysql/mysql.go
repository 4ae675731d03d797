// Package mysql provides MySQL for Moodle: one primary as a StatefulSet on
// a zone-redundant, retained Azure Disk, credentials generated once and
// kept as Pulumi and Kubernetes secrets, a my.cnf sized from the
// container's memory and Moodle's concurrency, probes, a disruption
// budget, and a Prometheus exporter beside it.
//
// Replicas: the StatefulSet, headless Service and credentials are laid out
// so that a second, read-only replica can be added with GTID replication
// (server_id from the pod ordinal, binary logs already on); Moodle would
// then use it through $CFG->dboptions['readonly']. Not done yet: one
// primary on a ZRS disk survives the loss of a zone by moving.
package mysql

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fieldcert/moodle-aks/components/dataprotect"
	"github.com/fieldcert/moodle-aks/components/internal/pods"
	"github.com/fieldcert/moodle-aks/infra"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the component's type; with the child names it forms URNs.
const TypeToken = "moodle:mysql:MySQL"

// Secret and key names.
const (
	// CredentialsSecret in the data namespace holds every MySQL password.
	CredentialsSecret = "mysql-credentials"
	KeyRoot           = "root-password"
	KeyMoodle         = "moodle-password"
	KeyExporter       = "exporter-password"
	KeyBackup         = "backup-password"
	// BackupUser dumps the database (SELECT, SHOW VIEW, TRIGGER, EVENT,
	// LOCK TABLES, PROCESS); ExporterUser reads status.
	BackupUser   = "backup"
	ExporterUser = "exporter"
)

// The official image's mysql user, so the pods run as non-root under the
// restricted Pod Security Standard.
const mysqlUID = 999

// Args configures MySQL.
type Args struct {
	// Image is MySQL's image, pinned (required).
	Image string
	// ExporterImage is mysqld_exporter's image, pinned (required).
	ExporterImage string
	// CPUMillis and MemoryMiB size the container (required).
	CPUMillis, MemoryMiB int
	// DiskGiB sizes the data disk (required).
	DiskGiB int
	// MaxConnections is max_connections (infra.Config.MaxConnections).
	MaxConnections int
	// StorageClass is the retained, zone-redundant disk class (required).
	StorageClass string
	// Protection guards the data claim (required).
	Protection infra.DataProtection
	// DependsOn are created first: the namespaces and storage classes (required).
	DependsOn []pulumi.Resource
}

// MySQL is the database and its credentials.
type MySQL struct {
	pulumi.ResourceState

	// Host is the service's cluster DNS name.
	Host string
	// BackupPassword is the backup user's password (secret), for the
	// backup and restore jobs' secret.
	BackupPassword pulumi.StringOutput
	// RootPassword is root's password (secret), for the restore job.
	RootPassword pulumi.StringOutput
	// Ready are the StatefulSet, its Service and Moodle's secret: what
	// Moodle's workloads wait for.
	Ready []pulumi.Resource
}

func (a *Args) validate() error {
	var errs []error
	if a.Image == "" || a.ExporterImage == "" {
		errs = append(errs, errors.New("image and exporterImage are required"))
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
	if need := infra.MySQLMemoryNeededMiB(infra.BufferPoolMiB(a.MemoryMiB), a.MaxConnections); need > a.MemoryMiB {
		errs = append(errs, fmt.Errorf("%d MiB cannot hold %d connections and the buffer pool (needs %d MiB)", a.MemoryMiB, a.MaxConnections, need))
	}
	if a.StorageClass == "" || len(a.DependsOn) == 0 {
		errs = append(errs, errors.New("storageClass and dependsOn are required"))
	}
	return errors.Join(errs...)
}

// MyCnf renders the server configuration for Moodle.
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

func secretEnv(name, key string) corev1.EnvVarArgs {
	return corev1.EnvVarArgs{
		Name: pulumi.String(name),
		ValueFrom: &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{
			Name: pulumi.String(CredentialsSecret), Key: pulumi.String(key),
		}},
	}
}

func quantity(n int, unit string) pulumi.String { return pulumi.String(strconv.Itoa(n) + unit) }

// New registers MySQL.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*MySQL, error) {
	if args == nil {
		return nil, fmt.Errorf("mysql %q: args are required", name)
	}
	a := *args
	err := a.validate()
	protect, perr := dataprotect.Options(a.Protection)
	if err = errors.Join(err, perr); err != nil {
		return nil, fmt.Errorf("mysql %q: %w", name, err)
	}
	ns := infra.NamespaceData
	c := &MySQL{Host: infra.MySQLService + "." + ns + ".svc.cluster.local"}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registering mysql component %q: %w", name, err)
	}
	in := []pulumi.ResourceOption{pulumi.Parent(c), pulumi.DependsOn(a.DependsOn)}

	// Generated once: the results live in the state as secrets and stay
	// the same on every later run.
	passwords := map[string]pulumi.StringOutput{}
	for _, key := range []string{KeyRoot, KeyMoodle, KeyExporter, KeyBackup} {
		pw, err := random.NewRandomPassword(ctx, name+"-"+key, &random.RandomPasswordArgs{
			Length: pulumi.Int(32),
			// Letters and digits only: the passwords pass through shell
			// scripts and DSNs unquoted.
			Special: pulumi.Bool(false),
		}, pulumi.Parent(c))
		if err != nil {
			return nil, fmt.Errorf("generating the %s: %w", key, err)
		}
		passwords[key] = pw.Result
	}
	c.BackupPassword, c.RootPassword = passwords[KeyBackup], passwords[KeyRoot]

	secretData := pulumi.StringMap{}
	for k, v := range passwords {
		secretData[k] = v
	}
	if _, err := corev1.NewSecret(ctx, name+"-credentials", &corev1.SecretArgs{
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(CredentialsSecret), Namespace: pulumi.String(ns)},
		Type:       pulumi.String("Opaque"),
		StringData: secretData,
	}, in...); err != nil {
		return nil, fmt.Errorf("creating the credentials secret: %w", err)
	}
	// Moodle's own copy, in its namespace: only what it needs.
	moodleSecret, err := corev1.NewSecret(ctx, name+"-moodle-db", &corev1.SecretArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(infra.MoodleDBSecret), Namespace: pulumi.String(infra.NamespaceMoodle)},
		Type:     pulumi.String("Opaque"),
		StringData: pulumi.StringMap{
			"host":     pulumi.String(c.Host),
			"port":     pulumi.String(strconv.Itoa(infra.MySQLPort)),
			"name":     pulumi.String(infra.MoodleDatabase),
			"user":     pulumi.String(infra.MoodleDBUser),
			"password": passwords[KeyMoodle],
		},
	}, in...)
	if err != nil {
		return nil, fmt.Errorf("creating Moodle's database secret: %w", err)
	}

	cm, err := corev1.NewConfigMap(ctx, name+"-config", &corev1.ConfigMapArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("mysql-config"), Namespace: pulumi.String(ns)},
		Data: pulumi.StringMap{
			"moodle.cnf":    pulumi.String(MyCnf(a.MemoryMiB, a.MaxConnections)),
			"init-users.sh": pulumi.String(initUsers),
		},
	}, in...)
	if err != nil {
		return nil, fmt.Errorf("creating the MySQL configuration: %w", err)
	}

	labels := pulumi.StringMap{infra.AppLabel: pulumi.String(infra.MySQLApp)}
	var service pulumi.Resource
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
		svc, err := corev1.NewService(ctx, name+"-"+svcName, &corev1.ServiceArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(svcName), Namespace: pulumi.String(ns), Labels: labels},
			Spec:     spec,
		}, in...)
		if err != nil {
			return fmt.Errorf("creating service %s: %w", svcName, err)
		}
		if !headless {
			service = svc
		}
		return nil
	}
	if err := ports(infra.MySQLService, false); err != nil {
		return nil, err
	}
	if err := ports(infra.MySQLService+"-headless", true); err != nil {
		return nil, err
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
	mem := quantity(a.MemoryMiB, "Mi")

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
							Image: pulumi.String(a.Image),
							Env: corev1.EnvVarArray{
								secretEnv("MYSQL_ROOT_PASSWORD", KeyRoot),
								corev1.EnvVarArgs{Name: pulumi.String("MYSQL_DATABASE"), Value: pulumi.String(infra.MoodleDatabase)},
								corev1.EnvVarArgs{Name: pulumi.String("MYSQL_USER"), Value: pulumi.String(infra.MoodleDBUser)},
								secretEnv("MYSQL_PASSWORD", KeyMoodle),
								secretEnv("EXPORTER_PASSWORD", KeyExporter),
								secretEnv("BACKUP_PASSWORD", KeyBackup),
							},
							Ports: corev1.ContainerPortArray{corev1.ContainerPortArgs{Name: pulumi.String("mysql"), ContainerPort: pulumi.Int(infra.MySQLPort)}},
							Resources: &corev1.ResourceRequirementsArgs{
								Requests: pulumi.StringMap{"cpu": quantity(a.CPUMillis, "m"), "memory": mem},
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
							Env:   corev1.EnvVarArray{secretEnv("MYSQLD_EXPORTER_PASSWORD", KeyExporter)},
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
					StorageClassName: pulumi.String(a.StorageClass),
					Resources:        &corev1.VolumeResourceRequirementsArgs{Requests: pulumi.StringMap{"storage": quantity(a.DiskGiB, "Gi")}},
				},
			}},
		},
	}, append(in, protect...)...)
	if err != nil {
		return nil, fmt.Errorf("creating the MySQL StatefulSet: %w", err)
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
		return nil, fmt.Errorf("creating the MySQL disruption budget: %w", err)
	}
	c.Ready = []pulumi.Resource{sts, service, moodleSecret}
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"host": pulumi.String(c.Host)}); err != nil {
		return nil, fmt.Errorf("registering outputs of mysql %q: %w", name, err)
	}
	return c, nil
}
