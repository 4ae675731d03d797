// Package rules is the policy pack's one set of rules: plain Go functions
// over a region stack's resources, run by two runners: the offline renderer
// (cmd/render, into policy.json) and the policy pack executable (policy/),
// which `pulumi preview --policy-pack` runs against real previews.
//
// The package imports no Pulumi code, so each runner converts its own view
// of a resource into Resource.
package rules

import (
	"encoding/json"
	"sort"
	"strings"
	"time"
)

// Enforcement is how a violation is treated.
type Enforcement string

// Enforcement levels, as Pulumi names them.
const (
	// Mandatory violations fail the preview (and the render, exit 1).
	Mandatory Enforcement = "mandatory"
	// Advisory violations are reported and let the run pass.
	Advisory Enforcement = "advisory"
)

// Resource is one registered resource. Its JSON form is an element of the
// renderer's resources.json.
type Resource struct {
	URN            string         `json:"urn"`
	Type           string         `json:"type"`
	Name           string         `json:"name"`
	Parent         string         `json:"parent"`
	Custom         bool           `json:"custom"`
	Provider       string         `json:"provider"`
	Dependencies   []string       `json:"dependencies"`
	Inputs         map[string]any `json:"inputs"`
	Protect        bool           `json:"protect"`
	RetainOnDelete bool           `json:"retainOnDelete"`
	// IgnoreChanges are the input paths a later update leaves alone (an
	// addition to the renderer contract; absent when empty).
	IgnoreChanges []string `json:"ignoreChanges,omitempty"`
	// CustomTimeouts are how long `pulumi up` waits for the resource to be
	// created, updated or deleted, where the program sets them (an
	// addition; absent otherwise): a Job's must cover its deadline.
	CustomTimeouts *Timeouts `json:"customTimeouts,omitempty"`
}

// Timeouts are Pulumi's custom timeouts ("3h", "45m"; empty: the default).
type Timeouts struct {
	Create string `json:"create,omitempty"`
	Update string `json:"update,omitempty"`
	Delete string `json:"delete,omitempty"`
}

// UnmarshalJSON reads a render's durations ("3h") and a Pulumi state's
// (`pulumi stack export`: seconds as numbers) alike.
func (t *Timeouts) UnmarshalJSON(b []byte) error {
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	get := func(k string) string {
		switch v := raw[k].(type) {
		case string:
			return v
		case float64:
			if v > 0 {
				return (time.Duration(v) * time.Second).String()
			}
		}
		return ""
	}
	t.Create, t.Update, t.Delete = get("create"), get("update"), get("delete")
	return nil
}

// Input returns the input at a dotted path ("sku.name", "tags.region"), or
// nil when a step is missing.
func (r Resource) Input(path string) any {
	var cur any = r.Inputs
	for _, step := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[step]
	}
	return cur
}

// String returns the input at path when it is a string, else "".
func (r Resource) String(path string) string {
	s, _ := r.Input(path).(string)
	return s
}

// Stack is what the rules see of one region stack.
type Stack struct {
	// Region is the stack's Azure region (ARM name).
	Region string
	// Residency is the stack's residency boundary code.
	Residency string
	// Environment is dev or prod.
	Environment string
	// Resources are the stack's resources, components included.
	Resources []Resource
}

// Finding is one problem a rule found.
type Finding struct {
	URN     string
	Message string
}

// Rule is one policy of the pack.
type Rule struct {
	// ID names the rule in policy.json and in Pulumi's policy output.
	ID string
	// Description says what the rule requires and why.
	Description string
	// Enforcement is the rule's default level.
	Enforcement Enforcement
	// Check returns the rule's findings over a whole stack.
	Check func(s *Stack) []Finding
}

// Violation is one line of policy.json.
type Violation struct {
	Policy      string      `json:"policy"`
	Enforcement Enforcement `json:"enforcement"`
	URN         string      `json:"urn"`
	Message     string      `json:"message"`
}

// Evaluate runs rules over a stack and returns the violations sorted by
// policy, URN and message (stable output for reviewers' diffs).
func Evaluate(s *Stack, rules []Rule) []Violation {
	out := []Violation{}
	for _, r := range rules {
		for _, f := range r.Check(s) {
			out = append(out, Violation{Policy: r.ID, Enforcement: r.Enforcement, URN: f.URN, Message: f.Message})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Policy != b.Policy {
			return a.Policy < b.Policy
		}
		if a.URN != b.URN {
			return a.URN < b.URN
		}
		return a.Message < b.Message
	})
	return out
}

// HasMandatory reports whether any violation is mandatory.
func HasMandatory(vs []Violation) bool {
	for _, v := range vs {
		if v.Enforcement == Mandatory {
			return true
		}
	}
	return false
}

// perResource adapts a check of one resource into a stack check.
func perResource(check func(s *Stack, r Resource) []string) func(*Stack) []Finding {
	return func(s *Stack) []Finding {
		var out []Finding
		for _, r := range s.Resources {
			for _, msg := range check(s, r) {
				out = append(out, Finding{URN: r.URN, Message: msg})
			}
		}
		return out
	}
}

// BaseType drops the API version from a type token:
// "azure-native:containerservice/v20241001:ManagedCluster" becomes
// "azure-native:containerservice:ManagedCluster", so rules match whichever
// API version a component imports.
func BaseType(t string) string {
	parts := strings.Split(t, ":")
	if len(parts) == 3 {
		if i := strings.Index(parts[1], "/v"); i > 0 && parts[0] == "azure-native" {
			parts[1] = parts[1][:i]
		}
	}
	return strings.Join(parts, ":")
}

// isAzure reports whether a resource is an Azure Native custom resource.
func isAzure(r Resource) bool {
	return r.Custom && strings.HasPrefix(r.Type, "azure-native:")
}

// normalizeLocation turns "West Europe" and "westeurope" into "westeurope".
func normalizeLocation(l string) string {
	return strings.ToLower(strings.ReplaceAll(l, " ", ""))
}
