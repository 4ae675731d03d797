package rules

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// regionGroupRE matches the resource groups region stacks create
// (infra.Names.ResourceGroup: rg-moodle-<stack>-<region>[...]), alone or
// inside an ARM ID.
var regionGroupRE = regexp.MustCompile(`(?i)\brg-moodle-[a-z0-9-]*?-([a-z]+[a-z0-9]*?)(-nodes)?(?:/|$|")`)

// RegionIsolation keeps every region stack to itself.
var RegionIsolation = Rule{
	ID: "region-isolation",
	Description: "No resource of a region stack references a resource of another region (a region stack's resource group " +
		"rg-moodle-*-<region> of a different region) or reads another stack's outputs (StackReference).",
	Enforcement: Mandatory,
	Check: func(s *Stack) []Finding {
		var out []Finding
		for _, r := range s.Resources {
			if r.Type == "pulumi:pulumi:StackReference" {
				out = append(out, Finding{r.URN, fmt.Sprintf("reads the outputs of stack %q; region stacks share nothing that can hold personal data", r.String("name"))})
				continue
			}
			for _, ref := range foreignGroups(r.Inputs, s.Region) {
				out = append(out, Finding{r.URN, fmt.Sprintf("%s %q refers to %q, a resource group of region stack in %s", r.Type, r.Name, ref[0], ref[1])})
			}
		}
		return out
	},
}

// foreignGroups walks inputs for region stack resource groups of a region
// other than own, returning [group, region] pairs, sorted.
func foreignGroups(v any, own string) [][2]string {
	seen := map[string]string{}
	var walk func(any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			for _, e := range t {
				walk(e)
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		case string:
			for _, m := range regionGroupRE.FindAllStringSubmatch(t+"\"", -1) {
				group := strings.TrimSuffix(strings.TrimSuffix(m[0], "\""), "/")
				region := strings.ToLower(m[1])
				if _, known := regionNames[region]; known && region != own {
					seen[group] = region
				}
			}
		}
	}
	walk(v)
	out := make([][2]string, 0, len(seen))
	for g, r := range seen {
		out = append(out, [2]string{g, r})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// regionNames are the ARM region names a group name may end with.
var regionNames = func() map[string]bool {
	m := map[string]bool{}
	for _, r := range regionList() {
		m[r] = true
	}
	return m
}()
