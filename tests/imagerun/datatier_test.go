package imagerun

// The replicated data tier on loopback, as the rendered stack asks for it:
//
//   - MariaDB (Debian's; the cluster runs Percona Server 8.4) as a primary
//     and a GTID replica, both TLS only for the Moodle and backup users,
//     behind HAProxy with the configuration the PerconaServerMySQL renders
//     (Percona's global configuration with the stack's maxconn) and its
//     backends as Percona's haproxy_add_mysql_nodes.sh writes them (the
//     primary, the replica as backup, the replica alone on the read port),
//     checked over TCP instead of Percona's scripts;
//   - the sessions Redis Cluster of six nodes (three leaders, three
//     followers, leader i and follower i paired), each started by OT's own
//     image entrypoint (testdata/ot-redis, from OT-CONTAINER-KIT/redis) with
//     the environment the redis-operator gives its pods and the
//     redis-additional.conf the stack renders, then joined as the operator
//     joins them (redis-cli --cluster create, add-node --cluster-slave);
//   - the cache Redis with its rendered redis.conf (TLS only).
//
// Certificates come from a CA of the test's own, as the data tier CA's do.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// dataTLSDir is where Moodle's pods mount their data tier certificate
// (components/moodle DataTLSDir).
const dataTLSDir = "/etc/moodle/data-tls"

// Ports of the proxy, as Percona's HAProxy binds them (fixed).
const (
	proxyWritePort = 3306
	proxyReadPort  = 3307
	proxyStatsPort = 8404
)

// redisNode is one node of the sessions cluster.
type redisNode struct {
	name string // redis-sessions-leader-0, ...
	port int
	dir  string
	cmd  *exec.Cmd
}

// dataTier is what the site runs its Moodle against.
type dataTier struct {
	tlsDir                   string // ca.crt, tls.crt, tls.key: the clients'
	primaryPort, replicaPort int
	nodes                    []*redisNode
	rootPassword             string
}

// issue writes a certificate (and key) signed by the CA into dir as
// <name>.crt and <name>.key.
func issue(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string, ips []string, client bool) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	writePEM(t, filepath.Join(dir, name+".crt"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(dir, name+".key"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644))
}

// certificates makes the test's data tier CA and the certificates signed
// by it: Moodle's (tls.*, a client), the servers' (cache: its address is
// its name; mysql; sessions: a client too, the nodes talk to each other).
func (s *site) certificates() string {
	t := s.t
	dir := filepath.Join(s.w, "tls")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test data tier CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	writePEM(t, filepath.Join(dir, "ca.crt"), "CERTIFICATE", der)
	issue(t, dir, "tls", ca, caKey, "moodle", nil, true)
	issue(t, dir, "cache", ca, caKey, "redis-cache", []string{cacheHost}, false)
	issue(t, dir, "mysql", ca, caKey, "mysql-mysql", []string{"127.0.0.1"}, true)
	issue(t, dir, "sessions", ca, caKey, "redis-sessions", []string{"127.0.0.1"}, true)
	// What the pod's secret volume holds at dataTLSDir: ca.crt, tls.crt, tls.key.
	for _, f := range []string{"ca.crt", "tls.crt", "tls.key"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(s.path(filepath.Join(dataTLSDir, f)), b, 0o644))
	}
	return dir
}

// mariadb starts one MariaDB server on loopback (port), TLS with the
// test's certificate; the data directory and socket under w/<name>.
func (s *site) mariadb(name string, port, serverID int, replica bool) string {
	t := s.t
	data := filepath.Join(s.w, name)
	require.NoError(t, os.MkdirAll(data, 0o755))
	s.run("chown", "mysql:mysql", data)
	s.run("mariadb-install-db", "--no-defaults", "--user=mysql", "--datadir="+data, "--auth-root-authentication-method=socket", "--skip-test-db")
	sock := filepath.Join(data, "mysqld.sock")
	tlsDir := s.data.tlsDir
	args := []string{"--no-defaults", "--user=mysql", "--datadir=" + data, "--socket=" + sock,
		"--bind-address=127.0.0.1", "--port=" + strconv.Itoa(port), "--pid-file=" + filepath.Join(data, "mysqld.pid"),
		"--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci", "--skip-name-resolve",
		"--innodb-buffer-pool-size=256M", "--max-connections=200", "--max-allowed-packet=64M",
		"--server-id=" + strconv.Itoa(serverID), "--log-bin=mysql-bin", "--binlog-format=ROW", "--log-slave-updates",
		"--ssl-ca=" + filepath.Join(tlsDir, "ca.crt"), "--ssl-cert=" + filepath.Join(tlsDir, "mysql.crt"), "--ssl-key=" + filepath.Join(tlsDir, "mysql.key"),
		// The replica shows which statements reach it (Moodle's reads).
		"--general-log=" + map[bool]string{true: "1", false: "0"}[replica], "--general-log-file=" + filepath.Join(data, "general.log"),
	}
	if replica {
		args = append(args, "--read-only=1")
	}
	// The key is mysql's to read.
	s.run("chown", "mysql", filepath.Join(tlsDir, "mysql.key"))
	s.mariadbArgs[name] = args
	s.startMariaDB(name)
	return sock
}

// startMariaDB starts (or starts again) a server mariadb made; a replica
// resumes replicating from where it stopped.
func (s *site) startMariaDB(name string) {
	sock := filepath.Join(s.w, name, "mysqld.sock")
	s.start("mariadbd", s.mariadbArgs[name]...)
	s.waitFor("MariaDB "+name, func() bool {
		return exec.Command("mariadb-admin", "--no-defaults", "-S", sock, "-uroot", "ping").Run() == nil
	})
}

// sqlAt runs statements as root on one server's socket.
func (s *site) sqlAt(sock, q string) string {
	s.t.Helper()
	out, err := exec.Command("mariadb", "--no-defaults", "-S", sock, "-uroot", "-N", "-B", "-e", q).CombinedOutput()
	require.NoError(s.t, err, "%s: %s", q, out)
	return strings.TrimSpace(string(out))
}

// waitReplicating waits until the replica's IO and SQL threads run.
func (s *site) waitReplicating() {
	s.waitFor("replication", func() bool {
		out, err := exec.Command("mariadb", "--no-defaults", "-S", s.replicaSock(), "-uroot", "-e", "SHOW SLAVE STATUS\\G").CombinedOutput()
		return err == nil && strings.Contains(string(out), "Slave_IO_Running: Yes") && strings.Contains(string(out), "Slave_SQL_Running: Yes")
	})
}

func (s *site) primarySock() string { return filepath.Join(s.w, "mysql", "mysqld.sock") }
func (s *site) replicaSock() string { return filepath.Join(s.w, "mysql-replica", "mysqld.sock") }

// startDatabase starts the primary and its replica, replicating by GTID,
// with root reachable over TCP as the cluster's root is.
func (s *site) startDatabase() {
	d := &s.data
	d.primaryPort, d.replicaPort = freePort(s.t), freePort(s.t)
	primary := s.mariadb("mysql", d.primaryPort, 1, false)
	replica := s.mariadb("mysql-replica", d.replicaPort, 2, true)
	d.rootPassword = secret(s.t)
	repl := secret(s.t)
	// The replication user first, then the replica from the primary's first
	// event: every later statement (users, Moodle's schema) replicates.
	s.sqlAt(primary, fmt.Sprintf("SET sql_log_bin=0; CREATE USER 'replication'@'%%' IDENTIFIED BY '%s'; GRANT REPLICATION SLAVE ON *.* TO 'replication'@'%%'; SET sql_log_bin=1;", repl))
	s.sqlAt(replica, fmt.Sprintf("SET GLOBAL gtid_slave_pos=''; CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='replication', MASTER_PASSWORD='%s', MASTER_USE_GTID=slave_pos, MASTER_SSL=1; START SLAVE;",
		d.primaryPort, repl))
	s.sqlAt(primary, fmt.Sprintf("CREATE USER 'root'@'%%' IDENTIFIED BY '%s'; GRANT ALL ON *.* TO 'root'@'%%' WITH GRANT OPTION;", d.rootPassword))
	s.waitReplicating()
	s.waitFor("root on the replica", func() bool {
		return s.sqlAt(replica, "SELECT COUNT(*) FROM mysql.user WHERE user='root' AND host='%'") == "1"
	})
}

// crFile reads the prod stack's rendered PerconaServerMySQL or RedisCluster
// (prod's: three members, three leaders with a follower each).
func crFile(t *testing.T, pattern string, out any) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "rendered", "prod", "kubernetes", pattern))
	require.NoError(t, err)
	require.Len(t, files, 1, pattern)
	b, err := os.ReadFile(files[0])
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, out))
}

type perconaCR struct {
	Spec struct {
		MySQL struct {
			Sidecars []struct {
				Name string   `yaml:"name"`
				Args []string `yaml:"args"`
			} `yaml:"sidecars"`
		} `yaml:"mysql"`
		Proxy struct {
			HAProxy struct {
				Configuration string `yaml:"configuration"`
				Env           []struct {
					Name  string `yaml:"name"`
					Value string `yaml:"value"`
				} `yaml:"env"`
			} `yaml:"haproxy"`
		} `yaml:"proxy"`
	} `yaml:"spec"`
}

// haproxyBackends writes the backends as Percona's haproxy_add_mysql_nodes.sh
// does (v1.1.0): the primary, the others as backup, in mysql-primary; the
// secondaries in mysql-replicas; with the server options the stack sets
// (HA_SERVER_OPTIONS). Checks are HAProxy's own TCP checks: Percona's
// external check scripts need its mysql image.
func haproxyBackends(opts string, primary int, replicas ...int) string {
	var b strings.Builder
	server := func(name string, port int, extra string) {
		fmt.Fprintf(&b, "      server %s 127.0.0.1:%d %s%s\n", name, port, opts, extra)
	}
	fmt.Fprintf(&b, "    backend mysql-primary\n      mode tcp\n      option srvtcpka\n      balance roundrobin\n")
	server("mysql-mysql-0", primary, " on-marked-up shutdown-backup-sessions")
	for i, p := range replicas {
		server(fmt.Sprintf("mysql-mysql-%d", i+1), p, " backup")
	}
	fmt.Fprintf(&b, "    backend mysql-replicas\n      mode tcp\n      option srvtcpka\n      balance roundrobin\n")
	for i, p := range replicas {
		server(fmt.Sprintf("mysql-mysql-%d", i+1), p, "")
	}
	for _, be := range []string{"mysql-x", "mysql-admin"} {
		fmt.Fprintf(&b, "    backend %s\n      mode tcp\n      balance roundrobin\n", be)
		server("mysql-mysql-0", primary, "")
	}
	return b.String()
}

// startProxy runs HAProxy with the stack's rendered global configuration
// (checked first with haproxy -c, as Percona's entrypoint does) and the
// backends, in a mount namespace whose /etc/haproxy/mysql is the test's.
func (s *site) startProxy() {
	t := s.t
	var cr perconaCR
	crFile(t, "data/perconaservermysql-mysql.yaml", &cr)
	h := cr.Spec.Proxy.HAProxy
	require.Contains(t, h.Configuration, "frontend mysql-primary-in", "the rendered configuration is Percona's")
	opts := ""
	for _, e := range h.Env {
		if e.Name == "HA_SERVER_OPTIONS" {
			opts = e.Value
		}
	}
	require.NotEmpty(t, opts)
	dir := filepath.Join(s.w, "haproxy")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	global := filepath.Join(dir, "haproxy-global.cfg")
	require.NoError(t, os.WriteFile(global, []byte(h.Configuration), 0o644))
	backends := filepath.Join(dir, "haproxy.cfg")
	require.NoError(t, os.WriteFile(backends, []byte(haproxyBackends(opts, s.data.primaryPort, s.data.replicaPort)), 0o644))
	mnt := "/etc/haproxy/mysql"
	if _, err := os.Stat(mnt); os.IsNotExist(err) {
		s.created = append(s.created, mnt)
	}
	sh := fmt.Sprintf("set -e; mkdir -p %s; mount --make-rprivate /; mount --bind %s %s; haproxy -c -f %s -f %s; exec haproxy -W -db -f %s -f %s", mnt, dir, mnt, global, backends, global, backends)
	s.start("unshare", "--mount", "--propagation", "private", "sh", "-c", sh)
	s.waitFor("HAProxy", func() bool { return dial(proxyWritePort) && dial(proxyReadPort) && dial(proxyStatsPort) })
}

type redisClusterCR struct {
	Spec struct {
		ClusterVersion     string `yaml:"clusterVersion"`
		Port               int    `yaml:"port"`
		PersistenceEnabled bool   `yaml:"persistenceEnabled"`
		ClusterSize        int    `yaml:"clusterSize"`
		TLS                *struct {
			CA, Cert, Key string
		} `yaml:"TLS"`
		Env []struct {
			Name  string `yaml:"name"`
			Value string `yaml:"value"`
		} `yaml:"env"`
		RedisFollower struct {
			Replicas int `yaml:"replicas"`
		} `yaml:"redisFollower"`
	} `yaml:"spec"`
}

// otEnv is the environment the redis-operator gives a cluster pod
// (internal/k8sutils/statefulset.go getEnvironmentVariables and
// GenerateTLSEnvironmentVariables at 0bc34813), from the rendered
// RedisCluster; port is the node's (pods share 6379, each on its own
// address; here the nodes share an address, each on its own port).
func otEnv(cr redisClusterCR, password string, port int) []string {
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SERVER_MODE=cluster", "SETUP_MODE=cluster",
		"REDIS_MAJOR_VERSION=" + cr.Spec.ClusterVersion, "REDIS_PORT=" + strconv.Itoa(port),
		"REDIS_ADDR=redis://localhost:6379", "REDIS_PASSWORD=" + password, "REDISCLI_AUTH=" + password}
	if cr.Spec.TLS != nil {
		env = append(env, "TLS_MODE=true", "REDIS_TLS_CA_CERT=/tls/"+cr.Spec.TLS.CA, "REDIS_TLS_CERT=/tls/"+cr.Spec.TLS.Cert, "REDIS_TLS_CERT_KEY=/tls/"+cr.Spec.TLS.Key)
	}
	if cr.Spec.PersistenceEnabled {
		env = append(env, "PERSISTENCE_ENABLED=true")
	}
	for _, e := range cr.Spec.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	return env
}

// startNode starts (or restarts) one node: OT's entrypoint in a mount and
// UTS namespace holding the pod's /etc/redis (the image's redis.conf, the
// rendered additional config), /data, /node-conf and /tls, and a hostname
// that resolves to the node's address, as the pod's does.
func (s *site) startNode(n *redisNode, cr redisClusterCR, extra string) {
	t := s.t
	ot := filepath.Join(root, "tests", "imagerun", "testdata", "ot-redis")
	for _, d := range []string{"etc/external.conf.d", "data", "node-conf", "tls"} {
		require.NoError(t, os.MkdirAll(filepath.Join(n.dir, d), 0o755))
	}
	base, err := os.ReadFile(filepath.Join(ot, "redis.conf"))
	require.NoError(t, err)
	// The entrypoint appends to the image's redis.conf at every start.
	require.NoError(t, os.WriteFile(filepath.Join(n.dir, "etc", "redis.conf"), base, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(n.dir, "etc", "external.conf.d", "redis-additional.conf"), []byte(extra), 0o644))
	for _, f := range []string{"ca.crt", "sessions.crt", "sessions.key"} {
		b, err := os.ReadFile(filepath.Join(s.data.tlsDir, f))
		require.NoError(t, err)
		dst := map[string]string{"ca.crt": "ca.crt", "sessions.crt": "tls.crt", "sessions.key": "tls.key"}[f]
		require.NoError(t, os.WriteFile(filepath.Join(n.dir, "tls", dst), b, 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(n.dir, "hosts"), []byte("127.0.0.1 "+n.name+" localhost\n"), 0o644))
	var sh strings.Builder
	fmt.Fprintf(&sh, "set -e; mount --make-rprivate /; hostname %s\n", n.name)
	for src, dst := range map[string]string{"etc": "/etc/redis", "data": "/data", "node-conf": "/node-conf", "tls": "/tls", "hosts": "/etc/hosts"} {
		if dst != "/etc/hosts" {
			fmt.Fprintf(&sh, "mkdir -p %s; ", dst)
		}
		fmt.Fprintf(&sh, "mount --bind %s %s\n", filepath.Join(n.dir, src), dst)
	}
	fmt.Fprintf(&sh, "exec env -i %s bash %s\n", strings.Join(otEnv(cr, s.secrets["moodle-redis"]["sessions-password"], n.port), " "), filepath.Join(ot, "entrypoint.sh"))
	for _, p := range []string{"/etc/redis", "/data", "/node-conf", "/tls"} {
		if _, err := os.Stat(p); os.IsNotExist(err) {
			s.created = append(s.created, p)
		}
	}
	cmd := exec.Command("unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c", sh.String())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log, err := os.OpenFile(filepath.Join(s.w, n.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(t, cmd.Start())
	n.cmd = cmd
	s.procs = append(s.procs, cmd)
	s.waitFor("Redis node "+n.name, func() bool { return s.clusterCLIOK(n.port, "PING") == "PONG" })
}

// cli runs redis-cli against one node with the clients' certificate.
func (s *site) cli(port int, args ...string) (string, error) {
	tls := s.data.tlsDir
	a := append([]string{"--tls", "--cacert", filepath.Join(tls, "ca.crt"), "--cert", filepath.Join(tls, "tls.crt"), "--key", filepath.Join(tls, "tls.key"),
		"-h", "127.0.0.1", "-p", strconv.Itoa(port), "--no-auth-warning", "-a", s.secrets["moodle-redis"]["sessions-password"]}, args...)
	out, err := exec.Command("redis-cli", a...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (s *site) clusterCLIOK(port int, args ...string) string {
	out, err := s.cli(port, args...)
	if err != nil {
		return ""
	}
	return out
}

func (s *site) clusterCLI(port int, args ...string) string {
	s.t.Helper()
	out, err := s.cli(port, args...)
	require.NoError(s.t, err, "redis-cli -p %d %v: %s", port, args, out)
	return out
}

// sessionsExtraConfig is the rendered redis-additional.conf of the sessions
// cluster (the ConfigMap the RedisCluster includes).
func sessionsExtraConfig(t *testing.T) string {
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	crFile(t, "data/configmap-redis-sessions-config.yaml", &cm)
	c := cm.Data["redis-additional.conf"]
	require.NotEmpty(t, c)
	return c
}

// startSessionsCluster starts the six nodes and joins them as the
// operator does: the leaders into a cluster, then follower i as a replica
// of leader i (internal/k8sutils/redis.go, add-node --cluster-slave).
func (s *site) startSessionsCluster() {
	t := s.t
	var cr redisClusterCR
	crFile(t, "data/rediscluster-redis-sessions.yaml", &cr)
	require.Equal(t, 3, cr.Spec.ClusterSize)
	require.Equal(t, 3, cr.Spec.RedisFollower.Replicas)
	extra := sessionsExtraConfig(t)
	for _, role := range []string{"leader", "follower"} {
		for i := 0; i < cr.Spec.ClusterSize; i++ {
			n := &redisNode{name: fmt.Sprintf("redis-sessions-%s-%d", role, i), port: freePort(t)}
			n.dir = filepath.Join(s.w, n.name)
			s.data.nodes = append(s.data.nodes, n)
			s.startNode(n, cr, extra)
		}
	}
	var leaders []string
	for _, n := range s.data.nodes[:3] {
		leaders = append(leaders, "127.0.0.1:"+strconv.Itoa(n.port))
	}
	tls := s.data.tlsDir
	cliTLS := []string{"--tls", "--cacert", filepath.Join(tls, "ca.crt"), "--cert", filepath.Join(tls, "tls.crt"), "--key", filepath.Join(tls, "tls.key")}
	env := append(os.Environ(), "REDISCLI_AUTH="+s.secrets["moodle-redis"]["sessions-password"])
	create := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, leaders...), append([]string{"--cluster-yes"}, cliTLS...)...)...)
	create.Env = env
	out, err := create.CombinedOutput()
	require.NoError(t, err, "redis-cli --cluster create: %s", out)
	for i := 0; i < 3; i++ {
		leader, follower := s.data.nodes[i], s.data.nodes[3+i]
		id := s.clusterCLI(leader.port, "CLUSTER", "MYID")
		add := exec.Command("redis-cli", append([]string{"--cluster", "add-node", "127.0.0.1:" + strconv.Itoa(follower.port), "127.0.0.1:" + strconv.Itoa(leader.port),
			"--cluster-slave", "--cluster-master-id", id}, cliTLS...)...)
		add.Env = env
		out, err := add.CombinedOutput()
		require.NoError(t, err, "add-node %s: %s", follower.name, out)
	}
	s.waitFor("the sessions cluster", func() bool {
		info := s.clusterCLIOK(s.data.nodes[0].port, "CLUSTER", "INFO")
		nodes := s.clusterCLIOK(s.data.nodes[0].port, "CLUSTER", "NODES")
		return strings.Contains(info, "cluster_state:ok") && strings.Count(nodes, "slave") == 3
	})
}

// seeds are what Moodle is given: two nodes, as two Services would be.
func (s *site) seeds() string {
	return "127.0.0.1:" + strconv.Itoa(s.data.nodes[0].port) + ",127.0.0.1:" + strconv.Itoa(s.data.nodes[3].port)
}

// masterOf is the live node that serves a key's slot now, nil if none.
func (s *site) masterOf(key string) *redisNode {
	s.t.Helper()
	slot := -1
	for _, n := range s.data.nodes {
		if n.cmd == nil || n.cmd.ProcessState != nil {
			continue // killed: ask a live node
		}
		if out, err := s.cli(n.port, "CLUSTER", "KEYSLOT", key); err == nil {
			if v, err := strconv.Atoi(strings.TrimSpace(out)); err == nil {
				slot = v
				break
			}
		}
	}
	require.GreaterOrEqual(s.t, slot, 0, "a live node names the slot of %s", key)
	for _, n := range s.data.nodes {
		if n.cmd == nil || n.cmd.ProcessState != nil {
			continue
		}
		out, err := s.cli(n.port, "CLUSTER", "NODES")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) < 9 || !strings.Contains(f[2], "myself") || !strings.Contains(f[2], "master") {
				continue
			}
			for _, r := range f[8:] {
				lo, hi, _ := strings.Cut(r, "-")
				a, _ := strconv.Atoi(lo)
				b := a
				if hi != "" {
					b, _ = strconv.Atoi(hi)
				}
				if slot >= a && slot <= b {
					return n
				}
			}
		}
	}
	return nil // none now (mid-failover)
}

// startCache starts the cache Redis with its rendered redis.conf (TLS only,
// on 6379 of its own address) and the test's certificate for that address.
func (s *site) startCache() {
	t := s.t
	conf := configMapData(t, "data/configmap-redis-cache-config.yaml")["redis.conf"]
	require.Contains(t, conf, "tls-port 6379")
	dir := filepath.Join(s.w, "redis-cache")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "tls"), 0o755))
	for src, dst := range map[string]string{"ca.crt": "ca.crt", "cache.crt": "tls.crt", "cache.key": "tls.key"} {
		b, err := os.ReadFile(filepath.Join(s.data.tlsDir, src))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "tls", dst), b, 0o644))
	}
	// The pod mounts its certificate at /tls; here the files sit in the
	// workspace.
	conf = strings.ReplaceAll(conf, " /tls/", " "+filepath.Join(dir, "tls")+"/")
	conf += fmt.Sprintf("\nbind %s\ndir %s\ndaemonize no\n", cacheHost, dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "redis.conf"), []byte(conf), 0o600))
	pw := s.secrets["moodle-redis"]["cache-password"]
	s.start("redis-server", filepath.Join(dir, "redis.conf"), "--requirepass", pw)
	s.waitFor("the cache Redis", func() bool { return s.cacheOK("PING") == "PONG" })
}

// cache runs redis-cli against the cache instance, over TLS.
func (s *site) cacheOK(args ...string) string {
	a := append([]string{"--tls", "--cacert", filepath.Join(s.data.tlsDir, "ca.crt"), "-h", cacheHost, "-p", "6379", "--no-auth-warning", "-a", s.secrets["moodle-redis"]["cache-password"]}, args...)
	out, err := exec.Command("redis-cli", a...).CombinedOutput()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func (s *site) cache(args ...string) string {
	s.t.Helper()
	a := append([]string{"--tls", "--cacert", filepath.Join(s.data.tlsDir, "ca.crt"), "-h", cacheHost, "-p", "6379", "--no-auth-warning", "-a", s.secrets["moodle-redis"]["cache-password"]}, args...)
	out, err := exec.Command("redis-cli", a...).CombinedOutput()
	require.NoError(s.t, err, "redis-cli (cache) %v: %s", args, out)
	return strings.TrimSpace(string(out))
}
