package rules

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func tags(region, residency, env string) map[string]any {
	return map[string]any{
		"environment": env, "region": region, "residency": residency,
		"managed-by": "pulumi", "project": "moodle-aks", "stack": "test",
	}
}

func azure(typ, name string, inputs map[string]any) Resource {
	return Resource{URN: "urn:pulumi:test::moodle-aks::" + typ + "::" + name, Type: typ, Name: name, Custom: true, Inputs: inputs}
}

func stack(rs ...Resource) *Stack {
	return &Stack{Region: "brazilsouth", Residency: "br", Environment: "prod", Resources: rs}
}

func account(sku, location string) Resource {
	return azure("azure-native:storage:StorageAccount", "backups-account", map[string]any{
		"location": location, "sku": map[string]any{"name": sku}, "tags": tags("brazilsouth", "br", "prod"),
	})
}

func TestResidencyReplication(t *testing.T) {
	cases := []struct {
		sku      string
		violates bool
	}{
		{"Standard_LRS", false},
		{"Standard_ZRS", false},
		{"Standard_GRS", true}, // brazilsouth -> southcentralus
		{"Standard_RAGZRS", true},
	}
	for _, tc := range cases {
		got := ResidencyReplication.Check(stack(account(tc.sku, "brazilsouth")))
		if !tc.violates {
			assert.Empty(t, got, tc.sku)
			continue
		}
		require.Len(t, got, 1, tc.sku)
		assert.Contains(t, got[0].Message, "southcentralus")
		assert.Contains(t, got[0].URN, "backups-account")
	}
	// The same SKU is fine where the pair stays inside the boundary.
	s := &Stack{Region: "germanywestcentral", Residency: "de", Resources: []Resource{account("Standard_GRS", "germanywestcentral")}}
	assert.Empty(t, ResidencyReplication.Check(s))
}

func TestResidencyLocation(t *testing.T) {
	in := account("Standard_LRS", "brazilsouth")
	out := account("Standard_LRS", "East US")
	zone := azure("azure-native:network:PrivateZone", "files-dns", map[string]any{"location": "global"})
	comp := Resource{URN: "urn:c", Type: "moodle:storage:BackupStore", Name: "b", Inputs: map[string]any{"location": "eastus"}}

	got := ResidencyLocation.Check(stack(in, out, zone, comp))
	require.Len(t, got, 1, "only the Azure resource outside the region; global and components pass")
	assert.Contains(t, got[0].Message, `"East US"`)
	assert.Contains(t, got[0].Message, `"brazilsouth"`)
}

func TestStandardTags(t *testing.T) {
	good := account("Standard_LRS", "brazilsouth")
	missing := azure("azure-native:resources:ResourceGroup", "rg", map[string]any{"location": "brazilsouth", "tags": map[string]any{"region": "brazilsouth"}})
	wrong := azure("azure-native:resources:ResourceGroup", "rg2", map[string]any{"location": "brazilsouth", "tags": tags("brazilsouth", "us", "prod")})
	noLocation := azure("azure-native:storage:BlobContainer", "c", map[string]any{})

	got := StandardTags.Check(stack(good, missing, wrong, noLocation))
	require.Len(t, got, 2)
	assert.Contains(t, got[0].Message, "lacks standard tags: environment, residency, managed-by, project, stack")
	assert.Contains(t, got[1].Message, `residency="us"`)
}

func TestEvaluateSortsAndFlagsMandatory(t *testing.T) {
	vs := Evaluate(stack(account("Standard_GRS", "eastus")), All())
	require.NotEmpty(t, vs)
	ids := []string{}
	for _, v := range vs {
		ids = append(ids, v.Policy)
	}
	assert.IsNonDecreasing(t, ids)
	assert.Contains(t, ids, "residency-location")
	assert.Contains(t, ids, "residency-replication")
	assert.True(t, HasMandatory(vs))
	assert.False(t, HasMandatory([]Violation{{Policy: "x", Enforcement: Advisory}}))
}

func TestRulesAreDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range All() {
		assert.Regexp(t, `^[a-z]+(-[a-z0-9]+)+$`, r.ID)
		assert.False(t, seen[r.ID], "duplicate id %s", r.ID)
		seen[r.ID] = true
		assert.NotEmpty(t, r.Description)
		assert.Contains(t, []Enforcement{Mandatory, Advisory}, r.Enforcement)
	}
}

func TestStackFromResources(t *testing.T) {
	rg := azure("azure-native:resources:ResourceGroup", "rg", map[string]any{"location": "Brazil South", "tags": tags("brazilsouth", "br", "prod")})
	s, err := StackFromResources([]Resource{account("Standard_LRS", "brazilsouth"), rg})
	require.NoError(t, err)
	assert.Equal(t, "brazilsouth", s.Region)
	assert.Equal(t, "br", s.Residency)
	assert.Equal(t, "prod", s.Environment)

	_, err = StackFromResources([]Resource{account("Standard_LRS", "brazilsouth")})
	assert.ErrorContains(t, err, "no azure-native:resources:ResourceGroup")
}

func TestBaseType(t *testing.T) {
	assert.Equal(t, "azure-native:containerservice:ManagedCluster", BaseType("azure-native:containerservice/v20241001:ManagedCluster"))
	assert.Equal(t, "azure-native:storage:StorageAccount", BaseType("azure-native:storage:StorageAccount"))
	assert.Equal(t, "kubernetes:apps/v1:Deployment", BaseType("kubernetes:apps/v1:Deployment"), "only Azure Native tokens carry API versions in the module")
}

func TestRegionIsolation(t *testing.T) {
	own := azure("azure-native:storage:StorageAccount", "ok", map[string]any{"resourceGroupName": "rg-moodle-prod-eastus2"})
	nodes := azure("azure-native:containerservice:ManagedCluster", "c", map[string]any{"nodeResourceGroup": "rg-moodle-prod-eastus2-nodes"})
	foreign := azure("azure-native:network:RecordSet", "site-a", map[string]any{"resourceGroupName": "rg-moodle-prod-eu-northeurope"})
	scope := azure("azure-native:authorization:RoleAssignment", "grant", map[string]any{
		"scope": "/subscriptions/x/resourceGroups/rg-moodle-prod-eu-northeurope/providers/Microsoft.Storage/storageAccounts/stmdlbkp",
	})
	ref := Resource{URN: "urn:ref", Type: "pulumi:pulumi:StackReference", Name: "eu", Inputs: map[string]any{"name": "org/moodle-aks/prod-eu"}}
	dns := azure("azure-native:network:RecordSet", "dns", map[string]any{"resourceGroupName": "rg-dns-global"})
	s := &Stack{Region: "eastus2", Residency: "us", Environment: "prod", Resources: []Resource{own, nodes, foreign, scope, ref, dns}}
	got := messages(RegionIsolation.Check(s))
	require.Len(t, got, 3)
	assert.Contains(t, got[0], `refers to "rg-moodle-prod-eu-northeurope", a resource group of region stack in northeurope`)
	assert.Contains(t, got[1], "rg-moodle-prod-eu-northeurope")
	assert.Contains(t, got[2], `reads the outputs of stack "org/moodle-aks/prod-eu"`)
}

func TestWithEnforcement(t *testing.T) {
	rs, err := WithEnforcement(All(), map[string]string{"aks-zones": "advisory", "helm-pinned": "disabled"})
	require.NoError(t, err)
	assert.Len(t, rs, len(All())-1, "a disabled rule is dropped")
	for _, r := range rs {
		assert.NotEqual(t, "helm-pinned", r.ID)
		if r.ID == "aks-zones" {
			assert.Equal(t, Advisory, r.Enforcement)
		}
	}
	_, err = WithEnforcement(All(), map[string]string{"no-such-rule": "advisory", "aks-zones": "soft"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "policyEnforcement.no-such-rule: no rule has this id")
	assert.Contains(t, err.Error(), `policyEnforcement.aks-zones: level "soft"`)

	cfg := PackConfig(All(), map[string]string{"aks-zones": "advisory"})
	assert.Equal(t, map[string]any{"enforcementLevel": "advisory"}, cfg["aks-zones"])
	assert.Equal(t, map[string]any{"enforcementLevel": "mandatory"}, cfg["residency-location"])
}

// A render writes durations, a Pulumi state export seconds: both read.
func TestTimeoutsReadRenderAndState(t *testing.T) {
	var r, st Resource
	require.NoError(t, json.Unmarshal([]byte(`{"customTimeouts":{"create":"12h","update":"12h"}}`), &r))
	require.NoError(t, json.Unmarshal([]byte(`{"customTimeouts":{"create":43200,"update":43200}}`), &st))
	require.NotNil(t, st.CustomTimeouts)
	assert.Equal(t, "12h0m0s", st.CustomTimeouts.Create)
	assert.Equal(t, "12h", r.CustomTimeouts.Create)
	assert.Empty(t, st.CustomTimeouts.Delete)
}
