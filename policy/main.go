// Command policy is the moodle-aks policy pack: an executable that
// `pulumi preview --policy-pack <this executable>` runs as an analyzer
// (github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx). It runs the rules of
// policy/rules, the same ones the offline renderer writes to policy.json.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/blang/semver"
	"github.com/fieldcert/moodle-aks/internal/mocks"
	"github.com/fieldcert/moodle-aks/policy/rules"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// Version is the policy pack's version.
var Version = semver.MustParse("0.1.0")

func main() {
	if err := policyx.Main(func(*pulumi.Context) (policyx.PolicyPack, error) { return Pack(rules.All()) }); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// Pack wraps each rule as a stack validation policy. Every rule sees the
// whole stack, as in the renderer; the stack's region and residency come
// from its resource group's tags, because Pulumi gives stack policies no
// config.
func Pack(rs []rules.Rule) (policyx.PolicyPack, error) {
	policies := make([]policyx.Policy, 0, len(rs))
	for _, r := range rs {
		policies = append(policies, policyx.NewStackValidationPolicy(r.ID, policyx.StackValidationPolicyArgs{
			Description: r.Description,
			// policyx ignores the pack-level level: set it on each policy.
			EnforcementLevel: level(r.Enforcement),
			ValidateStack: func(_ context.Context, args policyx.StackValidationArgs) error {
				for _, f := range Check(r, args.Resources) {
					args.Manager.ReportViolation(f.Message, f.URN)
				}
				return nil
			},
		}))
	}
	return policyx.NewPolicyPack("moodle-aks", Version, policyx.EnforcementLevelMandatory, policies)
}

// Check runs one rule over the analyzer's view of a stack.
func Check(r rules.Rule, in []policyx.AnalyzerResource) []rules.Finding {
	resources := make([]rules.Resource, 0, len(in))
	for _, a := range in {
		resources = append(resources, rules.Resource{
			URN:          a.URN,
			Type:         a.Type,
			Name:         a.Name,
			Parent:       a.Parent,
			Custom:       !isComponent(a.Type),
			Provider:     a.Provider.URN,
			Dependencies: a.Dependencies,
			Inputs:       plainMap(a.Properties),
			Protect:      a.Options.Protect,
		})
	}
	st, err := rules.StackFromResources(resources)
	if err != nil {
		return []rules.Finding{{Message: err.Error()}}
	}
	return r.Check(st)
}

// isComponent reports whether a type token is one of this program's
// components (or the stack), which are not custom resources.
func isComponent(typ string) bool {
	return strings.HasPrefix(typ, "moodle:") || typ == "pulumi:pulumi:Stack"
}

func level(e rules.Enforcement) policyx.EnforcementLevel {
	if e == rules.Advisory {
		return policyx.EnforcementLevelAdvisory
	}
	return policyx.EnforcementLevelMandatory
}

// plainMap gives the analyzer's properties the renderer's view (secrets
// "[secret]", unknowns "[unknown]"), through the recorder's conversion.
func plainMap(m property.Map) map[string]any {
	return mocks.Plain(resource.ToResourcePropertyMap(m))
}
