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
		members                     float64
	}{
		// dev: 2 GiB -> 1152M pool; 3 web pods x 16 + 30; one member.
		{"dev", "innodb_buffer_pool_size = 1152M", "max_connections = 78", false, 1},
		// prod: 16 GiB -> 9728M; 80 web pods x 16 + 30 + 4 for hr-sync.
		{"prod", "innodb_buffer_pool_size = 9728M", "max_connections = 1314", true, 3},
	}
	for _, tc := range cases {
		t.Run(tc.stack, func(t *testing.T) {
			rec := runStack(t, tc.stack, "")
			cr, ok := rec.Named("kubernetes:ps.percona.com/v1:PerconaServerMySQL", "mysql-cluster")
			require.True(t, ok, "dev and prod run the same cluster resource")
			cnf := cr.Input("spec.mysql").(map[string]any)["configuration"].(string)
			assert.Contains(t, cnf, tc.bufferPool)
			assert.Contains(t, cnf, tc.maxConns)
			claim := cr.Input("spec.mysql").(map[string]any)["volumeSpec"].(map[string]any)["persistentVolumeClaim"].(map[string]any)
			assert.Equal(t, "premium-disk-zonal-retain", claim["storageClassName"], "each member on its own zonal disk")
			assert.Equal(t, tc.members, cr.Input("spec.mysql").(map[string]any)["size"])

			rc, ok := rec.Named("kubernetes:redis.redis.opstreelabs.in/v1beta2:RedisCluster", "redis-sessions-cluster")
			require.True(t, ok)
			assert.Equal(t, tc.persist, rc.Input("spec.persistenceEnabled"), "sessions persist in prod only")
			assert.Equal(t, tc.members, rc.Input("spec.redisLeader").(map[string]any)["replicas"])

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
			assert.Empty(t, restoreJobs(rec.OfType("kubernetes:batch/v1:Job")), "no restore unless config names a dump")
		})
	}
}

func TestRestoreFromConfig(t *testing.T) {
	rec := runStack(t, "dev", "testdata/restore.yaml")
	jobs := restoreJobs(rec.OfType("kubernetes:batch/v1:Job"))
	require.Len(t, jobs, 1)
	assert.Equal(t, backup.RestoreJobName("mysql/20261125T023000Z.sql.gz", ""), jobs[0])

	r := renderCLI(t, stacks.Program, "-stack", "dev", "-config", "testdata/restore.yaml")
	require.Equal(t, render.ExitOK, r.code, r.stderr)
	_, err := os.Stat(filepath.Join(r.out, "kubernetes", "data", "job-"+backup.RestoreJobName("mysql/20261125T023000Z.sql.gz", "")+".yaml"))
	assert.NoError(t, err, "the restore Job is rendered")
}

func TestRenderedDataTier(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		r := renderCLI(t, stacks.Program, "-stack", stack)
		require.Equal(t, render.ExitOK, r.code, r.stderr)
		for _, f := range []string{
			"perconaservermysql-mysql.yaml", "deployment-percona-server-mysql-operator.yaml", "certificate-mysql-ssl.yaml",
			"rediscluster-redis-sessions.yaml", "configmap-redis-sessions-config.yaml", "statefulset-redis-cache.yaml",
			"cronjob-mysql-backup.yaml", "cronjob-files-snapshot.yaml", "secret-mysql-credentials.yaml", "secret-mysql-operator-users.yaml",
		} {
			b, err := os.ReadFile(filepath.Join(r.out, "kubernetes", "data", f))
			require.NoError(t, err, "%s: %s", stack, f)
			assert.NotRegexp(t, `password: [^'\n]|password: '[^\[]`, string(b), "%s holds no plain password", f)
		}
	}
}

// restoreJobs keeps the restore Jobs of the data namespace.
func restoreJobs(rs []rules.Resource) []string {
	var out []string
	for _, r := range rs {
		if r.String("metadata.namespace") == infra.NamespaceData && strings.HasPrefix(r.String("metadata.name"), "mysql-restore-") {
			out = append(out, r.String("metadata.name"))
		}
	}
	return out
}
