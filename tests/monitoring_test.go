package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/render"
	"github.com/fieldcert/moodle-aks/stacks"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMonitoringStack(t *testing.T) {
	for _, tc := range []struct {
		stack, retention, storage string
		replicas                  float64
	}{
		{"dev", "7d", "20Gi", 1},
		{"prod", "30d", "200Gi", 2},
	} {
		t.Run(tc.stack, func(t *testing.T) {
			rec := runStack(t, tc.stack, "")
			rel, ok := rec.Named("kubernetes:helm.sh/v3:Release", "monitoring-stack")
			require.True(t, ok)
			assert.Equal(t, tc.retention, rel.Input("values.prometheus.prometheusSpec.retention"))
			assert.Equal(t, tc.storage, rel.Input("values.prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.resources.requests.storage"))
			assert.Equal(t, tc.replicas, rel.Input("values.alertmanager.alertmanagerSpec.replicas"))
			_, ok = rec.Named("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "monitoring-rules")
			assert.True(t, ok)
			am, _ := rec.Named("kubernetes:core/v1:Secret", "monitoring-alertmanager-config")
			assert.Equal(t, map[string]any{"alertmanager.yaml": "[secret]"}, am.Input("stringData"), "SMTP and webhook settings stay secret")

			web, _ := rec.Named("kubernetes:apps/v1:Deployment", "moodle-web")
			containers := web.Input("spec.template.spec.containers").([]any)
			require.Len(t, containers, 2)
			assert.Equal(t, "apache-exporter", containers[1].(map[string]any)["name"], "the web pods export Apache metrics")
			assert.Equal(t, "true", web.Input("spec.template.metadata.annotations").(map[string]any)["prometheus.io/scrape"])
		})
	}
}

func TestRenderedMonitoring(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		r := renderCLI(t, stacks.Program, "-stack", stack)
		require.Equal(t, render.ExitOK, r.code, r.stderr)
		for _, f := range []string{
			"prometheusrule-moodle-alerts.yaml", "servicemonitor-istiod.yaml",
			"configmap-dashboard-moodle-overview.yaml", "configmap-dashboard-data-stores.yaml", "configmap-dashboard-storage.yaml",
			"secret-alertmanager-config.yaml", "secret-grafana-admin.yaml",
		} {
			_, err := os.Stat(filepath.Join(r.out, "kubernetes", infra.NamespaceMonitoring, f))
			assert.NoError(t, err, "%s: %s", stack, f)
		}
	}
}

// TestMonitoringWaitsForIstiodAndNoPolicyNamesPrometheus: istiod's
// injection webhook is failurePolicy Fail, so the chart's pods must not be
// created before it answers; and Prometheus has no sidecar (no mesh
// identity), so an AuthorizationPolicy naming its principal would only
// pretend to allow something.
func TestMonitoringWaitsForIstiodAndNoPolicyNamesPrometheus(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		rec := runStack(t, stack, "")
		rel, ok := rec.Named("kubernetes:helm.sh/v3:Release", "monitoring-stack")
		require.True(t, ok)
		istiod, ok := rec.Named("kubernetes:helm.sh/v3:Release", "mesh-istiod")
		require.True(t, ok)
		// The mesh is ready with its last release, the gateway, which itself
		// waits for istiod.
		gateway, ok := rec.Named("kubernetes:helm.sh/v3:Release", "mesh-gateway")
		require.True(t, ok)
		assert.Contains(t, gateway.Dependencies, istiod.URN)
		assert.Contains(t, rel.Dependencies, gateway.URN, "%s: the monitoring release waits for the mesh (istiod first)", stack)
		for _, ap := range rec.OfType("kubernetes:security.istio.io/v1:AuthorizationPolicy") {
			b, err := json.Marshal(ap.Inputs)
			require.NoError(t, err)
			assert.NotContains(t, string(b), "/ns/monitoring/sa/", "%s: %s names a monitoring service account", stack, ap.Name)
		}
	}
}
