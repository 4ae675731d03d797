package chartcheck

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The data tier's pods are made by its operators from their custom
// resources, so neither the render nor a chart template holds them. These
// functions build the pod templates the operators build, from the fields
// they read, each with the operator source it follows, so the Pod Security
// and flow checks see the pods that will run:
//
//   - Percona Operator for MySQL v1.1.0 (percona/percona-server-mysql-operator
//     tag v1.1.0): pkg/mysql/mysql.go StatefulSet, containers, mysqldContainer,
//     backupContainer; pkg/haproxy/haproxy.go StatefulSet, containers,
//     haproxyContainer, mysqlMonitContainer; pkg/k8s/init_image.go
//     InitContainer; api/v1 PodSpec.Core, Labels, MatchLabels.
//   - OT redis-operator 0.26.0 (OT-CONTAINER-KIT/redis-operator 0bc34813):
//     internal/k8sutils/redis-cluster.go CreateRedisClusterSetup (labels:
//     getRedisLabels + cluster=<name>), statefulset.go (pod annotations from
//     the resource's, containers: Redis and the exporter sidecar).
//
// What Pod Security and the network policies decide on is modelled:
// labels, annotations, service account, security contexts, host
// namespaces, volumes' kinds, ports. Commands, probes and environment are
// not.

// operatorPods returns the pods of every operator resource among objs.
func operatorPods(objs []Object) ([]Pod, error) {
	var out []Pod
	for _, o := range objs {
		switch o.Kind() {
		case "PerconaServerMySQL":
			ps, err := perconaPods(o)
			if err != nil {
				return nil, fmt.Errorf("PerconaServerMySQL %s: %w", o.Name(), err)
			}
			out = append(out, ps...)
		case "RedisCluster":
			rs, err := redisClusterPods(o)
			if err != nil {
				return nil, fmt.Errorf("RedisCluster %s: %w", o.Name(), err)
			}
			out = append(out, rs...)
		case "Prometheus", "Alertmanager":
			p, err := prometheusOperatorPod(o)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", o.Kind(), o.Name(), err)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// decode turns a field of the resource into a typed value (nil stays nil).
func decode[T any](v any) (*T, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func strMap(v any) map[string]string {
	out := map[string]string{}
	for k, x := range asMap(v) {
		out[k] = fmt.Sprint(x)
	}
	return out
}

// perconaLabels are cr.Labels(name, component) (api/v1
// perconaservermysql_types.go; pkg/naming/kubernetes.go Labels).
func perconaLabels(cr, app, component string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       app,
		"app.kubernetes.io/instance":   cr,
		"app.kubernetes.io/managed-by": "percona-server-mysql-operator",
		"app.kubernetes.io/part-of":    "percona-server",
		"app.kubernetes.io/component":  component,
	}
}

func perconaPods(o Object) ([]Pod, error) {
	cr, ns := o.Name(), o.Namespace()
	initSC, err := decode[corev1.SecurityContext](o.Get("spec.initContainer.containerSecurityContext"))
	if err != nil {
		return nil, err
	}
	// One pod per component: mysql (the members) and, when enabled, haproxy.
	type part struct {
		path, app, component string
		containers           []string
		ports                []int32
	}
	parts := []part{{"spec.mysql", "mysql", "database", []string{"mysql"}, []int32{3306, 33062, 33060, 33061}}}
	if o.Get("spec.proxy.haproxy.enabled") == true {
		parts = append(parts, part{"spec.proxy.haproxy", "haproxy", "proxy", []string{"haproxy", "mysql-monit"}, []int32{3306, 3307, 3309, 33060, 33062, 8404}})
	}
	var out []Pod
	for _, p := range parts {
		sc, err := decode[corev1.SecurityContext](o.Get(p.path + ".containerSecurityContext"))
		if err != nil {
			return nil, err
		}
		podSC, err := decode[corev1.PodSecurityContext](o.Get(p.path + ".podSecurityContext"))
		if err != nil {
			return nil, err
		}
		if podSC == nil {
			// CheckNSetDefaults: supplementalGroups [1001], fsGroup 1001.
			g := int64(1001)
			podSC = &corev1.PodSecurityContext{SupplementalGroups: []int64{1001}, FSGroup: &g}
		}
		// InitContainer: the component's context, overridden by
		// spec.initContainer's.
		isc := sc
		if initSC != nil {
			isc = initSC
		}
		spec := corev1.PodSpec{
			SecurityContext:    podSC,
			ServiceAccountName: o.Str(p.path + ".serviceAccountName"),
			NodeSelector:       strMap(o.Get(p.path + ".nodeSelector")),
			InitContainers:     []corev1.Container{{Name: p.app + "-init", Image: o.Str("spec.initContainer.image"), SecurityContext: isc}},
			Volumes: []corev1.Volume{
				{Name: "bin", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "users", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "internal-" + cr}}},
				{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: o.Str("spec.sslSecretName")}}},
			},
		}
		var ports []corev1.ContainerPort
		for _, n := range p.ports {
			ports = append(ports, corev1.ContainerPort{ContainerPort: n})
		}
		for i, c := range p.containers {
			ctr := corev1.Container{Name: c, Image: o.Str(p.path + ".image"), SecurityContext: sc}
			if i == 0 {
				ctr.Ports = ports
			}
			spec.Containers = append(spec.Containers, ctr)
		}
		if p.app == "mysql" {
			// backupContainer, only with backups enabled.
			if o.Get("spec.backup.enabled") == true {
				bsc, err := decode[corev1.SecurityContext](o.Get("spec.backup.containerSecurityContext"))
				if err != nil {
					return nil, err
				}
				spec.Containers = append(spec.Containers, corev1.Container{Name: "xtrabackup", Image: o.Str("spec.backup.image"), SecurityContext: bsc,
					Ports: []corev1.ContainerPort{{ContainerPort: 6450}}})
			}
			sidecars, err := decode[[]corev1.Container](o.Get("spec.mysql.sidecars"))
			if err != nil {
				return nil, err
			}
			if sidecars != nil {
				spec.Containers = append(spec.Containers, *sidecars...)
			}
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "datadir", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "datadir"}}})
		}
		labels := perconaLabels(cr, p.app, p.component)
		for k, v := range strMap(o.Get(p.path + ".labels")) {
			labels[k] = v
		}
		out = append(out, Pod{
			Namespace: ns, Kind: "PerconaServerMySQL", Name: cr + "-" + p.app,
			Meta: metav1.ObjectMeta{Labels: labels, Annotations: strMap(o.Get(p.path + ".annotations"))},
			Spec: spec,
		})
	}
	return out, nil
}

func redisClusterPods(o Object) ([]Pod, error) {
	cr, ns := o.Name(), o.Namespace()
	podSC, err := decode[corev1.PodSecurityContext](o.Get("spec.podSecurityContext"))
	if err != nil {
		return nil, err
	}
	exporterSC, err := decode[corev1.SecurityContext](o.Get("spec.redisExporter.securityContext"))
	if err != nil {
		return nil, err
	}
	size := o.Get("spec.clusterSize")
	var out []Pod
	for _, role := range []string{"leader", "follower"} {
		path := "spec.redis" + map[string]string{"leader": "Leader", "follower": "Follower"}[role]
		replicas := o.Get(path + ".replicas")
		if replicas == nil {
			replicas = size
		}
		if n, ok := replicas.(float64); ok && n == 0 {
			continue // no StatefulSet pods
		}
		sc, err := decode[corev1.SecurityContext](o.Get(path + ".securityContext"))
		if err != nil {
			return nil, err
		}
		name := cr + "-" + role
		spec := corev1.PodSpec{
			SecurityContext: podSC,
			NodeSelector:    strMap(o.Get(path + ".nodeSelector")),
			Containers: []corev1.Container{{
				Name: name, Image: o.Str("spec.kubernetesConfig.image"), SecurityContext: sc,
				Ports: []corev1.ContainerPort{{ContainerPort: 6379}, {ContainerPort: 16379}},
			}},
			Volumes: []corev1.Volume{
				{Name: "node-conf", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "node-conf"}}},
				{Name: "tls-certs", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: o.Str("spec.TLS.secret.secretName")}}},
				{Name: "external-config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
			},
		}
		if o.Get("spec.redisExporter.enabled") == true {
			spec.Containers = append(spec.Containers, corev1.Container{
				Name: "redis-exporter", Image: o.Str("spec.redisExporter.image"), SecurityContext: exporterSC,
				Ports: []corev1.ContainerPort{{ContainerPort: 9121}},
			})
		}
		labels := map[string]string{"app": name, "redis_setup_type": "cluster", "role": role, "cluster": cr}
		out = append(out, Pod{
			Namespace: ns, Kind: "RedisCluster", Name: name,
			Meta: metav1.ObjectMeta{Labels: labels, Annotations: strMap(o.Get("metadata.annotations"))},
			Spec: spec,
		})
	}
	return out, nil
}

// operatorContainerSC is the security context the Prometheus Operator gives
// every container it generates, whatever the resource says
// (prometheus-operator v0.93.0: pkg/prometheus/server/statefulset.go, the
// prometheus container; pkg/alertmanager/statefulset.go, alertmanager;
// pkg/operator/config_reloader.go, config-reloader and its init container).
func operatorContainerSC() *corev1.SecurityContext {
	no, yes := false, true
	return &corev1.SecurityContext{AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
}

// prometheusOperatorPod is the pod of a Prometheus or Alertmanager
// resource's StatefulSet: the resource's spec.securityContext for the pod,
// the operator's own context for its containers (the server, the config
// reloader and its init container), configMap, secret, emptyDir and claim
// volumes only.
func prometheusOperatorPod(o Object) (Pod, error) {
	podSC, err := decode[corev1.PodSecurityContext](o.Get("spec.securityContext"))
	if err != nil {
		return Pod{}, err
	}
	if podSC == nil {
		podSC = &corev1.PodSecurityContext{}
	}
	main := strings.ToLower(o.Kind())
	spec := corev1.PodSpec{
		SecurityContext:    podSC,
		ServiceAccountName: o.Str("spec.serviceAccountName"),
		InitContainers:     []corev1.Container{{Name: "init-config-reloader", SecurityContext: operatorContainerSC()}},
		Containers: []corev1.Container{
			{Name: main, SecurityContext: operatorContainerSC()},
			{Name: "config-reloader", SecurityContext: operatorContainerSC()},
		},
		Volumes: []corev1.Volume{
			{Name: "config", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: main + "-" + o.Name()}}},
			{Name: "config-out", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "db", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: main + "-" + o.Name() + "-db"}}},
		},
	}
	labels := strMap(o.Get("spec.podMetadata.labels"))
	labels["app.kubernetes.io/name"] = main
	return Pod{Namespace: o.Namespace(), Kind: o.Kind(), Name: o.Name(),
		Meta: metav1.ObjectMeta{Labels: labels, Annotations: strMap(o.Get("spec.podMetadata.annotations"))}, Spec: spec}, nil
}
