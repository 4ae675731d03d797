package tests

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	moodleimage "github.com/fieldcert/moodle-aks/images/moodle"
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
	// Each stack has its own state container, in its boundary's account:
	// US state for the US stack, EU state for the EU stacks.
	boundary := map[string]string{"dev": "eu", "prod": "us", "prod-eu": "eu"}
	for stack, b := range boundary {
		backends := regexp.MustCompile(`(?s)stack: `+regexp.QuoteMeta(stack)+`\n.*?backend: (\S+)`).FindAllStringSubmatch(text, -1)
		require.Len(t, backends, 2, "%s: a preview and an up", stack)
		for _, m := range backends {
			assert.Equal(t, "azblob://pulumi-state-"+stack+"?storage_account=stpulumistate"+b, m[1], stack)
		}
	}
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
	// The agents' managed identity, whose tokens the metadata endpoint
	// renews: no federation token to expire mid-run, no client secret.
	for _, want := range []string{`ARM_USE_MSI: "true"`, "AAD_LOGIN_METHOD: msi", `az login --identity --client-id "$AZURE_CLIENT_ID"`} {
		assert.Contains(t, string(steps), want)
	}
	for _, gone := range []string{"ARM_CLIENT_SECRET", "ARM_OIDC_TOKEN", "azurecli"} {
		assert.NotContains(t, string(steps), gone)
	}
}

// TestPipelineRunsInsideEachRegion: previews and deployments run on the
// stack's own agent pools (in its region, where the API server admits
// them), previews with the read-only identity and deployments with the
// deploy identity; a deployment first previews the exact commit into the
// run's summary for the approver, has a timeout from its critical path,
// and a nightly pipeline checks every stack for drift.
func TestPipelineRunsInsideEachRegion(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, "pipelines", name))
		require.NoError(t, err)
		return string(b)
	}
	preview, up, drift := read("preview.yml"), read("up.yml"), read("drift.yml")
	assert.Contains(t, preview, "name: mdp-moodle-${{ parameters.stack }}-${{ parameters.pool }}")
	// Pull requests preview on the pools whose Approvals check holds
	// unreviewed code away from the identity that decrypts prod's state
	// (issue 23); main's previews (up, drift) on the main-only pools.
	assert.NotContains(t, up, "pool: pr-preview")
	assert.NotContains(t, drift, "pool: pr-preview")
	pipeline, err := os.ReadFile(filepath.Join(root, "azure-pipelines.yml"))
	require.NoError(t, err)
	for _, stack := range stackFiles(t) {
		assert.Regexp(t, `(?s)- stage: preview_[a-z_]+\n.*?eq\(variables\['Build.Reason'\], 'PullRequest'\)\).*?stack: `+regexp.QuoteMeta(stack)+`\n\s+pool: pr-preview\n`,
			string(pipeline), "%s: the pull request's preview runs on its pr-preview pool", stack)
	}
	assert.Contains(t, preview, "clientId: $(PREVIEW_CLIENT_ID)")
	assert.Contains(t, preview, "task.uploadsummary")
	assert.Contains(t, up, "name: mdp-moodle-${{ parameters.stack }}-deploy")
	assert.Contains(t, up, "clientId: $(DEPLOY_CLIENT_ID)")
	assert.NotContains(t, preview, "DEPLOY_CLIENT_ID", "previews never get the deploy identity")
	// Supply chain (issue 23): nothing downloaded runs before its checksum
	// is checked, and no install script is piped to a shell.
	steps := read("pulumi-steps.yml")
	assert.NotRegexp(t, `\|\s*(ba)?sh\b`, steps, "no curl | sh")
	assert.Equal(t, strings.Count(steps, "curl -fsSL -o /tmp/")/2, strings.Count(steps, "sha256sum -c -"), "one checksum file and one check per download")
	assert.Regexp(t, `(?s)template: preview\.yml.*deployment: up\s+displayName: [^\n]+\n\s+dependsOn: preview`, up, "the approval comes after the preview of the same commit")
	assert.Regexp(t, `timeoutInMinutes: "\d+"`, up)
	assert.Contains(t, drift, "cron:")
	for _, stack := range stackFiles(t) {
		assert.Regexp(t, `(?s)stack: `+regexp.QuoteMeta(stack)+`\n.*?command: preview --refresh --expect-no-changes`, drift, "%s is checked for drift", stack)
	}
}

// TestPipelineSetUpIsDocumented: what needs a live Azure DevOps
// organisation is a README step (or a runbook), and each is there.
func TestPipelineSetUpIsDocumented(t *testing.T) {
	text := readme(t)
	for _, want := range []string{
		"az repos policy build create",                                          // build validation on Azure Repos
		"Microsoft.DevOpsInfrastructure/pools", "pipelines/bootstrap/pool.json", // agents in each region
		"mdp-moodle-<stack>-preview", "mdp-moodle-<stack>-deploy",
		"mdp-moodle-<stack>-pr-preview", "**Approvals** check", // unreviewed code never decrypts prod's state
		"Branch control",           // deploy pools and environments: main only
		"Exclusive lock",           // one deployment per environment at a time
		"Storage Blob Data Reader", // preview identity: state read-only
		"pulumi-state-<stack>",     // a container per stack
		"keys/pulumi-<stack>",      // a key per stack
		"docs/pipeline-recovery.md",
		"pipelines/drift.yml",
	} {
		assert.Contains(t, text, want)
	}
	// The pool body has what the REST API requires (Pools - Create Or
	// Update, api-version 2025-01-21: location, agentProfile,
	// devCenterProjectResourceId, fabricProfile, maximumConcurrency,
	// organizationProfile), a user-assigned identity for the agents, and
	// the VNet subnet that puts the agents behind the NAT address.
	b, err := os.ReadFile(filepath.Join(root, "pipelines", "bootstrap", "pool.json"))
	require.NoError(t, err)
	var pool struct {
		Location string `json:"location"`
		Identity struct {
			Type                   string         `json:"type"`
			UserAssignedIdentities map[string]any `json:"userAssignedIdentities"`
		} `json:"identity"`
		Properties struct {
			DevCenterProjectResourceID string `json:"devCenterProjectResourceId"`
			MaximumConcurrency         int    `json:"maximumConcurrency"`
			AgentProfile               struct {
				Kind string `json:"kind"`
			} `json:"agentProfile"`
			OrganizationProfile struct {
				Kind string `json:"kind"`
			} `json:"organizationProfile"`
			FabricProfile struct {
				Kind           string `json:"kind"`
				NetworkProfile struct {
					SubnetID string `json:"subnetId"`
				} `json:"networkProfile"`
			} `json:"fabricProfile"`
		} `json:"properties"`
	}
	require.NoError(t, json.Unmarshal(b, &pool))
	p := pool.Properties
	assert.NotEmpty(t, pool.Location)
	assert.Equal(t, "UserAssigned", pool.Identity.Type)
	assert.Len(t, pool.Identity.UserAssignedIdentities, 1, "one identity per pool: preview or deploy")
	assert.Contains(t, p.DevCenterProjectResourceID, "/providers/Microsoft.DevCenter/projects/")
	assert.Positive(t, p.MaximumConcurrency)
	assert.Equal(t, "Stateless", p.AgentProfile.Kind)
	assert.Equal(t, "AzureDevOps", p.OrganizationProfile.Kind)
	assert.Equal(t, "Vmss", p.FabricProfile.Kind)
	assert.Contains(t, p.FabricProfile.NetworkProfile.SubnetID, "/subnets/agents")

	rec, err := os.ReadFile(filepath.Join(root, "docs", "pipeline-recovery.md"))
	require.NoError(t, err)
	for _, want := range []string{"--clear-pending-creates", ".pulumi/locks/", "pulumi refresh", "timeoutInMinutes"} {
		assert.Contains(t, string(rec), want)
	}
}

// TestPRCommentScript runs pipelines/scripts/pr-comment.sh against a fake
// Azure DevOps threads API: a preview larger than a command line takes is
// posted from files, the summary comes first, the diff is cut to what a
// comment holds, and a second push updates the stack's thread instead of
// opening another.
func TestPRCommentScript(t *testing.T) {
	type comment struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
	}
	type thread struct {
		ID       int       `json:"id"`
		Comments []comment `json:"comments"`
	}
	var (
		mu      sync.Mutex
		threads = []thread{}
		posts   int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, "Bearer token", r.Header.Get("Authorization"))
		assert.Equal(t, "7.1", r.URL.Query().Get("api-version"))
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Method == "GET" && r.URL.Path == "/pr/threads":
			_ = json.NewEncoder(w).Encode(map[string]any{"value": threads})
		case r.Method == "POST" && r.URL.Path == "/pr/threads":
			var in struct{ Comments []comment }
			require.NoError(t, json.Unmarshal(body, &in))
			posts++
			threads = append(threads, thread{ID: 100 + len(threads), Comments: []comment{{ID: 1, Content: in.Comments[0].Content}}})
			_, _ = w.Write([]byte("{}"))
		case r.Method == "PATCH" && strings.HasPrefix(r.URL.Path, "/pr/threads/"):
			var in comment
			require.NoError(t, json.Unmarshal(body, &in))
			parts := strings.Split(r.URL.Path, "/") // /pr/threads/<t>/comments/<c>
			id, _ := strconv.Atoi(parts[3])
			for i := range threads {
				if threads[i].ID == id {
					threads[i].Comments[0].Content = in.Content
				}
			}
			_, _ = w.Write([]byte("{}"))
		default:
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
		}
	}))
	defer srv.Close()

	dir := t.TempDir()
	run := func(stack, preview string) string {
		f := filepath.Join(dir, stack+".txt")
		require.NoError(t, os.WriteFile(f, []byte(preview), 0o644))
		cmd := exec.Command("bash", filepath.Join(root, "pipelines", "scripts", "pr-comment.sh"))
		cmd.Env = append(os.Environ(), "STACK="+stack, "PREVIEW_FILE="+f, "API="+srv.URL+"/pr",
			"SYSTEM_ACCESSTOKEN=token", "ARTIFACT_URL=https://dev.azure.com/artifact")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	big := strings.Repeat("    ~ azure-native:network:NetworkSecurityGroup nodes update [diff: ~securityRules]\n", 2500) +
		"Resources:\n    ~ 1 to update\n    195 unchanged\n\nPolicies:\n    ✅ moodle-aks@v0.0.1\n"
	require.Greater(t, len(big), 172*1024, "larger than the preview that broke curl -d")
	assert.Contains(t, run("prod", big), "new thread")
	require.Len(t, threads, 1)
	c := threads[0].Comments[0].Content
	assert.True(t, strings.HasPrefix(c, "<!-- pulumi-preview:prod -->"))
	assert.Less(t, strings.Index(c, "1 to update"), strings.Index(c, "<details>"), "the summary comes first")
	assert.Contains(t, c, "[Full preview output](https://dev.azure.com/artifact)")
	assert.Contains(t, c, "The diff is cut at 100000 characters.")
	assert.Less(t, len(c), 110000, "the comment stays within what Azure DevOps holds")

	assert.Contains(t, run("prod", "Resources:\n    196 unchanged\n"), "updated the prod preview in thread 100")
	require.Len(t, threads, 1, "one thread per stack, updated")
	assert.Contains(t, threads[0].Comments[0].Content, "196 unchanged")
	assert.NotContains(t, threads[0].Comments[0].Content, "cut at")
	run("prod-eu", "Resources:\n    191 unchanged\n")
	assert.Len(t, threads, 2, "another stack, another thread")
	assert.Equal(t, 2, posts)
}

// TestPipelinePinsWhatGoModPins: the deploy jobs install exactly the
// provider plugins of go.mod's SDKs (no download of whatever is newest),
// install Go (the engine runs `go list`), post previews through the tested
// script, batch merges and take environments' locks in order.
func TestPipelinePinsWhatGoModPins(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	main, err := os.ReadFile(filepath.Join(root, "azure-pipelines.yml"))
	require.NoError(t, err)
	for variable, module := range map[string]string{
		"AZURE_NATIVE_VERSION":        "github.com/pulumi/pulumi-azure-native-sdk/v2",
		"KUBERNETES_PROVIDER_VERSION": "github.com/pulumi/pulumi-kubernetes/sdk/v4",
		"RANDOM_PROVIDER_VERSION":     "github.com/pulumi/pulumi-random/sdk/v4",
	} {
		m := regexp.MustCompile(`(?m)^\t` + regexp.QuoteMeta(module) + ` (v\S+)$`).FindSubmatch(mod)
		require.NotNil(t, m, module)
		assert.Regexp(t, `- name: `+variable+`\n\s+value: "`+regexp.QuoteMeta(string(m[1]))+`"`, string(main), "%s pins %s %s", variable, module, m[1])
	}
	steps, err := os.ReadFile(filepath.Join(root, "pipelines", "pulumi-steps.yml"))
	require.NoError(t, err)
	assert.Contains(t, string(steps), "task: GoTool@0")
	for _, v := range []string{"AZURE_NATIVE_VERSION", "KUBERNETES_PROVIDER_VERSION", "RANDOM_PROVIDER_VERSION"} {
		assert.Contains(t, string(steps), "$("+v+")")
	}
	preview, err := os.ReadFile(filepath.Join(root, "pipelines", "preview.yml"))
	require.NoError(t, err)
	assert.Contains(t, string(preview), "bash pipelines/scripts/pr-comment.sh")
	assert.NotContains(t, string(preview), `-d "$body"`, "no preview on curl's command line")
	assert.Contains(t, string(main), `batch: "true"`)
	assert.Contains(t, string(main), "lockBehavior: sequential")
}

// TestMoodleImageTagIsTheContentTag: the pipeline pushes the content tag,
// never the same tag twice, and the rendered stacks deploy that tag.
func TestMoodleImageTagIsTheContentTag(t *testing.T) {
	build, err := os.ReadFile(filepath.Join(root, "pipelines", "build.yml"))
	require.NoError(t, err)
	assert.Contains(t, string(build), "tag=$(go run ./cmd/imagetag)")
	assert.Contains(t, string(build), "ne(variables['IMAGE_EXISTS'], 'true')")
	assert.Regexp(t, `tags: \|\n\s+\$\(IMAGE_TAG\)`, string(build))
	for _, stack := range []string{"dev", "prod", "prod-eu"} {
		b, err := os.ReadFile(filepath.Join(root, "rendered", stack, "kubernetes", "moodle", "deployment-moodle-web.yaml"))
		require.NoError(t, err)
		assert.Contains(t, string(b), "image: crfieldcert.azurecr.io/moodle:"+moodleimage.Tag()+"\n", "%s deploys this commit's image", stack)
	}
}
