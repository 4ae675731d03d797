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

// Alerts returns the stack's alerting rules. poolMax is the user pool's
// autoscaler maximum, so "near the maximum" is a number.
func Alerts(userPoolMax int) []Alert {
	web := `destination_service_name="` + infra.MoodleWebService + `"`
	near := max(1, userPoolMax*9/10)
	// jobFailed: a failed Job in the namespaces ns selects whose
	// moodle.fieldcert/alert label (infra.AlertLabel) is alert.
	jobFailed := func(ns, alert string) string {
		return `max by (namespace, job_name) (kube_job_status_failed{` + ns + `} > 0) * on (namespace, job_name) group_left max by (namespace, job_name) (kube_job_labels{label_moodle_fieldcert_alert="` + alert + `"})`
	}
	return []Alert{
		// Site.
		{"MoodleDown", `sum(kube_deployment_status_replicas_available{namespace="moodle",deployment="moodle-web"}) == 0`, "2m", "critical", "site",
			"No Moodle web pod is ready: the site is down.", "kubectl -n moodle describe deploy/moodle-web; check the upgrade Job and MySQL first."},
		{"MoodleHighErrorRate", `sum(rate(istio_requests_total{reporter="destination",` + web + `,response_code=~"5.."}[5m])) / sum(rate(istio_requests_total{reporter="destination",` + web + `}[5m])) > 0.05`, "5m", "critical", "site",
			"More than 5% of Moodle requests fail with 5xx.", "Look at the web pods' logs for PHP errors; check MySQL and Redis alerts."},
		{"MoodleSlowResponses", `histogram_quantile(0.95, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination",` + web + `}[5m]))) > 3000`, "10m", "warning", "site",
			"95th percentile of Moodle response time is above 3 s.", "Check CPU of the web pods, the HPA, MySQL slow queries and NFS latency."},
		{"MoodleAutoscalerAtMax", `kube_horizontalpodautoscaler_status_current_replicas{namespace="moodle",horizontalpodautoscaler="moodle-web"} >= kube_horizontalpodautoscaler_spec_max_replicas{namespace="moodle",horizontalpodautoscaler="moodle-web"}`, "15m", "warning", "site",
			"The Moodle web autoscaler has been at its maximum for 15 minutes.", "Raise webMaxReplicas (and userPool.maxCount) or find what burns CPU."},
		{"NodePoolNearMax", fmt.Sprintf(`count(kube_node_labels{label_moodle_fieldcert_pool="user"}) >= %d`, near), "15m", "warning", "site",
			fmt.Sprintf("The user node pool is at %d nodes or more, near its autoscaler maximum of %d.", near, userPoolMax), "Raise userPool.maxCount before the pool is full."},
		// Jobs.
		{"MoodleCronNotRunning", `time() - max(kube_cronjob_status_last_successful_time{namespace="moodle",cronjob="moodle-cron"}) > 600`, "1m", "critical", "jobs",
			"Moodle cron has not succeeded for 10 minutes.", "kubectl -n moodle get jobs -l app=moodle-cron; read the last failed run's log."},
		{"MoodleUpgradeFailed", jobFailed(`namespace="moodle"`, "upgrade"), "1m", "critical", "jobs",
			"The Moodle upgrade (or install) Job failed: the site stays in maintenance mode.", "kubectl -n moodle logs job/<job_name>; see docs/alerts.md#moodleupgradefailed before switching maintenance off."},
		{"BackupJobFailed", jobFailed(`namespace="data"`, "backup"), "1m", "critical", "jobs",
			"A backup or restore Job failed.", "kubectl -n data logs job/<job_name> --all-containers; see docs/restore.md."},
		{"IntegrationJobFailed", jobFailed(`namespace="integrations"`, "integration"), "1m", "warning", "jobs",
			"An integration Job failed.", "kubectl -n integrations logs job/<job_name>; check its endpoint and token."},
		{"MigrationJobFailed", jobFailed(`namespace=~"moodle|integrations"`, "migration"), "1m", "critical", "jobs",
			"A migration copy or the pre-cut-over load test failed.", "kubectl -n <namespace> logs job/<job_name>; do not switch DNS; see docs/migration.md."},
		{"ScheduledJobMissed", `(time() - max by (namespace, cronjob) (kube_cronjob_next_schedule_time{namespace=~"data|integrations"})) > 3600`, "5m", "warning", "jobs",
			"A backup or integration CronJob has not started within an hour of its schedule.", "kubectl -n <namespace> describe cronjob/<cronjob>: suspended, or the jobs pool cannot scale?"},
		// Data.
		{"MySQLDown", `max(mysql_up) == 0 or absent(mysql_up)`, "2m", "critical", "data",
			"MySQL is down or not scraped.", "kubectl -n data describe pod mysql-0; check the disk and the last restart."},
		{"MySQLSlowQueriesRising", `rate(mysql_global_status_slow_queries[10m]) > 0.5`, "15m", "warning", "data",
			"More than one slow query every two seconds.", "Read slow.log in the MySQL data directory; look for a report or a plugin."},
		{"MySQLConnectionsNearMax", `max(mysql_global_status_threads_connected) / max(mysql_global_variables_max_connections) > 0.85`, "5m", "warning", "data",
			"MySQL connections are above 85% of max_connections.", "Lower webMaxReplicas or raise mysqlMemoryMiB (max_connections follows)."},
		{"RedisDown", `min(redis_up) == 0 or absent(redis_up)`, "2m", "critical", "data",
			"A Redis instance (sessions or cache) is down.", "kubectl -n data get pods -l app=redis; sessions down logs everybody out."},
		{"RedisMemoryNearLimit", `max by (pod) (redis_memory_used_bytes / redis_memory_max_bytes) > 0.9`, "5m", "warning", "data",
			"A Redis instance uses over 90% of its maxmemory.", "Raise redisMemoryMiB; the sessions instance refuses writes when full."},
		{"PersistentVolumeFilling", `max by (namespace, persistentvolumeclaim) (kubelet_volume_stats_used_bytes / kubelet_volume_stats_capacity_bytes) > 0.8`, "10m", "warning", "data",
			"A persistent volume is over 80% full.", "Raise mysqlDiskGiB, moodledataQuotaGiB or prometheusStorageGiB (expansion is online)."},
		// Platform.
		{"CertificateExpiringSoon", `min by (name, namespace) (certmanager_certificate_expiration_timestamp_seconds) - time() < 14 * 24 * 3600`, "1h", "critical", "platform",
			"The site certificate expires within 14 days and has not renewed.", "kubectl -n istio-ingress describe certificate site; check the ACME challenge."},
		{"IstioControlPlaneDown", `sum(up{namespace=~"istio-system|aks-istio-system",app="istiod"}) == 0 or absent(up{app="istiod"})`, "5m", "critical", "platform",
			"istiod is down: new pods get no sidecar and certificates stop rotating.", "kubectl -n istio-system get pods; check the istiod release."},
		{"PodCrashLooping", `increase(kube_pod_container_status_restarts_total{namespace=~"moodle|data|integrations|monitoring|istio-system|istio-ingress|cert-manager"}[15m]) > 3`, "5m", "warning", "platform",
			"A container restarted more than 3 times in 15 minutes.", "kubectl -n <namespace> logs <pod> --previous."},
	}
}

// ruleGroups renders the alerts as PrometheusRule groups by component.
func ruleGroups(alerts []Alert) []any {
	order := []string{"site", "jobs", "data", "platform"}
	byComp := map[string][]any{}
	for _, a := range alerts {
		byComp[a.Component] = append(byComp[a.Component], map[string]any{
			"alert": a.Name,
			"expr":  a.Expr,
			"for":   a.For,
			"labels": map[string]any{
				"severity":  a.Severity,
				"component": a.Component,
			},
			"annotations": map[string]any{
				"summary":     a.Summary,
				"runbook":     a.Runbook,
				"runbook_url": "docs/alerts.md#" + strings.ToLower(a.Name),
			},
		})
	}
	var groups []any
	for _, c := range order {
		if len(byComp[c]) > 0 {
			groups = append(groups, map[string]any{"name": "moodle-" + c, "rules": byComp[c]})
		}
	}
	return groups
}
