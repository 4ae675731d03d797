package backup

import (
	"strings"
	"testing"
	"time"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func args() *Args {
	return &Args{
		MySQLImage: "mysql:8.4.7", AzureCLIImage: "mcr.microsoft.com/azure-cli:2.67.0",
		ClientID: pulumi.String("backup-client-id"), SubscriptionID: pulumi.String(mocks.SubscriptionID),
		BackupAccount: "stmdlbkpprodabc123", Container: "backups",
		FilesResourceGroup: "rg-moodle-prod-eastus2", FilesAccount: "stmdlfilesprodabc123", Share: "moodledata", FilesClaim: "moodledata",
		MySQLHost: "mysql-haproxy.data.svc.cluster.local", MySQLReadPorts: []int{3307, 3306}, MySQLWritePort: 3306, BackupPassword: pulumi.ToSecret(pulumi.String("b")).(pulumi.StringOutput),
		RootPassword: pulumi.ToSecret(pulumi.String("r")).(pulumi.StringOutput),
		Schedule:     "30 2 * * *", SnapshotSchedule: "0 3 * * *", RetentionDays: 35, OnJobsPool: true,
	}
}

func run(t *testing.T, a *Args) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.RunAfter(func(ctx *pulumi.Context, ns pulumi.Resource) error {
		if a.DependsOn == nil {
			a.DependsOn = []pulumi.Resource{ns}
		}
		_, err := New(ctx, "backups", a)
		return err
	})
}

func TestMySQLBackupCronJob(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	cj, ok := rec.Named("kubernetes:batch/v1:CronJob", "backups-mysql")
	require.True(t, ok)
	assert.Equal(t, infra.NamespaceData, cj.Input("metadata.namespace"))
	assert.Equal(t, "30 2 * * *", cj.Input("spec.schedule"))
	assert.Equal(t, "Forbid", cj.Input("spec.concurrencyPolicy"))
	labels := cj.Input("spec.jobTemplate.metadata.labels").(map[string]any)
	assert.Equal(t, "backup", labels[infra.AlertLabel], "failures alert")
	assert.Equal(t, "mysql", labels[KindLabel])

	pod := cj.Input("spec.jobTemplate.spec.template").(map[string]any)
	assert.Equal(t, "true", pod["metadata"].(map[string]any)["labels"].(map[string]any)["azure.workload.identity/use"], "workload identity, no keys")
	spec := pod["spec"].(map[string]any)
	assert.Equal(t, infra.BackupWorkload.ServiceAccount, spec["serviceAccountName"])
	assert.Equal(t, "jobs", spec["nodeSelector"].(map[string]any)["moodle.fieldcert/pool"])
	dump := spec["initContainers"].([]any)[0].(map[string]any)
	assert.Equal(t, "mysql:8.4.7", dump["image"])
	upload := spec["containers"].([]any)[0].(map[string]any)
	assert.Equal(t, "mcr.microsoft.com/azure-cli:2.67.0", upload["image"])

	scripts, _ := rec.Named("kubernetes:core/v1:ConfigMap", "backups-scripts")
	data := scripts.Input("data").(map[string]any)
	assert.Contains(t, data["dump.sh"], "--single-transaction")
	assert.Contains(t, data["dump.sh"], "set -euo pipefail", "a dump that dies mid-way fails the pipeline")
	assert.Contains(t, data["dump.sh"], "-- Dump completed", "a truncated dump is refused")
	assert.Contains(t, data["restore.sh"], `-P "$MYSQL_WRITE_PORT"`, "restores write to the primary")
	env := map[string]any{}
	for _, e := range dump["env"].([]any) {
		env[e.(map[string]any)["name"].(string)] = e.(map[string]any)["value"]
	}
	assert.Equal(t, "3307 3306", env["MYSQL_PORTS"], "a secondary first, the primary if none answers")
	assert.Contains(t, data["upload.sh"], "--auth-mode login", "no account key")
	assert.Contains(t, data["upload.sh"], "--federated-token")
	assert.NotContains(t, data["upload.sh"], "account-key")

	sa, _ := rec.Named("kubernetes:core/v1:ServiceAccount", "backups-service-account")
	assert.Equal(t, "backup-client-id", sa.Input("metadata.annotations").(map[string]any)["azure.workload.identity/client-id"])
	creds, _ := rec.Named("kubernetes:core/v1:Secret", "backups-credentials")
	assert.Equal(t, map[string]any{"mysql-backup-password": mocks.Secret, "mysql-root-password": mocks.Secret}, creds.Input("stringData"), "the keys show, the values stay secret")
}

func TestFilesSnapshot(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	cj, ok := rec.Named("kubernetes:batch/v1:CronJob", "backups-files")
	require.True(t, ok)
	assert.Equal(t, "0 3 * * *", cj.Input("spec.schedule"))
	scripts, _ := rec.Named("kubernetes:core/v1:ConfigMap", "backups-scripts")
	snap := scripts.Input("data").(map[string]any)["snapshot.sh"].(string)
	assert.Contains(t, snap, "share-rm snapshot")
	assert.Contains(t, snap, "RETENTION_DAYS", "old snapshots expire")
	// After the snapshot, the copy of filedir to the backup account, from
	// a read-only mount of the share.
	spec := cj.Input("spec.jobTemplate.spec.template.spec").(map[string]any)
	assert.Equal(t, "snapshot", spec["initContainers"].([]any)[0].(map[string]any)["name"])
	cp := spec["containers"].([]any)[0].(map[string]any)
	assert.Equal(t, []any{"bash", "/scripts/copy.sh"}, cp["command"])
	var mounted bool
	for _, m := range cp["volumeMounts"].([]any) {
		if m.(map[string]any)["mountPath"] == FilesMount {
			mounted = m.(map[string]any)["readOnly"] == true
		}
	}
	assert.True(t, mounted, "moodledata read-only")
	assert.Equal(t, float64(33), cp["securityContext"].(map[string]any)["runAsUser"], "as www-data, who owns what Moodle writes")
	for _, v := range spec["volumes"].([]any) {
		if pvc, ok := v.(map[string]any)["persistentVolumeClaim"].(map[string]any); ok {
			assert.Equal(t, "moodledata", pvc["claimName"])
			assert.Equal(t, true, pvc["readOnly"])
		}
	}
}

func TestRestoreOnlyWhenNamed(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	assert.Empty(t, rec.OfType("kubernetes:batch/v1:Job"), "no restore by default")

	a := args()
	a.Restore = "mysql/20261125T023000Z.sql.gz"
	rec, err = run(t, a)
	require.NoError(t, err)
	jobs := rec.OfType("kubernetes:batch/v1:Job")
	require.Len(t, jobs, 1)
	assert.Equal(t, RestoreJobName(a.Restore, ""), jobs[0].Input("metadata.name"))
	assert.True(t, strings.HasPrefix(RestoreJobName(a.Restore, ""), "mysql-restore-"))
	assert.NotEqual(t, RestoreJobName(a.Restore, ""), RestoreJobName("mysql/20261124T023000Z.sql.gz", ""))
	assert.Equal(t, RestoreJobName(a.Restore, ""), RestoreJobName(a.Restore, infra.MoodleDatabase), "Moodle's own database: the name earlier versions gave")
	assert.NotEqual(t, RestoreJobName(a.Restore, ""), RestoreJobName(a.Restore, "moodle_copy"), "a copy is another Job")
	assert.Equal(t, float64(0), jobs[0].Input("spec.backoffLimit"))
	spec := jobs[0].Input("spec.template.spec").(map[string]any)
	var env []string
	for _, e := range spec["containers"].([]any)[0].(map[string]any)["env"].([]any) {
		env = append(env, e.(map[string]any)["name"].(string)+"="+strings.TrimSpace(anyString(e.(map[string]any)["value"])))
	}
	assert.Contains(t, env, "RESTORE_BLOB=mysql/20261125T023000Z.sql.gz")
	for _, e := range env {
		assert.NotContains(t, e, "RESTORE_DATABASE", "over Moodle's database the Job's spec stays as earlier versions rendered it (a changed spec would restore again)")
	}

	a.RestoreInto = "moodle_copy"
	rec, err = run(t, a)
	require.NoError(t, err)
	job := rec.OfType("kubernetes:batch/v1:Job")[0]
	assert.Equal(t, RestoreJobName(a.Restore, "moodle_copy"), job.Input("metadata.name"))
	var copyEnv []string
	for _, e := range job.Input("spec.template.spec.containers").([]any)[0].(map[string]any)["env"].([]any) {
		copyEnv = append(copyEnv, e.(map[string]any)["name"].(string)+"="+anyString(e.(map[string]any)["value"]))
	}
	assert.Contains(t, copyEnv, "RESTORE_DATABASE=moodle_copy")
	// `pulumi up` waits as long as the Job may run, not the provider's 10 minutes.
	require.NotNil(t, jobs[0].CustomTimeouts, "the restore Job sets how long pulumi up waits")
	wait, err := time.ParseDuration(jobs[0].CustomTimeouts.Create)
	require.NoError(t, err)
	deadline := time.Duration(jobs[0].Input("spec.activeDeadlineSeconds").(float64)) * time.Second
	assert.GreaterOrEqual(t, wait, deadline, "the wait covers the Job's deadline")
	assert.Equal(t, jobs[0].CustomTimeouts.Create, jobs[0].CustomTimeouts.Update)
}

func anyString(v any) string {
	s, _ := v.(string)
	return s
}

func TestBackupsRejectBadArgs(t *testing.T) {
	a := args()
	a.BackupAccount, a.Schedule, a.ClientID, a.RetentionDays = "", "", nil, 0
	_, err := run(t, a)
	require.Error(t, err)
	for _, want := range []string{"backupAccount is required", "schedule is required", "clientID", "retentionDays 0"} {
		assert.Contains(t, err.Error(), want)
	}
}
