package monitoring

import (
	"fmt"
	"strings"

	"github.com/fieldcert/moodle-aks/infra"
)

// Alert is one Prometheus alerting rule. Component groups alerts for
// routing and inhibition ("site", "jobs", "data", "platform").
type Alert struct {
	Name      string
	Expr      string
	For       string
	Severity  string // "critical" pages; "warning" mails
	Component string
	Summary   string
	// Runbook is the first thing to do, in one line; docs/alerts.md has more.
	Runbook string
}

// DataTopology is the data tier's shape, so the group and cluster alerts
// know what "complete" is.
type DataTopology struct {
	// MySQLMembers is the group's size; RedisShards and RedisFollowers the
	// sessions cluster's leaders and followers.
	MySQLMembers, RedisShards, RedisFollowers int
}

// Alerts returns the stack's alerting rules. poolMax is the user pool's
// autoscaler maximum, so "near the maximum" is a number.
func Alerts(userPoolMax int, data DataTopology) []Alert {
	web := `destination_service_name="` + infra.MoodleWebService + `"`
	near := max(1, userPoolMax*9/10)
	// jobFailed: the Jobs in the namespaces ns whose moodle.fieldcert/alert
	// label (infra.AlertLabel) is alert and that have failed (see
	// failedJobs).
	jobFailed := func(ns, alert string) string {
		return `(` + failedJobs(ns) + `) * on (namespace, job_name) group_left max by (namespace, job_name) (kube_job_labels{label_moodle_fieldcert_alert="` + alert + `"})`
	}
	alerts := []Alert{
		// Site.
		{"MoodleDown", `sum(kube_deployment_status_replicas_available{namespace="moodle",deployment="moodle-web"}) == 0`, "2m", "critical", "site",
			"No Moodle web pod is ready: the site is down.", "kubectl -n moodle describe deploy/moodle-web; check the upgrade Job and MySQL first."},
		{"MoodleMaintenance", maintenance, "", "none", "site",
			"Moodle is in planned maintenance (an upgrade Job runs, or maintenanceMode is on) or left it less than 15 minutes ago: its error-rate and latency alerts are held back.", "Nothing to do; if no maintenance is planned, check maintenanceMode and kubectl -n moodle get jobs -l app=moodle-admin."},
		{"MoodleHighErrorRate", `sum(rate(istio_requests_total{reporter="destination",` + web + `,response_code=~"5.."}[5m])) / sum(rate(istio_requests_total{reporter="destination",` + web + `}[5m])) > 0.05`, "5m", "critical", "site",
			"More than 5% of Moodle requests fail with 5xx.", "Look at the web pods' logs for PHP errors; check MySQL and Redis alerts."},
		{"MoodleSlowResponses", `histogram_quantile(0.95, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination",` + web + `}[5m]))) > 3000`, "10m", "warning", "site",
			"95th percentile of Moodle response time is above 3 s.", "Check CPU of the web pods, the HPA, MySQL slow queries and NFS latency."},
		{"MoodleAutoscalerAtMax", `kube_horizontalpodautoscaler_status_current_replicas{namespace="moodle",horizontalpodautoscaler="moodle-web"} >= kube_horizontalpodautoscaler_spec_max_replicas{namespace="moodle",horizontalpodautoscaler="moodle-web"}`, "15m", "warning", "site",
			"The Moodle web autoscaler has been at its maximum for 15 minutes.", "Raise webMaxReplicas (and userPool.maxCount) or find what burns CPU."},
		{"NodePoolNearMax", fmt.Sprintf(`count(kube_node_labels{label_moodle_fieldcert_pool="user"}) >= %d`, near), "15m", "warning", "site",
			fmt.Sprintf("The user node pool is at %d nodes or more, near its autoscaler maximum of %d.", near, userPoolMax), "Raise userPool.maxCount before the pool is full."},
		// Jobs.
		{"MoodleCronNotRunning", cronStale("moodle", "moodle-cron", 600), "1m", "critical", "jobs",
			"Moodle cron has not succeeded for 10 minutes (or ever, in a CronJob older than that).", "kubectl -n moodle get jobs -l app=moodle-cron; read the last failed run's log."},
		{"MoodleUpgradeFailed", jobFailed(`namespace="moodle"`, "upgrade"), "1m", "critical", "jobs",
			"The Moodle upgrade (or install) Job failed: the site stays in maintenance mode.", "kubectl -n moodle logs job/<job_name>; see docs/alerts.md#moodleupgradefailed before switching maintenance off."},
		{"BackupJobFailed", jobFailed(`namespace="data"`, "backup"), "1m", "critical", "jobs",
			"A backup or restore Job failed (its last try; for a CronJob, its newest run).", "kubectl -n data logs job/<job_name> --all-containers; see docs/restore.md."},
		{"IntegrationJobFailed", jobFailed(`namespace="integrations"`, "integration"), "1m", "warning", "jobs",
			"An integration CronJob's newest run failed.", "kubectl -n integrations logs job/<job_name>; check its endpoint and token."},
		{"MigrationJobFailed", jobFailed(`namespace=~"moodle|integrations"`, "migration"), "1m", "critical", "jobs",
			"A migration copy or the pre-cut-over load test failed.", "kubectl -n <namespace> logs job/<job_name>; do not switch DNS; see docs/migration.md."},
		// Backups by their result, not their Jobs: a CronJob that stopped
		// running, was suspended or never succeeded raises no Job failure.
		{"MySQLBackupStale", backupStale("mysql-backup"), "5m", "critical", "jobs",
			"No MySQL dump has succeeded for over 26 hours (or ever, in a day-old stack): the newest restorable dump is getting old.", "kubectl -n data get cronjob mysql-backup; kubectl -n data logs job/<last> --all-containers; docs/restore.md#when-the-nightly-dump-fails."},
		{"FilesBackupStale", backupStale("files-snapshot"), "5m", "critical", "jobs",
			"No moodledata snapshot and copy to the backup account has succeeded for over 26 hours (or ever, in a day-old stack).", "kubectl -n data get cronjob files-snapshot; kubectl -n data logs job/<last> --all-containers; docs/restore.md#when-the-share-or-its-account-is-gone."},
		{"BackupCronJobSuspended", `max by (namespace, cronjob) (kube_cronjob_spec_suspend{namespace="data"}) == 1`, "1h", "critical", "jobs",
			"A backup CronJob has been suspended for an hour: no backups run.", "kubectl -n data patch cronjob <cronjob> -p '{\"spec\":{\"suspend\":false}}' once the reason (a restore, a move) is over."},
		{"ScheduledJobMissed", `(time() - max by (namespace, cronjob) (kube_cronjob_next_schedule_time{namespace=~"data|integrations"})) > 3600`, "5m", "warning", "jobs",
			"A backup or integration CronJob has not started within an hour of its schedule.", "kubectl -n <namespace> describe cronjob/<cronjob>: suspended, or the jobs pool cannot scale?"},
		{"IntegrationCronJobSuspended", `max by (namespace, cronjob) (kube_cronjob_spec_suspend{namespace="integrations"}) == 1`, "1h", "warning", "jobs",
			"An integration CronJob has been suspended for an hour: it does not run.", "kubectl -n integrations patch cronjob <cronjob> -p '{\"spec\":{\"suspend\":false}}' once the reason is over."},
		{"JobNeverStarted", `(` + unfinishedJobs(`namespace=~"moodle|data|integrations"`) + `) and on (namespace, job_name) (max by (namespace, job_name) (kube_job_status_active) == 0) and on (namespace, job_name) (sum by (namespace, job_name) (kube_job_status_failed) == 0) and on (namespace, job_name) (max by (namespace, job_name) (kube_job_status_succeeded) == 0)`, "15m", "warning", "jobs",
			"A Job has had no pod for 15 minutes: its pods are refused (Pod Security, quota, a missing ServiceAccount) before they exist, so it can neither run nor fail.", "kubectl -n <namespace> describe job/<job_name>: the events say why the pod was refused."},
		{"PodPendingTooLong", `max by (namespace, pod) (kube_pod_status_phase{namespace=~"moodle|data|integrations|monitoring|istio-system|istio-ingress|cert-manager",phase="Pending"}) == 1`, "30m", "warning", "platform",
			"A pod has been Pending for 30 minutes: no node can take it, or its volume or image cannot be had.", "kubectl -n <namespace> describe pod <pod>: the events name the scheduler's or kubelet's reason; check the autoscaler's maximum."},
		// Data: see dataAlerts.
		// Only the sessions cluster: it is noeviction, so a full instance
		// refuses writes. The cache is allkeys-lru and sits at maxmemory by
		// design (components/redis).
		{"RedisMemoryNearLimit", `max by (pod) (redis_memory_used_bytes{` + sessionsPods + `} / redis_memory_max_bytes{` + sessionsPods + `}) > 0.9`, "5m", "warning", "data",
			"A node of the sessions Redis Cluster uses over 90% of its maxmemory: when full it refuses new sessions (noeviction).", "Raise redisMemoryMiB (and the pods' memory follows); look for sessions that never expire."},
		{"PersistentVolumeFilling", `max by (namespace, persistentvolumeclaim) (kubelet_volume_stats_used_bytes / kubelet_volume_stats_capacity_bytes) > 0.8`, "10m", "warning", "data",
			"A persistent volume is over 80% full.", "Raise mysqlDiskGiB, moodledataQuotaGiB or prometheusStorageGiB (expansion is online)."},
		// Platform.
		// cert-manager's metrics are scraped from its pod (kubernetes-pods), so
		// the certificate's own namespace label arrives as exported_namespace
		// (honor_labels false: the target's namespace wins).
		{"CertificateExpiringSoon", `label_replace(min by (name, exported_namespace) (certmanager_certificate_expiration_timestamp_seconds), "namespace", "$1", "exported_namespace", "(.*)") - time() < 14 * 24 * 3600`, "1h", "critical", "platform",
			"A certificate expires within 14 days and has not renewed.", "kubectl -n <namespace> describe certificate <name>; check the ACME challenge (kubectl get challenges -A)."},
		{"IstioControlPlaneDown", `sum(up{namespace=~"istio-system|aks-istio-system",app="istiod"}) == 0 or absent(up{app="istiod"})`, "5m", "critical", "platform",
			"istiod is down: new pods get no sidecar and certificates stop rotating.", "kubectl -n istio-system get pods; check the istiod release."},
		{NotificationsFailingAlert, `sum by (integration) (increase(alertmanager_notifications_failed_total{namespace="monitoring"}[15m])) > 0`, "", "critical", "platform",
			"Alertmanager failed to deliver notifications through one kind of receiver in the last 15 minutes: alerts sent there reached nobody. This alert goes to the other kinds.", "kubectl -n monitoring logs alertmanager-kube-prometheus-stack-alertmanager-0 -c alertmanager | grep -i notify; check the receiver's credentials and egress (docs/alerts.md#routing)."},
		{"NodeNotReady", `max by (node) (kube_node_status_condition{condition="Ready",status="true"}) == 0`, "15m", "warning", "platform",
			"A node has not been Ready for 15 minutes.", "kubectl describe node <node>; AKS repairs or the autoscaler removes it; if many are, check the zone."},
		{"PodCrashLooping", `increase(kube_pod_container_status_restarts_total{namespace=~"moodle|data|integrations|monitoring|istio-system|istio-ingress|cert-manager"}[15m]) > 3`, "5m", "warning", "platform",
			"A container restarted more than 3 times in 15 minutes.", "kubectl -n <namespace> logs <pod> --previous."},
	}
	return append(alerts, dataAlerts(data)...)
}

// BackupMaxAgeHours is how old the newest successful backup may get: a
// nightly schedule, its retries and a late start.
const BackupMaxAgeHours = 26

// NotificationsFailingAlert reports a kind of receiver that cannot deliver
// (its integration label routes it to the other kinds).
const NotificationsFailingAlert = "AlertmanagerNotificationsFailing"

// backupStale: the backup CronJob's last success is older than
// BackupMaxAgeHours (see cronStale).
func backupStale(cronjob string) string {
	return cronStale("data", cronjob, BackupMaxAgeHours*3600)
}

// cronStale: the CronJob's last success is older than seconds, or it never
// succeeded and is older than that itself (kube-state-metrics exports
// last_successful_time only once there is one; cronjob-metrics.md).
func cronStale(ns, cronjob string, seconds int) string {
	sel := `{namespace="` + ns + `",cronjob="` + cronjob + `"}`
	age := fmt.Sprint(seconds)
	return `(time() - max(kube_cronjob_status_last_successful_time` + sel + `) > ` + age + `) or (absent(kube_cronjob_status_last_successful_time` + sel + `) and on () (time() - max(kube_cronjob_created` + sel + `)) > ` + age + `)`
}

// failedJobs are the failed Jobs in the namespaces ns that still matter:
// the Job's Failed condition (kube_job_failed{condition="true"}, set when
// its backoff limit or deadline is exhausted: a pod that failed before a
// retry succeeded does not set it, unlike kube_job_status_failed, which
// counts failed pods), and for a Job a CronJob made, only the CronJob's
// newest Job: kept failed Jobs stop alerting once a later run exists.
func failedJobs(ns string) string {
	owner := `max by (namespace, job_name, owner_name) (kube_job_owner{` + ns + `,owner_kind="CronJob"})`
	created := `max by (namespace, job_name, owner_name) (kube_job_created{` + ns + `} * on (namespace, job_name) group_left (owner_name) ` + owner + `)`
	newest := created + ` == on (namespace, owner_name) group_left max by (namespace, owner_name) (` + created + `)`
	failed := `max by (namespace, job_name) (kube_job_failed{` + ns + `,condition="true"} == 1)`
	return `(` + failed + ` unless on (namespace, job_name) ` + owner + `) or (` + failed + ` and on (namespace, job_name) (` + newest + `))`
}

// unfinishedJobs are the Jobs in ns that have neither completed nor failed.
func unfinishedJobs(ns string) string {
	return `max by (namespace, job_name) (kube_job_info{` + ns + `}) unless on (namespace, job_name) (kube_job_complete{condition="true"} == 1 or kube_job_failed{condition="true"} == 1)`
}

// maintenance is 1 while Moodle is in planned maintenance, and for 15
// minutes after: an upgrade or maintenance Job runs (the Jobs labelled
// alert=upgrade), or maintenanceMode is on (the Job moodle-maintenance-on
// exists only then). The tail covers the 5-minute rate window of the
// error-rate alert.
const maintenance = `max_over_time((max(kube_job_status_active{namespace="moodle"} * on (namespace, job_name) group_left max by (namespace, job_name) (kube_job_labels{namespace="moodle",label_moodle_fieldcert_alert="upgrade"}) > 0) or max(kube_job_info{namespace="moodle",job_name="moodle-maintenance-on"}))[15m:1m]) > 0`

// Series of the data tier's exporters, by the pods Prometheus scrapes
// (the kubernetes-pods job labels each series with its pod).
const (
	mysqlPods    = `namespace="data",pod=~"mysql-mysql-[0-9]+"`
	proxyPods    = `namespace="data",pod=~"mysql-haproxy-[0-9]+"`
	sessionsPods = `namespace="data",pod=~"redis-sessions-(leader|follower)-[0-9]+"`
	cachePods    = `namespace="data",pod=~"redis-cache-[0-9]+"`
	// groupMembers is each member's view of the group: the ONLINE members
	// it counts (performance_schema.replication_group_members, through
	// mysqld_exporter's perf_schema.replication_group_members collector).
	onlineMembers = `max(count by (pod) (mysql_perf_schema_replication_group_member_info{` + mysqlPods + `,member_state="ONLINE"}))`
)

// dataAlerts are the MySQL group's, its proxy's and the Redis stores'.
// Every metric is one the pinned exporters export (metrics.go says where).
func dataAlerts(d DataTopology) []Alert {
	majority := d.MySQLMembers/2 + 1
	out := []Alert{
		{"MySQLDown", `max(mysql_up{` + mysqlPods + `}) == 0 or absent(mysql_up{` + mysqlPods + `})`, "2m", "critical", "data",
			"No MySQL member answers its exporter: the database is down.", "kubectl -n data get pods -l app.kubernetes.io/instance=mysql; kubectl -n data describe ps mysql."},
		{"MySQLMemberDown", `min by (pod) (mysql_up{` + mysqlPods + `}) == 0`, "2m", "warning", "data",
			"A MySQL member's server does not answer (the group serves on the others).", "kubectl -n data logs <pod> -c mysql; docs/data-tier-failures.md."},
		{"MySQLGroupMemberNotOnline", `max by (pod, member_host, member_state) (mysql_perf_schema_replication_group_member_info{` + mysqlPods + `,member_state!="ONLINE"}) > 0`, "2m", "warning", "data",
			"A group replication member is not ONLINE (RECOVERING, UNREACHABLE, ERROR or OFFLINE).", "kubectl -n data logs <member> -c mysql; a member in ERROR restarts and rejoins (autoRecovery)."},
		{"MySQLGroupNoPrimary", `absent(mysql_perf_schema_replication_group_member_info{` + mysqlPods + `,member_role="PRIMARY",member_state="ONLINE"})`, "1m", "critical", "data",
			"No member of the MySQL group is an ONLINE primary: writes fail.", "docs/data-tier-failures.md#no-primary: check quorum; never bootstrap a second group by hand."},
		{"MySQLReplicationApplyLag", `max by (pod) (mysql_perf_schema_transactions_remote_in_applier_queue{` + mysqlPods + `}) > 100`, "5m", "warning", "data",
			"A member has more than 100 transactions from the group waiting to be applied: reads on 3307 are stale.", "Check the member's disk and CPU; a large transaction (upgrade, bulk delete) drains by itself."},
		{"MySQLProxyNoWritableBackend", `max by (pod) (haproxy_backend_active_servers{` + proxyPods + `,proxy="mysql-primary"} + haproxy_backend_backup_servers{` + proxyPods + `,proxy="mysql-primary"}) == 0`, "1m", "critical", "data",
			"A MySQL proxy has no writable member behind port 3306: writes through it fail.", "kubectl -n data logs <pod> -c haproxy; kubectl -n data get pods -l app.kubernetes.io/component=database."},
		{"MySQLSlowQueriesRising", `max(rate(mysql_global_status_slow_queries{` + mysqlPods + `}[10m])) > 0.5`, "15m", "warning", "data",
			"More than one slow query every two seconds.", "Read slow.log in the member's data directory; look for a report or a plugin."},
		{"MySQLConnectionsNearMax", `max by (pod) (mysql_global_status_threads_connected{` + mysqlPods + `} / mysql_global_variables_max_connections{` + mysqlPods + `}) > 0.85`, "5m", "warning", "data",
			"A MySQL member's connections are above 85% of max_connections.", "Lower webMaxReplicas or raise mysqlMemoryMiB (max_connections follows)."},
		{"RedisDown", `max(redis_up{` + cachePods + `}) == 0 or absent(redis_up{` + cachePods + `}) or max(redis_up{` + sessionsPods + `}) == 0 or absent(redis_up{` + sessionsPods + `})`, "2m", "critical", "data",
			"The cache Redis, or every node of the sessions cluster, is down.", "kubectl -n data get pods -l app=redis; kubectl -n data get rediscluster redis-sessions; sessions down logs everybody out."},
		{"RedisClusterNodeDown", `min by (pod) (redis_up{` + sessionsPods + `}) == 0`, "2m", "warning", "data",
			"A node of the sessions Redis Cluster does not answer (its follower took its slots).", "kubectl -n data describe pod <pod>; docs/data-tier-failures.md."},
		{"RedisClusterStateFail", `min(redis_cluster_state{` + sessionsPods + `}) == 0`, "1m", "critical", "data",
			"A node of the sessions cluster reports the cluster as failed: some sessions cannot be read or written.", "redis-cli --tls ... cluster info on each node; docs/data-tier-failures.md#redis-cluster-fail."},
		{"RedisClusterSlotsFailing", `max(redis_cluster_slots_fail{` + sessionsPods + `}) > 0 or max(redis_cluster_slots_pfail{` + sessionsPods + `}) > 0`, "1m", "critical", "data",
			"Hash slots of the sessions cluster are failing or suspected failing: users on them lose their session.", "Find the node that holds them (cluster nodes); is its follower up?"},
	}
	// A member or node whose pod is gone exports nothing: counted, not read.
	if d.MySQLMembers > 0 {
		out = append(out, Alert{"MySQLMemberMissing", fmt.Sprintf(`count(mysql_up{`+mysqlPods+`}) < %d`, d.MySQLMembers), "5m", "warning", "data",
			fmt.Sprintf("Fewer than %d MySQL members are scraped: a member's pod is gone (not only down).", d.MySQLMembers), "kubectl -n data get pods -l app.kubernetes.io/component=database; kubectl -n data describe ps mysql."})
	}
	if nodes := d.RedisShards + d.RedisFollowers; nodes > 0 {
		out = append(out, Alert{"RedisClusterNodeMissing", fmt.Sprintf(`count(redis_up{`+sessionsPods+`}) < %d`, nodes), "5m", "warning", "data",
			fmt.Sprintf("Fewer than %d nodes of the sessions Redis Cluster are scraped: a node's pod is gone.", nodes), "kubectl -n data get pods -l app=redis-sessions; kubectl -n data describe rediscluster redis-sessions."})
	}
	if d.MySQLMembers >= 3 {
		out = append(out,
			Alert{"MySQLGroupDegraded", onlineMembers + fmt.Sprintf(" < %d", d.MySQLMembers), "5m", "warning", "data",
				fmt.Sprintf("Fewer than %d MySQL members are ONLINE.", d.MySQLMembers), "kubectl -n data get pods -l app.kubernetes.io/component=database; a member that cannot rejoin: docs/data-tier-failures.md."},
			Alert{"MySQLGroupQuorumAtRisk", onlineMembers + fmt.Sprintf(" <= %d", majority), "2m", "critical", "data",
				fmt.Sprintf("Only %d or fewer MySQL members are ONLINE: one more failure stops all writes.", majority), "Bring the missing member back first; do not drain nodes or upgrade now (docs/data-tier-failures.md)."},
		)
	}
	if d.RedisFollowers > 0 {
		// A master's zone: its pod's node (kube_pod_info) and that node's
		// zone label (kube_node_labels, allowlisted).
		masterZones := `count by (label_topology_kubernetes_io_zone) (
  max by (pod) (redis_instance_info{` + sessionsPods + `,role="master"})
  * on (pod) group_left (node) max by (pod, node) (kube_pod_info{namespace="data"})
  * on (node) group_left (label_topology_kubernetes_io_zone) max by (node, label_topology_kubernetes_io_zone) (kube_node_labels))`
		out = append(out,
			Alert{"RedisMasterWithoutReplica", `max by (pod) (redis_connected_slaves{` + sessionsPods + `}) == 0 and on (pod) max by (pod) (redis_instance_info{` + sessionsPods + `,role="master"})`, "10m", "warning", "data",
				"A master of the sessions cluster has no replica: one more failure loses its sessions.", "Bring its follower back; docs/data-tier-failures.md#rebalance."},
			Alert{"RedisMastersShareZone", masterZones + ` > 1`, "30m", "warning", "data",
				"Two masters of the sessions cluster are in one zone: losing it loses the majority, and no failover happens.", "CLUSTER FAILOVER on a follower in another zone (docs/data-tier-failures.md#rebalance)."},
		)
	}
	return out
}

// ruleGroups renders the alerts as PrometheusRule groups by component.
func ruleGroups(alerts []Alert) []any {
	order := []string{"site", "jobs", "data", "platform"}
	byComp := map[string][]any{}
	for _, a := range alerts {
		rule := map[string]any{
			"alert": a.Name,
			"expr":  a.Expr,
			"labels": map[string]any{
				"severity":  a.Severity,
				"component": a.Component,
			},
			"annotations": map[string]any{
				"summary":     a.Summary,
				"runbook":     a.Runbook,
				"runbook_url": "docs/alerts.md#" + strings.ToLower(a.Name),
			},
		}
		if a.For != "" {
			rule["for"] = a.For
		}
		byComp[a.Component] = append(byComp[a.Component], rule)
	}
	var groups []any
	for _, c := range order {
		if len(byComp[c]) > 0 {
			groups = append(groups, map[string]any{"name": "moodle-" + c, "rules": byComp[c]})
		}
	}
	return groups
}
