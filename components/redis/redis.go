// Package redis provides Moodle's two Redis stores:
//
//   - "sessions": a Redis Cluster run by the OT-CONTAINER-KIT redis-operator
//     (installed from its official chart, pinned). In prod each leader has a
//     follower in another zone, so losing a pod, a node or a zone promotes a
//     follower instead of logging users out; sessions are never evicted and,
//     with persistence, kept in an append-only file on a retained disk.
//   - "cache": Moodle's application cache (MUC), one instance that evicts
//     least recently used keys and never persists: losing it costs a warm-up,
//     nothing else (README, "The data tier").
//
// Both speak only TLS, with certificates of the stack's data tier CA (the
// data namespace is outside the mesh); the sessions cluster also requires
// its clients' certificates. Each has a generated password and a
// Prometheus exporter.
package redis

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/fieldcert/moodle-aks/components/dataprotect"
	"github.com/fieldcert/moodle-aks/components/internal/helm"
	"github.com/fieldcert/moodle-aks/components/internal/pods"
	"github.com/fieldcert/moodle-aks/components/internal/tlscert"
	"github.com/fieldcert/moodle-aks/infra"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the component's type; with the child names it forms URNs.
const TypeToken = "moodle:redis:Redis"

// The operator, its chart and the names it derives from the RedisCluster
// (OT-CONTAINER-KIT/redis-operator 0bc34813: internal/k8sutils
// redis-cluster.go, statefulset.go, labels.go).
const (
	// OperatorRepo is OT-CONTAINER-KIT's chart repository.
	OperatorRepo = "https://ot-container-kit.github.io/helm-charts/"
	// OperatorChartVersion installs operator 0.26.0 (0.22.0 and later no
	// longer reset and flush a cluster it finds broken: commit c8aeadfe).
	OperatorChartVersion = "0.26.1"
	OperatorRelease      = "redis-operator"
	// OperatorApp is the operator pods' "name" label (the chart's selector).
	OperatorApp = "redis-operator"

	// SessionsCluster is the RedisCluster: its pods are
	// <SessionsCluster>-leader-<i> and -follower-<i>, labelled
	// app=<SessionsCluster>-leader|follower, role=leader|follower,
	// cluster=<SessionsCluster>; its Services <SessionsCluster>-leader and
	// -follower (and -headless of each).
	SessionsCluster = infra.RedisSessionsService
	// ClusterBusPort is the cluster's node-to-node port (the client port
	// plus 10000).
	ClusterBusPort = infra.RedisPort + 10000
	// ClusterLabel selects every pod of the sessions cluster.
	ClusterLabel = "cluster"
	// CacheRole labels the cache pods ("moodle.fieldcert/redis": "cache").
	RoleLabel = "moodle.fieldcert/redis"
)

// The images' users: the official image's redis (999), OT's (1000).
const (
	redisUID   = 999
	otRedisUID = 1000
)

// TLS mounts and secrets.
const (
	// CacheTLSSecret and SessionsTLSSecret are the servers' certificates.
	CacheTLSSecret    = "redis-cache-tls"
	SessionsTLSSecret = "redis-sessions-tls"
	// SessionsConfig is the ConfigMap of settings the operator includes
	// after its own (redisConfig.additionalRedisConfig).
	SessionsConfig = "redis-sessions-config"
	tlsDir         = "/tls"
)

// Args configures the Redis stores.
type Args struct {
	// Image is the cache's image, ClusterImage the OT image of the sessions
	// cluster, ExporterImage the exporter's, each pinned (required).
	Image, ClusterImage, ExporterImage string
	// MemoryMiB is each Redis container's memory (required, at least 128).
	MemoryMiB int
	// Shards are the sessions cluster's leaders; Followers its followers
	// (0, or one per leader).
	Shards, Followers int
	// SpreadKey keeps pods apart (infra.Config.DataSpreadKey).
	SpreadKey string
	// PersistSessions keeps an append-only file for the sessions on disks
	// of StorageClass.
	PersistSessions bool
	// StorageClass is the retained zonal disk class (required).
	StorageClass string
	// Protection guards the sessions cluster (required).
	Protection infra.DataProtection
	// Issuer signs the servers' certificates (required).
	Issuer string
	// DependsOn are created first: namespaces, storage classes, the issuer
	// (required).
	DependsOn []pulumi.Resource
}

// Redis is the two stores.
type Redis struct {
	pulumi.ResourceState

	// Hosts maps "sessions" and "cache" to what Moodle is given: the
	// cluster's seeds (comma-separated host:port) and the cache's host.
	Hosts map[string]string
	// Ready are the cluster, the cache and Moodle's secret.
	Ready []pulumi.Resource
}

// CacheConfig renders the cache's redis.conf: TLS only, on the Redis port,
// with the certificate of CacheTLSSecret; clients log in with the password
// (Moodle's cache store sends no client certificate).
func CacheConfig(memoryMiB int) string {
	return "maxmemory " + strconv.Itoa(infra.RedisMaxMemoryMiB(memoryMiB)) + "mb\n" +
		"maxmemory-policy allkeys-lru\n" +
		// With requirepass set, protected mode refuses nothing (it acts only
		// on a server without a password bound to every address, redis.conf
		// "protected-mode"); on, it stops a server whose password went
		// missing from serving anyone but loopback.
		"protected-mode yes\n" +
		"tcp-keepalive 60\n" +
		"appendonly no\nsave \"\"\n" +
		"port 0\n" +
		"tls-port " + strconv.Itoa(infra.RedisPort) + "\n" +
		"tls-cert-file " + tlsDir + "/tls.crt\n" +
		"tls-key-file " + tlsDir + "/tls.key\n" +
		"tls-ca-cert-file " + tlsDir + "/ca.crt\n" +
		"tls-auth-clients no\n"
}

// SessionsConfigFile is what the sessions cluster adds to the settings OT's
// image writes (OT-CONTAINER-KIT/redis entrypoint.sh includes it last, so
// these win):
//   - never evict a session; the AOF fsynced every second;
//   - cluster-preferred-endpoint-type ip: with TLS the image announces the
//     pod's bare hostname, which no other pod (Moodle included) resolves,
//     so redirects must name the address;
//   - tls-auth-clients yes: every client (Moodle, the operator, the
//     exporter, the other nodes) shows a certificate of the data tier CA
//     (the image sets "optional");
//   - tls-ca-cert-file: the image reads its path from REDIS_TLS_CA_KEY,
//     the operator sets REDIS_TLS_CA_CERT, so the image would leave it empty.
func SessionsConfigFile(memoryMiB int) string {
	return "maxmemory " + strconv.Itoa(infra.RedisMaxMemoryMiB(memoryMiB)) + "mb\n" +
		"maxmemory-policy noeviction\n" +
		"appendfsync everysec\n" +
		"tcp-keepalive 60\n" +
		"cluster-preferred-endpoint-type ip\n" +
		"tls-auth-clients yes\n" +
		"tls-ca-cert-file " + tlsDir + "/ca.crt\n"
}

// Seeds are the sessions cluster's seeds for Moodle: two comma-separated
// host:port entries, because Moodle 4.5 switches its session handler to
// cluster mode only for two or more (lib/classes/session/redis.php: count
// of session_redis_host entries > 1). Without followers the leaders'
// Service is named twice.
func Seeds(followers int) string {
	svc := func(role string) string {
		return SessionsCluster + "-" + role + "." + infra.NamespaceData + ".svc.cluster.local:" + strconv.Itoa(infra.RedisPort)
	}
	second := svc("follower")
	if followers == 0 {
		second = svc("leader")
	}
	return svc("leader") + "," + second
}

// CacheHost is the cache's Service.
func CacheHost() string {
	return infra.RedisCacheService + "." + infra.NamespaceData + ".svc.cluster.local"
}

func (a *Args) validate() error {
	var errs []error
	if a.Image == "" || a.ClusterImage == "" || a.ExporterImage == "" {
		errs = append(errs, errors.New("image, clusterImage and exporterImage are required"))
	}
	if a.MemoryMiB < 128 {
		errs = append(errs, fmt.Errorf("memoryMiB %d is below 128", a.MemoryMiB))
	}
	if a.Shards != 1 && (a.Shards < 3 || a.Shards > 9) {
		errs = append(errs, fmt.Errorf("shards %d is not 1 or 3 to 9", a.Shards))
	}
	if a.Followers != 0 && a.Followers != a.Shards {
		errs = append(errs, fmt.Errorf("followers %d is neither 0 nor one per leader (%d)", a.Followers, a.Shards))
	}
	if a.SpreadKey != "topology.kubernetes.io/zone" && a.SpreadKey != "kubernetes.io/hostname" {
		errs = append(errs, fmt.Errorf("spreadKey %q is not the zone or the host name label", a.SpreadKey))
	}
	if a.StorageClass == "" || a.Issuer == "" || len(a.DependsOn) == 0 {
		errs = append(errs, errors.New("storageClass, issuer and dependsOn are required"))
	}
	return errors.Join(errs...)
}

func restricted() map[string]any {
	return map[string]any{
		"allowPrivilegeEscalation": false,
		"runAsNonRoot":             true,
		"capabilities":             map[string]any{"drop": []any{"ALL"}},
		"seccompProfile":           map[string]any{"type": "RuntimeDefault"},
	}
}

// placement is one role's affinity and spread. Leader i and follower i
// (the two copies of one shard) never share a zone: a required
// anti-affinity between the two StatefulSets' pods of the same pod index
// (the apps.kubernetes.io/pod-index label, Kubernetes 1.28+, matched
// through matchLabelKeys, stable in 1.33: KEP-3633). Each role also
// spreads over the zones; the followers' spread is soft, because a hard
// one can dead-end on some leader layouts.
func (a *Args) placement(role string) (map[string]any, []any) {
	if a.Followers == 0 {
		return nil, nil
	}
	pair := map[string]any{"podAntiAffinity": map[string]any{
		"requiredDuringSchedulingIgnoredDuringExecution": []any{map[string]any{
			"labelSelector":  map[string]any{"matchLabels": map[string]any{ClusterLabel: SessionsCluster}},
			"matchLabelKeys": []any{"apps.kubernetes.io/pod-index"},
			"topologyKey":    a.SpreadKey,
		}},
	}}
	when := "DoNotSchedule"
	if role == "follower" {
		when = "ScheduleAnyway"
	}
	return pair, []any{map[string]any{
		"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": when,
		"labelSelector": map[string]any{"matchLabels": map[string]any{"app": SessionsCluster + "-" + role}},
	}}
}

// ClusterSpec is the RedisCluster's spec.
func (a *Args) ClusterSpec() map[string]any {
	mem := strconv.Itoa(a.MemoryMiB) + "Mi"
	claim := func(gib int) map[string]any {
		return map[string]any{"spec": map[string]any{
			"storageClassName": a.StorageClass,
			"accessModes":      []any{"ReadWriteOnce"},
			"resources":        map[string]any{"requests": map[string]any{"storage": strconv.Itoa(gib) + "Gi"}},
		}}
	}
	role := func(name string, replicas int) map[string]any {
		r := map[string]any{
			"replicas":        replicas,
			"securityContext": restricted(),
			// The pre-stop hook hands a leader's slots to its follower
			// (CLUSTER FAILOVER) before the pod stops.
			"terminationGracePeriodSeconds": 60,
			"nodeSelector":                  map[string]any{pods.PoolLabel: "user"},
			"redisConfig":                   map[string]any{"additionalRedisConfig": SessionsConfig},
		}
		if replicas > 1 {
			r["pdb"] = map[string]any{"enabled": true, "maxUnavailable": 1}
		}
		if aff, spread := a.placement(name); aff != nil {
			r["affinity"], r["topologySpreadConstraints"] = aff, spread
		}
		return r
	}
	spec := map[string]any{
		"clusterSize":        a.Shards,
		"clusterVersion":     "v7",
		"port":               infra.RedisPort,
		"persistenceEnabled": a.PersistSessions,
		"kubernetesConfig": map[string]any{
			"image":           a.ClusterImage,
			"imagePullPolicy": "IfNotPresent",
			"resources": map[string]any{
				"requests": map[string]any{"cpu": "100m", "memory": mem},
				"limits":   map[string]any{"memory": mem},
			},
			"redisSecret": map[string]any{"name": SessionsCluster, "key": "password"},
			// Deleting or scaling the cluster keeps the disks.
			"persistentVolumeClaimRetentionPolicy": map[string]any{"whenDeleted": "Retain", "whenScaled": "Retain"},
		},
		"redisLeader":   role("leader", a.Shards),
		"redisFollower": role("follower", a.Followers),
		"redisExporter": map[string]any{
			"enabled": true, "image": a.ExporterImage, "imagePullPolicy": "IfNotPresent",
			"resources": map[string]any{
				"requests": map[string]any{"cpu": "10m", "memory": "32Mi"},
				"limits":   map[string]any{"memory": "64Mi"},
			},
			"securityContext": restricted(),
		},
		"podSecurityContext": map[string]any{
			"runAsUser": otRedisUID, "runAsGroup": otRedisUID, "fsGroup": otRedisUID, "runAsNonRoot": true,
			"seccompProfile": map[string]any{"type": "RuntimeDefault"},
		},
		"TLS": map[string]any{
			"ca": "ca.crt", "cert": "tls.crt", "key": "tls.key",
			"secret": map[string]any{"secretName": SessionsTLSSecret},
		},
		// The image reads the CA's path from REDIS_TLS_CA_KEY (see
		// SessionsConfigFile).
		"env": []any{map[string]any{"name": "REDIS_TLS_CA_KEY", "value": tlsDir + "/ca.crt"}},
		"storage": map[string]any{
			// nodes.conf keeps a node's identity: a restarted pod rejoins as
			// itself (as a follower, if its shard failed over).
			"nodeConfVolume":              true,
			"nodeConfVolumeClaimTemplate": claim(1),
		},
	}
	if a.PersistSessions {
		spec["storage"].(map[string]any)["volumeClaimTemplate"] = claim(max(4, a.MemoryMiB*3/1024))
	}
	return spec
}

// operatorValues are the redis-operator chart's values (charts/redis-operator
// values.yaml at 0bc34813).
type operatorValues struct {
	RedisOperator struct {
		ImagePullPolicy string            `json:"imagePullPolicy"`
		WatchNamespace  string            `json:"watchNamespace"`
		Webhook         bool              `json:"webhook"`
		PodLabels       map[string]string `json:"podLabels"`
	} `json:"redisOperator"`
	Resources struct {
		Requests map[string]string `json:"requests"`
		Limits   map[string]string `json:"limits"`
	} `json:"resources"`
	RBAC struct {
		Enabled bool   `json:"enabled"`
		Scope   string `json:"scope"`
	} `json:"rbac"`
	NodeSelector       map[string]string `json:"nodeSelector"`
	PodSecurityContext map[string]any    `json:"podSecurityContext"`
	SecurityContext    map[string]any    `json:"securityContext"`
	FeatureGates       map[string]bool   `json:"featureGates"`
}

// OperatorValues are the values New installs the chart with.
func OperatorValues() operatorValues {
	var v operatorValues
	// The image is the chart's appVersion (v0.26.0): the chart's version
	// pins it (templates/operator-deployment.yaml: imageTag defaults to
	// "v" + .Chart.AppVersion).
	v.RedisOperator.ImagePullPolicy = "IfNotPresent"
	// A Role in the data namespace, watching only it (the CRDs come with
	// the chart, cluster-wide).
	v.RedisOperator.WatchNamespace = infra.NamespaceData
	v.RBAC.Enabled, v.RBAC.Scope = true, "namespace"
	// The webhook only serves enableMasterSlaveAntiAffinity (host names);
	// the zone anti-affinity here needs none.
	v.RedisOperator.Webhook = false
	v.Resources.Requests = map[string]string{"cpu": strconv.Itoa(infra.OperatorCPUMillis) + "m", "memory": strconv.Itoa(infra.OperatorMemMiB) + "Mi"}
	v.Resources.Limits = map[string]string{"memory": strconv.Itoa(2*infra.OperatorMemMiB) + "Mi"}
	v.NodeSelector = map[string]string{pods.PoolLabel: "user"}
	v.PodSecurityContext = map[string]any{"runAsNonRoot": true, "seccompProfile": map[string]any{"type": "RuntimeDefault"}}
	v.SecurityContext = map[string]any{
		"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
		"capabilities": map[string]any{"drop": []any{"ALL"}},
	}
	// Never redis-cli -a <password> (a fresh install: no two-step upgrade
	// needed; docs "Feature Gates").
	v.FeatureGates = map[string]bool{"AvoidCommandLinePassword": true}
	return v
}

// New registers both stores.
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
	c := &Redis{Hosts: map[string]string{"sessions": Seeds(a.Followers), "cache": CacheHost()}}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registering redis component %q: %w", name, err)
	}
	in := []pulumi.ResourceOption{pulumi.Parent(c), pulumi.DependsOn(a.DependsOn)}

	moodleSecret := pulumi.StringMap{}
	passwords := map[string]*corev1.Secret{}
	for _, role := range []string{"sessions", "cache"} {
		service := map[string]string{"sessions": infra.RedisSessionsService, "cache": infra.RedisCacheService}[role]
		// The same names as before the cluster: a moved stack keeps them.
		pw, err := random.NewRandomPassword(ctx, name+"-"+role+"-password", &random.RandomPasswordArgs{
			Length: pulumi.Int(32), Special: pulumi.Bool(false),
		}, pulumi.Parent(c))
		if err != nil {
			return nil, fmt.Errorf("generating the %s password: %w", role, err)
		}
		moodleSecret[role+"-host"] = pulumi.String(c.Hosts[role])
		moodleSecret[role+"-password"] = pw.Result
		secret, err := corev1.NewSecret(ctx, name+"-"+role+"-secret", &corev1.SecretArgs{
			Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(service), Namespace: pulumi.String(ns)},
			Type:       pulumi.String("Opaque"),
			StringData: pulumi.StringMap{"password": pw.Result},
		}, in...)
		if err != nil {
			return nil, fmt.Errorf("creating the %s secret: %w", role, err)
		}
		passwords[role] = secret
	}

	cacheReady, err := a.cache(ctx, name, passwords["cache"], in)
	if err != nil {
		return nil, err
	}
	cluster, err := a.sessions(ctx, name, passwords["sessions"], protect, in)
	if err != nil {
		return nil, err
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
	c.Ready = append(append(cacheReady, cluster), ms)
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"sessions": pulumi.String(c.Hosts["sessions"]), "cache": pulumi.String(c.Hosts["cache"])}); err != nil {
		return nil, fmt.Errorf("registering outputs of redis %q: %w", name, err)
	}
	return c, nil
}

// sessions registers the operator and the sessions cluster.
func (a *Args) sessions(ctx *pulumi.Context, name string, password *corev1.Secret, protect, in []pulumi.ResourceOption) (pulumi.Resource, error) {
	ns := infra.NamespaceData
	var dnsNames []string
	for _, role := range []string{"leader", "follower"} {
		for _, svc := range []string{SessionsCluster + "-" + role, "*." + SessionsCluster + "-" + role + "-headless"} {
			dnsNames = append(dnsNames, svc+"."+ns+".svc", svc+"."+ns+".svc.cluster.local")
		}
	}
	cert, err := tlscert.New(ctx, name+"-sessions-tls", tlscert.Spec{
		Namespace: ns, SecretName: SessionsTLSSecret, CommonName: SessionsCluster, DNSNames: dnsNames,
		// The nodes are each other's clients (cluster bus, replication).
		Server: true, Client: true, Issuer: a.Issuer,
	}, in...)
	if err != nil {
		return nil, err
	}
	conf, err := corev1.NewConfigMap(ctx, name+"-sessions-config", &corev1.ConfigMapArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(SessionsConfig), Namespace: pulumi.String(ns)},
		// The key the operator mounts (internal/k8sutils/statefulset.go:
		// external config, redis-additional.conf).
		Data: pulumi.StringMap{"redis-additional.conf": pulumi.String(SessionsConfigFile(a.MemoryMiB))},
	}, in...)
	if err != nil {
		return nil, fmt.Errorf("creating the sessions configuration: %w", err)
	}
	vals, err := helm.Values(OperatorValues())
	if err != nil {
		return nil, err
	}
	operator, err := helm.Release(ctx, name+"-operator", OperatorRelease, ns,
		helm.Chart{Repo: OperatorRepo, Name: "redis-operator", Version: OperatorChartVersion}, vals, in...)
	if err != nil {
		return nil, err
	}
	crOpts := append(append([]pulumi.ResourceOption{}, in...),
		pulumi.DependsOn([]pulumi.Resource{operator, password, cert, conf}),
		pulumi.Timeouts(&pulumi.CustomTimeouts{Create: "30m", Update: "30m"}))
	cluster, err := apiextensions.NewCustomResource(ctx, name+"-sessions-cluster", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("redis.redis.opstreelabs.in/v1beta2"),
		Kind:       pulumi.String("RedisCluster"),
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(SessionsCluster), Namespace: pulumi.String(ns),
			// The operator copies these onto the pods (labels.go
			// generateStatefulSetsAnots).
			Annotations: pulumi.StringMap{
				"pulumi.com/waitFor":                             pulumi.String("jsonpath={.status.state}=Ready"),
				"prometheus.io/scrape":                           pulumi.String("true"),
				"prometheus.io/port":                             pulumi.String(strconv.Itoa(infra.RedisExporterPort)),
				"cluster-autoscaler.kubernetes.io/safe-to-evict": pulumi.String("false"),
			},
		},
		OtherFields: kubernetes.UntypedArgs{"spec": a.ClusterSpec()},
	}, append(crOpts, protect...)...)
	if err != nil {
		return nil, fmt.Errorf("creating the sessions Redis Cluster: %w", err)
	}
	return cluster, nil
}

// cache registers the cache instance: a StatefulSet of one, never persisted.
func (a *Args) cache(ctx *pulumi.Context, name string, password *corev1.Secret, in []pulumi.ResourceOption) ([]pulumi.Resource, error) {
	ns, role, service := infra.NamespaceData, "cache", infra.RedisCacheService
	host := CacheHost()
	cert, err := tlscert.New(ctx, name+"-cache-tls", tlscert.Spec{
		Namespace: ns, SecretName: CacheTLSSecret, CommonName: service,
		DNSNames: []string{service, service + "." + ns, service + "." + ns + ".svc", host},
		Server:   true, Issuer: a.Issuer,
	}, in...)
	if err != nil {
		return nil, err
	}
	cm, err := corev1.NewConfigMap(ctx, name+"-"+role+"-config", &corev1.ConfigMapArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(service + "-config"), Namespace: pulumi.String(ns)},
		Data:     pulumi.StringMap{"redis.conf": pulumi.String(CacheConfig(a.MemoryMiB))},
	}, in...)
	if err != nil {
		return nil, fmt.Errorf("creating the %s configuration: %w", role, err)
	}
	labels := pulumi.StringMap{infra.AppLabel: pulumi.String(infra.RedisApp), RoleLabel: pulumi.String(role)}
	svc, err := corev1.NewService(ctx, name+"-"+role+"-service", &corev1.ServiceArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(service), Namespace: pulumi.String(ns), Labels: labels},
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
		return nil, fmt.Errorf("creating the %s service: %w", role, err)
	}
	passwordEnv := corev1.EnvVarArgs{Name: pulumi.String("REDIS_PASSWORD"), ValueFrom: &corev1.EnvVarSourceArgs{
		SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: password.Metadata.Name().Elem(), Key: pulumi.String("password")},
	}}
	mem := pulumi.String(strconv.Itoa(a.MemoryMiB) + "Mi")
	ping := &corev1.ProbeArgs{
		// On loopback: the probe checks the server answers, not its name
		// (--insecure); REDISCLI_AUTH keeps the password off the command line.
		Exec:          &corev1.ExecActionArgs{Command: pulumi.ToStringArray([]string{"sh", "-c", `REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli --tls --insecure -h 127.0.0.1 ping | grep -q PONG`})},
		PeriodSeconds: pulumi.Int(10), TimeoutSeconds: pulumi.Int(3), FailureThreshold: pulumi.Int(3),
	}
	tlsMount := corev1.VolumeMountArgs{Name: pulumi.String("tls"), MountPath: pulumi.String(tlsDir), ReadOnly: pulumi.Bool(true)}
	sts, err := appsv1.NewStatefulSet(ctx, name+"-"+role, &appsv1.StatefulSetArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(service), Namespace: pulumi.String(ns), Labels: labels},
		Spec: &appsv1.StatefulSetSpecArgs{
			Replicas:    pulumi.Int(1),
			ServiceName: pulumi.String(service),
			Selector:    &metav1.LabelSelectorArgs{MatchLabels: labels},
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
							VolumeMounts: corev1.VolumeMountArray{
								corev1.VolumeMountArgs{Name: pulumi.String("config"), MountPath: pulumi.String("/etc/redis")},
								corev1.VolumeMountArgs{Name: pulumi.String("data"), MountPath: pulumi.String("/data")},
								tlsMount,
							},
						},
						corev1.ContainerArgs{
							Name:  pulumi.String("exporter"),
							Image: pulumi.String(a.ExporterImage),
							Env: corev1.EnvVarArray{
								pods.Value("REDIS_ADDR", "rediss://127.0.0.1:"+strconv.Itoa(infra.RedisPort)),
								// Loopback: the address is not the certificate's name.
								pods.Value("REDIS_EXPORTER_SKIP_TLS_VERIFICATION", "true"),
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
					Volumes: corev1.VolumeArray{
						corev1.VolumeArgs{Name: pulumi.String("config"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: cm.Metadata.Name()}},
						corev1.VolumeArgs{Name: pulumi.String("data"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{}},
						corev1.VolumeArgs{Name: pulumi.String("tls"), Secret: &corev1.SecretVolumeSourceArgs{SecretName: pulumi.String(CacheTLSSecret)}},
					},
				},
			},
		},
	}, append(in, pulumi.DependsOn([]pulumi.Resource{cert}))...)
	if err != nil {
		return nil, fmt.Errorf("creating the %s StatefulSet: %w", role, err)
	}
	return []pulumi.Resource{svc, sts}, nil
}
