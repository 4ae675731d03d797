package infra

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Region is one public Azure region as the residency rules need to see it.
type Region struct {
	// Name is the ARM location name, e.g. "westeurope".
	Name string
	// DisplayName is the name in the Azure portal, e.g. "West Europe".
	DisplayName string
	// Geography is Microsoft's geography that holds the region, e.g. "Europe".
	Geography string
	// Country is the lowercase code of the country the datacenters are in
	// ("uk" rather than "gb", as Azure and most people write it). It is the
	// smallest residency boundary the region belongs to.
	Country string
	// Pair is the ARM name of the region's paired region, the one that
	// geo-redundant storage (GRS, RA-GRS, GZRS, RA-GZRS) copies data to, or ""
	// when the region has no pair and geo-redundant storage is not offered.
	Pair string
	// Zones reports whether the region has availability zones ("1", "2", "3").
	Zones bool
}

// regions is the catalog of public Azure regions (sovereign clouds and the
// EUAP canary regions are left out: this program never deploys there).
//
// Sources, as published by Microsoft and read on 2026-11-25:
//   - regions, geographies and availability zones:
//     https://learn.microsoft.com/azure/reliability/regions-list
//   - paired regions and nonpaired regions:
//     https://learn.microsoft.com/azure/reliability/cross-region-replication-azure
//
// Pairs are not always symmetric (westus3 -> eastus, but eastus -> westus;
// westindia -> southindia, but southindia -> centralindia), and one crosses
// a country: brazilsouth -> southcentralus. Regions opened since 2020 mostly
// have no pair and rely on availability zones. When Microsoft adds a region,
// add a line here and a test for the fact that matters to residency.
var regions = []Region{
	// Americas
	{"brazilsouth", "Brazil South", "Brazil", "br", "southcentralus", true},
	{"brazilsoutheast", "Brazil Southeast", "Brazil", "br", "brazilsouth", false},
	{"canadacentral", "Canada Central", "Canada", "ca", "canadaeast", true},
	{"canadaeast", "Canada East", "Canada", "ca", "canadacentral", false},
	{"centralus", "Central US", "United States", "us", "eastus2", true},
	{"chilecentral", "Chile Central", "Chile", "cl", "", true},
	{"eastus", "East US", "United States", "us", "westus", true},
	{"eastus2", "East US 2", "United States", "us", "centralus", true},
	{"mexicocentral", "Mexico Central", "Mexico", "mx", "", true},
	{"northcentralus", "North Central US", "United States", "us", "southcentralus", false},
	{"southcentralus", "South Central US", "United States", "us", "northcentralus", true},
	{"westcentralus", "West Central US", "United States", "us", "westus2", false},
	{"westus", "West US", "United States", "us", "eastus", false},
	{"westus2", "West US 2", "United States", "us", "westcentralus", true},
	{"westus3", "West US 3", "United States", "us", "eastus", true},
	// Europe
	{"austriaeast", "Austria East", "Austria", "at", "", true},
	{"belgiumcentral", "Belgium Central", "Belgium", "be", "", true},
	{"denmarkeast", "Denmark East", "Denmark", "dk", "", true},
	{"francecentral", "France Central", "France", "fr", "francesouth", true},
	{"francesouth", "France South", "France", "fr", "francecentral", false},
	{"germanynorth", "Germany North", "Germany", "de", "germanywestcentral", false},
	{"germanywestcentral", "Germany West Central", "Germany", "de", "germanynorth", true},
	{"italynorth", "Italy North", "Italy", "it", "", true},
	{"northeurope", "North Europe", "Europe", "ie", "westeurope", true},
	{"norwayeast", "Norway East", "Norway", "no", "norwaywest", true},
	{"norwaywest", "Norway West", "Norway", "no", "norwayeast", false},
	{"polandcentral", "Poland Central", "Poland", "pl", "", true},
	{"spaincentral", "Spain Central", "Spain", "es", "", true},
	{"swedencentral", "Sweden Central", "Sweden", "se", "swedensouth", true},
	{"swedensouth", "Sweden South", "Sweden", "se", "swedencentral", false},
	{"switzerlandnorth", "Switzerland North", "Switzerland", "ch", "switzerlandwest", true},
	{"switzerlandwest", "Switzerland West", "Switzerland", "ch", "switzerlandnorth", false},
	{"uksouth", "UK South", "United Kingdom", "uk", "ukwest", true},
	{"ukwest", "UK West", "United Kingdom", "uk", "uksouth", false},
	{"westeurope", "West Europe", "Europe", "nl", "northeurope", true},
	// Middle East and Africa
	{"israelcentral", "Israel Central", "Israel", "il", "", true},
	{"qatarcentral", "Qatar Central", "Qatar", "qa", "", true},
	{"southafricanorth", "South Africa North", "South Africa", "za", "southafricawest", true},
	{"southafricawest", "South Africa West", "South Africa", "za", "southafricanorth", false},
	{"uaecentral", "UAE Central", "United Arab Emirates", "ae", "uaenorth", false},
	{"uaenorth", "UAE North", "United Arab Emirates", "ae", "uaecentral", true},
	// Asia Pacific
	{"australiacentral", "Australia Central", "Australia", "au", "australiacentral2", false},
	{"australiacentral2", "Australia Central 2", "Australia", "au", "australiacentral", false},
	{"australiaeast", "Australia East", "Australia", "au", "australiasoutheast", true},
	{"australiasoutheast", "Australia Southeast", "Australia", "au", "australiaeast", false},
	{"centralindia", "Central India", "India", "in", "southindia", true},
	{"eastasia", "East Asia", "Asia Pacific", "hk", "southeastasia", true},
	{"indonesiacentral", "Indonesia Central", "Indonesia", "id", "", true},
	{"japaneast", "Japan East", "Japan", "jp", "japanwest", true},
	{"japanwest", "Japan West", "Japan", "jp", "japaneast", true},
	{"jioindiacentral", "Jio India Central", "India", "in", "jioindiawest", false},
	{"jioindiawest", "Jio India West", "India", "in", "jioindiacentral", false},
	{"koreacentral", "Korea Central", "Korea", "kr", "koreasouth", true},
	{"koreasouth", "Korea South", "Korea", "kr", "koreacentral", false},
	{"malaysiawest", "Malaysia West", "Malaysia", "my", "", true},
	{"newzealandnorth", "New Zealand North", "New Zealand", "nz", "", true},
	{"southeastasia", "Southeast Asia", "Asia Pacific", "sg", "eastasia", true},
	{"southindia", "South India", "India", "in", "centralindia", false},
	{"westindia", "West India", "India", "in", "southindia", false},
}

// unions are residency boundaries wider than one country.
var unions = map[string][]string{
	// The EU Data Boundary: EU and EFTA countries that have Azure regions.
	// https://learn.microsoft.com/privacy/eudb/eu-data-boundary-learn
	"eu": {"at", "be", "ch", "de", "dk", "es", "fr", "ie", "it", "nl", "no", "pl", "se"},
	// Microsoft's "Asia Pacific" geography: Hong Kong and Singapore.
	"apac": {"hk", "sg"},
}

var regionIndex = func() map[string]Region {
	m := make(map[string]Region, len(regions))
	for _, r := range regions {
		m[r.Name] = r
	}
	return m
}()

// LookupRegion returns the catalog entry for an ARM location name such as
// "westeurope". Names are matched exactly: ARM names are lowercase.
func LookupRegion(name string) (Region, bool) {
	r, ok := regionIndex[name]
	return r, ok
}

// Regions returns every region of the catalog, sorted by name.
func Regions() []Region {
	out := append([]Region(nil), regions...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Boundaries returns every residency boundary code the catalog knows: each
// country that has a region, and the unions ("eu", "apac"), sorted.
func Boundaries() []string {
	seen := map[string]bool{}
	for _, r := range regions {
		seen[r.Country] = true
	}
	for u := range unions {
		seen[u] = true
	}
	out := make([]string, 0, len(seen))
	for b := range seen {
		out = append(out, b)
	}
	sort.Strings(out)
	return out
}

// KnownBoundary reports whether code is a residency boundary of the catalog.
func KnownBoundary(code string) bool {
	if _, ok := unions[code]; ok {
		return true
	}
	for _, r := range regions {
		if r.Country == code {
			return true
		}
	}
	return false
}

// BoundaryContains reports whether region lies inside the residency boundary.
// Unknown regions are never inside any boundary.
func BoundaryContains(boundary, region string) bool {
	r, ok := LookupRegion(region)
	if !ok {
		return false
	}
	return slices.Contains(boundaryCountries(boundary), r.Country)
}

// GeoReplicated reports whether a storage SKU name (with or without the
// "Standard_"/"Premium_" prefix) copies data to the paired region.
func GeoReplicated(sku string) bool {
	s := strings.ToUpper(sku)
	if i := strings.IndexByte(s, '_'); i >= 0 {
		s = s[i+1:]
	}
	switch s {
	case "GRS", "RAGRS", "GZRS", "RAGZRS":
		return true
	}
	return false
}

// CheckGeoReplication answers "may data stored in region be geo-replicated
// without leaving boundary?". It returns nil when it may, and an error that
// says why not otherwise: the region is unknown or outside the boundary, it
// has no pair (no geo-redundant storage), or its pair is outside the boundary.
func CheckGeoReplication(region, boundary string) error {
	r, ok := LookupRegion(region)
	if !ok {
		return fmt.Errorf("region %q is not in the region catalog", region)
	}
	if !BoundaryContains(boundary, region) {
		return fmt.Errorf("region %q is outside residency boundary %q", region, boundary)
	}
	if r.Pair == "" {
		return fmt.Errorf("region %q has no paired region, so geo-redundant storage is not offered there", region)
	}
	if !BoundaryContains(boundary, r.Pair) {
		p, _ := LookupRegion(r.Pair)
		return fmt.Errorf("region %q replicates to its pair %q (%s), which is outside residency boundary %q",
			region, r.Pair, p.Geography, boundary)
	}
	return nil
}
