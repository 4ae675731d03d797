package rules

import (
	"fmt"
	"sort"
	"strings"

	"github.com/fieldcert/moodle-aks/infra"
)

// All returns every rule of the pack, in the order they are documented.
func All() []Rule {
	return []Rule{
		ResidencyLocation,
		ResidencyReplication,
		StandardTags,
		AKSAutoscaling,
		AKSLocalAccounts,
		AKSZones,
		AKSAPIRestricted,
		StorageSecureTransport,
		StorageNoPublicAccess,
		DataProtected,
		PublicIPIngressOnly,
		MeshMTLSStrict,
		MeshInjection,
		VolumesRetain,
		HelmPinned,
		DataNotExposed,
		DataTierHA,
		DataTierTLS,
		BackupsScheduled,
		ImagesPinned,
		WebResilience,
		CronJobGuards,
		RegionIsolation,
		BackupsSurvive,
		RoleScopeNarrow,
		ChartRBACNarrow,
		PodSecurityEnforced,
		AccessLogsNoTokens,
		AuditTrail,
		IntegrationsIsolated,
		MoodleSecretsAsFiles,
	}
}

// regionList is the catalog's region names.
func regionList() []string {
	var out []string
	for _, r := range infra.Regions() {
		out = append(out, r.Name)
	}
	return out
}

// Levels are the enforcement levels a stack may set per rule.
var Levels = []string{string(Mandatory), string(Advisory), "disabled"}

// WithEnforcement returns the rules with a stack's enforcement overrides
// applied: "disabled" drops a rule. An unknown rule id or level is an error
// that names it.
func WithEnforcement(rs []Rule, overrides map[string]string) ([]Rule, error) {
	byID := map[string]bool{}
	for _, r := range rs {
		byID[r.ID] = true
	}
	var errs []string
	for id, level := range overrides {
		if !byID[id] {
			errs = append(errs, fmt.Sprintf("policyEnforcement.%s: no rule has this id", id))
		}
		if level != string(Mandatory) && level != string(Advisory) && level != "disabled" {
			errs = append(errs, fmt.Sprintf("policyEnforcement.%s: level %q is not one of %v", id, level, Levels))
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	out := make([]Rule, 0, len(rs))
	for _, r := range rs {
		switch overrides[r.ID] {
		case "disabled":
			continue
		case string(Advisory):
			r.Enforcement = Advisory
		case string(Mandatory):
			r.Enforcement = Mandatory
		}
		out = append(out, r)
	}
	return out, nil
}

// PackConfig is the policy pack config file of a stack, for
// `pulumi preview --policy-pack-config`: every rule with its level.
func PackConfig(rs []Rule, overrides map[string]string) map[string]any {
	out := map[string]any{}
	for _, r := range rs {
		level := string(r.Enforcement)
		if o, ok := overrides[r.ID]; ok {
			level = o
		}
		out[r.ID] = map[string]any{"enforcementLevel": level}
	}
	return out
}

// ResidencyLocation keeps every Azure resource in the stack's region.
var ResidencyLocation = Rule{
	ID: "residency-location",
	Description: "Every Azure resource that has a location is in the stack's region " +
		"(or \"global\", for DNS zones), so personal data stays in its region of origin.",
	Enforcement: Mandatory,
	Check: perResource(func(s *Stack, r Resource) []string {
		if !isAzure(r) {
			return nil
		}
		loc, ok := r.Input("location").(string)
		if !ok || loc == "" {
			return nil
		}
		if l := normalizeLocation(loc); l != s.Region && l != "global" {
			return []string{fmt.Sprintf("%s %q is in %q, outside the stack's region %q", r.Type, r.Name, loc, s.Region)}
		}
		return nil
	}),
}

// ResidencyReplication refuses storage replication that copies data out of
// the residency boundary.
var ResidencyReplication = Rule{
	ID: "residency-replication",
	Description: "Storage accounts use geo-redundant SKUs (GRS, RA-GRS, GZRS, RA-GZRS) only where the " +
		"region's pair is inside the stack's residency boundary (infra/regions.go).",
	Enforcement: Mandatory,
	Check: perResource(func(s *Stack, r Resource) []string {
		if BaseType(r.Type) != "azure-native:storage:StorageAccount" {
			return nil
		}
		sku := r.String("sku.name")
		if !infra.GeoReplicated(sku) {
			return nil
		}
		region := normalizeLocation(r.String("location"))
		if region == "" {
			region = s.Region
		}
		if err := infra.CheckGeoReplication(region, s.Residency); err != nil {
			return []string{fmt.Sprintf("storage account %q uses %s: %v", r.Name, sku, err)}
		}
		return nil
	}),
}

// StandardTags requires the standard tags on every tracked Azure resource.
var StandardTags = Rule{
	ID: "standard-tags",
	Description: "Every Azure resource that has a location carries the standard tags (" +
		strings.Join(infra.StandardTagKeys, ", ") + ") with the stack's region, residency and environment.",
	Enforcement: Mandatory,
	Check: perResource(func(s *Stack, r Resource) []string {
		if !isAzure(r) || r.String("location") == "" {
			return nil
		}
		tags, _ := r.Input("tags").(map[string]any)
		var missing []string
		for _, k := range infra.StandardTagKeys {
			if v, ok := tags[k].(string); !ok || v == "" {
				missing = append(missing, k)
			}
		}
		var out []string
		if len(missing) > 0 {
			out = append(out, fmt.Sprintf("%s %q lacks standard tags: %s", r.Type, r.Name, strings.Join(missing, ", ")))
		}
		want := map[string]string{"region": s.Region, "residency": s.Residency, "environment": s.Environment}
		keys := make([]string, 0, len(want))
		for k := range want {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if v, ok := tags[k].(string); ok && v != "" && v != want[k] {
				out = append(out, fmt.Sprintf("%s %q has tag %s=%q; the stack's is %q", r.Type, r.Name, k, v, want[k]))
			}
		}
		return out
	}),
}

// StackFromResources derives the stack context from the tags of the stack's
// resource group, for runners that have no stack config (the policy pack
// executable: Pulumi gives stack policies no config).
func StackFromResources(resources []Resource) (*Stack, error) {
	for _, r := range resources {
		if BaseType(r.Type) != "azure-native:resources:ResourceGroup" {
			continue
		}
		s := &Stack{
			Region:      normalizeLocation(r.String("location")),
			Residency:   r.String("tags.residency"),
			Environment: r.String("tags.environment"),
			Resources:   resources,
		}
		if s.Region == "" || s.Residency == "" {
			return nil, fmt.Errorf("resource group %q has no location or residency tag", r.Name)
		}
		return s, nil
	}
	return nil, fmt.Errorf("no azure-native:resources:ResourceGroup in the stack: cannot tell its region and residency")
}
