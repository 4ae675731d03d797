package monitoring

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// promtool is Prometheus' own rule checker and evaluator (Debian's
// prometheus package, installed by tests/imagerun/install-packages.sh):
// the rules are parsed and evaluated by Prometheus, not by a model of it.
func promtool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	out, err := exec.Command("bash", "../../tests/imagerun/install-packages.sh").CombinedOutput()
	require.NoError(t, err, "promtool (Debian's prometheus package) is needed: %s", out)
	p, err := exec.LookPath("promtool")
	require.NoError(t, err)
	return p
}

func writeRules(t *testing.T, dir string) string {
	t.Helper()
	b, err := yaml.Marshal(map[string]any{"groups": ruleGroups(Alerts(40, prodData))})
	require.NoError(t, err)
	path := filepath.Join(dir, "rules.yml")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path
}

func TestPromtoolAcceptsEveryRule(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command(promtool(t), "check", "rules", writeRules(t, dir)).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "SUCCESS")
}

// The backup alerts fire on what a backup CronJob's series say (as
// kube-state-metrics exports them, docs/metrics/workload/cronjob-metrics.md)
// and stay quiet otherwise; time 0 is when the series start.
func TestBackupAlertsFireOnlyWhenBackupsStop(t *testing.T) {
	dir := t.TempDir()
	writeRules(t, dir)
	tests := `rule_files: [rules.yml]
evaluation_interval: 5m
tests:
# Last success at time 0: quiet for 26 hours, then MySQLBackupStale.
- interval: 2m
  input_series:
  - series: 'kube_cronjob_status_last_successful_time{namespace="data",cronjob="mysql-backup"}'
    values: '0x900'
  - series: 'kube_cronjob_created{namespace="data",cronjob="mysql-backup"}'
    values: '0x900'
  alert_rule_test:
  - {eval_time: 25h, alertname: MySQLBackupStale, exp_alerts: []}
  - eval_time: 27h
    alertname: MySQLBackupStale
    exp_alerts: [{exp_labels: {severity: critical, component: jobs}, exp_annotations: @MySQLBackupStale@}]
# A success two hours before: quiet.
- interval: 2m
  input_series:
  - series: 'kube_cronjob_status_last_successful_time{namespace="data",cronjob="mysql-backup"}'
    values: '90000x900'
  - series: 'kube_cronjob_created{namespace="data",cronjob="mysql-backup"}'
    values: '0x900'
  alert_rule_test:
  - {eval_time: 27h, alertname: MySQLBackupStale, exp_alerts: []}
# Never succeeded (kube-state-metrics exports no last_successful_time):
# quiet while the CronJob is younger than 26 hours, then it fires.
- interval: 2m
  input_series:
  - series: 'kube_cronjob_created{namespace="data",cronjob="files-snapshot"}'
    values: '0x900'
  alert_rule_test:
  - {eval_time: 25h, alertname: FilesBackupStale, exp_alerts: []}
  - eval_time: 27h
    alertname: FilesBackupStale
    exp_alerts: [{exp_labels: {severity: critical, component: jobs, namespace: data, cronjob: files-snapshot}, exp_annotations: @FilesBackupStale@}]
- interval: 2m
  input_series:
  - series: 'kube_cronjob_created{namespace="data",cronjob="files-snapshot"}'
    values: '90000x900'
  alert_rule_test:
  - {eval_time: 27h, alertname: FilesBackupStale, exp_alerts: []}
# Suspended: after an hour; not suspended: never.
- interval: 2m
  input_series:
  - series: 'kube_cronjob_spec_suspend{namespace="data",cronjob="mysql-backup"}'
    values: '1x60'
  - series: 'kube_cronjob_spec_suspend{namespace="data",cronjob="files-snapshot"}'
    values: '0x60'
  alert_rule_test:
  - {eval_time: 30m, alertname: BackupCronJobSuspended, exp_alerts: []}
  - eval_time: 70m
    alertname: BackupCronJobSuspended
    exp_alerts: [{exp_labels: {severity: critical, component: jobs, namespace: data, cronjob: mysql-backup}, exp_annotations: @BackupCronJobSuspended@}]
`
	// Each alert's annotations, as the rules carry them (JSON is YAML).
	for _, a := range Alerts(40, prodData) {
		ann, err := json.Marshal(map[string]string{"summary": a.Summary, "runbook": a.Runbook, "runbook_url": "docs/alerts.md#" + strings.ToLower(a.Name)})
		require.NoError(t, err)
		tests = strings.ReplaceAll(tests, "@"+a.Name+"@", string(ann))
	}
	require.NotContains(t, tests, "@", "every alert the test names exists")
	path := filepath.Join(dir, "tests.yml")
	require.NoError(t, os.WriteFile(path, []byte(tests), 0o644))
	cmd := exec.Command(promtool(t), "test", "rules", "tests.yml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.True(t, strings.Contains(string(out), "SUCCESS"), "%s", out)
}
