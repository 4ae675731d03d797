package render

import (
	"fmt"
	"strings"

	"github.com/fieldcert/moodle-aks/policy/rules"
)

// clusterScoped are the kinds without a namespace; their files go under
// kubernetes/_cluster/.
var clusterScoped = map[string]bool{
	"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true, "StorageClass": true,
	"PersistentVolume": true, "CustomResourceDefinition": true, "PriorityClass": true,
	"MutatingWebhookConfiguration": true, "ValidatingWebhookConfiguration": true,
	"ClusterIssuer": true, "IngressClass": true, "RuntimeClass": true, "CSIDriver": true,
	"VolumeSnapshotClass": true, "APIService": true, "CiliumClusterwideNetworkPolicy": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
}

// IsManifest reports whether a resource is a Kubernetes object that would be
// applied (Helm releases and providers are not).
func IsManifest(r rules.Resource) bool {
	return r.Custom && strings.HasPrefix(r.Type, "kubernetes:") && !strings.HasPrefix(r.Type, "kubernetes:helm.sh/")
}

// Manifests returns the Kubernetes objects among the resources, keyed by
// their path under kubernetes/: "<namespace or _cluster>/<kind>-<name>.yaml"
// with the kind in lowercase. A namespaced object without a namespace goes
// to "default", as kubectl would put it.
func Manifests(resources []rules.Resource) (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	for _, r := range resources {
		if !IsManifest(r) {
			continue
		}
		m := make(map[string]any, len(r.Inputs)+2)
		for k, v := range r.Inputs {
			m[k] = v
		}
		// "kubernetes:apps/v1:Deployment" -> apps/v1, Deployment.
		parts := strings.Split(r.Type, ":")
		if _, ok := m["apiVersion"]; !ok && len(parts) == 3 {
			m["apiVersion"] = strings.TrimPrefix(parts[1], "core/")
		}
		if _, ok := m["kind"]; !ok && len(parts) == 3 {
			m["kind"] = parts[2]
		}
		kind, _ := m["kind"].(string)
		meta := map[string]any{}
		if old, ok := m["metadata"].(map[string]any); ok {
			for k, v := range old {
				meta[k] = v
			}
		}
		if _, ok := meta["name"]; !ok {
			meta["name"] = r.Name
		}
		m["metadata"] = meta
		name := fmt.Sprint(meta["name"])
		ns := "_cluster"
		if !clusterScoped[kind] {
			ns = "default"
			if s, ok := meta["namespace"].(string); ok && s != "" {
				ns = s
			}
		}
		path := ns + "/" + strings.ToLower(kind) + "-" + name + ".yaml"
		if _, dup := out[path]; dup {
			return nil, fmt.Errorf("two Kubernetes objects render to kubernetes/%s (resource %s)", path, r.URN)
		}
		out[path] = m
	}
	return out, nil
}
