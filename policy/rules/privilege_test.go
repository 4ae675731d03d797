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

func TestAuditTrail(t *testing.T) {
	cluster := clusterWith(func(in map[string]any) {
		in["securityProfile"] = map[string]any{"defender": map[string]any{"securityMonitoring": map[string]any{"enabled": true}}}
		in["addonProfiles"] = map[string]any{"azurepolicy": map[string]any{"enabled": true}}
	})
	backups := azure("azure-native:storage:StorageAccount", "backups-account", map[string]any{"location": "eastus2"})
	workspace := azure("azure-native:operationalinsights:Workspace", "audit-workspace", map[string]any{"location": "eastus2"})
	diag := func(name string, on Resource, ws Resource, cats ...string) Resource {
		var logs []any
		for _, c := range cats {
			logs = append(logs, map[string]any{"category": c, "enabled": true})
		}
		r := azure("azure-native:insights:DiagnosticSetting", name, map[string]any{"logs": logs})
		r.Dependencies = []string{on.URN, ws.URN}
		return r
	}
	good := []Resource{cluster, backups, workspace,
		diag("c", cluster, workspace, "kube-audit-admin", "guard"),
		diag("b", backups, workspace, "StorageRead", "StorageWrite", "StorageDelete")}
	assert.Empty(t, AuditTrail.Check(prodStack(good...)))
	assert.Empty(t, AuditTrail.Check(devStack(cluster, backups)), "dev may go without")

	// Today's render before issue 23: no workspace, no settings, no
	// Defender, no Azure Policy add-on.
	bare := clusterWith(nil)
	got := messages(AuditTrail.Check(prodStack(bare, backups)))
	assert.ElementsMatch(t, []string{
		`azure-native:containerservice:ManagedCluster "aks-cluster" sends no kube-audit-admin log to a Log Analytics workspace in eastus2`,
		`cluster "aks-cluster" runs without Microsoft Defender (securityProfile.defender)`,
		`cluster "aks-cluster" runs without the Azure Policy add-on (addonProfiles.azurepolicy)`,
		`azure-native:storage:StorageAccount "backups-account" sends no StorageRead log to a Log Analytics workspace in eastus2`,
		`azure-native:storage:StorageAccount "backups-account" sends no StorageWrite log to a Log Analytics workspace in eastus2`,
		`azure-native:storage:StorageAccount "backups-account" sends no StorageDelete log to a Log Analytics workspace in eastus2`,
	}, got)

	// A workspace in another region does not count; nor does a setting
	// without the delete log.
	abroad := azure("azure-native:operationalinsights:Workspace", "eu-workspace", map[string]any{"location": "westeurope"})
	got = messages(AuditTrail.Check(prodStack(cluster, backups, workspace, abroad,
		diag("c", cluster, abroad, "kube-audit-admin"),
		diag("b", backups, workspace, "StorageRead", "StorageWrite"))))
	assert.ElementsMatch(t, []string{
		`azure-native:containerservice:ManagedCluster "aks-cluster" sends no kube-audit-admin log to a Log Analytics workspace in eastus2`,
		`azure-native:storage:StorageAccount "backups-account" sends no StorageDelete log to a Log Analytics workspace in eastus2`,
	}, got)
}

func TestIntegrationsIsolated(t *testing.T) {
	cron := func(ns, name string, spec map[string]any) Resource {
		return k8s(typeCronJob, ns+"-"+name, map[string]any{"metadata": meta(ns, name),
			"spec": map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{"spec": spec}}}}})
	}
	on := func(pool string) map[string]any {
		return map[string]any{"nodeSelector": map[string]any{poolLabel: pool},
			"tolerations": []any{map[string]any{"key": poolLabel, "operator": "Equal", "value": pool, "effect": "NoSchedule"}}}
	}
	pool := agentPool(func(in map[string]any) {
		in["agentPoolName"] = "integrations"
		in["nodeTaints"] = []any{integrationsTaint}
	})
	// Today's render before issue 23: the integration on the jobs pool
	// beside the backup, and no integrations pool.
	before := prodStack(cron("integrations", "hr-sync", on("jobs")), cron("data", "mysql-backup", on("jobs")))
	assert.ElementsMatch(t, []string{
		`integration hr-sync runs on pool "jobs", not its own "integrations"`,
		"no node pool \"integrations\" with taint " + integrationsTaint + " for the 1 integration workload(s)",
	}, messages(IntegrationsIsolated.Check(before)))

	after := prodStack(pool, cron("integrations", "hr-sync", on("integrations")), cron("data", "mysql-backup", on("jobs")))
	assert.Empty(t, IntegrationsIsolated.Check(after))

	// A workload elsewhere that tolerates the taint (or every taint).
	sneaky := cron("moodle", "cron", map[string]any{"tolerations": []any{map[string]any{"operator": "Exists"}}})
	got := messages(IntegrationsIsolated.Check(prodStack(pool, sneaky)))
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "moodle/cron tolerates the integrations pool's taint")
	assert.Empty(t, IntegrationsIsolated.Check(devStack(cron("integrations", "hr-sync", nil))), "dev may share")
}

func TestMoodleSecretsAsFiles(t *testing.T) {
	web := func(env ...any) Resource {
		return k8s("kubernetes:apps/v1:Deployment", "moodle-web", map[string]any{"metadata": meta("moodle", "moodle-web"),
			"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{
				map[string]any{"name": "moodle", "image": "crfieldcert.azurecr.io/moodle:4.5.7-php8.3-abc", "env": env},
				map[string]any{"name": "copy", "image": "mysql:8.4.8", "env": env}}}}}})
	}
	fromSecret := func(name, secret, key string) any {
		return map[string]any{"name": name, "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": secret, "key": key}}}
	}
	// Today's render before issue 23: the passwords as variables.
	before := web(fromSecret("MOODLE_DB_HOST", "moodle-db", "host"), fromSecret("MOODLE_DB_PASSWORD", "moodle-db", "password"),
		fromSecret("MOODLE_REDIS_CACHE_AUTH", "moodle-redis", "cache-password"))
	got := messages(MoodleSecretsAsFiles.Check(prodStack(before)))
	require.Len(t, got, 2, "the Moodle container only: a mysql client prints no PHP info page")
	assert.Contains(t, got[0], "MOODLE_DB_PASSWORD is an environment variable")
	assert.Contains(t, got[1], "MOODLE_REDIS_CACHE_AUTH is an environment variable", "caught by the key's name too")

	after := web(fromSecret("MOODLE_DB_HOST", "moodle-db", "host"), map[string]any{"name": "MOODLE_SECRETS_DIR", "value": "/run/secrets/moodle"})
	assert.Empty(t, MoodleSecretsAsFiles.Check(prodStack(after)))
	other := before
	other.Inputs["metadata"] = meta("data", "mysql-backup")
	assert.Empty(t, MoodleSecretsAsFiles.Check(prodStack(other)), "the rule is the Moodle namespace's (its PHP info page)")
}
