package chartcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
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
		for _, p := range pods {
			labels, ok := s.Namespaces[p.Namespace]
			require.True(t, ok, "%s: %s runs in namespace %s, which the stack does not create", s.Name, p, p.Namespace)
			level := labels["pod-security.kubernetes.io/enforce"]
			why, err := ev.Check(p, level)
			require.NoError(t, err)
			assert.Empty(t, why, "%s: %s is refused at %s: %s", s.Name, p, level, why)
		}
	}
}

// TestGatewayMeetsRestricted: the ingress gateway's namespace enforces
// baseline and warns at restricted; its pods draw no warning.
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
		"ValidatingWebhookConfiguration", "StorageClass", "PersistentVolume", "PriorityClass", "ClusterIssuer":
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

func endpointOf(s *Stack, p Pod) Endpoint {
	if p.Spec.HostNetwork {
		return s.NodeAddr()
	}
	return Endpoint{Namespace: p.Namespace, Labels: p.Meta.Labels}
}

// apiServer stands for the AKS API server: an address AKS does not publish,
// outside the node subnet.
var apiServer = Addr("20.62.30.8")

// TestNetworkFlows checks the flows each release needs against the
// rendered NetworkPolicies.
func TestNetworkFlows(t *testing.T) {
	stacks, rels := load(t)
	for _, s := range stacks {
		all := objectsOf(s, rels[s.Name])
		services := map[string]Object{}
		for _, o := range all {
			if o.Kind() == "Service" {
				services[o.Namespace()+"/"+o.Name()] = o
			}
		}
		check := func(what string, from, to Endpoint, port int, proto string) {
			ok, why := s.Allows(from, to, port, proto)
			assert.True(t, ok, "%s: %s: %s", s.Name, what, why)
		}

		t.Run(s.Name+"/api-server-to-webhooks", func(t *testing.T) {
			n := 0
			for _, o := range all {
				if o.Kind() != "MutatingWebhookConfiguration" && o.Kind() != "ValidatingWebhookConfiguration" {
					continue
				}
				for _, w := range asSlice(o.Get("webhooks")) {
					svcRef := asMap(Object(asMap(w)).Get("clientConfig.service"))
					if svcRef == nil {
						continue
					}
					port := 443
					if p, ok := svcRef["port"].(float64); ok {
						port = int(p)
					}
					svc, ok := services[fmt.Sprint(svcRef["namespace"])+"/"+fmt.Sprint(svcRef["name"])]
					require.True(t, ok, "%s: webhook %s calls Service %v, which no release creates", s.Name, o.Name(), svcRef)
					pods := podsSelectedBy(all, svc)
					require.NotEmpty(t, pods, "%s: webhook Service %s selects pods", s.Name, svc.Name())
					for _, p := range pods {
						tp, ok := targetPort(svc, func(sp map[string]any) bool { return sp["port"] == float64(port) }, p)
						require.True(t, ok, "%s: Service %s has port %d", s.Name, svc.Name(), port)
						check(fmt.Sprintf("API server -> webhook %s (%s:%d)", o.Name(), p, tp), apiServer, endpointOf(s, p), tp, "TCP")
						n++
					}
				}
			}
			assert.Greater(t, n, 2, "istiod's, cert-manager's and the operator's webhooks")
		})

		prometheus := Endpoint{Namespace: "monitoring", Labels: map[string]string{"app.kubernetes.io/name": "prometheus", "prometheus": "kube-prometheus-stack-prometheus"}}
		t.Run(s.Name+"/prometheus-scrapes", func(t *testing.T) {
			// Pods annotated for the kubernetes-pods job; Istio points meshed
			// pods' annotations at its merged metrics on 15020.
			pods, err := Pods(all, "default")
			require.NoError(t, err)
			n := 0
			for _, p := range pods {
				if p.Meta.Annotations["prometheus.io/scrape"] != "true" {
					continue
				}
				port, err := strconv.Atoi(p.Meta.Annotations["prometheus.io/port"])
				require.NoError(t, err, "%s: %s has a prometheus.io/port", s.Name, p)
				if s.Namespaces[p.Namespace]["istio-injection"] == "enabled" && p.Meta.Annotations["sidecar.istio.io/inject"] != "false" {
					port = 15020
				}
				check("Prometheus -> "+p.String(), prometheus, endpointOf(s, p), port, "TCP")
				n++
			}
			// ServiceMonitors: the Services they select, or the cluster's own
			// endpoints the chart's monitors name.
			for _, o := range all {
				if o.Kind() != "ServiceMonitor" {
					continue
				}
				name := o.Name()
				switch {
				case strings.HasSuffix(name, "-kubelet"):
					check("Prometheus -> kubelet (ServiceMonitor "+name+")", prometheus, s.NodeAddr(), 10250, "TCP")
					n++
					continue
				case strings.HasSuffix(name, "-coredns"):
					check("Prometheus -> CoreDNS", prometheus, Endpoint{Namespace: "kube-system", Labels: map[string]string{"k8s-app": "kube-dns"}}, 9153, "TCP")
					continue
				case strings.HasSuffix(name, "-apiserver"):
					check("Prometheus -> API server", prometheus, apiServer, 443, "TCP")
					continue
				}
				namespaces := []string{o.Namespace()}
				if ns := asSlice(o.Get("spec.namespaceSelector.matchNames")); len(ns) > 0 {
					namespaces = nil
					for _, v := range ns {
						namespaces = append(namespaces, fmt.Sprint(v))
					}
				}
				matched := false
				for _, svc := range services {
					if !contains(namespaces, svc.Namespace()) || !selects(asMap(o.Get("spec.selector")), labelsOf(svc)) {
						continue
					}
					pods := podsSelectedBy(all, svc)
					if len(pods) == 0 {
						// Pods the operator creates (Prometheus, Alertmanager): the
						// Service's selector stands for their labels.
						sel := map[string]string{}
						for k, v := range asMap(svc.Get("spec.selector")) {
							sel[k] = fmt.Sprint(v)
						}
						pods = []Pod{{Namespace: svc.Namespace(), Kind: "Pod", Name: svc.Name()}}
						pods[0].Meta.Labels = sel
					}
					for _, p := range pods {
						for _, e := range asSlice(o.Get("spec.endpoints")) {
							ep := asMap(e)
							tp, ok := 0, false
							if tpv, isNum := ep["targetPort"].(float64); isNum {
								tp, ok = int(tpv), true
							} else {
								tp, ok = targetPort(svc, func(sp map[string]any) bool { return sp["name"] == ep["port"] }, p)
							}
							if !ok && p.Kind == "Pod" {
								// An operator's pod: its named port is the Service's port.
								for _, sp := range asSlice(svc.Get("spec.ports")) {
									if m := asMap(sp); m["name"] == ep["port"] {
										tp, ok = int(m["port"].(float64)), true
									}
								}
							}
							require.True(t, ok, "%s: ServiceMonitor %s endpoint %v resolves on Service %s", s.Name, name, ep, svc.Name())
							check(fmt.Sprintf("Prometheus -> %s (ServiceMonitor %s)", p, name), prometheus, endpointOf(s, p), tp, "TCP")
							matched, n = true, n+1
						}
					}
				}
				// istiod's monitor also names the AKS add-on's namespace,
				// which only one of the two layouts has.
				assert.True(t, matched || name == "istiod", "%s: ServiceMonitor %s selects no Service of the stack", s.Name, name)
			}
			assert.Greater(t, n, 5, "%s: the check saw the scrape targets", s.Name)
		})

		t.Run(s.Name+"/cert-manager", func(t *testing.T) {
			var cm *templated
			for i, r := range rels[s.Name] {
				if r.rel.Chart == "cert-manager" {
					cm = &rels[s.Name][i]
				}
			}
			require.NotNil(t, cm)
			controller := Endpoint{Namespace: cm.rel.Namespace, Labels: map[string]string{"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/component": "controller", "app.kubernetes.io/instance": cm.rel.Name}}
			letsEncrypt := Addr("172.65.32.248")
			check("cert-manager -> ACME (Let's Encrypt)", controller, letsEncrypt, 443, "TCP")
			check("cert-manager -> Azure DNS API and Entra ID", controller, Addr("40.126.32.134"), 443, "TCP")
			recursive := false
			for _, a := range asSlice(cm.rel.Values["extraArgs"]) {
				recursive = recursive || a == "--dns01-recursive-nameservers-only"
			}
			kubeDNS := Endpoint{Namespace: "kube-system", Labels: map[string]string{"k8s-app": "kube-dns"}}
			if recursive {
				check("cert-manager DNS-01 self-check through kube-dns", controller, kubeDNS, 53, "UDP")
				check("cert-manager DNS-01 self-check through kube-dns (TCP)", controller, kubeDNS, 53, "TCP")
			} else {
				check("cert-manager DNS-01 self-check to the zone's nameservers", controller, Addr("150.171.10.1"), 53, "UDP")
			}
			// HTTP-01: the self-check fetches the site's public address.
			check("cert-manager HTTP-01 self-check", controller, Addr("20.31.0.10"), 80, "TCP")
		})

		t.Run(s.Name+"/sidecars-to-istiod-and-dns", func(t *testing.T) {
			istiod := Endpoint{Namespace: "istio-system", Labels: map[string]string{"app": "istiod", "istio": "pilot"}}
			kubeDNS := Endpoint{Namespace: "kube-system", Labels: map[string]string{"k8s-app": "kube-dns"}}
			var names []string
			for ns := range s.Namespaces {
				names = append(names, ns)
			}
			sort.Strings(names)
			meshed := 0
			for _, ns := range names {
				pod := Endpoint{Namespace: ns, Labels: map[string]string{"app": "any"}}
				if s.Namespaces[ns]["istio-injection"] == "enabled" {
					check("sidecar in "+ns+" -> istiod (xDS, certificates)", pod, istiod, 15012, "TCP")
					meshed++
				}
				check("pod in "+ns+" -> kube-dns", pod, kubeDNS, 53, "UDP")
			}
			gateway := Endpoint{Namespace: "istio-ingress", Labels: map[string]string{"istio": "ingressgateway", "app": "istio-ingressgateway"}}
			if _, ok := s.Namespaces["istio-ingress"]; ok {
				check("ingress gateway -> istiod", gateway, istiod, 15012, "TCP")
			}
			assert.Greater(t, meshed, 2, "%s: meshed namespaces", s.Name)
		})
	}
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
