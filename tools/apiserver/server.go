package apiserver

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
)

// Version is the Kubernetes release the check's API server is built from:
// go.mod pins k8s.io/kubernetes and its staging modules to it. Its minor
// must be the clusters' (the test refuses a stack on another minor).
const Version = "v1.35.4"

// LDFlags stamp the server with its version, as Kubernetes' own build
// does (hack/lib/version.sh); without them it reports v0.0.0.
func LDFlags() string {
	minor := strings.Split(strings.TrimPrefix(Version, "v"), ".")[1]
	return strings.Join([]string{
		"-X k8s.io/component-base/version.gitVersion=" + Version,
		"-X k8s.io/component-base/version.gitMajor=1",
		"-X k8s.io/component-base/version.gitMinor=" + minor,
		"-X k8s.io/component-base/version.gitTreeState=clean",
	}, " ")
}

// Build builds kube-apiserver into dir (go's build cache makes a rebuild
// of an unchanged module a link at most) and returns its path.
func Build(moduleDir, dir string) (string, error) {
	out := filepath.Join(dir, "kube-apiserver")
	cmd := exec.Command("go", "build", "-ldflags", LDFlags(), "-o", out, "k8s.io/kubernetes/cmd/kube-apiserver")
	cmd.Dir = moduleDir
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building kube-apiserver %s: %w\n%s", Version, err, b)
	}
	return out, nil
}

// Server is an etcd and a kube-apiserver on loopback, with a token in
// system:masters.
type Server struct {
	// Host is the API server's https URL.
	Host string
	// Token authenticates as an administrator (group system:masters).
	Token string
	dir   string
	procs []*proc
	logs  []string
}

// proc is a started process; done closes when it has exited.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start runs etcd (from PATH: Debian's etcd-server package) and the given
// kube-apiserver binary in a fresh folder under dir, and waits until the
// API server is ready. Stop ends both and removes the folder.
func Start(apiserverBin, dir string) (*Server, error) {
	etcd, err := exec.LookPath("etcd")
	if err != nil {
		return nil, errors.New("etcd is not installed: apt-get install etcd-server (Debian's package; .ci/run installs it)")
	}
	work, err := os.MkdirTemp(dir, "apiserver-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: work}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()

	clientPort, err := freePort()
	if err != nil {
		return nil, err
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	if err := s.run(etcd, "etcd",
		"--name", "check",
		"--data-dir", filepath.Join(work, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "check="+peerURL,
		"--log-level", "warn",
	); err != nil {
		return nil, err
	}
	if err := waitFor(30*time.Second, func() error {
		resp, err := http.Get(etcdURL + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("etcd health: %s", resp.Status)
		}
		return nil
	}); err != nil {
		return nil, s.failed("etcd did not become healthy", err)
	}

	// The service account signing key, and a static admin token.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	keyFile := filepath.Join(work, "sa.key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	pubFile := filepath.Join(work, "sa.pub")
	if err := os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		return nil, err
	}
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	s.Token = hex.EncodeToString(tok)
	tokens := filepath.Join(work, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(s.Token+",check-admin,check-admin,\"system:masters\"\n"), 0o600); err != nil {
		return nil, err
	}

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.Host = "https://127.0.0.1:" + strconv.Itoa(port)
	if err := s.run(apiserverBin, "kube-apiserver",
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", strconv.Itoa(port),
		"--cert-dir", filepath.Join(work, "certs"),
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", pubFile, "--service-account-signing-key-file", keyFile,
		"--service-cluster-ip-range", "10.0.0.0/16",
		"--token-auth-file", tokens,
		"--authorization-mode", "RBAC",
		// As AKS runs it: privileged containers are allowed by the server
		// and left to Pod Security admission (on by default, as are the
		// other admission plugins that judge these objects: NamespaceLifecycle,
		// ServiceAccount, the webhooks, ValidatingAdmissionPolicy).
		"--allow-privileged=true",
		"--v", "1",
	); err != nil {
		return nil, err
	}
	cfg := s.Config()
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	if err := waitFor(90*time.Second, func() error {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, s.Host+"/readyz", nil)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return s.alive()
	}); err != nil {
		return nil, s.failed("kube-apiserver did not become ready", err)
	}
	ok = true
	return s, nil
}

// Config is a client config for the server (its serving certificate is
// self-signed, so it is not verified).
func (s *Server) Config() *rest.Config {
	return &rest.Config{
		Host:            s.Host,
		BearerToken:     s.Token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		QPS:             500, Burst: 1000,
		Timeout: 30 * time.Second,
	}
}

// run starts a process with its output in a log file of the work folder.
func (s *Server) run(bin, name string, args ...string) error {
	logPath := filepath.Join(s.dir, name+".log")
	log, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, so that Stop ends it and nothing it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if runtime.GOOS == "linux" {
		// Die with the test if it is killed.
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	s.procs = append(s.procs, p)
	s.logs = append(s.logs, logPath)
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return nil
}

// alive fails when a process has exited.
func (s *Server) alive() error {
	for _, p := range s.procs {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %v", p.name, p.err)
		default:
		}
	}
	return nil
}

// failed wraps err with the end of each process's log.
func (s *Server) failed(what string, err error) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %v", what, err)
	for _, l := range s.logs {
		data, _ := os.ReadFile(l)
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "\n--- %s (end) ---\n%s", filepath.Base(l), data)
	}
	return errors.New(b.String())
}

// Stop ends the API server, then etcd, and removes their folder.
func (s *Server) Stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

func waitFor(d time.Duration, check func() error) error {
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return err
}
