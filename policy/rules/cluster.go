package rules

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/fieldcert/moodle-aks/infra"
)

// Kubernetes type tokens the cluster rules look at.
const (
	typeNamespace   = "kubernetes:core/v1:Namespace"
	typePV          = "kubernetes:core/v1:PersistentVolume"
	typeStorageCls  = "kubernetes:storage.k8s.io/v1:StorageClass"
	typeHelmRelease = "kubernetes:helm.sh/v3:Release"
	typePeerAuth    = "kubernetes:security.istio.io/v1:PeerAuthentication"
)

// istioRootNamespaces are the mesh's root namespaces: Istio's charts and
// the AKS add-on. A PeerAuthentication there applies mesh-wide.
var istioRootNamespaces = map[string]bool{"istio-system": true, "aks-istio-system": true}

// infrastructureNamespaces run the platform itself and are not meshed:
// the mesh's own control plane and gateway, cert-manager, and Kubernetes'.
var infrastructureNamespaces = map[string]bool{
	"istio-system": true, "istio-ingress": true, "cert-manager": true,
	"kube-system": true, "kube-public": true, "kube-node-lease": true, "default": true,
	"aks-istio-system": true, "aks-istio-ingress": true,
	// The node exporter alone, on its nodes' network: no sidecar can run
	// in a host-network pod.
	infra.NamespaceNodeExporter: true,
}

var exactChartVersionRE = regexp.MustCompile(`^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)

// MeshMTLSStrict requires mesh-wide STRICT mutual TLS, and no exception.
var MeshMTLSStrict = Rule{
	ID:          "mesh-mtls-strict",
	Description: "A mesh-wide PeerAuthentication (\"default\" in the root namespace, istio-system or aks-istio-system) requires STRICT mutual TLS, and no PeerAuthentication weakens it.",
	Enforcement: Mandatory,
	Check: func(s *Stack) []Finding {
		var out []Finding
		meshWide := false
		for _, r := range s.Resources {
			if r.Type != typePeerAuth {
				continue
			}
			mode := r.String("spec.mtls.mode")
			if istioRootNamespaces[r.String("metadata.namespace")] && r.String("metadata.name") == "default" && mode == "STRICT" {
				meshWide = true
			}
			if mode != "" && mode != "STRICT" {
				out = append(out, Finding{r.URN, fmt.Sprintf("PeerAuthentication %s/%s sets mTLS %s", r.String("metadata.namespace"), r.String("metadata.name"), mode)})
			}
			if ports, ok := r.Input("spec.portLevelMtls").(map[string]any); ok {
				for p, v := range ports {
					if m, _ := v.(map[string]any)["mode"].(string); m != "STRICT" {
						out = append(out, Finding{r.URN, fmt.Sprintf("PeerAuthentication %s sets mTLS %s on port %s", r.Name, m, p)})
					}
				}
			}
		}
		if !meshWide && hasType(s, typeNamespace) {
			out = append(out, Finding{"", "no mesh-wide STRICT PeerAuthentication (default in istio-system or aks-istio-system)"})
		}
		return out
	},
}

// MeshInjection requires sidecars in every workload namespace.
var MeshInjection = Rule{
	ID:          "mesh-injection",
	Description: "Every workload namespace (all but the platform's own) is labelled for Istio sidecar injection, so its traffic is mutual TLS; the data namespace may instead carry the data stores' own TLS certificates.",
	Enforcement: Mandatory,
	Check: perResource(func(s *Stack, r Resource) []string {
		if r.Type != typeNamespace {
			return nil
		}
		name := r.String("metadata.name")
		if infrastructureNamespaces[name] {
			return nil
		}
		labels, _ := r.Input("metadata.labels").(map[string]any)
		if labels["istio-injection"] == "enabled" || labels["istio.io/rev"] != nil {
			return nil
		}
		// The data namespace is outside the mesh by design (infra.MeshNamespaces):
		// its stores speak TLS with the stack's certificates (data-tier-tls).
		if name == dataNS && hasCertificateIn(s, dataNS) {
			return nil
		}
		return []string{fmt.Sprintf("namespace %s is not labelled for sidecar injection", name)}
	}),
}

// VolumesRetain refuses storage that deletes data with its claim.
var VolumesRetain = Rule{
	ID:          "volumes-retain",
	Description: "PersistentVolumes and StorageClasses reclaim with Retain: deleting a claim never deletes the data behind it.",
	Enforcement: Mandatory,
	Check: perResource(func(s *Stack, r Resource) []string {
		switch r.Type {
		case typePV:
			if p := r.String("spec.persistentVolumeReclaimPolicy"); p != "Retain" {
				return []string{fmt.Sprintf("PersistentVolume %s reclaims with %q", r.String("metadata.name"), orDefault(p, "Delete"))}
			}
		case typeStorageCls:
			if p := r.String("reclaimPolicy"); p != "Retain" {
				return []string{fmt.Sprintf("StorageClass %s reclaims with %q", r.String("metadata.name"), orDefault(p, "Delete"))}
			}
		}
		return nil
	}),
}

// HelmPinned requires charts from a repository at an exact version.
var HelmPinned = Rule{
	ID:          "helm-pinned",
	Description: "Every Helm release comes from a chart repository at an exact version (no range, no latest), so a preview shows what an update installs.",
	Enforcement: Mandatory,
	Check: perResource(func(s *Stack, r Resource) []string {
		if r.Type != typeHelmRelease {
			return nil
		}
		var out []string
		if v := r.String("version"); !exactChartVersionRE.MatchString(v) {
			out = append(out, fmt.Sprintf("release %s of chart %s has version %q, not an exact version", r.Name, r.String("chart"), v))
		}
		if repo := r.String("repositoryOpts.repo"); !strings.HasPrefix(repo, "https://") && !strings.HasPrefix(r.String("chart"), "oci://") {
			out = append(out, fmt.Sprintf("release %s of chart %s names no https chart repository", r.Name, r.String("chart")))
		}
		return out
	}),
}

func hasType(s *Stack, typ string) bool {
	for _, r := range s.Resources {
		if r.Type == typ {
			return true
		}
	}
	return false
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Kubernetes types of the data-tier rules.
const (
	typeService = "kubernetes:core/v1:Service"
	typeCronJob = "kubernetes:batch/v1:CronJob"
	dataNS      = "data"
)

// dataApps are the data stores' app labels.
var dataApps = map[string]bool{"mysql": true, "redis": true}

// DataNotExposed keeps data stores off load balancers and node ports.
var DataNotExposed = Rule{
	ID:          "data-not-exposed",
	Description: "No Service in the data namespace, or selecting MySQL or Redis, is of type LoadBalancer or NodePort: the data stores are reachable inside the mesh only.",
	Enforcement: Mandatory,
	Check: perResource(func(s *Stack, r Resource) []string {
		if r.Type != typeService {
			return nil
		}
		typ := r.String("spec.type")
		if typ != "LoadBalancer" && typ != "NodePort" {
			return nil
		}
		sel, _ := r.Input("spec.selector").(map[string]any)
		app, _ := sel["app"].(string)
		if r.String("metadata.namespace") == dataNS || dataApps[app] {
			return []string{fmt.Sprintf("Service %s/%s exposes a data store as %s", r.String("metadata.namespace"), r.String("metadata.name"), typ)}
		}
		return nil
	}),
}

// BackupsScheduled requires prod to schedule both backups.
var BackupsScheduled = Rule{
	ID:          "backups-scheduled",
	Description: "Prod schedules a MySQL backup and a moodledata backup (CronJobs labelled moodle.fieldcert/backup=mysql and =files), neither suspended.",
	Enforcement: Mandatory,
	Check: func(s *Stack) []Finding {
		if s.Environment != "prod" {
			return nil
		}
		found := map[string]bool{}
		var out []Finding
		for _, r := range s.Resources {
			if r.Type != typeCronJob {
				continue
			}
			labels, _ := r.Input("metadata.labels").(map[string]any)
			kind, _ := labels["moodle.fieldcert/backup"].(string)
			if kind == "" {
				continue
			}
			if suspended, _ := r.Input("spec.suspend").(bool); suspended || r.String("spec.schedule") == "" {
				out = append(out, Finding{r.URN, fmt.Sprintf("backup CronJob %s is suspended or has no schedule", r.String("metadata.name"))})
				continue
			}
			found[kind] = true
		}
		for _, kind := range []string{"mysql", "files"} {
			if !found[kind] {
				out = append(out, Finding{"", fmt.Sprintf("prod schedules no %s backup", kind)})
			}
		}
		return out
	},
}

// Workload kinds whose pod templates the image and probe rules read.
var workloadTemplates = map[string]string{
	"kubernetes:apps/v1:Deployment":  "spec.template.spec",
	"kubernetes:apps/v1:StatefulSet": "spec.template.spec",
	"kubernetes:apps/v1:DaemonSet":   "spec.template.spec",
	"kubernetes:batch/v1:Job":        "spec.template.spec",
	typeCronJob:                      "spec.jobTemplate.spec.template.spec",
}

// imageRefRE splits an image reference into name, tag and digest.
var imageRefRE = regexp.MustCompile(`^([^@]+?)(?::([\w][\w.-]{0,127}))?(?:@(sha256:[a-f0-9]{64}))?$`)

func containers(spec map[string]any) []map[string]any {
	var out []map[string]any
	for _, key := range []string{"initContainers", "containers"} {
		list, _ := spec[key].([]any)
		for _, c := range list {
			if m, ok := c.(map[string]any); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

// ImagesPinned requires an exact tag or digest on every container image.
var ImagesPinned = Rule{
	ID:          "images-pinned",
	Description: "Every container image of every workload names an exact tag or a digest, never latest: a preview shows what an update runs.",
	Enforcement: Mandatory,
	Check: perResource(func(s *Stack, r Resource) []string {
		path, ok := workloadTemplates[r.Type]
		if !ok {
			return nil
		}
		spec, _ := r.Input(path).(map[string]any)
		var out []string
		for _, c := range containers(spec) {
			img, _ := c["image"].(string)
			m := imageRefRE.FindStringSubmatch(img)
			// A registry port ("host:5000/x") is not a tag: the tag has no '/'.
			if m == nil || (m[2] == "" && m[3] == "") || strings.Contains(m[2], "/") || m[2] == "latest" {
				out = append(out, fmt.Sprintf("%s %s: container %v uses image %q without an exact tag or digest", r.Type, r.Name, c["name"], img))
			}
		}
		return out
	}),
}

// WebResilience requires an autoscaler, a disruption budget and probes for
// every Deployment in the moodle namespace.
var WebResilience = Rule{
	ID:          "web-resilience",
	Description: "Every Deployment in the moodle namespace has a HorizontalPodAutoscaler targeting it, a PodDisruptionBudget selecting its pods, and readiness and liveness probes.",
	Enforcement: Mandatory,
	Check: func(s *Stack) []Finding {
		var out []Finding
		for _, r := range s.Resources {
			if r.Type != "kubernetes:apps/v1:Deployment" || r.String("metadata.namespace") != "moodle" {
				continue
			}
			name := r.String("metadata.name")
			podLabels, _ := r.Input("spec.template.metadata.labels").(map[string]any)
			hpa, pdb := false, false
			for _, o := range s.Resources {
				if o.String("metadata.namespace") != "moodle" {
					continue
				}
				switch o.Type {
				case "kubernetes:autoscaling/v2:HorizontalPodAutoscaler":
					hpa = hpa || o.String("spec.scaleTargetRef.kind") == "Deployment" && o.String("spec.scaleTargetRef.name") == name
				case "kubernetes:policy/v1:PodDisruptionBudget":
					sel, _ := o.Input("spec.selector.matchLabels").(map[string]any)
					pdb = pdb || len(sel) > 0 && subset(sel, podLabels)
				}
			}
			if !hpa {
				out = append(out, Finding{r.URN, fmt.Sprintf("Deployment moodle/%s has no HorizontalPodAutoscaler", name)})
			}
			if !pdb {
				out = append(out, Finding{r.URN, fmt.Sprintf("Deployment moodle/%s has no PodDisruptionBudget selecting its pods", name)})
			}
			spec, _ := r.Input("spec.template.spec").(map[string]any)
			for _, c := range containers(spec) {
				if _, init := c["restartPolicy"]; init {
					continue
				}
				if c["readinessProbe"] == nil || c["livenessProbe"] == nil {
					out = append(out, Finding{r.URN, fmt.Sprintf("Deployment moodle/%s: container %v lacks a readiness or liveness probe", name, c["name"])})
				}
			}
		}
		return out
	},
}

// CronJobGuards requires every CronJob to forbid overlapping runs and to
// bound how late and how long a run may be.
var CronJobGuards = Rule{
	ID:          "cronjob-guards",
	Description: "Every CronJob sets concurrencyPolicy (Forbid or Replace), startingDeadlineSeconds and its Jobs' activeDeadlineSeconds, so runs neither pile up nor hang.",
	Enforcement: Mandatory,
	Check: perResource(func(s *Stack, r Resource) []string {
		if r.Type != typeCronJob {
			return nil
		}
		var out []string
		name := r.String("metadata.namespace") + "/" + r.String("metadata.name")
		if p := r.String("spec.concurrencyPolicy"); p != "Forbid" && p != "Replace" {
			out = append(out, fmt.Sprintf("CronJob %s has concurrencyPolicy %q; use Forbid or Replace", name, orDefault(p, "Allow")))
		}
		if r.Input("spec.startingDeadlineSeconds") == nil {
			out = append(out, fmt.Sprintf("CronJob %s has no startingDeadlineSeconds", name))
		}
		if r.Input("spec.jobTemplate.spec.activeDeadlineSeconds") == nil {
			out = append(out, fmt.Sprintf("CronJob %s has no activeDeadlineSeconds", name))
		}
		return out
	}),
}

func subset(sel, labels map[string]any) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// hasCertificateIn reports whether the stack issues a cert-manager
// Certificate in namespace ns.
func hasCertificateIn(s *Stack, ns string) bool {
	for _, r := range s.Resources {
		if r.Type == typeCertificate && r.String("metadata.namespace") == ns {
			return true
		}
	}
	return false
}
