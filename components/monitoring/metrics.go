package monitoring

// ExporterMetric is a metric a pinned exporter exports, with where its
// source says so: the data tier alerts may only name these (a test holds
// every data alert's expression against this list, and the real-run test
// scrapes the ones it can from the real servers: CLUSTER INFO's fields from
// Redis, HAProxy's /metrics).
type ExporterMetric struct {
	Name   string
	Source string
}

// ExporterMetrics are the data tier's exporters' metrics the alerts use.
// mysqld_exporter v0.17.2 (prom/mysqld-exporter, prometheus/mysqld_exporter
// tag v0.17.2, 2025-02-26); redis_exporter v1.74.0 (oliver006/redis_exporter
// tag v1.74.0, 2025-06-07); HAProxy 2.8's built-in Prometheus exporter
// (Percona's image serves it on :8404, operator v1.1.0
// build/haproxy-global.cfg "frontend stats"); kube-state-metrics 2.x.
var ExporterMetrics = []ExporterMetric{
	{"mysql_up", "mysqld_exporter collector/exporter.go:58 BuildFQName(namespace, \"\", \"up\")"},
	{"mysql_global_status_slow_queries", "mysqld_exporter collector/global_status.go: global_status + SHOW GLOBAL STATUS Slow_queries, lowercased"},
	{"mysql_global_status_threads_connected", "mysqld_exporter collector/global_status.go: Threads_connected"},
	{"mysql_global_variables_max_connections", "mysqld_exporter collector/global_variables.go: max_connections"},
	{"mysql_perf_schema_replication_group_member_info", "mysqld_exporter collector/perf_schema_replication_group_members.go:79, one series per row of performance_schema.replication_group_members, its columns lowercased as labels (member_host, member_state, member_role, ...); flag --collect.perf_schema.replication_group_members"},
	{"mysql_perf_schema_transactions_remote_in_applier_queue", "mysqld_exporter collector/perf_schema_replication_group_member_stats.go:49, COUNT_TRANSACTIONS_REMOTE_IN_APPLIER_QUEUE of this member (WHERE MEMBER_ID=@@server_uuid); flag --collect.perf_schema.replication_group_member_stats"},
	{"haproxy_backend_active_servers", "HAProxy 2.8 addons/promex: backend metric active_servers (servers UP, not backup)"},
	{"haproxy_backend_backup_servers", "HAProxy 2.8 addons/promex: backend metric backup_servers (backup servers UP)"},
	{"redis_up", "redis_exporter exporter/exporter.go:514, 586"},
	{"redis_connected_slaves", "redis_exporter exporter/exporter.go:263 (INFO replication connected_slaves)"},
	{"redis_instance_info", "redis_exporter exporter/info.go:196, labels role, redis_mode, ..."},
	{"redis_memory_used_bytes", "redis_exporter exporter/exporter.go:167 (INFO used_memory)"},
	{"redis_memory_max_bytes", "redis_exporter exporter/exporter.go:183 (INFO maxmemory)"},
	{"redis_cluster_state", "redis_exporter exporter/metrics.go includeMetric: every CLUSTER INFO field with prefix cluster_; exporter/metrics.go parseAndRegisterConstMetric: ok=1, fail=0"},
	{"redis_cluster_slots_fail", "redis_exporter exporter/metrics.go: CLUSTER INFO cluster_slots_fail"},
	{"redis_cluster_slots_pfail", "redis_exporter exporter/metrics.go: CLUSTER INFO cluster_slots_pfail"},
	{"kube_pod_info", "kube-state-metrics docs/metrics/workload/pod-metrics.md (labels pod, node, namespace)"},
	{"kube_node_labels", "kube-state-metrics docs/metrics/cluster/node-metrics.md (allowlisted labels, label_<name>)"},
}
