// Package moodle provides the Moodle workloads: the web Deployment with its
// Service, HorizontalPodAutoscaler and disruption budget; cron as a
// CronJob every minute; the upgrade Job (install on an empty database) that
// runs whenever the code changes, before the new web pods roll out; and
// maintenance mode switched from config. All run the same image, as
// www-data under the restricted Pod Security Standard.
package moodle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/fieldcert/moodle-aks/components/internal/pods"
	"github.com/fieldcert/moodle-aks/components/internal/tlscert"
	"github.com/fieldcert/moodle-aks/infra"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	autoscalingv2 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/autoscaling/v2"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the component's type; with the child names it forms URNs.
const TypeToken = "moodle:moodle:Moodle"

// Paths inside the pods.
const (
	CodeDir       = "/var/www/moodle"
	DataRoot      = "/moodledata"
	LocalCacheDir = "/var/moodle-localcache"
	wwwDataUID    = 33
)

// AdminSecret holds the password of the "admin" account created at install.
const AdminSecret = "moodle-admin"

// DataTLSSecret is Moodle's client certificate for the data tier (ca.crt,
// tls.crt, tls.key), mounted read-only at DataTLSDir in every Moodle pod.
const (
	DataTLSSecret = "moodle-data-tls"
	DataTLSDir    = "/etc/moodle/data-tls"
)

// exporterPort is the Apache exporter's metrics port.
const exporterPort = 9117

// StatusPort is Apache's status endpoint, on the pod's loopback only
// (images/moodle/apache.conf): the exporter reads it, nothing routes to it.
const StatusPort = 8081

// SMTPSecret holds the SMTP password Moodle's own mail logs in with.
const SMTPSecret = "moodle-smtp"

// Args configures Moodle.
type Args struct {
	// Image is the Moodle image built from images/moodle, pinned (required).
	Image string
	// Hostname is the site's name (wwwroot https://<hostname>) (required).
	Hostname string
	// MinReplicas and MaxReplicas bound the web autoscaler (required).
	MinReplicas, MaxReplicas int
	// CPUMillis and MemoryMiB size each web pod (required).
	CPUMillis, MemoryMiB int
	// PluginMode is "baked" (code from the image) or "share" (code on the
	// add-on share, so plugins installed from the web UI persist).
	PluginMode string
	// DataClaim and AddonsClaim are the RWX claims of moodledata and, with
	// PluginMode "share", of the code (required / share only).
	DataClaim, AddonsClaim string
	// DefaultLanguage is the site language (required).
	DefaultLanguage string
	// LanguagePacks are the packs the site offers; the upgrade Job checks
	// the image has them (images/moodle/language-packs.txt; infra checks it first).
	LanguagePacks []string
	// MathJaxURL is where the MathJax filter loads MathJax from (the
	// site's own copy); empty: the upgrade Job disables the filter, which
	// would otherwise load it from a global CDN in learners' browsers.
	MathJaxURL string
	// SiteName and AdminEmail are used when an empty database is installed.
	SiteName, AdminEmail string
	// Maintenance puts the site in maintenance mode.
	Maintenance bool
	// OnJobsPool runs cron and the admin jobs on the jobs pool.
	OnJobsPool bool
	// SMTPHost ("host:port"), SMTPFrom, SMTPUsername and SMTPPassword
	// (secret) are the relay Moodle's own mail goes through (password resets,
	// notifications); all optional, SMTPFrom required with SMTPHost.
	SMTPHost, SMTPFrom, SMTPUsername string
	SMTPPassword                     pulumi.StringInput
	// ExporterImage is the Apache exporter sidecar of the web pods, pinned
	// (required): Prometheus reads workers and requests from it.
	ExporterImage string
	// DatabaseEndpoint is where Moodle's database secret points (host:port):
	// the web pods roll when it changes, because a container reads its
	// environment only when it starts (a stack's database move).
	DatabaseEndpoint string
	// DataIssuer is the ClusterIssuer of the data tier's CA: Moodle's client
	// certificate comes from it, and its ca.crt checks the data stores'
	// servers (required).
	DataIssuer string
	// DependsOn are created first: namespaces, claims, database, Redis,
	// the mesh (required).
	DependsOn []pulumi.Resource
}

// Moodle is the deployed site.
type Moodle struct {
	pulumi.ResourceState

	// UpgradeJob is the name of the Job that upgrades to this image.
	UpgradeJob string
	// Upgraded is the upgrade Job: what a workload that needs the site's
	// schema in place depends on (a concrete resource: depending on the
	// component would take whichever children exist at that moment).
	Upgraded pulumi.Resource

	args Args
}

// UpgradePod is the upgrade Job's pod (moodle-admin upgrade, as the admin
// service account, with this site's settings), for a Job outside this
// component that must upgrade the database again: the migration's, after
// it imports an older site's database.
func (m *Moodle) UpgradePod() *corev1.PodSpecArgs { return m.args.upgradePod() }

// upgradePod runs moodle-admin upgrade: install an empty database or
// upgrade it to this image, then set the language and maintenance mode.
func (a *Args) upgradePod() *corev1.PodSpecArgs {
	maintenance := "0"
	if a.Maintenance {
		maintenance = "1"
	}
	var initC corev1.ContainerArray
	if a.PluginMode == "share" {
		initC = corev1.ContainerArray{a.container("sync-code", []string{"moodle-admin", "sync-code"})}
	}
	upgrade := a.container("upgrade", []string{"moodle-admin", "upgrade"},
		// The install-time password, as a file of this Job's alone
		// (moodle-admin reads it; seal-admin.php replaces it right after).
		pods.Value("MOODLE_ADMIN_PASSWORD_FILE", AdminPasswordDir+"/password"),
		pods.Value("MOODLE_ADMIN_EMAIL", a.AdminEmail),
		pods.Value("MOODLE_SITE_NAME", a.SiteName),
		pods.Value("MOODLE_SITE_SHORTNAME", strings.Split(a.Hostname, ".")[0]),
		pods.Value("MOODLE_MAINTENANCE", maintenance),
		pods.Value("MOODLE_LANGUAGE_PACKS", strings.Join(a.LanguagePacks, " ")))
	upgrade.VolumeMounts = append(upgrade.VolumeMounts.(corev1.VolumeMountArray),
		corev1.VolumeMountArgs{Name: pulumi.String("admin-password"), MountPath: pulumi.String(AdminPasswordDir), ReadOnly: pulumi.Bool(true)})
	s := a.podSpec(infra.MoodleAdminServiceAccount, true, corev1.ContainerArray{upgrade}, initC)
	s.Volumes = append(s.Volumes.(corev1.VolumeArray), corev1.VolumeArgs{Name: pulumi.String("admin-password"), Secret: &corev1.SecretVolumeSourceArgs{
		SecretName: pulumi.String(AdminSecret), DefaultMode: pulumi.Int(0o440),
		Items: corev1.KeyToPathArray{corev1.KeyToPathArgs{Key: pulumi.String("password"), Path: pulumi.String("password")}},
	}})
	s.RestartPolicy = pulumi.String("Never")
	return s
}

func (a *Args) validate() error {
	var errs []error
	if a.Image == "" || strings.HasSuffix(a.Image, ":latest") {
		errs = append(errs, fmt.Errorf("image %q must be pinned", a.Image))
	}
	if a.ExporterImage == "" {
		errs = append(errs, errors.New("exporterImage is required"))
	}
	if a.Hostname == "" || a.DataClaim == "" || a.DefaultLanguage == "" || a.SiteName == "" || a.AdminEmail == "" {
		errs = append(errs, errors.New("hostname, dataClaim, defaultLanguage, siteName and adminEmail are required"))
	}
	if a.MinReplicas < 1 || a.MaxReplicas < a.MinReplicas {
		errs = append(errs, fmt.Errorf("replicas %d..%d are invalid", a.MinReplicas, a.MaxReplicas))
	}
	if a.CPUMillis < 100 || a.MemoryMiB < 256 {
		errs = append(errs, fmt.Errorf("%dm CPU and %d MiB are below a web pod's minimum (100m, 256 MiB)", a.CPUMillis, a.MemoryMiB))
	}
	if !slices.Contains([]string{"baked", "share"}, a.PluginMode) {
		errs = append(errs, fmt.Errorf("pluginMode %q is not baked or share", a.PluginMode))
	}
	if a.PluginMode == "share" && a.AddonsClaim == "" {
		errs = append(errs, errors.New("pluginMode share needs the addons claim"))
	}
	if len(a.DependsOn) == 0 {
		errs = append(errs, errors.New("dependsOn is required"))
	}
	if a.DataIssuer == "" {
		errs = append(errs, errors.New("dataIssuer is required: the data stores speak TLS only"))
	}
	if a.SMTPHost != "" && a.SMTPFrom == "" {
		errs = append(errs, errors.New("smtpFrom is required with smtpHost (Moodle's no-reply address)"))
	}
	if a.SMTPPassword != nil && a.SMTPUsername == "" {
		errs = append(errs, errors.New("an SMTP password needs smtpUsername"))
	}
	return errors.Join(errs...)
}

// UpgradeJobName names the upgrade Job after what it installs: a new image,
// plugin mode or language makes a new Job (which runs), the same ones keep
// the finished Job (which does not run again).
func UpgradeJobName(image, pluginMode, language string, packs ...string) string {
	sum := sha256.Sum256([]byte(image + "\x00" + pluginMode + "\x00" + language + "\x00" + strings.Join(packs, " ")))
	return "moodle-upgrade-" + hex.EncodeToString(sum[:])[:10]
}

// env is what every Moodle container gets: config.php reads it.
func (a *Args) env() corev1.EnvVarArray {
	validate := "0"
	if a.PluginMode == "share" {
		validate = "1" // code on the share can change under a running pod
	}
	env := corev1.EnvVarArray{
		pods.FromSecret("MOODLE_DB_HOST", infra.MoodleDBSecret, "host"),
		pods.FromSecret("MOODLE_DB_PORT", infra.MoodleDBSecret, "port"),
		pods.FromSecret("MOODLE_DB_NAME", infra.MoodleDBSecret, "name"),
		pods.FromSecret("MOODLE_DB_USER", infra.MoodleDBSecret, "user"),
		// Reads go to the secondaries through this port ("" on a single
		// instance): $CFG->dboptions['readonly'].
		pods.FromSecret("MOODLE_DB_READONLY_PORT", infra.MoodleDBSecret, "readonly-port"),
		// Every connection to MySQL is encrypted ($CFG->dboptions['ssl']).
		pods.Value("MOODLE_DB_SSL", "require"),
		// The data tier's CA and Moodle's client certificate (Redis).
		pods.Value("MOODLE_DATA_TLS_DIR", DataTLSDir),
		pods.FromSecret("MOODLE_REDIS_SESSIONS_HOST", infra.MoodleRedisSecret, "sessions-host"),
		pods.FromSecret("MOODLE_REDIS_CACHE_HOST", infra.MoodleRedisSecret, "cache-host"),
		// The passwords are files, not variables (SecretFiles).
		pods.Value("MOODLE_SECRETS_DIR", SecretsDir),
		pods.Value("MOODLE_HOSTNAME", a.Hostname),
		pods.Value("MOODLE_DATAROOT", DataRoot),
		pods.Value("MOODLE_LOCALCACHEDIR", LocalCacheDir),
		pods.Value("MOODLE_LANG", a.DefaultLanguage),
		pods.Value("MOODLE_PLUGIN_MODE", a.PluginMode),
		pods.Value("PHP_OPCACHE_VALIDATE_TIMESTAMPS", validate),
	}
	if a.MathJaxURL != "" {
		env = append(env, pods.Value("MOODLE_MATHJAX_URL", a.MathJaxURL))
	}
	if a.SMTPHost != "" {
		env = append(env, pods.Value("MOODLE_SMTP_HOST", a.SMTPHost), pods.Value("MOODLE_SMTP_FROM", a.SMTPFrom))
		if a.SMTPUsername != "" {
			env = append(env, pods.Value("MOODLE_SMTP_USER", a.SMTPUsername))
		}
	}
	return env
}

// volumes and mounts of every Moodle pod: the shared moodledata, per-pod
// caches on emptyDirs, and the code on the add-on share in "share" mode.
func (a *Args) volumes() (corev1.VolumeArray, corev1.VolumeMountArray) {
	vols := corev1.VolumeArray{
		corev1.VolumeArgs{Name: pulumi.String("moodledata"), PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSourceArgs{ClaimName: pulumi.String(a.DataClaim)}},
		// $CFG->localcachedir: never shared between pods.
		corev1.VolumeArgs{Name: pulumi.String("localcache"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("2Gi")}},
		corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("4Gi")}},
		corev1.VolumeArgs{Name: pulumi.String("data-tls"), Secret: &corev1.SecretVolumeSourceArgs{SecretName: pulumi.String(DataTLSSecret)}},
		a.secretsVolume(),
	}
	mounts := corev1.VolumeMountArray{
		corev1.VolumeMountArgs{Name: pulumi.String("secrets"), MountPath: pulumi.String(SecretsDir), ReadOnly: pulumi.Bool(true)},
		corev1.VolumeMountArgs{Name: pulumi.String("data-tls"), MountPath: pulumi.String(DataTLSDir), ReadOnly: pulumi.Bool(true)},
		corev1.VolumeMountArgs{Name: pulumi.String("moodledata"), MountPath: pulumi.String(DataRoot)},
		corev1.VolumeMountArgs{Name: pulumi.String("localcache"), MountPath: pulumi.String(LocalCacheDir)},
		corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
	}
	if a.PluginMode == "share" {
		vols = append(vols, corev1.VolumeArgs{Name: pulumi.String("code"), PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSourceArgs{ClaimName: pulumi.String(a.AddonsClaim)}})
		mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String("code"), MountPath: pulumi.String(CodeDir)})
	}
	return vols, mounts
}

// SecretsDir is where config.php reads the passwords (MOODLE_SECRETS_DIR);
// AdminPasswordDir the upgrade Job's install-time admin password.
const (
	SecretsDir       = "/run/secrets/moodle"
	AdminPasswordDir = "/run/secrets/moodle-admin"
)

// SecretFile is one password config.php reads from SecretsDir: the file,
// and the Secret and key it comes from.
type SecretFile struct{ File, Secret, Key string }

// SecretFiles are the passwords of every Moodle container, as files of
// SecretsDir, never environment variables: Moodle's PHP info page
// (Site administration > Server > PHP info) prints the environment, and so
// does /proc/<pid>/environ to anything running as www-data.
func (a *Args) SecretFiles() []SecretFile {
	files := []SecretFile{
		{"db-password", infra.MoodleDBSecret, "password"},
		{"redis-sessions-password", infra.MoodleRedisSecret, "sessions-password"},
		{"redis-cache-password", infra.MoodleRedisSecret, "cache-password"},
	}
	if a.SMTPHost != "" && a.SMTPPassword != nil {
		files = append(files, SecretFile{"smtp-password", SMTPSecret, "password"})
	}
	return files
}

// secretsVolume projects SecretFiles into one read-only volume: 0440, so
// www-data (the pods' fsGroup) reads them and no other user does.
func (a *Args) secretsVolume() corev1.VolumeArgs {
	sources := corev1.VolumeProjectionArray{}
	for _, f := range a.SecretFiles() {
		sources = append(sources, corev1.VolumeProjectionArgs{Secret: &corev1.SecretProjectionArgs{
			Name:  pulumi.String(f.Secret),
			Items: corev1.KeyToPathArray{corev1.KeyToPathArgs{Key: pulumi.String(f.Key), Path: pulumi.String(f.File)}},
		}})
	}
	return corev1.VolumeArgs{Name: pulumi.String("secrets"), Projected: &corev1.ProjectedVolumeSourceArgs{
		DefaultMode: pulumi.Int(0o440), Sources: sources,
	}}
}

// podSpec is the pod of every Moodle workload.
func (a *Args) podSpec(serviceAccount string, jobs bool, containers corev1.ContainerArray, init corev1.ContainerArray) *corev1.PodSpecArgs {
	vols, _ := a.volumes()
	spec := &corev1.PodSpecArgs{
		ServiceAccountName: pulumi.String(serviceAccount),
		SecurityContext: &corev1.PodSecurityContextArgs{
			RunAsUser: pulumi.Int(wwwDataUID), RunAsGroup: pulumi.Int(wwwDataUID), FsGroup: pulumi.Int(wwwDataUID),
			RunAsNonRoot:   pulumi.Bool(true),
			SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
			// Files on the NFS share are owned by www-data already; do not
			// walk the whole share on every mount.
			FsGroupChangePolicy: pulumi.String("OnRootMismatch"),
		},
		InitContainers: init,
		Containers:     containers,
		Volumes:        vols,
	}
	if jobs && a.OnJobsPool {
		pods.OnJobsPool(spec)
	} else {
		spec.NodeSelector = pulumi.StringMap{pods.PoolLabel: pulumi.String("user")}
	}
	return spec
}

func (a *Args) container(name string, command []string, extraEnv ...corev1.EnvVarInput) corev1.ContainerArgs {
	_, mounts := a.volumes()
	env := append(corev1.EnvVarArray{}, a.env()...)
	env = append(env, extraEnv...)
	return corev1.ContainerArgs{
		Name:            pulumi.String(name),
		Image:           pulumi.String(a.Image),
		Command:         pulumi.ToStringArray(command),
		Env:             env,
		VolumeMounts:    mounts,
		SecurityContext: pods.RestrictedWritableRoot(),
		Resources: &corev1.ResourceRequirementsArgs{
			Requests: pulumi.StringMap{"cpu": pulumi.String("250m"), "memory": pulumi.String("512Mi")},
			Limits:   pulumi.StringMap{"memory": pulumi.String("1Gi")},
		},
	}
}

// New registers Moodle.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Moodle, error) {
	if args == nil {
		return nil, fmt.Errorf("moodle %q: args are required", name)
	}
	a := *args
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("moodle %q: %w", name, err)
	}
	ns := infra.NamespaceMoodle
	c := &Moodle{UpgradeJob: UpgradeJobName(a.Image, a.PluginMode, a.DefaultLanguage, a.LanguagePacks...), args: a}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registering moodle component %q: %w", name, err)
	}
	in := []pulumi.ResourceOption{pulumi.Parent(c), pulumi.DependsOn(a.DependsOn)}
	meta := func(n string, labels pulumi.StringMap) *metav1.ObjectMetaArgs {
		return &metav1.ObjectMetaArgs{Name: pulumi.String(n), Namespace: pulumi.String(ns), Labels: labels}
	}

	var accounts []pulumi.Resource
	for _, sa := range []string{infra.MoodleWebServiceAccount, infra.MoodleCronServiceAccount, infra.MoodleAdminServiceAccount} {
		r, err := corev1.NewServiceAccount(ctx, name+"-"+sa, &corev1.ServiceAccountArgs{
			Metadata: meta(sa, nil),
			// Moodle calls no Kubernetes API.
			AutomountServiceAccountToken: pulumi.Bool(false),
		}, in...)
		if err != nil {
			return nil, fmt.Errorf("creating service account %s: %w", sa, err)
		}
		accounts = append(accounts, r)
	}
	adminPw, err := random.NewRandomPassword(ctx, name+"-admin-password", &random.RandomPasswordArgs{
		Length: pulumi.Int(24), Special: pulumi.Bool(true), OverrideSpecial: pulumi.String("-_.!"),
		MinLower: pulumi.Int(1), MinUpper: pulumi.Int(1), MinNumeric: pulumi.Int(1), MinSpecial: pulumi.Int(1),
	}, pulumi.Parent(c))
	if err != nil {
		return nil, fmt.Errorf("generating the admin password: %w", err)
	}
	adminSecret, err := corev1.NewSecret(ctx, name+"-admin", &corev1.SecretArgs{
		Metadata:   meta(AdminSecret, nil),
		Type:       pulumi.String("Opaque"),
		StringData: pulumi.StringMap{"password": adminPw.Result},
	}, in...)
	if err != nil {
		return nil, fmt.Errorf("creating the admin secret: %w", err)
	}
	// Moodle's certificate for the data tier (the sessions Redis checks it),
	// with the CA that signed the servers' (ca.crt).
	clientCert, err := tlscert.New(ctx, name+"-data-tls", tlscert.Spec{
		Namespace: ns, SecretName: DataTLSSecret, CommonName: "moodle", Client: true, Issuer: a.DataIssuer,
	}, in...)
	if err != nil {
		return nil, err
	}
	ready := append(append([]pulumi.Resource{}, accounts...), adminSecret, clientCert)
	if a.SMTPHost != "" && a.SMTPPassword != nil {
		smtp, err := corev1.NewSecret(ctx, name+"-smtp", &corev1.SecretArgs{
			Metadata:   meta(SMTPSecret, nil),
			Type:       pulumi.String("Opaque"),
			StringData: pulumi.StringMap{"password": pulumi.ToSecret(a.SMTPPassword).(pulumi.StringOutput)},
		}, in...)
		if err != nil {
			return nil, fmt.Errorf("creating the SMTP secret: %w", err)
		}
		ready = append(ready, smtp)
	}
	after := append(append([]pulumi.ResourceOption{}, in...), pulumi.DependsOn(ready))

	// The upgrade (or first install) of this code, in maintenance mode.
	adminLabels := pulumi.StringMap{infra.AppLabel: pulumi.String("moodle-admin"), infra.AlertLabel: pulumi.String("upgrade"), infra.SeverityLabel: pulumi.String("critical")}
	upgrade, err := batchv1.NewJob(ctx, name+"-upgrade", &batchv1.JobArgs{
		Metadata: meta(c.UpgradeJob, adminLabels),
		Spec: &batchv1.JobSpecArgs{
			BackoffLimit:          pulumi.Int(0), // a failed upgrade needs a person
			ActiveDeadlineSeconds: pulumi.Int(3 * 3600),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: adminLabels},
				Spec:     a.upgradePod(),
			},
		},
		// The provider waits for the Job to complete; an upgrade can be long.
		// Its spec is immutable: a change replaces it under the same name.
	}, append(after, pulumi.Timeouts(&pulumi.CustomTimeouts{Create: "3h", Update: "3h"}), pulumi.DeleteBeforeReplace(true))...)
	if err != nil {
		return nil, fmt.Errorf("creating the upgrade Job: %w", err)
	}
	c.Upgraded = upgrade
	afterUpgrade := append(append([]pulumi.ResourceOption{}, after...), pulumi.DependsOn([]pulumi.Resource{upgrade}))

	// Maintenance mode from config: a Job per state, so switching runs it.
	state := "off"
	if a.Maintenance {
		state = "on"
	}
	if _, err := batchv1.NewJob(ctx, name+"-maintenance", &batchv1.JobArgs{
		Metadata: meta("moodle-maintenance-"+state, adminLabels),
		Spec: &batchv1.JobSpecArgs{
			BackoffLimit:          pulumi.Int(2),
			ActiveDeadlineSeconds: pulumi.Int(600),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: adminLabels},
				Spec: func() *corev1.PodSpecArgs {
					s := a.podSpec(infra.MoodleAdminServiceAccount, true, corev1.ContainerArray{a.container("maintenance", []string{"moodle-admin", "maintenance", state})}, nil)
					s.RestartPolicy = pulumi.String("Never")
					return s
				}(),
			},
		},
	}, append(afterUpgrade, pulumi.DeleteBeforeReplace(true))...); err != nil {
		return nil, fmt.Errorf("creating the maintenance Job: %w", err)
	}

	// Web.
	labels := pulumi.StringMap{infra.AppLabel: pulumi.String(infra.MoodleWebApp)}
	web := a.container("moodle", nil)
	web.Command = nil // the image's Apache
	web.Ports = corev1.ContainerPortArray{corev1.ContainerPortArgs{Name: pulumi.String("http"), ContainerPort: pulumi.Int(infra.MoodleWebPort)}}
	mem := pulumi.String(strconv.Itoa(a.MemoryMiB) + "Mi")
	web.Resources = &corev1.ResourceRequirementsArgs{
		Requests: pulumi.StringMap{"cpu": pulumi.String(strconv.Itoa(a.CPUMillis) + "m"), "memory": mem},
		Limits:   pulumi.StringMap{"memory": mem},
	}
	probe := func(path string, period, failures int) *corev1.ProbeArgs {
		return &corev1.ProbeArgs{
			HttpGet:          &corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: pulumi.Int(infra.MoodleWebPort)},
			PeriodSeconds:    pulumi.Int(period),
			TimeoutSeconds:   pulumi.Int(5),
			FailureThreshold: pulumi.Int(failures),
		}
	}
	// Startup and liveness: PHP answers; readiness: Moodle reaches its database.
	web.StartupProbe = probe("/health.php?live=1", 5, 60)
	web.LivenessProbe = probe("/health.php?live=1", 20, 3)
	web.ReadinessProbe = probe("/health.php", 10, 3)
	spread := func(key string) corev1.TopologySpreadConstraintArgs {
		return corev1.TopologySpreadConstraintArgs{
			MaxSkew: pulumi.Int(1), TopologyKey: pulumi.String(key), WhenUnsatisfiable: pulumi.String("ScheduleAnyway"),
			LabelSelector: &metav1.LabelSelectorArgs{MatchLabels: labels},
		}
	}
	exporter := corev1.ContainerArgs{
		Name:  pulumi.String("apache-exporter"),
		Image: pulumi.String(a.ExporterImage),
		Args:  pulumi.StringArray{pulumi.String("--scrape_uri=http://127.0.0.1:" + strconv.Itoa(StatusPort) + "/server-status?auto")},
		Ports: corev1.ContainerPortArray{corev1.ContainerPortArgs{Name: pulumi.String("metrics"), ContainerPort: pulumi.Int(exporterPort)}},
		Resources: &corev1.ResourceRequirementsArgs{
			Requests: pulumi.StringMap{"cpu": pulumi.String("10m"), "memory": pulumi.String("32Mi")},
			Limits:   pulumi.StringMap{"memory": pulumi.String("64Mi")},
		},
		ReadinessProbe:  &corev1.ProbeArgs{HttpGet: &corev1.HTTPGetActionArgs{Path: pulumi.String("/metrics"), Port: pulumi.Int(exporterPort)}, PeriodSeconds: pulumi.Int(30)},
		LivenessProbe:   &corev1.ProbeArgs{HttpGet: &corev1.HTTPGetActionArgs{Path: pulumi.String("/metrics"), Port: pulumi.Int(exporterPort)}, PeriodSeconds: pulumi.Int(60)},
		SecurityContext: pods.RestrictedWritableRoot(),
	}
	spec := a.podSpec(infra.MoodleWebServiceAccount, false, corev1.ContainerArray{web, exporter}, nil)
	spec.TopologySpreadConstraints = corev1.TopologySpreadConstraintArray{spread("topology.kubernetes.io/zone"), spread("kubernetes.io/hostname")}
	spec.TerminationGracePeriodSeconds = pulumi.Int(60)
	deploy, err := appsv1.NewDeployment(ctx, name+"-web", &appsv1.DeploymentArgs{
		Metadata: meta(infra.MoodleWebService, labels),
		Spec: &appsv1.DeploymentSpecArgs{
			// No replicas here: the autoscaler owns the count.
			Selector: &metav1.LabelSelectorArgs{MatchLabels: labels},
			Strategy: &appsv1.DeploymentStrategyArgs{
				Type:          pulumi.String("RollingUpdate"),
				RollingUpdate: &appsv1.RollingUpdateDeploymentArgs{MaxSurge: pulumi.String("25%"), MaxUnavailable: pulumi.Int(0)},
			},
			MinReadySeconds: pulumi.Int(10),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: labels, Annotations: pulumi.StringMap{
					// Istio merges these with the sidecar's metrics on 15020.
					"prometheus.io/scrape":      pulumi.String("true"),
					"prometheus.io/port":        pulumi.String(strconv.Itoa(exporterPort)),
					"prometheus.io/path":        pulumi.String("/metrics"),
					"moodle.fieldcert/database": pulumi.String(a.DatabaseEndpoint),
				}},
				Spec: spec,
			},
		},
	}, afterUpgrade...)
	if err != nil {
		return nil, fmt.Errorf("creating the web Deployment: %w", err)
	}
	if _, err := corev1.NewService(ctx, name+"-web-service", &corev1.ServiceArgs{
		Metadata: meta(infra.MoodleWebService, labels),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: labels,
			Ports: corev1.ServicePortArray{corev1.ServicePortArgs{
				Name: pulumi.String("http-web"), Port: pulumi.Int(infra.MoodleWebPort), TargetPort: pulumi.Int(infra.MoodleWebPort),
			}},
		},
	}, in...); err != nil {
		return nil, fmt.Errorf("creating the web Service: %w", err)
	}
	percent := func(p int) pulumi.IntPtrInput { return pulumi.Int(p) }
	if _, err := autoscalingv2.NewHorizontalPodAutoscaler(ctx, name+"-web-hpa", &autoscalingv2.HorizontalPodAutoscalerArgs{
		Metadata: meta(infra.MoodleWebService, labels),
		Spec: &autoscalingv2.HorizontalPodAutoscalerSpecArgs{
			ScaleTargetRef: &autoscalingv2.CrossVersionObjectReferenceArgs{
				ApiVersion: pulumi.String("apps/v1"), Kind: pulumi.String("Deployment"), Name: pulumi.String(infra.MoodleWebService),
			},
			MinReplicas: pulumi.Int(a.MinReplicas),
			MaxReplicas: pulumi.Int(a.MaxReplicas),
			Metrics: autoscalingv2.MetricSpecArray{
				autoscalingv2.MetricSpecArgs{Type: pulumi.String("Resource"), Resource: &autoscalingv2.ResourceMetricSourceArgs{
					Name: pulumi.String("cpu"), Target: &autoscalingv2.MetricTargetArgs{Type: pulumi.String("Utilization"), AverageUtilization: percent(60)},
				}},
				autoscalingv2.MetricSpecArgs{Type: pulumi.String("Resource"), Resource: &autoscalingv2.ResourceMetricSourceArgs{
					Name: pulumi.String("memory"), Target: &autoscalingv2.MetricTargetArgs{Type: pulumi.String("Utilization"), AverageUtilization: percent(80)},
				}},
			},
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehaviorArgs{
				// Exam starts: double, or add four pods, every 30 s at once.
				ScaleUp: &autoscalingv2.HPAScalingRulesArgs{
					StabilizationWindowSeconds: pulumi.Int(0),
					SelectPolicy:               pulumi.String("Max"),
					Policies: autoscalingv2.HPAScalingPolicyArray{
						autoscalingv2.HPAScalingPolicyArgs{Type: pulumi.String("Percent"), Value: pulumi.Int(100), PeriodSeconds: pulumi.Int(30)},
						autoscalingv2.HPAScalingPolicyArgs{Type: pulumi.String("Pods"), Value: pulumi.Int(4), PeriodSeconds: pulumi.Int(30)},
					},
				},
				// Quiet after the exam: shed 10% a minute after 5 calm minutes.
				ScaleDown: &autoscalingv2.HPAScalingRulesArgs{
					StabilizationWindowSeconds: pulumi.Int(300),
					SelectPolicy:               pulumi.String("Min"),
					Policies: autoscalingv2.HPAScalingPolicyArray{
						autoscalingv2.HPAScalingPolicyArgs{Type: pulumi.String("Percent"), Value: pulumi.Int(10), PeriodSeconds: pulumi.Int(60)},
					},
				},
			},
		},
	}, append(in, pulumi.DependsOn([]pulumi.Resource{deploy}))...); err != nil {
		return nil, fmt.Errorf("creating the web autoscaler: %w", err)
	}
	if _, err := policyv1.NewPodDisruptionBudget(ctx, name+"-web-pdb", &policyv1.PodDisruptionBudgetArgs{
		Metadata: meta(infra.MoodleWebService, labels),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			// A quarter at most during drains and upgrades (rounded up: one
			// for small counts, so a single dev pod never blocks a drain).
			MaxUnavailable: pulumi.String("25%"),
			Selector:       &metav1.LabelSelectorArgs{MatchLabels: labels},
		},
	}, in...); err != nil {
		return nil, fmt.Errorf("creating the web disruption budget: %w", err)
	}

	// Cron every minute, never two at once, on the jobs pool when there is one.
	// --keep-alive=0: one pass, then exit. Moodle's default keeps cron.php
	// polling for three minutes, so with Forbid two of three schedules were
	// skipped; a pass ends well within the minute once the site is warm.
	cronLabels := pulumi.StringMap{infra.AppLabel: pulumi.String("moodle-cron"), infra.AlertLabel: pulumi.String("cron"), infra.SeverityLabel: pulumi.String("warning")}
	cronSpec := a.podSpec(infra.MoodleCronServiceAccount, true, corev1.ContainerArray{a.container("cron", []string{"php", CodeDir + "/admin/cli/cron.php", "--keep-alive=0"})}, nil)
	cronSpec.RestartPolicy = pulumi.String("Never")
	if _, err := batchv1.NewCronJob(ctx, name+"-cron", &batchv1.CronJobArgs{
		Metadata: meta("moodle-cron", cronLabels),
		Spec: &batchv1.CronJobSpecArgs{
			Schedule:                   pulumi.String("* * * * *"),
			TimeZone:                   pulumi.String("Etc/UTC"),
			ConcurrencyPolicy:          pulumi.String("Forbid"),
			StartingDeadlineSeconds:    pulumi.Int(50),
			SuccessfulJobsHistoryLimit: pulumi.Int(1),
			FailedJobsHistoryLimit:     pulumi.Int(3),
			JobTemplate: &batchv1.JobTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: cronLabels},
				Spec: &batchv1.JobSpecArgs{
					BackoffLimit:          pulumi.Int(0),
					ActiveDeadlineSeconds: pulumi.Int(3600),
					Template:              &corev1.PodTemplateSpecArgs{Metadata: &metav1.ObjectMetaArgs{Labels: cronLabels}, Spec: cronSpec},
				},
			},
		},
	}, afterUpgrade...); err != nil {
		return nil, fmt.Errorf("creating the cron CronJob: %w", err)
	}
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"upgradeJob": pulumi.String(c.UpgradeJob)}); err != nil {
		return nil, fmt.Errorf("registering outputs of moodle %q: %w", name, err)
	}
	return c, nil
}
