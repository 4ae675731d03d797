package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fieldcert/moodle-aks/internal/render"
	"github.com/fieldcert/moodle-aks/stacks"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// upgradeStep is one numbered step of docs/upgrade-versions.md with its
// config commands: {"set", key, value} or {"rm", key}.
type upgradeStep struct {
	title string
	cmds  [][]string
}

var (
	stepRE      = regexp.MustCompile(`^(\d+)\. \*\*(.+?)\*\*`)
	configCmdRE = regexp.MustCompile(`^\s*pulumi config (set|rm) (\S+)(?: (\S+))?\s*$`)
	// A version shown as "1.29.<latest patch>" stands for any patch.
	patchRE = regexp.MustCompile(`<latest patch>`)
)

func upgradeSteps(t *testing.T) []upgradeStep {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docs", "upgrade-versions.md"))
	require.NoError(t, err)
	var steps []upgradeStep
	for _, line := range strings.Split(string(b), "\n") {
		if m := stepRE.FindStringSubmatch(line); m != nil {
			steps = append(steps, upgradeStep{title: m[1] + ". " + m[2]})
			continue
		}
		if m := configCmdRE.FindStringSubmatch(line); m != nil {
			require.NotEmpty(t, steps, "a config command before the first step: %q", line)
			cmd := []string{m[1], m[2]}
			if m[1] == "set" {
				require.NotEmpty(t, m[3], "%q sets no value", line)
				cmd = append(cmd, patchRE.ReplaceAllString(m[3], "0"))
			}
			steps[len(steps)-1].cmds = append(steps[len(steps)-1].cmds, cmd)
		}
	}
	require.GreaterOrEqual(t, len(steps), 6, "the runbook's steps were found")
	return steps
}

// releaseVersions are the rendered Helm releases' chart versions by chart.
func releaseVersions(r renderResult) map[string]string {
	out := map[string]string{}
	for _, res := range ofType(r.resources, "kubernetes:helm.sh/v3:Release") {
		chart, _ := res.Inputs["chart"].(string)
		version, _ := res.Inputs["version"].(string)
		out[chart] = version
	}
	return out
}

// TestUpgradeRunbookRendersAtEveryStep walks docs/upgrade-versions.md on
// the day it was written: the stack's config after each step's commands
// (written as the CLI writes them) must render (exit 0) with exactly the
// versions the step set; the first step is on LTS and the Premium tier;
// the last leaves the committed stack file and its rendered resources.
func TestUpgradeRunbookRendersAtEveryStep(t *testing.T) {
	steps := upgradeSteps(t)
	for _, stack := range []string{"dev", "prod"} {
		t.Run(stack, func(t *testing.T) {
			committed, err := os.ReadFile(filepath.Join(root, "Pulumi."+stack+".yaml"))
			require.NoError(t, err)
			f := &cliStackFile{}
			require.NoError(t, yaml.Unmarshal(committed, &f.doc))
			var original map[string]any
			require.NoError(t, yaml.Unmarshal(committed, &original))
			var last renderResult
			for i, step := range steps {
				for _, c := range step.cmds {
					if c[0] == "set" {
						f.set(t, c[1], c[2], false, false)
					} else {
						delete(f.config(), "moodle-aks:"+c[1])
					}
				}
				out, err := yaml.Marshal(f.doc)
				require.NoError(t, err)
				path := filepath.Join(t.TempDir(), "Pulumi."+stack+".yaml")
				require.NoError(t, os.WriteFile(path, out, 0o644))
				r := renderCLI(t, stacks.Program, "-stack", stack, "-config", path, "-date", "2026-12-01")
				require.Equal(t, render.ExitOK, r.code, "%s after step %s: %s", stack, step.title, r.stderr)
				mc := managedCluster(t, r)
				cfg := f.config()
				if v, ok := cfg["moodle-aks:kubernetesVersion"]; ok {
					assert.Equal(t, v, mc["kubernetesVersion"], step.title)
				}
				versions := releaseVersions(r)
				for key, chart := range map[string]string{"istioVersion": "istiod", "certManagerVersion": "cert-manager", "prometheusChartVersion": "kube-prometheus-stack"} {
					if v, ok := cfg["moodle-aks:"+key]; ok {
						assert.Equal(t, v, versions[chart], "%s: %s", step.title, key)
					}
				}
				if i == 0 {
					assert.Equal(t, "1.33", mc["kubernetesVersion"])
					assert.Equal(t, "AKSLongTermSupport", mc["supportPlan"], "step 1 puts the ended minor on LTS")
					assert.Equal(t, "Premium", mc["sku"].(map[string]any)["tier"])
					assert.Equal(t, "1.28.3", versions["istiod"], "step 1 keeps the running Istio")
				}
				last = r
			}
			assert.Equal(t, original["config"], f.config(), "the last step leaves the committed stack config")
			got, err := os.ReadFile(filepath.Join(last.out, "resources.json"))
			require.NoError(t, err)
			want, err := os.ReadFile(filepath.Join(root, "rendered", stack, "resources.json"))
			require.NoError(t, err)
			assert.True(t, string(got) == string(want), "after the last step the stack renders exactly as committed")
		})
	}
}
