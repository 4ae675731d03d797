package monitoring

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func args() *Args {
	return &Args{
		ChartVersion: "88.5.3", RetentionDays: 30, StorageGiB: 200, StorageClass: "premium-disk-retain",
		UserPoolMax: 40, Replicas: 2,
		Routing: Routing{Emails: []string{"oncall@fieldcert.example"}, SMTPHost: "smtp.office365.com:587", SMTPFrom: "alerts@fieldcert.example"},
	}
}

func run(t *testing.T, a *Args) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.RunAfter(func(ctx *pulumi.Context, ns pulumi.Resource) error {
		if a.DependsOn == nil {
			a.DependsOn = []pulumi.Resource{ns}
		}
		_, err := New(ctx, "monitoring", a)
		return err
	})
}

func TestReleaseValues(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	rel, ok := rec.Named("kubernetes:helm.sh/v3:Release", "monitoring-stack")
	require.True(t, ok)
	assert.Equal(t, "88.5.3", rel.Input("version"))
	assert.Equal(t, infra.NamespaceMonitoring, rel.Input("namespace"))
	assert.Equal(t, "30d", rel.Input("values.prometheus.prometheusSpec.retention"))
	assert.Equal(t, "200Gi", rel.Input("values.prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.resources.requests.storage"))
	assert.Equal(t, "premium-disk-retain", rel.Input("values.prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.storageClassName"))
	assert.Equal(t, infra.PrometheusServiceAccount, rel.Input("values.prometheus.serviceAccount.name"), "the principal the mesh lets scrape")
	assert.Equal(t, AlertmanagerSecret, rel.Input("values.alertmanager.alertmanagerSpec.configSecret"))
	assert.Equal(t, GrafanaAdminSecret, rel.Input("values.grafana.admin.existingSecret"))
	assert.Equal(t, true, rel.Input("values.grafana.sidecar.dashboards.enabled"))
	assert.Contains(t, rel.Input("values.kube-state-metrics").(map[string]any)["metricLabelsAllowlist"], "jobs=[moodle.fieldcert/alert,moodle.fieldcert/severity]")
	assert.Equal(t, false, rel.Input("values.kubeProxy.enabled"))
	// Hook Jobs in the mesh never complete (the sidecar keeps them running).
	assert.Equal(t, "false", rel.Input("values.prometheusOperator.admissionWebhooks.patch.podAnnotations").(map[string]any)["sidecar.istio.io/inject"])
	// cert-manager is scraped once, through its pods' annotations.
	for _, r := range rec.OfType("kubernetes:monitoring.coreos.com/v1:ServiceMonitor") {
		assert.NotEqual(t, []any{infra.NamespaceCertManager}, r.Input("spec.namespaceSelector.matchNames"), "no ServiceMonitor for cert-manager: %s", r.Name)
	}

	for n, keys := range map[string][]string{"monitoring-grafana-admin": {"admin-password", "admin-user"}, "monitoring-alertmanager-config": {"alertmanager.yaml"}} {
		s, ok := rec.Named("kubernetes:core/v1:Secret", n)
		require.True(t, ok)
		want := map[string]any{}
		for _, k := range keys {
			want[k] = mocks.Secret
		}
		assert.Equal(t, want, s.Input("stringData"), "%s: its keys show, every value is secret", n)
	}
}

// promQLShape checks what can be checked without a PromQL parser: balanced
// brackets and quotes, a comparison, metric names and label matchers of the
// right form.
func promQLShape(expr string) []string {
	var problems []string
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	var stack []rune
	inQuote := false
	for _, r := range expr {
		switch {
		case r == '"':
			inQuote = !inQuote
		case inQuote:
		case r == '(' || r == '[' || r == '{':
			stack = append(stack, r)
		case pairs[r] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != pairs[r] {
				problems = append(problems, "unbalanced "+string(r))
				return problems
			}
			stack = stack[:len(stack)-1]
		}
	}
	if inQuote || len(stack) > 0 {
		problems = append(problems, "unclosed bracket or quote")
	}
	if !regexp.MustCompile(`(==|!=|>=|<=|>|<)|absent\(`).MatchString(expr) {
		problems = append(problems, "no comparison: an alert expression must select only firing series")
	}
	for _, m := range regexp.MustCompile(`\{([^}]*)\}`).FindAllStringSubmatch(expr, -1) {
		for _, matcher := range strings.Split(m[1], ",") {
			if matcher = strings.TrimSpace(matcher); matcher != "" && !regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*(=~|!~|!=|=)"[^"]*"$`).MatchString(matcher) {
				problems = append(problems, "bad label matcher "+matcher)
			}
		}
	}
	return problems
}

// prodData is prod's data tier: three members, three leaders with a
// follower each.
var prodData = DataTopology{MySQLMembers: 3, RedisShards: 3, RedisFollowers: 3}

func TestAlertRules(t *testing.T) {
	alerts := Alerts(40, prodData)
	names := map[string]bool{}
	for _, a := range alerts {
		assert.False(t, names[a.Name], "duplicate %s", a.Name)
		names[a.Name] = true
		assert.Regexp(t, `^[A-Z][A-Za-z]+$`, a.Name)
		assert.Empty(t, promQLShape(a.Expr), "%s: %s", a.Name, a.Expr)
		if a.Name == "MoodleMaintenance" {
			assert.Equal(t, "none", a.Severity, "a signal for inhibition, routed to nobody")
		} else {
			assert.Contains(t, []string{"critical", "warning"}, a.Severity, a.Name)
		}
		assert.Contains(t, []string{"site", "jobs", "data", "platform"}, a.Component, a.Name)
		if a.Name == "MoodleMaintenance" || a.Name == NotificationsFailingAlert {
			assert.Empty(t, a.For, "%s holds from its first evaluation", a.Name)
		} else {
			assert.Regexp(t, `^\d+[smh]$`, a.For, a.Name)
		}
		assert.NotEmpty(t, a.Summary, a.Name)
		assert.NotEmpty(t, a.Runbook, a.Name)
	}
	for _, want := range []string{
		"MoodleDown", "MoodleHighErrorRate", "MoodleSlowResponses", "MoodleAutoscalerAtMax", "NodePoolNearMax",
		"MoodleCronNotRunning", "BackupJobFailed", "IntegrationJobFailed", "ScheduledJobMissed",
		"MySQLDown", "MySQLSlowQueriesRising", "MySQLConnectionsNearMax", "RedisDown", "RedisMemoryNearLimit", "PersistentVolumeFilling",
		// The group and the cluster (issue: member not ONLINE, fewer than
		// three, no primary, quorum at risk, apply lag, no writable proxy
		// backend; cluster state, failing slots, a master without replica,
		// two masters in one zone).
		"MySQLGroupMemberNotOnline", "MySQLGroupDegraded", "MySQLGroupNoPrimary", "MySQLGroupQuorumAtRisk",
		"MySQLReplicationApplyLag", "MySQLProxyNoWritableBackend", "MySQLMemberDown",
		"RedisClusterStateFail", "RedisClusterSlotsFailing", "RedisMasterWithoutReplica", "RedisMastersShareZone", "RedisClusterNodeDown",
		"CertificateExpiringSoon", "IstioControlPlaneDown", "PodCrashLooping",
	} {
		assert.True(t, names[want], "missing alert %s", want)
	}
	for _, a := range alerts {
		if a.Name == "NodePoolNearMax" {
			assert.Contains(t, a.Expr, ">= 36", "90% of the pool's maximum of 40")
		}
	}
	assert.NotEmpty(t, promQLShape(`sum(rate(x[5m])`), "the shape check catches an unclosed bracket")
	assert.NotEmpty(t, promQLShape(`up{job=foo} == 0`), "and a bad matcher")
}

func TestPrometheusRuleObject(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	pr, ok := rec.Named("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "monitoring-rules")
	require.True(t, ok)
	rel, _ := rec.Named("kubernetes:helm.sh/v3:Release", "monitoring-stack")
	assert.Contains(t, pr.Dependencies, rel.URN, "the CRD exists first")
	groups := pr.Input("spec.groups").([]any)
	require.Len(t, groups, 4)
	rule := groups[0].(map[string]any)["rules"].([]any)[0].(map[string]any)
	assert.Contains(t, rule["labels"].(map[string]any), "severity", "routing needs severity")
	assert.Contains(t, rule["labels"].(map[string]any), "component", "inhibition needs component")
	assert.NotEmpty(t, rule["annotations"].(map[string]any)["runbook"])
}

func TestReceiversOnlyWhenConfigured(t *testing.T) {
	parse := func(r Routing) map[string]any {
		s, err := AlertmanagerConfig(r)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(s), &m))
		return m
	}
	receivers := func(m map[string]any) map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, r := range m["receivers"].([]any) {
			out[r.(map[string]any)["name"].(string)] = r.(map[string]any)
		}
		return out
	}
	none := parse(Routing{})
	assert.Equal(t, map[string]map[string]any{"null": {"name": "null"}}, receivers(none))
	assert.Nil(t, none["global"], "no SMTP settings without email")

	email := parse(Routing{Emails: []string{"a@example.com"}, SMTPHost: "smtp.example.com:587", SMTPFrom: "x@example.com"})
	rs := receivers(email)
	assert.NotContains(t, rs, "fallback-email", "one kind: nothing else to fall back to")
	assert.Len(t, rs["critical"]["email_configs"], 1)
	assert.Equal(t, rs["critical"], map[string]any{"name": "critical", "email_configs": rs["warning"]["email_configs"]})
	assert.NotContains(t, email["global"], "smtp_auth_password", "no empty password")

	all := parse(Routing{Emails: []string{"a@example.com", "b@example.com"}, SMTPHost: "smtp.example.com:587", SMTPFrom: "x@example.com", SMTPUsername: "u", SMTPPassword: "p",
		PagerDutyRoutingKey: "k", OpsgenieAPIKey: "o", TeamsWebhookURL: "https://teams.example.com/w", WebhookURL: "https://hooks.example.com/h", HeartbeatURL: "https://hc.example.com/p"})
	rs = receivers(all)
	assert.Len(t, rs["critical"]["email_configs"], 2)
	for _, key := range []string{"pagerduty_configs", "opsgenie_configs", "msteamsv2_configs", "webhook_configs"} {
		assert.Len(t, rs["critical"][key], 1, "critical goes to every kind: %s", key)
		assert.Len(t, rs["fallback-email"][key], 1, "email's failures go to every other kind: %s", key)
	}
	assert.NotContains(t, rs["fallback-email"], "email_configs", "not back to the kind that failed")
	assert.NotContains(t, rs["fallback-pagerduty"], "pagerduty_configs")
	assert.Contains(t, rs["warning"], "email_configs")
	assert.Contains(t, rs["warning"], "msteamsv2_configs")
	assert.NotContains(t, rs["warning"], "pagerduty_configs", "warnings do not page when mail or Teams take them")
	assert.Equal(t, "critical", rs["critical"]["pagerduty_configs"].([]any)[0].(map[string]any)["severity"])
	assert.Equal(t, "P1", rs["critical"]["opsgenie_configs"].([]any)[0].(map[string]any)["priority"])
	assert.Equal(t, []any{map[string]any{"url": "https://hc.example.com/p", "send_resolved": false}}, rs["heartbeat"]["webhook_configs"])
	assert.Equal(t, "p", all["global"].(map[string]any)["smtp_auth_password"])

	pagerOnly := receivers(parse(Routing{PagerDutyRoutingKey: "k"}))
	assert.Equal(t, "warning", pagerOnly["warning"]["pagerduty_configs"].([]any)[0].(map[string]any)["severity"], "with no other kind, warnings page at PagerDuty's warning severity")
}

func TestDashboardsAreValid(t *testing.T) {
	files, err := Dashboards()
	require.NoError(t, err)
	require.Len(t, files, 3)
	uids := map[string]bool{}
	for name, body := range files {
		var d struct {
			UID           string `json:"uid"`
			Title         string `json:"title"`
			SchemaVersion int    `json:"schemaVersion"`
			Panels        []struct {
				ID      int    `json:"id"`
				Type    string `json:"type"`
				Title   string `json:"title"`
				GridPos struct {
					W, H int
				} `json:"gridPos"`
				Targets []struct {
					RefID string `json:"refId"`
					Expr  string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &d), name)
		assert.NotEmpty(t, d.UID, name)
		assert.False(t, uids[d.UID], "uids are unique")
		uids[d.UID] = true
		assert.NotEmpty(t, d.Title, name)
		assert.GreaterOrEqual(t, d.SchemaVersion, 36, name)
		require.NotEmpty(t, d.Panels, name)
		ids := map[int]bool{}
		for _, p := range d.Panels {
			assert.False(t, ids[p.ID], "%s: panel ids are unique", name)
			ids[p.ID] = true
			assert.Contains(t, []string{"timeseries", "stat"}, p.Type)
			assert.Positive(t, p.GridPos.W*p.GridPos.H, "%s: %s has a size", name, p.Title)
			require.NotEmpty(t, p.Targets, "%s: %s queries something", name, p.Title)
			for _, tg := range p.Targets {
				assert.NotEmpty(t, tg.RefID)
				assert.NotEmpty(t, tg.Expr)
			}
		}
	}
	rec, err := run(t, args())
	require.NoError(t, err)
	cm, ok := rec.Named("kubernetes:core/v1:ConfigMap", "monitoring-dashboard-moodle-overview")
	require.True(t, ok)
	assert.Equal(t, "1", cm.Input("metadata.labels").(map[string]any)["grafana_dashboard"], "the Grafana sidecar picks it up")
}

func TestMonitoringRejectsBadArgs(t *testing.T) {
	a := args()
	a.ChartVersion, a.Routing.SMTPHost = "67", ""
	_, err := run(t, a)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `version "67"`)
	assert.Contains(t, err.Error(), "email alerts need smtpHost")
}

func TestGroupAlertsFollowTheGroupsSize(t *testing.T) {
	byName := func(d DataTopology) map[string]Alert {
		out := map[string]Alert{}
		for _, a := range Alerts(40, d) {
			out[a.Name] = a
		}
		return out
	}
	prod := byName(prodData)
	assert.Contains(t, prod["MySQLGroupDegraded"].Expr, "< 3")
	assert.Contains(t, prod["MySQLGroupQuorumAtRisk"].Expr, "<= 2", "two of three: one more loss and no majority")
	five := byName(DataTopology{MySQLMembers: 5, RedisShards: 3, RedisFollowers: 3})
	assert.Contains(t, five["MySQLGroupDegraded"].Expr, "< 5")
	assert.Contains(t, five["MySQLGroupQuorumAtRisk"].Expr, "<= 3")
	dev := byName(DataTopology{MySQLMembers: 1, RedisShards: 1})
	for _, n := range []string{"MySQLGroupDegraded", "MySQLGroupQuorumAtRisk", "RedisMasterWithoutReplica", "RedisMastersShareZone"} {
		_, ok := dev[n]
		assert.False(t, ok, "%s makes no sense for one member or leader", n)
	}
	for _, n := range []string{"MySQLGroupNoPrimary", "MySQLProxyNoWritableBackend", "RedisClusterStateFail"} {
		_, ok := dev[n]
		assert.True(t, ok, "%s applies to dev's single member too", n)
	}
	assert.Contains(t, prod["MySQLProxyNoWritableBackend"].Expr, `proxy="mysql-primary"`)
	assert.Contains(t, prod["RedisMastersShareZone"].Expr, "label_topology_kubernetes_io_zone")
}

// metricRE finds the names of the data tier's series in an expression.
var metricRE = regexp.MustCompile(`\b(mysql|haproxy|redis|kube_pod|kube_node)_[a-z0-9_]+\b`)

func TestDataAlertsNameMetricsTheExportersExport(t *testing.T) {
	known := map[string]bool{}
	for _, m := range ExporterMetrics {
		assert.NotEmpty(t, m.Source, m.Name)
		known[m.Name] = true
	}
	used := map[string]bool{}
	for _, a := range Alerts(40, prodData) {
		if a.Component != "data" {
			continue
		}
		for _, name := range metricRE.FindAllString(a.Expr, -1) {
			used[name] = true
			assert.True(t, known[name], "%s uses %s, which no pinned exporter is known to export (metrics.go)", a.Name, name)
		}
	}
	for name := range known {
		assert.True(t, used[name], "metrics.go lists %s, which no alert uses", name)
	}
	assert.False(t, known["mysql_group_replication_members"], "the check is not vacuous")
}

func TestEveryAlertHasARunbookSection(t *testing.T) {
	doc, err := os.ReadFile("../../docs/alerts.md")
	require.NoError(t, err)
	for _, a := range Alerts(40, prodData) {
		head := "### " + strings.ToLower(a.Name) + "\n"
		if !assert.Contains(t, string(doc), head, "docs/alerts.md explains %s (its runbook_url anchor)", a.Name) {
			continue
		}
		// The section shows the expression as the rules carry it (or says
		// which alert's it repeats), so the runbook cannot go stale.
		section, _, _ := strings.Cut(strings.SplitN(string(doc), head, 2)[1], "\n### ")
		m := regexp.MustCompile("(?m)^- Expression: (.*)$").FindStringSubmatch(section)
		if assert.NotNil(t, m, "%s: no Expression line", a.Name) && !strings.HasPrefix(m[1], "as `") {
			assert.Equal(t, "`"+strings.ReplaceAll(a.Expr, "\n", " ")+"`", m[1], "%s: docs/alerts.md shows another expression", a.Name)
		}
	}
}

func TestRoutingEndpoints(t *testing.T) {
	plain, secret := Routing{SMTPHost: "smtp.example.com:587"}.Endpoints()
	assert.Empty(t, plain, "no email receiver: the relay is not needed")
	assert.Empty(t, secret)
	plain, secret = Routing{Emails: []string{"a@example.com"}, SMTPHost: "smtp.example.com:587", WebhookURL: "https://hooks.example.com/integration/abc"}.Endpoints()
	assert.Equal(t, []infra.Endpoint{{Host: "smtp.example.com", Port: 587}}, plain)
	assert.Equal(t, []infra.Endpoint{{Host: "hooks.example.com", Port: 443}}, secret, "the webhook's host comes from a secret")
	_, secret = Routing{WebhookURL: "https://hooks.example.com:8443/x"}.Endpoints()
	assert.Equal(t, []infra.Endpoint{{Host: "hooks.example.com", Port: 8443}}, secret)
	plain, secret = Routing{PagerDutyRoutingKey: "k", OpsgenieAPIKey: "o", TeamsWebhookURL: "https://prod-1.westeurope.logic.azure.com/w", HeartbeatURL: "https://hc-ping.com/u"}.Endpoints()
	assert.Equal(t, []infra.Endpoint{{Host: "events.pagerduty.com", Port: 443}, {Host: "api.opsgenie.com", Port: 443}}, plain, "the native integrations' APIs")
	assert.Equal(t, []infra.Endpoint{{Host: "prod-1.westeurope.logic.azure.com", Port: 443}, {Host: "hc-ping.com", Port: 443}}, secret)
}
