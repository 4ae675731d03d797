package tests

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/fieldcert/moodle-aks/components/moodle"
	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/render"
	"github.com/fieldcert/moodle-aks/stacks"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMoodleWorkloads(t *testing.T) {
	cases := []struct {
		stack       string
		min, max    float64
		cronPool    string
		hasIntegJob bool
	}{
		{"dev", 1, 3, "user", false},
		{"prod", 3, 80, "jobs", true},
	}
	for _, tc := range cases {
		t.Run(tc.stack, func(t *testing.T) {
			rec := runStack(t, tc.stack, "")
			d, ok := rec.Named("kubernetes:apps/v1:Deployment", "moodle-web")
			require.True(t, ok)
			hpa, _ := rec.Named("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "moodle-web-hpa")
			assert.Equal(t, d.Input("metadata.name"), hpa.Input("spec.scaleTargetRef.name"), "the HPA targets the Deployment")
			assert.Equal(t, tc.min, hpa.Input("spec.minReplicas"))
			assert.Equal(t, tc.max, hpa.Input("spec.maxReplicas"))
			pdb, _ := rec.Named("kubernetes:policy/v1:PodDisruptionBudget", "moodle-web-pdb")
			assert.Equal(t, d.Input("spec.template.metadata.labels"), pdb.Input("spec.selector.matchLabels"), "the PDB selects the web pods")

			webImage := d.Input("spec.template.spec.containers").([]any)[0].(map[string]any)["image"]
			cron, _ := rec.Named("kubernetes:batch/v1:CronJob", "moodle-cron")
			cronPod := cron.Input("spec.jobTemplate.spec.template.spec").(map[string]any)
			assert.Equal(t, webImage, cronPod["containers"].([]any)[0].(map[string]any)["image"], "cron uses the web image")
			assert.Equal(t, tc.cronPool, cronPod["nodeSelector"].(map[string]any)["moodle.fieldcert/pool"])

			up, _ := rec.Named("kubernetes:batch/v1:Job", "moodle-upgrade")
			cfg, err := render.LoadStackConfig(root, tc.stack, "")
			require.NoError(t, err)
			image := infra.ResolveMoodleImage(cfg.Values["moodle-aks:moodleImage"])
			assert.Equal(t, moodle.UpgradeJobName(image, "baked", "en"), up.Input("metadata.name"))
			assert.Contains(t, d.Dependencies, up.URN, "the web pods roll out after the upgrade")
			assert.Contains(t, cron.Dependencies, up.URN)

			// Moodle waits for its database, Redis, moodledata and the mesh.
			mysql, _ := rec.Named("kubernetes:ps.percona.com/v1:PerconaServerMySQL", "mysql-cluster")
			pvc, _ := rec.Named("kubernetes:core/v1:PersistentVolumeClaim", "volumes-moodledata-pvc")
			for _, dep := range []string{mysql.URN, pvc.URN} {
				assert.Contains(t, up.Dependencies, dep)
			}

			_, hasJob := rec.Named("kubernetes:batch/v1:CronJob", "integrations-hr-sync")
			assert.Equal(t, tc.hasIntegJob, hasJob)
		})
	}
}

func TestRenderedMoodleWorkloads(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		r := renderCLI(t, stacks.Program, "-stack", stack)
		require.Equal(t, render.ExitOK, r.code, r.stderr)
		for _, f := range []string{
			"deployment-moodle-web.yaml", "horizontalpodautoscaler-moodle-web.yaml", "poddisruptionbudget-moodle-web.yaml",
			"service-moodle-web.yaml", "cronjob-moodle-cron.yaml", "job-moodle-maintenance-off.yaml",
		} {
			_, err := os.Stat(filepath.Join(r.out, "kubernetes", infra.NamespaceMoodle, f))
			assert.NoError(t, err, "%s: %s", stack, f)
		}
	}
}

func TestMoodleImageFiles(t *testing.T) {
	dockerfile, err := os.ReadFile(filepath.Join(root, "images", "moodle", "Dockerfile"))
	require.NoError(t, err)
	d := string(dockerfile)
	assert.Regexp(t, `(?m)^FROM php:\d+\.\d+\.\d+-apache-bookworm$`, d, "the base image is pinned to a patch release")
	assert.Regexp(t, `(?m)^ARG MOODLE_VERSION=v4\.5\.\d+$`, d, "Moodle 4.5 LTS by default, pinned")
	for _, ext := range []string{"intl", "mysqli", "opcache", "gd", "zip", "soap", "xsl", "redis"} {
		assert.Contains(t, d, ext)
	}
	assert.Contains(t, d, "USER 33:33")
	cfg, err := os.ReadFile(filepath.Join(root, "images", "moodle", "config.php"))
	require.NoError(t, err)
	for _, want := range []string{`\core\session\redis`, `\core\lock\db_record_lock_factory`, "sslproxy", "localcachedir", "getenv"} {
		assert.Contains(t, string(cfg), want)
	}
	assert.NotContains(t, string(cfg), "dbpass    = '", "no password in the file")
}
