package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/render"
	"github.com/fieldcert/moodle-aks/policy/rules"
	"github.com/fieldcert/moodle-aks/stacks"
	azstorage "github.com/pulumi/pulumi-azure-native-sdk/storage/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stackFiles returns every stack name with a Pulumi.<name>.yaml.
func stackFiles(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join(root, "Pulumi.*.yaml"))
	require.NoError(t, err)
	var out []string
	for _, f := range files {
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "Pulumi."), ".yaml"))
	}
	return out
}

func TestEveryStackFileRendersClean(t *testing.T) {
	stacksSeen := stackFiles(t)
	require.GreaterOrEqual(t, len(stacksSeen), 3)
	for _, s := range stacksSeen {
		r := renderCLI(t, stacks.Program, "-stack", s)
		assert.Equal(t, render.ExitOK, r.code, "%s: %s", s, r.stderr)
		assert.Empty(t, r.violations, s)
		b, err := os.ReadFile(filepath.Join(r.out, "policy-config.json"))
		require.NoError(t, err)
		var cfg map[string]map[string]string
		require.NoError(t, json.Unmarshal(b, &cfg))
		assert.Len(t, cfg, len(rules.All()), "policy-config.json names every rule")
	}
}

func TestProductionRegionsShareNothing(t *testing.T) {
	boundaries := map[string]bool{}
	owners := map[string]string{} // Azure name -> stack
	for _, s := range []string{"prod", "prod-eu"} {
		rec := runStack(t, s, "")
		rg := rec.OfType("azure-native:resources:ResourceGroup")[0]
		boundaries[rg.String("tags.residency")] = true
		for _, r := range rec.Resources() {
			if !strings.HasPrefix(r.Type, "azure-native:") {
				continue
			}
			for _, key := range []string{"accountName", "resourceGroupName", "resourceName", "virtualNetworkName"} {
				name := r.String(key)
				if name == "" || name == "rg-dns-global" {
					continue // the DNS zone is global and holds no personal data
				}
				if other, ok := owners[name]; ok && other != s {
					t.Errorf("%s and %s both use %s %q", other, s, key, name)
				}
				owners[name] = s
			}
		}
	}
	assert.Len(t, boundaries, 2, "prod stacks in two residency boundaries")
}

func TestCrossRegionWiringExitsOne(t *testing.T) {
	r := renderCLI(t, stacks.Program, "-stack", "prod-eu", "-config", "testdata/cross-region.yaml")
	require.Equal(t, render.ExitViolation, r.code, r.stderr)
	var ids []string
	for _, v := range r.violations {
		ids = append(ids, v.Policy)
	}
	assert.Contains(t, ids, "region-isolation")
	assert.Contains(t, r.stderr, "rg-moodle-prod-eastus2")
}

// outsideRegion registers a storage account in another region than the
// stack's; no config can do this (every component takes the stack's
// region), so the test builds the program itself.
func outsideRegion(ctx *pulumi.Context) error {
	if err := stacks.Program(ctx); err != nil {
		return err
	}
	_, err := azstorage.NewStorageAccount(ctx, "stray", &azstorage.StorageAccountArgs{
		ResourceGroupName: pulumi.String("rg-moodle-dev-westeurope"), Location: pulumi.String("eastus"),
		Kind: pulumi.String("StorageV2"), Sku: &azstorage.SkuArgs{Name: pulumi.String("Standard_LRS")},
		Tags: pulumi.StringMap{"environment": pulumi.String("dev")},
	})
	return err
}

func TestResourceOutsideRegionExitsOne(t *testing.T) {
	r := renderCLI(t, outsideRegion, "-stack", "dev")
	require.Equal(t, render.ExitViolation, r.code, r.stderr)
	found := false
	for _, v := range r.violations {
		found = found || v.Policy == "residency-location" && strings.Contains(v.URN, "stray")
	}
	assert.True(t, found, "residency-location names the stray account: %v", r.violations)
}

func TestEnforcementIsPerStack(t *testing.T) {
	r := renderCLI(t, stacks.Program, "-stack", "br-dev", "-config", "testdata/advisory.yaml")
	require.Equal(t, render.ExitOK, r.code, r.stderr)
	require.Len(t, r.violations, 1)
	assert.Equal(t, "residency-replication", r.violations[0].Policy)
	assert.Equal(t, rules.Advisory, r.violations[0].Enforcement, "reported, not blocking")
	b, err := os.ReadFile(filepath.Join(r.out, "policy-config.json"))
	require.NoError(t, err)
	assert.Contains(t, string(b), `"residency-replication": {
    "enforcementLevel": "advisory"`)
}

// syntheticStacks writes n region stack files, each in its own region.
func syntheticStacks(t testing.TB, n int) []string {
	dir := t.TempDir()
	regions := []string{}
	for _, r := range infra.Regions() {
		if r.Zones && r.Pair != "" {
			regions = append(regions, r.Name)
		}
	}
	var files []string
	for i := 0; i < n; i++ {
		reg, _ := infra.LookupRegion(regions[i%len(regions)])
		f := filepath.Join(dir, "stack"+itoa(i)+".yaml")
		body := "config:\n  moodle-aks:environment: dev\n  moodle-aks:acmeEmail: certs@fieldcert.example\n" +
			"  moodle-aks:region: " + reg.Name + "\n  moodle-aks:residency: " + reg.Country + "\n" +
			"  moodle-aks:hostname: learn-" + reg.Name + ".fieldcert.example\n" +
			"  moodle-aks:moodleImage: crfieldcert.azurecr.io/moodle:4.5.7-php8.3-r1\n" +
			"  moodle-aks:containerRegistryId: /subscriptions/2b7a3c55-0d4e-4f1a-9c3b-6e8d1f2a4b5c/resourceGroups/rg-registry/providers/Microsoft.ContainerRegistry/registries/crfieldcert\n" +
			"  moodle-aks:apiServerAuthorizedIpRanges:\n    - 203.0.113.0/24\n"
		require.NoError(t, os.WriteFile(f, []byte(body), 0o644))
		files = append(files, f)
	}
	return files
}

func itoa(i int) string { return strconv.Itoa(i) }

func renderAll(t testing.TB, files []string) {
	for i, f := range files {
		_, err := render.Render(render.Options{Dir: root, Stack: "synthetic" + itoa(i), ConfigFile: f, Program: stacks.Program, Rules: rules.All()})
		require.NoError(t, err)
	}
}

// BenchmarkRenderRegionStacks renders 1, 5 and 20 synthetic region stacks;
// ns/stack stays flat as their number grows.
func BenchmarkRenderRegionStacks(b *testing.B) {
	for _, n := range []int{1, 5, 20} {
		files := syntheticStacks(b, n)
		b.Run(itoa(n)+"-stacks", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				renderAll(b, files)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/stack")
		})
	}
}

func TestRenderTimeGrowsLinearly(t *testing.T) {
	perStack := func(n int) time.Duration {
		files := syntheticStacks(t, n)
		best := time.Duration(1 << 62)
		for rep := 0; rep < 3; rep++ {
			start := time.Now()
			renderAll(t, files)
			best = min(best, time.Since(start)/time.Duration(n))
		}
		return best
	}
	one, twenty := perStack(1), perStack(20)
	t.Logf("per stack: 1 stack %v, 20 stacks %v", one, twenty)
	assert.Less(t, twenty, 3*one+20*time.Millisecond, "rendering 20 stacks costs about 20 times one")
}
