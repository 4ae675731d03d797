package monitoring

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldcert/moodle-aks/internal/testtools"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// These tests run the chart's Alertmanager (v0.34.0, built from its Go
// module) on loopback with the configuration AlertmanagerConfig renders,
// delivering to an SMTP server that requires STARTTLS and AUTH (aiosmtpd),
// to a PagerDuty stand-in (an HTTP server answering as the Events API v2
// does) and to a heartbeat receiver; the second also runs Debian's
// Prometheus over the rendered failed-notification rule. What the test
// changes in the rendered configuration, and only that: the endpoints
// (loopback), the SMTP server's CA (tls_config.ca_file), and the routes'
// group_wait and group_interval (1s and 10s, so that a retried delivery
// gives up, and is counted as failed, within seconds instead of 5 minutes).

// recorder is an HTTP receiver that keeps every request body.
type recorder struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
	reply  string
}

func newRecorder(t *testing.T, status int, reply string) *recorder {
	r := &recorder{reply: reply}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, string(b))
		r.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, r.reply)
	}))
	t.Cleanup(r.Close)
	return r
}

// got returns the bodies that contain every fragment.
func (r *recorder) got(fragments ...string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, b := range r.bodies {
		ok := true
		for _, f := range fragments {
			ok = ok && strings.Contains(b, f)
		}
		if ok {
			out = append(out, b)
		}
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	kd, err := x509.MarshalECPrivateKey(k)
	require.NoError(t, err)
	cert, key = filepath.Join(dir, "smtp.crt"), filepath.Join(dir, "smtp.key")
	require.NoError(t, os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	require.NoError(t, os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600))
	return cert, key
}

// start runs a program until the test ends; its output goes to log.
func start(t *testing.T, log io.Writer, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(t, cmd.Start(), name)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
}

// smtpServer starts aiosmtpd requiring STARTTLS and AUTH user/password;
// it returns its address, its CA file and the folder of accepted mail.
func smtpServer(t *testing.T, user, password string) (addr, ca, mailDir string) {
	t.Helper()
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	mailDir = filepath.Join(dir, "mail")
	require.NoError(t, os.Mkdir(mailDir, 0o755))
	port := freePort(t)
	cmd := exec.Command(testtools.Python(t), "testdata/smtpd.py", fmt.Sprint(port), cert, key, mailDir, user, password)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr testtools.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "aiosmtpd did not start: %s", stderr.String())
	require.Equal(t, "ready\n", line)
	return fmt.Sprintf("127.0.0.1:%d", port), cert, mailDir
}

type mail struct {
	To            []string `json:"to"`
	Authenticated bool     `json:"authenticated"`
	Data          string   `json:"data"`
}

func mails(t *testing.T, dir string) []mail {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	var out []mail
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var m mail
		require.NoError(t, json.Unmarshal(b, &m))
		out = append(out, m)
	}
	return out
}

func mailsWith(t *testing.T, dir, fragment string) []mail {
	var out []mail
	for _, m := range mails(t, dir) {
		if strings.Contains(m.Data, fragment) {
			out = append(out, m)
		}
	}
	return out
}

// testConfig is the rendered configuration with the loopback endpoints,
// the test CA and short group timers (see the top of this file).
func testConfig(t *testing.T, r Routing, smtpCA, pagerDutyURL string) string {
	t.Helper()
	rendered, err := AlertmanagerConfig(r)
	require.NoError(t, err)
	var cfg map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(rendered), &cfg))
	for _, rc := range cfg["receivers"].([]any) {
		rm := rc.(map[string]any)
		for _, e := range asList(rm["email_configs"]) {
			e.(map[string]any)["tls_config"] = map[string]any{"ca_file": smtpCA}
		}
		for _, p := range asList(rm["pagerduty_configs"]) {
			p.(map[string]any)["url"] = pagerDutyURL
		}
	}
	var shorten func(route map[string]any)
	shorten = func(route map[string]any) {
		if _, ok := route["group_wait"]; ok {
			route["group_wait"] = "1s"
		}
		route["group_interval"] = "10s"
		for _, c := range asList(route["routes"]) {
			shorten(c.(map[string]any))
		}
	}
	root := cfg["route"].(map[string]any)
	root["group_wait"] = "1s"
	shorten(root)
	b, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "alertmanager.yml")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return path
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// runAlertmanager starts the chart's Alertmanager on loopback and returns
// its URL and log.
func runAlertmanager(t *testing.T, config string) (string, *testtools.Buffer) {
	t.Helper()
	am, amtool := testtools.Alertmanager(t)
	out, err := exec.Command(amtool, "check-config", config).CombinedOutput()
	require.NoError(t, err, "%s", out)
	port := freePort(t)
	log := &testtools.Buffer{}
	start(t, log, am, "--config.file="+config, "--storage.path="+t.TempDir(),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--cluster.listen-address=")
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	require.Eventually(t, func() bool {
		resp, err := http.Get(url + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 20*time.Second, 200*time.Millisecond, "Alertmanager did not start: %s", log)
	return url, log
}

// post sends alerts to Alertmanager's API as Prometheus does.
func post(t *testing.T, url string, alerts ...map[string]string) {
	t.Helper()
	var body []map[string]any
	for _, labels := range alerts {
		body = append(body, map[string]any{"labels": labels, "annotations": map[string]string{"summary": labels["alertname"] + " (test)"},
			"startsAt": time.Now().Add(-time.Minute).Format(time.RFC3339)})
	}
	b, err := json.Marshal(body)
	require.NoError(t, err)
	resp, err := http.Post(url+"/api/v2/alerts", "application/json", bytes.NewReader(b))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
}

const (
	smtpUser     = "moodle-alerts-test"
	smtpPassword = "s3cret-app-password"
	pagerDutyKey = "R0ut1ngKeyR0ut1ngKeyR0ut1ngKey12"
	// PagerDuty's answer to an accepted event (Events API v2).
	pagerDutyAccepted = `{"status":"success","message":"Event processed","dedup_key":"x"}`
)

// Prod's receivers delivered for real: critical alerts page PagerDuty (with
// its routing key) and mail through an authenticated, STARTTLS relay;
// warnings mail only; Watchdog reaches the heartbeat and nothing else;
// planned maintenance holds the error-rate alert back and nothing else.
func TestAlertmanagerDeliversToEveryReceiver(t *testing.T) {
	addr, ca, mailDir := smtpServer(t, smtpUser, smtpPassword)
	pd := newRecorder(t, http.StatusAccepted, pagerDutyAccepted)
	hb := newRecorder(t, http.StatusOK, "OK")
	r := Routing{
		Emails: []string{"platform-oncall@fieldcert.example"}, SMTPHost: addr, SMTPFrom: "alerts@fieldcert.example",
		SMTPUsername: smtpUser, SMTPPassword: smtpPassword,
		PagerDutyRoutingKey: pagerDutyKey, HeartbeatURL: hb.URL + "/ping/5f2a",
	}
	url, log := runAlertmanager(t, testConfig(t, r, ca, pd.URL+"/v2/enqueue"))
	// Maintenance fires first, as it does: the error rate needs 5 minutes
	// of 503s before its alert fires (Alertmanager's inhibitor learns of a
	// source alert asynchronously, so the two at once would race).
	post(t, url, map[string]string{"alertname": "MoodleMaintenance", "severity": "none", "component": "site"})
	require.Eventually(t, func() bool {
		resp, err := http.Get(url + "/api/v2/alerts?filter=alertname%3D%22MoodleMaintenance%22")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return strings.Contains(string(b), "MoodleMaintenance")
	}, 10*time.Second, 100*time.Millisecond)
	time.Sleep(2 * time.Second)
	post(t, url,
		map[string]string{"alertname": "Watchdog", "severity": "none"},
		map[string]string{"alertname": "MySQLDown", "severity": "critical", "component": "data", "namespace": "data"},
		map[string]string{"alertname": "RedisClusterNodeDown", "severity": "warning", "component": "data", "namespace": "data", "pod": "redis-sessions-leader-1"},
		map[string]string{"alertname": "MoodleMaintenance", "severity": "none", "component": "site"},
		map[string]string{"alertname": "MoodleHighErrorRate", "severity": "critical", "component": "site"},
	)
	require.Eventually(t, func() bool {
		return len(pd.got(pagerDutyKey, "MySQLDown")) > 0 && len(mailsWith(t, mailDir, "MySQLDown")) > 0 &&
			len(mailsWith(t, mailDir, "RedisClusterNodeDown")) > 0 && len(hb.got("Watchdog")) > 0
	}, 60*time.Second, 250*time.Millisecond, "not every receiver got its alert; Alertmanager's log:\n%s", log)
	time.Sleep(3 * time.Second) // what would have come in the same groups has come

	for _, m := range mails(t, mailDir) {
		assert.True(t, m.Authenticated, "the relay took the mail after AUTH")
		assert.Equal(t, []string{"platform-oncall@fieldcert.example"}, m.To)
	}
	assert.Contains(t, pd.got("MySQLDown")[0], `"severity":"critical"`, "the native PagerDuty event, at critical")
	assert.Empty(t, pd.got("RedisClusterNodeDown"), "a warning mails; it does not page")
	assert.Empty(t, pd.got("Watchdog"), "Watchdog reaches the heartbeat only")
	assert.Empty(t, mailsWith(t, mailDir, "Watchdog"))
	assert.Empty(t, hb.got("MySQLDown"), "the heartbeat gets nothing but Watchdog")
	assert.Empty(t, pd.got("MoodleHighErrorRate"), "maintenance holds the error-rate alert back")
	assert.Empty(t, mailsWith(t, mailDir, "MoodleHighErrorRate"))
	assert.Empty(t, pd.got("MoodleMaintenance"), "the maintenance signal goes to nobody")
}

// The old prod mail settings (a submission port, no login), and a password
// that expired, against a relay that requires AUTH: the relay refuses (530,
// 535), Alertmanager counts the
// failed notifications, Prometheus evaluates the rendered
// AlertmanagerNotificationsFailing over Alertmanager's own metrics, and the
// report reaches PagerDuty, the receiver that can deliver.
func TestUndeliverableMailIsReportedThroughTheOtherReceiver(t *testing.T) {
	for _, tc := range []struct{ name, user, password, refusal string }{
		{"no login", "", "", "530"},
		{"wrong password", smtpUser, "expired-secret", "535"},
	} {
		t.Run(tc.name, func(t *testing.T) { undeliverableMail(t, tc.user, tc.password, tc.refusal) })
	}
}

func undeliverableMail(t *testing.T, user, password, refusal string) {
	addr, ca, mailDir := smtpServer(t, smtpUser, smtpPassword)
	pd := newRecorder(t, http.StatusAccepted, pagerDutyAccepted)
	r := Routing{
		Emails: []string{"platform-oncall@fieldcert.example"}, SMTPHost: addr, SMTPFrom: "alerts@fieldcert.example",
		SMTPUsername: user, SMTPPassword: password, PagerDutyRoutingKey: pagerDutyKey,
	}
	url, log := runAlertmanager(t, testConfig(t, r, ca, pd.URL+"/v2/enqueue"))

	// Prometheus over the rendered rule, scraping Alertmanager as the
	// chart's ServiceMonitor does (namespace monitoring).
	var rule []any
	for _, g := range ruleGroups(Alerts(40, prodData)) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			if r.(map[string]any)["alert"] == NotificationsFailingAlert {
				rule = append(rule, r)
			}
		}
	}
	require.Len(t, rule, 1)
	dir := t.TempDir()
	rules, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "moodle-platform", "rules": rule}}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yml"), rules, 0o644))
	amHost := strings.TrimPrefix(url, "http://")
	prom, err := yaml.Marshal(map[string]any{
		"global":         map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"},
		"rule_files":     []string{filepath.Join(dir, "rules.yml")},
		"scrape_configs": []any{map[string]any{"job_name": "alertmanager", "static_configs": []any{map[string]any{"targets": []string{amHost}, "labels": map[string]string{"namespace": "monitoring"}}}}},
		"alerting":       map[string]any{"alertmanagers": []any{map[string]any{"api_version": "v2", "static_configs": []any{map[string]any{"targets": []string{amHost}}}}}},
	})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), prom, 0o644))
	prometheus, _ := testtools.Prometheus(t)
	var promLog testtools.Buffer
	start(t, &promLog, prometheus, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", freePort(t)))

	// Let Prometheus see the counter at zero first, then break the mail.
	time.Sleep(3 * time.Second)
	post(t, url, map[string]string{"alertname": "MySQLDown", "severity": "critical", "component": "data", "namespace": "data"})
	require.Eventually(t, func() bool {
		return len(pd.got(pagerDutyKey, NotificationsFailingAlert, "email")) > 0
	}, 90*time.Second, 500*time.Millisecond, "the failed mail was not reported through PagerDuty\nAlertmanager:\n%s\nPrometheus:\n%s", log, &promLog)

	assert.Contains(t, log.String(), refusal, "the relay refused the client (530 without AUTH, as Exchange Online does; 535 for a wrong password)")
	assert.Empty(t, mails(t, mailDir), "no mail was accepted without AUTH")
	assert.NotEmpty(t, pd.got("MySQLDown"), "PagerDuty still paged the alert itself")
	resp, err := http.Get(url + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Regexp(t, `alertmanager_notifications_failed_total\{integration="email",reason="[a-zA-Z]+"\} [1-9]`, string(metrics))
}
