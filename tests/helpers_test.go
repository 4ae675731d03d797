// Package tests holds the tests that cross packages: the whole region stack
// under mocks, the offline renderer's contract, the policy pack over real
// stacks, and the project files (Pulumi.yaml, README, CI) kept in step.
package tests

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/mocks"
	"github.com/fieldcert/moodle-aks/internal/render"
	"github.com/fieldcert/moodle-aks/policy/rules"
	"github.com/fieldcert/moodle-aks/stacks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"
)

// root is the project folder, where Pulumi.yaml is.
const root = ".."

// testDate is the deploy date every test here renders on: the version
// checks hold the stacks against the support calendar on that day, so that
// no test starts failing when a pinned version reaches its end (the CI
// render of the committed stacks uses the real date, on purpose).
const testDate = "2026-12-01"

func TestMain(m *testing.M) {
	if err := os.Setenv(infra.DateEnv, testDate); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// runStack runs the region stack program for a stack name (its
// Pulumi.<stack>.yaml) or, when file is set, for that stack file.
func runStack(t testing.TB, stack, file string) *mocks.Recorder {
	t.Helper()
	sc, err := render.LoadStackConfig(root, stack, file)
	require.NoError(t, err)
	rec, err := mocks.Run(sc.Project, stack, sc.Values, sc.Secrets, stacks.Program)
	require.NoError(t, err)
	return rec
}

// renderResult is what one run of the renderer's command line left behind.
type renderResult struct {
	code       int
	stdout     string
	stderr     string
	out        string
	resources  []rules.Resource
	violations []rules.Violation
}

// renderCLI runs the renderer's command line in-process with a program.
func renderCLI(t testing.TB, program pulumi.RunFunc, args ...string) renderResult {
	t.Helper()
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := render.Main(append([]string{"-dir", root, "-out", out}, args...), program, &stdout, &stderr)
	r := renderResult{code: code, stdout: stdout.String(), stderr: stderr.String(), out: out}
	if b, err := os.ReadFile(filepath.Join(out, "resources.json")); err == nil {
		require.NoError(t, json.Unmarshal(b, &r.resources))
	}
	if b, err := os.ReadFile(filepath.Join(out, "policy.json")); err == nil {
		require.NoError(t, json.Unmarshal(b, &r.violations))
	}
	return r
}

func ofType(rs []rules.Resource, typ string) []rules.Resource {
	var out []rules.Resource
	for _, r := range rs {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}
