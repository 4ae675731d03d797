// Package chartcheck templates the Helm releases the program renders with
// the real Helm SDK, over the chart packages in charts/, and checks what the
// charts and the program's own manifests would do in the cluster: Pod
// Security admission at each namespace's level, and the network flows each
// release needs against the rendered NetworkPolicies. It is its own Go
// module so that the program's build does not carry Helm.
package chartcheck

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"sigs.k8s.io/yaml"
)

// Object is one Kubernetes object as a generic map.
type Object map[string]any

// Get returns the value at a dotted path, or nil.
func (o Object) Get(path string) any {
	var cur any = map[string]any(o)
	for _, step := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[step]
	}
	return cur
}

// Str returns the string at a dotted path, or "".
func (o Object) Str(path string) string {
	s, _ := o.Get(path).(string)
	return s
}

// Kind, Name and Namespace of the object.
func (o Object) Kind() string      { return o.Str("kind") }
func (o Object) Name() string      { return o.Str("metadata.name") }
func (o Object) Namespace() string { return o.Str("metadata.namespace") }

// Release is one Helm release as resources.json records it.
type Release struct {
	Stack, Name, Chart, Version, Namespace, Repo string
	Values                                       map[string]any
}

// Stack is what a rendered stack holds that the checks need.
type Stack struct {
	Name     string
	Releases []Release
	// Objects are the program's own Kubernetes objects (rendered/<stack>/kubernetes).
	Objects []Object
	// Namespaces maps each namespace to its labels.
	Namespaces map[string]map[string]string
	// NodeCIDR is the node subnet's prefix; KubeVersion the cluster's.
	NodeCIDR    netip.Prefix
	KubeVersion string
	// EndpointCIDR is the private endpoint subnet (the backup account).
	EndpointCIDR netip.Prefix
	// FQDNPolicies: the cluster has ACNS security on, so Cilium enforces
	// FQDN rules (networkProfile.advancedNetworking.security.enabled).
	FQDNPolicies bool
	// Hostname is the site's DNS name (the Gateway's host).
	Hostname string
}

// LoadStack reads rendered/<stack> under root.
func LoadStack(root, stack string) (*Stack, error) {
	dir := filepath.Join(root, "rendered", stack)
	b, err := os.ReadFile(filepath.Join(dir, "resources.json"))
	if err != nil {
		return nil, fmt.Errorf("reading the rendered stack %s (run go run ./cmd/render -stack %s): %w", stack, stack, err)
	}
	var resources []struct {
		Type   string         `json:"type"`
		Inputs map[string]any `json:"inputs"`
	}
	if err := json.Unmarshal(b, &resources); err != nil {
		return nil, fmt.Errorf("reading %s/resources.json: %w", dir, err)
	}
	// The cluster's own namespaces (kube-dns, the API server's Service) carry
	// only the label Kubernetes gives every namespace.
	s := &Stack{Name: stack, Namespaces: map[string]map[string]string{
		"kube-system": {"kubernetes.io/metadata.name": "kube-system"},
		"default":     {"kubernetes.io/metadata.name": "default"},
	}}
	for _, r := range resources {
		in := Object(r.Inputs)
		switch {
		case r.Type == "kubernetes:helm.sh/v3:Release":
			vals, _ := in.Get("values").(map[string]any)
			s.Releases = append(s.Releases, Release{
				Stack: stack, Name: in.Str("name"), Chart: in.Str("chart"), Version: in.Str("version"),
				Namespace: in.Str("namespace"), Repo: in.Str("repositoryOpts.repo"), Values: vals,
			})
		case strings.HasSuffix(r.Type, ":ManagedCluster"):
			s.KubeVersion = in.Str("kubernetesVersion")
			s.FQDNPolicies, _ = in.Get("networkProfile.advancedNetworking.security.enabled").(bool)
		case strings.HasSuffix(r.Type, ":VirtualNetwork"):
			subnets, _ := in.Get("subnets").([]any)
			for _, sn := range subnets {
				m, _ := sn.(map[string]any)
				p, err := netip.ParsePrefix(fmt.Sprint(m["addressPrefix"]))
				switch {
				case err != nil:
				case m["name"] == "nodes":
					s.NodeCIDR = p
				case m["name"] == "endpoints":
					s.EndpointCIDR = p
				}
			}
		}
	}
	if s.KubeVersion == "" {
		return nil, fmt.Errorf("%s: resources.json has no managed cluster version or node subnet", stack)
	}
	err = filepath.WalkDir(filepath.Join(dir, "kubernetes"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var o Object
		if err := yaml.Unmarshal(b, &o); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if o.Kind() == "Namespace" {
			labels := map[string]string{"kubernetes.io/metadata.name": o.Name()}
			for k, v := range asMap(o.Get("metadata.labels")) {
				labels[k] = fmt.Sprint(v)
			}
			s.Namespaces[o.Name()] = labels
		}
		if o.Kind() == "Gateway" && s.Hostname == "" {
			for _, sv := range asSlice(o.Get("spec.servers")) {
				for _, h := range asSlice(asMap(sv)["hosts"]) {
					s.Hostname = fmt.Sprint(h)
				}
			}
		}
		s.Objects = append(s.Objects, o)
		return nil
	})
	return s, err
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// ChartPackage is the path of a release's chart package under root/charts,
// or an error saying which package to add.
func ChartPackage(root string, r Release) (string, error) {
	p := filepath.Join(root, "charts", r.Chart+"-"+r.Version+".tgz")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("stack %s installs chart %s %s (release %s), but charts/%s-%s.tgz is missing: add that package "+
			"(helm pull %s --repo %s --version %s, or helm package from the chart's git tag) and its provenance in charts/README.md",
			r.Stack, r.Chart, r.Version, r.Name, r.Chart, r.Version, r.Chart, r.Repo, r.Version)
	}
	return p, nil
}

// Template renders a chart package as `helm template --include-crds` does,
// with the given values, for the cluster's Kubernetes version. Hooks are
// included: they run in the cluster too.
func Template(chartPath string, r Release, values map[string]any, kubeVersion string) (string, error) {
	ch, err := loader.Load(chartPath)
	if err != nil {
		return "", fmt.Errorf("loading %s: %w", chartPath, err)
	}
	cfg := &action.Configuration{Log: func(string, ...any) {}}
	in := action.NewInstall(cfg)
	in.DryRun, in.ClientOnly, in.IncludeCRDs, in.Replace = true, true, true, true
	in.ReleaseName, in.Namespace = r.Name, r.Namespace
	// The stack pins "1.MINOR" or "1.MINOR.PATCH"; Helm wants a full version.
	v := "v" + strings.TrimPrefix(kubeVersion, "v")
	if strings.Count(v, ".") == 1 {
		v += ".0"
	}
	kv, err := chartutil.ParseKubeVersion(v)
	if err != nil {
		return "", fmt.Errorf("kubernetes version %q: %w", kubeVersion, err)
	}
	in.KubeVersion = kv
	// The CRDs the stack installs, so charts that ask for them render as
	// they would in the cluster.
	in.APIVersions = chartutil.VersionSet{"monitoring.coreos.com/v1", "cert-manager.io/v1", "networking.istio.io/v1", "security.istio.io/v1"}
	rel, err := in.Run(ch, deepCopy(values))
	if err != nil {
		return "", fmt.Errorf("templating %s for release %s (%s): %w", filepath.Base(chartPath), r.Name, r.Stack, err)
	}
	var b strings.Builder
	b.WriteString(rel.Manifest)
	for _, h := range rel.Hooks {
		b.WriteString("\n---\n# hook " + h.Name + "\n" + h.Manifest)
	}
	return b.String(), nil
}

// Objects splits a multi-document manifest into objects (empty documents
// and the List wrappers Helm never emits are skipped).
func Objects(manifest string) ([]Object, error) {
	var out []Object
	for _, doc := range strings.Split(manifest, "\n---") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var o Object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			return nil, fmt.Errorf("parsing a rendered document: %w\n%s", err, doc)
		}
		if len(o) > 0 {
			out = append(out, o)
		}
	}
	return out, nil
}

func deepCopy(v map[string]any) map[string]any {
	b, _ := json.Marshal(v)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	if out == nil {
		out = map[string]any{}
	}
	return out
}

// Leaves lists the dotted paths of a values tree's leaves; lists and empty
// maps are leaves.
func Leaves(values map[string]any) [][]string {
	var out [][]string
	if len(values) == 0 {
		return nil
	}
	var walk func(prefix []string, v any)
	walk = func(prefix []string, v any) {
		if m, ok := v.(map[string]any); ok && len(m) > 0 {
			for k, e := range m {
				walk(append(append([]string{}, prefix...), k), e)
			}
			return
		}
		out = append(out, prefix)
	}
	walk(nil, values)
	sort.Slice(out, func(i, j int) bool { return strings.Join(out[i], ".") < strings.Join(out[j], ".") })
	return out
}

// Without returns a copy of values with the leaf at path removed.
func Without(values map[string]any, path []string) map[string]any {
	out := deepCopy(values)
	m := out
	for _, step := range path[:len(path)-1] {
		m = m[step].(map[string]any)
	}
	delete(m, path[len(path)-1])
	return out
}

// At returns the value at path in a values tree and whether it is there.
func At(values map[string]any, path []string) (any, bool) {
	var cur any = values
	for _, step := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[step]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// ChartDefaults reads a chart package's default values as Helm merges
// them: its values.yaml with its subcharts' under their names, and Istio's
// "_internal_defaults_do_not_set" block (which Istio's templates merge into
// the root) lifted to the root.
func ChartDefaults(chartPath string) (map[string]any, error) {
	ch, err := loader.Load(chartPath)
	if err != nil {
		return nil, err
	}
	vals, err := chartutil.CoalesceValues(ch, map[string]any{})
	if err != nil {
		return nil, err
	}
	out := deepCopy(vals)
	if internal, ok := out["_internal_defaults_do_not_set"].(map[string]any); ok {
		for k, v := range internal {
			if _, set := out[k]; !set {
				out[k] = v
			}
		}
	}
	return out, nil
}

// SameValue compares a values leaf with a chart default through JSON, so
// that 1 and 1.0, or []any and []string, compare as YAML would.
func SameValue(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	var x, y any
	_ = json.Unmarshal(ja, &x)
	_ = json.Unmarshal(jb, &y)
	return reflect.DeepEqual(x, y)
}
