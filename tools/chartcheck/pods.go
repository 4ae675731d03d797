package chartcheck

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// Pod is a pod template of a workload object.
type Pod struct {
	// Namespace, Kind and Name of the workload that holds it.
	Namespace, Kind, Name string
	Meta                  metav1.ObjectMeta
	Spec                  corev1.PodSpec
	// Replicas is the workload's spec.replicas where it sets one: zero
	// makes no pod.
	Replicas *int
}

// String names the workload.
func (p Pod) String() string { return p.Namespace + "/" + p.Kind + "/" + p.Name }

// podPaths are where each workload kind keeps its pod template.
var podPaths = map[string]string{
	"Deployment": "spec.template", "StatefulSet": "spec.template", "DaemonSet": "spec.template",
	"ReplicaSet": "spec.template", "Job": "spec.template", "CronJob": "spec.jobTemplate.spec.template",
}

// Pods returns every pod template of objs; defaultNS is the namespace of
// objects that name none (a chart's, in its release's namespace).
func Pods(objs []Object, defaultNS string) ([]Pod, error) {
	var out []Pod
	for _, o := range objs {
		var tmpl any
		if o.Kind() == "Pod" {
			tmpl = map[string]any{"metadata": o.Get("metadata"), "spec": o.Get("spec")}
		} else if path, ok := podPaths[o.Kind()]; ok {
			tmpl = o.Get(path)
		} else {
			continue
		}
		b, err := json.Marshal(tmpl)
		if err != nil {
			return nil, err
		}
		var t corev1.PodTemplateSpec
		if err := json.Unmarshal(b, &t); err != nil {
			return nil, fmt.Errorf("%s %s: pod template: %w", o.Kind(), o.Name(), err)
		}
		// The API server's defaulting: a volume with no source is an emptyDir.
		for i, v := range t.Spec.Volumes {
			if v.VolumeSource == (corev1.VolumeSource{}) {
				t.Spec.Volumes[i].EmptyDir = &corev1.EmptyDirVolumeSource{}
			}
		}
		ns := o.Namespace()
		if ns == "" {
			ns = defaultNS
		}
		pod := Pod{Namespace: ns, Kind: o.Kind(), Name: o.Name(), Meta: t.ObjectMeta, Spec: t.Spec}
		if n, ok := o.Get("spec.replicas").(float64); ok && (o.Kind() == "Deployment" || o.Kind() == "StatefulSet") {
			r := int(n)
			pod.Replicas = &r
		}
		out = append(out, pod)
	}
	// The pods the data tier's operators make from their resources.
	op, err := operatorPods(objs)
	if err != nil {
		return nil, err
	}
	for i := range op {
		if op[i].Namespace == "" {
			op[i].Namespace = defaultNS
		}
	}
	return append(out, op...), nil
}

// Evaluator runs Kubernetes' own Pod Security admission checks.
type Evaluator struct{ e policy.Evaluator }

// NewEvaluator returns an evaluator with the checks of the library's version.
func NewEvaluator() (*Evaluator, error) {
	e, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return nil, err
	}
	return &Evaluator{e}, nil
}

// Check evaluates a pod at a namespace's level ("privileged", "baseline" or
// "restricted"; "" is privileged) and returns why it is refused, or "".
func (ev *Evaluator) Check(p Pod, level string) (string, error) {
	if level == "" {
		level = "privileged"
	}
	l, err := psapi.ParseLevel(level)
	if err != nil {
		return "", err
	}
	r := policy.AggregateCheckResults(ev.e.EvaluatePod(psapi.LevelVersion{Level: l, Version: psapi.LatestVersion()}, &p.Meta, &p.Spec))
	if r.Allowed {
		return "", nil
	}
	return r.ForbiddenReason() + ": " + r.ForbiddenDetail(), nil
}

// EndpointOf is the network identity of a pod template: its namespace,
// labels and service account, whether it has the node's identity (host
// network), and whether Istio injects a sidecar into it. Injection follows
// the istiod chart's webhooks: a namespace labelled istio-injection=enabled
// (or with an istio.io/rev revision) injects every pod that does not say
// sidecar.istio.io/inject: "false"; elsewhere only pods labelled
// sidecar.istio.io/inject: "true" (the gateway's) are injected; host-network
// pods never are. A pod whose template asks for the gateway injection
// template is a gateway.
func (s *Stack) EndpointOf(p Pod) Endpoint {
	e := Endpoint{
		Namespace: p.Namespace, Labels: p.Meta.Labels, ServiceAccount: p.Spec.ServiceAccountName,
		HostNetwork: p.Spec.HostNetwork, Name: p.String(),
	}
	if e.ServiceAccount == "" {
		e.ServiceAccount = "default"
	}
	inject := p.Meta.Labels["sidecar.istio.io/inject"]
	if a, ok := p.Meta.Annotations["sidecar.istio.io/inject"]; ok && inject == "" {
		inject = a
	}
	ns := s.Namespaces[p.Namespace]
	switch {
	case p.Spec.HostNetwork || ns["istio-injection"] == "disabled":
	case ns["istio-injection"] == "enabled" || ns["istio.io/rev"] != "":
		e.Meshed = inject != "false"
	default:
		e.Meshed = p.Meta.Labels["sidecar.istio.io/inject"] == "true"
	}
	e.Gateway = e.Meshed && p.Meta.Annotations["inject.istio.io/templates"] == "gateway"
	return e
}
