// Package mocks holds the recorder that every test and the offline renderer
// run the program under: a pulumi.MockResourceMonitor that captures each
// registered resource (type, name, URN, parent, provider, dependencies,
// options and inputs) and answers with realistic computed outputs.
//
// It imports only the Pulumi SDK, so a component's test binary that uses it
// links nothing but that component's own providers.
package mocks

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/fieldcert/moodle-aks/policy/rules"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Secret is how a secret value appears in recorded inputs.
const Secret = "[secret]"

// Unknown is how a value that is not known before deployment appears.
const Unknown = "[unknown]"

// SubscriptionID is the fake subscription of every mocked Azure ID.
const SubscriptionID = "00000000-0000-0000-0000-000000000000"

// TenantID is the fake Entra tenant of mocked identities and invokes.
const TenantID = "11111111-1111-1111-1111-111111111111"

// Resource is one registered resource as the recorder saw it; its JSON
// form is the element of resources.json (DESIGN.md section 5, plus the
// options "protect" and "retainOnDelete").
type Resource = rules.Resource

// Recorder implements pulumi.MockResourceMonitor and records every
// registration. It is safe for the concurrent calls the SDK makes.
type Recorder struct {
	project, stack string

	mu        sync.Mutex
	resources []Resource
	invokes   []string
}

// NewRecorder returns a recorder for a project and stack; pass the same
// names to pulumi.WithMocks so URNs match.
func NewRecorder(project, stack string) *Recorder {
	return &Recorder{project: project, stack: stack}
}

// NewResource records a registration and returns its ID and outputs.
func (r *Recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	rec := Resource{
		Type:   args.TypeToken,
		Name:   args.Name,
		Custom: args.Custom,
		Inputs: Plain(args.Inputs),
	}
	if rpc := args.RegisterRPC; rpc != nil {
		rec.Parent = rpc.GetParent()
		rec.Provider = rpc.GetProvider()
		rec.Protect = rpc.GetProtect()
		rec.RetainOnDelete = rpc.GetRetainOnDelete()
		rec.IgnoreChanges = rpc.GetIgnoreChanges()
		if ct := rpc.GetCustomTimeouts(); ct != nil && (ct.GetCreate() != "" || ct.GetUpdate() != "" || ct.GetDelete() != "") {
			rec.CustomTimeouts = &rules.Timeouts{Create: ct.GetCreate(), Update: ct.GetUpdate(), Delete: ct.GetDelete()}
		}
		rec.Dependencies = append([]string(nil), rpc.GetDependencies()...)
		sort.Strings(rec.Dependencies)
	}
	if rec.Dependencies == nil {
		rec.Dependencies = []string{}
	}
	rec.URN = r.urn(rec.Parent, rec.Type, rec.Name)

	id, outputs := computedOutputs(args)

	r.mu.Lock()
	r.resources = append(r.resources, rec)
	r.mu.Unlock()
	return id, outputs, nil
}

// Call answers invokes (data sources) with realistic results.
func (r *Recorder) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	r.mu.Lock()
	r.invokes = append(r.invokes, args.Token)
	r.mu.Unlock()
	switch {
	case strings.HasSuffix(args.Token, ":getClientConfig"):
		return resource.NewPropertyMapFromMap(map[string]any{
			"clientId":       "22222222-2222-2222-2222-222222222222",
			"objectId":       "33333333-3333-3333-3333-333333333333",
			"subscriptionId": SubscriptionID,
			"tenantId":       TenantID,
		}), nil
	case strings.Contains(args.Token, ":listManagedCluster") && strings.HasSuffix(args.Token, "Credentials"):
		name := "cluster"
		if v, ok := args.Args["resourceName"]; ok && v.IsString() {
			name = v.StringValue()
		}
		kubeconfig := fmt.Sprintf(mockKubeconfig, name, name, name, name, name)
		return resource.PropertyMap{
			"kubeconfigs": resource.NewArrayProperty([]resource.PropertyValue{
				resource.NewObjectProperty(resource.PropertyMap{
					"name":  resource.NewStringProperty("clusterUser"),
					"value": resource.MakeSecret(resource.NewStringProperty(base64.StdEncoding.EncodeToString([]byte(kubeconfig)))),
				}),
			}),
		}, nil
	}
	return resource.PropertyMap{}, nil
}

const mockKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: %s
  cluster:
    server: https://%s.hcp.mock.azmk8s.io:443
contexts:
- name: %s
  context: {cluster: %s, user: %s-user}
current-context: cluster
users: []
`

// Invokes returns the tokens of every invoke made, in call order.
func (r *Recorder) Invokes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.invokes...)
}

// Resources returns every recorded resource in a deterministic registration
// order: each resource after its parent and its dependencies, and among the
// resources that are ready, URN order. (The SDK registers from goroutines,
// so the raw order can differ between runs; this one is an order the engine
// could have seen, and it is stable so that reviewers can diff output.)
func (r *Recorder) Resources() []Resource {
	r.mu.Lock()
	all := append([]Resource(nil), r.resources...)
	r.mu.Unlock()

	byURN := make(map[string]int, len(all))
	sort.SliceStable(all, func(i, j int) bool { return all[i].URN < all[j].URN })
	for i, res := range all {
		byURN[res.URN] = i
	}
	// Kahn's algorithm over parent and dependency edges; among ready
	// resources, the one whose URN sorts first goes next.
	indeg := make([]int, len(all))
	next := make([][]int, len(all))
	for i, res := range all {
		for _, d := range append([]string{res.Parent}, res.Dependencies...) {
			if j, ok := byURN[d]; ok && j != i {
				indeg[i]++
				next[j] = append(next[j], i)
			}
		}
	}
	var ready []int
	for i := range all {
		if indeg[i] == 0 {
			ready = append(ready, i)
		}
	}
	out := make([]Resource, 0, len(all))
	for len(ready) > 0 {
		sort.Ints(ready)
		i := ready[0]
		ready = ready[1:]
		out = append(out, all[i])
		for _, k := range next[i] {
			if indeg[k]--; indeg[k] == 0 {
				ready = append(ready, k)
			}
		}
	}
	return out
}

// OfType returns the recorded resources of one type token, in order.
func (r *Recorder) OfType(typ string) []Resource {
	var out []Resource
	for _, res := range r.Resources() {
		if res.Type == typ {
			out = append(out, res)
		}
	}
	return out
}

// Named returns the resource of a type and logical name.
func (r *Recorder) Named(typ, name string) (Resource, bool) {
	for _, res := range r.OfType(typ) {
		if res.Name == name {
			return res, true
		}
	}
	return Resource{}, false
}

func (r *Recorder) urn(parent, typ, name string) string {
	parentType := tokens.Type("")
	if p := resource.URN(parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	return string(resource.NewURN(tokens.QName(r.stack), tokens.PackageName(r.project), parentType, tokens.Type(typ), name))
}

// secretValue is how a secret shows: Secret, or for a map its keys with
// Secret values (nested maps likewise).
func secretValue(v resource.PropertyValue) any {
	for v.IsSecret() || v.IsOutput() && v.OutputValue().Known {
		if v.IsSecret() {
			v = v.SecretValue().Element
		} else {
			v = v.OutputValue().Element
		}
	}
	if !v.IsObject() {
		return Secret
	}
	out := map[string]any{}
	for k, e := range v.ObjectValue() {
		out[string(k)] = secretValue(e)
	}
	return out
}

// Plain turns a property map into JSON-ready Go values: secrets become
// Secret, unknowns Unknown, resource references their URN. A secret map (a
// Secret's data or stringData) keeps its keys, each value Secret, so that
// reviewers and checks see which keys a Secret holds (DESIGN.md section 5).
func Plain(m resource.PropertyMap) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[string(k)] = plainValue(v)
	}
	return out
}

func plainValue(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return secretValue(v.SecretValue().Element)
	case v.IsComputed():
		return Unknown
	case v.IsOutput():
		o := v.OutputValue()
		if o.Secret {
			if o.Known {
				return secretValue(o.Element)
			}
			return Secret
		}
		if !o.Known {
			return Unknown
		}
		return plainValue(o.Element)
	case v.IsNull():
		return nil
	case v.IsBool():
		return v.BoolValue()
	case v.IsNumber():
		return v.NumberValue()
	case v.IsString():
		return v.StringValue()
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = plainValue(e)
		}
		return out
	case v.IsObject():
		return Plain(v.ObjectValue())
	case v.IsResourceReference():
		return string(v.ResourceReferenceValue().URN)
	case v.IsAsset(), v.IsArchive():
		return "[asset]"
	}
	return fmt.Sprint(v.V)
}

// Run runs program under a fresh recorder with the given config (keys
// namespaced, "moodle-aks:region") and returns the recorder with what the
// program registered. secretKeys lists the config keys that are secret.
func Run(project, stack string, config map[string]string, secretKeys []string, program pulumi.RunFunc) (*Recorder, error) {
	rec := NewRecorder(project, stack)
	withConfig := func(info *pulumi.RunInfo) {
		info.Config = config
		info.ConfigSecretKeys = secretKeys
	}
	err := pulumi.RunErr(program, pulumi.WithMocks(project, stack, rec), withConfig)
	return rec, err
}

// RunAfter runs body under mocks (project "p", stack "s") with a stand-in
// component registered first for body to depend on: what a component's
// test needs for the component's required dependencies.
func RunAfter(body func(ctx *pulumi.Context, dep pulumi.Resource) error) (*Recorder, error) {
	return Run("p", "s", nil, nil, func(ctx *pulumi.Context) error {
		dep := &struct{ pulumi.ResourceState }{}
		if err := ctx.RegisterComponentResource("test:dep:Dependency", "dep", dep); err != nil {
			return err
		}
		return body(ctx, dep)
	})
}
