package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/render"
	"github.com/fieldcert/moodle-aks/stacks"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The cut-over run renders clean against the policy pack, with the Jobs,
// the egress to the old database and no plain password.
func TestMigrationRendersWithPolicy(t *testing.T) {
	r := renderCLI(t, stacks.Program, "-stack", "dev", "-config", "testdata/migration.yaml")
	require.Equal(t, render.ExitOK, r.code, r.stderr)
	for _, f := range []string{
		"moodle/job-migrate-files-4.yaml", "moodle/job-migrate-db-4.yaml", "moodle/job-migrate-upgrade-4.yaml", "integrations/job-loadtest-1.yaml",
		"moodle/persistentvolumeclaim-migration-source.yaml",
	} {
		b, err := os.ReadFile(filepath.Join(r.out, "kubernetes", f))
		require.NoError(t, err, f)
		assert.NotContains(t, string(b), "old-database-password", f)
	}
	lt, err := os.ReadFile(filepath.Join(r.out, "kubernetes", "integrations", "job-loadtest-1.yaml"))
	require.NoError(t, err)
	assert.Contains(t, string(lt), "value: 20.50.60.70", "loadTest.targetIp overrides the ingress IP")
	se, err := os.ReadFile(filepath.Join(r.out, "kubernetes", "moodle", "serviceentry-address-10-40-0-6-3306.yaml"))
	require.NoError(t, err, "Moodle's namespace may reach the old database, and only it")
	assert.Contains(t, string(se), "10.40.0.6")
	np, err := os.ReadFile(filepath.Join(r.out, "kubernetes", "moodle", "networkpolicy-allow-out-internet.yaml"))
	require.NoError(t, err)
	assert.Contains(t, string(np), "port: 3306", "the network policy lets the import out on the database port")
}

// The committed stacks run no migration: it is switched on per run.
func TestStacksRunNoMigrationByDefault(t *testing.T) {
	for _, stack := range []string{"dev", "prod", "prod-eu"} {
		rec := runStack(t, stack, "")
		for _, r := range rec.OfType("kubernetes:batch/v1:Job") {
			assert.NotRegexp(t, `^(migrate|loadtest)-`, r.Input("metadata.name"), stack)
		}
		_, ok := rec.Named("kubernetes:core/v1:PersistentVolume", "migration-source-pv")
		assert.False(t, ok, "%s mounts no old moodledata", stack)
	}
}

// The runbook walks through the real commands and config keys.
func TestMigrationRunbook(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "docs", "migration.md"))
	require.NoError(t, err)
	doc := string(b)
	for _, s := range []string{
		"migration.run", "migration.importDatabase", "loadTest.run", "migrationDbPassword", "dnsTtlSeconds", "maintenanceMode",
		"job/migrate-files-", "job/migrate-db-", "job/migrate-upgrade-", "job/loadtest-", "PASS", "FAIL", "Rollback",
	} {
		assert.Contains(t, doc, s)
	}
	// Every `pulumi config set` in the runbook names a declared key.
	sets := regexp.MustCompile(`pulumi config set (?:--secret |--path )*'?([A-Za-z]+)`).FindAllStringSubmatch(doc, -1)
	assert.GreaterOrEqual(t, len(sets), 5, "the runbook gives the commands, not just prose")
	for _, m := range sets {
		_, ok := infra.LookupKey(m[1])
		assert.True(t, ok, "docs/migration.md sets %q, which is not a config key", m[1])
	}
	assert.False(t, strings.Contains(doc, "TODO"))

	// The Grafana panels it says to watch exist on the dashboard.
	dash, err := os.ReadFile(filepath.Join(root, "components", "monitoring", "dashboards", "moodle-overview.json"))
	require.NoError(t, err)
	for _, panel := range []string{"Web pods vs autoscaler", "Pending pods", "Nodes per pool", "Latency p50 / p95", "Errors (5xx ratio)"} {
		assert.Contains(t, doc, "*"+panel+"*")
		assert.Contains(t, string(dash), `"title": "`+panel, "the dashboard has %q", panel)
	}
}

// A wrong migration config stops before anything is registered, naming
// every key, and never echoes the password.
func TestMigrationBadConfigExitsTwo(t *testing.T) {
	r := renderCLI(t, stacks.Program, "-stack", "dev", "-config", "testdata/migration-bad.yaml")
	assert.Equal(t, render.ExitInvalid, r.code)
	assert.Contains(t, r.stderr, "moodle-aks:migrationDbPassword")
	assert.Contains(t, r.stderr, "moodle-aks:migration.filesPath")
	assert.Contains(t, r.stderr, "moodle-aks:loadTest.duration")
	assert.NotContains(t, r.stderr, "hunter2-in-plain-text")
	assert.Empty(t, r.resources)
}

// The migration's Jobs wait for the site's own upgrade Job (never two
// upgrades at once), and their dependencies are the same on every run.
func TestMigrationWaitsForTheSiteUpgrade(t *testing.T) {
	deps := func() map[string][]string {
		out := map[string][]string{}
		for _, r := range runStack(t, "dev", "testdata/migration.yaml").OfType("kubernetes:batch/v1:Job") {
			out[r.Name] = r.Dependencies
		}
		return out
	}
	first := deps()
	for _, job := range []string{"migration-files", "migration-db", "migration-upgrade", "migration-loadtest"} {
		require.Contains(t, first, job)
		assert.True(t, slices.ContainsFunc(first[job], func(d string) bool { return strings.HasSuffix(d, "::moodle-upgrade") }),
			"%s waits for the site's upgrade Job", job)
	}
	for i := 0; i < 5; i++ {
		assert.Equal(t, first, deps(), "dependencies do not vary between runs")
	}
}
