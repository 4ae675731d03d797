package imagerun

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fieldcert/moodle-aks/components/migration"
	"github.com/fieldcert/moodle-aks/components/monitoring"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostname is the dev stack's site, as the rendered MOODLE_HOSTNAME says.
func hostname(t *testing.T, c container) string {
	for _, e := range c.Env {
		if e.Name == "MOODLE_HOSTNAME" {
			return e.Value
		}
	}
	require.Fail(t, "the web container has no MOODLE_HOSTNAME")
	return ""
}

// client talks to Apache on 8080 as the pod's sidecar does: from loopback,
// with the site's Host, the gateway's X-Forwarded-Proto and an
// X-Forwarded-For that ends with the address the gateway saw.
type client struct {
	t      *testing.T
	port   int
	host   string
	jar    http.CookieJar
	client *http.Client
}

// gatewayClientIP is the address the ingress gateway appends to
// X-Forwarded-For (a documentation address, as a learner's would be).
const gatewayClientIP = "203.0.113.7"

// forgedIP is what a client puts into X-Forwarded-For itself.
const forgedIP = "198.51.100.66"

func newClient(t *testing.T, port int, host string) *client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &client{t: t, port: port, host: host, jar: jar}
	c.client = &http.Client{
		Timeout:       60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c
}

// do sends one request; the cookie jar is keyed by the public URL.
// breakGlassPassword is what the test sets with reset_password.php, as an
// operator would after the upgrade Job sealed the installation's password.
const breakGlassPassword = "Break-glass-4f1c-e2e!"

func (c *client) do(method, path string, form url.Values, header map[string]string) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, "http://127.0.0.1:"+strconv.Itoa(c.port)+path, body)
	require.NoError(c.t, err)
	req.Host = c.host
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-For", forgedIP+", "+gatewayClientIP)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	public, _ := url.Parse("https://" + c.host + path)
	for _, ck := range c.jar.Cookies(public) {
		req.AddCookie(ck)
	}
	resp, err := c.client.Do(req)
	require.NoError(c.t, err, "%s %s", method, path)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	c.jar.SetCookies(public, resp.Cookies())
	return resp, string(b)
}

// get follows Moodle's redirects on the site (at most 5), failing on a loop
// or on a redirect away from https://<host>.
func (c *client) get(path string) (*http.Response, string) {
	c.t.Helper()
	seen := map[string]bool{}
	for range 5 {
		resp, body := c.do("GET", path, nil, nil)
		if resp.StatusCode < 300 || resp.StatusCode >= 400 {
			return resp, body
		}
		loc := resp.Header.Get("Location")
		require.Truef(c.t, strings.HasPrefix(loc, "https://"+c.host+"/"), "%s redirects to %q, not to https://%s/", path, loc, c.host)
		next := strings.TrimPrefix(loc, "https://"+c.host)
		require.Falsef(c.t, seen[next], "redirect loop at %s", next)
		seen[next] = true
		path = next
	}
	require.Failf(c.t, "redirects", "more than 5 redirects from %s", path)
	return nil, ""
}

// probe asks as the kubelet does: the pod's address as Host, no proxy headers.
func probeGet(t *testing.T, port int, path string) (int, string) {
	req, err := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(port)+path, nil)
	require.NoError(t, err)
	req.Host = "10.244.1.17:" + strconv.Itoa(port)
	resp, err := (&http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var logintoken = regexp.MustCompile(`name="logintoken" value="([^"]+)"`)

// TestMoodleImageRunsForReal runs the image's files as the dev stack's pods
// run them and checks what the issue that introduced it lists, step by step
// (go test -v ./tests/imagerun names each step).
func TestMoodleImageRunsForReal(t *testing.T) {
	skipWithoutMoodle(t)
	requirePackages(t)
	s := newSite(t)

	web := templatePod(t, "moodle/deployment-moodle-web.yaml")
	moodleC := web.container(t, "moodle")
	exporter := web.container(t, "apache-exporter")
	upgradePod := templatePod(t, "moodle/job-moodle-upgrade-*.yaml")
	upgrade := upgradePod.container(t, "upgrade")
	maintenance := templatePod(t, "moodle/job-moodle-maintenance-*.yaml").container(t, "maintenance")
	cron := cronJobPod(t, "moodle/cronjob-moodle-cron.yaml").container(t, "cron")
	host := hostname(t, moodleC)
	require.Len(t, moodleC.Ports, 1)
	port := moodleC.Ports[0].ContainerPort

	// Each step is a subtest; the site and the client report to it.
	c := newClient(t, port, host)
	step := func(name string, f func(t *testing.T)) {
		ok := t.Run(name, func(st *testing.T) {
			s.t, c.t = st, st
			defer func() { s.t, c.t = t, t }()
			f(st)
		})
		if !ok {
			t.FailNow()
		}
	}

	step("image layout as the Dockerfile builds it; apache2 -t passes", func(t *testing.T) {
		s.buildLayout()
		out, err := s.nsCmd(wwwDataUID, s.env(moodleC), "bash", "-c", ". /etc/apache2/envvars && apache2 -t").CombinedOutput()
		require.NoError(t, err, "apache2 -t as www-data: %s", out)
		assert.Contains(t, string(out), "Syntax OK")
	})
	step("data tier: MariaDB and a replica behind HAProxy, the users Job, a six-node sessions Redis Cluster (OT's entrypoint), the cache; all TLS", func(t *testing.T) {
		s.startServices()
		// The pods' passwords, as the kubelet projects them (0440, fsGroup).
		s.projectSecrets(web, moodleC)
		s.projectSecrets(upgradePod, upgrade)
	})
	step("no password in any Moodle container's environment; a missing password file stops config.php", func(t *testing.T) {
		for _, c := range []container{moodleC, upgrade, maintenance, cron} {
			for _, e := range c.Env {
				assert.False(t, strings.HasSuffix(e.Name, "PASSWORD"), "%s: %s is a variable", c.Name, e.Name)
			}
			var mounted []string
			for _, m := range c.VolumeMounts {
				mounted = append(mounted, m.MountPath)
			}
			assert.Contains(t, mounted, secretsDir, "%s reads its passwords from files", c.Name)
			assert.Equal(t, c.Name == "upgrade", slices.Contains(mounted, adminPasswordDir), "%s: only the upgrade Job has the admin password", c.Name)
		}
		fi, err := os.Stat(s.path(secretsDir + "/db-password"))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o440), fi.Mode().Perm())
		out, err := s.nsCmd(wwwDataUID, s.env(moodleC, "MOODLE_SECRETS_DIR=/nonexistent"), "php", "-r",
			`define('CLI_SCRIPT', true); require '/var/www/moodle/config.php'; echo "started";`).CombinedOutput()
		require.Error(t, err, "config.php without its password files: %s", out)
		assert.Contains(t, string(out), "secret file /nonexistent/db-password is missing or unreadable")
		assert.NotContains(t, string(out), "started")
	})

	step("upgrade Job on an empty database installs Moodle (exit 0)", func(t *testing.T) {
		out, code := s.runContainer(upgrade, 20*time.Minute)
		require.Equal(t, 0, code, out)
		assert.Contains(t, out, "installing an empty database at 4.5.6 (Build: 20250811)")
		assert.Contains(t, out, "seal-admin: the installation's admin password no longer opens the site")
		assert.Contains(t, out, "configure-caches: added store redis-cache")
		assert.NoFileExists(t, s.path("/moodledata/climaintenance.html"), "the site is not left in maintenance")
		// Installation turns the MathJax filter on (loading from a global
		// CDN); without mathJaxUrl the Job disables it site-wide (-9999).
		assert.Contains(t, out, "filters: MathJax disabled (no MOODLE_MATHJAX_URL)")
		assert.Equal(t, "-9999", s.sql("SELECT active FROM moodle.mdl_filter_active WHERE filter='mathjaxloader' AND contextid=1"))
	})
	step("upgrade Job again is a no-op upgrade (exit 0)", func(t *testing.T) {
		out, code := s.runContainer(upgrade, 10*time.Minute)
		require.Equal(t, 0, code, out)
		assert.Contains(t, out, "the database is at 4.5.6 (Build: 20250811) already: no upgrade")
		assert.Contains(t, out, "seal-admin: the installation's admin password opens nothing already", "sealed once, then left alone")
		assert.Contains(t, out, "configure-caches: updated store redis-cache")
		assert.NoFileExists(t, s.path("/moodledata/climaintenance.html"), "the site is not left in maintenance")
	})

	step("config.php's early failure is logged under Apache, with a 500", func(t *testing.T) {
		var env []string
		for _, e := range s.env(moodleC) {
			if !strings.HasPrefix(e, "MOODLE_DB_HOST=") {
				env = append(env, e)
			}
		}
		cmd := s.nsCmd(wwwDataUID, env, s.df.cmd[0], s.df.cmd[1:]...)
		out := &syncBuffer{}
		s.capture(cmd, out)
		require.NoError(t, cmd.Start())
		s.started()
		defer stop(cmd)
		require.Eventually(t, func() bool { return dial(port) }, 60*time.Second, 300*time.Millisecond, "Apache without MOODLE_DB_HOST starts: %s", out)
		code, _ := probeGet(t, port, "/health.php")
		assert.Equal(t, http.StatusInternalServerError, code)
		assert.Eventually(t, func() bool {
			return strings.Contains(out.String(), "config.php: environment variable MOODLE_DB_HOST is required")
		}, 10*time.Second, 200*time.Millisecond, "the message reaches Apache's stderr (kubectl logs): %s", out.String())
	})

	step("web container starts as the pod runs it", func(t *testing.T) {
		s.apache, s.apacheL = s.startApache(moodleC)
		require.Eventually(t, func() bool { return dial(port) }, 60*time.Second, 300*time.Millisecond, "Apache starts: %s", s.apacheL)
	})

	step("probes on the rendered paths answer 200 with the pod's address as Host", func(t *testing.T) {
		for name, p := range map[string]*probe{"startup": moodleC.StartupProbe, "liveness": moodleC.LivenessProbe, "readiness": moodleC.ReadinessProbe} {
			require.NotNil(t, p, name)
			require.NotNil(t, p.HTTPGet, name)
			require.Equal(t, port, p.HTTPGet.Port, name)
			code, body := probeGet(t, port, p.HTTPGet.Path)
			assert.Equal(t, http.StatusOK, code, "%s probe %s: %s", name, p.HTTPGet.Path, body)
			assert.Equal(t, "ok\n", body, name)
		}
	})

	step("readiness fails (503, logged) when moodledata is not writable", func(t *testing.T) {
		require.NoError(t, os.Chmod(s.path("/moodledata"), 0o500))
		code, body := probeGet(t, port, moodleC.ReadinessProbe.HTTPGet.Path)
		require.NoError(t, os.Chmod(s.path("/moodledata"), 0o2770))
		assert.Equal(t, http.StatusServiceUnavailable, code, body)
		assert.Contains(t, body, "dataroot /moodledata is not a writable directory")
		assert.Eventually(t, func() bool { return strings.Contains(s.apacheL.String(), "health.php: not ready") },
			10*time.Second, 200*time.Millisecond, "PHP's error_log reaches Apache's stderr")
	})

	step("front page 200 behind the proxy, no redirect loop", func(t *testing.T) {
		resp, body := c.get("/")
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		assert.Contains(t, body, "https://"+host+"/", "links use the one wwwroot")
		assert.NotContains(t, body, "cdn.jsdelivr.net", "no third-party script for learners' browsers (MathJax off)")
		assert.NotContains(t, body, "http://"+host+"/", "no plain-http links behind the TLS gateway")
	})
	step("integrations: a web service call with the site's host answers, with the Service's own host Moodle redirects", func(t *testing.T) {
		// Integrations call http://moodle-web.moodle.svc.cluster.local:8080;
		// their sidecar rewrites the authority to the site's hostname (the
		// moodle-web-site-host VirtualService in rendered/<stack>/kubernetes/
		// integrations), because Moodle redirects any other Host to wwwroot.
		var vs struct {
			Spec struct {
				Hosts []string `yaml:"hosts"`
				HTTP  []struct {
					Rewrite struct {
						Authority string `yaml:"authority"`
					} `yaml:"rewrite"`
				} `yaml:"http"`
			} `yaml:"spec"`
		}
		manifest(t, "integrations/virtualservice-moodle-web-site-host.yaml", &vs)
		require.Equal(t, []string{"moodle-web.moodle.svc.cluster.local"}, vs.Spec.Hosts)
		require.Len(t, vs.Spec.HTTP, 1)
		rewritten := vs.Spec.HTTP[0].Rewrite.Authority
		require.Equal(t, host, rewritten, "the sidecar presents the site's hostname")
		ws := "/webservice/rest/server.php?wsfunction=core_webservice_get_site_info&moodlewsrestformat=json&wstoken=0123456789abcdef"
		inCluster := newClient(t, port, "moodle-web.moodle.svc.cluster.local:8080")
		resp, _ := inCluster.do("POST", ws, url.Values{}, nil)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, "without the rewrite Moodle answers the host mismatch with a redirect")
		assert.True(t, strings.HasPrefix(resp.Header.Get("Location"), "https://"+host+"/"), resp.Header.Get("Location"))
		site := newClient(t, port, rewritten)
		resp, body := site.do("POST", ws, url.Values{}, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		assert.Contains(t, body, `"errorcode":`, "the web service itself answers (here: the token is refused)")
	})
	step("the installation's admin password is refused; the break-glass reset opens the site", func(t *testing.T) {
		login := func(password string) (*http.Response, string) {
			resp, body := c.get("/login/index.php")
			require.Equal(t, http.StatusOK, resp.StatusCode, body)
			m := logintoken.FindStringSubmatch(body)
			require.NotNil(t, m, "the login form has a logintoken")
			return c.do("POST", "/login/index.php", url.Values{"username": {"admin"}, "password": {password}, "logintoken": {m[1]}}, nil)
		}
		// The password the program generated (and Pulumi's state holds).
		resp, _ := login(s.secrets["moodle-admin"]["password"])
		assert.NotContains(t, resp.Header.Get("Location"), "testsession=", "the state's admin password no longer logs in")
		out, err := s.nsCmd(wwwDataUID, s.env(moodleC), "php", "/var/www/moodle/admin/cli/reset_password.php",
			"--username=admin", "--password="+breakGlassPassword, "--ignore-password-policy").CombinedOutput()
		require.NoError(t, err, "the README's break-glass command: %s", out)
	})
	step("admin login", func(t *testing.T) {
		resp, body := c.get("/login/index.php")
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		m := logintoken.FindStringSubmatch(body)
		require.NotNil(t, m, "the login form has a logintoken")
		resp, body = c.do("POST", "/login/index.php", url.Values{
			"username": {"admin"}, "password": {breakGlassPassword}, "logintoken": {m[1]},
		}, nil)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
		// Moodle's session test follows an accepted login.
		loc := resp.Header.Get("Location")
		require.Contains(t, loc, "/login/index.php?testsession=", "the login was accepted")
		resp, body = c.get(strings.TrimPrefix(loc, "https://"+host))
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		resp, body = c.get("/my/")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Contains(t, body, "Admin User", "the dashboard is the admin's")
	})
	step("Moodle's PHP info page shows no password", func(t *testing.T) {
		resp, body := c.get("/admin/phpinfo.php")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, "PHP Version", "the admin sees phpinfo()")
		// The page prints PHP's variables (INFO_VARIABLES: $_SERVER, $_ENV,
		// admin/phpinfo.php); with variables_order GPCS $_ENV is empty, so
		// not even the pod's plain settings are there.
		require.Contains(t, body, "_SERVER[", "the variables section is on the page")
		assert.NotContains(t, body, "_ENV[", "PHP fills no $_ENV")
		assert.NotContains(t, body, "MOODLE_DB_HOST")
		for name, pw := range map[string]string{"database": s.secrets["moodle-db"]["password"], "sessions": s.secrets["moodle-redis"]["sessions-password"], "cache": s.secrets["moodle-redis"]["cache-password"]} {
			require.NotEmpty(t, pw)
			assert.NotContains(t, body, pw, "the %s password is not on the PHP info page", name)
		}
	})
	var sid string
	step("the session is in the sessions Redis Cluster, on the master its slot names", func(t *testing.T) {
		public, _ := url.Parse("https://" + host + "/")
		for _, ck := range c.jar.Cookies(public) {
			if ck.Name == "MoodleSession" {
				sid = ck.Value
			}
		}
		require.NotEmpty(t, sid, "Moodle set its session cookie")
		// Moodle 4.5's handler: a hash "session_<id>" under the configured
		// prefix (session_redis_prefix "sess_"), holding the user's id.
		key := "sess_session_" + sid
		admin := s.sql("SELECT id FROM moodle.mdl_user WHERE username='admin'")
		m := s.masterOf(key)
		require.NotNil(t, m, "a master serves the admin's session")
		// Values are PHP-serialized (session_redis_serializer_use_igbinary off).
		assert.Equal(t, "i:"+admin+";", s.clusterCLI(m.port, "HGET", key, "userid"), "the admin's session lives in the cluster, on %s", m.name)
		assert.Equal(t, "0", s.cache("EXISTS", key), "and not in the cache instance")
		// Cluster mode, not one node: the keys of Moodle's sessions spread
		// over the masters. Twelve visitors' sessions (the login page starts
		// one each): all on one master would be chance of 3 x (1/3)^12.
		for range 12 {
			v := newClient(t, port, host)
			resp, _ := v.get("/login/index.php")
			require.Equal(t, http.StatusOK, resp.StatusCode)
		}
		spread := map[string]bool{}
		for _, n := range s.data.nodes[:3] {
			if s.clusterCLI(n.port, "DBSIZE") != "0" {
				spread[n.name] = true
			}
		}
		assert.GreaterOrEqual(t, len(spread), 2, "session keys on more than one master: Moodle ran in cluster mode")
	})
	step("the application cache is in the cache Redis, over TLS with its name checked", func(t *testing.T) {
		keys := s.cache("--scan", "--pattern", "muc_*")
		assert.NotEmpty(t, keys, "Moodle's application caches wrote to the cache instance")
		// That Redis is the only store (not a second one behind the file
		// store) is asked of Moodle itself in the cache definition step below.
		muc, err := os.ReadFile(s.path("/moodledata/muc/config.php"))
		require.NoError(t, err, "the shared cache configuration exists")
		assert.Contains(t, string(muc), "'redis-cache'")
		assert.Contains(t, string(muc), cacheHost+":6379")
		assert.Contains(t, string(muc), "'encryption' => true")
		assert.Contains(t, string(muc), "'cafile' => '"+dataTLSDir+"/ca.crt'")
	})
	step("reads reach the replica through the proxy's read port, over TLS; writes the primary", func(t *testing.T) {
		log := filepath.Join(s.w, "mysql-replica", "general.log")
		before, _ := os.ReadFile(log)
		resp, body := c.get("/my/")
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		after, err := os.ReadFile(log)
		require.NoError(t, err)
		added := string(after[len(before):])
		assert.Regexp(t, `Connect\s+moodle@127\.0\.0\.1 on moodle using SSL/TLS`, added, "Moodle's read-only connection, encrypted")
		assert.Regexp(t, `Query\s+SELECT`, added, "Moodle's reads ran on the replica")
		assert.NotRegexp(t, `Query\s+(INSERT|UPDATE|DELETE)`, added, "no write reaches the replica")
		// The Moodle user cannot log in without TLS (REQUIRE SSL).
		out, err := exec.Command("mariadb", "--no-defaults", "--skip-ssl", "-h", dbHost, "-P", strconv.Itoa(proxyWritePort), "-umoodle", "-p"+s.secrets["moodle-db"]["password"], "-e", "SELECT 1").CombinedOutput()
		assert.Error(t, err, "%s", out)
		assert.Contains(t, string(out), "Access denied")
	})
	step("the proxy and the cluster export what the alerts read", func(t *testing.T) {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(proxyStatsPort) + "/metrics")
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		info := s.clusterCLI(s.data.nodes[0].port, "CLUSTER", "INFO")
		for _, m := range monitoring.ExporterMetrics {
			switch {
			case strings.HasPrefix(m.Name, "haproxy_"):
				assert.Regexp(t, regexp.MustCompile(`(?m)^`+m.Name+`\{[^}]*proxy="mysql-primary"`), string(b), "HAProxy's /metrics has %s", m.Name)
			case strings.HasPrefix(m.Name, "redis_cluster_"):
				// redis_exporter turns each CLUSTER INFO field into redis_<field>.
				assert.Contains(t, info, strings.TrimPrefix(m.Name, "redis_")+":", "CLUSTER INFO has the field behind %s", m.Name)
			}
		}
		assert.Regexp(t, `(?m)^haproxy_backend_active_servers\{proxy="mysql-primary"\} 1$`, string(b), "the primary is the one active server")
		assert.Regexp(t, `(?m)^haproxy_backend_active_servers\{proxy="mysql-replicas"\} 1$`, string(b))
	})
	step("Apache logs the path, never the query string or the Referer (tokens)", func(t *testing.T) {
		before := len(s.apacheL.String())
		resp, _ := c.do("GET", "/login/forgot_password.php?token=QUERYSECRET7&wstoken=WSSECRET9", nil, map[string]string{
			"Referer": "https://" + host + "/webservice/pluginfile.php?token=REFERERSECRET3", "X-Request-Id": "req-4f1c",
		})
		require.Less(t, resp.StatusCode, 500)
		require.Eventually(t, func() bool { return strings.Contains(s.apacheL.String()[before:], "req-4f1c") }, 10*time.Second, 100*time.Millisecond,
			"the request is logged with the gateway's request ID: %s", s.apacheL.String()[before:])
		logged := s.apacheL.String()[before:]
		assert.Contains(t, logged, `"GET /login/forgot_password.php HTTP/1.1"`)
		for _, secret := range []string{"QUERYSECRET7", "WSSECRET9", "REFERERSECRET3", "token="} {
			assert.NotContains(t, logged, secret)
		}
	})
	step("client address: the gateway's entry, never the client's own", func(t *testing.T) {
		assert.Equal(t, gatewayClientIP, s.sql("SELECT lastip FROM moodle.mdl_user WHERE username='admin'"))
		assert.Equal(t, gatewayClientIP, s.sql("SELECT ip FROM moodle.mdl_logstore_standard_log WHERE eventname='\\\\core\\\\event\\\\user_loggedin' ORDER BY id DESC LIMIT 1"))
	})
	step("server-status: for the exporter on loopback only, never through the site", func(t *testing.T) {
		var scrape string
		for _, a := range exporter.Args {
			if v, ok := strings.CutPrefix(a, "--scrape_uri="); ok {
				scrape = v
			}
		}
		require.NotEmpty(t, scrape, "the exporter has a --scrape_uri")
		resp, err := http.Get(scrape)
		require.NoError(t, err, "the exporter's URL answers")
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Contains(t, string(b), "BusyWorkers:")
		for _, p := range []string{"/server-status", "/server-status?auto"} {
			resp, body := c.do("GET", p, nil, nil)
			assert.Contains(t, []int{403, 404}, resp.StatusCode, "%s through the site: %s", p, body)
		}
		u, _ := url.Parse(scrape)
		if ip := hostIP(); ip != "" {
			_, err := net.DialTimeout("tcp", net.JoinHostPort(ip, u.Port()), 2*time.Second)
			assert.Error(t, err, "the status port is not open on the pod's address %s", ip)
		}
	})
	step("internal files are not served; plugin scripts are", func(t *testing.T) {
		// Moodle's own list (core\check\environment\publicpaths).
		out, err := s.nsCmd(wwwDataUID, s.env(moodleC), "php", "-r", `define('CLI_SCRIPT', true); require '/var/www/moodle/config.php';
			$paths = [];
			foreach ((new \core\check\environment\publicpaths())->get_pathsets() as $set) { $paths = array_merge($paths, $set['404'] ?? []); }
			echo json_encode($paths);`).Output()
		require.NoError(t, err, string(out))
		var paths []string
		require.NoError(t, json.Unmarshal(out, &paths), string(out))
		require.Greater(t, len(paths), 15, "Moodle lists its paths")
		for _, p := range append(paths, "config.php", "package.json", ".stylelintrc", "lib/db/install.xml", "admin/environment.xml") {
			resp, _ := c.do("GET", "/"+p, nil, nil)
			assert.Contains(t, []int{403, 404}, resp.StatusCode, "/%s must not be served", p)
		}
		// Without a quiz id Moodle answers with its own error page: what
		// matters is that PHP ran it (Apache's rule refused it before).
		resp, body := c.do("GET", "/mod/quiz/accessrule/seb/config.php", nil, nil)
		assert.NotEqual(t, http.StatusForbidden, resp.StatusCode, "Safe Exam Browser's config.php is a Moodle script")
		assert.Contains(t, body, "M.cfg = ", "Moodle rendered the answer")
	})
	step("maintenance on and off through the rendered maintenance command", func(t *testing.T) {
		require.Equal(t, []string{"moodle-admin", "maintenance", "off"}, maintenance.Command, "dev renders maintenance off")
		on := maintenance
		on.Command = []string{"moodle-admin", "maintenance", "on"}
		out, code := s.runContainer(on, 5*time.Minute)
		require.Equal(t, 0, code, out)
		resp, body := c.do("GET", "/", nil, nil)
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Contains(t, body, "maintenance", "Moodle's maintenance page, not the gateway's")
		code, _ = probeGet(t, port, moodleC.ReadinessProbe.HTTPGet.Path)
		assert.Equal(t, http.StatusOK, code, "pods stay ready in maintenance, so users see Moodle's page")
		out, code = s.runContainer(maintenance, 5*time.Minute)
		require.Equal(t, 0, code, out)
		resp, body = c.get("/")
		assert.Equal(t, http.StatusOK, resp.StatusCode, body)
	})
	step("a failed upgrade stays in maintenance, says so, and the next run recovers", func(t *testing.T) {
		// A newer release (version.php bumped) that carries a plugin needing
		// a newer Moodle: the upgrade is pending, and upgrade.php refuses it
		// after maintenance is on.
		vp := s.path("/var/www/moodle/version.php")
		v, err := os.ReadFile(vp)
		require.NoError(t, err)
		bumped := strings.Replace(string(v), "$version  = 2024100706.00;", "$version  = 2024100706.01;", 1)
		require.NotEqual(t, string(v), bumped, "version.php has the version this test bumps")
		require.NoError(t, os.WriteFile(vp, []byte(bumped), 0o644))
		plugin := s.path("/var/www/moodle/local/needsnewer")
		require.NoError(t, os.MkdirAll(plugin, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(plugin, "version.php"), []byte("<?php\ndefined('MOODLE_INTERNAL') || die();\n"+
			"$plugin->component = 'local_needsnewer';\n$plugin->version = 2024100700;\n$plugin->requires = 2099010100;\n"), 0o644))
		out, code := s.runContainer(upgrade, 10*time.Minute)
		assert.NotEqual(t, 0, code, out)
		assert.Contains(t, out, "upgrading the database to 4.5.6 (Build: 20250811) (maintenance mode on)")
		assert.Contains(t, out, "failed: the site stays in maintenance mode")
		assert.Contains(t, out, "MoodleUpgradeFailed")
		assert.FileExists(t, s.path("/moodledata/climaintenance.html"))
		resp, body := c.do("GET", "/", nil, nil)
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "users get Moodle's maintenance page: %s", body)
		code, _ = probeGet(t, port, moodleC.ReadinessProbe.HTTPGet.Path)
		assert.Equal(t, http.StatusOK, code, "the pods stay ready")

		// The runbook's way out: fix the cause (an image without the
		// plugin), run the Job again.
		require.NoError(t, os.RemoveAll(plugin))
		out, code = s.runContainer(upgrade, 10*time.Minute)
		require.Equal(t, 0, code, out)
		assert.Contains(t, out, "upgrading the database to")
		assert.NoFileExists(t, s.path("/moodledata/climaintenance.html"), "a passing upgrade switches maintenance off")
		assert.Equal(t, "2024100706.01", s.sql("SELECT value FROM moodle.mdl_config WHERE name='version'"))
		// The rollout: new web pods with the new code.
		stop(s.apache)
		s.apache, s.apacheL = s.startApache(moodleC)
		require.Eventually(t, func() bool { return dial(port) }, 60*time.Second, 300*time.Millisecond, "Apache restarts: %s", s.apacheL)
		resp, body = c.get("/")
		assert.Equal(t, http.StatusOK, resp.StatusCode, body)
	})
	step("OPcache serves the code but never the shared cache configuration", func(t *testing.T) {
		// A probe script in the test's copy of the code reports OPcache's view.
		probe := s.path("/var/www/moodle/opcache-probe.php")
		require.NoError(t, os.WriteFile(probe, []byte(`<?php header('Content-Type: application/json');
echo json_encode(['enabled' => opcache_get_status(false)['opcache_enabled'] ?? false,
  'scripts' => array_keys(opcache_get_status(true)['scripts'] ?? []),
  'blacklist' => opcache_get_configuration()['blacklist'] ?? []]);`), 0o644))
		defer os.Remove(probe)
		for range 3 {
			c.get("/")
		}
		resp, body := c.do("GET", "/opcache-probe.php", nil, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		var st struct {
			Enabled   bool     `json:"enabled"`
			Scripts   []string `json:"scripts"`
			Blacklist []string `json:"blacklist"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &st), body)
		assert.True(t, st.Enabled, "OPcache is on in the web pods")
		assert.Contains(t, st.Scripts, "/var/www/moodle/lib/setup.php", "Moodle's code is cached")
		assert.Contains(t, st.Blacklist, "/moodledata/muc/config.php")
		assert.NotContains(t, st.Scripts, "/moodledata/muc/config.php", "every request reads the shared cache configuration from moodledata")
	})
	step("cron runs to completion, within its one-minute schedule once warm", func(t *testing.T) {
		out, code := s.runContainer(cron, 15*time.Minute)
		require.Equal(t, 0, code, out)
		assert.Contains(t, out, "Cron run completed")
		start := time.Now()
		out, code = s.runContainer(cron, 5*time.Minute)
		took := time.Since(start)
		require.Equal(t, 0, code, out)
		t.Logf("second cron run took %s", took.Round(time.Second))
		assert.Less(t, took, 55*time.Second, "a warm cron pass ends before the next schedule (Forbid would skip it)")
	})
	step("plugin-dir.php agrees with core_component for every plugin type", func(t *testing.T) {
		out, err := s.nsCmd(wwwDataUID, s.env(moodleC), "php", "-r", `define('CLI_SCRIPT', true); require '/var/www/moodle/config.php';
			$r = []; foreach (core_component::get_plugin_types() as $type => $dir) { $r[$type] = substr($dir, strlen($CFG->dirroot) + 1); }
			echo json_encode($r);`).Output()
		require.NoError(t, err, string(out))
		var types map[string]string
		require.NoError(t, json.Unmarshal(out, &types))
		require.Greater(t, len(types), 50)
		for typ, dir := range types {
			got, err := s.nsCmd(wwwDataUID, nil, "php", "/usr/local/lib/moodle/plugin-dir.php", "/var/www/moodle", typ+"_example").CombinedOutput()
			require.NoError(t, err, "%s: %s", typ, got)
			assert.Equal(t, dir+"/example", strings.TrimSpace(string(got)), typ)
		}
	})
	step("the nightly dump reads a secondary, falls back to the primary, writes its manifest, and fails loudly when cut short, refused, short of a table or of disk", func(t *testing.T) {
		// The rendered backup scripts and CronJob (its dump container's env).
		scripts := configMapData(t, "data/configmap-backup-scripts.yaml")
		dumpC := cronJobPod(t, "data/cronjob-mysql-backup.yaml").InitContainers[0]
		ports := ""
		for _, e := range dumpC.Env {
			if e.Name == "MYSQL_PORTS" {
				ports = e.Value
			}
		}
		require.Equal(t, "3306", ports, "dev has one member: the dump reads the primary")
		// Values the manifest's row count must see through: quotes,
		// parentheses, backslashes, newlines, binary.
		s.sql(`CREATE TABLE moodle.mdl_zz_tricky (id BIGINT PRIMARY KEY, s LONGTEXT, b LONGBLOB)`)
		s.sql(`INSERT INTO moodle.mdl_zz_tricky VALUES (1, 'it''s (a),(b)', NULL), (2, 'back\\\\', 0x0028272900), (3, CONCAT('line', CHAR(10), '(', CHAR(92)), UNHEX('FF28')), (4, NULL, NULL)`)
		// The scripts as prod runs them: a secondary first (3307), then the primary.
		dump := func(password, pathFirst, tmpfs string, during func()) (string, int, string) {
			work := s.freshDir("backup-work")
			env := []string{"PATH=" + pathFirst + s.clientShims() + ":/usr/bin:/bin", "MYSQL_HOST=" + dbHost, "MYSQL_PORTS=3307 3306", "MYSQL_PWD=" + password, "HOME=" + work}
			cmd, out := s.jobScript(t, "dump.sh", scripts["dump.sh"], work, env, tmpfs)
			if during != nil {
				during()
			}
			code := exitCode(t, cmd)
			return out.String(), code, work
		}
		out, code, work := dump(s.backupPassword(), "", "", nil)
		require.Equal(t, 0, code, out)
		assert.Contains(t, out, "dumping from 127.0.0.1:3307", "a secondary, through the proxy's read port")
		assert.Regexp(t, `dump complete: \d{3,} tables, \d+ rows, \d+ bytes`, out)
		file := filepath.Join(work, "moodle.sql.gz")
		m := readManifest(t, filepath.Join(work, "moodle.manifest"))
		sum := sha256.Sum256(must(os.ReadFile(file)))
		assert.Equal(t, hex.EncodeToString(sum[:]), m.fields["sha256"])
		st, _ := os.Stat(file)
		assert.Equal(t, strconv.FormatInt(st.Size(), 10), m.fields["bytes"])
		assert.Equal(t, s.sqlAt(s.replicaSock(), "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='moodle' AND table_type='BASE TABLE'"), m.fields["tables"])
		assert.Contains(t, m.fields["mysqldump"], "Ver", "the tool's version")
		// Every table's rows, as the source (the replica the dump read) counts them.
		var q []string
		for name := range m.rows {
			q = append(q, fmt.Sprintf("SELECT '%s', COUNT(*) FROM moodle.`%s`", name, name))
		}
		counts := map[string]string{}
		for _, l := range strings.Split(s.sqlAt(s.replicaSock(), strings.Join(q, " UNION ALL ")), "\n") {
			f := strings.Fields(l)
			counts[f[0]] = f[1]
		}
		assert.Equal(t, counts, m.rows, "the manifest's rows are the source's, table by table")
		assert.Equal(t, "4", m.rows["mdl_zz_tricky"])
		assert.NotEqual(t, "0", m.rows["mdl_config"])
		s.run("cp", file, filepath.Join(s.w, "good.sql.gz")) // the upload's and restore's
		s.run("cp", filepath.Join(work, "moodle.manifest"), filepath.Join(s.w, "good.manifest"))

		out, code, _ = dump("wrong-"+secret(t), "", "", nil)
		assert.NotEqual(t, 0, code, out)
		assert.Contains(t, out, "FAIL: no database answers", "a refused login fails the Job")

		// A dump that leaves a table out (here mysqldump told to skip one).
		skip := s.freshDir("skip-shim")
		require.NoError(t, os.WriteFile(filepath.Join(skip, "mysqldump"), []byte("#!/bin/bash\nexec "+filepath.Join(s.clientShims(), "mysqldump")+" --ignore-table=moodle.mdl_zz_tricky \"$@\"\n"), 0o755))
		out, code, _ = dump(s.backupPassword(), skip+":", "", nil)
		assert.NotEqual(t, 0, code, out)
		assert.Contains(t, out, "FAIL: the dump lacks tables the database has: mdl_zz_tricky")

		// The scratch disk fills mid-dump.
		out, code, _ = dump(s.backupPassword(), "", "32k", nil)
		assert.NotEqual(t, 0, code, out)
		assert.Contains(t, out, "No space left on device")
		assert.NotContains(t, out, "dump complete")

		// Cut short: the dump's connection killed on the replica mid-way.
		// A session holding a write lock on one table stops the dump at
		// that table's SELECT, where it is killed.
		locker := exec.Command("mariadb", "--no-defaults", "-S", s.replicaSock(), "-uroot", "-e", "LOCK TABLES moodle.mdl_zz_tricky WRITE; SELECT SLEEP(120)")
		require.NoError(t, locker.Start())
		defer func() { _ = locker.Process.Kill(); _ = locker.Wait() }()
		require.Eventually(t, func() bool {
			return s.sqlAt(s.replicaSock(), "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP(120)%'") == "1"
		}, 10*time.Second, 100*time.Millisecond)
		killed := false
		out, code, _ = dump(s.backupPassword(), "", "", func() {
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) && !killed {
				id := s.sqlAt(s.replicaSock(), "SELECT id FROM information_schema.processlist WHERE user='backup' AND info LIKE '%SQL_NO_CACHE%mdl_zz_tricky%' LIMIT 1")
				if id != "" {
					s.sqlAt(s.replicaSock(), "KILL "+id)
					killed = true
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
		_ = locker.Process.Kill()
		require.True(t, killed, "the dump's connection was found and killed: %s", out)
		assert.NotEqual(t, 0, code, "a dump cut short fails the Job: %s", out)
		assert.NotContains(t, out, "dump complete")

		// The replica gone: HAProxy has no server on 3307, the dump reads the primary.
		s.sqlAt(s.replicaSock(), "SHUTDOWN")
		require.Eventually(t, func() bool {
			resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(proxyStatsPort) + "/metrics")
			if err != nil {
				return false
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return regexp.MustCompile(`(?m)^haproxy_backend_active_servers\{proxy="mysql-replicas"\} 0$`).Match(b)
		}, 20*time.Second, 500*time.Millisecond, "HAProxy takes the stopped replica out within its checks (inter 2000, fall 2)")
		out, code, _ = dump(s.backupPassword(), "", "", nil)
		require.Equal(t, 0, code, out)
		assert.Contains(t, out, "no database answers on 127.0.0.1:3307")
		assert.Contains(t, out, "dumping from 127.0.0.1:3306")
		// Moodle's reads fall back to the primary too.
		resp, body := c.get("/my/")
		assert.Equal(t, http.StatusOK, resp.StatusCode, body)
		assert.Contains(t, body, "Admin User")
	})
	// Blob Storage: Azurite, with the real Azure CLI (tests/imagerun/blob_test.go).
	var bs *blobStore
	var goodBlob string
	azEnv := func(work string, extra ...string) []string {
		upload := cronJobPod(t, "data/cronjob-mysql-backup.yaml").Containers[0]
		token := filepath.Join(s.w, "federated-token")
		require.NoError(t, os.WriteFile(token, []byte("a-projected-service-account-token"), 0o644)) // projected tokens are readable by the pod's user
		env := []string{"PATH=" + bs.azShims(s) + ":/usr/bin:/bin", "HOME=" + work,
			// What the workload identity webhook injects into the pod.
			"AZURE_CLIENT_ID=00000000-0000-0000-0000-0000000000b1", "AZURE_TENANT_ID=00000000-0000-0000-0000-00000000000a", "AZURE_FEDERATED_TOKEN_FILE=" + token}
		for _, e := range upload.Env {
			if e.Value != "" && e.Name != "HOME" {
				env = append(env, e.Name+"="+e.Value)
			}
		}
		return append(env, extra...)
	}
	step("the upload: dump, then manifest, to Blob Storage (Azurite, the real Azure CLI); a dump far smaller than the last one is kept and fails loudly", func(t *testing.T) {
		upload := cronJobPod(t, "data/cronjob-mysql-backup.yaml").Containers[0]
		var account, container string
		for _, e := range upload.Env {
			switch e.Name {
			case "BACKUP_ACCOUNT":
				account = e.Value
			case "CONTAINER":
				container = e.Value
			}
		}
		require.NotEmpty(t, account)
		bs = s.startBlobStore(account, container)
		scripts := configMapData(t, "data/configmap-backup-scripts.yaml")
		run := func(dumpFile, manifestFile string) (string, int) {
			work := s.freshDir("upload-work")
			s.run("cp", dumpFile, filepath.Join(work, "moodle.sql.gz"))
			s.run("cp", manifestFile, filepath.Join(work, "moodle.manifest"))
			cmd, out := s.jobScript(t, "upload.sh", scripts["upload.sh"], work, azEnv(work), "")
			code := exitCode(t, cmd)
			return out.String(), code
		}
		good := filepath.Join(s.w, "good.sql.gz")
		out, code := run(good, filepath.Join(s.w, "good.manifest"))
		require.Equal(t, 0, code, out)
		name := regexp.MustCompile(`uploaded (mysql/\d{8}T\d{6}Z)\.sql\.gz \(\d+ bytes\) and mysql/\d{8}T\d{6}Z\.manifest`).FindStringSubmatch(out)
		require.Len(t, name, 2, out)
		goodBlob = name[1] + ".sql.gz"
		st, _ := os.Stat(good)
		assert.ElementsMatch(t, []string{goodBlob + " " + strconv.FormatInt(st.Size(), 10), name[1] + ".manifest " + strconv.Itoa(len(must(os.ReadFile(filepath.Join(s.w, "good.manifest")))))},
			bs.blobs(s, container), "the dump and its manifest, whole")

		// A complete dump a tenth the size: uploaded (it is the newest
		// state), and the Job fails so the alert fires.
		small := filepath.Join(s.w, "small.sql.gz")
		s.run("sh", "-c", fmt.Sprintf("head -c %d /dev/urandom | gzip -1 > %s", st.Size()/10, small))
		time.Sleep(1100 * time.Millisecond) // dumps are named by the second
		out, code = run(small, filepath.Join(s.w, "good.manifest"))
		assert.NotEqual(t, 0, code, out)
		assert.Contains(t, out, "under 50% of the previous dump ("+goodBlob+", ")
		assert.Len(t, bs.blobs(s, container), 4, "the small dump was kept, with its manifest")

		// Blob Storage unreachable: the Job fails.
		wrong := *bs
		wrong.account = "stmdlbkpother"
		work := s.freshDir("upload-work")
		s.run("cp", good, filepath.Join(work, "moodle.sql.gz"))
		s.run("cp", filepath.Join(s.w, "good.manifest"), filepath.Join(work, "moodle.manifest"))
		env := azEnv(work)
		env[0] = "PATH=" + wrong.azShims(s) + ":/usr/bin:/bin"
		cmd, buf := s.jobScript(t, "upload.sh", scripts["upload.sh"], work, env, "")
		assert.NotEqual(t, 0, exitCode(t, cmd), buf.String())
		bs.azShims(s) // back to the stack's account
	})
	step("restore through Blob Storage: a whole dump replaces the database, newer tables included; a truncated, incomplete or unmanifested one changes nothing", func(t *testing.T) {
		require.NotEmpty(t, goodBlob, "the upload step ran")
		scripts := configMapData(t, "data/configmap-backup-scripts.yaml")
		container := ""
		for _, e := range azEnv(s.w) {
			if strings.HasPrefix(e, "CONTAINER=") {
				container = strings.TrimPrefix(e, "CONTAINER=")
			}
		}
		// The restore Job: its download init container, then the restore.
		restoreInto := func(blob, database string) (string, int) {
			work := s.freshDir("restore-work")
			cmd, out := s.jobScript(t, "download.sh", scripts["download.sh"], work, azEnv(work, "RESTORE_BLOB="+blob), "")
			if code := exitCode(t, cmd); code != 0 {
				return out.String(), code
			}
			cmd, out2 := s.jobScript(t, "restore.sh", scripts["restore.sh"], work, []string{"PATH=" + s.clientShims() + ":/usr/bin:/bin",
				"MYSQL_HOST=" + dbHost, "MYSQL_WRITE_PORT=3306", "MYSQL_ROOT_PASSWORD=" + s.data.rootPassword, "RESTORE_BLOB=" + blob,
				"RESTORE_DATABASE=" + database, "HOME=" + work}, "")
			code := exitCode(t, cmd)
			return out.String() + out2.String(), code
		}
		restore := func(blob string) (string, int) { return restoreInto(blob, "moodle") }
		put := func(name, file string) {
			out, err := bs.az(s, "storage", "blob", "upload", "--container-name", container, "--name", name, "--file", file, "--output", "none")
			require.NoError(t, err, "%s", out)
		}
		good, goodManifest := filepath.Join(s.w, "good.sql.gz"), filepath.Join(s.w, "good.manifest")
		users := s.sql("SELECT COUNT(*) FROM moodle.mdl_user")
		tricky := s.sql("SELECT HEX(s), HEX(b) FROM moodle.mdl_zz_tricky ORDER BY id")
		// A table the dump does not have (created after it, or by a newer
		// Moodle): a restore over the database would keep it.
		s.sql("CREATE TABLE moodle.mdl_zz_after_dump (id BIGINT PRIMARY KEY)")
		untouched := func(why string) {
			assert.Equal(t, "1", s.sql("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='moodle' AND table_name='mdl_zz_after_dump'"), "nothing dropped: "+why)
		}

		// An upload that never finished: a dump without its manifest.
		put("mysql/20261128T023000Z.sql.gz", good)
		out, code := restore("mysql/20261128T023000Z.sql.gz")
		assert.NotEqual(t, 0, code, out)
		assert.Contains(t, out, "FAIL: no manifest beside mysql/20261128T023000Z.sql.gz")
		untouched("no manifest")

		// A truncated blob (its first half) beside the whole dump's manifest.
		half := filepath.Join(s.w, "truncated.sql.gz")
		s.run("sh", "-c", fmt.Sprintf("head -c $(( $(wc -c < %s) / 2 )) %s > %s", good, good, half))
		put("mysql/20261129T023000Z.sql.gz", half)
		put("mysql/20261129T023000Z.manifest", goodManifest)
		out, code = restore("mysql/20261129T023000Z.sql.gz")
		assert.NotEqual(t, 0, code, out)
		assert.Contains(t, out, "is not the dump its manifest describes")
		untouched("truncated")

		// An incomplete dump (the first half of the SQL, gzipped whole)
		// whose manifest matches it: mysqldump's last line is missing.
		incomplete := filepath.Join(s.w, "incomplete.sql.gz")
		s.run("sh", "-c", fmt.Sprintf("gunzip -c %s | head -c $(( $(gunzip -c %s | wc -c) / 2 )) | gzip > %s", good, good, incomplete))
		writeManifest(t, goodManifest, incomplete, filepath.Join(s.w, "incomplete.manifest"), nil)
		put("mysql/20261130T023000Z.sql.gz", incomplete)
		put("mysql/20261130T023000Z.manifest", filepath.Join(s.w, "incomplete.manifest"))
		out, code = restore("mysql/20261130T023000Z.sql.gz")
		assert.NotEqual(t, 0, code, out)
		assert.Contains(t, out, "is incomplete (no '-- Dump completed' at its end): nothing was changed")
		untouched("incomplete")

		// Into a scratch copy (docs/restore.md section 4): created, filled,
		// and Moodle's database untouched.
		out, code = restoreInto(goodBlob, "moodle_copy")
		require.Equal(t, 0, code, out)
		assert.Regexp(t, regexp.QuoteMeta("restored "+goodBlob+" into moodle_copy: ")+`\d{3,} tables, \d+ rows, as in the dump`, out)
		assert.Equal(t, users, s.sql("SELECT COUNT(*) FROM moodle_copy.mdl_user"))
		untouched("a restore into a copy")
		s.sql("DROP DATABASE moodle_copy")

		// The whole dump: the database is emptied, then restored as dumped.
		out, code = restore(goodBlob)
		require.Equal(t, 0, code, out)
		assert.Regexp(t, regexp.QuoteMeta("restored "+goodBlob+" into moodle: ")+`\d{3,} tables, \d+ rows, as in the dump`, out)
		assert.Equal(t, "0", s.sql("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='moodle' AND table_name='mdl_zz_after_dump'"), "the table newer than the dump is gone")
		assert.Equal(t, users, s.sql("SELECT COUNT(*) FROM moodle.mdl_user"))
		assert.Equal(t, tricky, s.sql("SELECT HEX(s), HEX(b) FROM moodle.mdl_zz_tricky ORDER BY id"), "byte for byte")
		resp, body := c.get("/my/")
		assert.Equal(t, http.StatusOK, resp.StatusCode, body)
		assert.Contains(t, body, "Admin User", "the site runs on the restored database")

		// Rows that did not arrive: the manifest says mdl_user had one more
		// than the database now holds. The restore says so and fails.
		writeManifest(t, goodManifest, good, filepath.Join(s.w, "more.manifest"), map[string]string{"mdl_user": "+1"})
		put("mysql/20261127T023000Z.sql.gz", good)
		put("mysql/20261127T023000Z.manifest", filepath.Join(s.w, "more.manifest"))
		out, code = restore("mysql/20261127T023000Z.sql.gz")
		assert.NotEqual(t, 0, code, out)
		assert.Contains(t, out, "FAIL: restored rows differ from the dump's")
		assert.Regexp(t, `mdl_user \d+`, out)
	})
	step("the moodledata copy: filedir to Blob Storage outside its account, only what is new, and a copy that differs fails", func(t *testing.T) {
		require.NotNil(t, bs, "the upload step started Azurite")
		scripts := configMapData(t, "data/configmap-backup-scripts.yaml")
		filedir := s.path("/moodledata/filedir")
		container := ""
		for _, e := range azEnv(s.w) {
			if strings.HasPrefix(e, "CONTAINER=") {
				container = strings.TrimPrefix(e, "CONTAINER=")
			}
		}
		copyFiles := func() (string, int) {
			work := s.freshDir("copy-work")
			require.NoError(t, os.Chown(work, wwwDataUID, wwwDataUID))
			// As the pod runs it: the copy container is www-data, who owns
			// what Moodle writes (the rendered CronJob says so).
			sc := cronJobPod(t, "data/cronjob-files-snapshot.yaml").Containers[0].SecurityContext
			require.NotNil(t, sc)
			require.Equal(t, wwwDataUID, sc.RunAsUser)
			cmd, out := s.jobScript(t, "copy.sh", scripts["copy.sh"], work, azEnv(work, "FILEDIR="+filedir), "", fmt.Sprintf("%d:%d:%d", sc.RunAsUser, sc.RunAsUser, sc.RunAsUser))
			code := exitCode(t, cmd)
			return out.String(), code
		}
		local := strings.Fields(s.run("sh", "-c", "cd "+filedir+" && find . -type f | wc -l"))[0]
		require.NotEqual(t, "0", local, "Moodle's install stored files")
		copied := func() map[string]string {
			m := map[string]string{}
			for _, l := range bs.blobs(s, container) {
				if name, size, ok := strings.Cut(l, " "); ok && strings.HasPrefix(name, "files/filedir/") {
					m[strings.TrimPrefix(name, "files/filedir/")] = size
				}
			}
			return m
		}
		out, code := copyFiles()
		require.Equal(t, 0, code, out)
		assert.Contains(t, out, "filedir: "+local+" files, "+local+" not yet copied")
		assert.Contains(t, out, "copied filedir: "+local+" files")
		got := copied()
		assert.Len(t, got, must(strconv.Atoi(local)))
		// Each copied file has its size (sizes as the filesystem reports them).
		for _, l := range strings.Split(strings.TrimSpace(s.run("sh", "-c", "cd "+filedir+" && find . -type f -printf '%P %s\n'")), "\n") {
			p, size, _ := strings.Cut(l, " ")
			assert.Equal(t, size, got[p], p)
		}

		// A file Moodle stores after the first copy: only it is uploaded.
		content := "a file uploaded after the first copy"
		sum := fmt.Sprintf("%x", sha1.Sum([]byte(content)))
		rel := filepath.Join(sum[:2], sum[2:4], sum)
		store := func(rel, content string) { // as Moodle does: www-data's, 02770 and 0660
			require.NoError(t, os.MkdirAll(filepath.Join(filedir, filepath.Dir(rel)), 0o770))
			require.NoError(t, os.WriteFile(filepath.Join(filedir, rel), []byte(content), 0o660))
			s.run("chown", "-R", fmt.Sprintf("%d:%d", wwwDataUID, wwwDataUID), filepath.Join(filedir, rel[:2]))
		}
		store(rel, content)
		out, code = copyFiles()
		require.Equal(t, 0, code, out)
		n := must(strconv.Atoi(local)) + 1
		assert.Contains(t, out, fmt.Sprintf("filedir: %d files, 1 not yet copied", n))
		assert.Equal(t, strconv.Itoa(len(content)), copied()[rel])

		// A copy that does not match (a blob of that name with other bytes,
		// as a broken earlier copy would leave it): never overwritten, and
		// the Job fails saying which file.
		content = "another stored file"
		sum = fmt.Sprintf("%x", sha1.Sum([]byte(content)))
		rel = filepath.Join(sum[:2], sum[2:4], sum)
		store(rel, content)
		short := filepath.Join(s.w, "short")
		require.NoError(t, os.WriteFile(short, []byte("another"), 0o644))
		o, err := bs.az(s, "storage", "blob", "upload", "--container-name", container, "--name", "files/filedir/"+rel, "--file", short, "--output", "none")
		require.NoError(t, err, "%s", o)
		out, code = copyFiles()
		assert.NotEqual(t, 0, code, out)
		assert.Contains(t, out, "FAIL: 1 files of filedir are not in the copy with their size")
		assert.Contains(t, out, rel)
		require.NoError(t, os.Remove(filepath.Join(filedir, rel)))
	})
	step("the migration's import: into an emptied target, contents compared by checksum", func(t *testing.T) {
		// The old site: a copy of this one with a row of its own; the
		// target (this site) has a table the old site does not.
		s.sql("CREATE DATABASE oldsite CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
		s.run("sh", "-c", fmt.Sprintf("gunzip -c %s | mariadb --no-defaults -S %s -uroot oldsite", filepath.Join(s.w, "good.sql.gz"), s.primarySock()))
		s.sql("INSERT INTO oldsite.mdl_config_plugins (plugin, name, value) VALUES ('local_oldsite', 'marker', 'from the old site')")
		s.sql("CREATE TABLE moodle.mdl_zz_fresh_install (id BIGINT PRIMARY KEY)")
		script := filepath.Join(s.w, "db.sh")
		require.NoError(t, os.WriteFile(script, []byte(migration.DBScript), 0o755))
		db := s.secrets["moodle-db"]
		cmd := exec.Command("bash", script)
		cmd.Dir = s.w
		cmd.Env = []string{"PATH=" + s.clientShims() + ":/usr/bin:/bin", "HOME=" + s.w,
			"SOURCE_HOST=" + dbHost, "SOURCE_PORT=3306", "SOURCE_DB=oldsite", "SOURCE_USER=root", "SOURCE_PASSWORD=" + s.data.rootPassword,
			"MOODLE_DB_HOST=" + dbHost, "MOODLE_DB_PORT=3306", "MOODLE_DB_NAME=moodle", "MOODLE_DB_USER=" + db["user"], "MOODLE_DB_PASSWORD=" + db["password"]}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Regexp(t, `emptied moodle \(\d{3,} tables dropped\)`, string(out))
		assert.Regexp(t, `PASS: \d{3,} tables, contents match \(rows and checksums\)`, string(out))
		assert.Equal(t, "0", s.sql("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='moodle' AND table_name='mdl_zz_fresh_install'"), "the target's own table is gone")
		assert.Equal(t, "from the old site", s.sql("SELECT value FROM moodle.mdl_config_plugins WHERE plugin='local_oldsite'"))
		resp, body := c.get("/my/")
		assert.Equal(t, http.StatusOK, resp.StatusCode, body)
		assert.Contains(t, body, "Admin User", "the site runs on the imported database")
		s.sql("DROP DATABASE oldsite")
	})
	web2Port := port + 10000
	c2 := newClient(t, web2Port, host)
	step("a second web pod: a session started on one is valid on the other", func(t *testing.T) {
		h2 := s.secondWeb(port)
		s.holders = append(s.holders, h2)
		cmd, log := s.startApacheIn(h2, moodleC)
		s.procs = append(s.procs, cmd)
		require.Eventually(t, func() bool { return dial(web2Port) }, 60*time.Second, 300*time.Millisecond, "the second Apache starts: %s", log)
		public, _ := url.Parse("https://" + host + "/")
		c2.jar.SetCookies(public, c.jar.Cookies(public))
		resp, body := c2.get("/my/")
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		assert.Contains(t, body, "Admin User", "the admin's session, started on the first pod, is valid on the second")
	})
	step("a cache definition changed in the admin UI on one pod is in effect on the other", func(t *testing.T) {
		const page = "/cache/admin.php?action=editdefinitionmapping&definition=core/string"
		// A probe in the shared code asks the serving pod's own Moodle which
		// stores core/string uses, and writes one entry through them.
		probe := s.path("/var/www/moodle/muc-probe.php")
		require.NoError(t, os.WriteFile(probe, []byte(`<?php require(__DIR__ . '/config.php');
header('Content-Type: application/json');
$d = \core_cache\factory::instance()->create_definition('core', 'string');
$c = \cache::make('core', 'string');
echo json_encode(['stores' => array_keys(\core_cache\config::instance()->get_stores_for_definition($d)),
  'set' => $c->set('probe_' . $_GET['key'], 'x')]);`), 0o644))
		defer os.Remove(probe)
		stores := func(cl *client, key string) []string {
			resp, body := cl.do("GET", "/muc-probe.php?key="+key, nil, nil)
			require.Equal(t, http.StatusOK, resp.StatusCode, body)
			var r struct {
				Stores []string `json:"stores"`
				Set    bool     `json:"set"`
			}
			require.NoError(t, json.Unmarshal([]byte(body), &r), body)
			assert.True(t, r.Set, "the probe's entry was stored")
			return r.Stores
		}
		// configure-caches maps the application caches to the cache Redis
		// alone (with the file store listed too, Moodle made it the primary:
		// this assertion fails on that).
		require.Equal(t, []string{"redis-cache"}, stores(c2, "before"), "pod 2 starts with core/string on the cache Redis, and on it only")
		resp, body := c2.get(page)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		require.Regexp(t, `<option value="redis-cache" selected`, body, "and its admin UI says so")
		resp, body = c.get(page)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		key := regexp.MustCompile(`name="sesskey" value="([^"]+)"`).FindStringSubmatch(body)
		require.NotNil(t, key, "the mapping form has a sesskey")
		// On pod 1, map it to the file store (the default application store).
		resp, body = c.do("POST", page, url.Values{
			"definition": {"core/string"}, "action": {"editdefinitionmapping"}, "sesskey": {key[1]},
			"_qf__core_cache_form_cache_definition_mappings_form": {"1"}, "mappings[0]": {"default_application"}, "mappings[1]": {""},
			"submitbutton": {"Save changes"},
		}, nil)
		// Moodle redirects after saving; a 200 is the form shown again (not saved).
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, "saved and redirected: %.3000s", body)
		// Pod 2, with its own /tmp, local cache and OPcache, uses the new
		// mapping at once: its Moodle resolves core/string to the file store
		// and its entry lands in the shared cache directory.
		assert.Equal(t, []string{"default_application"}, stores(c2, "web2"), "pod 2 uses the mapping made on pod 1")
		written, _ := filepath.Glob(s.path("/moodledata/cache/cachestore_file/default_application/core_string/*/probe_web2-*.cache"))
		assert.Len(t, written, 1, "pod 2 wrote core/string to the file store")
		// Its admin UI no longer maps it to Redis (a default store is listed
		// apart, not as a mapping: administration_helper::get_definition_store_options).
		resp, body = c2.get(page)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		assert.NotRegexp(t, `<option value="redis-cache" selected`, body)
	})
	// Monitoring, on the healthy system (before a Redis master is killed).
	var scrapeURI string
	for _, a := range exporter.Args {
		if v, ok := strings.CutPrefix(a, "--scrape_uri="); ok {
			scrapeURI = v
		}
	}
	inStep := func(name string, f func()) { step(name, func(*testing.T) { f() }) }
	prometheus := s.monitoringHealthy(inStep, scrapeURI)
	step("the sessions master holding the admin's session is killed: a follower takes over and the admin stays logged in", func(t *testing.T) {
		key := "sess_session_" + sid
		m := s.masterOf(key)
		require.NotNil(t, m, "a master serves the admin's session")
		t.Logf("the admin's session is on %s (port %d)", m.name, m.port)
		killedAt := time.Now()
		_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
		_ = m.cmd.Wait()
		var other *redisNode
		for _, n := range s.data.nodes {
			if n != m {
				other = n
				break
			}
		}
		require.Eventually(t, func() bool {
			info := s.clusterCLIOK(other.port, "CLUSTER", "INFO")
			now := s.masterOf(key)
			return strings.Contains(info, "cluster_state:ok") && now != nil && now != m
		}, 60*time.Second, 200*time.Millisecond, "a follower is promoted")
		t.Logf("promoted after %s (cluster-node-timeout 5000)", time.Since(killedAt).Round(100*time.Millisecond))
		var body string
		require.Eventually(t, func() bool {
			resp, b := c.get("/my/")
			body = b
			return resp.StatusCode == http.StatusOK && strings.Contains(b, "Admin User")
		}, 30*time.Second, time.Second, "the admin is still logged in after the failover: %.300s", body)
		resp, b := c2.get("/my/")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Contains(t, b, "Admin User", "on the other pod too")
		// The killed node comes back and rejoins as its shard's replica.
		var cr redisClusterCR
		crFile(t, "data/rediscluster-redis-sessions.yaml", &cr)
		s.startNode(m, cr, sessionsExtraConfig(t))
		require.Eventually(t, func() bool {
			return strings.Contains(s.clusterCLIOK(m.port, "ROLE"), "slave")
		}, 30*time.Second, 500*time.Millisecond, "the old master rejoins as a replica (nodes.conf kept its identity)")
	})
	step("moodle-admin logout-all logs every user out on every master; Moodle's own kill_all_sessions misses sessions", func(t *testing.T) {
		// Sessions on every master, whatever this run's earlier steps left
		// (idle visitors' sessions may be gone, the admin's keys may all be
		// on one master): thirty more session keys, each on its slot's master.
		holders := map[string]bool{}
		for i := range 30 {
			k := fmt.Sprintf("sess_session_probe%02d", i)
			m := s.masterOf(k)
			require.NotNil(t, m)
			s.clusterCLI(m.port, "HSET", k, "userid", "i:0;")
			holders[m.name] = true
		}
		require.GreaterOrEqual(t, len(holders), 2, "session keys on several masters: %v", holders)
		// Moodle's own script: it reports success and leaves sessions on the
		// masters it did not scan.
		kill := maintenance
		kill.Command, kill.Args = []string{"php", "/var/www/moodle/admin/cli/kill_all_sessions.php"}, nil
		out, code := s.runContainer(kill, 2*time.Minute)
		t.Logf("kill_all_sessions.php: exit %d: %.500s", code, out)
		left := 0
		for _, n := range s.data.nodes {
			if strings.Contains(s.clusterCLIOK(n.port, "ROLE"), "master") {
				left += len(strings.Fields(s.clusterCLI(n.port, "--scan", "--pattern", "sess_*")))
			}
		}
		assert.Positive(t, left, "kill_all_sessions.php misses sessions in cluster mode (if this fails, Moodle fixed get_all_sessions(): revisit logout-all)")
		logout := maintenance
		logout.Command, logout.Args = []string{"moodle-admin", "logout-all"}, nil
		out, code = s.runContainer(logout, 5*time.Minute)
		require.Equal(t, 0, code, out)
		assert.Regexp(t, `logout-all: deleted \d+ session keys on 3 masters`, out)
		for _, n := range s.data.nodes {
			if strings.Contains(s.clusterCLIOK(n.port, "ROLE"), "master") {
				assert.Empty(t, s.clusterCLI(n.port, "--scan", "--pattern", "sess_*"), "%s holds no session", n.name)
			}
		}
		for _, cl := range []*client{c, c2} {
			resp, _ := cl.do("GET", "/my/", nil, nil)
			assert.Equal(t, http.StatusSeeOther, resp.StatusCode, "logged out: /my/ redirects to the login page")
			assert.Contains(t, resp.Header.Get("Location"), "/login/index.php")
		}
	})
	s.monitoringDatabaseDown(inStep, prometheus)
	step("no PHP fatal errors or warnings in Apache's log", func(t *testing.T) {
		assert.NotRegexp(t, `PHP (Fatal|Parse) error`, s.apacheL.String())
	})
	step("nothing is left running", func(t *testing.T) {
		s.close()
		addrs := []string{
			"127.0.0.1:" + strconv.Itoa(port), "127.0.0.1:" + strconv.Itoa(port+10000), "127.0.0.1:8081", cacheHost + ":6379",
			"127.0.0.1:" + strconv.Itoa(proxyWritePort), "127.0.0.1:" + strconv.Itoa(proxyReadPort), "127.0.0.1:" + strconv.Itoa(proxyStatsPort),
			"127.0.0.1:" + strconv.Itoa(s.data.primaryPort), "127.0.0.1:" + strconv.Itoa(s.data.replicaPort),
		}
		for _, n := range s.data.nodes {
			addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(n.port))
		}
		for _, addr := range addrs {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				conn.Close()
			}
			assert.Error(t, err, "nothing listens on %s any more", addr)
		}
		assert.NoDirExists(t, s.w, "the workspace is gone")
	})
}

func dial(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// hostIP is a non-loopback address of this machine, if it has one.
func hostIP() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return ""
}

var _ = filepath.Join
