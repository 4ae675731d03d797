package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldcert/moodle-aks/internal/render"
	"github.com/fieldcert/moodle-aks/stacks"
	admissionv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/admissionregistration/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestRenderDevAndProdExitZero(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		r := renderCLI(t, stacks.Program, "-stack", stack)
		require.Equal(t, render.ExitOK, r.code, r.stderr)
		assert.NotEmpty(t, r.resources)
		assert.Empty(t, r.violations)
		for _, f := range []string{"resources.json", "policy.json"} {
			assert.FileExists(t, filepath.Join(r.out, f))
		}
		assert.Contains(t, r.stdout, "rendered stack "+stack)
		for _, res := range r.resources {
			assert.NotEmpty(t, res.URN)
			assert.NotEmpty(t, res.Type)
			assert.NotNil(t, res.Dependencies, "dependencies is a list, never null")
		}
	}
}

func TestRenderBadConfigExitsTwoNamingTheKeys(t *testing.T) {
	r := renderCLI(t, stacks.Program, "-stack", "prod", "-config", "testdata/bad-values.yaml")
	assert.Equal(t, render.ExitInvalid, r.code)
	assert.Contains(t, r.stderr, "moodle-aks:moodleImage")
	assert.Contains(t, r.stderr, "tag latest")
	assert.Contains(t, r.stderr, "moodle-aks:userPool.minCount")
	assert.Empty(t, r.resources, "nothing is rendered from an invalid config")
}

func TestRenderUndeclaredAndMistypedKeysExitTwo(t *testing.T) {
	r := renderCLI(t, stacks.Program, "-stack", "dev", "-config", "testdata/undeclared.yaml")
	assert.Equal(t, render.ExitInvalid, r.code)
	assert.Contains(t, r.stderr, "moodle-aks:hostnme (in testdata/undeclared.yaml) is not declared")
	assert.Contains(t, r.stderr, "moodle-aks:webMaxReplicas")
	assert.Contains(t, r.stderr, "declared type integer")
	assert.Contains(t, r.stderr, "moodle-aks:hostname is required")
}

func TestRenderResidencyViolationExitsOne(t *testing.T) {
	r := renderCLI(t, stacks.Program, "-stack", "br", "-config", "testdata/residency-violation.yaml")
	require.Equal(t, render.ExitViolation, r.code, r.stderr)
	require.NotEmpty(t, r.violations)
	v := r.violations[0]
	assert.Equal(t, "residency-replication", v.Policy)
	assert.Equal(t, "mandatory", string(v.Enforcement))
	assert.Contains(t, v.URN, "StorageAccount::backups-account")
	assert.Contains(t, v.Message, "southcentralus")
	assert.NotEmpty(t, r.resources, "files are still written")
}

func TestRenderSecureConfigRendersWithoutLeaking(t *testing.T) {
	r := renderCLI(t, stacks.Program, "-stack", "uk", "-config", "testdata/secure.yaml")
	require.Equal(t, render.ExitOK, r.code, r.stderr)
	b, err := os.ReadFile(filepath.Join(r.out, "resources.json"))
	require.NoError(t, err)
	assert.NotContains(t, string(b), "Y2lwaGVydGV4dC1vZi10aGUtd2ViaG9vay11cmw=", "ciphertext never copied")
	assert.NotContains(t, string(b), "paging.invalid", "the placeholder never shows in plain text")
}

func TestRenderUnknownStackExitsTwo(t *testing.T) {
	r := renderCLI(t, stacks.Program, "-stack", "nosuchstack")
	assert.Equal(t, render.ExitInvalid, r.code)
	assert.Contains(t, r.stderr, "Pulumi.nosuchstack.yaml")
}

// kubeProgram registers Kubernetes objects the way the in-cluster
// components will, with a generated password flowing into a Secret.
func kubeProgram(ctx *pulumi.Context) error {
	ns, err := corev1.NewNamespace(ctx, "moodle", &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("moodle"), Labels: pulumi.StringMap{
			"istio-injection": pulumi.String("enabled"), "pod-security.kubernetes.io/enforce": pulumi.String("restricted"),
		}},
	})
	if err != nil {
		return err
	}
	// The guard pod-security-enforced requires beside any namespace.
	_, err = admissionv1.NewValidatingAdmissionPolicy(ctx, "guard", &admissionv1.ValidatingAdmissionPolicyArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("guard")},
	})
	if err != nil {
		return err
	}
	pw, err := random.NewRandomPassword(ctx, "db-password", &random.RandomPasswordArgs{Length: pulumi.Int(32)})
	if err != nil {
		return err
	}
	_, err = corev1.NewSecret(ctx, "db", &corev1.SecretArgs{
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String("mysql-credentials"), Namespace: ns.Metadata.Name().Elem()},
		StringData: pulumi.StringMap{"password": pw.Result},
	})
	if err != nil {
		return err
	}
	_, err = corev1.NewConfigMap(ctx, "unnamed", &corev1.ConfigMapArgs{Data: pulumi.StringMap{"a": pulumi.String("b")}})
	return err
}

func TestRenderWritesKubernetesManifestsAndHidesSecrets(t *testing.T) {
	r := renderCLI(t, kubeProgram, "-stack", "dev")
	// A meshed namespace without a STRICT PeerAuthentication breaks a
	// mandatory rule: exit 1, and the files are still written.
	require.Equal(t, render.ExitViolation, r.code, r.stderr)
	require.Len(t, r.violations, 1)
	assert.Equal(t, "mesh-mtls-strict", r.violations[0].Policy)

	read := func(p string) map[string]any {
		b, err := os.ReadFile(filepath.Join(r.out, "kubernetes", p))
		require.NoError(t, err, p)
		var m map[string]any
		require.NoError(t, yaml.Unmarshal(b, &m))
		assert.True(t, strings.HasPrefix(string(b), "apiVersion: "), "apiVersion comes first in %s", p)
		return m
	}
	ns := read("_cluster/namespace-moodle.yaml")
	assert.Equal(t, "v1", ns["apiVersion"])
	assert.Equal(t, "Namespace", ns["kind"])
	assert.Equal(t, "enabled", ns["metadata"].(map[string]any)["labels"].(map[string]any)["istio-injection"])

	sec := read("moodle/secret-mysql-credentials.yaml")
	// DESIGN.md section 5: a map of secrets keeps its keys, each value "[secret]".
	assert.Equal(t, map[string]any{"password": "[secret]"}, sec["stringData"], "a generated password is a Pulumi secret; its key shows")
	cm := read("default/configmap-unnamed.yaml")
	assert.Equal(t, "unnamed", cm["metadata"].(map[string]any)["name"])

	b, err := os.ReadFile(filepath.Join(r.out, "resources.json"))
	require.NoError(t, err)
	assert.Contains(t, string(b), `"[secret]"`)
	for _, res := range r.resources {
		if res.Type == "random:index/randomPassword:RandomPassword" {
			assert.Equal(t, float64(32), res.Inputs["length"])
		}
	}
}

func TestRenderReplacesStaleOutput(t *testing.T) {
	out := t.TempDir()
	stale := filepath.Join(out, "kubernetes", "old", "deployment-gone.yaml")
	require.NoError(t, os.MkdirAll(filepath.Dir(stale), 0o755))
	require.NoError(t, os.WriteFile(stale, []byte("x"), 0o644))
	code := render.Main([]string{"-dir", root, "-out", out, "-stack", "dev"}, stacks.Program, &strings.Builder{}, &strings.Builder{})
	require.Equal(t, render.ExitOK, code)
	assert.NoFileExists(t, stale)
}
