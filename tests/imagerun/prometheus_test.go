package imagerun

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// The monitoring of the run: the exporters scrape the real MariaDB servers,
// Redis nodes and Apache; Debian's Prometheus scrapes the exporters and
// HAProxy through the rendered kubernetes-pods job and evaluates the
// rendered prod rules.
//
// Kubernetes service discovery is the one thing modelled: each "pod" is a
// file_sd target carrying the labels Prometheus' pod role sets
// (__meta_kubernetes_namespace, _pod_name, _pod_phase, _pod_annotation_*,
// _pod_label_*; prometheus.io/docs/prometheus/latest/configuration/
// configuration/#kubernetes_sd_config, role pod: one target per container
// port, address pod IP:port), with the annotations the rendered pods carry.
// Each pod has its own loopback address, so the rendered relabelling (the
// annotation's port on the pod's address) decides what is scraped.
//
// The exporters are Debian's (mysqld_exporter 0.14, redis_exporter 1.45,
// apache_exporter 0.12): the pinned images' releases (0.17.2, 1.74.0,
// 1.0.10) are not served by the module proxy here. The metrics the alerts
// read have the same names in both (components/monitoring/metrics.go).

var labelNameRE = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// exporterPod is one scraped pod of the run.
type exporterPod struct {
	namespace, name, ip, port, phase string
	labels                           map[string]string
}

func (p exporterPod) target() map[string]any {
	labels := map[string]string{
		"__meta_kubernetes_namespace":                                p.namespace,
		"__meta_kubernetes_pod_name":                                 p.name,
		"__meta_kubernetes_pod_phase":                                p.phase,
		"__meta_kubernetes_pod_annotation_prometheus_io_scrape":      "true",
		"__meta_kubernetes_pod_annotation_prometheus_io_port":        p.port,
		"__meta_kubernetes_pod_annotationpresent_prometheus_io_port": "true",
	}
	for k, v := range p.labels {
		// As the pod role names them: the label's name with every character
		// a label name cannot have made "_" (strutil.SanitizeLabelName).
		labels["__meta_kubernetes_pod_label_"+labelNameRE.ReplaceAllString(k, "_")] = v
	}
	return map[string]any{"targets": []string{p.ip + ":" + p.port}, "labels": labels}
}

// renderedScrapeJob is the kubernetes-pods job of the rendered prod stack
// (the chart's additionalScrapeConfigs in resources.json).
func renderedScrapeJob(s *site) map[string]any {
	t := s.t
	b, err := os.ReadFile(filepath.Join(root, "rendered", "prod", "resources.json"))
	require.NoError(t, err)
	var resources []struct {
		Name   string `json:"name"`
		Inputs struct {
			Values struct {
				Prometheus struct {
					PrometheusSpec struct {
						AdditionalScrapeConfigs []map[string]any `json:"additionalScrapeConfigs"`
					} `json:"prometheusSpec"`
				} `json:"prometheus"`
			} `json:"values"`
		} `json:"inputs"`
	}
	require.NoError(t, json.Unmarshal(b, &resources))
	for _, r := range resources {
		if r.Name == "monitoring-stack" {
			jobs := r.Inputs.Values.Prometheus.PrometheusSpec.AdditionalScrapeConfigs
			require.Len(t, jobs, 1)
			return jobs[0]
		}
	}
	require.Fail(t, "rendered/prod has no monitoring-stack release")
	return nil
}

type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

func (s *site) promGet(base, path string, out any) {
	s.t.Helper()
	resp, err := http.Get(base + path)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
	}
	require.NoError(s.t, json.NewDecoder(resp.Body).Decode(&env))
	require.Equal(s.t, "success", env.Status, path)
	require.NoError(s.t, json.Unmarshal(env.Data, out))
}

func (s *site) promAlerts(base string) map[string]string {
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	s.promGet(base, "/api/v1/alerts", &data)
	out := map[string]string{}
	for _, a := range data.Alerts {
		if out[a.Labels["alertname"]] != "firing" {
			out[a.Labels["alertname"]] = a.State
		}
	}
	return out
}

// monitor starts the exporters and Prometheus; it returns Prometheus' URL.
func (s *site) monitor(apacheScrapeURI string) string {
	t := s.t
	tls := s.data.tlsDir
	var pods []exporterPod
	exporter := func(pod exporterPod, env []string, name string, args ...string) {
		s.startWith(env, name, args...)
		pods = append(pods, pod)
	}
	mysqlArgs := []string{}
	var cr perconaCR
	crFile(t, "data/perconaservermysql-mysql.yaml", &cr)
	for _, c := range cr.Spec.MySQL.Sidecars {
		if c.Name == "exporter" {
			for _, a := range c.Args {
				if strings.HasPrefix(a, "--collect.") { // the rendered collectors
					mysqlArgs = append(mysqlArgs, a)
				}
			}
		}
	}
	require.NotEmpty(t, mysqlArgs, "the rendered exporter names its collectors")
	for i, sock := range []string{s.primarySock(), s.replicaSock()} {
		p := exporterPod{namespace: "data", name: fmt.Sprintf("mysql-mysql-%d", i), ip: fmt.Sprintf("127.0.1.%d", i+1), port: "9104", phase: "Running",
			labels: map[string]string{"app_kubernetes_io_component": "database"}}
		exporter(p, []string{"DATA_SOURCE_NAME=root@unix(" + sock + ")/"}, "prometheus-mysqld-exporter",
			append([]string{"--web.listen-address=" + p.ip + ":9104"}, mysqlArgs...)...)
	}
	for i, n := range s.data.nodes {
		p := exporterPod{namespace: "data", name: n.name, ip: fmt.Sprintf("127.0.1.%d", 11+i), port: "9121", phase: "Running", labels: map[string]string{"app": "redis-sessions"}}
		exporter(p, nil, "prometheus-redis-exporter", "-web.listen-address="+p.ip+":9121", "-redis.addr=rediss://127.0.0.1:"+strconv.Itoa(n.port),
			"-redis.password="+s.secrets["moodle-redis"]["sessions-password"], "-tls-ca-cert-file="+filepath.Join(tls, "ca.crt"),
			"-tls-client-cert-file="+filepath.Join(tls, "tls.crt"), "-tls-client-key-file="+filepath.Join(tls, "tls.key"))
	}
	cache := exporterPod{namespace: "data", name: "redis-cache-0", ip: "127.0.1.20", port: "9121", phase: "Running", labels: map[string]string{"app": "redis-cache"}}
	exporter(cache, nil, "prometheus-redis-exporter", "-web.listen-address="+cache.ip+":9121", "-redis.addr=rediss://"+cacheHost+":6379",
		"-redis.password="+s.secrets["moodle-redis"]["cache-password"], "-tls-ca-cert-file="+filepath.Join(tls, "ca.crt"))
	web := exporterPod{namespace: "moodle", name: "moodle-web-7d9c5-x2kq", ip: "127.0.1.30", port: "9117", phase: "Running", labels: map[string]string{"app": "moodle-web"}}
	exporter(web, nil, "prometheus-apache-exporter", "--telemetry.address="+web.ip+":9117", "--scrape_uri="+apacheScrapeURI)
	// HAProxy exports its own /metrics on the stats port of every address.
	pods = append(pods, exporterPod{namespace: "data", name: "mysql-haproxy-0", ip: "127.0.0.1", port: strconv.Itoa(proxyStatsPort), phase: "Running", labels: map[string]string{"app_kubernetes_io_component": "haproxy"}})
	// A finished Job's pod keeps its annotations and answers nothing.
	pods = append(pods, exporterPod{namespace: "data", name: "mysql-backup-29000100-abcde", ip: "127.0.1.40", port: "15020", phase: "Succeeded", labels: map[string]string{"job-name": "mysql-backup-29000100", "app.kubernetes.io/component": "backup"}})

	dir := filepath.Join(s.w, "prometheus")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	var targets []any
	for _, p := range pods {
		targets = append(targets, p.target())
	}
	b, err := json.Marshal(targets)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pods.json"), b, 0o644))
	job := renderedScrapeJob(s)
	require.Equal(t, []any{map[string]any{"role": "pod"}}, job["kubernetes_sd_configs"])
	delete(job, "kubernetes_sd_configs")
	job["file_sd_configs"] = []any{map[string]any{"files": []string{filepath.Join(dir, "pods.json")}}}

	// The rendered prod rules, as the operator hands them to Prometheus.
	var rule struct {
		Spec map[string]any `yaml:"spec"`
	}
	rb, err := os.ReadFile(filepath.Join(root, "rendered", "prod", "kubernetes", "monitoring", "prometheusrule-moodle-alerts.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(rb, &rule))
	rb, err = yaml.Marshal(rule.Spec)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yml"), rb, 0o644))
	conf, err := yaml.Marshal(map[string]any{
		"global":         map[string]any{"scrape_interval": "5s", "evaluation_interval": "5s"},
		"rule_files":     []string{filepath.Join(dir, "rules.yml")},
		"scrape_configs": []any{job},
	})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), conf, 0o644))
	port := freePort(t)
	s.start("prometheus", "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(port))
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	s.waitFor("Prometheus", func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	return base
}

// monitoringHealthy: the healthy system raises nothing. It returns
// Prometheus' URL; Prometheus runs until the site closes.
func (s *site) monitoringHealthy(step func(string, func()), apacheScrapeURI string) string {
	var base string
	step("the replica the dump step stopped starts again and replicates", func() {
		t := s.t
		s.startMariaDB("mysql-replica")
		s.waitReplicating()
		// It catches up with what was written while it was stopped.
		primary := s.sql("SELECT @@global.gtid_binlog_pos")
		s.waitFor("the replica to catch up", func() bool {
			out, err := exec.Command("mariadb", "--no-defaults", "-S", s.replicaSock(), "-uroot", "-N", "-B", "-e", "SELECT @@global.gtid_slave_pos").Output()
			return err == nil && strings.TrimSpace(string(out)) == primary
		})
		assert.NotEmpty(t, s.sqlAt(s.replicaSock(), "SELECT COUNT(*) FROM moodle.mdl_user"))
	})
	step("Prometheus scrapes the real exporters through the rendered scrape job; finished pods are not targets", func() {
		t := s.t
		base = s.monitor(apacheScrapeURI)
		type target struct {
			Labels map[string]string `json:"labels"`
			Health string            `json:"health"`
			Error  string            `json:"lastError"`
		}
		var data struct {
			Active []target `json:"activeTargets"`
		}
		want := []string{"mysql-mysql-0", "mysql-mysql-1", "mysql-haproxy-0", "redis-cache-0", "moodle-web-7d9c5-x2kq"}
		for _, n := range s.data.nodes {
			want = append(want, n.name)
		}
		deadline := time.Now().Add(90 * time.Second)
		for {
			s.promGet(base, "/api/v1/targets?state=active", &data)
			up := map[string]bool{}
			for _, tg := range data.Active {
				up[tg.Labels["pod"]] = tg.Health == "up"
			}
			all := len(up) == len(want)
			for _, w := range want {
				all = all && up[w]
			}
			if all || time.Now().After(deadline) {
				logs, _ := filepath.Glob(filepath.Join(s.w, "prometheus[0-9]*.log"))
				var plog []byte
				if len(logs) > 0 {
					plog, _ = os.ReadFile(logs[len(logs)-1])
				}
				assert.Len(t, up, len(want), "one target per running pod, none for the finished one: %v\nPrometheus' log:\n%s", data.Active, plog)
				for _, w := range want {
					assert.True(t, up[w], "%s is scraped and up: %v", w, data.Active)
				}
				assert.NotContains(t, up, "mysql-backup-29000100-abcde", "the Succeeded pod is dropped (else TargetDown for as long as its Job is kept)")
				break
			}
			time.Sleep(2 * time.Second)
		}
		var series []map[string]string
		s.promGet(base, "/api/v1/series?match[]="+url.QueryEscape(`{__name__=~"mysql_up|redis_up|apache_up|haproxy_backend_active_servers"}`), &series)
		got := map[string]bool{}
		for _, m := range series {
			got[m["__name__"]+"/"+m["namespace"]+"/"+m["pod"]] = true
		}
		for _, k := range []string{"mysql_up/data/mysql-mysql-0", "mysql_up/data/mysql-mysql-1", "redis_up/data/redis-cache-0", "redis_up/data/" + s.data.nodes[0].name,
			"apache_up/moodle/moodle-web-7d9c5-x2kq", "haproxy_backend_active_servers/data/mysql-haproxy-0"} {
			assert.True(t, got[k], "series %s, labelled as the alerts select", k)
		}
	})
	step("the rendered rules on the healthy system: nothing fires but what this run lacks", func() {
		t := s.t
		// Three evaluations after every target is up.
		time.Sleep(20 * time.Second)
		alerts := s.promAlerts(base)
		// What the run does not have, and the alert rightly says so:
		// MariaDB has no group replication (no primary in
		// replication_group_members), no istiod runs, and the run has two
		// database servers where prod has three.
		lacks := map[string]bool{"MySQLGroupNoPrimary": true, "IstioControlPlaneDown": true, "MySQLMemberMissing": true}
		for name, state := range alerts {
			if lacks[name] {
				continue
			}
			assert.Failf(t, "an alert on the healthy system", "%s is %s", name, state)
		}
		assert.Equal(t, "pending", alerts["MySQLMemberMissing"], "two servers of prod's three are scraped: the count works")
		// The warmed-up cache: the LRU cache sits at its maxmemory by design.
		assert.NotContains(t, alerts, "RedisMemoryNearLimit")
	})
	return base
}

// monitoringDatabaseDown: the database stopped raises MySQLDown (the last
// of the run's steps that need MariaDB).
func (s *site) monitoringDatabaseDown(step func(string, func()), base string) {
	step("the database stopped: MySQLDown fires (after its 2 minutes)", func() {
		t := s.t
		for _, sock := range []string{s.replicaSock(), s.primarySock()} {
			out, err := exec.Command("mariadb-admin", "--no-defaults", "-S", sock, "-uroot", "shutdown").CombinedOutput()
			require.NoError(t, err, "%s", out)
		}
		for _, p := range []int{s.data.primaryPort, s.data.replicaPort} {
			s.waitFor("MariaDB down", func() bool {
				c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p), time.Second)
				if err == nil {
					c.Close()
				}
				return err != nil
			})
		}
		deadline := time.Now().Add(4 * time.Minute)
		var alerts map[string]string
		for time.Now().Before(deadline) {
			alerts = s.promAlerts(base)
			if alerts["MySQLDown"] == "firing" && alerts["MySQLMemberDown"] == "firing" {
				break
			}
			time.Sleep(5 * time.Second)
		}
		assert.Equal(t, "firing", alerts["MySQLDown"], "%v", alerts)
		assert.Equal(t, "firing", alerts["MySQLMemberDown"], "each member's exporter reports mysql_up 0")
	})
}
