package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// schemaPath is the Azure Pipelines YAML schema (Microsoft's, MIT; see the
// LICENSE beside it), a copy of the team's ../shared/schemas so that a clean
// clone tests on its own; .ci/run checks the copy against the shared one
// where that exists.
var schemaPath = filepath.Join("testdata", "schemas", "azure-pipelines.schema.json")

func pipelineFiles(t *testing.T) []string {
	files := []string{filepath.Join(root, "azure-pipelines.yml")}
	more, err := filepath.Glob(filepath.Join(root, "pipelines", "*.yml"))
	require.NoError(t, err)
	return append(files, more...)
}

func loadYAML(t *testing.T, path string) any {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var v any
	require.NoError(t, yaml.Unmarshal(b, &v), path)
	// Through JSON, so the validator sees JSON types.
	j, err := json.Marshal(v)
	require.NoError(t, err)
	var out any
	require.NoError(t, json.Unmarshal(j, &out))
	return out
}

func TestPipelinesConformToTheSchema(t *testing.T) {
	if _, err := os.Stat(schemaPath); err != nil {
		t.Fatalf("the schema is missing at %s: %v", schemaPath, err)
	}
	raw, err := os.ReadFile(schemaPath)
	require.NoError(t, err)
	// Microsoft's custom keywords (ignoreCase, doNotSuggest, firstProperty)
	// are not draft-07; the compiler ignores unknown keywords.
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft7
	require.NoError(t, c.AddResource("azure-pipelines.schema.json", strings.NewReader(string(raw))))
	schema, err := c.Compile("azure-pipelines.schema.json")
	require.NoError(t, err)
	for _, f := range pipelineFiles(t) {
		assert.NoError(t, schema.Validate(loadYAML(t, f)), f)
	}
	// The check bites: an unknown key fails.
	bad := map[string]any{"stages": []any{map[string]any{"stage": "x", "jobz": []any{}}}}
	assert.Error(t, schema.Validate(bad))
}

func TestEveryStackHasAPreviewAndAnUp(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "azure-pipelines.yml"))
	require.NoError(t, err)
	text := string(b)
	for _, s := range stackFiles(t) {
		preview := regexp.MustCompile(`(?s)template: pipelines/preview\.yml\s+parameters:\s+stack: ` + regexp.QuoteMeta(s) + `\n`)
		up := regexp.MustCompile(`(?s)template: pipelines/up\.yml\s+parameters:\s+stack: ` + regexp.QuoteMeta(s) + `\n`)
		assert.Regexp(t, preview, text, "stack %s has a preview job", s)
		assert.Regexp(t, up, text, "stack %s has an up job", s)
	}
	// Each backend stays in its stack's boundary: US state for the US stack.
	assert.Regexp(t, `(?s)stack: prod\n\s+(environment: \S+\n\s+)?serviceConnection: azure-moodle-prod-us\n\s+backend: \S+stpulumistateus`, text)
}

func TestPipelineCommandsMatchTheReadme(t *testing.T) {
	readme := readme(t)
	steps, err := os.ReadFile(filepath.Join(root, "pipelines", "pulumi-steps.yml"))
	require.NoError(t, err)
	build, err := os.ReadFile(filepath.Join(root, "pipelines", "build.yml"))
	require.NoError(t, err)
	for _, cmd := range []string{"--policy-pack bin/policy-pack", "--policy-pack-config rendered/"} {
		assert.Contains(t, string(steps), cmd)
		assert.Contains(t, readme, cmd)
	}
	assert.Contains(t, string(build), "bash .ci/run", "the build runs CI's script, which runs the README's test command")
	assert.Contains(t, string(build), "go build -o $(Build.ArtifactStagingDirectory)/bin/policy-pack ./policy")
	assert.Contains(t, readme, "go build -o bin/policy-pack ./policy")
	assert.Contains(t, string(steps), "ARM_USE_OIDC=true", "workload identity federation, no client secret")
	assert.NotContains(t, string(steps), "ARM_CLIENT_SECRET")
}
