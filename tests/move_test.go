package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldcert/moodle-aks/internal/render"
	"github.com/fieldcert/moodle-aks/policy/rules"
	"github.com/fieldcert/moodle-aks/stacks"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// stackFileWith writes Pulumi.<stack>.yaml with extra config values (YAML
// values, keys without the project) and returns its path.
func stackFileWith(t *testing.T, stack string, extra map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Pulumi."+stack+".yaml"))
	require.NoError(t, err)
	var f map[string]any
	require.NoError(t, yaml.Unmarshal(b, &f))
	cfg := f["config"].(map[string]any)
	for k, v := range extra {
		var val any
		require.NoError(t, yaml.Unmarshal([]byte(v), &val))
		cfg["moodle-aks:"+k] = val
	}
	out, err := yaml.Marshal(f)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "Pulumi."+stack+".yaml")
	require.NoError(t, os.WriteFile(path, out, 0o644))
	return path
}

func find(rs []rules.Resource, typ, name string) (rules.Resource, bool) {
	for _, r := range rs {
		if r.Type == typ && r.Name == name {
			return r, true
		}
	}
	return rules.Resource{}, false
}

func webDatabase(t *testing.T, rs []rules.Resource) string {
	t.Helper()
	d, ok := find(rs, "kubernetes:apps/v1:Deployment", "moodle-web")
	require.True(t, ok)
	return d.Input("spec.template.metadata.annotations").(map[string]any)["moodle.fieldcert/database"].(string)
}

// TestDatabaseMoveFromTheSingleInstance walks docs/database-move.md on
// prod, against the render of the versions before the cluster (the
// single-instance StatefulSet data/mysql, tests/testdata/single-instance).
func TestDatabaseMoveFromTheSingleInstance(t *testing.T) {
	previous := filepath.Join(root, "tests", "testdata", "single-instance")
	old, err := os.ReadFile(filepath.Join(previous, "resources.json"))
	require.NoError(t, err)
	require.Contains(t, string(old), `"name": "mysql-statefulset"`)

	// Upgrading the program alone would drop the database's disk.
	r := renderCLI(t, stacks.Program, "-stack", "prod", "-previous", previous)
	require.Equal(t, render.ExitInvalid, r.code, r.stderr)
	assert.Contains(t, r.stderr, "config moodle-aks:databaseMove: this render drops the single-instance MySQL (StatefulSet data/mysql), whose disk data-mysql-0 holds the site's database")
	assert.NoFileExists(t, filepath.Join(r.out, "resources.json"), "nothing is written")

	// Step 1: keep it beside the new cluster; Moodle stays on it.
	keep := stackFileWith(t, "prod", map[string]string{"databaseMove": "{keepSingleInstance: true}"})
	r = renderCLI(t, stacks.Program, "-stack", "prod", "-config", keep, "-previous", previous)
	require.Equal(t, render.ExitOK, r.code, r.stderr)
	sts, ok := find(r.resources, "kubernetes:apps/v1:StatefulSet", "mysql-statefulset")
	require.True(t, ok)
	assert.True(t, strings.HasSuffix(sts.URN, "moodle:mysql:MySQL$kubernetes:apps/v1:StatefulSet::mysql-statefulset"), "the same URN: Pulumi neither replaces nor deletes it")
	assert.True(t, sts.Protect)
	_, ok = find(r.resources, "kubernetes:ps.percona.com/v1:PerconaServerMySQL", "mysql-cluster")
	assert.True(t, ok, "the cluster is created beside it")
	assert.Equal(t, "mysql.data.svc.cluster.local:3306", webDatabase(t, r.resources), "Moodle stays on the single instance")
	_, ok = find(r.resources, "kubernetes:batch/v1:Job", "migration-move")
	assert.False(t, ok, "no import yet")
	assert.Empty(t, r.violations, "a moving prod stack passes the policies")
	// The old sessions Redis is gone from the program; Pulumi would stop at
	// it (protected): the render says so and names the command.
	sessions := "urn:pulumi:prod::moodle-aks::moodle:redis:Redis$kubernetes:apps/v1:StatefulSet::redis-sessions"
	assert.Contains(t, r.stderr, "render prod: warning: "+sessions+" is protected in what the stack runs and this program no longer declares it")
	assert.Contains(t, r.stderr, "pulumi state unprotect '"+sessions+"'")
	assert.NotContains(t, r.stderr, "StatefulSet::mysql-statefulset is protected", "the kept single instance is still declared")
	step1 := r.out

	// Step 2 refused outside maintenance: Moodle could write to the
	// single instance after its dump.
	noMaint := stackFileWith(t, "prod", map[string]string{"databaseMove": "{keepSingleInstance: true, importRun: 1}"})
	r = renderCLI(t, stacks.Program, "-stack", "prod", "-config", noMaint, "-previous", step1)
	require.Equal(t, render.ExitInvalid, r.code, r.stderr)
	assert.Contains(t, r.stderr, "config moodle-aks:databaseMove.importRun: imports the single instance while Moodle may still write to it")

	// Step 2: in maintenance, import; Moodle moves to the cluster.
	imp := stackFileWith(t, "prod", map[string]string{"databaseMove": "{keepSingleInstance: true, importRun: 1}", "maintenanceMode": "true"})
	r = renderCLI(t, stacks.Program, "-stack", "prod", "-config", imp, "-previous", step1)
	require.Equal(t, render.ExitOK, r.code, r.stderr)
	job, ok := find(r.resources, "kubernetes:batch/v1:Job", "migration-move")
	require.True(t, ok, "the import Job")
	assert.Equal(t, "move-db-1", job.String("metadata.name"))
	env := map[string]any{}
	for _, e := range job.Input("spec.template.spec.containers").([]any)[0].(map[string]any)["env"].([]any) {
		env[e.(map[string]any)["name"].(string)] = e.(map[string]any)["value"]
	}
	assert.Equal(t, "mysql.data.svc.cluster.local", env["SOURCE_HOST"], "from the single instance")
	up, ok := find(r.resources, "kubernetes:batch/v1:Job", "migration-move-upgrade")
	require.True(t, ok)
	assert.Contains(t, up.Dependencies, job.URN, "Moodle's upgrade runs on the imported database")
	assert.Equal(t, "mysql-haproxy.data.svc.cluster.local:3306", webDatabase(t, r.resources), "the web pods roll onto the cluster's primary")
	_, ok = find(r.resources, "kubernetes:apps/v1:StatefulSet", "mysql-statefulset")
	assert.True(t, ok, "the single instance stays until it is retired")
	assert.NotContains(t, r.stderr, "state unprotect", "nothing protected is dropped in this step")
	step2 := r.out

	// Step 3: retire it (its disk stays, Retain); maintenance off.
	retire := stackFileWith(t, "prod", map[string]string{"databaseMove": "{keepSingleInstance: false, importRun: 1}"})
	r = renderCLI(t, stacks.Program, "-stack", "prod", "-config", retire, "-previous", step2)
	require.Equal(t, render.ExitOK, r.code, r.stderr)
	_, ok = find(r.resources, "kubernetes:apps/v1:StatefulSet", "mysql-statefulset")
	assert.False(t, ok)
	assert.Contains(t, r.stderr, "pulumi state unprotect 'urn:pulumi:prod::moodle-aks::moodle:mysql:MySQL$kubernetes:apps/v1:StatefulSet::mysql-statefulset'", "retiring it needs it unprotected first")

	// Retiring it without the import is refused.
	r = renderCLI(t, stacks.Program, "-stack", "prod", "-config", stackFileWith(t, "prod", map[string]string{"databaseMove": "{keepSingleInstance: false}"}), "-previous", step1)
	require.Equal(t, render.ExitInvalid, r.code, r.stderr)
	assert.Contains(t, r.stderr, "config moodle-aks:databaseMove:")
}

// TestRenderRefusesToAbandonOrShrinkMemberDisks: against the render a
// stack runs, fewer members (dropped disks) and smaller disks are refused
// with the key to change; more members and larger disks pass.
func TestRenderRefusesToAbandonOrShrinkMemberDisks(t *testing.T) {
	three := stackFileWith(t, "dev", map[string]string{"mysqlMembers": "3"})
	r := renderCLI(t, stacks.Program, "-stack", "dev", "-config", three)
	require.Equal(t, render.ExitOK, r.code, r.stderr)
	prev := r.out

	r = renderCLI(t, stacks.Program, "-stack", "dev", "-previous", prev)
	require.Equal(t, render.ExitInvalid, r.code)
	assert.Contains(t, r.stderr, "config moodle-aks:mysqlMembers: this render drops the database disk datadir-mysql-mysql-1")
	assert.Contains(t, r.stderr, "datadir-mysql-mysql-2")

	r = renderCLI(t, stacks.Program, "-stack", "dev", "-config", stackFileWith(t, "dev", map[string]string{"mysqlMembers": "3", "mysqlDiskGiB": "16"}), "-previous", prev)
	require.Equal(t, render.ExitInvalid, r.code)
	assert.Contains(t, r.stderr, "config moodle-aks:mysqlDiskGiB: the database disk datadir-mysql-mysql-0 would shrink from 32 GiB to 16 GiB")

	r = renderCLI(t, stacks.Program, "-stack", "dev", "-config", stackFileWith(t, "dev", map[string]string{"mysqlMembers": "5", "mysqlDiskGiB": "64"}), "-previous", prev)
	assert.Equal(t, render.ExitOK, r.code, "growing is fine: %s", r.stderr)

	r = renderCLI(t, stacks.Program, "-stack", "dev", "-previous", "none")
	assert.Equal(t, render.ExitOK, r.code, "no comparison for a stack never deployed")
}

// TestRenderComparesWithTheStacksState: the pipeline passes `pulumi stack
// export` (what the stack really runs) as -previous; a stack never
// deployed exports no resources.
func TestRenderComparesWithTheStacksState(t *testing.T) {
	old, err := os.ReadFile(filepath.Join(root, "tests", "testdata", "single-instance", "resources.json"))
	require.NoError(t, err)
	dir := t.TempDir()
	export := filepath.Join(dir, "state.json")
	require.NoError(t, os.WriteFile(export, []byte(`{"version": 3, "deployment": {"manifest": {"time": "2026-11-20T10:00:00Z"}, "resources": `+string(old)+`}}`), 0o644))
	r := renderCLI(t, stacks.Program, "-stack", "prod", "-previous", export)
	require.Equal(t, render.ExitInvalid, r.code)
	assert.Contains(t, r.stderr, "config moodle-aks:databaseMove:")

	empty := filepath.Join(dir, "new.json")
	require.NoError(t, os.WriteFile(empty, []byte(`{"version": 3, "deployment": {"manifest": {"time": "2026-11-20T10:00:00Z"}}}`), 0o644))
	r = renderCLI(t, stacks.Program, "-stack", "prod", "-previous", empty)
	assert.Equal(t, render.ExitOK, r.code, r.stderr)
}
