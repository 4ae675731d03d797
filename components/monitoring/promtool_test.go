package monitoring

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldcert/moodle-aks/internal/testtools"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// promtool is Prometheus' own rule checker and evaluator (Debian's
// prometheus package): the rules are parsed and evaluated by Prometheus,
// not by a model of it.
func promtool(t *testing.T) string {
	t.Helper()
	_, p := testtools.Prometheus(t)
	return p
}

// writeRules writes the alerts as a rule file (rules.yml) in dir.
func writeRules(t *testing.T, dir string, alerts []Alert) string {
	t.Helper()
	b, err := yaml.Marshal(map[string]any{"groups": ruleGroups(alerts)})
	require.NoError(t, err)
	path := filepath.Join(dir, "rules.yml")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path
}

func TestPromtoolAcceptsEveryRule(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command(promtool(t), "check", "rules", writeRules(t, dir, Alerts(40, prodData))).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "SUCCESS")
}

// series is one input series of a promtool test: a selector and its
// values in promtool's expanding notation ("0+1x30": 0, 1, ... 30).
type series struct{ S, V string }

// alertCase is one promtool alert test: the series a failure (or a
// healthy system) exports, when to evaluate, and the alerts expected then
// with their labels beyond severity and component (nil: none fires).
type alertCase struct {
	Alert, Why string
	Interval   string // default 1m
	Series     []series
	At         string
	Fires      []map[string]string
}

func quiet(alert, why, at string, s ...series) alertCase {
	return alertCase{Alert: alert, Why: why, Series: s, At: at}
}

func fires(alert, why, at string, labels []map[string]string, s ...series) alertCase {
	return alertCase{Alert: alert, Why: why, Series: s, At: at, Fires: labels}
}

func one(kv ...string) []map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return []map[string]string{m}
}

// nodes makes n user-pool nodes' label series.
func nodes(n int) []series {
	var out []series
	for i := range n {
		out = append(out, series{fmt.Sprintf(`kube_node_labels{node="aks-user-%d",label_moodle_fieldcert_pool="user"}`, i), "1x40"})
	}
	return out
}

// A job of a CronJob, as kube-state-metrics exports it: created at
// created seconds, owned by the CronJob, with its Failed or Complete
// condition (kube_job_failed / kube_job_complete exist only once the Job
// has that condition; job-metrics.md).
func cronJobRun(ns, cronjob, job, alert string, created int, failed bool) []series {
	sel := `namespace="` + ns + `",job_name="` + job + `"`
	out := []series{
		{`kube_job_created{` + sel + `}`, fmt.Sprintf("%dx60", created)},
		{`kube_job_owner{` + sel + `,owner_kind="CronJob",owner_name="` + cronjob + `",owner_is_controller="true"}`, "1x60"},
		{`kube_job_labels{` + sel + `,label_moodle_fieldcert_alert="` + alert + `"}`, "1x60"},
	}
	if failed {
		return append(out, series{`kube_job_failed{` + sel + `,condition="true"}`, "1x60"}, series{`kube_job_status_failed{` + sel + `,reason="BackoffLimitExceeded"}`, "3x60"})
	}
	return append(out, series{`kube_job_complete{` + sel + `,condition="true"}`, "1x60"}, series{`kube_job_status_succeeded{` + sel + `}`, "1x60"})
}

// oneOffJob is a Job no CronJob owns (upgrade, restore, migration).
func oneOffJob(ns, job, alert string, extra ...series) []series {
	sel := `namespace="` + ns + `",job_name="` + job + `"`
	return append([]series{
		{`kube_job_owner{` + sel + `,owner_kind="<none>",owner_name="<none>",owner_is_controller="<none>"}`, "1x60"},
		{`kube_job_labels{` + sel + `,label_moodle_fieldcert_alert="` + alert + `"}`, "1x60"},
		{`kube_job_created{` + sel + `}`, "0x60"},
	}, extra...)
}

func join(ss ...[]series) []series {
	var out []series
	for _, s := range ss {
		out = append(out, s...)
	}
	return out
}

const (
	web      = `reporter="destination",destination_service_name="moodle-web"`
	mysql0   = `namespace="data",pod="mysql-mysql-0"`
	leader0  = `namespace="data",pod="redis-sessions-leader-0"`
	cache0   = `namespace="data",pod="redis-cache-0"`
	tenDays  = "864000"
	sixtyDay = "5184000"
)

// mysqlUp is mysql_up of the three members, with the given values.
func mysqlUp(v ...string) []series {
	var out []series
	for i, x := range v {
		out = append(out, series{fmt.Sprintf(`mysql_up{namespace="data",pod="mysql-mysql-%d"}`, i), x})
	}
	return out
}

// sessionsUp is redis_up of n sessions nodes (leaders, then followers).
func sessionsUp(n int, v string) []series {
	var out []series
	for i := range n {
		role, idx := "leader", i
		if i >= 3 {
			role, idx = "follower", i-3
		}
		out = append(out, series{fmt.Sprintf(`redis_up{namespace="data",pod="redis-sessions-%s-%d"}`, role, idx), v})
	}
	return out
}

// groupView is each member's view of the group: online members ONLINE.
func groupView(online int) []series {
	var out []series
	for view := range 3 {
		for m := range 3 {
			state := "ONLINE"
			if m >= online {
				state = "UNREACHABLE"
			}
			role := "SECONDARY"
			if m == 0 {
				role = "PRIMARY"
			}
			out = append(out, series{fmt.Sprintf(`mysql_perf_schema_replication_group_member_info{namespace="data",pod="mysql-mysql-%d",member_host="mysql-mysql-%d.mysql",member_id="id-%d",member_port="3306",member_role="%s",member_state="%s"}`, view, m, m, role, state), "1x60"})
		}
	}
	return out
}

// masters puts the sessions masters on nodes in the given zones.
func masters(zones ...string) []series {
	var out []series
	for i, z := range zones {
		pod := fmt.Sprintf("redis-sessions-leader-%d", i)
		node := fmt.Sprintf("aks-user-%d", i)
		out = append(out,
			series{`redis_instance_info{namespace="data",pod="` + pod + `",role="master",redis_version="7.4.6"}`, "1x60"},
			series{`kube_pod_info{namespace="data",pod="` + pod + `",node="` + node + `"}`, "1x60"},
			series{`kube_node_labels{node="` + node + `",label_topology_kubernetes_io_zone="eastus2-` + z + `"}`, "1x60"})
	}
	return out
}

// alertCases prove each alert the program defines: it fires on the failure
// it names and stays quiet on a healthy series, including the cases
// issue 22 found (a retry that succeeded, a newer good run, a warmed-up LRU
// cache, a suspended CronJob, a Job that never got a pod, the certificate's
// namespace). Prod's topology: three members, three leaders and three
// followers, a user pool of at most 40 nodes.
var alertCases = []alertCase{
	// Site.
	fires("MoodleDown", "no web pod available", "5m", one(), series{`kube_deployment_status_replicas_available{namespace="moodle",deployment="moodle-web"}`, "0x30"}),
	quiet("MoodleDown", "three available", "5m", series{`kube_deployment_status_replicas_available{namespace="moodle",deployment="moodle-web"}`, "3x30"}),
	fires("MoodleMaintenance", "an upgrade Job runs", "5m", one(),
		join([]series{{`kube_job_status_active{namespace="moodle",job_name="moodle-upgrade-4f2a"}`, "1x10 0x30"}}, oneOffJob("moodle", "moodle-upgrade-4f2a", "upgrade"))...),
	fires("MoodleMaintenance", "and for 15 minutes after (the error rate's window)", "20m", one(),
		join([]series{{`kube_job_status_active{namespace="moodle",job_name="moodle-upgrade-4f2a"}`, "1x10 0x30"}}, oneOffJob("moodle", "moodle-upgrade-4f2a", "upgrade"))...),
	quiet("MoodleMaintenance", "then it ends", "27m",
		join([]series{{`kube_job_status_active{namespace="moodle",job_name="moodle-upgrade-4f2a"}`, "1x10 0x30"}}, oneOffJob("moodle", "moodle-upgrade-4f2a", "upgrade"))...),
	fires("MoodleMaintenance", "maintenanceMode is on", "5m", one(), series{`kube_job_info{namespace="moodle",job_name="moodle-maintenance-on"}`, "1x30"}),
	quiet("MoodleMaintenance", "a cron run is not maintenance; maintenance off is not", "5m",
		series{`kube_job_status_active{namespace="moodle",job_name="moodle-cron-1"}`, "1x30"},
		series{`kube_job_labels{namespace="moodle",job_name="moodle-cron-1",label_moodle_fieldcert_alert="cron"}`, "1x30"},
		series{`kube_job_info{namespace="moodle",job_name="moodle-maintenance-off"}`, "1x30"}),
	fires("MoodleHighErrorRate", "9% of requests are 503", "15m", one(),
		series{`istio_requests_total{` + web + `,response_code="200"}`, "0+100x30"}, series{`istio_requests_total{` + web + `,response_code="503"}`, "0+10x30"}),
	quiet("MoodleHighErrorRate", "1% are", "15m",
		series{`istio_requests_total{` + web + `,response_code="200"}`, "0+100x30"}, series{`istio_requests_total{` + web + `,response_code="503"}`, "0+1x30"}),
	fires("MoodleSlowResponses", "most requests take 1 to 5 s", "20m", one(),
		series{`istio_request_duration_milliseconds_bucket{` + web + `,le="1000"}`, "0+1x30"},
		series{`istio_request_duration_milliseconds_bucket{` + web + `,le="5000"}`, "0+100x30"},
		series{`istio_request_duration_milliseconds_bucket{` + web + `,le="+Inf"}`, "0+100x30"}),
	quiet("MoodleSlowResponses", "all under a second", "20m",
		series{`istio_request_duration_milliseconds_bucket{` + web + `,le="1000"}`, "0+100x30"},
		series{`istio_request_duration_milliseconds_bucket{` + web + `,le="5000"}`, "0+100x30"},
		series{`istio_request_duration_milliseconds_bucket{` + web + `,le="+Inf"}`, "0+100x30"}),
	fires("MoodleAutoscalerAtMax", "at its maximum", "20m", one("namespace", "moodle", "horizontalpodautoscaler", "moodle-web"),
		series{`kube_horizontalpodautoscaler_status_current_replicas{namespace="moodle",horizontalpodautoscaler="moodle-web"}`, "80x30"},
		series{`kube_horizontalpodautoscaler_spec_max_replicas{namespace="moodle",horizontalpodautoscaler="moodle-web"}`, "80x30"}),
	quiet("MoodleAutoscalerAtMax", "below it", "20m",
		series{`kube_horizontalpodautoscaler_status_current_replicas{namespace="moodle",horizontalpodautoscaler="moodle-web"}`, "40x30"},
		series{`kube_horizontalpodautoscaler_spec_max_replicas{namespace="moodle",horizontalpodautoscaler="moodle-web"}`, "80x30"}),
	fires("NodePoolNearMax", "36 of 40 nodes", "20m", one(), nodes(36)...),
	quiet("NodePoolNearMax", "35", "20m", nodes(35)...),
	// Jobs.
	fires("MoodleCronNotRunning", "the last success is 15 minutes old", "15m", one(),
		series{`kube_cronjob_status_last_successful_time{namespace="moodle",cronjob="moodle-cron"}`, "0x30"}, series{`kube_cronjob_created{namespace="moodle",cronjob="moodle-cron"}`, "0x30"}),
	quiet("MoodleCronNotRunning", "it succeeds every minute", "15m",
		series{`kube_cronjob_status_last_successful_time{namespace="moodle",cronjob="moodle-cron"}`, "0+60x30"}, series{`kube_cronjob_created{namespace="moodle",cronjob="moodle-cron"}`, "0x30"}),
	fires("MoodleCronNotRunning", "it never succeeded, in a CronJob 15 minutes old", "15m", one("namespace", "moodle", "cronjob", "moodle-cron"),
		series{`kube_cronjob_created{namespace="moodle",cronjob="moodle-cron"}`, "0x30"}),
	quiet("MoodleCronNotRunning", "a CronJob created 5 minutes ago", "5m",
		series{`kube_cronjob_created{namespace="moodle",cronjob="moodle-cron"}`, "0x30"}),
	fires("MoodleUpgradeFailed", "the upgrade Job failed", "5m", one("namespace", "moodle", "job_name", "moodle-upgrade-4f2a"),
		oneOffJob("moodle", "moodle-upgrade-4f2a", "upgrade", series{`kube_job_failed{namespace="moodle",job_name="moodle-upgrade-4f2a",condition="true"}`, "1x30"}, series{`kube_job_status_failed{namespace="moodle",job_name="moodle-upgrade-4f2a",reason="BackoffLimitExceeded"}`, "1x30"})...),
	quiet("MoodleUpgradeFailed", "maintenance-off's first pod failed and its retry succeeded", "5m",
		oneOffJob("moodle", "moodle-maintenance-off", "upgrade", series{`kube_job_status_failed{namespace="moodle",job_name="moodle-maintenance-off"}`, "1x30"}, series{`kube_job_complete{namespace="moodle",job_name="moodle-maintenance-off",condition="true"}`, "1x30"})...),
	fires("BackupJobFailed", "the newest dump failed", "5m", one("namespace", "data", "job_name", "mysql-backup-29000200"),
		join(cronJobRun("data", "mysql-backup", "mysql-backup-29000100", "backup", 100, false), cronJobRun("data", "mysql-backup", "mysql-backup-29000200", "backup", 200, true))...),
	quiet("BackupJobFailed", "a failed dump, kept, and a newer good one", "5m",
		join(cronJobRun("data", "mysql-backup", "mysql-backup-29000100", "backup", 100, true), cronJobRun("data", "mysql-backup", "mysql-backup-29000200", "backup", 200, false))...),
	fires("BackupJobFailed", "a restore (no CronJob) failed", "5m", one("namespace", "data", "job_name", "mysql-restore-2a9c"),
		oneOffJob("data", "mysql-restore-2a9c", "backup", series{`kube_job_failed{namespace="data",job_name="mysql-restore-2a9c",condition="true"}`, "1x30"})...),
	fires("IntegrationJobFailed", "the newest run failed", "5m", one("namespace", "integrations", "job_name", "hr-sync-2"),
		join(cronJobRun("integrations", "hr-sync", "hr-sync-1", "integration", 100, false), cronJobRun("integrations", "hr-sync", "hr-sync-2", "integration", 200, true))...),
	quiet("IntegrationJobFailed", "eleven good runs after a kept failure", "5m", func() []series {
		out := cronJobRun("integrations", "hr-sync", "hr-sync-0", "integration", 100, true)
		for i := 1; i <= 11; i++ {
			out = append(out, cronJobRun("integrations", "hr-sync", fmt.Sprintf("hr-sync-%d", i), "integration", 100+i*1800, false)...)
		}
		return out
	}()...),
	fires("MigrationJobFailed", "a copy failed", "5m", one("namespace", "moodle", "job_name", "migrate-files-3"),
		oneOffJob("moodle", "migrate-files-3", "migration", series{`kube_job_failed{namespace="moodle",job_name="migrate-files-3",condition="true"}`, "1x30"})...),
	quiet("MigrationJobFailed", "the copy passed", "5m",
		oneOffJob("moodle", "migrate-files-3", "migration", series{`kube_job_complete{namespace="moodle",job_name="migrate-files-3",condition="true"}`, "1x30"})...),
	{Alert: "MySQLBackupStale", Why: "last success 27 hours ago", Interval: "2m", At: "27h", Fires: one(),
		Series: []series{{`kube_cronjob_status_last_successful_time{namespace="data",cronjob="mysql-backup"}`, "0x900"}, {`kube_cronjob_created{namespace="data",cronjob="mysql-backup"}`, "0x900"}}},
	{Alert: "MySQLBackupStale", Why: "last success 25 hours ago", Interval: "2m", At: "25h",
		Series: []series{{`kube_cronjob_status_last_successful_time{namespace="data",cronjob="mysql-backup"}`, "0x900"}, {`kube_cronjob_created{namespace="data",cronjob="mysql-backup"}`, "0x900"}}},
	{Alert: "FilesBackupStale", Why: "never succeeded, CronJob 27 hours old", Interval: "2m", At: "27h", Fires: one("namespace", "data", "cronjob", "files-snapshot"),
		Series: []series{{`kube_cronjob_created{namespace="data",cronjob="files-snapshot"}`, "0x900"}}},
	{Alert: "FilesBackupStale", Why: "succeeded two hours ago", Interval: "2m", At: "27h",
		Series: []series{{`kube_cronjob_status_last_successful_time{namespace="data",cronjob="files-snapshot"}`, "90000x900"}, {`kube_cronjob_created{namespace="data",cronjob="files-snapshot"}`, "0x900"}}},
	fires("BackupCronJobSuspended", "suspended for 70 minutes", "70m", one("namespace", "data", "cronjob", "mysql-backup"),
		series{`kube_cronjob_spec_suspend{namespace="data",cronjob="mysql-backup"}`, "1x90"}),
	quiet("BackupCronJobSuspended", "not suspended", "70m", series{`kube_cronjob_spec_suspend{namespace="data",cronjob="mysql-backup"}`, "0x90"}),
	fires("ScheduledJobMissed", "the next run is 70 minutes overdue", "70m", one("namespace", "integrations", "cronjob", "hr-sync"),
		series{`kube_cronjob_next_schedule_time{namespace="integrations",cronjob="hr-sync"}`, "0x90"}),
	quiet("ScheduledJobMissed", "the schedule moves on", "70m", series{`kube_cronjob_next_schedule_time{namespace="integrations",cronjob="hr-sync"}`, "0+60x90"}),
	fires("IntegrationCronJobSuspended", "suspended for 70 minutes (no next-schedule series then)", "70m", one("namespace", "integrations", "cronjob", "hr-sync"),
		series{`kube_cronjob_spec_suspend{namespace="integrations",cronjob="hr-sync"}`, "1x90"}),
	quiet("IntegrationCronJobSuspended", "running", "70m", series{`kube_cronjob_spec_suspend{namespace="integrations",cronjob="hr-sync"}`, "0x90"}),
	fires("JobNeverStarted", "a Job whose pods are refused", "20m", one("namespace", "data", "job_name", "mysql-restore-2a9c"),
		series{`kube_job_info{namespace="data",job_name="mysql-restore-2a9c"}`, "1x30"}, series{`kube_job_status_active{namespace="data",job_name="mysql-restore-2a9c"}`, "0x30"},
		series{`kube_job_status_failed{namespace="data",job_name="mysql-restore-2a9c"}`, "0x30"}, series{`kube_job_status_succeeded{namespace="data",job_name="mysql-restore-2a9c"}`, "0x30"}),
	quiet("JobNeverStarted", "a Job that runs, and one that completed", "20m",
		series{`kube_job_info{namespace="data",job_name="mysql-restore-2a9c"}`, "1x30"}, series{`kube_job_status_active{namespace="data",job_name="mysql-restore-2a9c"}`, "1x30"},
		series{`kube_job_status_failed{namespace="data",job_name="mysql-restore-2a9c"}`, "0x30"}, series{`kube_job_status_succeeded{namespace="data",job_name="mysql-restore-2a9c"}`, "0x30"},
		series{`kube_job_info{namespace="data",job_name="mysql-backup-1"}`, "1x30"}, series{`kube_job_status_active{namespace="data",job_name="mysql-backup-1"}`, "0x30"},
		series{`kube_job_status_failed{namespace="data",job_name="mysql-backup-1"}`, "0x30"}, series{`kube_job_status_succeeded{namespace="data",job_name="mysql-backup-1"}`, "0x30"},
		series{`kube_job_complete{namespace="data",job_name="mysql-backup-1",condition="true"}`, "1x30"}),
	fires("PodPendingTooLong", "Pending for 35 minutes", "35m", one("namespace", "moodle", "pod", "moodle-web-7d9-abc"),
		series{`kube_pod_status_phase{namespace="moodle",pod="moodle-web-7d9-abc",phase="Pending"}`, "1x40"}),
	quiet("PodPendingTooLong", "scheduled after 10 minutes", "35m",
		series{`kube_pod_status_phase{namespace="moodle",pod="moodle-web-7d9-abc",phase="Pending"}`, "1x10 0x30"}),
	// Data.
	fires("RedisMemoryNearLimit", "a sessions node at 95% (noeviction)", "10m", one("pod", "redis-sessions-leader-0"),
		series{`redis_memory_used_bytes{` + leader0 + `}`, "95x30"}, series{`redis_memory_max_bytes{` + leader0 + `}`, "100x30"}),
	quiet("RedisMemoryNearLimit", "the LRU cache warmed up at maxmemory (measured 1.001)", "10m",
		series{`redis_memory_used_bytes{` + cache0 + `}`, "1001x30"}, series{`redis_memory_max_bytes{` + cache0 + `}`, "1000x30"}),
	fires("PersistentVolumeFilling", "85% full", "15m", one("namespace", "data", "persistentvolumeclaim", "datadir-mysql-mysql-0"),
		series{`kubelet_volume_stats_used_bytes{namespace="data",persistentvolumeclaim="datadir-mysql-mysql-0"}`, "85x30"}, series{`kubelet_volume_stats_capacity_bytes{namespace="data",persistentvolumeclaim="datadir-mysql-mysql-0"}`, "100x30"}),
	quiet("PersistentVolumeFilling", "half full", "15m",
		series{`kubelet_volume_stats_used_bytes{namespace="data",persistentvolumeclaim="datadir-mysql-mysql-0"}`, "50x30"}, series{`kubelet_volume_stats_capacity_bytes{namespace="data",persistentvolumeclaim="datadir-mysql-mysql-0"}`, "100x30"}),
	fires("MySQLDown", "no member answers", "5m", one(), mysqlUp("0x30", "0x30", "0x30")...),
	fires("MySQLDown", "no member is scraped at all", "5m", one("namespace", "data"), series{`up{job="kubernetes-pods"}`, "1x30"}),
	quiet("MySQLDown", "all up", "5m", mysqlUp("1x30", "1x30", "1x30")...),
	fires("MySQLMemberDown", "one member down", "5m", one("pod", "mysql-mysql-1"), mysqlUp("1x30", "0x30", "1x30")...),
	quiet("MySQLMemberDown", "all up", "5m", mysqlUp("1x30", "1x30", "1x30")...),
	fires("MySQLMemberMissing", "a member's pod is gone", "10m", one(), mysqlUp("1x30", "1x30")...),
	quiet("MySQLMemberMissing", "three members", "10m", mysqlUp("1x30", "1x30", "1x30")...),
	fires("MySQLGroupMemberNotOnline", "one member RECOVERING", "5m", one("pod", "mysql-mysql-0", "member_host", "mysql-mysql-2.mysql", "member_state", "RECOVERING"),
		series{`mysql_perf_schema_replication_group_member_info{` + mysql0 + `,member_host="mysql-mysql-2.mysql",member_role="SECONDARY",member_state="RECOVERING"}`, "1x30"}),
	quiet("MySQLGroupMemberNotOnline", "all ONLINE", "5m", groupView(3)...),
	fires("MySQLGroupNoPrimary", "no ONLINE primary", "5m", one("namespace", "data", "member_role", "PRIMARY", "member_state", "ONLINE"),
		series{`mysql_perf_schema_replication_group_member_info{` + mysql0 + `,member_host="mysql-mysql-0.mysql",member_role="SECONDARY",member_state="ONLINE"}`, "1x30"}),
	quiet("MySQLGroupNoPrimary", "a primary", "5m", groupView(3)...),
	fires("MySQLReplicationApplyLag", "150 transactions queued", "10m", one("pod", "mysql-mysql-0"),
		series{`mysql_perf_schema_transactions_remote_in_applier_queue{` + mysql0 + `,channel_name="group_replication_applier"}`, "150x30"}),
	quiet("MySQLReplicationApplyLag", "10", "10m", series{`mysql_perf_schema_transactions_remote_in_applier_queue{` + mysql0 + `,channel_name="group_replication_applier"}`, "10x30"}),
	fires("MySQLProxyNoWritableBackend", "no writable backend", "5m", one("pod", "mysql-haproxy-0"),
		series{`haproxy_backend_active_servers{namespace="data",pod="mysql-haproxy-0",proxy="mysql-primary"}`, "0x30"}, series{`haproxy_backend_backup_servers{namespace="data",pod="mysql-haproxy-0",proxy="mysql-primary"}`, "0x30"}),
	quiet("MySQLProxyNoWritableBackend", "one", "5m",
		series{`haproxy_backend_active_servers{namespace="data",pod="mysql-haproxy-0",proxy="mysql-primary"}`, "1x30"}, series{`haproxy_backend_backup_servers{namespace="data",pod="mysql-haproxy-0",proxy="mysql-primary"}`, "0x30"}),
	fires("MySQLSlowQueriesRising", "one slow query a second", "30m", one(), series{`mysql_global_status_slow_queries{` + mysql0 + `}`, "0+60x60"}),
	quiet("MySQLSlowQueriesRising", "one a minute", "30m", series{`mysql_global_status_slow_queries{` + mysql0 + `}`, "0+1x60"}),
	fires("MySQLConnectionsNearMax", "90% of max_connections", "10m", one("pod", "mysql-mysql-0"),
		series{`mysql_global_status_threads_connected{` + mysql0 + `}`, "90x30"}, series{`mysql_global_variables_max_connections{` + mysql0 + `}`, "100x30"}),
	quiet("MySQLConnectionsNearMax", "10%", "10m",
		series{`mysql_global_status_threads_connected{` + mysql0 + `}`, "10x30"}, series{`mysql_global_variables_max_connections{` + mysql0 + `}`, "100x30"}),
	fires("RedisDown", "the cache is down", "5m", one(), join([]series{{`redis_up{` + cache0 + `}`, "0x30"}}, sessionsUp(6, "1x30"))...),
	quiet("RedisDown", "all up", "5m", join([]series{{`redis_up{` + cache0 + `}`, "1x30"}}, sessionsUp(6, "1x30"))...),
	fires("RedisClusterNodeDown", "one node down", "5m", one("pod", "redis-sessions-leader-0"),
		series{`redis_up{` + leader0 + `}`, "0x30"}, series{`redis_up{namespace="data",pod="redis-sessions-follower-0"}`, "1x30"}),
	quiet("RedisClusterNodeDown", "all up", "5m", sessionsUp(6, "1x30")...),
	fires("RedisClusterNodeMissing", "a node's pod is gone", "10m", one(), sessionsUp(5, "1x30")...),
	quiet("RedisClusterNodeMissing", "six nodes", "10m", sessionsUp(6, "1x30")...),
	fires("RedisClusterStateFail", "cluster_state fail", "5m", one(), series{`redis_cluster_state{` + leader0 + `}`, "0x30"}),
	quiet("RedisClusterStateFail", "ok", "5m", series{`redis_cluster_state{` + leader0 + `}`, "1x30"}),
	fires("RedisClusterSlotsFailing", "slots suspected failing", "5m", one(), series{`redis_cluster_slots_pfail{` + leader0 + `}`, "100x30"}, series{`redis_cluster_slots_fail{` + leader0 + `}`, "0x30"}),
	quiet("RedisClusterSlotsFailing", "none", "5m", series{`redis_cluster_slots_pfail{` + leader0 + `}`, "0x30"}, series{`redis_cluster_slots_fail{` + leader0 + `}`, "0x30"}),
	fires("MySQLGroupDegraded", "two of three ONLINE", "10m", one(), groupView(2)...),
	quiet("MySQLGroupDegraded", "three", "10m", groupView(3)...),
	fires("MySQLGroupQuorumAtRisk", "two of three ONLINE", "10m", one(), groupView(2)...),
	quiet("MySQLGroupQuorumAtRisk", "three", "10m", groupView(3)...),
	fires("RedisMasterWithoutReplica", "a master without replica", "15m", one("pod", "redis-sessions-leader-0"),
		series{`redis_connected_slaves{` + leader0 + `}`, "0x30"}, series{`redis_instance_info{` + leader0 + `,role="master",redis_version="7.4.6"}`, "1x30"}),
	quiet("RedisMasterWithoutReplica", "with its replica", "15m",
		series{`redis_connected_slaves{` + leader0 + `}`, "1x30"}, series{`redis_instance_info{` + leader0 + `,role="master",redis_version="7.4.6"}`, "1x30"}),
	fires("RedisMastersShareZone", "two masters in zone 1", "40m", one("label_topology_kubernetes_io_zone", "eastus2-1"), masters("1", "1", "2")...),
	quiet("RedisMastersShareZone", "one master per zone", "40m", masters("1", "2", "3")...),
	// Platform.
	fires("CertificateExpiringSoon", "expires in 10 days; the certificate's namespace, not cert-manager's", "2h", one("name", "site", "namespace", "istio-ingress", "exported_namespace", "istio-ingress"),
		series{`certmanager_certificate_expiration_timestamp_seconds{namespace="cert-manager",pod="cert-manager-6b4c",exported_namespace="istio-ingress",name="site",issuer_name="letsencrypt"}`, tenDays + "x150"}),
	quiet("CertificateExpiringSoon", "in 60 days", "2h",
		series{`certmanager_certificate_expiration_timestamp_seconds{namespace="cert-manager",pod="cert-manager-6b4c",exported_namespace="istio-ingress",name="site",issuer_name="letsencrypt"}`, sixtyDay + "x150"}),
	fires("IstioControlPlaneDown", "istiod down", "10m", one(), series{`up{namespace="istio-system",app="istiod",job="istiod"}`, "0x30"}),
	quiet("IstioControlPlaneDown", "up", "10m", series{`up{namespace="istio-system",app="istiod",job="istiod"}`, "1x30"}),
	fires(NotificationsFailingAlert, "mail fails", "5m", one("integration", "email"),
		series{`alertmanager_notifications_failed_total{namespace="monitoring",pod="alertmanager-0",integration="email",reason="clientError"}`, "0+1x30"},
		series{`alertmanager_notifications_failed_total{namespace="monitoring",pod="alertmanager-0",integration="pagerduty",reason="clientError"}`, "0x30"}),
	quiet(NotificationsFailingAlert, "none fail", "5m",
		series{`alertmanager_notifications_failed_total{namespace="monitoring",pod="alertmanager-0",integration="email",reason="clientError"}`, "3x30"}),
	fires("NodeNotReady", "not Ready for 20 minutes", "20m", one("node", "aks-user-1"),
		series{`kube_node_status_condition{node="aks-user-1",condition="Ready",status="true"}`, "0x30"}),
	quiet("NodeNotReady", "Ready", "20m", series{`kube_node_status_condition{node="aks-user-1",condition="Ready",status="true"}`, "1x30"}),
	fires("PodCrashLooping", "a restart a minute", "20m", one("namespace", "moodle", "pod", "moodle-web-7d9-abc", "container", "moodle"),
		series{`kube_pod_container_status_restarts_total{namespace="moodle",pod="moodle-web-7d9-abc",container="moodle"}`, "0+1x30"}),
	quiet("PodCrashLooping", "one restart", "20m", series{`kube_pod_container_status_restarts_total{namespace="moodle",pod="moodle-web-7d9-abc",container="moodle"}`, "0x10 1x20"}),
}

// promtoolTests renders cases as promtool's unit test file: one test per
// case, annotations as the rules carry them.
func promtoolTests(t *testing.T, alerts []Alert, cases []alertCase) []byte {
	t.Helper()
	byName := map[string]Alert{}
	for _, a := range alerts {
		byName[a.Name] = a
	}
	type expAlert struct {
		Labels      map[string]string `yaml:"exp_labels"`
		Annotations map[string]string `yaml:"exp_annotations"`
	}
	type ruleTest struct {
		EvalTime  string     `yaml:"eval_time"`
		Alertname string     `yaml:"alertname"`
		Exp       []expAlert `yaml:"exp_alerts"`
	}
	type input struct {
		Series string `yaml:"series"`
		Values string `yaml:"values"`
	}
	type test struct {
		Name     string     `yaml:"name"`
		Interval string     `yaml:"interval"`
		Input    []input    `yaml:"input_series"`
		Alerts   []ruleTest `yaml:"alert_rule_test"`
	}
	var tests []test
	for _, c := range cases {
		a, ok := byName[c.Alert]
		require.True(t, ok, "a case for an alert that does not exist: %s", c.Alert)
		tc := test{Name: c.Alert + ": " + c.Why, Interval: c.Interval}
		if tc.Interval == "" {
			tc.Interval = "1m"
		}
		for _, s := range c.Series {
			tc.Input = append(tc.Input, input{s.S, s.V})
		}
		rt := ruleTest{EvalTime: c.At, Alertname: c.Alert, Exp: []expAlert{}}
		for _, l := range c.Fires {
			labels := map[string]string{"severity": a.Severity, "component": a.Component}
			maps.Copy(labels, l)
			rt.Exp = append(rt.Exp, expAlert{labels, map[string]string{"summary": a.Summary, "runbook": a.Runbook, "runbook_url": "docs/alerts.md#" + strings.ToLower(a.Name)}})
		}
		tc.Alerts = []ruleTest{rt}
		tests = append(tests, tc)
	}
	b, err := yaml.Marshal(map[string]any{"rule_files": []string{"rules.yml"}, "evaluation_interval": "1m", "tests": tests})
	require.NoError(t, err)
	return b
}

func runPromtoolTests(t *testing.T, dir string, tests []byte) (string, error) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tests.yml"), tests, 0o644))
	cmd := exec.Command(promtool(t), "test", "rules", "tests.yml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Every alert the program defines fires on the failure it names and stays
// quiet on a healthy series, evaluated by Prometheus itself.
func TestEveryAlertFiresOnItsFailureAndOnlyThen(t *testing.T) {
	alerts := Alerts(40, prodData)
	firesSeen, quietSeen := map[string]bool{}, map[string]bool{}
	for _, c := range alertCases {
		if c.Fires != nil {
			firesSeen[c.Alert] = true
		} else {
			quietSeen[c.Alert] = true
		}
	}
	for _, a := range alerts {
		assert.True(t, firesSeen[a.Name], "%s has no case where it fires", a.Name)
		assert.True(t, quietSeen[a.Name], "%s has no case where it stays quiet", a.Name)
	}
	dir := t.TempDir()
	writeRules(t, dir, alerts)
	out, err := runPromtoolTests(t, dir, promtoolTests(t, alerts, alertCases))
	require.NoError(t, err, "%s", out)
	require.Contains(t, out, "SUCCESS")
}

// The cases catch the rules issue 22 found wrong: with the old expression
// in place of the new, promtool fails the case named.
func TestTheOldRulesFailTheCases(t *testing.T) {
	old := map[string]string{
		"BackupJobFailed":         `max by (namespace, job_name) (kube_job_status_failed{namespace="data"} > 0) * on (namespace, job_name) group_left max by (namespace, job_name) (kube_job_labels{label_moodle_fieldcert_alert="backup"})`,
		"IntegrationJobFailed":    `max by (namespace, job_name) (kube_job_status_failed{namespace="integrations"} > 0) * on (namespace, job_name) group_left max by (namespace, job_name) (kube_job_labels{label_moodle_fieldcert_alert="integration"})`,
		"MoodleUpgradeFailed":     `max by (namespace, job_name) (kube_job_status_failed{namespace="moodle"} > 0) * on (namespace, job_name) group_left max by (namespace, job_name) (kube_job_labels{label_moodle_fieldcert_alert="upgrade"})`,
		"RedisMemoryNearLimit":    `max by (pod) (redis_memory_used_bytes / redis_memory_max_bytes) > 0.9`,
		"CertificateExpiringSoon": `min by (name, namespace) (certmanager_certificate_expiration_timestamp_seconds) - time() < 14 * 24 * 3600`,
		"MoodleCronNotRunning":    `time() - max(kube_cronjob_status_last_successful_time{namespace="moodle",cronjob="moodle-cron"}) > 600`,
	}
	for name, expr := range old {
		t.Run(name, func(t *testing.T) {
			alerts := Alerts(40, prodData)
			for i := range alerts {
				if alerts[i].Name == name {
					alerts[i].Expr = expr
				}
			}
			var cases []alertCase
			for _, c := range alertCases {
				if c.Alert == name {
					cases = append(cases, c)
				}
			}
			dir := t.TempDir()
			writeRules(t, dir, alerts)
			out, err := runPromtoolTests(t, dir, promtoolTests(t, alerts, cases))
			require.Error(t, err, "the old %s passes every case: the cases prove nothing\n%s", name, out)
			assert.Contains(t, out, "FAILED")
		})
	}
}
