package infra

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCatalogIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Regions() {
		assert.False(t, seen[r.Name], "%s listed twice", r.Name)
		seen[r.Name] = true
		assert.Regexp(t, `^[a-z0-9]+$`, r.Name)
		assert.NotEmpty(t, r.Geography, r.Name)
		assert.Regexp(t, `^[a-z]{2}$`, r.Country, r.Name)
		if r.Pair != "" {
			_, ok := LookupRegion(r.Pair)
			assert.True(t, ok, "%s pairs with %s, which is not in the catalog", r.Name, r.Pair)
			assert.NotEqual(t, r.Name, r.Pair)
		}
		assert.True(t, BoundaryContains(r.Country, r.Name), "a region is inside its own country")
	}
	assert.GreaterOrEqual(t, len(seen), 55, "every public region")
}

func TestResidencyFacts(t *testing.T) {
	cases := []struct {
		region, boundary string
		allowed          bool
		why              string
	}{
		// Brazil South's pair is South Central US: GRS would copy Brazilian
		// data to the United States.
		{"brazilsouth", "br", false, `"southcentralus"`},
		{"brazilsoutheast", "br", true, ""},
		// Nonpaired regions offer no geo-redundant storage at all.
		{"polandcentral", "eu", false, "has no paired region"},
		{"qatarcentral", "qa", false, "has no paired region"},
		{"mexicocentral", "mx", false, "has no paired region"},
		{"westeurope", "eu", true, ""},
		// West Europe (Netherlands) pairs with North Europe (Ireland): inside
		// the EU boundary, outside a Dutch-only one.
		{"westeurope", "nl", false, `"northeurope"`},
		{"germanywestcentral", "de", true, ""},
		{"uksouth", "uk", true, ""},
		{"eastus2", "us", true, ""},
		{"westus3", "us", true, ""},
		// Singapore pairs with Hong Kong.
		{"southeastasia", "sg", false, `"eastasia"`},
		{"southeastasia", "apac", true, ""},
		{"switzerlandnorth", "ch", true, ""},
		{"westeurope", "us", false, "outside residency boundary"},
		{"atlantis", "us", false, "not in the region catalog"},
	}
	for _, tc := range cases {
		err := CheckGeoReplication(tc.region, tc.boundary)
		if tc.allowed {
			assert.NoError(t, err, "%s in %s", tc.region, tc.boundary)
		} else if assert.Error(t, err, "%s in %s", tc.region, tc.boundary) {
			assert.Contains(t, err.Error(), tc.why)
		}
	}
}

func TestPairsAndZones(t *testing.T) {
	br, _ := LookupRegion("brazilsouth")
	assert.Equal(t, "southcentralus", br.Pair)
	assert.True(t, br.Zones)
	w3, _ := LookupRegion("westus3")
	assert.Equal(t, "eastus", w3.Pair, "pairs are not always symmetric")
	e, _ := LookupRegion("eastus")
	assert.Equal(t, "westus", e.Pair)
	ncus, _ := LookupRegion("northcentralus")
	assert.False(t, ncus.Zones)
	pl, _ := LookupRegion("polandcentral")
	assert.Empty(t, pl.Pair)
}

func TestBoundaries(t *testing.T) {
	assert.True(t, BoundaryContains("eu", "swedencentral"))
	assert.True(t, BoundaryContains("eu", "switzerlandnorth"), "the EU Data Boundary includes EFTA")
	assert.False(t, BoundaryContains("eu", "uksouth"))
	assert.False(t, BoundaryContains("us", "canadacentral"))
	assert.False(t, BoundaryContains("us", "nowhere"))
	assert.True(t, KnownBoundary("eu"))
	assert.True(t, KnownBoundary("br"))
	assert.False(t, KnownBoundary("europe"))
	assert.Contains(t, Boundaries(), "uk")
}

func TestGeoReplicated(t *testing.T) {
	for sku, want := range map[string]bool{
		"Standard_LRS": false, "Standard_ZRS": false, "Premium_ZRS": false, "LRS": false,
		"Standard_GRS": true, "Standard_RAGRS": true, "Standard_GZRS": true, "RAGZRS": true,
	} {
		assert.Equal(t, want, GeoReplicated(sku), sku)
	}
}

func TestNamesFollowAzureRules(t *testing.T) {
	for _, stack := range []string{"dev", "prod", "prod-eu", "Prod_West.Europe", "a-very-long-stack-name-for-a-region-that-goes-on-and-on-and-on"} {
		for _, env := range []Environment{Dev, Prod} {
			c := &Config{Project: Project, Stack: stack, Region: "germanywestcentral", Environment: env}
			n := NewNames(c)
			for _, p := range []string{"bkp", "files", "uploads-and-more"} {
				assert.Regexp(t, StorageAccountNameRE, n.StorageAccount(p), "%s/%s", stack, p)
			}
			assert.Regexp(t, ResourceGroupNameRE, n.ResourceGroup())
			assert.Regexp(t, DNSPrefixRE, n.DNSPrefix())
			assert.Regexp(t, ClusterNameRE, n.Cluster())
			assert.Regexp(t, ResourceGroupNameRE, n.NodeResourceGroup())
			assert.LessOrEqual(t, len(n.NodeResourceGroup()), 80, "AKS limits the node resource group name")
			assert.LessOrEqual(t, len(n.IngressIP()), 80)
			assert.LessOrEqual(t, len(n.Identity("certmanager")), 128)
			assert.LessOrEqual(t, len(n.VNet()), 64)
		}
	}
}

func TestNamesAreStableAndDistinct(t *testing.T) {
	a := &Config{Project: Project, Stack: "prod", Region: "eastus2", Environment: Prod}
	b := &Config{Project: Project, Stack: "prod-eu", Region: "westeurope", Environment: Prod}
	na1, na2, nb := NewNames(a), NewNames(a), NewNames(b)
	assert.Equal(t, na1.StorageAccount("bkp"), na2.StorageAccount("bkp"), "same stack, same name")
	assert.NotEqual(t, na1.StorageAccount("bkp"), nb.StorageAccount("bkp"), "another stack, another globally unique name")
	assert.Len(t, na1.Suffix, 6)

	a.NameSuffix = "zz99"
	require.Equal(t, "zz99", NewNames(a).Suffix)
	assert.Contains(t, NewNames(a).StorageAccount("bkp"), "zz99")
}

func TestTags(t *testing.T) {
	c := &Config{Project: Project, Stack: "prod", Region: "eastus2", Residency: "us", Environment: Prod}
	tags := Tags(c)
	for _, k := range StandardTagKeys {
		assert.NotEmpty(t, tags[k], k)
	}
	assert.Equal(t, "us", tags["residency"])
	assert.Equal(t, "pulumi", tags["managed-by"])
}
