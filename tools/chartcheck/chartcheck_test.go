package chartcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// root is the repository, seen from tools/chartcheck; CHARTCHECK_ROOT
// points the checks at another checkout (an older commit's rendered/, say).
var root = func() string {
	if r := os.Getenv("CHARTCHECK_ROOT"); r != "" {
		return r
	}
	return "../.."
}()

// templated is one release of one stack, rendered by Helm.
type templated struct {
	rel     Release
	chart   string // package path
	objects []Object
}

var (
	loadOnce  sync.Once
	loaded    []*Stack
	releases  map[string][]templated // by stack
	loadError error
)

// stackNames are the stacks with a Pulumi.<stack>.yaml, as CI renders them.
func stackNames(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join(root, "Pulumi.*.yaml"))
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "Pulumi."), ".yaml"))
	}
	require.NotEmpty(t, names)
	return names
}

// load templates every release of every stack once for all tests.
func load(t *testing.T) ([]*Stack, map[string][]templated) {
	t.Helper()
	names := stackNames(t)
	loadOnce.Do(func() {
		releases = map[string][]templated{}
		for _, name := range names {
			s, err := LoadStack(root, name)
			if err != nil {
				loadError = err
				return
			}
			loaded = append(loaded, s)
			for _, r := range s.Releases {
				path, err := ChartPackage(root, r)
				if err != nil {
					loadError = err
					return
				}
				manifest, err := Template(path, r, r.Values, s.KubeVersion)
				if err != nil {
					loadError = err
					return
				}
				objs, err := Objects(manifest)
				if err != nil {
					loadError = err
					return
				}
				releases[name] = append(releases[name], templated{r, path, objs})
			}
		}
	})
	require.NoError(t, loadError)
	return loaded, releases
}

// TestEveryReleaseTemplates: every Helm release of every stack templates
// with the real Helm over its pinned package, with exactly the values of
// rendered/<stack>/resources.json.
func TestEveryReleaseTemplates(t *testing.T) {
	stacks, rels := load(t)
	for _, s := range stacks {
		require.NotEmpty(t, s.Releases, "%s has Helm releases", s.Name)
		for _, r := range rels[s.Name] {
			assert.NotEmpty(t, r.objects, "%s/%s renders objects", s.Name, r.rel.Name)
			t.Logf("%s: %s %s %s -> %d objects", s.Name, r.rel.Name, r.rel.Chart, r.rel.Version, len(r.objects))
		}
	}
}

// TestMissingChartPackageSaysWhichToAdd: a chart version in config without
// its package fails with the package to add.
func TestMissingChartPackageSaysWhichToAdd(t *testing.T) {
	_, err := ChartPackage(root, Release{Stack: "prod", Name: "cert-manager", Chart: "cert-manager", Version: "v1.99.0", Repo: "https://charts.jetstack.io"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "charts/cert-manager-v1.99.0.tgz is missing: add that package")
	assert.Contains(t, err.Error(), "helm pull cert-manager --repo https://charts.jetstack.io --version v1.99.0")
}

// noEffect lists the values keys that may leave the output unchanged, with
// the reason; keys whose value equals the chart's own default are allowed
// (and logged) without a listing, since they are spelt as the chart spells
// them and only say the default out loud.
var noEffect = map[string]string{
	"cert-manager:serviceAccount.name": "equals the name the chart derives from the release name; pinned because " +
		"the workload identity federation (infra.CertManagerWorkload) names this service account, and a renamed release must not break it",
}

func init() {
	// Rule groups chosen off whose component is already not scraped: the
	// chart renders them only with kubeEtcd, kubeControllerManager,
	// kubeScheduler or kubeProxy enabled, or windowsMonitoring. Each is set
	// so that enabling the scrape later does not bring its alerts unchosen;
	// TestChartRuleGroupsAreChosenAndDocumented holds every key to a group
	// the chart has (no misspelling).
	for _, g := range []string{"etcd", "kubeControllerManager", "kubeProxy", "kubeSchedulerAlerting", "kubeSchedulerRecording", "windows"} {
		noEffect["kube-prometheus-stack:defaultRules.rules."+g] = "off by choice (monitoring.ChartRuleGroups); its component is not scraped, so the chart renders the group in neither case"
	}
}

// TestEveryValueHasAnEffect: removing any key the program sets changes what
// Helm renders, unless the key holds the chart's default or is listed in
// noEffect. Helm ignores keys a chart does not know, so a misspelt key would
// otherwise switch a setting off without an error.
func TestEveryValueHasAnEffect(t *testing.T) {
	stacks, rels := load(t)
	seen := map[string]bool{}
	for _, s := range stacks {
		for _, r := range rels[s.Name] {
			defaults, err := ChartDefaults(r.chart)
			require.NoError(t, err)
			base, err := Template(r.chart, r.rel, r.rel.Values, s.KubeVersion)
			require.NoError(t, err)
			for _, path := range Leaves(r.rel.Values) {
				key := r.rel.Chart + ":" + strings.Join(path, ".")
				v, _ := At(r.rel.Values, path)
				id := key + "=" + fmt.Sprint(v)
				if seen[id] {
					continue
				}
				seen[id] = true
				out, err := Template(r.chart, r.rel, Without(r.rel.Values, path), s.KubeVersion)
				require.NoError(t, err, key)
				if out != base {
					continue
				}
				if d, ok := defaultAt(defaults, r.rel.Chart, path); ok && SameValue(d, v) {
					t.Logf("%s (%s): %v equals the chart default, kept for clarity", key, s.Name, v)
					continue
				}
				if reason, ok := noEffect[key]; ok {
					t.Logf("%s: no effect: %s", key, reason)
					continue
				}
				assert.Failf(t, "value without effect", "%s (%s) = %v changes nothing the chart renders: misspelt, or dead; remove it or list it in noEffect with the reason", key, s.Name, v)
			}
		}
	}
	assert.NotEmpty(t, seen)
}

// TestPodSecurity evaluates every pod template, the charts' and the
// program's, with Kubernetes' Pod Security admission at its namespace's
// enforce level: none may be refused.
func TestPodSecurity(t *testing.T) {
	stacks, rels := load(t)
	ev, err := NewEvaluator()
	require.NoError(t, err)
	for _, s := range stacks {
		var pods []Pod
		own, err := Pods(s.Objects, "default")
		require.NoError(t, err)
		pods = append(pods, own...)
		for _, r := range rels[s.Name] {
			p, err := Pods(r.objects, r.rel.Namespace)
			require.NoError(t, err)
			pods = append(pods, p...)
		}
		require.Greater(t, len(pods), 20, "%s: the check sees the workloads", s.Name)
		operators := 0
		for _, p := range pods {
			labels, ok := s.Namespaces[p.Namespace]
			require.True(t, ok, "%s: %s runs in namespace %s, which the stack does not create", s.Name, p, p.Namespace)
			level := labels["pod-security.kubernetes.io/enforce"]
			if p.Replicas != nil && *p.Replicas == 0 {
				// Admission judges pods; a workload scaled to zero makes none
				// (the ps-operator chart's Deployment: components/mysql runs the
				// operator from a restricted Deployment of its own).
				t.Logf("%s: %s runs no pod (replicas 0)", s.Name, p)
				continue
			}
			if p.Kind == "PerconaServerMySQL" || p.Kind == "RedisCluster" || p.Kind == "Prometheus" || p.Kind == "Alertmanager" {
				operators++
			}
			why, err := ev.Check(p, level)
			require.NoError(t, err)
			assert.Empty(t, why, "%s: %s is refused at %s: %s", s.Name, p, level, why)
		}
		assert.GreaterOrEqual(t, operators, 5, "%s: the members', proxies', Redis nodes', Prometheus' and Alertmanager's pods were checked", s.Name)
	}
}

// TestGatewayMeetsRestricted: the ingress gateway's pods pass restricted,
// which its namespace enforces (it enforced baseline before issue 23, on
// the belief that its port sysctl needed it; it is a safe sysctl).
func TestGatewayMeetsRestricted(t *testing.T) {
	stacks, rels := load(t)
	ev, err := NewEvaluator()
	require.NoError(t, err)
	for _, s := range stacks {
		for _, r := range rels[s.Name] {
			if r.rel.Chart != "gateway" {
				continue
			}
			pods, err := Pods(r.objects, r.rel.Namespace)
			require.NoError(t, err)
			require.NotEmpty(t, pods)
			for _, p := range pods {
				why, err := ev.Check(p, "restricted")
				require.NoError(t, err)
				assert.Empty(t, why, "%s: %s", s.Name, p)
			}
		}
	}
}

// objectsOf is every object of a stack: the program's and the charts'.
func objectsOf(s *Stack, rels []templated) []Object {
	all := append([]Object{}, s.Objects...)
	for _, r := range rels {
		for _, o := range r.objects {
			if o.Namespace() == "" && o.Get("metadata") != nil && isNamespaced(o.Kind()) {
				o = withNamespace(o, r.rel.Namespace)
			}
			all = append(all, o)
		}
	}
	return all
}

func isNamespaced(kind string) bool {
	switch kind {
	case "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "MutatingWebhookConfiguration",
		"ValidatingWebhookConfiguration", "StorageClass", "PersistentVolume", "PriorityClass", "ClusterIssuer",
		"CiliumClusterwideNetworkPolicy":
		return false
	}
	return true
}

func withNamespace(o Object, ns string) Object {
	c := Object{}
	for k, v := range o {
		c[k] = v
	}
	meta := map[string]any{}
	for k, v := range asMap(o["metadata"]) {
		meta[k] = v
	}
	meta["namespace"] = ns
	c["metadata"] = meta
	return c
}

// podsSelectedBy finds the pods a Service's selector picks, in its namespace.
func podsSelectedBy(all []Object, svc Object) []Pod {
	sel := map[string]any{"matchLabels": asMap(svc.Get("spec.selector"))}
	if len(asMap(svc.Get("spec.selector"))) == 0 {
		return nil
	}
	pods, _ := Pods(all, "default")
	var out []Pod
	for _, p := range pods {
		if p.Namespace == svc.Namespace() && selects(sel, p.Meta.Labels) {
			out = append(out, p)
		}
	}
	return out
}

// targetPort resolves a Service port (by number or name) to the pods' port.
func targetPort(svc Object, match func(sp map[string]any) bool, pod Pod) (int, bool) {
	for _, p := range asSlice(svc.Get("spec.ports")) {
		sp := asMap(p)
		if !match(sp) {
			continue
		}
		switch tp := sp["targetPort"].(type) {
		case nil:
			return int(sp["port"].(float64)), true
		case float64:
			return int(tp), true
		case string:
			for _, c := range pod.Spec.Containers {
				for _, cp := range c.Ports {
					if cp.Name == tp {
						return int(cp.ContainerPort), true
					}
				}
			}
		}
	}
	return 0, false
}

// defaultAt finds a key's chart default. Istio's cni chart also reads
// values nested under its own name (templates/zzy_descope_legacy.yaml copies
// "cni.*" to the root), so cni.chained's default is the root chained.
func defaultAt(defaults map[string]any, chart string, path []string) (any, bool) {
	if d, ok := At(defaults, path); ok {
		return d, true
	}
	if len(path) > 1 && path[0] == chart {
		return At(defaults, path[1:])
	}
	return nil, false
}

func labelsOf(o Object) map[string]string {
	out := map[string]string{}
	for k, v := range asMap(o.Get("metadata.labels")) {
		out[k] = fmt.Sprint(v)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
