package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/fieldcert/moodle-aks/internal/render"
	"github.com/fieldcert/moodle-aks/stacks"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// cliStackFile edits a stack file the way the Pulumi CLI (v3.274) writes
// it. From pulumi/pulumi's source:
//   - `pulumi config set KEY VALUE` stores a config.Value, a string, so the
//     file gets `KEY: "80"` for a number and `KEY: "true"` for a boolean;
//   - `--secret` stores `{secure: <ciphertext>}`;
//   - `--path a.b VALUE` stores into an object, and adjustObjectValue turns
//     "true"/"false" into booleans and decimal strings without a leading 0
//     into integers;
//   - `pulumi stack init --secrets-provider URL` writes `secretsprovider`
//     and `encryptedkey` at the top of the file.
type cliStackFile struct{ doc map[string]any }

func (f *cliStackFile) config() map[string]any {
	c, _ := f.doc["config"].(map[string]any)
	if c == nil {
		c = map[string]any{}
		f.doc["config"] = c
	}
	return c
}

func adjustObjectValue(v string) any {
	switch {
	case v == "true":
		return true
	case v == "false":
		return false
	case len(v) > 1 && v[0] == '0':
		return v
	}
	if i, err := strconv.Atoi(v); err == nil {
		return i
	}
	return v
}

// set applies one `pulumi config set` command's arguments.
func (f *cliStackFile) set(t *testing.T, key, value string, secret, path bool) {
	var v any = value
	if secret {
		v = map[string]any{"secure": "v1:bm90LWEtcmVhbC1jaXBoZXJ0ZXh0"}
	}
	if !path {
		f.config()["moodle-aks:"+key] = v
		return
	}
	parts := strings.Split(key, ".")
	full := "moodle-aks:" + parts[0]
	obj, _ := f.config()[full].(map[string]any)
	if obj == nil {
		obj = map[string]any{}
		f.config()[full] = obj
	}
	for _, p := range parts[1 : len(parts)-1] {
		next, _ := obj[p].(map[string]any)
		if next == nil {
			next = map[string]any{}
			obj[p] = next
		}
		obj = next
	}
	if !secret {
		v = adjustObjectValue(value)
	}
	obj[parts[len(parts)-1]] = v
}

// configSetRE matches the `pulumi config set` commands of the docs.
var configSetRE = regexp.MustCompile(`pulumi config set((?: --secret| --path)*) '?([A-Za-z][A-Za-z0-9.]*)'?(?: ([^\s` + "`" + `<>]+))?(?: --stack (\S+))?`)

// TestRendererAcceptsWhatTheCLIWrites applies the README's and the
// runbooks' `pulumi stack init` and `pulumi config set` commands to each
// committed stack file exactly as the CLI would write them, then renders:
// the renderer must accept what the CLI accepts (exit 0).
func TestRendererAcceptsWhatTheCLIWrites(t *testing.T) {
	var cmds [][]string
	for _, doc := range []string{"README.md", "docs/migration.md", "docs/restore.md"} {
		b, err := os.ReadFile(filepath.Join(root, doc))
		require.NoError(t, err)
		for _, m := range configSetRE.FindAllStringSubmatch(string(b), -1) {
			if m[2] == "--secret" || m[2] == "" {
				continue
			}
			cmds = append(cmds, m)
		}
	}
	require.Greater(t, len(cmds), 15, "the docs' config commands were found")
	for _, stack := range []string{"dev", "prod", "prod-eu"} {
		b, err := os.ReadFile(filepath.Join(root, "Pulumi."+stack+".yaml"))
		require.NoError(t, err)
		f := &cliStackFile{}
		require.NoError(t, yaml.Unmarshal(b, &f.doc))
		f.doc["encryptedkey"] = "Y2lwaGVydGV4dC1vZi10aGUtZGF0YS1rZXk="
		applied := 0
		for _, m := range cmds {
			if m[4] != "" && m[4] != stack {
				continue
			}
			value := m[3]
			if value == "" && !strings.Contains(m[1], "--secret") {
				continue // a command shown without its value
			}
			if strings.Contains(m[1], "--secret") && value == "" {
				value = "prompted-secret"
			}
			f.set(t, m[2], value, strings.Contains(m[1], "--secret"), strings.Contains(m[1], "--path"))
			applied++
		}
		require.Greater(t, applied, 10, stack)
		// Top-level sets write strings: the renderer must take "80" for an integer.
		f.set(t, "webMaxReplicas", "4", false, false)
		out, err := yaml.Marshal(f.doc)
		require.NoError(t, err)
		assert.Contains(t, string(out), `moodle-aks:webMaxReplicas: "4"`, "the CLI's write format: a quoted string")
		assert.Contains(t, string(out), `moodle-aks:dnsTtlSeconds: "3600"`)
		path := filepath.Join(t.TempDir(), "Pulumi."+stack+".yaml")
		require.NoError(t, os.WriteFile(path, out, 0o644))
		r := renderCLI(t, stacks.Program, "-stack", stack, "-config", path)
		assert.Equal(t, render.ExitOK, r.code, "%s after the docs' commands: %s", stack, r.stderr)
	}
}

// TestStackFilesCarryTheirSecretsProvider: a stack file without its
// secrets provider makes `pulumi preview` ask for a passphrase in CI. Each
// committed stack names an Azure Key Vault key of its own, in a vault of its
// residency boundary.
func TestStackFilesCarryTheirSecretsProvider(t *testing.T) {
	for _, stack := range []string{"dev", "prod", "prod-eu"} {
		b, err := os.ReadFile(filepath.Join(root, "Pulumi."+stack+".yaml"))
		require.NoError(t, err)
		var f struct {
			SecretsProvider string         `yaml:"secretsprovider"`
			Config          map[string]any `yaml:"config"`
		}
		require.NoError(t, yaml.Unmarshal(b, &f), stack)
		residency, _ := f.Config["moodle-aks:residency"].(string)
		require.NotEmpty(t, residency, stack)
		assert.Regexp(t, `^azurekeyvault://kv-moodle-`+residency+`\.vault\.azure\.net/keys/pulumi-`+regexp.QuoteMeta(stack)+`$`, f.SecretsProvider,
			"%s: secretsprovider is the %s boundary's vault and the stack's own key", stack, residency)
	}
}

// TestScalarConfigKeepsItsLiteralText: the CLI keeps a top-level scalar as
// written (a config.Value is its text), so an unquoted 1.30 is "1.30", not
// the number 1.3: it is held against the AKS calendar as 1.30 (and refused,
// since 1.30 has ended), not refused as a malformed or too old "1.3". An
// unquoted 1.36 renders as "1.36".
func TestScalarConfigKeepsItsLiteralText(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Pulumi.dev.yaml"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "Pulumi.dev.yaml")
	require.NoError(t, os.WriteFile(path, append(b, []byte("  moodle-aks:kubernetesVersion: 1.30\n")...), 0o644))
	r := renderCLI(t, stacks.Program, "-stack", "dev", "-config", path)
	require.Equal(t, render.ExitInvalid, r.code, r.stderr)
	assert.Contains(t, r.stderr, `config moodle-aks:kubernetesVersion: "1.30": AKS community support (KubernetesOfficial) ended on 2025-08-22`)

	require.NoError(t, os.WriteFile(path, append(b, []byte("  moodle-aks:kubernetesVersion: 1.36\n")...), 0o644))
	r = renderCLI(t, stacks.Program, "-stack", "dev", "-config", path)
	require.Equal(t, render.ExitOK, r.code, r.stderr)
	var version any
	for _, res := range r.resources {
		if strings.HasSuffix(res.Type, ":ManagedCluster") {
			version = res.Inputs["kubernetesVersion"]
		}
	}
	assert.Equal(t, "1.36", version)
}
