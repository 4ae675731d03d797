package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldcert/moodle-aks/components/monitoring"
	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/render"
	"github.com/fieldcert/moodle-aks/internal/testtools"
	"github.com/fieldcert/moodle-aks/stacks"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stackAlertmanagerConfig is the alertmanager.yaml a stack's config
// renders (secrets are the renderer's placeholders), written to a file.
func stackAlertmanagerConfig(t *testing.T, stack string) (*infra.Config, string) {
	t.Helper()
	sc, err := render.LoadStackConfig(root, stack, "")
	require.NoError(t, err)
	cfg, err := infra.Load(sc.Project, stack, infra.MapSource{Values: sc.Values, Secrets: sc.Secrets})
	require.NoError(t, err)
	conf, err := monitoring.AlertmanagerConfig(stacks.Routing(cfg))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "alertmanager.yml")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o600))
	return cfg, path
}

// routesTo asks the chart's amtool which receivers an alert with these
// labels reaches under the configuration.
func routesTo(t *testing.T, amtool, config string, labels map[string]string) []string {
	t.Helper()
	args := []string{"config", "routes", "test", "--config.file=" + config}
	for k, v := range labels {
		args = append(args, k+"="+v)
	}
	out, err := exec.Command(amtool, args...).CombinedOutput()
	require.NoError(t, err, "amtool %v: %s", args, out)
	return strings.Split(strings.TrimSpace(string(out)), ",")
}

// Each committed stack's Alertmanager configuration, as amtool (the
// chart's version) reads it: valid, and every alert reaches the receiver
// the routing table of docs/alerts.md says, nothing of severity warning or
// critical reaches "null", Watchdog reaches the heartbeat, and a report of
// failed notifications reaches every other kind of receiver.
func TestEveryAlertReachesItsReceiver(t *testing.T) {
	_, amtool := testtools.Alertmanager(t)
	for _, stack := range []string{"dev", "prod", "prod-eu"} {
		t.Run(stack, func(t *testing.T) {
			cfg, config := stackAlertmanagerConfig(t, stack)
			out, err := exec.Command(amtool, "check-config", config).CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Contains(t, string(out), "SUCCESS")

			kinds := cfg.AlertReceiverKinds()
			require.NotEmpty(t, kinds, "%s has receivers", stack)
			if cfg.Environment == infra.Prod {
				assert.GreaterOrEqual(t, len(kinds), 2, "prod reaches a person two ways")
			}
			// The routing table (docs/alerts.md "Routing"), restated.
			want := func(labels map[string]string) string {
				switch {
				case labels["alertname"] == "Watchdog" && cfg.AlertHeartbeatURL != "":
					return "heartbeat"
				case labels["alertname"] == monitoring.NotificationsFailingAlert && labels["integration"] != "" && len(kinds) > 1:
					return "fallback-" + labels["integration"]
				case labels["severity"] == "critical":
					return "critical"
				case labels["severity"] == "warning":
					return "warning"
				}
				return "null"
			}
			var cases []map[string]string
			topo := monitoring.DataTopology{MySQLMembers: cfg.MysqlMembers, RedisShards: cfg.RedisSessionShards, RedisFollowers: cfg.RedisSessionFollowers()}
			for _, a := range monitoring.Alerts(cfg.UserPool.MaxCount, topo) {
				cases = append(cases, map[string]string{"alertname": a.Name, "severity": a.Severity, "component": a.Component, "namespace": "data"})
			}
			for _, k := range kinds {
				cases = append(cases, map[string]string{"alertname": monitoring.NotificationsFailingAlert, "severity": "critical", "component": "platform", "integration": k})
			}
			// The kept chart rules carry severity and no component.
			cases = append(cases,
				map[string]string{"alertname": "Watchdog", "severity": "none", "namespace": "monitoring"},
				map[string]string{"alertname": "InfoInhibitor", "severity": "none", "namespace": "moodle"},
				map[string]string{"alertname": "KubeStateMetricsListErrors", "severity": "critical", "namespace": "monitoring"},
				map[string]string{"alertname": "TargetDown", "severity": "warning", "namespace": "data", "job": "kubernetes-pods"},
			)
			for _, labels := range cases {
				got := routesTo(t, amtool, config, labels)
				assert.Equal(t, []string{want(labels)}, got, "%s: %v", stack, labels)
				if labels["severity"] == "critical" || labels["severity"] == "warning" {
					assert.NotContains(t, got, "null", "%s: %v reaches nobody", stack, labels)
				}
			}
			if cfg.Environment == infra.Prod {
				assert.Equal(t, []string{"heartbeat"}, routesTo(t, amtool, config, map[string]string{"alertname": "Watchdog", "severity": "none"}))
			}
		})
	}
}

// The old prod configuration is refused at render, naming the key: mail
// through a submission port without a login, the only kind of receiver,
// and no heartbeat.
func TestRenderRefusesUndeliverableProdAlerts(t *testing.T) {
	file := stackFileWith(t, "prod", map[string]string{
		"smtpHost": "smtp.office365.com:587", "smtpUsername": `""`,
	})
	r := renderCLI(t, stacks.Program, "-stack", "prod", "-config", file)
	assert.Equal(t, render.ExitInvalid, r.code)
	assert.Contains(t, r.stderr, `config moodle-aks:smtpUsername: is empty, but smtpHost "smtp.office365.com:587" is a message submission port`)
}
