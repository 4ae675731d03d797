package moodle

import (
	"testing"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const image = "crfieldcert.azurecr.io/moodle:4.5.7-php8.3-r1"

func args() *Args {
	return &Args{
		Image: image, Hostname: "learn.fieldcert.example", MinReplicas: 3, MaxReplicas: 60,
		CPUMillis: 1000, MemoryMiB: 2048, PluginMode: "baked", DataClaim: "moodledata",
		DefaultLanguage: "en", SiteName: "Certification", AdminEmail: "ops@fieldcert.example", OnJobsPool: true,
		ExporterImage: "lusitaniae/apache_exporter:v1.0.10", DataIssuer: "data-tier-ca",
	}
}

func run(t *testing.T, a *Args) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.RunAfter(func(ctx *pulumi.Context, ns pulumi.Resource) error {
		if a.DependsOn == nil {
			a.DependsOn = []pulumi.Resource{ns}
		}
		_, err := New(ctx, "moodle", a)
		return err
	})
}

func get(t *testing.T, rec *mocks.Recorder, typ, name string) mocks.Resource {
	t.Helper()
	r, ok := rec.Named(typ, name)
	require.True(t, ok, name)
	return r
}

func env(c map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, e := range c["env"].([]any) {
		m := e.(map[string]any)
		out[m["name"].(string)] = m
	}
	return out
}

func TestWebDeployment(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	d := get(t, rec, "kubernetes:apps/v1:Deployment", "moodle-web")
	assert.Equal(t, infra.NamespaceMoodle, d.Input("metadata.namespace"))
	assert.Nil(t, d.Input("spec.replicas"), "the autoscaler owns the count")
	spec := d.Input("spec.template.spec").(map[string]any)
	assert.Equal(t, float64(33), spec["securityContext"].(map[string]any)["runAsUser"])
	assert.Equal(t, "user", spec["nodeSelector"].(map[string]any)["moodle.fieldcert/pool"])
	spreads := spec["topologySpreadConstraints"].([]any)
	require.Len(t, spreads, 2)
	assert.Equal(t, "topology.kubernetes.io/zone", spreads[0].(map[string]any)["topologyKey"])
	assert.Equal(t, "kubernetes.io/hostname", spreads[1].(map[string]any)["topologyKey"])

	c := spec["containers"].([]any)[0].(map[string]any)
	assert.Equal(t, image, c["image"])
	assert.Equal(t, "/health.php", c["readinessProbe"].(map[string]any)["httpGet"].(map[string]any)["path"], "readiness reaches the database")
	assert.NotNil(t, c["livenessProbe"])
	assert.NotNil(t, c["startupProbe"])
	assert.Equal(t, "1000m", c["resources"].(map[string]any)["requests"].(map[string]any)["cpu"])
	e := env(c)
	assert.Equal(t, "learn.fieldcert.example", e["MOODLE_HOSTNAME"]["value"])
	for name := range e {
		assert.NotContains(t, name, "PASSWORD", "no password is a variable (the PHP info page prints them): %s", name)
	}
	assert.Equal(t, SecretsDir, e["MOODLE_SECRETS_DIR"]["value"])

	var mounts []string
	for _, m := range c["volumeMounts"].([]any) {
		mounts = append(mounts, m.(map[string]any)["mountPath"].(string))
	}
	assert.Contains(t, mounts, DataRoot)
	assert.Contains(t, mounts, LocalCacheDir)
	var claim, local bool
	for _, v := range spec["volumes"].([]any) {
		vm := v.(map[string]any)
		claim = claim || vm["persistentVolumeClaim"] != nil && vm["persistentVolumeClaim"].(map[string]any)["claimName"] == "moodledata"
		local = local || vm["name"] == "localcache" && vm["emptyDir"] != nil
	}
	assert.True(t, claim, "moodledata is the shared RWX claim")
	assert.Contains(t, mounts, SecretsDir)
	var projected map[string]any
	for _, v := range spec["volumes"].([]any) {
		if vm := v.(map[string]any); vm["name"] == "secrets" {
			projected = vm["projected"].(map[string]any)
		}
	}
	require.NotNil(t, projected, "the passwords are a projected volume")
	assert.Equal(t, float64(0o440), projected["defaultMode"], "readable by www-data (fsGroup) only")
	files := map[string]string{}
	for _, src := range projected["sources"].([]any) {
		sec := src.(map[string]any)["secret"].(map[string]any)
		for _, it := range sec["items"].([]any) {
			files[it.(map[string]any)["path"].(string)] = sec["name"].(string) + "/" + it.(map[string]any)["key"].(string)
		}
	}
	assert.Equal(t, map[string]string{
		"db-password":             infra.MoodleDBSecret + "/password",
		"redis-sessions-password": infra.MoodleRedisSecret + "/sessions-password",
		"redis-cache-password":    infra.MoodleRedisSecret + "/cache-password",
	}, files, "config.php's moodle_secret() file names")
	assert.True(t, local, "the local cache is per pod")

	// The data tier over TLS: the client certificate's secret mounted where
	// config.php looks for it, and the read port from the database secret.
	assert.Contains(t, mounts, DataTLSDir)
	assert.Equal(t, DataTLSDir, e["MOODLE_DATA_TLS_DIR"]["value"])
	assert.Equal(t, "require", e["MOODLE_DB_SSL"]["value"])
	assert.Equal(t, map[string]any{"name": infra.MoodleDBSecret, "key": "readonly-port"}, e["MOODLE_DB_READONLY_PORT"]["valueFrom"].(map[string]any)["secretKeyRef"])
	cert := get(t, rec, "kubernetes:cert-manager.io/v1:Certificate", "moodle-data-tls")
	assert.Equal(t, DataTLSSecret, cert.Input("spec.secretName"))
	assert.Contains(t, cert.Input("spec.usages"), "client auth")
	assert.Equal(t, "data-tier-ca", cert.Input("spec.issuerRef.name"))
	assert.Contains(t, d.Dependencies, cert.URN, "the pods start once their certificate is issued")
}

func TestExporterReadsTheLoopbackStatusPort(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	d := get(t, rec, "kubernetes:apps/v1:Deployment", "moodle-web")
	cs := d.Input("spec.template.spec.containers").([]any)
	require.Len(t, cs, 2)
	exp := cs[1].(map[string]any)
	assert.Equal(t, []any{"--scrape_uri=http://127.0.0.1:8081/server-status?auto"}, exp["args"], "apache.conf serves status on loopback 8081 only")
	for _, p := range cs[0].(map[string]any)["ports"].([]any) {
		assert.NotEqual(t, float64(StatusPort), p.(map[string]any)["containerPort"], "the status port is not a container port")
	}
}

func TestMoodleMailThroughTheRelay(t *testing.T) {
	a := args()
	a.SMTPHost, a.SMTPFrom, a.SMTPUsername = "smtp.example.com:587", "noreply@fieldcert.example", "moodle"
	a.SMTPPassword = pulumi.ToSecret(pulumi.String("s3cret")).(pulumi.StringOutput)
	rec, err := run(t, a)
	require.NoError(t, err)
	sec := get(t, rec, "kubernetes:core/v1:Secret", "moodle-smtp")
	assert.Equal(t, SMTPSecret, sec.Input("metadata.name"))
	assert.Equal(t, map[string]any{"password": "[secret]"}, sec.Input("stringData"), "the key shows, the password stays secret")
	for _, name := range []string{"moodle-web", "moodle-cron"} {
		typ := "kubernetes:apps/v1:Deployment"
		path := "spec.template.spec.containers"
		if name == "moodle-cron" {
			typ, path = "kubernetes:batch/v1:CronJob", "spec.jobTemplate.spec.template.spec.containers"
		}
		e := env(get(t, rec, typ, name).Input(path).([]any)[0].(map[string]any))
		assert.Equal(t, "smtp.example.com:587", e["MOODLE_SMTP_HOST"]["value"], name)
		assert.Equal(t, "noreply@fieldcert.example", e["MOODLE_SMTP_FROM"]["value"], name)
		assert.Equal(t, "moodle", e["MOODLE_SMTP_USER"]["value"], name)
		assert.NotContains(t, e, "MOODLE_SMTP_PASSWORD", "%s: the password is a file", name)
	}
	assert.Contains(t, a.SecretFiles(), SecretFile{"smtp-password", SMTPSecret, "password"})

	rec, err = run(t, args())
	require.NoError(t, err)
	_, ok := rec.Named("kubernetes:core/v1:Secret", "moodle-smtp")
	assert.False(t, ok, "no relay, no secret")
	d := get(t, rec, "kubernetes:apps/v1:Deployment", "moodle-web")
	assert.NotContains(t, env(d.Input("spec.template.spec.containers").([]any)[0].(map[string]any)), "MOODLE_SMTP_HOST")
}

func TestHPAAndPDBTargetTheDeployment(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	d := get(t, rec, "kubernetes:apps/v1:Deployment", "moodle-web")
	hpa := get(t, rec, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "moodle-web-hpa")
	assert.Equal(t, d.Input("metadata.name"), hpa.Input("spec.scaleTargetRef.name"))
	assert.Equal(t, "Deployment", hpa.Input("spec.scaleTargetRef.kind"))
	assert.Equal(t, float64(3), hpa.Input("spec.minReplicas"))
	assert.Equal(t, float64(60), hpa.Input("spec.maxReplicas"))
	assert.Equal(t, float64(0), hpa.Input("spec.behavior.scaleUp.stabilizationWindowSeconds"), "scale up fast")
	assert.Equal(t, float64(300), hpa.Input("spec.behavior.scaleDown.stabilizationWindowSeconds"), "scale down slowly")

	pdb := get(t, rec, "kubernetes:policy/v1:PodDisruptionBudget", "moodle-web-pdb")
	podLabels := d.Input("spec.template.metadata.labels")
	assert.Equal(t, podLabels, pdb.Input("spec.selector.matchLabels"), "the budget selects the web pods")
	svc := get(t, rec, "kubernetes:core/v1:Service", "moodle-web-service")
	assert.Equal(t, podLabels, svc.Input("spec.selector"))
	assert.Equal(t, infra.MoodleWebService, svc.Input("metadata.name"), "the name the mesh routes to")
}

func TestCronUsesTheSameImageEveryMinute(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	cj := get(t, rec, "kubernetes:batch/v1:CronJob", "moodle-cron")
	assert.Equal(t, "* * * * *", cj.Input("spec.schedule"))
	assert.Equal(t, "Forbid", cj.Input("spec.concurrencyPolicy"))
	assert.NotNil(t, cj.Input("spec.startingDeadlineSeconds"))
	assert.NotNil(t, cj.Input("spec.jobTemplate.spec.activeDeadlineSeconds"))
	assert.Equal(t, float64(1), cj.Input("spec.successfulJobsHistoryLimit"))
	pod := cj.Input("spec.jobTemplate.spec.template.spec").(map[string]any)
	c := pod["containers"].([]any)[0].(map[string]any)
	assert.Equal(t, image, c["image"], "cron runs the web pods' image")
	assert.Equal(t, []any{"php", "/var/www/moodle/admin/cli/cron.php", "--keep-alive=0"}, c["command"], "one pass per schedule: Moodle's default keep-alive holds a run for 3 minutes")
	assert.Equal(t, "jobs", pod["nodeSelector"].(map[string]any)["moodle.fieldcert/pool"])
	assert.Equal(t, "cron", cj.Input("spec.jobTemplate.metadata.labels").(map[string]any)[infra.AlertLabel])
}

func TestUpgradeRunsBeforeTheWebPods(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	up := get(t, rec, "kubernetes:batch/v1:Job", "moodle-upgrade")
	assert.Equal(t, UpgradeJobName(image, "baked", "en"), up.Input("metadata.name"))
	c := up.Input("spec.template.spec.containers").([]any)[0].(map[string]any)
	assert.Equal(t, []any{"moodle-admin", "upgrade"}, c["command"])
	assert.Equal(t, image, c["image"])
	assert.Equal(t, float64(0), up.Input("spec.backoffLimit"))
	d := get(t, rec, "kubernetes:apps/v1:Deployment", "moodle-web")
	cron := get(t, rec, "kubernetes:batch/v1:CronJob", "moodle-cron")
	assert.Contains(t, d.Dependencies, up.URN, "new web pods roll out after the upgrade")
	assert.Contains(t, cron.Dependencies, up.URN)

	assert.NotEqual(t, UpgradeJobName(image, "baked", "en"), UpgradeJobName("crfieldcert.azurecr.io/moodle:4.5.8-php8.3-r1", "baked", "en"), "a new image, a new upgrade")
	assert.Equal(t, UpgradeJobName(image, "baked", "en"), UpgradeJobName(image, "baked", "en"))
}

func TestMaintenanceFromConfig(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	off := get(t, rec, "kubernetes:batch/v1:Job", "moodle-maintenance")
	assert.Equal(t, "moodle-maintenance-off", off.Input("metadata.name"))

	a := args()
	a.Maintenance = true
	rec, err = run(t, a)
	require.NoError(t, err)
	on := get(t, rec, "kubernetes:batch/v1:Job", "moodle-maintenance")
	assert.Equal(t, "moodle-maintenance-on", on.Input("metadata.name"))
	assert.Equal(t, []any{"moodle-admin", "maintenance", "on"}, on.Input("spec.template.spec.containers").([]any)[0].(map[string]any)["command"])
	up := get(t, rec, "kubernetes:batch/v1:Job", "moodle-upgrade")
	assert.Equal(t, "1", env(up.Input("spec.template.spec.containers").([]any)[0].(map[string]any))["MOODLE_MAINTENANCE"]["value"], "an upgrade leaves the site in maintenance")
}

func TestPluginsOnTheShare(t *testing.T) {
	a := args()
	a.PluginMode, a.AddonsClaim = "share", "addons"
	rec, err := run(t, a)
	require.NoError(t, err)
	d := get(t, rec, "kubernetes:apps/v1:Deployment", "moodle-web")
	c := d.Input("spec.template.spec.containers").([]any)[0].(map[string]any)
	var code bool
	for _, m := range c["volumeMounts"].([]any) {
		code = code || m.(map[string]any)["mountPath"] == CodeDir
	}
	assert.True(t, code, "the code comes from the add-on share")
	assert.Equal(t, "1", env(c)["PHP_OPCACHE_VALIDATE_TIMESTAMPS"]["value"])
	up := get(t, rec, "kubernetes:batch/v1:Job", "moodle-upgrade")
	init := up.Input("spec.template.spec.initContainers").([]any)
	assert.Equal(t, []any{"moodle-admin", "sync-code"}, init[0].(map[string]any)["command"], "the image's code is synced onto the share first")
}

func TestAdminPasswordIsSecret(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	s := get(t, rec, "kubernetes:core/v1:Secret", "moodle-admin")
	assert.Equal(t, map[string]any{"password": mocks.Secret}, s.Input("stringData"))
}

func TestMoodleRejectsBadArgs(t *testing.T) {
	a := args()
	a.Image = "moodle:latest"
	a.MinReplicas, a.MaxReplicas = 5, 2
	a.PluginMode = "share"
	rec, err := run(t, a)
	require.Error(t, err)
	for _, want := range []string{`image "moodle:latest" must be pinned`, "replicas 5..2", "needs the addons claim"} {
		assert.Contains(t, err.Error(), want)
	}
	for _, r := range rec.Resources() {
		assert.NotEqual(t, TypeToken, r.Type)
	}
}
