package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldcert/moodle-aks/components/backup"
	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/render"
	"github.com/fieldcert/moodle-aks/policy/rules"
	"github.com/fieldcert/moodle-aks/stacks"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDataTier(t *testing.T) {
	cases := []struct {
		stack, bufferPool, maxConns string
		persist                     bool
	}{
		// dev: 2 GiB -> 1152M pool; 3 web pods x 16 + 30.
		{"dev", "innodb_buffer_pool_size = 1152M", "max_connections = 78", false},
		// prod: 16 GiB -> 9728M; 80 web pods x 16 + 30 + 4 for hr-sync.
		{"prod", "innodb_buffer_pool_size = 9728M", "max_connections = 1314", true},
	}
	for _, tc := range cases {
		t.Run(tc.stack, func(t *testing.T) {
			rec := runStack(t, tc.stack, "")
			cm, ok := rec.Named("kubernetes:core/v1:ConfigMap", "mysql-config")
			require.True(t, ok)
			cnf := cm.Input("data").(map[string]any)["moodle.cnf"].(string)
			assert.Contains(t, cnf, tc.bufferPool)
			assert.Contains(t, cnf, tc.maxConns)

			sts, _ := rec.Named("kubernetes:apps/v1:StatefulSet", "mysql-statefulset")
			claim := sts.Input("spec.volumeClaimTemplates").([]any)[0].(map[string]any)["spec"].(map[string]any)
			assert.Equal(t, "premium-disk-retain", claim["storageClassName"])

			sessions, _ := rec.Named("kubernetes:apps/v1:StatefulSet", "redis-sessions")
			claims, _ := sessions.Input("spec.volumeClaimTemplates").([]any)
			assert.Equal(t, tc.persist, len(claims) == 1, "sessions persist in prod only")

			for _, s := range rec.OfType("kubernetes:core/v1:Secret") {
				data, ok := s.Input("stringData").(map[string]any)
				require.True(t, ok, "%s: stringData shows its keys", s.Name)
				for k, v := range data {
					assert.Equal(t, "[secret]", v, "%s: %s is a Pulumi secret", s.Name, k)
				}
			}
			for _, s := range rec.OfType("kubernetes:core/v1:Service") {
				if s.String("metadata.namespace") == infra.NamespaceData {
					assert.Equal(t, "ClusterIP", s.String("spec.type"))
				}
			}
			mysqlBackup, ok := rec.Named("kubernetes:batch/v1:CronJob", "backups-mysql")
			require.True(t, ok)
			assert.Equal(t, "30 2 * * *", mysqlBackup.Input("spec.schedule"))
			// The backup identity may write backups and snapshot the share.
			var scopes []string
			for _, ra := range rec.OfType("azure-native:authorization:RoleAssignment") {
				if strings.HasPrefix(ra.Name, "backup-identity-") {
					scopes = append(scopes, ra.Name)
				}
			}
			assert.ElementsMatch(t, []string{"backup-identity-backups-role", "backup-identity-files-role"}, scopes)
			assert.Empty(t, dataJobs(rec.OfType("kubernetes:batch/v1:Job")), "no restore unless config names a dump")
		})
	}
}

func TestRestoreFromConfig(t *testing.T) {
	rec := runStack(t, "dev", "testdata/restore.yaml")
	jobs := dataJobs(rec.OfType("kubernetes:batch/v1:Job"))
	require.Len(t, jobs, 1)
	assert.Equal(t, backup.RestoreJobName("mysql/20261125T023000Z.sql.gz"), jobs[0])

	r := renderCLI(t, stacks.Program, "-stack", "dev", "-config", "testdata/restore.yaml")
	require.Equal(t, render.ExitOK, r.code, r.stderr)
	_, err := os.Stat(filepath.Join(r.out, "kubernetes", "data", "job-"+backup.RestoreJobName("mysql/20261125T023000Z.sql.gz")+".yaml"))
	assert.NoError(t, err, "the restore Job is rendered")
}

func TestRenderedDataTier(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		r := renderCLI(t, stacks.Program, "-stack", stack)
		require.Equal(t, render.ExitOK, r.code, r.stderr)
		for _, f := range []string{
			"statefulset-mysql.yaml", "service-mysql.yaml", "poddisruptionbudget-mysql.yaml", "configmap-mysql-config.yaml",
			"statefulset-redis-sessions.yaml", "statefulset-redis-cache.yaml", "cronjob-mysql-backup.yaml",
			"cronjob-files-snapshot.yaml", "secret-mysql-credentials.yaml",
		} {
			b, err := os.ReadFile(filepath.Join(r.out, "kubernetes", "data", f))
			require.NoError(t, err, "%s: %s", stack, f)
			assert.NotRegexp(t, `password: [^'\n]|password: '[^\[]`, string(b), "%s holds no plain password", f)
		}
	}
}

// dataJobs keeps the Jobs of the data namespace (the restore).
func dataJobs(rs []rules.Resource) []string {
	var out []string
	for _, r := range rs {
		if r.String("metadata.namespace") == infra.NamespaceData {
			out = append(out, r.String("metadata.name"))
		}
	}
	return out
}
