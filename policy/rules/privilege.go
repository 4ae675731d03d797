package rules

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/fieldcert/moodle-aks/infra"
)

// The rules of least privilege (issue 23): what a role, a chart or a
// namespace may be given, checked on the preview.

var (
	// subscriptionScopeRE is a subscription or management group scope.
	subscriptionScopeRE = regexp.MustCompile(`(?i)^(/subscriptions/[^/]+|/providers/Microsoft\.Management/managementGroups/[^/]+)/?$`)
	// dnsZoneScopeRE is a public DNS zone ([1]) and what under it ([2]):
	// empty for the zone itself, "TXT/_acme-challenge.learn" for a record set.
	dnsZoneScopeRE = regexp.MustCompile(`(?i)/providers/Microsoft\.Network/dnszones/([^/]+)(?:/(.*))?$`)
	// challengeRecordRE is the one record set under a zone a stack's
	// identity may hold a role on: its ACME challenge TXT record set.
	challengeRecordRE = regexp.MustCompile(`(?i)^TXT/_acme-challenge(\.[^/]+)?$`)
)

// RoleScopeNarrow keeps every role assignment on one resource: never a
// subscription or management group, and never a DNS zone that every region
// shares, where a stack's identity could repoint or certify the other
// region's hostname. Under a zone only the stack's own ACME challenge
// record set may be the scope (record-set-level Azure RBAC,
// https://learn.microsoft.com/azure/dns/dns-protect-zones-recordsets).
var RoleScopeNarrow = Rule{
	ID: "role-scope-narrow",
	Description: "A role assignment's scope is one resource or resource group: never a subscription or management group, " +
		"and under a DNS zone (shared by every region) only an _acme-challenge TXT record set, never the zone.",
	Enforcement: Mandatory,
	Check: perResource(func(_ *Stack, r Resource) []string {
		if !isAzure(r) || BaseType(r.Type) != "azure-native:authorization:RoleAssignment" {
			return nil
		}
		scope := r.String("scope")
		if subscriptionScopeRE.MatchString(scope) {
			return []string{fmt.Sprintf("role assignment %q is scoped to %s: a whole subscription or management group", r.Name, scope)}
		}
		if m := dnsZoneScopeRE.FindStringSubmatch(scope); m != nil && !challengeRecordRE.MatchString(m[2]) {
			what := "the whole zone"
			if m[2] != "" {
				what = "record set " + m[2]
			}
			return []string{fmt.Sprintf("role assignment %q is scoped to %s of DNS zone %s, which every region shares: "+
				"grant it on the stack's own _acme-challenge TXT record set", r.Name, what, strings.ToLower(m[1]))}
		}
		return nil
	}),
}

// ChartRBACNarrow holds kube-prometheus-stack to the values that keep its
// Grafana and kube-state-metrics from reading every Secret of the cluster
// (issue 23): the chart's defaults give Grafana a ClusterRole on Secrets
// and ConfigMaps (grafana rbac.namespaced: false) and kube-state-metrics a
// secrets collector. tools/chartcheck proves the effect on the templated
// chart (TestNoChartReadsEverySecret).
var ChartRBACNarrow = Rule{
	ID: "chart-rbac-narrow",
	Description: "kube-prometheus-stack runs Grafana with namespaced RBAC and ConfigMap-only sidecars, and kube-state-metrics " +
		"without its secrets collector: no chart pod outside the operators reads every Secret.",
	Enforcement: Mandatory,
	Check: perResource(func(_ *Stack, r Resource) []string {
		if r.Type != typeHelmRelease || r.String("chart") != "kube-prometheus-stack" {
			return nil
		}
		var out []string
		if r.Input("values.grafana.enabled") != false {
			if r.Input("values.grafana.rbac.namespaced") != true {
				out = append(out, fmt.Sprintf("release %s: grafana.rbac.namespaced is not true, so Grafana's ClusterRole reads every Secret", r.Name))
			}
			for _, sc := range []string{"dashboards", "datasources"} {
				if v := r.String("values.grafana.sidecar." + sc + ".resource"); v != "configmap" {
					out = append(out, fmt.Sprintf("release %s: grafana.sidecar.%s.resource is %q, not configmap: the sidecar reads Secrets", r.Name, sc, orDefault(v, "both")))
				}
			}
		}
		if r.Input("values.kube-state-metrics.enabled") != false {
			excluded, _ := r.Input("values.kube-state-metrics.collectorsExclude").([]any)
			collectors, set := r.Input("values.kube-state-metrics.collectors").([]any)
			if !slices.Contains(excluded, any("secrets")) && (!set || slices.Contains(collectors, any("secrets"))) {
				out = append(out, fmt.Sprintf("release %s: kube-state-metrics keeps its secrets collector (list on every Secret): add secrets to collectorsExclude", r.Name))
			}
		}
		return out
	}),
}

// podSecurityExceptions are the namespaces that may enforce less than
// restricted, and the one level each may enforce: the Istio CNI node agent
// and the node exporter both need the host (components/namespaces).
var podSecurityExceptions = map[string]string{
	infra.NamespaceIstio:        "privileged",
	infra.NamespaceNodeExporter: "privileged",
}

const (
	podSecurityEnforce = "pod-security.kubernetes.io/enforce"
	typeVAP            = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
)

// PodSecurityEnforced holds every namespace the stack creates to Pod
// Security restricted, but for the listed exceptions at their one level,
// and requires the admission guard that keeps pods out of namespaces
// nobody labelled (components/namespaces PodSecurityGuard; the real API
// server check, tools/apiserver TestPodSecurityGuard, proves it refuses).
var PodSecurityEnforced = Rule{
	ID: "pod-security-enforced",
	Description: "Every namespace the stack creates enforces Pod Security restricted (istio-system and monitoring-nodes: privileged, " +
		"for the host agents alone), and an admission policy refuses pods in namespaces that enforce less.",
	Enforcement: Mandatory,
	Check: func(s *Stack) []Finding {
		var out []Finding
		namespaces := 0
		for _, r := range s.Resources {
			if r.Type != typeNamespace {
				continue
			}
			namespaces++
			name := r.String("metadata.name")
			labels, _ := r.Input("metadata.labels").(map[string]any)
			level, _ := labels[podSecurityEnforce].(string)
			want := orDefault(podSecurityExceptions[name], "restricted")
			if level != want {
				out = append(out, Finding{r.URN, fmt.Sprintf("namespace %s enforces Pod Security %q, not %s", name, orDefault(level, "nothing"), want)})
			}
		}
		if namespaces > 0 && !hasType(s, typeVAP) {
			out = append(out, Finding{"", "no ValidatingAdmissionPolicy keeps pods out of namespaces that enforce no Pod Security level"})
		}
		return out
	},
}

// pathOperatorRE matches Envoy access log operators that print the request
// path with its query string (the default format's
// %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%) or the Referer, which carries the
// previous page's.
var pathOperatorRE = regexp.MustCompile(`(?i)%REQ\([^)]*:PATH\)%|%REQ\(:PATH\)%|%REQ\(REFERER\)%`)

// AccessLogsNoTokens keeps Moodle's URL tokens (password resets, wstoken,
// tokenpluginfile) out of the mesh's access logs: with access logging on,
// the format must be set (Istio's default prints the full path) and print
// neither the path nor the Referer.
var AccessLogsNoTokens = Rule{
	ID: "access-logs-no-tokens",
	Description: "The mesh's access log, when on, has a format that prints neither the request path with its query string " +
		"nor the Referer: Moodle puts tokens in URLs.",
	Enforcement: Mandatory,
	Check: perResource(func(_ *Stack, r Resource) []string {
		if r.Type != typeHelmRelease || r.String("chart") != "istiod" {
			return nil
		}
		if r.String("values.meshConfig.accessLogFile") == "" {
			return nil
		}
		format := r.String("values.meshConfig.accessLogFormat")
		switch {
		case format == "":
			return []string{fmt.Sprintf("release %s logs access with Istio's default format, which prints the full path and its query string", r.Name)}
		case pathOperatorRE.MatchString(format):
			return []string{fmt.Sprintf("release %s's access log format prints %s", r.Name, pathOperatorRE.FindString(format))}
		}
		return nil
	}),
}

const (
	typeDiagnosticSetting = "azure-native:insights:DiagnosticSetting"
	typeLogWorkspace      = "azure-native:operationalinsights:Workspace"
)

// auditCategories are the log categories that make an audit trail, per
// kind of resource (components/audit).
var auditCategories = map[string][]string{
	typeCluster: {"kube-audit-admin"},
	typeAccount: {"StorageRead", "StorageWrite", "StorageDelete"},
}

// AuditTrail requires, in prod, that every cluster and storage account
// sends its audit logs to a Log Analytics workspace of the stack's own
// region, and that the cluster runs Defender and the Azure Policy add-on
// (issue 23: without them a breach could be neither detected nor scoped).
// A diagnostic setting is tied to its resource and workspace by its
// dependencies, which a preview knows before any ID exists.
var AuditTrail = Rule{
	ID: "audit-trail",
	Description: "In prod, the AKS cluster (kube-audit-admin) and every storage account (StorageRead, StorageWrite, StorageDelete) " +
		"send their logs to a Log Analytics workspace in the stack's region, and the cluster runs Microsoft Defender and the Azure Policy add-on.",
	Enforcement: Mandatory,
	Check: func(s *Stack) []Finding {
		if s.Environment != "prod" {
			return nil
		}
		workspaces := map[string]bool{} // URN -> in the stack's region
		for _, r := range s.Resources {
			if isAzure(r) && BaseType(r.Type) == typeLogWorkspace {
				workspaces[r.URN] = normalizeLocation(r.String("location")) == s.Region
			}
		}
		// resource URN -> categories sent to a workspace in the region
		sent := map[string]map[string]bool{}
		for _, r := range s.Resources {
			if !isAzure(r) || BaseType(r.Type) != typeDiagnosticSetting {
				continue
			}
			inRegion := false
			for _, d := range r.Dependencies {
				inRegion = inRegion || workspaces[d]
			}
			if !inRegion {
				continue
			}
			logs, _ := r.Input("logs").([]any)
			for _, d := range r.Dependencies {
				for _, l := range logs {
					m, _ := l.(map[string]any)
					if cat, _ := m["category"].(string); cat != "" && m["enabled"] == true {
						if sent[d] == nil {
							sent[d] = map[string]bool{}
						}
						sent[d][cat] = true
					}
				}
			}
		}
		var out []Finding
		for _, r := range s.Resources {
			if !isAzure(r) {
				continue
			}
			want, ok := auditCategories[BaseType(r.Type)]
			if !ok {
				continue
			}
			for _, cat := range want {
				if !sent[r.URN][cat] {
					out = append(out, Finding{r.URN, fmt.Sprintf("%s %q sends no %s log to a Log Analytics workspace in %s", BaseType(r.Type), r.Name, cat, s.Region)})
				}
			}
			if BaseType(r.Type) == typeCluster {
				if r.Input("securityProfile.defender.securityMonitoring.enabled") != true {
					out = append(out, Finding{r.URN, fmt.Sprintf("cluster %q runs without Microsoft Defender (securityProfile.defender)", r.Name)})
				}
				if r.Input("addonProfiles.azurepolicy.enabled") != true {
					out = append(out, Finding{r.URN, fmt.Sprintf("cluster %q runs without the Azure Policy add-on (addonProfiles.azurepolicy)", r.Name)})
				}
			}
		}
		return out
	},
}

// integrationsPool is the node pool label and taint value of the
// third-party integrations (components/aks IntegrationsTaint).
const (
	poolLabel         = "moodle.fieldcert/pool"
	integrationsPool  = "integrations"
	integrationsNS    = "integrations"
	integrationsTaint = poolLabel + "=" + integrationsPool + ":NoSchedule"
)

// IntegrationsIsolated keeps third-party code on nodes of its own in prod:
// the integrations pool exists with its taint, every integration's pods
// select it, and no other workload tolerates its taint or shares the jobs
// pool with an integration (issue 23: integration CronJobs ran on the jobs
// pool beside the upgrade Job and the backup Jobs).
var IntegrationsIsolated = Rule{
	ID: "integrations-isolated",
	Description: "In prod, the integrations run on a tainted node pool of their own and nothing else runs there: third-party code " +
		"never shares a node with the upgrade, cron or backup Jobs.",
	Enforcement: Mandatory,
	Check: func(s *Stack) []Finding {
		if s.Environment != "prod" {
			return nil
		}
		var out []Finding
		pool := false
		for _, r := range s.Resources {
			if isAzure(r) && BaseType(r.Type) == typeAgentPool && r.String("agentPoolName") == integrationsPool {
				taints, _ := r.Input("nodeTaints").([]any)
				pool = slices.Contains(taints, any(integrationsTaint))
			}
		}
		integrations := 0
		for _, r := range s.Resources {
			path, ok := workloadTemplates[r.Type]
			if !ok {
				continue
			}
			spec, _ := r.Input(path).(map[string]any)
			sel, _ := spec["nodeSelector"].(map[string]any)
			tolerates := false
			tols, _ := spec["tolerations"].([]any)
			for _, t := range tols {
				m, _ := t.(map[string]any)
				tolerates = tolerates || (m["key"] == poolLabel && (m["value"] == integrationsPool || m["operator"] == "Exists")) || (m["key"] == nil && m["operator"] == "Exists")
			}
			if r.String("metadata.namespace") == integrationsNS {
				integrations++
				if sel[poolLabel] != integrationsPool {
					out = append(out, Finding{r.URN, fmt.Sprintf("integration %s runs on pool %q, not its own %q", r.String("metadata.name"), orDefault(fmt.Sprint(sel[poolLabel]), "any"), integrationsPool)})
				}
				continue
			}
			if tolerates {
				out = append(out, Finding{r.URN, fmt.Sprintf("%s %s/%s tolerates the integrations pool's taint: it could run beside third-party code",
					r.Type, r.String("metadata.namespace"), r.String("metadata.name"))})
			}
		}
		if integrations > 0 && !pool {
			out = append(out, Finding{"", fmt.Sprintf("no node pool %q with taint %s for the %d integration workload(s)", integrationsPool, integrationsTaint, integrations)})
		}
		return out
	},
}

// secretNameRE matches what a credential's variable or key is called (by
// its last word: MOODLE_DB_PASSWORD, cache-password, API_KEY; not
// MOODLE_SECRETS_DIR).
var secretNameRE = regexp.MustCompile(`(?i)(password|passwd|secret|token|api[_-]?key|auth)$`)

// MoodleSecretsAsFiles keeps credentials out of the Moodle containers'
// environment: Moodle's PHP info page (Site administration > Server > PHP
// info) prints every variable, and /proc/<pid>/environ shows them to
// anything running as www-data. They are files of a secrets volume, which
// config.php reads (components/moodle SecretFiles).
var MoodleSecretsAsFiles = Rule{
	ID: "moodle-secrets-as-files",
	Description: "No container of the moodle namespace takes a password, token or key from an environment variable: " +
		"Moodle's PHP info page prints the environment. Credentials are files of a secrets volume.",
	Enforcement: Mandatory,
	Check: perResource(func(_ *Stack, r Resource) []string {
		tmpl, ok := workloadTemplates[r.Type]
		if !ok || r.String("metadata.namespace") != "moodle" {
			return nil
		}
		spec, _ := r.Input(tmpl).(map[string]any)
		var out []string
		for _, c := range containers(spec) {
			// Moodle's own containers: the image whose repository is moodle
			// (moodleImage); a migration's mysql client prints no PHP info.
			image, _ := c["image"].(string)
			if m := imageRefRE.FindStringSubmatch(image); m == nil || path.Base(m[1]) != "moodle" {
				continue
			}
			env, _ := c["env"].([]any)
			for _, e := range env {
				m, _ := e.(map[string]any)
				name, _ := m["name"].(string)
				ref, _ := m["valueFrom"].(map[string]any)
				key := ""
				if sk, ok := ref["secretKeyRef"].(map[string]any); ok {
					key, _ = sk["key"].(string)
				}
				if secretNameRE.MatchString(name) || (key != "" && secretNameRE.MatchString(key)) {
					out = append(out, fmt.Sprintf("%s %s, container %s: %s is an environment variable (the PHP info page prints it); mount it as a file",
						r.Type, r.String("metadata.name"), c["name"], name))
				}
			}
		}
		return out
	}),
}
