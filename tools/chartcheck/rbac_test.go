package chartcheck

import (
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"sigs.k8s.io/yaml"
)

// secretReadersAllowed are the service accounts that may read Secrets,
// and why each must (issue 23). Anything else that can is a finding.
var secretReadersAllowed = map[string]string{
	// cert-manager writes each Certificate's key pair into a Secret in the
	// Certificate's namespace and reads issuers' account keys; its chart
	// has no namespaced mode for the controller.
	"cert-manager/cert-manager * ":            "certificates in any namespace",
	"cert-manager/cert-manager-cainjector * ": "CA bundles from certificate Secrets",
	// The operators manage their clusters' credentials, in data only.
	"data/ps-operator data ":    "MySQL users' passwords",
	"data/redis-operator data ": "the Redis password",
	// The gateway reads its own TLS certificate (credentialName).
	"istio-ingress/istio-ingressgateway istio-ingress ": "the site certificate",
	// istiod serves gateways' certificates (SDS) from any namespace and its
	// CA from istio-system; istio-reader is the multi-cluster reader the
	// base chart always creates (no value turns it off), bound to no pod here.
	"istio-system/istiod * ":                       "gateway certificates over SDS",
	"istio-system/istiod istio-system ":            "the mesh CA",
	"istio-system/istio-reader-service-account * ": "multi-cluster discovery (unused, not mounted by any pod)",
	// The Prometheus Operator writes Prometheus' and Alertmanager's
	// configuration Secrets; the chart's ClusterRole is fixed, the
	// operator is told to act in monitoring only (--namespaces).
	"monitoring/kube-prometheus-stack-operator * ":           "configuration Secrets of Prometheus and Alertmanager",
	"monitoring/kube-prometheus-stack-admission monitoring ": "the admission webhook's certificate (install hook)",
}

// TestNoChartReadsEverySecret: who may read Secrets, per the RBAC model,
// is exactly the allowed list. Before issue 23 Grafana's ClusterRole and
// kube-state-metrics' secrets collector made two more cluster-wide readers.
func TestNoChartReadsEverySecret(t *testing.T) {
	stacks, rels := load(t)
	for _, s := range stacks {
		got := map[string]string{}
		for _, g := range SecretReaders(objectsOf(s, rels[s.Name])) {
			got[g.Subject+" "+g.Namespace+" "] = g.Via
		}
		var unexpected, gone []string
		for k, via := range got {
			if _, ok := secretReadersAllowed[k]; !ok {
				unexpected = append(unexpected, k+"("+via+")")
			}
		}
		for k := range secretReadersAllowed {
			if _, ok := got[k]; !ok {
				gone = append(gone, k)
			}
		}
		sort.Strings(unexpected)
		assert.Empty(t, unexpected, "%s: these may read Secrets", s.Name)
		assert.Empty(t, gone, "%s: allowed but no longer granted: drop them from the list", s.Name)
	}
}

func objects(t *testing.T, docs ...string) []Object {
	t.Helper()
	var out []Object
	for _, d := range docs {
		var o Object
		if err := yaml.Unmarshal([]byte(d), &o); err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
	}
	return out
}

// TestSecretReadersModel holds the model to the RBAC documentation's cases.
func TestSecretReadersModel(t *testing.T) {
	binding := func(kind, name, ns, roleKind, role string) string {
		return "kind: " + kind + "\nmetadata: {name: " + name + ", namespace: " + ns + "}\nroleRef: {kind: " + roleKind + ", name: " + role +
			"}\nsubjects: [{kind: ServiceAccount, name: " + name + ", namespace: monitoring}]"
	}
	objs := objects(t,
		// Grafana's chart default: a ClusterRole bound cluster-wide.
		"kind: ClusterRole\nmetadata: {name: grafana-clusterrole}\nrules: [{apiGroups: [''], resources: [configmaps, secrets], verbs: [get, watch, list]}]",
		binding("ClusterRoleBinding", "grafana", "", "ClusterRole", "grafana-clusterrole"),
		// The same ClusterRole through a RoleBinding: its namespace only.
		binding("RoleBinding", "scoped", "monitoring", "ClusterRole", "grafana-clusterrole"),
		// ConfigMaps only: no Secret.
		"kind: Role\nmetadata: {name: cm, namespace: monitoring}\nrules: [{apiGroups: [''], resources: [configmaps], verbs: [get, list, watch]}]",
		binding("RoleBinding", "sidecar", "monitoring", "Role", "cm"),
		// One Secret by name.
		"kind: Role\nmetadata: {name: one, namespace: monitoring}\nrules: [{apiGroups: [''], resources: [secrets], resourceNames: [tls], verbs: [get]}]",
		binding("RoleBinding", "named", "monitoring", "Role", "one"),
		// Wildcards.
		"kind: ClusterRole\nmetadata: {name: star}\nrules: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]",
		binding("ClusterRoleBinding", "admin", "", "ClusterRole", "star"),
		// Secrets of another API group are not core Secrets.
		"kind: ClusterRole\nmetadata: {name: other}\nrules: [{apiGroups: [example.com], resources: [secrets], verbs: [list]}]",
		binding("ClusterRoleBinding", "other", "", "ClusterRole", "other"),
		// Aggregation: the rules of every ClusterRole with matching labels.
		"kind: ClusterRole\nmetadata: {name: agg}\naggregationRule: {clusterRoleSelectors: [{matchLabels: {part: x}}]}\nrules: []",
		"kind: ClusterRole\nmetadata: {name: part, labels: {part: x}}\nrules: [{apiGroups: [''], resources: [secrets], verbs: [watch]}]",
		binding("ClusterRoleBinding", "aggregated", "", "ClusterRole", "agg"),
		// A binding to a role that does not exist grants nothing.
		binding("ClusterRoleBinding", "dangling", "", "ClusterRole", "missing"),
	)
	var got []string
	for _, g := range SecretReaders(objs) {
		got = append(got, g.Subject+" "+g.Namespace)
	}
	assert.Equal(t, []string{
		"monitoring/admin *",
		"monitoring/aggregated *",
		"monitoring/grafana *",
		"monitoring/scoped monitoring",
	}, got)
}
