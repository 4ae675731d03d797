package apiserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"
)

// root is the repository, seen from tools/apiserver.
const root = "../.."

// knownWarning is a warning the API server may give for one object of the
// program or of a pinned chart, with the reason it is left as it is.
type knownWarning struct {
	// Object is "Kind namespace/name" as object.String begins.
	Object string
	// Contains is a part of the warning's text.
	Contains string
	// Why it stays.
	Why string
}

// knownWarnings: any warning not listed here fails the check: fix the
// object, or list it with its reason.
var knownWarnings = []knownWarning{
	{
		Object: "CustomResourceDefinition /ciliumnetworkpolicies.cilium.io", Contains: `unrecognized format "idn-hostname"`,
		Why: "Cilium's own CRD (v1.18.6, as AKS installs it) declares FQDN patterns with an OpenAPI format the API server does not validate; the field is still a string",
	},
	{
		Object: "CustomResourceDefinition /ciliumclusterwidenetworkpolicies.cilium.io", Contains: `unrecognized format "idn-hostname"`,
		Why: "Cilium's own CRD (v1.18.6, as AKS installs it) declares FQDN patterns with an OpenAPI format the API server does not validate; the field is still a string",
	},
	{
		Object: "Deployment data/ps-operator", Contains: `would violate PodSecurity "restricted:latest"`,
		Why: "the ps-operator chart's own Deployment sets neither seccomp nor dropped capabilities and has no values for them; the program installs it with replicaCount 0 " +
			"(no pod, so admission refuses nothing) and runs the same operator from its restricted Deployment data/percona-server-mysql-operator (components/mysql)",
	},
	{
		Object: "DaemonSet istio-system/istio-cni-node", Contains: `would violate PodSecurity "restricted:latest"`,
		Why: "the Istio CNI node agent writes the node's CNI configuration (hostPath, root, NET_ADMIN): istio-system enforces privileged for it, " +
			"and warns and audits at restricted so that any other pod there is flagged",
	},
	{
		Object: "DaemonSet monitoring-nodes/kube-prometheus-stack-prometheus-node-exporter", Contains: `would violate PodSecurity "restricted:latest"`,
		Why: "node-exporter reads the host (host network and PID namespaces, hostPath /proc, /sys, /): monitoring-nodes, its namespace alone, enforces privileged for it, " +
			"and warns and audits at restricted so that any other pod there is flagged",
	},
}

var (
	shared     *Server
	sharedErr  error
	sharedOnce sync.Once
	sharedDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	if sharedDir != "" {
		_ = os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

// server builds kube-apiserver (bin/, cached by go's build cache) and
// starts one server with etcd for all tests.
func server(t *testing.T) *Server {
	t.Helper()
	sharedOnce.Do(func() {
		start := time.Now()
		bin, err := Build(".", "bin")
		if err != nil {
			sharedErr = err
			return
		}
		built := time.Since(start)
		sharedDir, err = os.MkdirTemp("", "moodle-aks-apiserver-")
		if err != nil {
			sharedErr = err
			return
		}
		shared, sharedErr = Start(bin, sharedDir)
		t.Logf("kube-apiserver %s built in %s, etcd and API server ready in %s", Version, built.Round(time.Second), (time.Since(start) - built).Round(time.Second))
	})
	require.NoError(t, sharedErr)
	return shared
}

// warnings collects the server's Warning headers.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	if code != 299 || text == "" {
		return
	}
	w.mu.Lock()
	w.list = append(w.list, text)
	w.mu.Unlock()
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// client talks to the server, with a warning collector.
type client struct {
	dyn    dynamic.Interface
	disc   discovery.DiscoveryInterface
	mapper *restmapper.DeferredDiscoveryRESTMapper
	warn   *warnings
}

func newClient(t *testing.T, s *Server) *client {
	t.Helper()
	cfg := s.Config()
	w := &warnings{}
	cfg.WarningHandler = w
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	require.NoError(t, err)
	return &client{dyn: dyn, disc: dc, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), warn: w}
}

// object is one Kubernetes object to send, with where it comes from.
type object struct {
	origin string // "rendered/<stack>/kubernetes/..." or "<release> (chart <chart> <version>)"
	ns     string // the release's namespace for chart objects that name none
	u      *unstructured.Unstructured
}

func (o object) String() string {
	return fmt.Sprintf("%s %s/%s (%s)", o.u.GetKind(), o.u.GetNamespace(), o.u.GetName(), o.origin)
}

// apply sends one object as a server-side apply, with strict field
// validation; dryRun leaves nothing behind.
func (c *client) apply(ctx context.Context, o object, dryRun bool) ([]string, error) {
	gvk := o.u.GroupVersionKind()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("the server has no resource for %s: %w", gvk, err)
	}
	var ri dynamic.ResourceInterface = c.dyn.Resource(m.Resource)
	if m.Scope.Name() == "namespace" {
		if o.u.GetNamespace() == "" {
			o.u.SetNamespace(o.ns)
		}
		ri = c.dyn.Resource(m.Resource).Namespace(o.u.GetNamespace())
	} else if o.u.GetNamespace() != "" {
		return nil, fmt.Errorf("%s is cluster-scoped but names namespace %q", gvk.Kind, o.u.GetNamespace())
	}
	data, err := json.Marshal(o.u.Object)
	if err != nil {
		return nil, err
	}
	force := true
	opts := metav1.PatchOptions{FieldManager: "moodle-aks-check", Force: &force, FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	c.warn.take()
	_, err = ri.Patch(ctx, o.u.GetName(), types.ApplyPatchType, data, opts)
	return c.warn.take(), err
}

// stackObjects reads a stack's rendered objects and its charts' templated
// objects (tools/chartcheck's template command).
func stackObjects(t *testing.T, stack, templated string) (rendered, charts []object) {
	t.Helper()
	dir := filepath.Join(root, "rendered", stack, "kubernetes")
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		rel, _ := filepath.Rel(root, p)
		rendered = append(rendered, object{origin: rel, u: &unstructured.Unstructured{Object: m}})
		return nil
	})
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(templated, stack+".json"))
	require.NoError(t, err)
	var rels []struct {
		Release, Chart, Version, Namespace string
		Objects                            []map[string]any
	}
	require.NoError(t, json.Unmarshal(b, &rels))
	for _, r := range rels {
		for _, m := range r.Objects {
			charts = append(charts, object{origin: fmt.Sprintf("release %s, chart %s %s", r.Release, r.Chart, r.Version), ns: r.Namespace, u: &unstructured.Unstructured{Object: m}})
		}
	}
	require.NotEmpty(t, rendered, "%s: rendered objects", stack)
	require.NotEmpty(t, charts, "%s: chart objects", stack)
	return rendered, charts
}

// placeholderSecrets replaces the renderer's "[secret]" (secret values
// cannot be known offline) with a value of the field's form: Secret data
// is base64; a Cilium FQDN rule's host that comes from a secret URL (the
// alert webhook's, the Teams workflow's, the heartbeat's) is a host name,
// as infra.Validate holds those URLs to https with a host.
func placeholderSecrets(o object) {
	if o.u.GetKind() == "CiliumNetworkPolicy" {
		for _, rule := range asList(o.u.Object, "spec", "egress") {
			for _, f := range asList(rule, "toFQDNs") {
				if m, ok := f.(map[string]any); ok && m["matchName"] == "[secret]" {
					m["matchName"] = "secret-receiver.invalid"
				}
			}
		}
		return
	}
	if o.u.GetKind() != "Secret" {
		return
	}
	if data, ok := o.u.Object["data"].(map[string]any); ok {
		for k, v := range data {
			if v == "[secret]" {
				data[k] = base64.StdEncoding.EncodeToString([]byte("placeholder"))
			}
		}
	}
}

// helmTest reports a chart's test hook, which only `helm test` creates.
func helmTest(o object) bool {
	return strings.Contains(o.u.GetAnnotations()["helm.sh/hook"], "test")
}

// stackKubeMinor is the cluster's minor from resources.json.
func stackKubeMinor(t *testing.T, stack string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "rendered", stack, "resources.json"))
	require.NoError(t, err)
	var resources []struct {
		Type   string         `json:"type"`
		Inputs map[string]any `json:"inputs"`
	}
	require.NoError(t, json.Unmarshal(b, &resources))
	for _, r := range resources {
		if strings.HasSuffix(r.Type, ":ManagedCluster") {
			v, _ := r.Inputs["kubernetesVersion"].(string)
			parts := strings.Split(v, ".")
			require.GreaterOrEqual(t, len(parts), 2, "%s: kubernetesVersion %q", stack, v)
			return parts[1]
		}
	}
	require.Fail(t, "no ManagedCluster in "+stack)
	return ""
}

func stacks(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join(root, "Pulumi.*.yaml"))
	require.NoError(t, err)
	var out []string
	for _, f := range files {
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "Pulumi."), ".yaml"))
	}
	require.NotEmpty(t, out)
	return out
}

// templateCharts runs tools/chartcheck's template command into a folder.
func templateCharts(t *testing.T) string {
	t.Helper()
	out := t.TempDir()
	cmd := exec.Command("go", "run", "./cmd/template", "-root", "../..", "-out", out)
	cmd.Dir = filepath.Join(root, "tools", "chartcheck")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "templating the charts: %s", b)
	return out
}

// CiliumVersion is the Cilium release AKS runs on Kubernetes 1.35 (AKS
// release notes in supported-kubernetes-versions.md: cilium-agent
// v1.18.6): its CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy CRDs
// judge the program's Cilium policies as AKS's Cilium would.
const CiliumVersion = "v1.18.6"

// ciliumCRDs reads Cilium's policy CRDs from its Go module at
// CiliumVersion (downloaded through the module proxy, not committed).
func ciliumCRDs(t *testing.T) []object {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", "github.com/cilium/cilium@"+CiliumVersion)
	cmd.Dir = t.TempDir()
	out, err := cmd.Output()
	require.NoError(t, err, "downloading github.com/cilium/cilium@%s for its CRDs", CiliumVersion)
	var mod struct{ Dir string }
	require.NoError(t, json.Unmarshal(out, &mod))
	var objs []object
	for _, name := range []string{"ciliumnetworkpolicies", "ciliumclusterwidenetworkpolicies"} {
		b, err := os.ReadFile(filepath.Join(mod.Dir, "pkg", "k8s", "apis", "cilium.io", "client", "crds", "v2", name+".yaml"))
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, yaml.Unmarshal(b, &m))
		objs = append(objs, object{origin: "cilium " + CiliumVersion, u: &unstructured.Unstructured{Object: m}})
	}
	return objs
}

// waitEstablished waits until the CRD is served.
func (c *client) waitEstablished(ctx context.Context, name string) error {
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	return waitFor(30*time.Second, func() error {
		u, err := c.dyn.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, cnd := range conds {
			m, _ := cnd.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return nil
			}
		}
		return fmt.Errorf("CRD %s is not established", name)
	})
}

// TestEveryObjectIsAccepted sends each stack's objects to the real API
// server: the charts' CRDs and the stack's namespaces (with their Pod
// Security labels) for real, then every other object of rendered/ and of
// the charts' templates as a server-side dry-run apply with strict field
// validation. None may be rejected, and every warning must be listed in
// knownWarnings with its reason.
func TestEveryObjectIsAccepted(t *testing.T) {
	s := server(t)
	c := newClient(t, s)
	ctx := context.Background()
	sv, err := c.disc.ServerVersion()
	require.NoError(t, err)
	require.Equal(t, Version, sv.GitVersion, "the server reports the release it was built from")
	templated := templateCharts(t)
	cilium := ciliumCRDs(t)

	unknown := map[string][]string{} // warning -> objects
	total := 0
	for _, stack := range stacks(t) {
		t.Run(stack, func(t *testing.T) {
			require.Equal(t, sv.Minor, stackKubeMinor(t, stack),
				"%s runs Kubernetes 1.%s but the check's server is %s: build tools/apiserver at the cluster's release (go.mod)", stack, stackKubeMinor(t, stack), Version)
			rendered, charts := stackObjects(t, stack, templated)
			// AKS's Cilium brings its CRDs; the charts bring theirs.
			crds := append([]object{}, cilium...)
			var namespaces, rest []object
			for _, o := range charts {
				switch {
				case helmTest(o):
					continue // only `helm test` creates these
				case o.u.GetKind() == "CustomResourceDefinition":
					crds = append(crds, o)
				default:
					rest = append(rest, o)
				}
			}
			nsNames := map[string]bool{"default": true, "kube-system": true}
			for _, o := range rendered {
				if o.u.GetKind() == "Namespace" {
					namespaces = append(namespaces, o)
					nsNames[o.u.GetName()] = true
				} else {
					rest = append(rest, o)
				}
			}
			rejected := 0
			send := func(o object, dryRun bool) {
				placeholderSecrets(o)
				warns, err := c.apply(ctx, o, dryRun)
				if err != nil {
					rejected++
					assert.NoError(t, err, "%s: the API server rejects %s", stack, o)
				}
				for _, w := range warns {
					if why, ok := known(o, w); ok {
						t.Logf("%s: %s: listed warning (%s): %.120s...", stack, o, why, w)
						continue
					}
					unknown[w] = append(unknown[w], stack+": "+o.String())
				}
			}
			for _, o := range crds {
				send(o, false)
				require.NoError(t, c.waitEstablished(ctx, o.u.GetName()))
			}
			for _, o := range namespaces {
				send(o, false)
			}
			c.mapper.Reset() // the CRDs' kinds are served now
			for _, o := range rest {
				if ns := o.u.GetNamespace(); ns != "" && !nsNames[ns] {
					assert.Failf(t, "namespace not created", "%s: %s is in namespace %s, which the stack does not create", stack, o, ns)
					continue
				}
				send(o, true)
			}
			sent := len(crds) + len(namespaces) + len(rest)
			total += sent
			t.Logf("%s (Kubernetes 1.%s): %d objects sent to kube-apiserver %s: %d CRDs (the charts' and Cilium %s's policy CRDs) and %d namespaces applied, %d rendered and %d chart objects dry-run applied (field validation Strict); %d rejected",
				stack, sv.Minor, sent, sv.GitVersion, len(crds), CiliumVersion, len(namespaces), len(rendered)-len(namespaces), len(rest)-(len(rendered)-len(namespaces)), rejected)
		})
	}
	var ws []string
	for w := range unknown {
		ws = append(ws, w)
	}
	sort.Strings(ws)
	for _, w := range ws {
		objs := unknown[w]
		assert.Failf(t, "unlisted warning", "the API server warns %q for %d object(s), e.g. %s: fix them or list the warning in knownWarnings with the reason", w, len(objs), strings.Join(objs[:min(3, len(objs))], "; "))
	}
	t.Logf("all stacks: %d objects sent, none rejected: %v; unlisted warnings: %d", total, !t.Failed(), len(ws))
}

// known finds the listed warning a server warning for o matches.
func known(o object, w string) (string, bool) {
	for _, k := range knownWarnings {
		if strings.HasPrefix(o.String(), k.Object+" ") && strings.Contains(w, k.Contains) {
			return k.Why, true
		}
	}
	return "", false
}

// TestKnownWarningsAreSpecific: a listed warning names one object and a
// part of the text, so that it cannot hide the same warning elsewhere.
func TestKnownWarningsAreSpecific(t *testing.T) {
	for _, k := range knownWarnings {
		assert.Regexp(t, `^[A-Za-z]+ [a-z0-9-]*/[a-z0-9.-]+$`, k.Object)
		assert.NotEmpty(t, k.Contains)
		assert.Greater(t, len(k.Why), 40, "%s: the reason is written out", k.Object)
	}
	o := object{origin: "test", u: &unstructured.Unstructured{Object: map[string]any{"kind": "DaemonSet", "metadata": map[string]any{"name": "other", "namespace": "istio-system"}}}}
	_, ok := known(o, `would violate PodSecurity "restricted:latest": host namespaces`)
	assert.False(t, ok, "the same warning for another object is not covered")
}

// TestTheServerRefusesWhatItShould: the check can fail. A field the schema
// does not know, a custom resource its CRD's schema refuses, a pod its
// namespace's Pod Security level refuses and an object in a namespace that
// does not exist are each rejected, and a deprecated field draws a warning.
func TestTheServerRefusesWhatItShould(t *testing.T) {
	s := server(t)
	c := newClient(t, s)
	ctx := context.Background()
	templated := templateCharts(t)
	stack := stacks(t)[0]
	rendered, charts := stackObjects(t, stack, templated)
	// The CRDs and namespaces this test needs (applying them again is a no-op).
	for _, o := range append(append(ciliumCRDs(t), charts...), rendered...) {
		if o.u.GetKind() == "CustomResourceDefinition" || o.u.GetKind() == "Namespace" {
			_, err := c.apply(ctx, o, false)
			require.NoError(t, err, o.String())
			if o.u.GetKind() == "CustomResourceDefinition" {
				require.NoError(t, c.waitEstablished(ctx, o.u.GetName()))
			}
		}
	}
	c.mapper.Reset()
	parse := func(doc string) object { return testObject(t, doc) }

	// Pods need their service account (no controller manager creates the
	// namespaces' default ones here).
	_, err := c.apply(ctx, parse(`
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: data}
`), false)
	require.NoError(t, err)

	cases := []struct {
		name, doc, want string
	}{
		{"unknown field", `
apiVersion: v1
kind: ConfigMap
metadata: {name: typo, namespace: moodle}
date: {a: b}
`, `.date: field not declared in schema`},
		{"custom resource against its CRD schema", `
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: bad, namespace: monitoring}
spec:
  groups:
  - name: g
    rules:
    - alert: A
      expr: up == 0
      for: five minutes
`, "spec.groups[0].rules[0].for"},
		{"Istio resource against its CRD schema", `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: bad, namespace: moodle}
spec:
  mtls: {mode: SOMETIMES}
`, "spec.mtls.mode"},
		{"pod refused by the namespace's Pod Security level", `
apiVersion: v1
kind: Pod
metadata: {name: root, namespace: data}
spec:
  containers:
  - name: c
    image: registry.example.com/c:1
    securityContext: {privileged: true}
`, "violates PodSecurity"},
		{"Cilium policy against Cilium's CRD schema", `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: bad, namespace: monitoring}
spec:
  endpointSelector: {}
  egress:
  - toEntities: [nodes]
`, "spec.egress[0].toEntities[0]"},
		{"MySQL group below three members without the unsafe flag (the CRD's CEL rules)", `
apiVersion: ps.percona.com/v1
kind: PerconaServerMySQL
metadata: {name: small, namespace: data}
spec:
  crVersion: 1.1.0
  mysql: {clusterType: group-replication, size: 1, image: percona/percona-server:8.4.8-8.1}
  proxy: {haproxy: {enabled: true, size: 1, image: percona/haproxy:2.8.18-1}}
`, "requires 'unsafeFlags.mysqlSize: true'"},
		{"Redis Cluster with an unknown field", `
apiVersion: redis.redis.opstreelabs.in/v1beta2
kind: RedisCluster
metadata: {name: bad, namespace: data}
spec:
  clusterSize: 3
  kubernetesConfig: {image: quay.io/opstree/redis:v7.4.6}
  redisLeader: {replica: 3}
`, "spec.redisLeader.replica"},
		{"namespace that does not exist", `
apiVersion: v1
kind: ConfigMap
metadata: {name: lost, namespace: no-such-namespace}
`, `namespaces "no-such-namespace" not found`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.apply(ctx, parse(tc.doc), true)
			require.Error(t, err, "the server must refuse this")
			assert.Contains(t, err.Error(), tc.want)
		})
	}

	t.Run("deprecated field warns", func(t *testing.T) {
		warns, err := c.apply(ctx, parse(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: old, namespace: monitoring}
spec:
  selector: {matchLabels: {app: old}}
  template:
    metadata:
      labels: {app: old}
      annotations: {container.apparmor.security.beta.kubernetes.io/c: unconfined}
    spec:
      containers: [{name: c, image: "registry.example.com/c:1"}]
`), true)
		require.NoError(t, err)
		assert.NotEmpty(t, warns, "the collector sees the server's warnings")
		assert.Contains(t, strings.Join(warns, "\n"), "deprecated")
	})
}

// testObject is a test's own object, from YAML.
func testObject(t *testing.T, doc string) object {
	t.Helper()
	var m map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(doc), &m))
	return object{origin: "test", u: &unstructured.Unstructured{Object: m}}
}

// asList is the list at a path of nested maps, or nil.
func asList(v any, path ...string) []any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	l, _ := v.([]any)
	return l
}
