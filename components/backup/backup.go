// Package backup provides the region's backups and restore: a nightly,
// consistent MySQL dump copied to the region's backup container, a nightly
// snapshot of the moodledata share with expiry, and, when config names a
// dump, a one-off Job that restores it. Every job reaches Azure through
// the backup workload identity (no keys) and carries the labels that turn
// its failures into alerts.
package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fieldcert/moodle-aks/components/internal/pods"
	"github.com/fieldcert/moodle-aks/infra"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the component's type; with the child names it forms URNs.
const TypeToken = "moodle:backup:Backups"

// KindLabel marks what a backup job saves ("mysql", "files"); the policy
// pack checks that prod schedules both.
const KindLabel = "moodle.fieldcert/backup"

// The uid the jobs run as (the MySQL image's user; the Azure CLI needs only
// a writable HOME).
const jobUID = 999

// moodleUID is www-data, who owns every file Moodle writes in moodledata:
// the copy reads it as www-data (read-only mount), whatever the modes.
const moodleUID = 33

// Args configures the backups.
type Args struct {
	// MySQLImage and AzureCLIImage are pinned images (required).
	MySQLImage, AzureCLIImage string
	// ClientID is the backup workload identity's client ID (required).
	ClientID pulumi.StringInput
	// SubscriptionID holds the storage accounts (required).
	SubscriptionID pulumi.StringInput
	// BackupAccount and Container receive the dumps (required).
	BackupAccount, Container string
	// FilesResourceGroup, FilesAccount and Share name the moodledata share
	// to snapshot (required).
	FilesResourceGroup, FilesAccount, Share string
	// FilesClaim is a read-only claim on that share in the data namespace:
	// the nightly copy of its content store (filedir) to the backup
	// container, outside the share's own account (required).
	FilesClaim string
	// MySQLHost is the database service (required); MySQLReadPorts the
	// ports the dump tries in order (a secondary's first), MySQLWritePort
	// the primary's, where a restore writes (required).
	MySQLHost      string
	MySQLReadPorts []int
	MySQLWritePort int
	// BackupPassword and RootPassword are MySQL's backup and root passwords
	// (secrets, required).
	BackupPassword, RootPassword pulumi.StringInput
	// Schedule and SnapshotSchedule are cron schedules in UTC (required).
	Schedule, SnapshotSchedule string
	// RetentionDays is how long share snapshots are kept (dumps expire by
	// the backup account's lifecycle rule).
	RetentionDays int
	// Restore names a dump to restore ("mysql/<time>.sql.gz"); empty: none.
	Restore string
	// RestoreInto is the database it replaces: "" or Moodle's own, or a
	// scratch copy the Job creates (Moodle untouched).
	RestoreInto string
	// OnJobsPool runs the jobs on the jobs pool.
	OnJobsPool bool
	// DependsOn are created first: namespaces, MySQL (required).
	DependsOn []pulumi.Resource
}

// Backups is the backup jobs.
type Backups struct {
	pulumi.ResourceState

	// RestoreJob is the restore Job's name, or "".
	RestoreJob string
}

func (a *Args) validate() error {
	var errs []error
	for field, v := range map[string]string{
		"mysqlImage": a.MySQLImage, "azureCliImage": a.AzureCLIImage, "backupAccount": a.BackupAccount,
		"container": a.Container, "filesResourceGroup": a.FilesResourceGroup, "filesAccount": a.FilesAccount,
		"share": a.Share, "filesClaim": a.FilesClaim, "mysqlHost": a.MySQLHost, "schedule": a.Schedule, "snapshotSchedule": a.SnapshotSchedule,
	} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required", field))
		}
	}
	if a.ClientID == nil || a.SubscriptionID == nil || a.BackupPassword == nil || a.RootPassword == nil {
		errs = append(errs, errors.New("clientID, subscriptionID and the MySQL passwords are required"))
	}
	if len(a.MySQLReadPorts) == 0 || a.MySQLWritePort == 0 {
		errs = append(errs, errors.New("mysqlReadPorts and mysqlWritePort are required"))
	}
	if a.RetentionDays < 1 {
		errs = append(errs, fmt.Errorf("retentionDays %d must be at least 1", a.RetentionDays))
	}
	if len(a.DependsOn) == 0 {
		errs = append(errs, errors.New("dependsOn is required"))
	}
	return errors.Join(errs...)
}

// Scripts run by the jobs. Each fails on the first error, so a failed step
// fails the Job and raises the alert.
const (
	azLogin = `az login --service-principal -u "$AZURE_CLIENT_ID" -t "$AZURE_TENANT_ID" \
  --federated-token "$(cat "$AZURE_FEDERATED_TOKEN_FILE")" --allow-no-subscriptions --output none
az account set --subscription "$SUBSCRIPTION_ID"
`
	// azBlob runs a blob command on the backup container as the workload
	// identity.
	azBlob = `blob() { az storage blob "$@" --auth-mode login --account-name "$BACKUP_ACCOUNT" --container-name "$CONTAINER"; }
`
	// dumpChecks are what the dump checks before upload and the restore
	// before it drops anything (bq is a backtick).
	dumpChecks = `# mysqldump writes "-- Dump completed" last: a dump cut short never has it.
dump_complete() { gunzip -c "$1" | tail -n 1 | grep -q '^-- Dump completed'; }
# The tables a dump creates, sorted.
dump_tables() { gunzip -c "$1" | sed -n "s/^CREATE TABLE ${bq}\([^${bq}]*\)${bq}.*/\1/p" | LC_ALL=C sort; }
`
	dumpScript = `#!/bin/bash
set -euo pipefail
# A secondary where the proxy offers one (its read port first), else the
# primary: the dump never waits on the primary's writes when it need not.
db=` + infra.MoodleDatabase + `
port=""
for p in $MYSQL_PORTS; do
  if mysql --ssl-mode=REQUIRED -h "$MYSQL_HOST" -P "$p" -u backup -e 'SELECT 1' >/dev/null 2>&1; then port=$p; break; fi
  echo "no database answers on $MYSQL_HOST:$p"
done
if [ -z "$port" ]; then echo "FAIL: no database answers on $MYSQL_HOST ports $MYSQL_PORTS" >&2; exit 1; fi
sql() { mysql --ssl-mode=REQUIRED -h "$MYSQL_HOST" -P "$port" -u backup --batch --skip-column-names "$@"; }
tables() { sql -e "SELECT table_name FROM information_schema.tables WHERE table_schema='$db' AND table_type='BASE TABLE'" | LC_ALL=C sort; }
bq=$'\x60'
` + dumpChecks + `echo "dumping from $MYSQL_HOST:$port"
tables > /work/source.before
# Where the dump starts (MySQL's GTID set: a point-in-time recovery
# replays the binary logs from here, docs/restore.md).
gtid=$(sql -e 'SELECT @@GLOBAL.gtid_executed' 2>/dev/null | tr -d '\n' || true)
# A consistent snapshot of InnoDB without locking Moodle out. pipefail: a
# dump that dies mid-way, or a scratch disk that fills, fails the Job
# instead of uploading what it wrote.
mysqldump --ssl-mode=REQUIRED -h "$MYSQL_HOST" -P "$port" -u backup --single-transaction --quick --routines --triggers --events \
  --set-gtid-purged=OFF --no-tablespaces --default-character-set=utf8mb4 "$db" | gzip -6 > /work/moodle.sql.gz
gzip -t /work/moodle.sql.gz
if ! dump_complete /work/moodle.sql.gz; then
  echo "FAIL: the dump is incomplete (no '-- Dump completed' at its end)" >&2; exit 1
fi
# Every table there before and after the dump is in it.
tables > /work/source.after
dump_tables /work/moodle.sql.gz > /work/dump.tables
missing=$(comm -12 /work/source.before /work/source.after | comm -23 - /work/dump.tables)
if [ -n "$missing" ]; then
  echo "FAIL: the dump lacks tables the database has:" $missing >&2; exit 1
fi
if [ ! -s /work/dump.tables ]; then echo "FAIL: the dump has no tables" >&2; exit 1; fi
# The manifest beside the dump: what a restore checks (bytes, SHA-256,
# each table's rows as the dump holds them) and where the dump came from.
# Rows: one "(" each, once the quoted strings are gone (mysqldump escapes
# every quote and backslash inside them; no other value has a "("). MySQL
# writes an INSERT on one line, MariaDB a row per line after it: sed prints
# "<table> (((" for both, uniq folds the repeats.
declare -A rows
while read -r c t p; do rows[$t]=$(( ${rows[$t]:-0} + c * ${#p} )); done < <(gunzip -c /work/moodle.sql.gz | LC_ALL=C sed -n \
  -e "/^INSERT INTO ${bq}/!{/^(/!{z;h;d}}" \
  -e "/^INSERT INTO ${bq}/{s/\\\\.//g;s/'[^']*'//g;s/^INSERT INTO ${bq}\([^${bq}]*\)${bq} VALUES/\1\n/;h;s/\n.*//;x;s/^[^\n]*\n//;s/[^(]//g;H;x;s/\n/ /;p;s/ .*//;h;d}" \
  -e "x;/./!{x;d};x;s/\\\\.//g;s/'[^']*'//g;s/[^(]//g;G;s/^\(.*\)\n\(.*\)\$/\2 \1/;p" | uniq -c)
total=0
{
  printf 'bytes\t%s\n' "$(wc -c < /work/moodle.sql.gz)"
  printf 'sha256\t%s\n' "$(sha256sum /work/moodle.sql.gz | cut -d' ' -f1)"
  printf 'tables\t%s\n' "$(wc -l < /work/dump.tables)"
  printf 'source\t%s:%s %s\n' "$MYSQL_HOST" "$port" "$(sql -e 'SELECT @@version')"
  printf 'source_gtid_executed_at_start\t%s\n' "${gtid:-unavailable}"
  printf 'mysqldump\t%s\n' "$(mysqldump --version)"
  while read -r t; do printf 'rows\t%s\t%s\n' "$t" "${rows[$t]:-0}"; done < /work/dump.tables
} > /work/moodle.manifest
for n in "${rows[@]}"; do total=$(( total + n )); done
echo "dump complete: $(wc -l < /work/dump.tables) tables, $total rows, $(wc -c < /work/moodle.sql.gz) bytes"
`
	uploadScript = `#!/bin/sh
set -eu
` + azLogin + azBlob + `# The previous dump: the newest with a manifest (one without was never
# finished).
blob list --prefix mysql/ --query "[].[name, properties.contentLength]" --output tsv > /work/blobs
tab=$(printf '\t')
prev=$(grep "\.manifest${tab}" /work/blobs | sort | tail -n 1 | cut -f1)
prev_bytes=0
if [ -n "$prev" ]; then
  prev_bytes=$(grep "^${prev%.manifest}\.sql\.gz${tab}" /work/blobs | cut -f2)
  printf 'previous\t%s\t%s\n' "${prev%.manifest}.sql.gz" "${prev_bytes:-0}" >> /work/moodle.manifest
fi
name="mysql/$(date -u +%Y%m%dT%H%M%SZ)"
bytes=$(wc -c < /work/moodle.sql.gz)
# The dump first, its manifest last: a restore refuses a dump without one.
blob upload --name "$name.sql.gz" --file /work/moodle.sql.gz --output none
blob upload --name "$name.manifest" --file /work/moodle.manifest --output none
echo "uploaded $name.sql.gz ($bytes bytes) and $name.manifest"
if [ "${prev_bytes:-0}" -gt 0 ] && [ $(( bytes * 100 )) -lt $(( prev_bytes * ` + minSizePercent + ` )) ]; then
  echo "FAIL: $name.sql.gz is $bytes bytes, under ` + minSizePercent + `% of the previous dump (${prev%.manifest}.sql.gz, ${prev_bytes} bytes): was data deleted? (docs/restore.md)" >&2
  exit 1
fi
`
	snapshotScript = `#!/bin/sh
set -eu
` + azLogin + `az storage share-rm snapshot --resource-group "$FILES_RG" --storage-account "$FILES_ACCOUNT" --name "$SHARE" --output none
cutoff=$(date -u -d "-${RETENTION_DAYS} days" +%Y-%m-%dT%H:%M:%S)
az storage share-rm list --resource-group "$FILES_RG" --storage-account "$FILES_ACCOUNT" --include-snapshot \
  --query "[?name=='$SHARE' && snapshotTime!=null && snapshotTime<'$cutoff'].snapshotTime" --output tsv |
while read -r snap; do
  az storage share-rm delete --resource-group "$FILES_RG" --storage-account "$FILES_ACCOUNT" --name "$SHARE" --snapshot "$snap" --yes --output none
  echo "expired snapshot $snap"
done
`
	// copyScript copies moodledata's content store to the backup container
	// (files/filedir/<path>), outside the share's account. Moodle names a
	// stored file after the SHA-1 of its content and never changes it, so
	// the copy only adds: files not yet copied are staged as symlinks and
	// uploaded in one batch; nothing is overwritten or deleted (the
	// container's retention policy would refuse it, and the backup identity
	// may not delete). A file Moodle deleted stays in the copy.
	copyScript = `#!/bin/bash
set -euo pipefail
` + azLogin + azBlob + `src=${FILEDIR:-` + FilesMount + `/filedir}
if [ ! -d "$src" ]; then echo "FAIL: $src is not moodledata's filedir" >&2; exit 1; fi
prefix=files/filedir/
copied() { blob list --prefix "$prefix" --num-results '*' --query "[].[name, properties.contentLength]" --output tsv | sed "s#^$prefix##" | LC_ALL=C sort; }
copied > /work/copied
(cd "$src" && find . -type f -printf '%P\t%s\n') | LC_ALL=C sort > /work/local
cut -f1 /work/copied > /work/copied.names
cut -f1 /work/local | comm -23 - /work/copied.names > /work/new
rm -rf /work/stage && mkdir -p /work/stage
while read -r p; do
  mkdir -p "/work/stage/$(dirname "$p")" && ln -s "$src/$p" "/work/stage/$p"
done < /work/new
echo "filedir: $(wc -l < /work/local) files, $(wc -l < /work/new) not yet copied"
if [ -s /work/new ]; then
  az storage blob upload-batch --auth-mode login --account-name "$BACKUP_ACCOUNT" --destination "$CONTAINER" \
    --destination-path "${prefix%/}" --source /work/stage --output none
fi
# Every file, by name and size, is in the copy now.
copied > /work/copied
missing=$(comm -23 /work/local /work/copied | wc -l)
if [ "$missing" != 0 ]; then
  echo "FAIL: $missing files of filedir are not in the copy with their size, e.g.:" >&2
  comm -23 /work/local /work/copied | head -n 5 >&2
  exit 1
fi
echo "copied filedir: $(wc -l < /work/local) files in ${CONTAINER}/${prefix}"
`
	downloadScript = `#!/bin/sh
set -eu
` + azLogin + azBlob + `blob download --name "$RESTORE_BLOB" --file /work/restore.sql.gz --output none
if ! blob download --name "${RESTORE_BLOB%.sql.gz}.manifest" --file /work/restore.manifest --output none; then
  echo "FAIL: no manifest beside $RESTORE_BLOB (${RESTORE_BLOB%.sql.gz}.manifest): its upload never finished" >&2; exit 1
fi
`
	restoreScript = `#!/bin/bash
set -euo pipefail
# Into the primary (the proxy's write port), as root, into an emptied
# database: a restore over what is there would keep every table newer than
# the dump, and Moodle's next upgrade fails installing a table that exists.
# RESTORE_DATABASE: Moodle's, or a scratch copy (created if missing).
db=${RESTORE_DATABASE:-` + infra.MoodleDatabase + `}
sql() { MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysql --ssl-mode=REQUIRED -h "$MYSQL_HOST" -P "$MYSQL_WRITE_PORT" -uroot --batch --skip-column-names "$@"; }
bq=$'\x60'
tab=$'\t'
` + dumpChecks + `# The dump must be the one its manifest describes, and whole, before
# anything is dropped: a truncated upload or download has another SHA-256,
# mysqldump writes "-- Dump completed" last, and a dump without tables
# restores nothing.
m=/work/restore.manifest
if [ ! -s "$m" ]; then echo "FAIL: $RESTORE_BLOB has no manifest: nothing was changed" >&2; exit 1; fi
want=$(sed -n "s/^sha256${tab}//p" "$m")
got=$(sha256sum /work/restore.sql.gz | cut -d' ' -f1)
if [ "$want" != "$got" ]; then
  echo "FAIL: $RESTORE_BLOB is not the dump its manifest describes ($(wc -c < /work/restore.sql.gz) bytes, SHA-256 $got; the manifest: $(sed -n "s/^bytes${tab}//p" "$m") bytes, $want): nothing was changed" >&2
  exit 1
fi
if ! dump_complete /work/restore.sql.gz; then
  echo "FAIL: $RESTORE_BLOB is incomplete (no '-- Dump completed' at its end): nothing was changed" >&2; exit 1
fi
dump_tables /work/restore.sql.gz > /work/dump.tables
if [ ! -s /work/dump.tables ]; then
  echo "FAIL: $RESTORE_BLOB has no tables: nothing was changed" >&2; exit 1
fi
sql -e "CREATE DATABASE IF NOT EXISTS ${bq}${db}${bq} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
existing=$(sql -e "SELECT table_name FROM information_schema.tables WHERE table_schema='$db'")
for t in $existing; do
  sql "$db" -e "DROP TABLE IF EXISTS ${bq}${t}${bq}"
done
echo "emptied $db ($(echo "$existing" | grep -c . || true) tables dropped)"
gunzip -c /work/restore.sql.gz | sql "$db"
sql -e "SELECT table_name FROM information_schema.tables WHERE table_schema='$db'" | LC_ALL=C sort > /work/db.tables
# (coreutils only: a MySQL image need not ship diffutils)
if [ "$(cat /work/dump.tables)" != "$(cat /work/db.tables)" ]; then
  echo "FAIL: the restored tables differ from the dump's (left: only in the dump; right: only in the database):" >&2
  comm -3 /work/dump.tables /work/db.tables >&2
  exit 1
fi
# Each table holds the rows the dump holds (one query for all of them).
sed -n "s/^rows${tab}\([^${tab}]*\)${tab}\(.*\)/\1 \2/p" "$m" | LC_ALL=C sort > /work/dump.rows
sed -n "s/^rows${tab}\([^${tab}]*\)${tab}.*/SELECT '\1', COUNT(*) FROM ${bq}\1${bq}/p" "$m" | sed '2,$s/^/UNION ALL /' > /work/count.sql
sql "$db" < /work/count.sql | tr '\t' ' ' | LC_ALL=C sort > /work/db.rows
if [ "$(cat /work/dump.rows)" != "$(cat /work/db.rows)" ]; then
  echo "FAIL: restored rows differ from the dump's (left: the dump's table and rows; right: the database's):" >&2
  comm -3 /work/dump.rows /work/db.rows >&2
  exit 1
fi
total=0
while read -r _ n; do total=$(( total + n )); done < /work/db.rows
echo "restored $RESTORE_BLOB into $db: $(wc -l < /work/dump.tables) tables, $total rows, as in the dump"
`
)

// FilesMount is where the files Job mounts moodledata (read-only).
const FilesMount = "/moodledata"

// minSizePercent: a dump smaller than this share of the previous one is
// uploaded (it is complete, and the newest state) but fails the Job, so
// the alert fires while the older dumps are still kept.
const minSizePercent = "50"

// RestoreDeadlineHours is how long a restore Job may run (its
// activeDeadlineSeconds), and so how long `pulumi up` waits for it.
const RestoreDeadlineHours = 12

var restoreWait = strconv.Itoa(RestoreDeadlineHours) + "h"

// RestoreJobName derives a Job name from the dump's name and the target
// database: a new dump or target makes a new Job; the same leaves the
// finished one alone. (Moodle's own database keeps the names of earlier
// versions, which hashed the dump's name alone.)
func RestoreJobName(blob, database string) string {
	key := blob
	if database != "" && database != infra.MoodleDatabase {
		key += " into " + database
	}
	sum := sha256.Sum256([]byte(key))
	return "mysql-restore-" + hex.EncodeToString(sum[:])[:10]
}

// New registers the backup jobs.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Backups, error) {
	if args == nil {
		return nil, fmt.Errorf("backups %q: args are required", name)
	}
	a := *args
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("backups %q: %w", name, err)
	}
	ns := infra.NamespaceData
	restoreDB := a.RestoreInto
	if restoreDB == "" {
		restoreDB = infra.MoodleDatabase
	}
	c := &Backups{}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registering backups component %q: %w", name, err)
	}
	in := []pulumi.ResourceOption{pulumi.Parent(c), pulumi.DependsOn(a.DependsOn)}

	sa, err := corev1.NewServiceAccount(ctx, name+"-service-account", &corev1.ServiceAccountArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(infra.BackupWorkload.ServiceAccount), Namespace: pulumi.String(ns),
			Annotations: pulumi.StringMap{"azure.workload.identity/client-id": a.ClientID},
		},
	}, in...)
	if err != nil {
		return nil, fmt.Errorf("creating the backup service account: %w", err)
	}
	creds, err := corev1.NewSecret(ctx, name+"-credentials", &corev1.SecretArgs{
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String("backup-credentials"), Namespace: pulumi.String(ns)},
		Type:       pulumi.String("Opaque"),
		StringData: pulumi.StringMap{"mysql-backup-password": a.BackupPassword, "mysql-root-password": a.RootPassword},
	}, in...)
	if err != nil {
		return nil, fmt.Errorf("creating the backup credentials: %w", err)
	}
	scripts, err := corev1.NewConfigMap(ctx, name+"-scripts", &corev1.ConfigMapArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("backup-scripts"), Namespace: pulumi.String(ns)},
		Data: pulumi.StringMap{
			"dump.sh": pulumi.String(dumpScript), "upload.sh": pulumi.String(uploadScript),
			"snapshot.sh": pulumi.String(snapshotScript), "download.sh": pulumi.String(downloadScript),
			"restore.sh": pulumi.String(restoreScript), "copy.sh": pulumi.String(copyScript),
		},
	}, in...)
	if err != nil {
		return nil, fmt.Errorf("creating the backup scripts: %w", err)
	}
	deps := append(append([]pulumi.ResourceOption{}, in...), pulumi.DependsOn([]pulumi.Resource{sa, creds, scripts}))

	env := corev1.EnvVarArray{
		corev1.EnvVarArgs{Name: pulumi.String("MYSQL_HOST"), Value: pulumi.String(a.MySQLHost)},
		corev1.EnvVarArgs{Name: pulumi.String("MYSQL_PORTS"), Value: pulumi.String(strings.Trim(fmt.Sprint(a.MySQLReadPorts), "[]"))},
		corev1.EnvVarArgs{Name: pulumi.String("MYSQL_WRITE_PORT"), Value: pulumi.String(strconv.Itoa(a.MySQLWritePort))},
		corev1.EnvVarArgs{Name: pulumi.String("SUBSCRIPTION_ID"), Value: a.SubscriptionID},
		corev1.EnvVarArgs{Name: pulumi.String("BACKUP_ACCOUNT"), Value: pulumi.String(a.BackupAccount)},
		corev1.EnvVarArgs{Name: pulumi.String("CONTAINER"), Value: pulumi.String(a.Container)},
		corev1.EnvVarArgs{Name: pulumi.String("FILES_RG"), Value: pulumi.String(a.FilesResourceGroup)},
		corev1.EnvVarArgs{Name: pulumi.String("FILES_ACCOUNT"), Value: pulumi.String(a.FilesAccount)},
		corev1.EnvVarArgs{Name: pulumi.String("SHARE"), Value: pulumi.String(a.Share)},
		corev1.EnvVarArgs{Name: pulumi.String("RETENTION_DAYS"), Value: pulumi.String(strconv.Itoa(a.RetentionDays))},
		corev1.EnvVarArgs{Name: pulumi.String("RESTORE_BLOB"), Value: pulumi.String(a.Restore)},
		// The Azure CLI keeps its login under HOME; the root filesystem
		// is not the job's to write.
		corev1.EnvVarArgs{Name: pulumi.String("HOME"), Value: pulumi.String("/work")},
	}
	secretEnv := func(name, key string) corev1.EnvVarArgs {
		return corev1.EnvVarArgs{Name: pulumi.String(name), ValueFrom: &corev1.EnvVarSourceArgs{
			SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: pulumi.String("backup-credentials"), Key: pulumi.String(key)},
		}}
	}
	container := func(cname, image, script string, extra ...corev1.EnvVarInput) corev1.ContainerArgs {
		e := append(corev1.EnvVarArray{}, env...)
		e = append(e, extra...)
		return corev1.ContainerArgs{
			Name:    pulumi.String(cname),
			Image:   pulumi.String(image),
			Command: pulumi.ToStringArray([]string{"bash", "/scripts/" + script}),
			Env:     e,
			Resources: &corev1.ResourceRequirementsArgs{
				Requests: pulumi.StringMap{"cpu": pulumi.String("100m"), "memory": pulumi.String("256Mi")},
				Limits:   pulumi.StringMap{"memory": pulumi.String("1Gi")},
			},
			SecurityContext: pods.RestrictedWritableRoot(),
			VolumeMounts: corev1.VolumeMountArray{
				corev1.VolumeMountArgs{Name: pulumi.String("scripts"), MountPath: pulumi.String("/scripts")},
				corev1.VolumeMountArgs{Name: pulumi.String("work"), MountPath: pulumi.String("/work")},
			},
		}
	}
	pod := func(kind string, init corev1.ContainerArray, main corev1.ContainerArgs, extra ...corev1.VolumeInput) *corev1.PodTemplateSpecArgs {
		spec := &corev1.PodSpecArgs{
			ServiceAccountName: pulumi.String(infra.BackupWorkload.ServiceAccount),
			RestartPolicy:      pulumi.String("Never"),
			SecurityContext: &corev1.PodSecurityContextArgs{
				RunAsUser: pulumi.Int(jobUID), RunAsGroup: pulumi.Int(jobUID), FsGroup: pulumi.Int(jobUID),
				RunAsNonRoot:   pulumi.Bool(true),
				SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
			},
			InitContainers: init,
			Containers:     corev1.ContainerArray{main},
			Volumes: corev1.VolumeArray{
				corev1.VolumeArgs{Name: pulumi.String("scripts"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: pulumi.String("backup-scripts")}},
				// Scratch space for a dump: sized so a full dump fits.
				corev1.VolumeArgs{Name: pulumi.String("work"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("50Gi")}},
			},
		}
		spec.Volumes = append(spec.Volumes.(corev1.VolumeArray), extra...)
		if a.OnJobsPool {
			pods.OnJobsPool(spec)
		}
		return &corev1.PodTemplateSpecArgs{
			Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.StringMap{
				"azure.workload.identity/use": pulumi.String("true"), KindLabel: pulumi.String(kind),
				infra.AlertLabel: pulumi.String("backup"), infra.SeverityLabel: pulumi.String("critical"),
			}},
			Spec: spec,
		}
	}
	jobLabels := func(kind string) pulumi.StringMap {
		return pulumi.StringMap{KindLabel: pulumi.String(kind), infra.AlertLabel: pulumi.String("backup"), infra.SeverityLabel: pulumi.String("critical")}
	}
	cron := func(rname, objName, kind, schedule string, tmpl *corev1.PodTemplateSpecArgs) error {
		_, err := batchv1.NewCronJob(ctx, rname, &batchv1.CronJobArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(objName), Namespace: pulumi.String(ns), Labels: jobLabels(kind)},
			Spec: &batchv1.CronJobSpecArgs{
				Schedule:                   pulumi.String(schedule),
				TimeZone:                   pulumi.String("Etc/UTC"),
				ConcurrencyPolicy:          pulumi.String("Forbid"),
				StartingDeadlineSeconds:    pulumi.Int(3600),
				SuccessfulJobsHistoryLimit: pulumi.Int(3),
				FailedJobsHistoryLimit:     pulumi.Int(3),
				JobTemplate: &batchv1.JobTemplateSpecArgs{
					Metadata: &metav1.ObjectMetaArgs{Labels: jobLabels(kind)},
					Spec: &batchv1.JobSpecArgs{
						BackoffLimit:          pulumi.Int(2),
						ActiveDeadlineSeconds: pulumi.Int(6 * 3600),
						Template:              tmpl,
					},
				},
			},
		}, deps...)
		if err != nil {
			return fmt.Errorf("creating CronJob %s: %w", objName, err)
		}
		return nil
	}
	if err := cron(name+"-mysql", "mysql-backup", "mysql", a.Schedule, pod("mysql",
		corev1.ContainerArray{container("dump", a.MySQLImage, "dump.sh", secretEnv("MYSQL_PWD", "mysql-backup-password"))},
		container("upload", a.AzureCLIImage, "upload.sh"))); err != nil {
		return nil, err
	}
	// The share's snapshot (in its account), then the copy of its content
	// store to the backup account (outside it), read-only.
	filesCopy := container("copy", a.AzureCLIImage, "copy.sh")
	asMoodle := pods.RestrictedWritableRoot()
	asMoodle.RunAsUser, asMoodle.RunAsGroup = pulumi.Int(moodleUID), pulumi.Int(moodleUID)
	filesCopy.SecurityContext = asMoodle
	filesCopy.VolumeMounts = append(filesCopy.VolumeMounts.(corev1.VolumeMountArray),
		corev1.VolumeMountArgs{Name: pulumi.String("moodledata"), MountPath: pulumi.String(FilesMount), ReadOnly: pulumi.Bool(true)})
	if err := cron(name+"-files", "files-snapshot", "files", a.SnapshotSchedule, pod("files",
		corev1.ContainerArray{container("snapshot", a.AzureCLIImage, "snapshot.sh")}, filesCopy,
		corev1.VolumeArgs{Name: pulumi.String("moodledata"), PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSourceArgs{
			ClaimName: pulumi.String(a.FilesClaim), ReadOnly: pulumi.Bool(true)}})); err != nil {
		return nil, err
	}

	if a.Restore != "" {
		c.RestoreJob = RestoreJobName(a.Restore, restoreDB)
		// RESTORE_DATABASE only for a copy: a restore Job over Moodle's own
		// database keeps the spec earlier versions gave it, since a changed
		// spec replaces the Job, and a replaced restore Job restores again.
		restoreEnv := []corev1.EnvVarInput{secretEnv("MYSQL_ROOT_PASSWORD", "mysql-root-password")}
		if restoreDB != infra.MoodleDatabase {
			restoreEnv = append(restoreEnv, corev1.EnvVarArgs{Name: pulumi.String("RESTORE_DATABASE"), Value: pulumi.String(restoreDB)})
		}
		if _, err := batchv1.NewJob(ctx, name+"-restore", &batchv1.JobArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(c.RestoreJob), Namespace: pulumi.String(ns), Labels: jobLabels("restore")},
			Spec: &batchv1.JobSpecArgs{
				// A half-applied restore is not retried on its own: a person
				// reads the log and decides (docs/restore.md).
				BackoffLimit:          pulumi.Int(0),
				ActiveDeadlineSeconds: pulumi.Int(RestoreDeadlineHours * 3600),
				Template: pod("restore",
					corev1.ContainerArray{container("download", a.AzureCLIImage, "download.sh")},
					container("restore", a.MySQLImage, "restore.sh", restoreEnv...)),
			},
		}, append(deps, pulumi.ReplaceOnChanges([]string{"spec"}), pulumi.DeleteBeforeReplace(true),
			// `pulumi up` waits as long as the Job may run: the provider's
			// default (10 minutes) gave up on a restore still running.
			pulumi.Timeouts(&pulumi.CustomTimeouts{Create: restoreWait, Update: restoreWait}))...); err != nil {
			return nil, fmt.Errorf("creating the restore Job: %w", err)
		}
	}
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"restoreJob": pulumi.String(c.RestoreJob)}); err != nil {
		return nil, fmt.Errorf("registering outputs of backups %q: %w", name, err)
	}
	return c, nil
}
