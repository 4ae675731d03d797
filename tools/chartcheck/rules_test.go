package chartcheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart/loader"
	"sigs.k8s.io/yaml"
)

// The chart's own alert rules, as the pinned kube-prometheus-stack templates
// them with the rendered values: every rule group of the chart is chosen
// explicitly (none left to the chart's default), the groups turned off are
// gone, what is kept parses in Prometheus (promtool check rules), an alert
// of each kept alerting group fires on its failure and stays quiet
// otherwise (promtool test rules), and every kept alert has its section in
// docs/alerts.md.

// chartRules are the alerting and recording rules of a templated release.
func chartRules(t *testing.T, kps templated) (groups []map[string]any, alerts map[string]map[string]any) {
	t.Helper()
	alerts = map[string]map[string]any{}
	for _, o := range kps.objects {
		if o.Kind() != "PrometheusRule" {
			continue
		}
		for _, g := range asSlice(o.Get("spec.groups")) {
			gm := asMap(g)
			groups = append(groups, gm)
			for _, r := range asSlice(gm["rules"]) {
				if name, ok := asMap(r)["alert"].(string); ok {
					alerts[name] = asMap(r)
				}
			}
		}
	}
	return groups, alerts
}

func promtoolPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	out, err := exec.Command("bash", filepath.Join(root, "tests", "imagerun", "install-packages.sh")).CombinedOutput()
	require.NoError(t, err, "promtool (Debian's prometheus package) is needed: %s", out)
	p, err := exec.LookPath("promtool")
	require.NoError(t, err)
	return p
}

func TestChartRuleGroupsAreChosenAndDocumented(t *testing.T) {
	stacks, rels := load(t)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "alerts.md"))
	require.NoError(t, err)
	for _, s := range stacks {
		t.Run(s.Name, func(t *testing.T) {
			kps := release(t, rels[s.Name], "kube-prometheus-stack")
			ch, err := loader.Load(kps.chart)
			require.NoError(t, err)
			defaults := asMap(asMap(ch.Values["defaultRules"])["rules"])
			chosen := asMap(value(kps, "defaultRules.rules"))
			require.NotEmpty(t, defaults)
			for group := range defaults {
				_, ok := chosen[group]
				assert.True(t, ok, "the chart's rule group %s is left to its default: choose it in monitoring.ChartRuleGroups", group)
				assert.Contains(t, string(doc), "| `"+group+"` |", "docs/alerts.md explains the choice for %s", group)
			}
			for group := range chosen {
				_, ok := defaults[group]
				assert.True(t, ok, "%s is not a rule group of this chart", group)
			}

			_, alerts := chartRules(t, kps)
			require.NotEmpty(t, alerts)
			for name := range alerts {
				assert.Contains(t, string(doc), "### "+strings.ToLower(name)+"\n", "the kept chart alert %s has a section in docs/alerts.md", name)
			}
			// Gone with their groups, or turned off: the duplicates and the
			// rules that fire for good (KubeJobFailed on every kept failed
			// Job), and the delivery alerts the program replaces.
			for _, gone := range []string{"KubeJobFailed", "KubePodCrashLooping", "KubeHpaMaxedOut", "KubePersistentVolumeFillingUp", "KubeletDown", "NodeFilesystemSpaceFillingUp",
				"KubeAPIErrorBudgetBurn", "etcdMembersDown", "AlertmanagerFailedToSendAlerts", "AlertmanagerClusterFailedToSendAlerts", "PrometheusRemoteWriteBehind"} {
				assert.NotContains(t, alerts, gone)
			}
			for _, kept := range []string{"Watchdog", "TargetDown", "AlertmanagerClusterDown", "PrometheusRuleFailures", "PrometheusOperatorRejectedResources", "ConfigReloaderSidecarErrors", "KubeStateMetricsListErrors"} {
				assert.Contains(t, alerts, kept)
			}
		})
	}
}

// The install script builds the Alertmanager the chart runs, so the real
// Alertmanager tests run the version that will run in the cluster.
func TestTestsRunTheChartsAlertmanager(t *testing.T) {
	_, rels := load(t)
	kps := release(t, rels["prod"], "kube-prometheus-stack")
	am := find(t, kps, "Alertmanager", "kube-prometheus-stack-alertmanager")
	script, err := os.ReadFile(filepath.Join(root, "tests", "imagerun", "install-packages.sh"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^alertmanager_version=(\S+)$`).FindSubmatch(script)
	require.NotNil(t, m)
	assert.Regexp(t, `/prometheus/alertmanager:v`+regexp.QuoteMeta(string(m[1]))+`(@sha256:[0-9a-f]+)?$`, am.Str("spec.image"))
	tools, err := os.ReadFile(filepath.Join(root, "internal", "testtools", "testtools.go"))
	require.NoError(t, err)
	assert.Contains(t, string(tools), `AlertmanagerVersion = "`+string(m[1])+`"`)
}

// chartCase is a promtool test of one chart alert: series of the failure
// (or of health) and the labels it fires with beyond its own.
type chartCase struct {
	alert, why string
	series     [][2]string
	at         string
	fires      []map[string]string
}

// The jobs and namespace the chart's rules select, as it templates them for
// the release kube-prometheus-stack in monitoring.
const (
	amSel   = `job="kube-prometheus-stack-alertmanager",container="alertmanager",namespace="monitoring"`
	promSel = `job="kube-prometheus-stack-prometheus",namespace="monitoring"`
	opSel   = `job="kube-prometheus-stack-operator",namespace="monitoring"`
)

var chartCases = []chartCase{
	{"Watchdog", "always", nil, "1m", []map[string]string{{}}},
	{"TargetDown", "a pod target down for 15 minutes", [][2]string{{`up{job="kubernetes-pods",namespace="data",service="mysql"}`, "0x30"}}, "15m",
		[]map[string]string{{"job": "kubernetes-pods", "namespace": "data", "service": "mysql"}}},
	{"TargetDown", "up", [][2]string{{`up{job="kubernetes-pods",namespace="data",service="mysql"}`, "1x30"}}, "15m", nil},
	{"AlertmanagerFailedReload", "the reload failed", [][2]string{{`alertmanager_config_last_reload_successful{` + amSel + `,pod="alertmanager-0"}`, "0x30"}}, "15m",
		[]map[string]string{{"job": "kube-prometheus-stack-alertmanager", "container": "alertmanager", "namespace": "monitoring", "pod": "alertmanager-0"}}},
	{"AlertmanagerFailedReload", "reloaded", [][2]string{{`alertmanager_config_last_reload_successful{` + amSel + `,pod="alertmanager-0"}`, "1x30"}}, "15m", nil},
	{"PrometheusRuleFailures", "rule evaluations fail", [][2]string{{`prometheus_rule_evaluation_failures_total{` + promSel + `,pod="prometheus-0",rule_group="moodle-data"}`, "0+1x30"}}, "20m",
		[]map[string]string{{"job": "kube-prometheus-stack-prometheus", "namespace": "monitoring", "pod": "prometheus-0", "rule_group": "moodle-data"}}},
	{"PrometheusRuleFailures", "none fail", [][2]string{{`prometheus_rule_evaluation_failures_total{` + promSel + `,pod="prometheus-0",rule_group="moodle-data"}`, "0x30"}}, "20m", nil},
	{"PrometheusOperatorNotReady", "not ready", [][2]string{{`prometheus_operator_ready{` + opSel + `,controller="prometheus"}`, "0x30"}}, "15m",
		[]map[string]string{{"controller": "prometheus", "namespace": "monitoring"}}},
	{"PrometheusOperatorNotReady", "ready", [][2]string{{`prometheus_operator_ready{` + opSel + `,controller="prometheus"}`, "1x30"}}, "15m", nil},
	{"ConfigReloaderSidecarErrors", "no reload for 15 minutes", [][2]string{{`reloader_last_reload_successful{namespace="monitoring",pod="alertmanager-0",container="config-reloader"}`, "0x30"}}, "20m",
		[]map[string]string{{"namespace": "monitoring", "pod": "alertmanager-0", "container": "config-reloader"}}},
	{"ConfigReloaderSidecarErrors", "reloaded", [][2]string{{`reloader_last_reload_successful{namespace="monitoring",pod="alertmanager-0",container="config-reloader"}`, "1x30"}}, "20m", nil},
	{"KubeStateMetricsListErrors", "every list fails", [][2]string{{`kube_state_metrics_list_total{job="kube-state-metrics",result="error",resource="jobs"}`, "0+10x40"}, {`kube_state_metrics_list_total{job="kube-state-metrics",result="success",resource="jobs"}`, "0x40"}}, "25m",
		[]map[string]string{{}}},
	{"KubeStateMetricsListErrors", "lists succeed", [][2]string{{`kube_state_metrics_list_total{job="kube-state-metrics",result="error",resource="jobs"}`, "0x40"}, {`kube_state_metrics_list_total{job="kube-state-metrics",result="success",resource="jobs"}`, "0+10x40"}}, "25m", nil},
}

func TestKeptChartAlertsFireOnTheirFailure(t *testing.T) {
	_, rels := load(t)
	kps := release(t, rels["prod"], "kube-prometheus-stack")
	groups, alerts := chartRules(t, kps)
	dir := t.TempDir()
	// Every kept rule, as Prometheus would load it.
	b, err := yaml.Marshal(map[string]any{"groups": groups})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "chart-rules.yml"), b, 0o644))
	out, err := exec.Command(promtoolPath(t), "check", "rules", filepath.Join(dir, "chart-rules.yml")).CombinedOutput()
	require.NoError(t, err, "%s", out)

	// One alert of each kept alerting group is tested; annotations are
	// dropped (promtool compares them whole, and they do not decide firing).
	tested := map[string]bool{}
	var stripped []any
	for _, g := range groups {
		var rules []any
		for _, r := range asSlice(g["rules"]) {
			rm := map[string]any{}
			for k, v := range asMap(r) {
				if k != "annotations" {
					rm[k] = v
				}
			}
			rules = append(rules, rm)
		}
		stripped = append(stripped, map[string]any{"name": g["name"], "rules": rules})
	}
	b, err = yaml.Marshal(map[string]any{"groups": stripped})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yml"), b, 0o644))
	var tests []any
	for _, c := range chartCases {
		rule, ok := alerts[c.alert]
		require.True(t, ok, "%s is not a kept chart alert", c.alert)
		var input []any
		for _, s := range c.series {
			input = append(input, map[string]any{"series": s[0], "values": s[1]})
		}
		exp := []any{}
		for _, l := range c.fires {
			labels := map[string]string{}
			for k, v := range asMap(rule["labels"]) {
				labels[k] = v.(string)
			}
			for k, v := range l {
				labels[k] = v
			}
			exp = append(exp, map[string]any{"exp_labels": labels})
		}
		if c.fires != nil {
			tested[c.alert] = true
		}
		tests = append(tests, map[string]any{"name": c.alert + ": " + c.why, "interval": "1m", "input_series": input,
			"alert_rule_test": []any{map[string]any{"eval_time": c.at, "alertname": c.alert, "exp_alerts": exp}}})
	}
	b, err = yaml.Marshal(map[string]any{"rule_files": []string{"rules.yml"}, "evaluation_interval": "1m", "tests": tests})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tests.yml"), b, 0o644))
	cmd := exec.Command(promtoolPath(t), "test", "rules", "tests.yml")
	cmd.Dir = dir
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	// Each kept group with alerts has a tested alert.
	var untested []string
	for _, g := range groups {
		has, ok := false, false
		for _, r := range asSlice(g["rules"]) {
			if name, isAlert := asMap(r)["alert"].(string); isAlert {
				has = true
				ok = ok || tested[name]
			}
		}
		if has && !ok {
			untested = append(untested, g["name"].(string))
		}
	}
	sort.Strings(untested)
	assert.Empty(t, untested, "kept alerting groups without a tested alert")
}
