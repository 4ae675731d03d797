// Package migration copies an existing Moodle into a region stack and
// load-tests the result before the DNS cut-over (docs/migration.md):
//
//   - migrate-files-<run>: rsync of the old moodledata (an NFS export,
//     mounted read-only through a static PersistentVolume) onto the
//     stack's moodledata share, then a comparison of the content store's
//     file list and sizes (filedir); on the cut-over run, after the import
//     and its upgrade, with the new site in maintenance, with each file's
//     content hash checked, and on PASS the FinalMarker that refuses every
//     later run;
//   - migrate-db-<run> (importDatabase): the stack's database emptied, the
//     old one's mysqldump piped into it, then a per-table content checksum
//     comparison; pulumi up waits for it, then for migrate-upgrade-<run>,
//     the site's upgrade Job run again on the imported database;
//   - loadtest-<run>: a k6 run against the new site through the public
//     ingress address (the old DNS still points at the old site), failing
//     when the p95 latency or error-rate thresholds are broken.
//
// Each run number makes new Jobs; an unchanged run number leaves finished
// Jobs alone. The Jobs print PASS or FAIL and a failure exits non-zero,
// which raises the job-failure alert.
package migration

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/fieldcert/moodle-aks/components/internal/pods"
	"github.com/fieldcert/moodle-aks/infra"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the component's type; with the child names it forms URNs.
const TypeToken = "moodle:migration:Migration"

// Object names in the moodle namespace.
const (
	// SourceClaim mounts the old moodledata read-only.
	SourceClaim = "migration-source"
	// SecretName holds the old database's password.
	SecretName = "migration-source"
	// ScriptsName is the ConfigMap with the Jobs' scripts.
	ScriptsName = "migration-scripts"
	// StepLabel names the step of a migration Job ("files", "db", "loadtest").
	StepLabel = "moodle.fieldcert/migration"
)

// Users the Jobs run as: www-data (Moodle's files), mysql, k6.
const (
	wwwDataUID = 33
	mysqlUID   = 999
	k6UID      = 12345
)

// Excluded are moodledata's per-site caches and transient state, which the
// new site rebuilds: copying them would carry stale caches across.
var Excluded = []string{"cache", "localcache", "sessions", "temp", "trashdir", "lock", "muc"}

// Args configures the migration.
type Args struct {
	// Migration and LoadTest are the stack's config (validated by infra).
	Migration infra.Migration
	LoadTest  infra.LoadTest
	// DBPassword is the old database's password (secret; with ImportDatabase).
	DBPassword string
	// MoodleImage, MySQLImage and K6Image are pinned images.
	MoodleImage, MySQLImage, K6Image string
	// ClientID is the migration workload identity's client ID, for reading
	// dumps staged in the backup container (optional).
	ClientID pulumi.StringInput
	// UpgradePod upgrades the imported database (Moodle.UpgradePod; with
	// ImportDatabase).
	UpgradePod *corev1.PodSpecArgs
	// DataClaim is moodledata's claim in the moodle namespace.
	DataClaim string
	// Hostname is the site; IngressIP the ingress gateway's public address.
	Hostname  string
	IngressIP pulumi.StringInput
	// InsecureTLS lets the load test accept a staging certificate.
	InsecureTLS bool
	// OnJobsPool runs the copy Jobs on the jobs pool.
	OnJobsPool bool
	// Move imports the single-instance database of the versions before the
	// cluster into the cluster's primary (infra.DatabaseMove; optional).
	Move *Move
	// DependsOn are created first: namespaces, volumes, MySQL, Moodle.
	DependsOn []pulumi.Resource
}

// Move is a stack's move from its single-instance MySQL into the cluster.
type Move struct {
	// Run numbers the import (databaseMove.importRun > 0).
	Run int
	// SourceHost is the single instance's Service; SourcePassword its root
	// password (secret).
	SourceHost     string
	SourcePassword pulumi.StringInput
}

func (a *Args) validate() error {
	var errs []error
	m := a.Migration
	if m.Enabled() {
		if m.FilesServer == "" || m.FilesPath == "" {
			errs = append(errs, errors.New("filesServer and filesPath are required"))
		}
		if a.MoodleImage == "" || a.DataClaim == "" {
			errs = append(errs, errors.New("moodleImage and dataClaim are required"))
		}
		if m.ImportDatabase && (m.DBHost == "" || m.DBName == "" || m.DBUser == "" || a.DBPassword == "" || a.MySQLImage == "" || a.UpgradePod == nil) {
			errs = append(errs, errors.New("importDatabase needs dbHost, dbName, dbUser, the password, mysqlImage and upgradePod"))
		}
	}
	if a.Move != nil && (a.Move.Run < 1 || a.Move.SourceHost == "" || a.Move.SourcePassword == nil || a.MySQLImage == "" || a.UpgradePod == nil) {
		errs = append(errs, errors.New("the database move needs a run number, the source's host and password, mysqlImage and upgradePod"))
	}
	if a.LoadTest.Run > 0 && (a.K6Image == "" || a.Hostname == "" || a.IngressIP == nil || len(a.LoadTest.Paths) == 0) {
		errs = append(errs, errors.New("the load test needs k6Image, hostname, ingressIP and paths"))
	}
	if len(a.DependsOn) == 0 {
		errs = append(errs, errors.New("dependsOn is required"))
	}
	return errors.Join(errs...)
}

// Migration is the deployed migration and load test.
type Migration struct {
	pulumi.ResourceState

	// FilesJob, DBJob, UpgradeJob and LoadTestJob are the Jobs' names, or "".
	FilesJob, DBJob, UpgradeJob, LoadTestJob string
	// MoveJob and MoveUpgradeJob are the database move's, or "".
	MoveJob, MoveUpgradeJob string
}

// FinalMarker is the file the final (strict) copy writes into the new
// moodledata when it passes: from then on the new site is the live one and
// every migration Job refuses to run (GuardScript).
const FinalMarker = ".migration-final"

// GuardScript refuses a copy or an import once the final copy has passed:
// it would mirror the old site over the live one. Removing the marker is
// the deliberate way to redo a cut-over.
const GuardScript = "#!/bin/sh\n" + guardBody

const guardBody = `final="${TARGET:-` + DataMount + `}/` + FinalMarker + `"
if [ -e "$final" ]; then
  echo "FAIL: the final copy already passed ($(cat "$final")): this site is live, and a copy or an import now would replace it with the old site. Remove $final only to redo the cut-over (docs/migration.md)." >&2
  exit 1
fi
`

// FilesScript copies moodledata and compares the content store. Deltas
// run while the old site is live may differ; STRICT=1 (the cut-over run,
// with both sites in maintenance) fails on any difference, and on PASS
// writes FinalMarker.
const FilesScript = `#!/bin/bash
set -euo pipefail
src=${SOURCE:-/source} dst=${TARGET:-` + DataMount + `}
` + guardBody + `if [ "${STRICT:-0}" = "1" ] && [ ! -e "$dst/climaintenance.html" ]; then
  echo "FAIL: the new site is not in maintenance ($dst/climaintenance.html is missing): the final copy runs after the import, with both sites closed (maintenanceMode: true)" >&2
  exit 1
fi
if [ ! -d "$src/filedir" ]; then
  echo "FAIL: $src has no filedir: is migration.filesPath the old moodledata?" >&2
  exit 1
fi
echo "copying $src to $dst"
# The new site's maintenance flag and the final marker are its own: never
# copied over, never deleted.
rsync -rlt --delete --partial --stats $EXCLUDES --exclude=/climaintenance.html --exclude=/` + FinalMarker + ` "$src/" "$dst/"
# Compared by file list and sizes, not du: du counts directories, whose
# size depends on the filesystem and on how many entries they once held.
list() { (cd "$1/filedir" && find . -type f -printf '%P\t%s\n' | LC_ALL=C sort); }
scratch=$(mktemp -d)
list "$src" > "$scratch/source" && list "$dst" > "$scratch/target"
total() { awk -F'\t' '{ n++; b += $2 } END { printf "%d files, %d bytes", n, b }' "$1"; }
echo "filedir: source $(total "$scratch/source"); target $(total "$scratch/target")"
same=0
if [ "$(cat "$scratch/source")" = "$(cat "$scratch/target")" ]; then same=1; fi
# Moodle names every stored file after the SHA-1 of its content: on the
# cut-over run, each target file must still hash to its name (a copy that
# kept a file's size and time but not its bytes is caught here).
if [ "$same" = 1 ] && [ "${STRICT:-0}" = "1" ]; then
  bad=$(cd "$dst/filedir" && find . -type f -regextype posix-extended -regex '.*/[0-9a-f]{40}' -print0 |
    xargs -0 -r sha1sum | awk '{ n = $2; sub(/.*\//, "", n); if ($1 != n) print $2 }')
  if [ -n "$bad" ]; then
    echo "FAIL: files whose content does not match their content hash:" >&2; echo "$bad" >&2; exit 1
  fi
fi
if [ "$same" = 1 ]; then
  echo "PASS: moodledata matches"
  if [ "${STRICT:-0}" = "1" ]; then
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), the final copy of $src" > "$dst/` + FinalMarker + `"
    echo "the new site is live: further migration runs are refused ($dst/` + FinalMarker + `)"
  fi
elif [ "${STRICT:-0}" = "1" ]; then
  echo "FAIL: moodledata differs after the final copy" >&2
  exit 1
else
  echo "DIFFERS: expected while the old site is live; the cut-over run (importDatabase: true) must PASS"
fi
`

// DBScript imports the old database into an emptied target and compares
// every table's content (row count and a checksum of every column).
const DBScript = `#!/bin/bash
set -euo pipefail
src() { MYSQL_PWD="$SOURCE_PASSWORD" mysql -h "$SOURCE_HOST" -P "$SOURCE_PORT" -u "$SOURCE_USER" --batch --skip-column-names "$@"; }
# The stack's database requires TLS of the moodle user.
dst() { MYSQL_PWD="$MOODLE_DB_PASSWORD" mysql --ssl-mode=REQUIRED -h "$MOODLE_DB_HOST" -P "$MOODLE_DB_PORT" -u "$MOODLE_DB_USER" --batch --skip-column-names "$@"; }
bq=$'\x60'
tables() { "$1" -e "SELECT table_name FROM information_schema.tables WHERE table_schema='$2' AND table_type='BASE TABLE'" | LC_ALL=C sort; }
# The target is emptied first: an import over a fresh install keeps every
# table the old site does not have, and Moodle's upgrade then fails on it.
dropped=0
for t in $(tables dst "$MOODLE_DB_NAME"); do
  dst "$MOODLE_DB_NAME" -e "DROP TABLE ${bq}${t}${bq}"; dropped=$((dropped+1))
done
echo "emptied $MOODLE_DB_NAME ($dropped tables dropped); importing $SOURCE_DB from $SOURCE_HOST"
MYSQL_PWD="$SOURCE_PASSWORD" mysqldump -h "$SOURCE_HOST" -P "$SOURCE_PORT" -u "$SOURCE_USER" \
  --single-transaction --quick --add-drop-table --set-gtid-purged=OFF --skip-triggers \
  --no-tablespaces --column-statistics=0 --default-character-set=utf8mb4 "$SOURCE_DB" \
  | dst "$MOODLE_DB_NAME"
tables src "$SOURCE_DB" > /tmp/source.tables
tables dst "$MOODLE_DB_NAME" > /tmp/target.tables
# (coreutils only: a MySQL image need not ship diffutils)
if [ "$(cat /tmp/source.tables)" != "$(cat /tmp/target.tables)" ]; then
  echo "FAIL: the target's tables differ from the source's (left: only in the source; right: only in the target):" >&2
  comm -3 /tmp/source.tables /tmp/target.tables >&2
  exit 1
fi
# Content, not row counts: the rows' count and the sum of a CRC32 over every
# column (NULL kept apart from the empty string), the same query both sides.
fail=0 n=0
while read -r t; do
  cols=$(src -e "SELECT column_name FROM information_schema.columns WHERE table_schema='$SOURCE_DB' AND table_name='$t' ORDER BY ordinal_position" |
    sed "s/.*/IFNULL(CAST(${bq}&${bq} AS CHAR), '~NULL~')/" | paste -sd, -)
  q="SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', $cols))), 0) FROM ${bq}${t}${bq}"
  a=$(src "$SOURCE_DB" -e "$q")
  b=$(dst "$MOODLE_DB_NAME" -e "$q" 2>/dev/null || echo missing)
  n=$((n+1))
  if [ "$a" != "$b" ]; then echo "MISMATCH $t: source $a, target $b (rows, checksum)" >&2; fail=1; fi
done < /tmp/source.tables
if [ "$n" = 0 ] || [ "$fail" = 1 ]; then
  echo "FAIL: the imported database differs from the source ($n tables compared)" >&2
  exit 1
fi
echo "PASS: $n tables, contents match (rows and checksums)"
`

// LoadTestScript is the k6 script: users ramp up, hold and ramp down
// while fetching each path; thresholds decide the exit code (99 on
// failure).
const LoadTestScript = `import http from 'k6/http';
import { check, sleep } from 'k6';

const paths = JSON.parse(__ENV.PATHS);
export const options = {
  // The site's name still resolves to the old site: go to the new ingress.
  hosts: { [__ENV.TARGET_HOST]: __ENV.TARGET_IP },
  insecureSkipTLSVerify: __ENV.INSECURE_TLS === 'true',
  stages: [
    { duration: __ENV.RAMP_UP, target: Number(__ENV.VUS) },
    { duration: __ENV.DURATION, target: Number(__ENV.VUS) },
    { duration: '1m', target: 0 },
  ],
  thresholds: {
    http_req_duration: ['p(95)<' + __ENV.P95_MS],
    http_req_failed: ['rate<' + Number(__ENV.MAX_ERROR_PERCENT) / 100],
    checks: ['rate>0.99'],
  },
};

export default function () {
  for (const p of paths) {
    const res = http.get('https://' + __ENV.TARGET_HOST + p, { tags: { name: p } });
    check(res, { 'status 200': (r) => r.status === 200 });
    sleep(1);
  }
}
`

// DataMount is where the copy Job mounts the stack's moodledata.
const DataMount = "/moodledata"

// New registers the migration Jobs the config asks for (none when both
// migration.run and loadTest.run are 0).
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Migration, error) {
	if args == nil {
		return nil, fmt.Errorf("migration %q: args are required", name)
	}
	a := *args
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("migration %q: %w", name, err)
	}
	c := &Migration{}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registering migration component %q: %w", name, err)
	}
	in := []pulumi.ResourceOption{pulumi.Parent(c), pulumi.DependsOn(a.DependsOn)}
	if a.Migration.Enabled() {
		if err := a.copyJobs(ctx, name, c, in); err != nil {
			return nil, err
		}
	}
	if a.LoadTest.Run > 0 {
		if err := a.loadTest(ctx, name, c, in); err != nil {
			return nil, err
		}
	}
	if a.Move != nil {
		if err := a.moveJobs(ctx, name, c, in); err != nil {
			return nil, err
		}
	}
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"filesJob": pulumi.String(c.FilesJob), "dbJob": pulumi.String(c.DBJob), "upgradeJob": pulumi.String(c.UpgradeJob), "loadTestJob": pulumi.String(c.LoadTestJob),
		"moveJob": pulumi.String(c.MoveJob), "moveUpgradeJob": pulumi.String(c.MoveUpgradeJob),
	}); err != nil {
		return nil, fmt.Errorf("registering outputs of migration %q: %w", name, err)
	}
	return c, nil
}

// job registers a migration Job. Each run number names a new Job; the spec
// is immutable, so a changed spec replaces it under the same name. With
// await false the provider does not wait for it (a first copy of a large
// moodledata takes hours); otherwise pulumi up waits up to the deadline and
// fails with the Job.
func job(ctx *pulumi.Context, name, objName, ns, step string, pod *corev1.PodSpecArgs, deadline int, await bool, in []pulumi.ResourceOption) (*batchv1.Job, error) {
	labels := pulumi.StringMap{
		StepLabel: pulumi.String(step), infra.AppLabel: pulumi.String("migration"),
		infra.AlertLabel: pulumi.String("migration"), infra.SeverityLabel: pulumi.String("critical"),
	}
	podLabels := maps.Clone(labels)
	if step == "loadtest" {
		// A load test is a client from outside: through the public
		// ingress like a user, not through the mesh.
		podLabels["sidecar.istio.io/inject"] = pulumi.String("false")
	}
	pod.RestartPolicy = pulumi.String("Never")
	var annotations pulumi.StringMap
	opts := append(slices.Clone(in), pulumi.DeleteBeforeReplace(true))
	if await {
		t := strconv.Itoa(deadline/3600) + "h"
		opts = append(opts, pulumi.Timeouts(&pulumi.CustomTimeouts{Create: t, Update: t}))
	} else {
		annotations = pulumi.StringMap{"pulumi.com/skipAwait": pulumi.String("true")}
	}
	j, err := batchv1.NewJob(ctx, name+"-"+step, &batchv1.JobArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(objName), Namespace: pulumi.String(ns), Labels: labels, Annotations: annotations,
		},
		Spec: &batchv1.JobSpecArgs{
			BackoffLimit:          pulumi.Int(0), // a failed copy needs a person
			ActiveDeadlineSeconds: pulumi.Int(deadline),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: podLabels},
				Spec:     pod,
			},
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating the %s Job: %w", objName, err)
	}
	return j, nil
}

func (a *Args) jobsPool(pod *corev1.PodSpecArgs) {
	if !a.OnJobsPool {
		return
	}
	pods.OnJobsPool(pod)
}

func (a *Args) copyJobs(ctx *pulumi.Context, name string, c *Migration, in []pulumi.ResourceOption) error {
	m := a.Migration
	ns := infra.NamespaceMoodle
	run := strconv.Itoa(m.Run)
	meta := func(n string) *metav1.ObjectMetaArgs {
		return &metav1.ObjectMetaArgs{Name: pulumi.String(n), Namespace: pulumi.String(ns), Labels: pulumi.StringMap{infra.AppLabel: pulumi.String("migration")}}
	}
	// The old moodledata, read-only. Restricted pods may not mount NFS
	// inline, so a static volume (Retain: deleting it never touches the
	// old files) bound to one claim by name.
	pvName := "migration-source"
	pv, err := corev1.NewPersistentVolume(ctx, name+"-source-pv", &corev1.PersistentVolumeArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(pvName), Labels: pulumi.StringMap{infra.AppLabel: pulumi.String("migration")}},
		Spec: &corev1.PersistentVolumeSpecArgs{
			Capacity:                      pulumi.StringMap{"storage": pulumi.String("1Ti")},
			AccessModes:                   pulumi.StringArray{pulumi.String("ReadOnlyMany")},
			PersistentVolumeReclaimPolicy: pulumi.String("Retain"),
			StorageClassName:              pulumi.String(""),
			MountOptions:                  pulumi.StringArray{pulumi.String("nfsvers=4.1"), pulumi.String("ro"), pulumi.String("hard")},
			Nfs:                           &corev1.NFSVolumeSourceArgs{Server: pulumi.String(m.FilesServer), Path: pulumi.String(m.FilesPath), ReadOnly: pulumi.Bool(true)},
			ClaimRef:                      &corev1.ObjectReferenceArgs{Namespace: pulumi.String(ns), Name: pulumi.String(SourceClaim)},
		},
	}, in...)
	if err != nil {
		return fmt.Errorf("creating the migration source volume: %w", err)
	}
	if _, err := corev1.NewPersistentVolumeClaim(ctx, name+"-source-pvc", &corev1.PersistentVolumeClaimArgs{
		Metadata: meta(SourceClaim),
		Spec: &corev1.PersistentVolumeClaimSpecArgs{
			AccessModes:      pulumi.StringArray{pulumi.String("ReadOnlyMany")},
			StorageClassName: pulumi.String(""),
			VolumeName:       pulumi.String(pvName),
			Resources:        &corev1.VolumeResourceRequirementsArgs{Requests: pulumi.StringMap{"storage": pulumi.String("1Ti")}},
		},
	}, append(in, pulumi.DependsOn([]pulumi.Resource{pv}))...); err != nil {
		return fmt.Errorf("creating the migration source claim: %w", err)
	}
	sa := meta(infra.MigrationWorkload.ServiceAccount)
	if a.ClientID != nil {
		sa.Annotations = pulumi.StringMap{"azure.workload.identity/client-id": a.ClientID}
	}
	if _, err := corev1.NewServiceAccount(ctx, name+"-sa", &corev1.ServiceAccountArgs{
		Metadata:                     sa,
		AutomountServiceAccountToken: pulumi.Bool(false),
	}, in...); err != nil {
		return fmt.Errorf("creating the migration service account: %w", err)
	}
	if _, err := corev1.NewConfigMap(ctx, name+"-scripts", &corev1.ConfigMapArgs{
		Metadata: meta(ScriptsName),
		Data: pulumi.StringMap{"files.sh": pulumi.String(FilesScript), "db.sh": pulumi.String(DBScript),
			"guard.sh": pulumi.String(GuardScript)},
	}, in...); err != nil {
		return fmt.Errorf("creating the migration scripts: %w", err)
	}
	excludes := ""
	for _, d := range Excluded {
		excludes += " --exclude=/" + d + "/"
	}
	strict := "0"
	if m.ImportDatabase {
		strict = "1"
	}
	scripts := corev1.VolumeArgs{Name: pulumi.String("scripts"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: pulumi.String(ScriptsName), DefaultMode: pulumi.Int(0o555)}}
	tmp := corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{}}
	mount := func(n, path string, ro bool) corev1.VolumeMountArgs {
		return corev1.VolumeMountArgs{Name: pulumi.String(n), MountPath: pulumi.String(path), ReadOnly: pulumi.Bool(ro)}
	}
	files := &corev1.PodSpecArgs{
		ServiceAccountName: pulumi.String(infra.MigrationWorkload.ServiceAccount),
		// No fsGroup: the copy writes as www-data, who owns moodledata
		// already, and an ownership change would walk the whole share.
		SecurityContext: pods.RunAs(wwwDataUID),
		Containers: corev1.ContainerArray{corev1.ContainerArgs{
			Name: pulumi.String("files"), Image: pulumi.String(a.MoodleImage),
			Command: pulumi.ToStringArray([]string{"/scripts/files.sh"}),
			Env:     corev1.EnvVarArray{pods.Value("EXCLUDES", excludes[1:]), pods.Value("STRICT", strict)},
			Resources: &corev1.ResourceRequirementsArgs{
				Requests: pulumi.StringMap{"cpu": pulumi.String("500m"), "memory": pulumi.String("512Mi")},
				Limits:   pulumi.StringMap{"memory": pulumi.String("2Gi")},
			},
			SecurityContext: pods.Restricted(),
			VolumeMounts: corev1.VolumeMountArray{
				mount("source", "/source", true), mount("moodledata", DataMount, false),
				mount("scripts", "/scripts", true), mount("tmp", "/tmp", false),
			},
		}},
		Volumes: corev1.VolumeArray{
			corev1.VolumeArgs{Name: pulumi.String("source"), PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSourceArgs{ClaimName: pulumi.String(SourceClaim), ReadOnly: pulumi.Bool(true)}},
			corev1.VolumeArgs{Name: pulumi.String("moodledata"), PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSourceArgs{ClaimName: pulumi.String(a.DataClaim)}},
			scripts, tmp,
		},
	}
	a.jobsPool(files)
	c.FilesJob = "migrate-files-" + run
	if !m.ImportDatabase {
		_, err := job(ctx, name, c.FilesJob, ns, "files", files, 24*3600, false, in)
		return err
	}
	if _, err := corev1.NewSecret(ctx, name+"-secret", &corev1.SecretArgs{
		Metadata:   meta(SecretName),
		Type:       pulumi.String("Opaque"),
		StringData: pulumi.StringMap{"password": pulumi.ToSecret(pulumi.String(a.DBPassword)).(pulumi.StringOutput)},
	}, append(in, pulumi.AdditionalSecretOutputs([]string{"stringData", "data"}))...); err != nil {
		return fmt.Errorf("creating the migration source secret: %w", err)
	}
	// The import first asks the new moodledata whether the final copy has
	// passed (GuardScript), as www-data, who may read it.
	guardUser := pods.Restricted()
	guardUser.RunAsUser, guardUser.RunAsGroup = pulumi.Int(wwwDataUID), pulumi.Int(wwwDataUID)
	db := &corev1.PodSpecArgs{
		ServiceAccountName: pulumi.String(infra.MigrationWorkload.ServiceAccount),
		SecurityContext:    pods.RunAs(mysqlUID),
		InitContainers: corev1.ContainerArray{corev1.ContainerArgs{
			Name: pulumi.String("guard"), Image: pulumi.String(a.MoodleImage),
			Command: pulumi.ToStringArray([]string{"/scripts/guard.sh"}),
			Resources: &corev1.ResourceRequirementsArgs{
				Requests: pulumi.StringMap{"cpu": pulumi.String("10m"), "memory": pulumi.String("16Mi")},
				Limits:   pulumi.StringMap{"memory": pulumi.String("64Mi")},
			},
			SecurityContext: guardUser,
			VolumeMounts:    corev1.VolumeMountArray{mount("moodledata", DataMount, true), mount("scripts", "/scripts", true)},
		}},
		Containers: corev1.ContainerArray{corev1.ContainerArgs{
			Name: pulumi.String("db"), Image: pulumi.String(a.MySQLImage),
			Command: pulumi.ToStringArray([]string{"/scripts/db.sh"}),
			Env: corev1.EnvVarArray{
				pods.Value("SOURCE_HOST", m.DBHost), pods.Value("SOURCE_PORT", strconv.Itoa(m.DBPort)),
				pods.Value("SOURCE_DB", m.DBName), pods.Value("SOURCE_USER", m.DBUser),
				pods.FromSecret("SOURCE_PASSWORD", SecretName, "password"),
				pods.FromSecret("MOODLE_DB_HOST", infra.MoodleDBSecret, "host"),
				pods.FromSecret("MOODLE_DB_PORT", infra.MoodleDBSecret, "port"),
				pods.FromSecret("MOODLE_DB_NAME", infra.MoodleDBSecret, "name"),
				pods.FromSecret("MOODLE_DB_USER", infra.MoodleDBSecret, "user"),
				pods.FromSecret("MOODLE_DB_PASSWORD", infra.MoodleDBSecret, "password"),
			},
			Resources: &corev1.ResourceRequirementsArgs{
				Requests: pulumi.StringMap{"cpu": pulumi.String("500m"), "memory": pulumi.String("512Mi")},
				Limits:   pulumi.StringMap{"memory": pulumi.String("2Gi")},
			},
			SecurityContext: pods.Restricted(),
			VolumeMounts:    corev1.VolumeMountArray{mount("scripts", "/scripts", true), mount("tmp", "/tmp", false)},
		}},
		Volumes: corev1.VolumeArray{scripts, tmp,
			corev1.VolumeArgs{Name: pulumi.String("moodledata"), PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSourceArgs{ClaimName: pulumi.String(a.DataClaim), ReadOnly: pulumi.Bool(true)}}},
	}
	a.jobsPool(db)
	c.DBJob = "migrate-db-" + run
	imported, err := job(ctx, name, c.DBJob, ns, "db", db, 6*3600, true, in)
	if err != nil {
		return err
	}
	// The imported database is the old site's version: upgrade it to this
	// image's code, as the site's own upgrade Job does.
	c.UpgradeJob = "migrate-upgrade-" + run
	upgraded, err := job(ctx, name, c.UpgradeJob, ns, "upgrade", a.UpgradePod, 3*3600, true, append(in, pulumi.DependsOn([]pulumi.Resource{imported})))
	if err != nil {
		return err
	}
	// The final copy last: after the import and its upgrade (both awaited),
	// with the new site in maintenance (config requires maintenanceMode),
	// so nothing changes moodledata while it is compared.
	_, err = job(ctx, name, c.FilesJob, ns, "files", files, 24*3600, false, append(in, pulumi.DependsOn([]pulumi.Resource{upgraded})))
	return err
}

func (a *Args) loadTest(ctx *pulumi.Context, name string, c *Migration, in []pulumi.ResourceOption) error {
	l := a.LoadTest
	ns := infra.NamespaceIntegrations
	if _, err := corev1.NewConfigMap(ctx, name+"-loadtest-script", &corev1.ConfigMapArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("loadtest-script"), Namespace: pulumi.String(ns)},
		Data:     pulumi.StringMap{"loadtest.js": pulumi.String(LoadTestScript)},
	}, in...); err != nil {
		return fmt.Errorf("creating the load test script: %w", err)
	}
	paths, err := json.Marshal(l.Paths)
	if err != nil {
		return fmt.Errorf("encoding loadTest.paths: %w", err)
	}
	pod := &corev1.PodSpecArgs{
		SecurityContext: pods.RunAs(k6UID),
		Containers: corev1.ContainerArray{corev1.ContainerArgs{
			Name: pulumi.String("k6"), Image: pulumi.String(a.K6Image),
			Args: pulumi.ToStringArray([]string{"run", "--no-usage-report", "/scripts/loadtest.js"}),
			Env: corev1.EnvVarArray{
				pods.Value("TARGET_HOST", a.Hostname),
				corev1.EnvVarArgs{Name: pulumi.String("TARGET_IP"), Value: a.IngressIP},
				pods.Value("INSECURE_TLS", strconv.FormatBool(a.InsecureTLS)),
				pods.Value("VUS", strconv.Itoa(l.VirtualUsers)), pods.Value("RAMP_UP", l.RampUp), pods.Value("DURATION", l.Duration),
				pods.Value("PATHS", string(paths)), pods.Value("P95_MS", strconv.Itoa(l.P95Ms)),
				pods.Value("MAX_ERROR_PERCENT", strconv.Itoa(l.MaxErrorPercent)), pods.Value("HOME", "/tmp"),
			},
			Resources: &corev1.ResourceRequirementsArgs{
				Requests: pulumi.StringMap{"cpu": pulumi.String("1"), "memory": pulumi.String("1Gi")},
				Limits:   pulumi.StringMap{"memory": pulumi.String("4Gi")},
			},
			SecurityContext: pods.Restricted(),
			VolumeMounts: corev1.VolumeMountArray{
				corev1.VolumeMountArgs{Name: pulumi.String("script"), MountPath: pulumi.String("/scripts"), ReadOnly: pulumi.Bool(true)},
				corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
			},
		}},
		Volumes: corev1.VolumeArray{
			corev1.VolumeArgs{Name: pulumi.String("script"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: pulumi.String("loadtest-script")}},
			corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{}},
		},
	}
	a.jobsPool(pod) // the load generator should not compete with Moodle for its nodes
	c.LoadTestJob = "loadtest-" + strconv.Itoa(l.Run)
	_, err = job(ctx, name, c.LoadTestJob, ns, "loadtest", pod, 4*3600, false, in)
	return err
}

// MoveSecret holds the single instance's root password for the move.
const MoveSecret = "database-move-source"

// moveJobs dumps the single instance into the cluster's primary (the
// migration's DBScript: the same dump, import and row-count check), then
// runs Moodle's upgrade on it, as the migration does after an import.
func (a *Args) moveJobs(ctx *pulumi.Context, name string, c *Migration, in []pulumi.ResourceOption) error {
	ns := infra.NamespaceMoodle
	run := strconv.Itoa(a.Move.Run)
	meta := func(n string) *metav1.ObjectMetaArgs {
		return &metav1.ObjectMetaArgs{Name: pulumi.String(n), Namespace: pulumi.String(ns), Labels: pulumi.StringMap{infra.AppLabel: pulumi.String("database-move")}}
	}
	secret, err := corev1.NewSecret(ctx, name+"-move-secret", &corev1.SecretArgs{
		Metadata:   meta(MoveSecret),
		Type:       pulumi.String("Opaque"),
		StringData: pulumi.StringMap{"password": a.Move.SourcePassword},
	}, append(in, pulumi.AdditionalSecretOutputs([]string{"stringData", "data"}))...)
	if err != nil {
		return fmt.Errorf("creating the database move's secret: %w", err)
	}
	scripts, err := corev1.NewConfigMap(ctx, name+"-move-scripts", &corev1.ConfigMapArgs{
		Metadata: meta("database-move-scripts"),
		Data:     pulumi.StringMap{"db.sh": pulumi.String(DBScript)},
	}, in...)
	if err != nil {
		return fmt.Errorf("creating the database move's script: %w", err)
	}
	pod := &corev1.PodSpecArgs{
		// No Azure access: the default service account, without a token.
		AutomountServiceAccountToken: pulumi.Bool(false),
		SecurityContext:              pods.RunAs(mysqlUID),
		Containers: corev1.ContainerArray{corev1.ContainerArgs{
			Name: pulumi.String("db"), Image: pulumi.String(a.MySQLImage),
			Command: pulumi.ToStringArray([]string{"/scripts/db.sh"}),
			Env: corev1.EnvVarArray{
				pods.Value("SOURCE_HOST", a.Move.SourceHost), pods.Value("SOURCE_PORT", strconv.Itoa(infra.MySQLPort)),
				pods.Value("SOURCE_DB", infra.MoodleDatabase), pods.Value("SOURCE_USER", "root"),
				pods.FromSecret("SOURCE_PASSWORD", MoveSecret, "password"),
				pods.FromSecret("MOODLE_DB_HOST", infra.MoodleDBSecret, "host"),
				pods.FromSecret("MOODLE_DB_PORT", infra.MoodleDBSecret, "port"),
				pods.FromSecret("MOODLE_DB_NAME", infra.MoodleDBSecret, "name"),
				pods.FromSecret("MOODLE_DB_USER", infra.MoodleDBSecret, "user"),
				pods.FromSecret("MOODLE_DB_PASSWORD", infra.MoodleDBSecret, "password"),
				pods.Value("HOME", "/tmp"),
			},
			Resources: &corev1.ResourceRequirementsArgs{
				Requests: pulumi.StringMap{"cpu": pulumi.String("500m"), "memory": pulumi.String("512Mi")},
				Limits:   pulumi.StringMap{"memory": pulumi.String("2Gi")},
			},
			SecurityContext: pods.Restricted(),
			VolumeMounts: corev1.VolumeMountArray{
				corev1.VolumeMountArgs{Name: pulumi.String("scripts"), MountPath: pulumi.String("/scripts"), ReadOnly: pulumi.Bool(true)},
				corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
			},
		}},
		Volumes: corev1.VolumeArray{
			corev1.VolumeArgs{Name: pulumi.String("scripts"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: pulumi.String("database-move-scripts"), DefaultMode: pulumi.Int(0o555)}},
			corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{}},
		},
	}
	a.jobsPool(pod)
	c.MoveJob = "move-db-" + run
	imported, err := job(ctx, name, c.MoveJob, ns, "move", pod, 6*3600, true, append(in, pulumi.DependsOn([]pulumi.Resource{secret, scripts})))
	if err != nil {
		return err
	}
	c.MoveUpgradeJob = "move-upgrade-" + run
	_, err = job(ctx, name, c.MoveUpgradeJob, ns, "move-upgrade", a.UpgradePod, 3*3600, true, append(in, pulumi.DependsOn([]pulumi.Resource{imported})))
	return err
}
