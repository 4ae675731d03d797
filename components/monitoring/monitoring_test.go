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
		assert.Contains(t, []string{"critical", "warning"}, a.Severity, a.Name)
		assert.Contains(t, []string{"site", "jobs", "data", "platform"}, a.Component, a.Name)
		assert.Regexp(t, `^\d+[smh]$`, a.For, a.Name)
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
	names := func(m map[string]any) []string {
		var out []string
		for _, r := range m["receivers"].([]any) {
			out = append(out, r.(map[string]any)["name"].(string))
		}
		return out
	}
	none := parse(Routing{})
	assert.Equal(t, []string{"null"}, names(none))
	assert.Nil(t, none["global"], "no SMTP settings without email")

	email := parse(Routing{Emails: []string{"a@example.com"}, SMTPHost: "smtp.example.com:587", SMTPFrom: "x@example.com"})
	assert.Equal(t, []string{"null", "email"}, names(email))
	assert.Equal(t, "smtp.example.com:587", email["global"].(map[string]any)["smtp_smarthost"])
	assert.NotContains(t, email["global"], "smtp_auth_password", "no empty password")

	both := parse(Routing{Emails: []string{"a@example.com"}, SMTPHost: "s:25", SMTPFrom: "x@example.com", WebhookURL: "https://events.example.com/x"})
	assert.Equal(t, []string{"null", "pager", "email"}, names(both))
	routes := both["route"].(map[string]any)["routes"].([]any)
	assert.Equal(t, "pager", routes[0].(map[string]any)["receiver"])
	assert.Equal(t, []any{`severity="critical"`}, routes[0].(map[string]any)["matchers"])
	assert.Equal(t, true, routes[0].(map[string]any)["continue"], "critical alerts are mailed too")
	for _, r := range both["receivers"].([]any) {
		rm := r.(map[string]any)
		if rm["name"] != "null" {
			assert.True(t, rm["email_configs"] != nil || rm["webhook_configs"] != nil, "no empty receiver")
		}
	}
	inhibit := both["inhibit_rules"].([]any)[0].(map[string]any)
	assert.Equal(t, []any{`alertname="MoodleDown"`}, inhibit["source_matchers"], "site down silences its symptoms")
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
		assert.Contains(t, string(doc), "### "+strings.ToLower(a.Name)+"\n", "docs/alerts.md explains %s (its runbook_url anchor)", a.Name)
	}
}

func TestRoutingEndpoints(t *testing.T) {
	plain, secret := Routing{SMTPHost: "smtp.example.com:587"}.Endpoints()
	assert.Empty(t, plain, "no email receiver: the relay is not needed")
	assert.Empty(t, secret)
	plain, secret = Routing{Emails: []string{"a@example.com"}, SMTPHost: "smtp.example.com:587", WebhookURL: "https://events.pagerduty.com/integration/abc/enqueue"}.Endpoints()
	assert.Equal(t, []infra.Endpoint{{Host: "smtp.example.com", Port: 587}}, plain)
	assert.Equal(t, []infra.Endpoint{{Host: "events.pagerduty.com", Port: 443}}, secret, "the webhook's host comes from a secret")
	_, secret = Routing{WebhookURL: "https://hooks.example.com:8443/x"}.Endpoints()
	assert.Equal(t, []infra.Endpoint{{Host: "hooks.example.com", Port: 8443}}, secret)
}
