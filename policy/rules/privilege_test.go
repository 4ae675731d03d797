package rules

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func roleAssignment(name, scope string) Resource {
	return azure("azure-native:authorization:RoleAssignment", name, map[string]any{"scope": scope,
		"roleDefinitionId": "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/befefa01-2a29-4197-83a8-272ff33ce314"})
}

func TestRoleScopeNarrow(t *testing.T) {
	zone := "/subscriptions/s/resourceGroups/rg-dns-global/providers/Microsoft.Network/dnszones/fieldcert.example"
	for scope, want := range map[string]string{
		// Today's render (before issue 23): the whole shared zone.
		zone:                                "scoped to the whole zone of DNS zone fieldcert.example",
		zone + "/A/learn":                   "scoped to record set A/learn of DNS zone",
		zone + "/TXT/_acme-challenge.learn": "",
		zone + "/txt/_acme-challenge":       "",
		"/subscriptions/s":                  "a whole subscription",
		"/providers/Microsoft.Management/managementGroups/mg1":                              "a whole subscription or management group",
		"/subscriptions/s/resourceGroups/rg-moodle-prod-eastus2-disks":                      "",
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st": "",
	} {
		got := messages(RoleScopeNarrow.Check(prodStack(roleAssignment("certmanager-identity-role", scope))))
		if want == "" {
			assert.Empty(t, got, scope)
			continue
		}
		require.Len(t, got, 1, scope)
		assert.Contains(t, got[0], want)
	}
}

func kpsRelease(values map[string]any) Resource {
	r := azure(typeHelmRelease, "monitoring-stack", map[string]any{"chart": "kube-prometheus-stack", "values": values})
	return r
}

func TestChartRBACNarrow(t *testing.T) {
	// Today's render before issue 23: the chart's RBAC defaults.
	before := kpsRelease(map[string]any{
		"grafana":            map[string]any{"sidecar": map[string]any{"dashboards": map[string]any{"enabled": true}}},
		"kube-state-metrics": map[string]any{"metricLabelsAllowlist": []any{"jobs=[x]"}},
	})
	got := messages(ChartRBACNarrow.Check(prodStack(before)))
	require.Len(t, got, 4)
	assert.Contains(t, got[0], "grafana.rbac.namespaced is not true")
	assert.Contains(t, got[1], `grafana.sidecar.dashboards.resource is "both"`)
	assert.Contains(t, got[2], `grafana.sidecar.datasources.resource is "both"`)
	assert.Contains(t, got[3], "kube-state-metrics keeps its secrets collector")

	after := kpsRelease(map[string]any{
		"grafana": map[string]any{"rbac": map[string]any{"namespaced": true}, "sidecar": map[string]any{
			"dashboards": map[string]any{"resource": "configmap"}, "datasources": map[string]any{"resource": "configmap"}}},
		"kube-state-metrics": map[string]any{"collectorsExclude": []any{"secrets", "configmaps"}},
	})
	assert.Empty(t, ChartRBACNarrow.Check(prodStack(after)))

	// An explicit collector list without secrets is as good; with it, not.
	ksm := func(collectors ...any) Resource {
		return kpsRelease(map[string]any{"grafana": map[string]any{"enabled": false}, "kube-state-metrics": map[string]any{"collectors": collectors}})
	}
	assert.Empty(t, ChartRBACNarrow.Check(prodStack(ksm("pods", "jobs"))))
	assert.Len(t, ChartRBACNarrow.Check(prodStack(ksm("pods", "secrets"))), 1)
	// Other charts are not this rule's.
	other := azure(typeHelmRelease, "certs", map[string]any{"chart": "cert-manager", "values": map[string]any{}})
	assert.Empty(t, ChartRBACNarrow.Check(prodStack(other)))
}

func TestPodSecurityEnforced(t *testing.T) {
	level := func(l string) map[string]any { return map[string]any{podSecurityEnforce: l} }
	guard := k8s(typeVAP, "guard", map[string]any{})
	// Today's render before issue 23: monitoring privileged (for the node
	// exporter), istio-ingress baseline, and no guard.
	before := prodStack(namespace("monitoring", level("privileged")), namespace("istio-ingress", level("baseline")),
		namespace("istio-system", level("privileged")), namespace("moodle", level("restricted")))
	got := messages(PodSecurityEnforced.Check(before))
	assert.ElementsMatch(t, []string{
		`namespace monitoring enforces Pod Security "privileged", not restricted`,
		`namespace istio-ingress enforces Pod Security "baseline", not restricted`,
		"no ValidatingAdmissionPolicy keeps pods out of namespaces that enforce no Pod Security level",
	}, got)

	after := prodStack(namespace("monitoring", level("restricted")), namespace("istio-ingress", level("restricted")),
		namespace("istio-system", level("privileged")), namespace("monitoring-nodes", level("privileged")), guard)
	assert.Empty(t, PodSecurityEnforced.Check(after))

	// An exception holds at its one level only; an unlabelled namespace enforces nothing.
	odd := prodStack(namespace("monitoring-nodes", level("baseline")), namespace("extra", nil), guard)
	assert.ElementsMatch(t, []string{
		`namespace monitoring-nodes enforces Pod Security "baseline", not privileged`,
		`namespace extra enforces Pod Security "nothing", not restricted`,
	}, messages(PodSecurityEnforced.Check(odd)))
}

func TestAccessLogsNoTokens(t *testing.T) {
	istiod := func(mesh map[string]any) Resource {
		return k8s(typeHelmRelease, "mesh-istiod", map[string]any{"chart": "istiod", "values": map[string]any{"meshConfig": mesh}})
	}
	// Today's render before issue 23: access logs on, Istio's default format.
	got := messages(AccessLogsNoTokens.Check(prodStack(istiod(map[string]any{"accessLogFile": "/dev/stdout"}))))
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "Istio's default format")
	for format, bad := range map[string]string{
		`"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"`: "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
		`%REQ(:path)%`:     "%REQ(:path)%",
		`"%REQ(REFERER)%"`: "%REQ(REFERER)%",
		`"%REQ(:METHOD)% %PROTOCOL%" %RESPONSE_CODE% "%REQ(X-REQUEST-ID)%"`: "",
	} {
		got := messages(AccessLogsNoTokens.Check(prodStack(istiod(map[string]any{"accessLogFile": "/dev/stdout", "accessLogFormat": format}))))
		if bad == "" {
			assert.Empty(t, got, format)
			continue
		}
		require.Len(t, got, 1, format)
		assert.Contains(t, got[0], bad)
	}
	assert.Empty(t, AccessLogsNoTokens.Check(prodStack(istiod(map[string]any{}))), "no access log, nothing to leak")
}
