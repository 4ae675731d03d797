package chartcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// flows holds what one stack's flow checks need: the evaluation stack
// (the program's and the charts' objects together) and its workloads.
type flows struct {
	t    *testing.T
	s    *Stack
	all  []Object
	pods map[string]Endpoint // "namespace/Kind/name" -> the pod template's identity
}

func newFlows(t *testing.T, s *Stack, rels []templated) *flows {
	ev := *s
	ev.Objects = objectsOf(s, rels)
	f := &flows{t: t, s: &ev, all: ev.Objects, pods: map[string]Endpoint{}}
	pods, err := Pods(ev.Objects, "default")
	require.NoError(t, err)
	for _, p := range pods {
		if strings.Contains(p.Meta.Annotations["helm.sh/hook"], "test") {
			continue // only `helm test` runs it
		}
		f.pods[p.Namespace+"/"+p.Kind+"/"+p.Name] = ev.EndpointOf(p)
	}
	return f
}

// pod finds a workload's pod identity.
func (f *flows) pod(ns, kind, name string) Endpoint {
	f.t.Helper()
	e, ok := f.pods[ns+"/"+kind+"/"+name]
	require.True(f.t, ok, "%s: no %s %s/%s rendered or templated", f.s.Name, kind, ns, name)
	return e
}

// podsOf are the workloads of a namespace whose name has the prefix.
func (f *flows) podsOf(ns, prefix string) []Endpoint {
	var out []Endpoint
	keys := make([]string, 0, len(f.pods))
	for k := range f.pods {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts := strings.SplitN(k, "/", 3)
		if parts[0] == ns && strings.HasPrefix(parts[2], prefix) {
			out = append(out, f.pods[k])
		}
	}
	return out
}

// verdict evaluates both layers: Cilium on both sides, then the
// receiving proxy when the destination is a pod.
func (f *flows) verdict(from, to Endpoint, port int, proto string, req *Request) (bool, string) {
	if ok, why := f.s.Allows(from, to, port, proto); !ok {
		return false, "Cilium: " + why
	}
	if to.Namespace == "" || to.HostNetwork {
		return true, ""
	}
	r := Request{Port: port}
	if req != nil {
		r = *req
		r.Port = port
	}
	if ok, why := f.s.MeshAllows(from, to, r); !ok {
		return false, "Istio: " + why
	}
	return true, ""
}

func (f *flows) allowed(what string, from, to Endpoint, port int, proto string, req *Request) {
	f.t.Helper()
	ok, why := f.verdict(from, to, port, proto, req)
	assert.True(f.t, ok, "%s: needed flow refused: %s (%s -> %s:%d/%s): %s", f.s.Name, what, from, to, port, proto, why)
}

func (f *flows) refused(what string, from, to Endpoint, port int, proto string, req *Request) {
	f.t.Helper()
	ok, _ := f.verdict(from, to, port, proto, req)
	assert.False(f.t, ok, "%s: forbidden flow allowed: %s (%s -> %s:%d/%s)", f.s.Name, what, from, to, port, proto)
}

var (
	internetClient = Addr("203.0.113.50")
	apiServerDest  = Endpoint{APIServer: true, Name: "the API server"}
	// The API server calls webhooks through the nodes on AKS, so Cilium
	// sees a node as the source ([Cilium] language.rst, kube-apiserver
	// entity note).
	apiServerSource = Endpoint{Node: true, Name: "the API server (through the nodes)"}
	imds            = Addr("169.254.169.254")
	someHost        = Named("example.org", "93.184.215.14")
	kubeDNS         = Endpoint{Namespace: "kube-system", Labels: map[string]string{"k8s-app": "kube-dns"}, ServiceAccount: "coredns", Name: "kube-dns"}
)

// stackConfig reads a value of the stack's config file.
func stackConfig(t *testing.T, stack, key string) any {
	b, err := os.ReadFile(filepath.Join(root, "Pulumi."+stack+".yaml"))
	require.NoError(t, err)
	var f struct {
		Config map[string]any `yaml:"config"`
	}
	require.NoError(t, yaml.Unmarshal(b, &f))
	return f.Config["moodle-aks:"+key]
}

// TestTrafficFlows holds every needed flow of each rendered stack against
// both enforcement layers as they really evaluate policy (netpol.go:
// Cilium on AKS; istio.go: Istio), and every flow that must be refused.
// Workload identities (labels, service accounts, mesh membership) come
// from the rendered objects and the charts' templates.
func TestTrafficFlows(t *testing.T) {
	stacks, rels := load(t)
	for _, s := range stacks {
		t.Run(s.Name, func(t *testing.T) {
			f := newFlows(t, s, rels[s.Name])
			host := f.s.Hostname
			require.NotEmpty(t, host, "the stack's Gateway names the site")
			gwNS := "istio-ingress"
			gateway := f.pod(gwNS, "Deployment", "istio-ingressgateway")
			require.True(t, gateway.Meshed && gateway.Gateway, "the gateway is a mesh gateway")
			web := f.pod("moodle", "Deployment", "moodle-web")
			require.True(t, web.Meshed, "Moodle's web pods have sidecars")
			get := func(path string) *Request { return &Request{Host: host, Path: path, Method: "GET"} }

			// The internet reaches the site through the gateway.
			f.allowed("internet -> gateway HTTPS /", internetClient, gateway, 443, "TCP", get("/"))
			f.allowed("internet -> gateway HTTPS /login/index.php", internetClient, gateway, 443, "TCP", get("/login/index.php"))
			f.allowed("internet -> gateway HTTPS with the port in Host", internetClient, gateway, 443, "TCP", &Request{Host: host + ":443", Path: "/"})
			f.allowed("internet -> gateway HTTP (redirect to HTTPS)", internetClient, gateway, 80, "TCP", get("/course/view.php?id=2"))
			f.allowed("Let's Encrypt -> gateway HTTP-01 challenge", internetClient, gateway, 80, "TCP", get("/.well-known/acme-challenge/abc123"))
			f.refused("internet -> gateway /health.php", internetClient, gateway, 443, "TCP", get("/health.php"))
			f.refused("internet -> gateway /health.php?live=1", internetClient, gateway, 443, "TCP", get("/health.php?live=1"))
			f.refused("internet -> gateway /server-status", internetClient, gateway, 80, "TCP", get("/server-status"))
			f.refused("internet -> gateway, another host", internetClient, gateway, 443, "TCP", &Request{Host: "evil.example", Path: "/"})
			f.refused("internet -> gateway port 8080", internetClient, gateway, 8080, "TCP", get("/"))
			f.refused("internet -> Moodle directly", internetClient, web, 8080, "TCP", get("/"))

			// The gateway reaches Moodle and, for HTTP-01, the solver.
			f.allowed("gateway -> Moodle web", gateway, web, 8080, "TCP", get("/"))
			solver := Endpoint{Namespace: gwNS, Labels: map[string]string{"acme.cert-manager.io/http01-solver": "true"}, Name: "cert-manager's HTTP-01 solver"}
			f.allowed("gateway -> ACME HTTP-01 solver", gateway, solver, 8089, "TCP", get("/.well-known/acme-challenge/abc123"))

			// Moodle's workloads reach the database through its proxy (writes
			// on 3306, reads on 3307), every node of the sessions cluster (the
			// cluster redirects clients to a node's own address) and the
			// cache, and nothing else of the data tier.
			proxy := f.pod("data", "PerconaServerMySQL", "mysql-haproxy")
			members := f.pod("data", "PerconaServerMySQL", "mysql-mysql")
			sessions := f.podsOf("data", "redis-sessions-")
			require.NotEmpty(t, sessions, "the sessions cluster's pods")
			cache := f.pod("data", "StatefulSet", "redis-cache")
			redis := append(append([]Endpoint{}, sessions...), cache)
			for _, p := range append([]Endpoint{proxy, members}, redis...) {
				require.False(t, p.Meshed, "%s is outside the mesh", p.Name)
			}
			mysql := proxy
			moodlePods := append([]Endpoint{web, f.pod("moodle", "CronJob", "moodle-cron")}, append(f.podsOf("moodle", "moodle-upgrade-"), f.podsOf("moodle", "moodle-maintenance-")...)...)
			require.GreaterOrEqual(t, len(moodlePods), 4, "web, cron, upgrade and maintenance")
			for _, p := range moodlePods {
				f.allowed(p.Name+" -> MySQL primary (proxy 3306)", p, proxy, 3306, "TCP", nil)
				f.allowed(p.Name+" -> MySQL secondaries (proxy 3307)", p, proxy, 3307, "TCP", nil)
				for _, r := range redis {
					f.allowed(p.Name+" -> "+r.Name, p, r, 6379, "TCP", nil)
				}
				f.refused(p.Name+" -> group replication (33061)", p, members, 33061, "TCP", nil)
				f.refused(p.Name+" -> MySQL admin port (33062)", p, members, 33062, "TCP", nil)
				f.refused(p.Name+" -> the proxy's stats (8404)", p, proxy, 8404, "TCP", nil)
				f.refused(p.Name+" -> the Redis cluster bus (16379)", p, sessions[0], 16379, "TCP", nil)
			}
			backup := f.pod("data", "CronJob", "mysql-backup")
			f.allowed("backup -> a secondary (proxy 3307)", backup, proxy, 3307, "TCP", nil)
			f.allowed("backup -> the primary (proxy 3306)", backup, proxy, 3306, "TCP", nil)
			for _, users := range f.podsOf("data", "mysql-users-") {
				f.allowed("users Job -> the primary", users, proxy, 3306, "TCP", nil)
			}

			// Inside the data tier: the group's members replicate to each
			// other, the proxies check and reach them, the operators manage
			// them and watch the API server, the Redis nodes gossip.
			psOperator := f.pod("data", "Deployment", "percona-server-mysql-operator")
			redisOperator := f.pod("data", "Deployment", "redis-operator")
			for _, port := range []int{3306, 33061, 33062} {
				f.allowed(fmt.Sprintf("member -> member (%d)", port), members, members, port, "TCP", nil)
			}
			f.allowed("proxy -> member (3306)", proxy, members, 3306, "TCP", nil)
			f.allowed("proxy -> member check (33062)", proxy, members, 33062, "TCP", nil)
			f.allowed("MySQL operator -> member (33062)", psOperator, members, 33062, "TCP", nil)
			f.allowed("MySQL operator -> API server", psOperator, apiServerDest, 443, "TCP", nil)
			f.allowed("Redis operator -> API server", redisOperator, apiServerDest, 443, "TCP", nil)
			for _, a := range sessions {
				f.allowed("Redis operator -> "+a.Name, redisOperator, a, 6379, "TCP", nil)
				for _, b := range sessions {
					f.allowed(a.Name+" -> "+b.Name+" (cluster bus)", a, b, 16379, "TCP", nil)
					f.allowed(a.Name+" -> "+b.Name+" (replication)", a, b, 6379, "TCP", nil)
				}
			}
			f.refused("a MySQL member -> API server", members, apiServerDest, 443, "TCP", nil)
			f.refused("a Redis node -> API server", sessions[0], apiServerDest, 443, "TCP", nil)
			f.refused("a MySQL member -> the internet", members, someHost, 443, "TCP", nil)
			f.refused("MySQL operator -> the internet (telemetry is off)", psOperator, someHost, 443, "TCP", nil)

			// Integrations call Moodle's web services with the site's host
			// (their sidecar rewrites it), and nothing else of Moodle or the
			// data stores.
			wsHost := f.siteHostFor("integrations")
			for _, in := range f.podsOf("integrations", "integration-") {
				f.allowed(in.Name+" -> Moodle web services", in, web, 8080, "TCP", &Request{Host: wsHost, Path: "/webservice/rest/server.php", Method: "POST"})
				f.refused(in.Name+" -> Moodle /login/index.php", in, web, 8080, "TCP", &Request{Host: wsHost, Path: "/login/index.php", Method: "POST"})
				f.refused(in.Name+" -> Moodle /admin/", in, web, 8080, "TCP", &Request{Host: wsHost, Path: "/admin/settings.php"})
				f.refused(in.Name+" -> MySQL", in, mysql, 3306, "TCP", nil)
				f.refused(in.Name+" -> MySQL members", in, members, 3306, "TCP", nil)
				for _, r := range redis {
					f.refused(in.Name+" -> "+r.Name, in, r, 6379, "TCP", nil)
				}
			}

			// cert-manager: ACME, Azure DNS for DNS-01, kube-dns for the
			// DNS-01 self-check, the site for the HTTP-01 self-check, the
			// API server.
			cm := f.pod("cert-manager", "Deployment", "cert-manager")
			f.allowed("cert-manager -> Let's Encrypt (ACME)", cm, Named("acme-v02.api.letsencrypt.org", "172.65.32.248"), 443, "TCP", nil)
			f.allowed("cert-manager -> Let's Encrypt staging", cm, Named("acme-staging-v02.api.letsencrypt.org", "172.65.46.172"), 443, "TCP", nil)
			if stackConfig(t, s.Name, "dnsZoneName") != nil {
				f.allowed("cert-manager -> Azure Resource Manager (DNS-01)", cm, Named("management.azure.com", "4.150.240.10"), 443, "TCP", nil)
				f.allowed("cert-manager -> Entra ID (DNS-01 token)", cm, Named("login.microsoftonline.com", "40.126.32.134"), 443, "TCP", nil)
			}
			f.allowed("cert-manager DNS-01 self-check through kube-dns", cm, kubeDNS, 53, "UDP", nil)
			f.allowed("cert-manager DNS-01 self-check through kube-dns (TCP)", cm, kubeDNS, 53, "TCP", nil)
			f.allowed("cert-manager HTTP-01 self-check (the site's address is the gateway inside the cluster)", cm, gateway, 80, "TCP", get("/.well-known/acme-challenge/abc123"))
			f.allowed("cert-manager -> API server", cm, apiServerDest, 443, "TCP", nil)
			f.refused("cert-manager -> any other internet host", cm, someHost, 443, "TCP", nil)
			f.refused("cert-manager webhook -> the internet", f.pod("cert-manager", "Deployment", "cert-manager-webhook"), Named("acme-v02.api.letsencrypt.org", "172.65.32.248"), 443, "TCP", nil)

			f.checkProbes()
			f.checkMonitoring(s)
			f.checkWebhooks()
			f.checkMeshControlPlane()

			// Nobody reaches the instance metadata endpoint. Host-network pods
			// are the node itself, which Cilium does not police ([AKS-Cilium]).
			n := 0
			for _, p := range f.sortedPods() {
				if p.HostNetwork {
					t.Logf("%s: %s runs on the host network: Cilium applies no policy to it, so it can reach what its node can (the instance metadata endpoint included)", s.Name, p.Name)
					continue
				}
				if p.Namespace == "kube-system" {
					continue
				}
				for _, port := range []int{80, 443} {
					f.refused(p.Name+" -> instance metadata endpoint", p, imds, port, "TCP", nil)
				}
				n++
			}
			assert.Greater(t, n, 15, "every workload was held against IMDS")

			// A namespace the program does not own is closed.
			stray := Endpoint{Namespace: "default", Labels: map[string]string{"app": "stray"}, Name: "a pod in default"}
			f.refused("a pod in default -> kube-dns", stray, kubeDNS, 53, "UDP", nil)
			f.refused("a pod in default -> the internet", stray, someHost, 443, "TCP", nil)
			f.refused("a pod in default -> instance metadata endpoint", stray, imds, 80, "TCP", nil)
			f.refused("a pod in default -> Moodle", stray, web, 8080, "TCP", get("/"))
			f.refused("a pod in default -> MySQL", stray, mysql, 3306, "TCP", nil)
			f.refused("Moodle -> a pod in default", web, stray, 8080, "TCP", nil)
			f.refused("the internet -> a pod in a new namespace", internetClient, Endpoint{Namespace: "team-x", Labels: map[string]string{"app": "x"}, Name: "a pod in team-x"}, 8080, "TCP", nil)
		})
	}
}

// siteHostFor is the Host header a namespace's sidecars send to Moodle's
// web Service: the authority a VirtualService visible there rewrites to,
// else the Service's own name.
func (f *flows) siteHostFor(ns string) string {
	moodle := "moodle-web.moodle.svc.cluster.local"
	for _, o := range f.all {
		if o.Kind() != "VirtualService" || o.Namespace() != ns || !contains(strs(o.Get("spec.hosts")), moodle) {
			continue
		}
		if exp := strs(o.Get("spec.exportTo")); len(exp) > 0 && !contains(exp, ".") && !contains(exp, "*") && !contains(exp, ns) {
			continue
		}
		for _, h := range asSlice(o.Get("spec.http")) {
			if a := Object(asMap(h)).Str("rewrite.authority"); a != "" {
				return a
			}
		}
	}
	return moodle + ":8080"
}

func (f *flows) sortedPods() []Endpoint {
	keys := make([]string, 0, len(f.pods))
	for k := range f.pods {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Endpoint, 0, len(keys))
	for _, k := range keys {
		out = append(out, f.pods[k])
	}
	return out
}

// operatorPod stands for a pod the Prometheus Operator creates from its
// custom resource: the labels the operator puts on it and the pod
// metadata the resource asks for.
func (f *flows) operatorPod(kind, name, app string) Endpoint {
	f.t.Helper()
	for _, o := range f.all {
		if o.Kind() != kind || o.Name() != name {
			continue
		}
		labels := map[string]string{"app.kubernetes.io/name": app, app: name, "app.kubernetes.io/instance": name}
		for k, v := range asMap(o.Get("spec.podMetadata.labels")) {
			labels[k] = fmt.Sprint(v)
		}
		e := Endpoint{Namespace: o.Namespace(), Labels: labels, ServiceAccount: o.Str("spec.serviceAccountName"), Name: kind + " " + name}
		e.Meshed = asMap(o.Get("spec.podMetadata.annotations"))["sidecar.istio.io/inject"] != "false" && f.s.Namespaces[o.Namespace()]["istio-injection"] == "enabled"
		return e
	}
	require.Failf(f.t, "no operator resource", "%s %s", kind, name)
	return Endpoint{}
}

// checkMonitoring: Prometheus reaches every scrape target, Alertmanager
// its receivers, the monitoring pods the API server, and nothing else on
// the internet.
func (f *flows) checkMonitoring(s *Stack) {
	t := f.t
	prom := f.operatorPod("Prometheus", "kube-prometheus-stack-prometheus", "prometheus")
	require.False(t, prom.Meshed, "Prometheus has no sidecar")
	am := f.operatorPod("Alertmanager", "kube-prometheus-stack-alertmanager", "alertmanager")
	n := 0
	// Pods annotated for the kubernetes-pods job; Istio points meshed pods'
	// annotations at its merged metrics on 15020.
	for _, p := range f.sortedPods() {
		tmpl := f.templateOf(p)
		if tmpl.Meta.Annotations["prometheus.io/scrape"] != "true" {
			continue
		}
		port, err := strconv.Atoi(tmpl.Meta.Annotations["prometheus.io/port"])
		require.NoError(t, err, "%s has a prometheus.io/port", p.Name)
		if p.Meshed {
			port = 15020
		}
		to := p
		if p.HostNetwork {
			to = s.NodeAddr()
		}
		f.allowed("Prometheus -> "+p.Name, prom, to, port, "TCP", &Request{Path: tmpl.Meta.Annotations["prometheus.io/path"]})
		n++
	}
	// ServiceMonitors: the Services they select, or the cluster's own
	// endpoints the chart's monitors name.
	services := map[string]Object{}
	for _, o := range f.all {
		if o.Kind() == "Service" {
			services[o.Namespace()+"/"+o.Name()] = o
		}
	}
	for _, o := range f.all {
		if o.Kind() != "ServiceMonitor" {
			continue
		}
		name := o.Name()
		switch {
		case strings.HasSuffix(name, "-kubelet"):
			f.allowed("Prometheus -> every kubelet (ServiceMonitor "+name+")", prom, s.NodeAddr(), 10250, "TCP", nil)
			n++
			continue
		case strings.HasSuffix(name, "-coredns"):
			f.allowed("Prometheus -> CoreDNS", prom, kubeDNS, 9153, "TCP", nil)
			continue
		case strings.HasSuffix(name, "-apiserver"):
			f.allowed("Prometheus -> API server", prom, apiServerDest, 443, "TCP", nil)
			continue
		}
		namespaces := []string{o.Namespace()}
		if ns := asSlice(o.Get("spec.namespaceSelector.matchNames")); len(ns) > 0 {
			namespaces = strs(ns)
		}
		matched := false
		for _, key := range sortedKeys(services) {
			svc := services[key]
			if !contains(namespaces, svc.Namespace()) || !selects(asMap(o.Get("spec.selector")), labelsOf(svc)) {
				continue
			}
			for _, ep := range asSlice(o.Get("spec.endpoints")) {
				port, to, ok := f.resolveMonitorPort(svc, asMap(ep))
				require.True(t, ok, "%s: ServiceMonitor %s endpoint %v resolves on Service %s", s.Name, name, ep, svc.Name())
				if to.HostNetwork {
					to = s.NodeAddr()
				}
				f.allowed(fmt.Sprintf("Prometheus -> %s (ServiceMonitor %s)", to, name), prom, to, port, "TCP", nil)
				matched, n = true, n+1
			}
		}
		assert.True(t, matched || name == "istiod", "%s: ServiceMonitor %s selects no Service of the stack", s.Name, name)
	}
	assert.Greater(t, n, 8, "%s: the check saw the scrape targets", s.Name)

	// Alertmanager delivers to its receivers; the monitoring pods reach the
	// API server; nothing there reaches the rest of the internet.
	if hostPort, ok := stackConfig(t, s.Name, "smtpHost").(string); ok && stackConfig(t, s.Name, "alertEmails") != nil {
		h, p, _ := strings.Cut(hostPort, ":")
		port, _ := strconv.Atoi(p)
		f.allowed("Alertmanager -> SMTP relay "+hostPort, am, Named(h, "52.97.146.2"), port, "TCP", nil)
		f.refused("Prometheus -> SMTP relay (only Alertmanager mails)", prom, Named(h, "52.97.146.2"), port, "TCP", nil)
	}
	f.refused("Alertmanager -> any other internet host", am, someHost, 443, "TCP", nil)
	f.refused("Prometheus -> the internet", prom, someHost, 443, "TCP", nil)
	grafana := f.pod("monitoring", "Deployment", "kube-prometheus-stack-grafana")
	f.refused("Grafana -> the internet", grafana, someHost, 443, "TCP", nil)
	for _, p := range []Endpoint{prom, grafana, f.pod("monitoring", "Deployment", "kube-prometheus-stack-operator"), f.pod("monitoring", "Deployment", "kube-prometheus-stack-kube-state-metrics")} {
		f.allowed(p.Name+" -> API server", p, apiServerDest, 443, "TCP", nil)
	}
	// Prometheus reaches istiod's monitoring port; nobody else does.
	istiod := f.pod("istio-system", "Deployment", "istiod")
	f.allowed("Prometheus -> istiod monitoring (15014)", prom, istiod, 15014, "TCP", nil)
	f.refused("Moodle -> istiod monitoring (15014)", f.pod("moodle", "Deployment", "moodle-web"), istiod, 15014, "TCP", nil)
}

func sortedKeys(m map[string]Object) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// templateOf finds the Pod template behind an endpoint.
func (f *flows) templateOf(e Endpoint) Pod {
	pods, _ := Pods(f.all, "default")
	for _, p := range pods {
		if p.String() == e.Name {
			return p
		}
	}
	return Pod{}
}

// resolveMonitorPort resolves a ServiceMonitor endpoint on a Service to
// the destination pod and its port; pods the operator creates stand in
// through the Service's selector.
func (f *flows) resolveMonitorPort(svc Object, ep map[string]any) (int, Endpoint, bool) {
	pods := podsSelectedBy(f.all, svc)
	var to Endpoint
	if len(pods) == 0 {
		sel := map[string]string{}
		for k, v := range asMap(svc.Get("spec.selector")) {
			sel[k] = fmt.Sprint(v)
		}
		to = Endpoint{Namespace: svc.Namespace(), Labels: sel, Name: "the pods of Service " + svc.Name()}
		for _, sp := range asSlice(svc.Get("spec.ports")) {
			if m := asMap(sp); m["name"] == ep["port"] {
				return int(m["port"].(float64)), to, true
			}
		}
		return 0, to, false
	}
	to = f.s.EndpointOf(pods[0])
	if tpv, isNum := ep["targetPort"].(float64); isNum {
		return int(tpv), to, true
	}
	port, ok := targetPort(svc, func(sp map[string]any) bool { return sp["name"] == ep["port"] }, pods[0])
	return port, to, ok
}

// checkProbes: each pod's kubelet reaches its probes. Istio's injector
// rewrites a meshed pod's HTTP and TCP probes to the sidecar's 15020
// (rewriteAppHTTPProbe, on by default), which it does not intercept.
func (f *flows) checkProbes() {
	kubelet := Endpoint{Node: true, LocalNode: true, Name: "the pod's kubelet"}
	pods, _ := Pods(f.all, "default")
	n := 0
	for _, p := range pods {
		e, ok := f.pods[p.Namespace+"/"+p.Kind+"/"+p.Name]
		if !ok || e.HostNetwork {
			continue
		}
		for _, c := range p.Spec.Containers {
			for _, pr := range [](*corev1Probe){probeOf(c, c.ReadinessProbe), probeOf(c, c.LivenessProbe), probeOf(c, c.StartupProbe)} {
				if pr == nil || pr.port == 0 {
					continue
				}
				port := pr.port
				if e.Meshed {
					port = 15020
				}
				f.allowed(fmt.Sprintf("kubelet -> %s probe of %s", pr.kind, e.Name), kubelet, e, port, "TCP", &Request{Path: pr.path})
				n++
			}
		}
	}
	assert.Greater(f.t, n, 5, "%s: probes were checked", f.s.Name)
}

// checkWebhooks: the API server reaches every admission webhook.
func (f *flows) checkWebhooks() {
	t := f.t
	services := map[string]Object{}
	for _, o := range f.all {
		if o.Kind() == "Service" {
			services[o.Namespace()+"/"+o.Name()] = o
		}
	}
	n := 0
	for _, o := range f.all {
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
			require.True(t, ok, "%s: webhook %s calls Service %v, which no release creates", f.s.Name, o.Name(), svcRef)
			pods := podsSelectedBy(f.all, svc)
			require.NotEmpty(t, pods, "%s: webhook Service %s selects pods", f.s.Name, svc.Name())
			for _, p := range pods {
				tp, ok := targetPort(svc, func(sp map[string]any) bool { return sp["port"] == float64(port) }, p)
				require.True(t, ok, "%s: Service %s has port %d", f.s.Name, svc.Name(), port)
				f.allowed(fmt.Sprintf("API server -> webhook %s (%s:%d)", o.Name(), p, tp), apiServerSource, f.s.EndpointOf(p), tp, "TCP", nil)
				n++
			}
		}
	}
	assert.Greater(t, n, 2, "istiod's, cert-manager's and the operator's webhooks")
}

// checkMeshControlPlane: every sidecar and the gateway reach istiod's
// secure xDS, no one its plaintext xDS; istiod reaches the API server
// and nothing on the internet; every namespace reaches kube-dns.
func (f *flows) checkMeshControlPlane() {
	t := f.t
	istiod := f.pod("istio-system", "Deployment", "istiod")
	meshed := 0
	for _, p := range f.sortedPods() {
		if !p.Meshed {
			continue
		}
		f.allowed(p.Name+" -> istiod (xDS, certificates)", p, istiod, 15012, "TCP", nil)
		f.refused(p.Name+" -> istiod plaintext xDS (15010)", p, istiod, 15010, "TCP", nil)
		meshed++
	}
	assert.Greater(t, meshed, 3, "%s: meshed workloads", f.s.Name)
	f.allowed("istiod -> API server", istiod, apiServerDest, 443, "TCP", nil)
	f.refused("istiod -> the internet", istiod, someHost, 443, "TCP", nil)
	var names []string
	for ns := range f.s.Namespaces {
		names = append(names, ns)
	}
	sort.Strings(names)
	for _, ns := range names {
		if ns == "default" || ns == "kube-system" {
			continue
		}
		pod := Endpoint{Namespace: ns, Labels: map[string]string{"app": "any"}, Name: "a pod in " + ns}
		f.allowed("pod in "+ns+" -> kube-dns", pod, kubeDNS, 53, "UDP", nil)
	}
}

// corev1Probe is what a probe needs of the network: its kind, port, path.
type corev1Probe struct {
	kind, path string
	port       int
}

func probeOf(c corev1.Container, p *corev1.Probe) *corev1Probe {
	port := func(v intstr.IntOrString) int {
		if v.Type == intstr.Int {
			return v.IntValue()
		}
		for _, cp := range c.Ports {
			if cp.Name == v.StrVal {
				return int(cp.ContainerPort)
			}
		}
		return 0
	}
	switch {
	case p == nil:
		return nil
	case p.HTTPGet != nil:
		return &corev1Probe{kind: "HTTP", path: p.HTTPGet.Path, port: port(p.HTTPGet.Port)}
	case p.TCPSocket != nil:
		return &corev1Probe{kind: "TCP", port: port(p.TCPSocket.Port)}
	}
	return nil // exec and gRPC probes open no connection from the kubelet here
}
