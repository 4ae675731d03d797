package migration

import (
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/mocks"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func args() *Args {
	return &Args{
		Migration: infra.Migration{Run: 3, FilesServer: "10.20.0.5", FilesPath: "/export/moodledata",
			DBHost: "db.old.example.com", DBPort: 3307, DBName: "oldmoodle", DBUser: "moodle", ImportDatabase: true},
		LoadTest:    infra.LoadTest{Run: 2, VirtualUsers: 300, RampUp: "3m", Duration: "15m", Paths: []string{"/", "/login/index.php"}, P95Ms: 1200, MaxErrorPercent: 2},
		DBPassword:  "old-db-plain-in-test",
		MoodleImage: "r.example.com/moodle:4.5.3",
		MySQLImage:  "mysql:8.4.3",
		K6Image:     "grafana/k6:1.3.0",
		DataClaim:   "moodledata",
		Hostname:    "learn.example.com",
		IngressIP:   pulumi.String("20.1.2.3"),
		InsecureTLS: true,
		OnJobsPool:  true,
		UpgradePod: &corev1.PodSpecArgs{
			ServiceAccountName: pulumi.String("moodle-admin"),
			Containers:         corev1.ContainerArray{corev1.ContainerArgs{Name: pulumi.String("upgrade"), Image: pulumi.String("r.example.com/moodle:4.5.3")}},
		},
	}
}

func run(t *testing.T, a *Args) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.RunAfter(func(ctx *pulumi.Context, dep pulumi.Resource) error {
		if a.DependsOn == nil {
			a.DependsOn = []pulumi.Resource{dep}
		}
		_, err := New(ctx, "migration", a)
		return err
	})
}

func envOf(c map[string]any) map[string]any {
	out := map[string]any{}
	for _, e := range c["env"].([]any) {
		m := e.(map[string]any)
		if v, ok := m["value"]; ok {
			out[m["name"].(string)] = v
		} else {
			out[m["name"].(string)] = m["valueFrom"]
		}
	}
	return out
}

func TestFilesCopyFromReadOnlySource(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	pv, ok := rec.Named("kubernetes:core/v1:PersistentVolume", "migration-source-pv")
	require.True(t, ok)
	assert.Equal(t, "Retain", pv.Input("spec.persistentVolumeReclaimPolicy"), "deleting the volume never touches the old files")
	assert.Equal(t, []any{"ReadOnlyMany"}, pv.Input("spec.accessModes"))
	assert.Equal(t, "10.20.0.5", pv.Input("spec.nfs.server"))
	assert.Equal(t, "/export/moodledata", pv.Input("spec.nfs.path"))
	assert.Equal(t, true, pv.Input("spec.nfs.readOnly"))
	assert.Equal(t, SourceClaim, pv.Input("spec.claimRef.name"), "bound to our claim only")

	job, ok := rec.Named("kubernetes:batch/v1:Job", "migration-files")
	require.True(t, ok)
	assert.Equal(t, "migrate-files-3", job.Input("metadata.name"), "the run number names the Job")
	assert.Equal(t, infra.NamespaceMoodle, job.Input("metadata.namespace"))
	assert.Equal(t, "migration", job.Input("metadata.labels").(map[string]any)[infra.AlertLabel], "a failed copy alerts")
	assert.Equal(t, "true", job.Input("metadata.annotations").(map[string]any)["pulumi.com/skipAwait"], "a full copy outlasts pulumi up")
	pod := job.Input("spec.template.spec").(map[string]any)
	assert.Equal(t, float64(wwwDataUID), pod["securityContext"].(map[string]any)["runAsUser"], "copied files belong to www-data")
	assert.Equal(t, "jobs", pod["nodeSelector"].(map[string]any)["moodle.fieldcert/pool"])
	c := pod["containers"].([]any)[0].(map[string]any)
	assert.Equal(t, "r.example.com/moodle:4.5.3", c["image"], "the Moodle image carries rsync")
	e := envOf(c)
	assert.Equal(t, "1", e["STRICT"], "the cut-over run (importDatabase) fails on any difference")
	for _, d := range Excluded {
		assert.Contains(t, e["EXCLUDES"], "--exclude=/"+d+"/")
	}
	var sourceRO, dataRW bool
	for _, v := range c["volumeMounts"].([]any) {
		m := v.(map[string]any)
		if m["mountPath"] == "/source" {
			sourceRO = m["readOnly"] == true
		}
		if m["mountPath"] == DataMount {
			dataRW = m["readOnly"] != true
		}
	}
	assert.True(t, sourceRO, "the old moodledata is mounted read-only")
	assert.True(t, dataRW, "the new moodledata is written")
}

func TestDeltaRunsDoNotFailOnLiveChanges(t *testing.T) {
	a := args()
	a.Migration.ImportDatabase = false
	a.LoadTest.Run = 0
	rec, err := run(t, a)
	require.NoError(t, err)
	job, ok := rec.Named("kubernetes:batch/v1:Job", "migration-files")
	require.True(t, ok)
	c := job.Input("spec.template.spec.containers").([]any)[0].(map[string]any)
	assert.Equal(t, "0", envOf(c)["STRICT"])
	_, ok = rec.Named("kubernetes:batch/v1:Job", "migration-db")
	assert.False(t, ok, "no database import before the cut-over run")
	_, ok = rec.Named("kubernetes:core/v1:Secret", "migration-secret")
	assert.False(t, ok)
	_, ok = rec.Named("kubernetes:batch/v1:Job", "migration-loadtest")
	assert.False(t, ok)
}

func TestDatabaseImportVerifiesRowCounts(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	job, ok := rec.Named("kubernetes:batch/v1:Job", "migration-db")
	require.True(t, ok)
	assert.Equal(t, "migrate-db-3", job.Input("metadata.name"))
	c := job.Input("spec.template.spec.containers").([]any)[0].(map[string]any)
	assert.Equal(t, "mysql:8.4.3", c["image"])
	e := envOf(c)
	assert.Equal(t, "db.old.example.com", e["SOURCE_HOST"])
	assert.Equal(t, "3307", e["SOURCE_PORT"])
	assert.Equal(t, "oldmoodle", e["SOURCE_DB"])
	assert.Equal(t, SecretName, e["SOURCE_PASSWORD"].(map[string]any)["secretKeyRef"].(map[string]any)["name"], "the password comes from a Secret, not the pod spec")
	assert.Equal(t, infra.MoodleDBSecret, e["MOODLE_DB_PASSWORD"].(map[string]any)["secretKeyRef"].(map[string]any)["name"])
	sec, ok := rec.Named("kubernetes:core/v1:Secret", "migration-secret")
	require.True(t, ok)
	assert.Equal(t, map[string]any{"password": mocks.Secret}, sec.Input("stringData"), "the old database's password is a Pulumi secret")

	ann, _ := job.Input("metadata.annotations").(map[string]any)
	assert.NotContains(t, ann, "pulumi.com/skipAwait", "pulumi up waits for the import and fails with it")

	up, ok := rec.Named("kubernetes:batch/v1:Job", "migration-upgrade")
	require.True(t, ok, "the imported database is upgraded to the image's code")
	assert.Equal(t, "migrate-upgrade-3", up.Input("metadata.name"))
	assert.Equal(t, "moodle-admin", up.Input("spec.template.spec.serviceAccountName"))
	assert.Contains(t, up.Dependencies, job.URN, "only after the import")
	// The final file copy after the import and its upgrade, never beside
	// them: both write what it compares.
	files, ok := rec.Named("kubernetes:batch/v1:Job", "migration-files")
	require.True(t, ok)
	assert.Contains(t, files.Dependencies, up.URN, "the final copy waits for the upgrade")
	assert.Equal(t, "1", envOf(files.Input("spec.template.spec.containers").([]any)[0].(map[string]any))["STRICT"])
	// The import is guarded: an init container refuses it once the final
	// copy has passed (the new moodledata, read-only, as www-data).
	guard := job.Input("spec.template.spec.initContainers").([]any)[0].(map[string]any)
	assert.Equal(t, []any{"/scripts/guard.sh"}, guard["command"])
	assert.Equal(t, float64(33), guard["securityContext"].(map[string]any)["runAsUser"])
	var ro bool
	for _, m := range guard["volumeMounts"].([]any) {
		if m.(map[string]any)["name"] == "moodledata" {
			ro, _ = m.(map[string]any)["readOnly"].(bool)
		}
	}
	assert.True(t, ro, "the guard reads moodledata, never writes it")

	cm, ok := rec.Named("kubernetes:core/v1:ConfigMap", "migration-scripts")
	require.True(t, ok)
	db := cm.Input("data").(map[string]any)["db.sh"].(string)
	assert.Contains(t, db, "--single-transaction", "a consistent dump without locking the old site")
	assert.Contains(t, db, "SUM(CRC32(", "every table's content is compared (tests/imagerun runs it for real)")
	assert.Contains(t, db, "exit 1")
	assert.NotContains(t, db, "old-db-plain-in-test")
}

func TestLoadTestTargetsTheNewIngress(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	job, ok := rec.Named("kubernetes:batch/v1:Job", "migration-loadtest")
	require.True(t, ok)
	assert.Equal(t, "loadtest-2", job.Input("metadata.name"))
	assert.Equal(t, infra.NamespaceIntegrations, job.Input("metadata.namespace"))
	assert.Equal(t, "false", job.Input("spec.template.metadata.labels").(map[string]any)["sidecar.istio.io/inject"], "a client from outside the mesh, through the public gateway")
	c := job.Input("spec.template.spec.containers").([]any)[0].(map[string]any)
	assert.Equal(t, "grafana/k6:1.3.0", c["image"])
	e := envOf(c)
	assert.Equal(t, "learn.example.com", e["TARGET_HOST"])
	assert.Equal(t, "20.1.2.3", e["TARGET_IP"], "the new site, before DNS points at it")
	assert.Equal(t, "300", e["VUS"])
	assert.Equal(t, "1200", e["P95_MS"])
	assert.Equal(t, "2", e["MAX_ERROR_PERCENT"])
	assert.Equal(t, "true", e["INSECURE_TLS"])
	var paths []string
	require.NoError(t, json.Unmarshal([]byte(e["PATHS"].(string)), &paths))
	assert.Equal(t, []string{"/", "/login/index.php"}, paths)
	assert.True(t, strings.Contains(LoadTestScript, "p(95)<") && strings.Contains(LoadTestScript, "http_req_failed"), "thresholds decide k6's exit code")
}

func TestNothingWhenOff(t *testing.T) {
	a := args()
	a.Migration.Run, a.LoadTest.Run = 0, 0
	rec, err := run(t, a)
	require.NoError(t, err)
	for _, typ := range []string{"kubernetes:batch/v1:Job", "kubernetes:core/v1:PersistentVolume", "kubernetes:core/v1:Secret"} {
		assert.Empty(t, rec.OfType(typ), typ)
	}
}

func TestRejectsIncompleteArgs(t *testing.T) {
	a := args()
	a.DBPassword, a.K6Image = "", ""
	_, err := run(t, a)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "importDatabase needs")
	assert.Contains(t, err.Error(), "the password")
	assert.Contains(t, err.Error(), "the load test needs k6Image")
}

// The Jobs' scripts are valid bash (they only run in a cluster).
func TestScriptsParse(t *testing.T) {
	bash, err := exec.LookPath("bash")
	require.NoError(t, err, "bash is needed to check the scripts")
	for name, script := range map[string]string{"files.sh": FilesScript, "db.sh": DBScript, "guard.sh": GuardScript} {
		out, err := exec.Command(bash, "-n", "-c", script).CombinedOutput()
		assert.NoError(t, err, "%s: %s", name, out)
	}
	broken := exec.Command(bash, "-n", "-c", FilesScript+"\nif then\n")
	assert.Error(t, broken.Run(), "the check catches a syntax error")
}

// runFiles runs the copy script on local folders, as the Job does on the
// mounted shares; runFiles runs the copy script; a strict (cut-over) run finds the new
// site in maintenance, as Moodle's CLI leaves it (climaintenance.html in
// moodledata), unless the test removed it.
func runFiles(t *testing.T, src, dst, strict string, extraExcludes ...string) (string, error) {
	t.Helper()
	if strict == "1" {
		if _, err := os.Stat(filepath.Join(dst, "climaintenance.html")); os.IsNotExist(err) {
			write(t, filepath.Join(dst, "climaintenance.html"), "<h1>Maintenance</h1>")
		}
	}
	return runFilesAsIs(t, src, dst, strict, extraExcludes...)
}

func runFilesAsIs(t *testing.T, src, dst, strict string, extraExcludes ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Fatal("rsync is needed to run the copy script (.ci/run installs it)")
	}
	excludes := ""
	for _, d := range Excluded {
		excludes += " --exclude=/" + d + "/"
	}
	for _, e := range extraExcludes {
		excludes += " " + e
	}
	cmd := exec.Command("bash", "-c", FilesScript)
	cmd.Env = append(os.Environ(), "SOURCE="+src, "TARGET="+dst, "STRICT="+strict, "EXCLUDES="+excludes[1:])
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func TestFilesScriptCopiesAndVerifies(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "filedir", "ab", "cd", "abcd1234"), "a course file")
	write(t, filepath.Join(src, "filedir", "ef", "01", "ef015678"), "another file, longer")
	write(t, filepath.Join(src, "cache", "stale"), "old cache")
	write(t, filepath.Join(src, "muc", "config.php"), "old cache config")
	write(t, filepath.Join(dst, "filedir", "99", "99", "gone"), "only on the new site")
	write(t, filepath.Join(dst, "muc", "config.php"), "the new site's cache config")

	out, err := runFiles(t, src, dst, "1")
	require.NoError(t, err, out)
	assert.Contains(t, out, "PASS: moodledata matches")
	b, err := os.ReadFile(filepath.Join(dst, "filedir", "ab", "cd", "abcd1234"))
	require.NoError(t, err)
	assert.Equal(t, "a course file", string(b))
	assert.NoFileExists(t, filepath.Join(dst, "filedir", "99", "99", "gone"), "a delta removes what the old site deleted")
	assert.NoFileExists(t, filepath.Join(dst, "cache", "stale"), "caches are not copied")
	b, err = os.ReadFile(filepath.Join(dst, "muc", "config.php"))
	require.NoError(t, err)
	assert.Equal(t, "the new site's cache config", string(b), "excluded folders on the new site are kept")

	b, err = os.ReadFile(filepath.Join(dst, "climaintenance.html"))
	require.NoError(t, err, "the new site's maintenance flag is never deleted")
	assert.Equal(t, "<h1>Maintenance</h1>", string(b))
	assert.Contains(t, out, "the new site is live: further migration runs are refused")
	assert.FileExists(t, filepath.Join(dst, FinalMarker))

	// After the final copy the new site is live: any further run, strict
	// or a delta, is refused and changes nothing (the new site's upload
	// stays, the old site's new file is not copied).
	write(t, filepath.Join(dst, "filedir", "12", "34", "1234new"), "uploaded on the live site")
	write(t, filepath.Join(src, "filedir", "56", "78", "5678old"), "written on the old site later")
	for _, strict := range []string{"0", "1"} {
		out, err = runFiles(t, src, dst, strict)
		require.Error(t, err, out)
		assert.Contains(t, out, "FAIL: the final copy already passed", strict)
		assert.FileExists(t, filepath.Join(dst, "filedir", "12", "34", "1234new"))
		assert.NoFileExists(t, filepath.Join(dst, "filedir", "56", "78", "5678old"))
	}
	// And so is the import's guard (the db Job's init container).
	cmd := exec.Command("sh", "-c", GuardScript)
	cmd.Env = append(os.Environ(), "TARGET="+dst)
	gout, err := cmd.CombinedOutput()
	require.Error(t, err, "%s", gout)
	assert.Contains(t, string(gout), "FAIL: the final copy already passed")
	assert.Contains(t, string(gout), "the final copy of "+src, "it says when and from where")
}

func TestFilesScriptFinalCopyNeedsMaintenanceAndKeepsTheFlag(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "filedir", "ab", "cd", "abcd1234"), "a course file")
	// The old site's own flag (it is in maintenance too) is not copied.
	write(t, filepath.Join(src, "climaintenance.html"), "old site's page")
	out, err := runFilesAsIs(t, src, dst, "1")
	require.Error(t, err, out)
	assert.Contains(t, out, "FAIL: the new site is not in maintenance")
	assert.NoFileExists(t, filepath.Join(dst, "filedir", "ab", "cd", "abcd1234"), "nothing copied")

	out, err = runFiles(t, src, dst, "1")
	require.NoError(t, err, out)
	b, err := os.ReadFile(filepath.Join(dst, "climaintenance.html"))
	require.NoError(t, err)
	assert.Equal(t, "<h1>Maintenance</h1>", string(b), "the new site's flag, not the old site's")

	// Before the final copy the guard lets the import run.
	cmd := exec.Command("sh", "-c", GuardScript)
	cmd.Env = append(os.Environ(), "TARGET="+t.TempDir())
	gout, err := cmd.CombinedOutput()
	assert.NoError(t, err, "%s", gout)
}

func TestFilesScriptRefusesAWrongSource(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "not-moodledata.txt"), "x")
	write(t, filepath.Join(dst, "filedir", "ab", "cd", "abcd1234"), "the new site's file")
	out, err := runFiles(t, src, dst, "0")
	require.Error(t, err)
	assert.Contains(t, out, "FAIL")
	assert.FileExists(t, filepath.Join(dst, "filedir", "ab", "cd", "abcd1234"), "nothing is deleted when the source is wrong")
}

// A difference left after the copy (simulated by holding a folder back)
// fails the strict cut-over run and is only reported on a live delta.
func TestFilesScriptComparesContentStore(t *testing.T) {
	for _, strict := range []string{"0", "1"} {
		src, dst := t.TempDir(), t.TempDir()
		write(t, filepath.Join(src, "filedir", "ab", "cd", "abcd1234"), "copied")
		write(t, filepath.Join(src, "filedir", "ef", "01", "ef015678"), "held back")
		out, err := runFiles(t, src, dst, strict, "--exclude=/filedir/ef/")
		assert.Contains(t, out, "source 2 files", strict)
		assert.Contains(t, out, "target 1 files", strict)
		if strict == "1" {
			require.Error(t, err, out)
			assert.Contains(t, out, "FAIL: moodledata differs")
		} else {
			require.NoError(t, err, out)
			assert.Contains(t, out, "DIFFERS")
		}
	}
}

// A directory that once held more files is larger (du) than its copy,
// though every file is the same: the strict check compares files, not du.
func TestFilesScriptIgnoresDirectorySizes(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	dir := filepath.Join(src, "filedir", "ab", "cd")
	for i := range 2000 {
		write(t, filepath.Join(dir, fmt.Sprintf("tmp%04d", i)), "x")
	}
	for i := range 2000 {
		if i >= 3 {
			require.NoError(t, os.Remove(filepath.Join(dir, fmt.Sprintf("tmp%04d", i))))
		}
	}
	du := func(p string) string {
		out, err := exec.Command("du", "-sb", filepath.Join(p, "filedir")).Output()
		require.NoError(t, err)
		return strings.Fields(string(out))[0]
	}
	out, err := runFiles(t, src, dst, "1")
	require.NoError(t, err, out)
	assert.NotEqual(t, du(src), du(dst), "the directories' sizes differ (the old check's failure)")
	assert.Contains(t, out, "source 3 files, 3 bytes; target 3 files, 3 bytes")
	assert.Contains(t, out, "PASS: moodledata matches")
}

// A target file with the right name, size and time but other bytes (rsync's
// quick check skips it) fails the cut-over run: Moodle's file names are the
// SHA-1 of their content.
func TestFilesScriptChecksContentHashes(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	content := "a course file"
	sum := fmt.Sprintf("%x", sha1.Sum([]byte(content)))
	rel := filepath.Join("filedir", sum[:2], sum[2:4], sum)
	write(t, filepath.Join(src, rel), content)
	out, err := runFiles(t, src, dst, "1")
	require.NoError(t, err, out)
	assert.Contains(t, out, "PASS", "an intact copy passes the hash check")

	// Redo the cut-over (the marker removed on purpose) over a corrupted copy.
	require.NoError(t, os.Remove(filepath.Join(dst, FinalMarker)))
	write(t, filepath.Join(dst, rel), "a course fil3") // same size
	info, err := os.Stat(filepath.Join(src, rel))
	require.NoError(t, err)
	require.NoError(t, os.Chtimes(filepath.Join(dst, rel), info.ModTime(), info.ModTime()))
	out, err = runFiles(t, src, dst, "1")
	require.Error(t, err, out)
	assert.Contains(t, out, "FAIL: files whose content does not match their content hash")
	assert.Contains(t, out, sum)
	out, err = runFiles(t, src, dst, "0")
	require.NoError(t, err, "a live delta does not hash: %s", out)
}
