package imagerun

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// azuriteBin is where install-packages.sh puts Azurite (npm azurite,
// pinned there): Microsoft's Blob Storage emulator.
const azuriteBin = "/opt/moodle-aks/azurite/node_modules/.bin/azurite-blob"

// azuriteKey is Azurite's documented, public development account key
// (https://learn.microsoft.com/azure/storage/common/storage-use-azurite,
// "Well-known storage account and key"): not a secret.
const azuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

// blobStore is a running Azurite and the account the rendered scripts
// name.
type blobStore struct {
	port    int
	account string // the backup account the scripts pass as --account-name
	conn    string // Azurite's connection string
}

// startBlobStore starts Azurite on loopback with a container named like
// the stack's backup container.
func (s *site) startBlobStore(account, container string) *blobStore {
	t := s.t
	_, err := os.Stat(azuriteBin)
	require.NoError(t, err, "Azurite is installed by tests/imagerun/install-packages.sh")
	b := &blobStore{port: freePort(t), account: account}
	dir := filepath.Join(s.w, "azurite")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	s.start(azuriteBin, "--silent", "--location", dir, "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(b.port),
		// The Azure CLI Debian ships (2.45) speaks an older API version than
		// this Azurite's newest; the requests are the same.
		"--skipApiVersionCheck", "--loose")
	s.waitFor("Azurite", func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(b.port), 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	b.conn = fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=%s;BlobEndpoint=http://127.0.0.1:%d/devstoreaccount1;", azuriteKey, b.port)
	out, err := b.az(s, "storage", "container", "create", "--name", container, "--output", "none")
	require.NoError(t, err, "%s", out)
	return b
}

// az runs the real Azure CLI against Azurite (for the test's own setup and
// checks).
func (b *blobStore) az(s *site, args ...string) (string, error) {
	cmd := exec.Command("/usr/bin/az", args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + filepath.Join(s.w, "az-home"), "AZURE_STORAGE_CONNECTION_STRING=" + b.conn,
		"AZURE_CORE_COLLECT_TELEMETRY=no", "AZURE_CORE_ONLY_SHOW_ERRORS=yes"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// azShims is a directory with an `az` that runs the rendered scripts'
// commands with the real Azure CLI against Azurite. Only what needs Azure
// AD is stood in for: `az login` with a federated token (the shim checks
// the token file the workload identity webhook mounts is there and
// readable) and `az account set`; `--auth-mode login --account-name X`
// becomes Azurite's connection string, after checking X is the account the
// stack names. Everything else (upload, download, list, their exit codes)
// is the real CLI.
func (b *blobStore) azShims(s *site) string {
	dir := filepath.Join(s.w, "az-shims")
	require.NoError(s.t, os.MkdirAll(dir, 0o755))
	sh := `#!/bin/bash
case "$1 $2" in
"login --service-principal")
  [ -n "$AZURE_CLIENT_ID" ] && [ -n "$AZURE_TENANT_ID" ] || { echo "az shim: AZURE_CLIENT_ID and AZURE_TENANT_ID are the webhook's" >&2; exit 1; }
  [ -s "$AZURE_FEDERATED_TOKEN_FILE" ] || { echo "az shim: no federated token at $AZURE_FEDERATED_TOKEN_FILE" >&2; exit 1; }
  exit 0 ;;
"account set") exit 0 ;;
esac
args=()
while [ $# -gt 0 ]; do
  case "$1" in
  --auth-mode) shift; [ "$1" = login ] || { echo "az shim: --auth-mode $1, not login" >&2; exit 1; } ;;
  --account-name) shift; [ "$1" = "` + b.account + `" ] || { echo "az shim: account $1 is not the stack's" >&2; exit 1; } ;;
  *) args+=("$1") ;;
  esac
  shift
done
export AZURE_STORAGE_CONNECTION_STRING='` + b.conn + `' AZURE_CORE_COLLECT_TELEMETRY=no AZURE_CORE_ONLY_SHOW_ERRORS=yes
exec /usr/bin/az "${args[@]}"
`
	require.NoError(s.t, os.WriteFile(filepath.Join(dir, "az"), []byte(sh), 0o755))
	return dir
}

// blobs lists the container's blob names and sizes ("name size" lines).
func (b *blobStore) blobs(s *site, container string) []string {
	out, err := b.az(s, "storage", "blob", "list", "--container-name", container, "--query", "[].[name, properties.contentLength]", "--output", "tsv")
	require.NoError(s.t, err, "%s", out)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l != "" {
			lines = append(lines, strings.ReplaceAll(l, "\t", " "))
		}
	}
	return lines
}

// jobScript runs a rendered job script as its container does (bash, the
// pod's /work emptyDir) with work bound at /work, or a tmpfs of tmpfsSize
// there instead (a scratch disk that fills). It returns the running
// command and its combined output; wait with exitCode. runAs, when given,
// is the pod's user: "uid:gid:supplementary groups" (setpriv).
func (s *site) jobScript(t *testing.T, name, body, work string, env []string, tmpfsSize string, runAs ...string) (*exec.Cmd, *syncBuffer) {
	script := filepath.Join(s.w, name)
	require.NoError(t, os.WriteFile(script, []byte(body), 0o755))
	if _, err := os.Stat("/work"); os.IsNotExist(err) {
		s.created = append(s.created, "/work")
	}
	mount := fmt.Sprintf("mount --bind %s /work", work)
	if tmpfsSize != "" {
		mount = "mount -t tmpfs -o size=" + tmpfsSize + " tmpfs /work"
	}
	run := "exec bash " + script
	if len(runAs) == 1 {
		ids := strings.Split(runAs[0], ":")
		require.Len(t, ids, 3)
		run = fmt.Sprintf("exec setpriv --reuid=%s --regid=%s --groups=%s bash %s", ids[0], ids[1], ids[2], script)
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		"mount --make-rprivate / && mkdir -p /work && "+mount+" && "+run)
	cmd.Env = env
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	return cmd, &out
}

// exitCode waits for a command and returns its exit status.
func exitCode(t *testing.T, cmd *exec.Cmd) int {
	if err := cmd.Wait(); err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "%v", err)
		return ee.ExitCode()
	}
	return 0
}

// freshDir empties and returns a directory in the workspace.
func (s *site) freshDir(name string) string {
	d := filepath.Join(s.w, name)
	_ = os.RemoveAll(d)
	require.NoError(s.t, os.MkdirAll(d, 0o755))
	return d
}

// manifestFile is a dump's manifest as the dump script writes it:
// "key<TAB>value" lines and "rows<TAB>table<TAB>n" lines.
type manifestFile struct {
	fields map[string]string
	rows   map[string]string
}

func readManifest(t *testing.T, path string) manifestFile {
	t.Helper()
	m := manifestFile{fields: map[string]string{}, rows: map[string]string{}}
	for _, l := range strings.Split(strings.TrimSpace(string(must(os.ReadFile(path)))), "\n") {
		f := strings.Split(l, "\t")
		require.GreaterOrEqual(t, len(f), 2, "manifest line %q", l)
		if f[0] == "rows" {
			require.Len(t, f, 3, "manifest line %q", l)
			m.rows[f[1]] = f[2]
		} else {
			m.fields[f[0]] = strings.Join(f[1:], "\t")
		}
	}
	require.NotEmpty(t, m.rows, "a manifest lists the tables' rows")
	return m
}

// writeManifest writes a copy of the manifest at from that describes
// dumpFile (its bytes and SHA-256), with table rows changed by delta
// ("+1": one more).
func writeManifest(t *testing.T, from, dumpFile, to string, delta map[string]string) {
	t.Helper()
	b := must(os.ReadFile(dumpFile))
	sum := sha256.Sum256(b)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(must(os.ReadFile(from)))), "\n") {
		f := strings.Split(l, "\t")
		switch {
		case f[0] == "sha256":
			l = "sha256\t" + hex.EncodeToString(sum[:])
		case f[0] == "bytes":
			l = "bytes\t" + strconv.Itoa(len(b))
		case f[0] == "rows" && delta[f[1]] != "":
			n, err := strconv.Atoi(f[2])
			require.NoError(t, err)
			d, err := strconv.Atoi(delta[f[1]])
			require.NoError(t, err)
			l = "rows\t" + f[1] + "\t" + strconv.Itoa(n+d)
		}
		lines = append(lines, l)
	}
	require.NoError(t, os.WriteFile(to, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
