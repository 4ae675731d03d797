package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestPulumiYAMLDeclaresEveryKeyTheProgramReads(t *testing.T) {
	// LoadProject validates against Pulumi's own project schema.
	proj, err := workspace.LoadProject(filepath.Join(root, "Pulumi.yaml"))
	require.NoError(t, err)
	assert.Equal(t, infra.Project, proj.Name.String())
	assert.Equal(t, "go", proj.Runtime.Name())
	assert.NotEmpty(t, proj.Description)

	require.Len(t, proj.Config, len(infra.Keys), "Pulumi.yaml and infra.Keys list the same keys")
	for _, k := range infra.Keys {
		decl, ok := proj.Config[k.Name]
		if !assert.True(t, ok, "Pulumi.yaml lacks %s", k.Name) {
			continue
		}
		assert.Equal(t, k.Type, decl.TypeName(), k.Name)
		assert.NotEmpty(t, decl.Description, k.Name)
		if k.Default == nil {
			assert.Nil(t, decl.Default, "%s is required: no default", k.Name)
			continue
		}
		got, err := yaml.Marshal(decl.Default)
		require.NoError(t, err)
		want, err := yaml.Marshal(k.Default)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), "default of %s", k.Name)
	}
}

func TestPulumiYAMLConfigBlockIsGenerated(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Pulumi.yaml"))
	require.NoError(t, err)
	text := string(b)
	i := strings.Index(text, "\nconfig:\n")
	require.GreaterOrEqual(t, i, 0)
	assert.Equal(t, infra.PulumiYAMLConfig(), text[i+1:],
		"Pulumi.yaml's config block is stale: run `go run ./cmd/configdoc -write`")
}

func TestStackFilesSetOnlyDeclaredKeys(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, "Pulumi.*.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 2)
	for _, f := range files {
		var st struct {
			Config map[string]any `yaml:"config"`
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, yaml.Unmarshal(b, &st))
		for key := range st.Config {
			ns, name, _ := strings.Cut(key, ":")
			if ns != infra.Project {
				continue
			}
			_, ok := infra.LookupKey(name)
			assert.True(t, ok, "%s sets undeclared %s", f, key)
		}
		assert.NotContains(t, string(b), "alertWebhookUrl: http", "%s: webhook URLs go in as secrets", f)
	}
}

func readme(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	return string(b)
}

func TestReadmeConfigReferenceMatchesKeys(t *testing.T) {
	re := regexp.MustCompile(`(?s)<!-- config-reference:start -->\n(.*?)<!-- config-reference:end -->`)
	m := re.FindStringSubmatch(readme(t))
	require.NotNil(t, m, "README has the config reference markers")
	assert.Equal(t, infra.ConfigReference(), m[1],
		"README's config reference is stale: run `go run ./cmd/configdoc -write`")
}

func TestReadmeCommandsAreWhatCIRuns(t *testing.T) {
	text := readme(t)
	const renderCmd = "go run ./cmd/render -stack dev"
	const testCmd = "go test -timeout 40m ./..."
	assert.Contains(t, text, renderCmd)
	assert.Contains(t, text, testCmd)
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	require.NoError(t, err)
	assert.Contains(t, string(ci), testCmd, ".ci/run runs the README's test command")
	assert.Contains(t, string(ci), "./cmd/render -stack dev")
	assert.Contains(t, string(ci), "./cmd/render -stack prod")
	// The tests run the migration's copy script and the Moodle image for
	// real: CI installs what they need through the one script, which the
	// README names, and which installs rsync among the rest.
	const install = "tests/imagerun/install-packages.sh"
	assert.Contains(t, string(ci), "bash "+install)
	assert.Contains(t, text, install)
	script, err := os.ReadFile(filepath.Join(root, install))
	require.NoError(t, err)
	for _, pkg := range []string{"rsync", "apache2", "libapache2-mod-php8.2", "mariadb-server", "redis-server", "php8.2-redis"} {
		assert.Contains(t, string(script), " "+pkg, "%s installs %s", install, pkg)
	}
	assert.Contains(t, text, "rsync")
}
