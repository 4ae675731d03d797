// Package imagerun runs the Moodle image's files for real on this machine:
// Debian's Apache with mod_php, PHP, MariaDB and Redis, the Moodle release in
// ../shared/moodle, and the env vars, secrets, commands and probes of the
// rendered manifests (rendered/dev). No Docker engine is needed: the image's
// file layout is built the way the Dockerfile builds it, inside a private
// mount namespace, so every path is the one the pods see.
package imagerun

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fieldcert/moodle-aks/internal/testtools"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// root is the repository, seen from this package's directory.
const root = "../.."

// moodleTarball is the Moodle source the team keeps beside the checkout
// (provenance in ../shared/moodle/README.md).
var moodleTarball = filepath.Join(root, "..", "shared", "moodle", "moodle-4.5.6.tgz")

// wwwDataUID is the uid and gid the pods run as (runAsUser/fsGroup 33).
const wwwDataUID = 33

// Loopback addresses of the "services": each Redis listens on 6379 like the
// Service it stands for; MariaDB on a free port (the port is in the secret).
const (
	dbHost       = "127.0.0.1"
	sessionsHost = "127.0.0.2"
	cacheHost    = "127.0.0.3"
)

// requirePackages installs the Debian packages when they are missing (as
// root, through the script CI uses) or fails naming them.
func requirePackages(t *testing.T) {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(root, "tests", "imagerun", "install-packages.sh"))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "installing the Debian packages the real run needs: %s", out)
}

// skipWithoutMoodle is the one reason these tests skip: a clone outside the
// team's workspace has no ../shared/moodle.
func skipWithoutMoodle(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(moodleTarball); err != nil {
		t.Skipf("%s is absent (a clone outside the team's workspace): the Moodle image cannot be run for real here", moodleTarball)
	}
}

// ---------------------------------------------------------------- manifests

// container is one container of a rendered pod template.
type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		ContainerPort int `yaml:"containerPort"`
	} `yaml:"ports"`
	StartupProbe    *probe `yaml:"startupProbe"`
	LivenessProbe   *probe `yaml:"livenessProbe"`
	ReadinessProbe  *probe `yaml:"readinessProbe"`
	SecurityContext *struct {
		RunAsUser int `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port int    `yaml:"port"`
	} `yaml:"httpGet"`
}

type podSpec struct {
	InitContainers []container `yaml:"initContainers"`
	Containers     []container `yaml:"containers"`
	Volumes        []struct {
		Name   string `yaml:"name"`
		Secret *struct {
			SecretName  string `yaml:"secretName"`
			DefaultMode int    `yaml:"defaultMode"`
			Items       []struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			} `yaml:"items"`
		} `yaml:"secret"`
		Projected *struct {
			DefaultMode int `yaml:"defaultMode"`
			Sources     []struct {
				Secret *struct {
					Name  string `yaml:"name"`
					Items []struct {
						Key  string `yaml:"key"`
						Path string `yaml:"path"`
					} `yaml:"items"`
				} `yaml:"secret"`
			} `yaml:"sources"`
		} `yaml:"projected"`
	} `yaml:"volumes"`
}

// projectSecrets writes what the kubelet would into each projected secret
// volume, and each secret volume with items, that container c mounts: one
// file per item, from the test's secrets, with the volume's mode, owned by
// root and the pod's fsGroup (www-data).
func (s *site) projectSecrets(p podSpec, c container) {
	t := s.t
	t.Helper()
	write := func(dir, secret, key, path string, mode int) {
		val, ok := s.secrets[secret][key]
		require.True(t, ok, "the test knows secret %s key %s (container %s)", secret, key, c.Name)
		f := filepath.Join(dir, path)
		require.NoError(t, os.WriteFile(f, []byte(val), os.FileMode(mode)))
		require.NoError(t, os.Chmod(f, os.FileMode(mode)))
		require.NoError(t, os.Chown(f, 0, wwwDataUID))
	}
	for _, m := range c.VolumeMounts {
		for _, v := range p.Volumes {
			if v.Name != m.Name || (v.Projected == nil && (v.Secret == nil || len(v.Secret.Items) == 0)) {
				continue
			}
			dir := s.path(m.MountPath)
			require.NoError(t, os.MkdirAll(dir, 0o755))
			if v.Secret != nil {
				for _, it := range v.Secret.Items {
					write(dir, v.Secret.SecretName, it.Key, it.Path, v.Secret.DefaultMode)
				}
				continue
			}
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					for _, it := range src.Secret.Items {
						write(dir, src.Secret.Name, it.Key, it.Path, v.Projected.DefaultMode)
					}
				}
			}
		}
	}
}

// manifest reads the one rendered object whose file matches pattern
// (kubernetes/<ns>/<kind>-<name>.yaml) into out.
func manifest(t *testing.T, pattern string, out any) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "rendered", "dev", "kubernetes", pattern))
	require.NoError(t, err)
	require.Len(t, files, 1, "exactly one rendered file matches %s (run go run ./cmd/render -stack dev)", pattern)
	b, err := os.ReadFile(files[0])
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, out), files[0])
	return files[0]
}

// templatePod returns the pod spec of a rendered Deployment or Job
// (spec.template.spec); cronJobPod that of a CronJob's job template.
func templatePod(t *testing.T, pattern string) podSpec {
	var m struct {
		Spec struct {
			Template struct{ Spec podSpec } `yaml:"template"`
		} `yaml:"spec"`
	}
	manifest(t, pattern, &m)
	return m.Spec.Template.Spec
}

// cronJobPod is the pod of a rendered CronJob (path under kubernetes/).
func cronJobPod(t *testing.T, path string) podSpec {
	var m struct {
		Spec struct {
			JobTemplate struct {
				Spec struct {
					Template struct{ Spec podSpec } `yaml:"template"`
				} `yaml:"spec"`
			} `yaml:"jobTemplate"`
		} `yaml:"spec"`
	}
	manifest(t, path, &m)
	return m.Spec.JobTemplate.Spec.Template.Spec
}

// configMapData is a rendered ConfigMap's data (path under kubernetes/).
func configMapData(t *testing.T, path string) map[string]string {
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	manifest(t, path, &cm)
	return cm.Data
}

func (p podSpec) container(t *testing.T, name string) container {
	t.Helper()
	for _, c := range p.Containers {
		if c.Name == name {
			return c
		}
	}
	require.Failf(t, "no container", "the rendered pod has no container %q", name)
	return container{}
}

// ---------------------------------------------------------------- Dockerfile

// dockerfile is what the test takes from images/moodle/Dockerfile.
type dockerfile struct {
	// copies are the COPY instructions: sources (in images/moodle) and the
	// destination in the image.
	copies []struct {
		srcs []string
		dest string
	}
	// env are the ENV instructions.
	env map[string]string
	// cmd is the CMD (exec form).
	cmd []string
	// apacheRun is the RUN that configures Apache (the one with a2enmod).
	apacheRun string
	// user is the USER instruction.
	user string
}

var continuation = regexp.MustCompile(`\\\n`)

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "images", "moodle", "Dockerfile"))
	require.NoError(t, err)
	d := dockerfile{env: map[string]string{}}
	// Join continued lines; drop comment lines inside them, as Docker does.
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		lines = append(lines, l)
	}
	for _, ins := range strings.Split(continuation.ReplaceAllString(strings.Join(lines, "\n"), " "), "\n") {
		f := strings.Fields(ins)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "COPY":
			d.copies = append(d.copies, struct {
				srcs []string
				dest string
			}{f[1 : len(f)-1], f[len(f)-1]})
		case "ENV":
			for _, kv := range f[1:] {
				k, v, ok := strings.Cut(kv, "=")
				require.True(t, ok, "ENV %q is not KEY=VALUE", kv)
				d.env[k] = v
			}
		case "CMD":
			require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(ins, "CMD"))), &d.cmd), "CMD is in exec form")
		case "USER":
			d.user = f[1]
		case "RUN":
			if strings.Contains(ins, "a2enmod") {
				d.apacheRun = strings.TrimSpace(strings.TrimPrefix(ins, "RUN"))
			}
		}
	}
	require.NotEmpty(t, d.apacheRun, "the Dockerfile has a RUN that configures Apache")
	return d
}

// ---------------------------------------------------------------- the host

// site is Moodle's image run for real: the image's files in a private mount
// namespace, MariaDB and two Redis servers on loopback, Apache as the web
// container runs it.
type site struct {
	t       *testing.T
	w       string // workspace, outside /tmp (the pods' /tmp is an emptyDir)
	holder  *exec.Cmd
	df      dockerfile
	secrets map[string]map[string]string
	// mariadbArgs are each MariaDB server's arguments, to start it again.
	mariadbArgs map[string][]string
	data        dataTier
	procs       []*exec.Cmd
	apache      *exec.Cmd
	apacheL     *syncBuffer
	created     []string    // mount points created on the host, removed at the end
	holders     []*exec.Cmd // other pods' namespaces
	pipes       []*os.File
}

// syncBuffer collects a process's output for assertions.
type syncBuffer = testtools.Buffer

func secret(t *testing.T) string {
	b := make([]byte, 12)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// imagePaths are the image's directories that the namespace replaces with
// the workspace's, plus the pod's volumes.
var imagePaths = []string{
	"/var/www", "/etc/apache2", "/var/log/apache2", "/run/apache2", "/run/lock/apache2",
	"/usr/local/bin", "/usr/local/lib/moodle", "/usr/local/etc/php", "/opt/moodle-image",
	"/moodledata", "/var/moodle-localcache", "/tmp", dataTLSDir, secretsDir, adminPasswordDir,
}

// secretsDir is where the Moodle pods mount their passwords, and
// adminPasswordDir where the upgrade Job mounts the install-time admin
// password (components/moodle; the rendered volumeMounts say so too).
const (
	secretsDir       = "/run/secrets/moodle"
	adminPasswordDir = "/run/secrets/moodle-admin"
)

func newSite(t *testing.T) *site {
	t.Helper()
	w, err := os.MkdirTemp("/var/tmp", "moodle-image-run-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(w, 0o755))
	s := &site{t: t, w: w, df: readDockerfile(t), apacheL: &syncBuffer{}}
	t.Cleanup(s.close)
	// The secrets as the stack renders their keys; the values the test's.
	// Moodle reaches the database through the proxy (writes on 3306, reads
	// on 3307) and the sessions through two seeds of the cluster (set once
	// it runs).
	s.mariadbArgs = map[string][]string{}
	s.secrets = map[string]map[string]string{
		"moodle-db": {"name": "moodle", "user": "moodle", "password": secret(t), "host": dbHost,
			"port": strconv.Itoa(proxyWritePort), "readonly-port": strconv.Itoa(proxyReadPort)},
		"moodle-redis": {"sessions-host": "", "sessions-password": secret(t), "cache-host": cacheHost, "cache-password": secret(t)},
		"moodle-admin": {"password": "Adm1n-" + secret(t)},
		// The relay's login (dev mails through an authenticating relay).
		"moodle-smtp": {"password": secret(t)},
	}
	return s
}

func (s *site) path(p string) string { return filepath.Join(s.w, "root", p) }

func (s *site) run(name string, args ...string) string {
	s.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(s.t, err, "%s %v: %s", name, args, out)
	return string(out)
}

// buildLayout lays out the image's files as the Dockerfile does: the base
// image's Apache set-up, the Moodle tree (from the tarball instead of git),
// every COPY, then the Dockerfile's own Apache RUN, inside the namespace.
func (s *site) buildLayout() {
	t := s.t
	for _, p := range imagePaths {
		require.NoError(t, os.MkdirAll(s.path(p), 0o755))
	}
	s.run("cp", "-a", "/etc/apache2/.", s.path("/etc/apache2"))
	s.run("tar", "-xzf", moodleTarball, "-C", s.path("/var/www"))
	require.DirExists(t, s.path("/var/www/moodle/admin/cli"))
	require.NoError(t, os.MkdirAll(s.path("/var/www/langpacks"), 0o755))
	for _, c := range s.df.copies {
		for _, src := range c.srcs {
			dest := s.path(c.dest)
			if strings.HasSuffix(c.dest, "/") {
				dest = filepath.Join(dest, filepath.Base(src))
			}
			require.NoError(t, os.MkdirAll(filepath.Dir(dest), 0o755))
			s.run("cp", filepath.Join(root, "images", "moodle", src), dest)
		}
	}
	// The pod's volumes: moodledata (the share, www-data's), the local cache
	// and /tmp (emptyDirs).
	require.NoError(t, os.Chown(s.path("/moodledata"), wwwDataUID, wwwDataUID))
	require.NoError(t, os.Chmod(s.path("/moodledata"), 0o2770))
	require.NoError(t, os.Chmod(s.path("/var/moodle-localcache"), 0o777))
	s.run("chmod", "1777", s.path("/tmp")) // sticky, as an emptyDir /tmp

	s.holder = s.namespace(nil)

	// The base image's set-up, then the Dockerfile's Apache RUN, as root.
	// Fed on stdin: inside the namespace the checkout may be hidden (a
	// clone under /tmp sits below the pod's /tmp emptyDir).
	base, err := os.ReadFile(filepath.Join(root, "tests", "imagerun", "php-apache-base.sh"))
	require.NoError(t, err)
	cmd := s.nsCmd(0, nil, "sh", "-s")
	cmd.Stdin = bytes.NewReader(base)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the base image's Apache set-up: %s", out)
	out, err = s.nsCmd(0, nil, "sh", "-c", "set -eu; "+s.df.apacheRun).CombinedOutput()
	require.NoError(t, err, "the Dockerfile's Apache RUN (it ends with apache2ctl -t): %s", out)
}

// namespace starts a pod's mount namespace: every image path bound from
// the workspace (or from over[path], a pod's own copy), Debian's php.ini
// files hidden (the image has none), held open by a sleep.
func (s *site) namespace(over map[string]string) *exec.Cmd {
	t := s.t
	var sh strings.Builder
	sh.WriteString("set -e\nmount --make-rprivate /\n")
	for _, p := range imagePaths {
		if _, err := os.Stat(p); os.IsNotExist(err) {
			s.created = append(s.created, p)
		}
		src := s.path(p)
		if o, ok := over[p]; ok {
			src = o
		}
		fmt.Fprintf(&sh, "mkdir -p %s && mount --bind %s %s\n", p, src, p)
	}
	for _, ini := range []string{"/etc/php/8.2/apache2/php.ini", "/etc/php/8.2/cli/php.ini"} {
		fmt.Fprintf(&sh, "if [ -f %s ]; then mount --bind /dev/null %s; fi\n", ini, ini)
	}
	sh.WriteString("echo ready\nexec sleep 86400\n")
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", sh.String())
	stdout, err := holder.StdoutPipe()
	require.NoError(t, err)
	holder.Stderr = os.Stderr
	require.NoError(t, holder.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "the mount namespace came up")
	require.Equal(t, "ready\n", line)
	return holder
}

// nsCmd is a command inside the namespace, as uid (0: root) with exactly
// env, in the image's WORKDIR.
func (s *site) nsCmd(uid int, env []string, name string, args ...string) *exec.Cmd {
	return nsCmdIn(s.holder, uid, env, name, args...)
}

// nsCmdIn is nsCmd in another pod's namespace.
func nsCmdIn(holder *exec.Cmd, uid int, env []string, name string, args ...string) *exec.Cmd {
	a := []string{"--target", strconv.Itoa(holder.Process.Pid), "--mount", "--"}
	if uid != 0 {
		a = append(a, "setpriv", "--reuid", strconv.Itoa(uid), "--regid", strconv.Itoa(uid), "--groups", strconv.Itoa(uid), "--")
	}
	a = append(a, "env", "-i", "-C", "/var/www/moodle")
	a = append(a, env...)
	a = append(a, name)
	a = append(a, args...)
	cmd := exec.Command("nsenter", a...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// env is a rendered container's environment: the image's ENV, the base
// image's, then the container's values and secrets, plus what differs on
// Debian (said each time).
func (s *site) env(c container, extra ...string) []string {
	s.t.Helper()
	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/var/www",
		"APACHE_CONFDIR=/etc/apache2", "APACHE_ENVVARS=/etc/apache2/envvars",
		// Debian's PHP reads the image's conf.d too (the image's PHP reads
		// only /usr/local/etc/php/conf.d).
		"PHP_INI_SCAN_DIR=:/usr/local/etc/php/conf.d",
		// Debian has MariaDB, not MySQL 8: Moodle's mariadb driver.
		"MOODLE_DB_TYPE=mariadb",
	}
	for k, v := range s.df.env {
		env = append(env, k+"="+v)
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := s.secrets[ref.Name][ref.Key]
			require.True(s.t, ok, "the test knows secret %s key %s (container %s)", ref.Name, ref.Key, c.Name)
			env = append(env, e.Name+"="+v)
		default:
			env = append(env, e.Name+"="+e.Value)
		}
	}
	return append(env, extra...)
}

// capture sends a command's stdout and stderr to out through a pipe that
// belongs to www-data, as runc hands a container's stdio to its user (so
// Apache can open /dev/stderr as its error log).
// The returned channel closes once everything the command (and anything it
// left running with the pipe) wrote has been copied to out: cmd.Wait does
// not wait for that, because the child writes to an *os.File.
func (s *site) capture(cmd *exec.Cmd, out io.Writer) <-chan struct{} {
	s.t.Helper()
	r, w, err := os.Pipe()
	require.NoError(s.t, err)
	require.NoError(s.t, w.Chown(wwwDataUID, wwwDataUID))
	require.NoError(s.t, r.Chown(wwwDataUID, wwwDataUID))
	cmd.Stdout, cmd.Stderr = w, w
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(out, r); r.Close(); close(copied) }()
	s.pipes = append(s.pipes, w)
	return copied
}

// started closes the parent's copies of the pipes once the child has them.
func (s *site) started() {
	for _, w := range s.pipes {
		w.Close()
	}
	s.pipes = nil
}

// runContainer runs a rendered container's command to completion as
// www-data and returns its output and exit code.
func (s *site) runContainer(c container, timeout time.Duration, extraEnv ...string) (string, int) {
	s.t.Helper()
	require.NotEmpty(s.t, c.Command, "container %s has a command", c.Name)
	cmd := s.nsCmd(wwwDataUID, s.env(c, extraEnv...), c.Command[0], append(c.Command[1:], c.Args...)...)
	var out syncBuffer
	copied := s.capture(cmd, &out)
	require.NoError(s.t, cmd.Start())
	s.started()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		// The last lines (an EXIT trap's message) may still be in the pipe.
		select {
		case <-copied:
		case <-time.After(10 * time.Second):
		}
		code := 0
		if err != nil {
			ee, ok := err.(*exec.ExitError)
			require.True(s.t, ok, "running %v: %v", c.Command, err)
			code = ee.ExitCode()
		}
		return out.String(), code
	case <-time.After(timeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		require.Failf(s.t, "timeout", "%v ran longer than %s: %s", c.Command, timeout, out.String())
		return "", -1
	}
}

// startServices starts the replicated data tier (datatier_test.go): the
// certificates, MariaDB with a replica behind HAProxy, the users the
// stack's users Job creates (its rendered script, for real), the six-node
// sessions cluster and the cache.
func (s *site) startServices() {
	t := s.t
	s.data.tlsDir = s.certificates()
	s.startDatabase()
	s.startProxy()
	out, code := s.runUsersJob()
	require.Equal(t, 0, code, "the users Job: %s", out)
	require.Contains(t, out, "PASS: database moodle, users moodle and backup are in place")
	s.startSessionsCluster()
	s.secrets["moodle-redis"]["sessions-host"] = s.seeds()
	s.startCache()
}

// clientShims makes MySQL's client options work with Debian's MariaDB
// clients for the rendered scripts (the images run MySQL 8.4's clients):
// --ssl-mode=REQUIRED (TLS, no certificate check) is MariaDB's --ssl;
// --set-gtid-purged=OFF and --column-statistics=0 (MySQL's dump must not
// write GTID_PURGED or query column statistics) have no MariaDB
// counterpart because MariaDB's dump does neither.
func (s *site) clientShims() string {
	dir := filepath.Join(s.w, "shims")
	if _, err := os.Stat(dir); err == nil {
		return dir
	}
	require.NoError(s.t, os.MkdirAll(dir, 0o755))
	for _, c := range []struct{ name, real string }{{"mysql", "mariadb"}, {"mysqldump", "mariadb-dump"}} {
		sh := `#!/bin/bash
args=()
for a in "$@"; do
  case "$a" in
  --ssl-mode=REQUIRED) args+=(--ssl) ;;
  --set-gtid-purged=*|--column-statistics=*) ;;
  *) args+=("$a") ;;
  esac
done
exec ` + c.real + ` "${args[@]}"
`
		require.NoError(s.t, os.WriteFile(filepath.Join(dir, c.name), []byte(sh), 0o755))
	}
	return dir
}

// runUsersJob runs the rendered users Job's container command with its
// environment (the passwords from the test's secrets) against the proxy.
func (s *site) runUsersJob() (string, int) {
	var job struct {
		Spec struct {
			Template struct{ Spec podSpec } `yaml:"template"`
		} `yaml:"spec"`
	}
	manifest(s.t, "data/job-mysql-users-*.yaml", &job)
	c := job.Spec.Template.Spec.Containers[0]
	env := []string{"PATH=" + s.clientShims() + ":/usr/bin:/bin", "HOME=" + s.w}
	values := map[string]string{"ROOT_PASSWORD": s.data.rootPassword, "MOODLE_PASSWORD": s.secrets["moodle-db"]["password"], "BACKUP_PASSWORD": s.backupPassword()}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil:
			v, ok := values[e.Name]
			require.True(s.t, ok, "the test knows %s", e.Name)
			env = append(env, e.Name+"="+v)
		case e.Name == "MYSQL_HOST":
			env = append(env, e.Name+"="+dbHost) // the proxy's Service
		case e.Name != "HOME":
			env = append(env, e.Name+"="+e.Value)
		}
	}
	require.Len(s.t, c.Command, 3)
	cmd := exec.Command(c.Command[0], c.Command[1:]...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(s.t, ok, "%v", err)
		code = ee.ExitCode()
	}
	return string(out), code
}

// backupPassword is the backup user's, generated once.
func (s *site) backupPassword() string {
	if s.secrets["backup"] == nil {
		s.secrets["backup"] = map[string]string{"password": secret(s.t)}
	}
	return s.secrets["backup"]["password"]
}

func (s *site) start(name string, args ...string) { s.startWith(nil, name, args...) }

// startWith starts a service of the run with env added to the test's own;
// its output goes to <name><n>.log in the workspace, and close stops it.
func (s *site) startWith(env []string, name string, args ...string) {
	cmd := exec.Command(name, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log, err := os.Create(filepath.Join(s.w, filepath.Base(name)+strconv.Itoa(len(s.procs))+".log"))
	require.NoError(s.t, err)
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(s.t, cmd.Start(), name)
	s.procs = append(s.procs, cmd)
}

func (s *site) waitFor(what string, ok func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			var logs strings.Builder
			files, _ := filepath.Glob(filepath.Join(s.w, "*.log"))
			for _, f := range files {
				b, _ := os.ReadFile(f)
				fmt.Fprintf(&logs, "--- %s\n%s\n", filepath.Base(f), b)
			}
			require.Failf(s.t, "not up", "%s did not come up within 60 s; service logs:\n%s", what, logs.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// sql runs statements as MariaDB's root on the primary and returns the
// output (tab-separated).
func (s *site) sql(q string) string {
	s.t.Helper()
	return s.sqlAt(s.primarySock(), q)
}

// startApache starts the web container as the pod does: the image's CMD,
// as www-data, with the rendered environment.
func (s *site) startApache(c container, extraEnv ...string) (*exec.Cmd, *syncBuffer) {
	return s.startApacheIn(s.holder, c, extraEnv...)
}

// secondWeb makes the namespace of a second web pod: the same image and
// moodledata, its own /tmp, local cache, Apache logs and run directories,
// and its own ports (a pod has its own address; here both share loopback,
// so the copy of /etc/apache2 listens on port+10000 and status+10000).
func (s *site) secondWeb(port int) *exec.Cmd {
	t := s.t
	dir := filepath.Join(s.w, "web2")
	over := map[string]string{}
	for _, p := range []string{"/tmp", "/var/moodle-localcache", "/var/log/apache2", "/run/apache2", "/run/lock/apache2", "/etc/apache2"} {
		d := filepath.Join(dir, p)
		require.NoError(t, os.MkdirAll(d, 0o755))
		over[p] = d
	}
	s.run("cp", "-a", s.path("/etc/apache2")+"/.", over["/etc/apache2"])
	s.run("chmod", "1777", over["/tmp"])
	s.run("chmod", "0777", over["/var/moodle-localcache"])
	for _, p := range []string{"/var/log/apache2", "/run/apache2", "/run/lock/apache2"} {
		s.run("chown", "-R", "--reference="+s.path(p), over[p])
	}
	for _, f := range []string{"ports.conf", "sites-available/000-default.conf"} {
		path := filepath.Join(over["/etc/apache2"], f)
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		c := strings.ReplaceAll(string(b), strconv.Itoa(port), strconv.Itoa(port+10000))
		c = strings.ReplaceAll(c, "127.0.0.1:8081", "127.0.0.1:18081")
		require.NoError(t, os.WriteFile(path, []byte(c), 0o644))
	}
	return s.namespace(over)
}

// startApacheIn starts the web container in a pod's namespace.
func (s *site) startApacheIn(holder *exec.Cmd, c container, extraEnv ...string) (*exec.Cmd, *syncBuffer) {
	s.t.Helper()
	require.NotEmpty(s.t, s.df.cmd, "the Dockerfile has a CMD")
	require.Empty(s.t, c.Command, "the web container runs the image's CMD")
	cmd := nsCmdIn(holder, wwwDataUID, s.env(c, extraEnv...), s.df.cmd[0], s.df.cmd[1:]...)
	out := &syncBuffer{}
	s.capture(cmd, out)
	require.NoError(s.t, cmd.Start())
	s.started()
	return cmd, out
}

func stop(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// close stops everything the site started and removes its files; nothing
// is left running.
func (s *site) close() {
	stop(s.apache)
	s.apache = nil
	for i := len(s.procs) - 1; i >= 0; i-- {
		stop(s.procs[i])
	}
	s.procs = nil
	if s.holder != nil && s.holder.Process != nil {
		_ = s.holder.Process.Kill()
		_ = s.holder.Wait()
		s.holder = nil
	}
	for _, h := range s.holders {
		_ = h.Process.Kill()
		_ = h.Wait()
	}
	s.holders = nil
	// Anything still running from the workspace (a stray PHP or Apache child).
	_ = exec.Command("pkill", "-KILL", "-f", s.w).Run()
	_ = os.RemoveAll(s.w)
	for _, p := range s.created {
		_ = os.Remove(p)
	}
}
