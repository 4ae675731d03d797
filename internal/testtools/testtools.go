// Package testtools finds the real programs the tests run (Prometheus,
// promtool, the chart's Alertmanager and amtool, an SMTP server), which
// tests/imagerun/install-packages.sh installs; a test calls it when one is
// missing, so the README's test command works on a fresh machine as root. Only tests
// import this package.
package testtools

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// AlertmanagerVersion is the Alertmanager the pinned kube-prometheus-stack
// chart runs (tools/chartcheck holds the two equal), built from its module.
const AlertmanagerVersion = "0.34.0"

// Root is the repository's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

var installed bool

// install runs the install script once per test binary.
func install(t testing.TB) {
	t.Helper()
	if installed {
		return
	}
	out, err := exec.Command("bash", filepath.Join(Root(), "tests", "imagerun", "install-packages.sh")).CombinedOutput()
	if err != nil {
		t.Fatalf("tests/imagerun/install-packages.sh (run as root, or install what it names): %v\n%s", err, out)
	}
	installed = true
}

// find returns path when it is an executable file, installing first if
// it is not.
func find(t testing.TB, path string) string {
	t.Helper()
	if st, err := os.Stat(path); err != nil || st.Mode()&0o111 == 0 {
		install(t)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing after tests/imagerun/install-packages.sh", path)
	}
	return path
}

// Alertmanager returns the chart's alertmanager and amtool.
func Alertmanager(t testing.TB) (alertmanager, amtool string) {
	t.Helper()
	dir := "/opt/moodle-aks/alertmanager-" + AlertmanagerVersion
	return find(t, filepath.Join(dir, "alertmanager")), find(t, filepath.Join(dir, "amtool"))
}

// Prometheus returns Debian's prometheus and promtool.
func Prometheus(t testing.TB) (prometheus, promtool string) {
	t.Helper()
	return find(t, "/usr/bin/prometheus"), find(t, "/usr/bin/promtool")
}

// Python returns Debian's python3, which has aiosmtpd (a pyenv or venv
// python3 earlier on PATH would not).
func Python(t testing.TB) string {
	t.Helper()
	p := find(t, "/usr/bin/python3")
	if exec.Command(p, "-c", "import aiosmtpd").Run() != nil {
		install(t)
	}
	return p
}

// Buffer collects a process's output for assertions; the process writes
// while the test reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
