// Package redis provides Moodle's two Redis instances: "sessions"
// (\core\session\redis; never evicts, optionally persisted to a retained
// disk so a restart logs nobody out) and "cache" (the MUC application
// cache; evicts least recently used keys, never persisted). Each has a
// generated password, probes, limits and a Prometheus exporter.
package redis

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/fieldcert/moodle-aks/components/dataprotect"
	"github.com/fieldcert/moodle-aks/components/internal/pods"
	"github.com/fieldcert/moodle-aks/infra"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the component's type; with the child names it forms URNs.
const TypeToken = "moodle:redis:Redis"

// The official image's redis user.
const redisUID = 999

// Args configures the Redis instances.
type Args struct {
	// Image and ExporterImage are pinned images (required).
	Image, ExporterImage string
	// MemoryMiB is each container's memory (required, at least 128).
	MemoryMiB int
	// PersistSessions keeps an append-only file for the sessions instance
	// on a disk of StorageClass.
	PersistSessions bool
	// StorageClass is the retained disk class (required with PersistSessions).
	StorageClass string
	// Protection guards the sessions disk (required).
	Protection infra.DataProtection
	// DependsOn are created first: namespaces and storage classes (required).
	DependsOn []pulumi.Resource
}

// Redis is the two instances.
type Redis struct {
	pulumi.ResourceState

	// Hosts maps "sessions" and "cache" to their service's DNS name.
	Hosts map[string]string
	// Ready are the StatefulSets, Services and Moodle's secret.
	Ready []pulumi.Resource
}

// instance describes one of the two.
type instance struct {
	role, service, policy string
	persist               bool
}

// Config renders one instance's redis.conf (the password comes from the
// environment on the command line's --requirepass).
func Config(memoryMiB int, policy string, persist bool) string {
	conf := "maxmemory " + strconv.Itoa(infra.RedisMaxMemoryMiB(memoryMiB)) + "mb\n" +
		"maxmemory-policy " + policy + "\n" +
		"protected-mode no\n" + // the mesh and network policies guard it; the password too
		"tcp-keepalive 60\n"
	if persist {
		return conf + "appendonly yes\nappendfsync everysec\nsave \"\"\ndir /data\n"
	}
	return conf + "appendonly no\nsave \"\"\n"
}

func (a *Args) validate() error {
	var errs []error
	if a.Image == "" || a.ExporterImage == "" {
		errs = append(errs, errors.New("image and exporterImage are required"))
	}
	if a.MemoryMiB < 128 {
		errs = append(errs, fmt.Errorf("memoryMiB %d is below 128", a.MemoryMiB))
	}
	if a.PersistSessions && a.StorageClass == "" {
		errs = append(errs, errors.New("persisting sessions needs a storageClass"))
	}
	if len(a.DependsOn) == 0 {
		errs = append(errs, errors.New("dependsOn is required"))
	}
	return errors.Join(errs...)
}

// New registers both instances.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Redis, error) {
	if args == nil {
		return nil, fmt.Errorf("redis %q: args are required", name)
	}
	a := *args
	err := a.validate()
	protect, perr := dataprotect.Options(a.Protection)
	if err = errors.Join(err, perr); err != nil {
		return nil, fmt.Errorf("redis %q: %w", name, err)
	}
	ns := infra.NamespaceData
	c := &Redis{Hosts: map[string]string{}}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registering redis component %q: %w", name, err)
	}
	in := []pulumi.ResourceOption{pulumi.Parent(c), pulumi.DependsOn(a.DependsOn)}

	instances := []instance{
		// Sessions must never be evicted: a full instance refuses writes
		// (and alerts) rather than logging students out.
		{"sessions", infra.RedisSessionsService, "noeviction", a.PersistSessions},
		{"cache", infra.RedisCacheService, "allkeys-lru", false},
	}
	moodleSecret := pulumi.StringMap{}
	for _, inst := range instances {
		c.Hosts[inst.role] = inst.service + "." + ns + ".svc.cluster.local"
		pw, err := random.NewRandomPassword(ctx, name+"-"+inst.role+"-password", &random.RandomPasswordArgs{
			Length: pulumi.Int(32), Special: pulumi.Bool(false),
		}, pulumi.Parent(c))
		if err != nil {
			return nil, fmt.Errorf("generating the %s password: %w", inst.role, err)
		}
		moodleSecret[inst.role+"-host"] = pulumi.String(c.Hosts[inst.role])
		moodleSecret[inst.role+"-password"] = pw.Result
		secret, err := corev1.NewSecret(ctx, name+"-"+inst.role+"-secret", &corev1.SecretArgs{
			Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(inst.service), Namespace: pulumi.String(ns)},
			Type:       pulumi.String("Opaque"),
			StringData: pulumi.StringMap{"password": pw.Result},
		}, in...)
		if err != nil {
			return nil, fmt.Errorf("creating the %s secret: %w", inst.role, err)
		}
		cm, err := corev1.NewConfigMap(ctx, name+"-"+inst.role+"-config", &corev1.ConfigMapArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(inst.service + "-config"), Namespace: pulumi.String(ns)},
			Data:     pulumi.StringMap{"redis.conf": pulumi.String(Config(a.MemoryMiB, inst.policy, inst.persist))},
		}, in...)
		if err != nil {
			return nil, fmt.Errorf("creating the %s configuration: %w", inst.role, err)
		}
		labels := pulumi.StringMap{infra.AppLabel: pulumi.String(infra.RedisApp), "moodle.fieldcert/redis": pulumi.String(inst.role)}
		svc, err := corev1.NewService(ctx, name+"-"+inst.role+"-service", &corev1.ServiceArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(inst.service), Namespace: pulumi.String(ns), Labels: labels},
			Spec: &corev1.ServiceSpecArgs{
				Type:     pulumi.String("ClusterIP"),
				Selector: labels,
				Ports: corev1.ServicePortArray{
					corev1.ServicePortArgs{Name: pulumi.String("tcp-redis"), Port: pulumi.Int(infra.RedisPort), TargetPort: pulumi.Int(infra.RedisPort)},
					corev1.ServicePortArgs{Name: pulumi.String("http-metrics"), Port: pulumi.Int(infra.RedisExporterPort), TargetPort: pulumi.Int(infra.RedisExporterPort)},
				},
			},
		}, in...)
		if err != nil {
			return nil, fmt.Errorf("creating the %s service: %w", inst.role, err)
		}
		c.Ready = append(c.Ready, svc)

		passwordEnv := corev1.EnvVarArgs{Name: pulumi.String("REDIS_PASSWORD"), ValueFrom: &corev1.EnvVarSourceArgs{
			SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: secret.Metadata.Name().Elem(), Key: pulumi.String("password")},
		}}
		mem := pulumi.String(strconv.Itoa(a.MemoryMiB) + "Mi")
		ping := &corev1.ProbeArgs{
			// REDISCLI_AUTH keeps the password off the command line.
			Exec:          &corev1.ExecActionArgs{Command: pulumi.ToStringArray([]string{"sh", "-c", `REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping | grep -q PONG`})},
			PeriodSeconds: pulumi.Int(10), TimeoutSeconds: pulumi.Int(3), FailureThreshold: pulumi.Int(3),
		}
		mounts := corev1.VolumeMountArray{
			corev1.VolumeMountArgs{Name: pulumi.String("config"), MountPath: pulumi.String("/etc/redis")},
			corev1.VolumeMountArgs{Name: pulumi.String("data"), MountPath: pulumi.String("/data")},
		}
		volumes := corev1.VolumeArray{corev1.VolumeArgs{Name: pulumi.String("config"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: cm.Metadata.Name()}}}
		var claims corev1.PersistentVolumeClaimTypeArray
		if inst.persist {
			claims = corev1.PersistentVolumeClaimTypeArray{corev1.PersistentVolumeClaimTypeArgs{
				Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("data")},
				Spec: &corev1.PersistentVolumeClaimSpecArgs{
					AccessModes:      pulumi.StringArray{pulumi.String("ReadWriteOnce")},
					StorageClassName: pulumi.String(a.StorageClass),
					Resources:        &corev1.VolumeResourceRequirementsArgs{Requests: pulumi.StringMap{"storage": pulumi.String(strconv.Itoa(max(4, a.MemoryMiB*3/1024)) + "Gi")}},
				},
			}}
		} else {
			volumes = append(volumes, corev1.VolumeArgs{Name: pulumi.String("data"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{}})
		}
		stsOpts := in
		if inst.persist {
			stsOpts = append(append([]pulumi.ResourceOption{}, in...), protect...)
		}
		sts, err := appsv1.NewStatefulSet(ctx, name+"-"+inst.role, &appsv1.StatefulSetArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(inst.service), Namespace: pulumi.String(ns), Labels: labels},
			Spec: &appsv1.StatefulSetSpecArgs{
				Replicas:    pulumi.Int(1),
				ServiceName: pulumi.String(inst.service),
				Selector:    &metav1.LabelSelectorArgs{MatchLabels: labels},
				PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs{
					WhenDeleted: pulumi.String("Retain"), WhenScaled: pulumi.String("Retain"),
				},
				Template: &corev1.PodTemplateSpecArgs{
					Metadata: &metav1.ObjectMetaArgs{Labels: labels, Annotations: pulumi.StringMap{
						"prometheus.io/scrape": pulumi.String("true"),
						"prometheus.io/port":   pulumi.String(strconv.Itoa(infra.RedisExporterPort)),
					}},
					Spec: &corev1.PodSpecArgs{
						SecurityContext: &corev1.PodSecurityContextArgs{
							RunAsUser: pulumi.Int(redisUID), RunAsGroup: pulumi.Int(redisUID), FsGroup: pulumi.Int(redisUID),
							RunAsNonRoot:   pulumi.Bool(true),
							SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
						},
						NodeSelector: pulumi.StringMap{pods.PoolLabel: pulumi.String("user")},
						Containers: corev1.ContainerArray{
							corev1.ContainerArgs{
								Name:    pulumi.String("redis"),
								Image:   pulumi.String(a.Image),
								Command: pulumi.ToStringArray([]string{"sh", "-c", `exec redis-server /etc/redis/redis.conf --requirepass "$REDIS_PASSWORD"`}),
								Env:     corev1.EnvVarArray{passwordEnv},
								Ports:   corev1.ContainerPortArray{corev1.ContainerPortArgs{Name: pulumi.String("redis"), ContainerPort: pulumi.Int(infra.RedisPort)}},
								Resources: &corev1.ResourceRequirementsArgs{
									Requests: pulumi.StringMap{"cpu": pulumi.String("100m"), "memory": mem},
									Limits:   pulumi.StringMap{"memory": mem},
								},
								ReadinessProbe:  ping,
								LivenessProbe:   &corev1.ProbeArgs{TcpSocket: &corev1.TCPSocketActionArgs{Port: pulumi.Int(infra.RedisPort)}, PeriodSeconds: pulumi.Int(15), FailureThreshold: pulumi.Int(4)},
								SecurityContext: pods.Restricted(),
								VolumeMounts:    mounts,
							},
							corev1.ContainerArgs{
								Name:  pulumi.String("exporter"),
								Image: pulumi.String(a.ExporterImage),
								Env: corev1.EnvVarArray{
									corev1.EnvVarArgs{Name: pulumi.String("REDIS_ADDR"), Value: pulumi.String("redis://127.0.0.1:" + strconv.Itoa(infra.RedisPort))},
									passwordEnv,
								},
								Ports: corev1.ContainerPortArray{corev1.ContainerPortArgs{Name: pulumi.String("metrics"), ContainerPort: pulumi.Int(infra.RedisExporterPort)}},
								Resources: &corev1.ResourceRequirementsArgs{
									Requests: pulumi.StringMap{"cpu": pulumi.String("10m"), "memory": pulumi.String("32Mi")},
									Limits:   pulumi.StringMap{"memory": pulumi.String("64Mi")},
								},
								SecurityContext: pods.Restricted(),
							},
						},
						Volumes: volumes,
					},
				},
				VolumeClaimTemplates: claims,
			},
		}, stsOpts...)
		if err != nil {
			return nil, fmt.Errorf("creating the %s StatefulSet: %w", inst.role, err)
		}
		c.Ready = append(c.Ready, sts)
	}
	// Moodle's copy of the hosts and passwords, in its namespace.
	ms, err := corev1.NewSecret(ctx, name+"-moodle-secret", &corev1.SecretArgs{
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(infra.MoodleRedisSecret), Namespace: pulumi.String(infra.NamespaceMoodle)},
		Type:       pulumi.String("Opaque"),
		StringData: moodleSecret,
	}, in...)
	if err != nil {
		return nil, fmt.Errorf("creating Moodle's Redis secret: %w", err)
	}
	c.Ready = append(c.Ready, ms)
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"sessions": pulumi.String(c.Hosts["sessions"]), "cache": pulumi.String(c.Hosts["cache"])}); err != nil {
		return nil, fmt.Errorf("registering outputs of redis %q: %w", name, err)
	}
	return c, nil
}
