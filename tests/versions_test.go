package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldcert/moodle-aks/internal/render"
	"github.com/fieldcert/moodle-aks/stacks"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// withConfig writes Pulumi.<stack>.yaml plus extra config lines to a
// temporary stack file.
func withConfig(t *testing.T, stack string, lines ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Pulumi."+stack+".yaml"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "Pulumi."+stack+".yaml")
	for _, l := range lines {
		b = append(b, []byte("  "+l+"\n")...)
	}
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path
}

func managedCluster(t *testing.T, r renderResult) map[string]any {
	t.Helper()
	for _, res := range r.resources {
		if strings.HasSuffix(res.Type, ":ManagedCluster") {
			return res.Inputs
		}
	}
	require.Fail(t, "no managed cluster rendered")
	return nil
}

// TestRenderRefusesAnEndedKubernetesVersion is the issue's own case: on
// 2026-12-01 a stack on 1.33 without long-term support exits 2 naming
// kubernetesVersion and the end date, and nothing is rendered; with the
// LTS plan it renders, and AKS is sent both the plan and the Premium tier.
func TestRenderRefusesAnEndedKubernetesVersion(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		path := withConfig(t, stack, `moodle-aks:kubernetesVersion: "1.33"`)
		r := renderCLI(t, stacks.Program, "-stack", stack, "-config", path, "-date", "2026-12-01")
		require.Equal(t, render.ExitInvalid, r.code, r.stderr)
		assert.Contains(t, r.stderr, `config moodle-aks:kubernetesVersion: "1.33": AKS support ended on 2026-07-31`)
		assert.Contains(t, r.stderr, "kubernetesSupportPlan AKSLongTermSupport")
		assert.Empty(t, r.resources, "nothing is rendered")

		path = withConfig(t, stack, `moodle-aks:kubernetesVersion: "1.33"`, "moodle-aks:kubernetesSupportPlan: AKSLongTermSupport")
		r = renderCLI(t, stacks.Program, "-stack", stack, "-config", path, "-date", "2026-12-01")
		require.Equal(t, render.ExitOK, r.code, r.stderr)
		mc := managedCluster(t, r)
		assert.Equal(t, "1.33", mc["kubernetesVersion"])
		assert.Equal(t, "AKSLongTermSupport", mc["supportPlan"])
		assert.Equal(t, "Premium", mc["sku"].(map[string]any)["tier"], "AKS offers LTS on the Premium tier only")
	}
}

// TestRenderDateDecidesAndIsInjectable: the committed stacks render on
// the day the issue was tried, warn in the last 60 days of 1.35, and are
// refused the day after it ends; the -date flag leaves the environment as
// it found it.
func TestRenderDateDecidesAndIsInjectable(t *testing.T) {
	r := renderCLI(t, stacks.Program, "-stack", "prod", "-date", "2026-12-01")
	require.Equal(t, render.ExitOK, r.code, r.stderr)
	mc := managedCluster(t, r)
	assert.Equal(t, "1.35", mc["kubernetesVersion"])
	assert.Equal(t, "KubernetesOfficial", mc["supportPlan"])
	assert.Equal(t, "Standard", mc["sku"].(map[string]any)["tier"])
	assert.Contains(t, r.stderr, "render prod: warning: config moodle-aks:istioVersion: Istio 1.30 reached end of life on 2026-11-30")
	assert.NotContains(t, r.stderr, "kubernetesVersion", "1.35 is well inside its support on 2026-12-01")

	r = renderCLI(t, stacks.Program, "-stack", "prod", "-date", "2027-02-15")
	require.Equal(t, render.ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, `render prod: warning: config moodle-aks:kubernetesVersion: "1.35": AKS community support (KubernetesOfficial) ends on 2027-03-31 (in 44 days)`)

	r = renderCLI(t, stacks.Program, "-stack", "prod", "-date", "2027-04-01")
	require.Equal(t, render.ExitInvalid, r.code, r.stderr)
	assert.Contains(t, r.stderr, `config moodle-aks:kubernetesVersion: "1.35": AKS support ended on 2027-03-31`)
	assert.Equal(t, testDate, os.Getenv("MOODLE_AKS_DATE"), "the flag does not leak into later renders")

	r = renderCLI(t, stacks.Program, "-stack", "prod", "-date", "April 1st")
	require.Equal(t, render.ExitInvalid, r.code)
	assert.Contains(t, r.stderr, `MOODLE_AKS_DATE: "April 1st" is not a date`)
}

// TestRenderRefusesIstioThatDoesNotSupportTheCluster: Istio 1.28 stops at
// Kubernetes 1.34, and the add-on's asm-1-27 can no longer be installed.
func TestRenderRefusesIstioThatDoesNotSupportTheCluster(t *testing.T) {
	path := withConfig(t, "dev", "moodle-aks:istioVersion: 1.28.3")
	r := renderCLI(t, stacks.Program, "-stack", "dev", "-config", path)
	require.Equal(t, render.ExitInvalid, r.code, r.stderr)
	assert.Contains(t, r.stderr, "config moodle-aks:istioVersion: Istio 1.28 supports Kubernetes 1.30 to 1.34, not kubernetesVersion 1.35")

	r = renderCLI(t, stacks.Program, "-stack", "addon", "-config", "testdata/addon.yaml")
	require.Equal(t, render.ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "istioAddonRevision: the AKS Istio add-on asm-1-30 reaches end of life on 2026-12-31 (expected)")
	b, err := os.ReadFile("testdata/addon.yaml")
	require.NoError(t, err)
	path = filepath.Join(t.TempDir(), "addon.yaml")
	require.NoError(t, os.WriteFile(path, []byte(strings.ReplaceAll(string(b), "asm-1-30", "asm-1-27")), 0o644))
	r = renderCLI(t, stacks.Program, "-stack", "addon", "-config", path)
	require.Equal(t, render.ExitInvalid, r.code, r.stderr)
	assert.Contains(t, r.stderr, "config moodle-aks:istioAddonRevision: the AKS Istio add-on asm-1-27 reached end of life on 2026-05-31 and can no longer be installed; choose asm-1-30")
}
