package rules

import (
	"fmt"
	"regexp"
	"strings"
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
	Description: "Every workload namespace (all but the platform's own) is labelled for Istio sidecar injection, so its traffic is mutual TLS.",
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
