package chartcheck

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// These tests hold the evaluators themselves against the cases the
// documentation calls out (netpol.go and istio.go cite the sources). Each
// fails when the evaluator ignores the rule it names.

// tiny builds a stack from YAML documents; namespaces get the labels
// given ("mesh" marks a namespace labelled for injection).
func tiny(t *testing.T, fqdn bool, meshNS []string, docs ...string) *Stack {
	t.Helper()
	s := &Stack{Name: "test", Namespaces: map[string]map[string]string{}, FQDNPolicies: fqdn}
	for _, ns := range []string{"a", "b", "kube-system", "istio-system", "istio-ingress", "default"} {
		s.Namespaces[ns] = map[string]string{"kubernetes.io/metadata.name": ns}
	}
	for _, ns := range meshNS {
		s.Namespaces[ns]["istio-injection"] = "enabled"
	}
	s.Releases = []Release{{Name: "istiod", Chart: "istiod", Namespace: "istio-system"}}
	for _, d := range docs {
		for _, part := range strings.Split(d, "\n---\n") {
			var o Object
			require.NoError(t, yaml.Unmarshal([]byte(part), &o))
			if len(o) > 0 {
				s.Objects = append(s.Objects, o)
			}
		}
	}
	return s
}

var (
	podA    = Endpoint{Namespace: "a", Labels: map[string]string{"app": "alpha"}, ServiceAccount: "alpha", Name: "pod a/alpha"}
	podB    = Endpoint{Namespace: "b", Labels: map[string]string{"app": "beta"}, ServiceAccount: "beta", Name: "pod b/beta"}
	node    = Endpoint{Node: true, Name: "a node"}
	outside = Addr("198.51.100.7")
)

const denyAllA = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: a}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}`

func allowEgressA(to string) string {
	return `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out, namespace: a}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [` + to + `]`
}

func TestCiliumIPBlockNeverSelectsPodsOrNodes(t *testing.T) {
	s := tiny(t, false, nil, denyAllA, allowEgressA(`{ipBlock: {cidr: 0.0.0.0/0, except: [169.254.169.254/32]}}`))
	ok, _ := s.Allows(podA, outside, 443, "TCP")
	assert.True(t, ok, "an ipBlock selects addresses outside the cluster")
	ok, _ = s.Allows(podA, Addr("169.254.169.254"), 80, "TCP")
	assert.False(t, ok, "except carves the metadata endpoint out")
	ok, why := s.Allows(podA, podB, 80, "TCP")
	assert.False(t, ok, "0.0.0.0/0 does not select pods under Cilium ([AKS-Cilium] FAQ)")
	assert.Contains(t, why, "no egress policy of namespace a")
	ok, _ = s.Allows(podA, node, 10250, "TCP")
	assert.False(t, ok, "nor nodes: 'It isn't currently possible to specify a NetworkPolicy with an ipBlock to allow traffic to node IPs'")
	ok, _ = s.Allows(podA, Endpoint{Namespace: "monitoring", HostNetwork: true, Name: "node-exporter"}, 9100, "TCP")
	assert.False(t, ok, "nor host-network pods: they have the node's identity")
	ok, _ = s.Allows(podA, Endpoint{APIServer: true}, 443, "TCP")
	assert.False(t, ok, "nor, in this check, the API server (its own kube-apiserver identity)")
}

func TestCiliumHostNetworkPodsGetNoPolicy(t *testing.T) {
	exporter := Endpoint{Namespace: "a", Labels: map[string]string{"app": "node-exporter"}, HostNetwork: true}
	s := tiny(t, false, nil, denyAllA)
	ok, _ := s.Allows(podB, exporter, 9100, "TCP")
	assert.True(t, ok, "[AKS-Cilium]: network policies aren't applied to pods using host networking")
	ok, _ = s.Allows(podA, podB, 80, "TCP")
	assert.False(t, ok, "the same default deny does stop a pod-network pod")
}

func TestCiliumNodeEntitiesAndTheOwnNode(t *testing.T) {
	cnp := func(entities string) string {
		return `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: nodes, namespace: a}
spec:
  endpointSelector: {}
  egress:
  - toEntities: [` + entities + `]
    toPorts: [{ports: [{port: "10250", protocol: TCP}]}]`
	}
	s := tiny(t, false, nil, denyAllA, cnp("host, remote-node"))
	ok, _ := s.Allows(podA, node, 10250, "TCP")
	assert.True(t, ok, "host and remote-node reach every node ([AKS-Migrate])")
	ok, _ = s.Allows(podA, node, 9100, "TCP")
	assert.False(t, ok, "only on the listed ports")
	s = tiny(t, false, nil, denyAllA, cnp("remote-node"))
	ok, why := s.Allows(podA, node, 10250, "TCP")
	assert.False(t, ok, "remote-node alone misses the pod's own node: egress to the own node is not implicit ([AKS-Migrate])")
	assert.Contains(t, why, "its own node: host")
}

func TestCiliumTheLocalHostReachesItsPods(t *testing.T) {
	s := tiny(t, false, nil, denyAllA)
	kubelet := Endpoint{Node: true, LocalNode: true, Name: "the pod's kubelet"}
	ok, _ := s.Allows(kubelet, podA, 8080, "TCP")
	assert.True(t, ok, "the local host (the kubelet's probes) is always allowed in ([Cilium] language.rst)")
	ok, _ = s.Allows(node, podA, 8080, "TCP")
	assert.False(t, ok, "another node is not")
	ok, _ = s.Allows(podA, kubelet, 10250, "TCP")
	assert.False(t, ok, "and the allowance is for the way in only")
}

func TestCiliumDefaultDenyIsPerDirection(t *testing.T) {
	s := tiny(t, false, nil, `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: in-only, namespace: a}
spec: {podSelector: {}, policyTypes: [Ingress]}`)
	ok, _ := s.Allows(podA, podB, 80, "TCP")
	assert.True(t, ok, "an ingress-only policy leaves egress open ([Cilium] intro.rst)")
	ok, _ = s.Allows(podB, podA, 80, "TCP")
	assert.False(t, ok, "and closes ingress")
}

func TestCiliumBothSidesMustAllow(t *testing.T) {
	s := tiny(t, false, nil, allowEgressA(`{namespaceSelector: {}}`), `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-in, namespace: b}
spec: {podSelector: {}, policyTypes: [Ingress]}`)
	ok, why := s.Allows(podA, podB, 80, "TCP")
	assert.False(t, ok, "the sender allows, the receiver does not ([Cilium] language.rst)")
	assert.Contains(t, why, "no ingress policy of namespace b")
}

func TestCiliumEmptyRuleOnlyTurnsOnDefaultDeny(t *testing.T) {
	s := tiny(t, false, nil, `
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: closed}
spec:
  endpointSelector:
    matchExpressions: [{key: io.kubernetes.pod.namespace, operator: NotIn, values: [a, kube-system]}]
  ingress: [{}]
  egress: [{}]`)
	stray := Endpoint{Namespace: "default", Labels: map[string]string{"app": "s"}}
	ok, _ := s.Allows(stray, outside, 443, "TCP")
	assert.False(t, ok, "an empty egress rule allows nothing ('Ingress/Egress Default Deny')")
	ok, _ = s.Allows(podA, stray, 80, "TCP")
	assert.False(t, ok, "and the empty ingress rule closes the way in")
	ok, _ = s.Allows(podA, outside, 443, "TCP")
	assert.True(t, ok, "a namespace the selector leaves out is untouched")
}

func TestCiliumDenyRulesWin(t *testing.T) {
	s := tiny(t, false, nil, allowEgressA(`{ipBlock: {cidr: 0.0.0.0/0}}`), `
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: no-imds}
spec:
  endpointSelector: {}
  egressDeny: [{toCIDR: [169.254.169.254/32]}]`)
	ok, why := s.Allows(podA, Addr("169.254.169.254"), 80, "TCP")
	assert.False(t, ok, "egressDeny wins over the NetworkPolicy's allow ([Cilium] 'Simple Egress Deny')")
	assert.Contains(t, why, "denies")
	ok, _ = s.Allows(podA, outside, 443, "TCP")
	assert.True(t, ok)
}

func TestCiliumPeerSelectorsStayInTheirNamespace(t *testing.T) {
	cnp := func(kind, ns string) string {
		meta := "{name: p}"
		if ns != "" {
			meta = "{name: p, namespace: " + ns + "}"
		}
		return `
apiVersion: cilium.io/v2
kind: ` + kind + `
metadata: ` + meta + `
spec:
  endpointSelector: {matchLabels: {app: alpha}}
  egress:
  - toEndpoints: [{matchLabels: {app: beta}}]`
	}
	s := tiny(t, false, nil, cnp("CiliumNetworkPolicy", "a"))
	ok, _ := s.Allows(podA, podB, 80, "TCP")
	assert.False(t, ok, "a CiliumNetworkPolicy's toEndpoints without a namespace label selects its own namespace only ([Cilium] kubernetes.rst)")
	s = tiny(t, false, nil, cnp("CiliumClusterwideNetworkPolicy", ""))
	ok, _ = s.Allows(podA, podB, 80, "TCP")
	assert.True(t, ok, "a clusterwide policy's selects across namespaces")
	s = tiny(t, false, nil, strings.Replace(cnp("CiliumNetworkPolicy", "a"), "{app: beta}", "{app: beta, k8s:io.kubernetes.pod.namespace: b}", 1))
	ok, _ = s.Allows(podA, podB, 80, "TCP")
	assert.True(t, ok, "naming the namespace (with a k8s: source prefix) reaches it")
}

func TestCiliumFQDNRulesNeedACNSAndADNSRule(t *testing.T) {
	fqdn := `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: out, namespace: a}
spec:
  endpointSelector: {}
  egress:
  - toFQDNs: [{matchName: acme-v02.api.letsencrypt.org}, {matchPattern: "*.example.com"}]
    toPorts: [{ports: [{port: "443", protocol: TCP}]}]`
	dns := `
  - toEndpoints: [{matchLabels: {io.kubernetes.pod.namespace: kube-system, k8s-app: kube-dns}}]
    toPorts: [{ports: [{port: "53", protocol: ANY}], rules: {dns: [{matchPattern: "*"}]}}]`
	acme := Named("acme-v02.api.letsencrypt.org", "172.65.32.248")
	s := tiny(t, true, nil, fqdn+dns)
	ok, _ := s.Allows(podA, acme, 443, "TCP")
	assert.True(t, ok, "a named host on its port")
	ok, _ = s.Allows(podA, Named("api.example.com", "192.0.2.9"), 443, "TCP")
	assert.True(t, ok, "a pattern")
	ok, _ = s.Allows(podA, Named("evil.example.org", "172.65.32.248"), 443, "TCP")
	assert.False(t, ok, "the same address under another name is not allowed")
	ok, _ = s.Allows(podA, Endpoint{Namespace: "kube-system", Labels: map[string]string{"k8s-app": "kube-dns"}}, 53, "UDP")
	assert.True(t, ok, "the DNS rule itself")
	s = tiny(t, false, nil, fqdn+dns)
	ok, _ = s.Allows(podA, acme, 443, "TCP")
	assert.False(t, ok, "without ACNS security AKS blocks FQDN policies ([AKS-FQDN])")
	s = tiny(t, true, nil, fqdn)
	ok, _ = s.Allows(podA, acme, 443, "TCP")
	assert.False(t, ok, "without a DNS rule Cilium never learns the names ([Cilium] language.rst, DNS proxy)")
}

func TestCiliumAPIServerEntity(t *testing.T) {
	s := tiny(t, false, nil, denyAllA, `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: api, namespace: a}
spec:
  endpointSelector: {}
  egress: [{toEntities: [kube-apiserver], toPorts: [{ports: [{port: "443", protocol: TCP}]}]}]`)
	ok, _ := s.Allows(podA, Endpoint{APIServer: true}, 443, "TCP")
	assert.True(t, ok, "toEntities kube-apiserver works for egress on AKS ([Cilium] language.rst note)")
	ok, _ = s.Allows(podA, outside, 443, "TCP")
	assert.False(t, ok, "and is not the internet")
}

func TestCiliumRuleWithoutPeersAllowsEveryone(t *testing.T) {
	s := tiny(t, false, nil, `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: webhook, namespace: a}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress: [{ports: [{port: 10250}]}]`)
	ok, _ := s.Allows(node, podA, 10250, "TCP")
	assert.True(t, ok, "no peers: every source, the API server through the nodes included ([K8s-NP])")
	ok, _ = s.Allows(node, podA, 10251, "TCP")
	assert.False(t, ok)
}

// Istio.

const rootDenyAll = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-nothing, namespace: istio-system}
spec: {}`

var (
	gw     = Endpoint{Namespace: "istio-ingress", Labels: map[string]string{"istio": "ingressgateway"}, ServiceAccount: "istio-ingressgateway", Meshed: true, Gateway: true, Name: "gateway"}
	meshA  = Endpoint{Namespace: "a", Labels: map[string]string{"app": "web"}, ServiceAccount: "web", Meshed: true, Name: "a/web"}
	meshB  = Endpoint{Namespace: "b", Labels: map[string]string{"app": "db"}, ServiceAccount: "db", Meshed: true, Name: "b/db"}
	site   = Request{Port: 443, Host: "learn.example.com", Path: "/"}
	gwSite = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: moodle, namespace: istio-ingress}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: [learn.example.com]}, {port: {number: 80, name: http, protocol: HTTP}, hosts: [learn.example.com]}]`
)

func TestIstioRootNamespacePolicyCoversTheGateway(t *testing.T) {
	s := tiny(t, false, []string{"a"}, gwSite, rootDenyAll)
	ok, why := s.MeshAllows(outside, gw, site)
	assert.False(t, ok, "a policy in the root namespace applies to every workload, the gateway included ([AuthZ] selector; istio/istio#35626)")
	assert.Contains(t, why, "istio-system/allow-nothing")
	s = tiny(t, false, []string{"a"}, gwSite, rootDenyAll, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-site, namespace: istio-ingress}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  rules: [{to: [{operation: {hosts: [learn.example.com, "learn.example.com:*"], ports: ["443", "80"]}}]}]`)
	ok, _ = s.MeshAllows(outside, gw, site)
	assert.True(t, ok, "an ALLOW for the gateway opens it")
	ok, _ = s.MeshAllows(outside, gw, Request{Port: 443, Host: "LEARN.example.com:443", Path: "/"})
	assert.True(t, ok, "hosts match case-insensitively, the port form through the suffix wildcard")
	ok, _ = s.MeshAllows(outside, gw, Request{Port: 443, Host: "other.example.com", Path: "/"})
	assert.False(t, ok, "another host is refused")
}

func TestIstioSelectorScope(t *testing.T) {
	policy := func(ns string) string {
		return `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p, namespace: ` + ns + `}
spec:
  selector: {matchLabels: {app: db}}
  rules: [{from: [{source: {principals: [nobody]}}]}]`
	}
	s := tiny(t, false, []string{"a", "b"}, policy("a"))
	ok, _ := s.MeshAllows(meshA, meshB, Request{Port: 5432})
	assert.True(t, ok, "a selector outside the root namespace selects its own namespace's workloads only")
	s = tiny(t, false, []string{"a", "b"}, policy("istio-system"))
	ok, _ = s.MeshAllows(meshA, meshB, Request{Port: 5432})
	assert.False(t, ok, "in the root namespace it selects workloads of every namespace")
}

func TestIstioDenyFirstThenAllow(t *testing.T) {
	s := tiny(t, false, []string{"a", "b"}, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow, namespace: b}
spec:
  rules: [{from: [{source: {namespaces: [a]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny, namespace: b}
spec:
  action: DENY
  rules: [{to: [{operation: {ports: ["5432"]}}]}]`)
	ok, why := s.MeshAllows(meshA, meshB, Request{Port: 5432})
	assert.False(t, ok, "DENY is evaluated before ALLOW ([AuthZ] rules 2 and 4)")
	assert.Contains(t, why, "(DENY)")
	ok, _ = s.MeshAllows(meshA, meshB, Request{Port: 6379})
	assert.True(t, ok)
	s = tiny(t, false, []string{"a", "b"})
	ok, _ = s.MeshAllows(meshA, meshB, Request{Port: 6379})
	assert.True(t, ok, "no ALLOW policy: allowed ([AuthZ] rule 3)")
	s = tiny(t, false, []string{"a", "b"}, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: empty, namespace: b}
spec: {}`)
	ok, _ = s.MeshAllows(meshA, meshB, Request{Port: 6379})
	assert.False(t, ok, "spec: {} is an ALLOW that matches nothing ([AuthZ] rules: 'If not set, the match will never occur')")
}

func TestIstioPrincipalsNeedMutualTLS(t *testing.T) {
	policy := `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p, namespace: b}
spec:
  rules: [{from: [{source: {principals: [cluster.local/ns/a/sa/web]}}]}]`
	s := tiny(t, false, []string{"a", "b"}, policy)
	ok, _ := s.MeshAllows(meshA, meshB, Request{Port: 5432})
	assert.True(t, ok, "the sidecar's identity is cluster.local/ns/<namespace>/sa/<service account>")
	other := meshA
	other.ServiceAccount = "cron"
	ok, _ = s.MeshAllows(other, meshB, Request{Port: 5432})
	assert.False(t, ok)
	plain := Endpoint{Namespace: "a", Labels: map[string]string{"app": "web"}, ServiceAccount: "web"}
	ok, _ = s.MeshAllows(plain, meshB, Request{Port: 5432})
	assert.False(t, ok, "without a sidecar there is no principal: 'This field requires mTLS enabled'")
}

func TestIstioHTTPOnlyFieldsOnTCP(t *testing.T) {
	allow := `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p, namespace: b}
spec:
  rules: [{to: [{operation: {methods: [GET], ports: ["9000"]}}]}]`
	s := tiny(t, false, []string{"a", "b"}, allow)
	ok, _ := s.MeshAllows(meshA, meshB, Request{Port: 9000})
	assert.False(t, ok, "an ALLOW rule with an HTTP-only field is ignored on TCP ([AuthZ-TCP])")
	deny := `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p, namespace: b}
spec:
  action: DENY
  rules: [{to: [{operation: {methods: [GET]}}]}]`
	s = tiny(t, false, []string{"a", "b"}, deny)
	ok, _ = s.MeshAllows(meshA, meshB, Request{Port: 9001})
	assert.False(t, ok, "a DENY rule drops its HTTP-only fields on TCP and so denies everything ([AuthZ-TCP])")
	s = tiny(t, false, []string{"a", "b"}, strings.Replace(deny, "{methods: [GET]}", `{methods: [GET], ports: ["9000"]}`, 1))
	ok, _ = s.MeshAllows(meshA, meshB, Request{Port: 9001})
	assert.True(t, ok, "what is left (ports) still applies")
}

func TestIstioPathsHostsAndNegations(t *testing.T) {
	s := tiny(t, false, []string{"a", "b"}, `
apiVersion: v1
kind: Service
metadata: {name: db, namespace: b}
spec: {selector: {app: db}, ports: [{name: http-web, port: 8080}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p, namespace: b}
spec:
  rules: [{to: [{operation: {paths: ["/webservice/*", "/exact"], notPaths: ["*.php.bak"]}}]}]`)
	for path, want := range map[string]bool{
		"/webservice/rest/server.php": true, "/webservice/rest/server.php?wstoken=x": true, "/exact": true,
		"/exact/more": false, "/admin/": false, "/webservice/x.php.bak": false, "/": false,
	} {
		ok, _ := s.MeshAllows(meshA, meshB, Request{Port: 8080, Host: "h", Path: path})
		assert.Equal(t, want, ok, "path %s: exact, prefix and suffix matching on the path without its query ([AuthZ])", path)
	}
}

func TestIstioUninterceptedPortsAndStrictMTLS(t *testing.T) {
	s := tiny(t, false, []string{"a", "b"}, rootDenyAll, gwSite, `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-site, namespace: istio-ingress}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  rules: [{}]`)
	prometheus := Endpoint{Namespace: "monitoring", Labels: map[string]string{"app": "prometheus"}}
	for _, port := range []int{15020, 15021, 15090} {
		ok, _ := s.MeshAllows(prometheus, meshB, Request{Port: port})
		assert.True(t, ok, "port %d is not intercepted: no mTLS, no authorization ([Design] section 7)", port)
	}
	ok, why := s.MeshAllows(prometheus, meshB, Request{Port: 9104})
	assert.False(t, ok, "STRICT refuses a client without a sidecar on an intercepted port ([PeerAuth])")
	assert.Contains(t, why, "mutual TLS")
	ok, _ = s.MeshAllows(outside, gw, site)
	assert.True(t, ok, "a gateway's listener serves clients from outside the mesh")
	ok, _ = s.MeshAllows(prometheus, Endpoint{Namespace: "monitoring", Labels: map[string]string{"app": "grafana"}}, Request{Port: 3000})
	assert.True(t, ok, "a workload without a sidecar has no mesh policy")
}

func TestIstioIPBlocks(t *testing.T) {
	s := tiny(t, false, []string{"a"}, gwSite, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: office, namespace: istio-ingress}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  rules: [{from: [{source: {ipBlocks: ["198.51.100.0/24"], notIpBlocks: ["198.51.100.66"]}}]}]`)
	ok, _ := s.MeshAllows(outside, gw, site)
	assert.True(t, ok, "a source address inside ipBlocks ([AuthZ] Source)")
	ok, _ = s.MeshAllows(Addr("198.51.100.66"), gw, site)
	assert.False(t, ok, "notIpBlocks carves an address out")
	ok, _ = s.MeshAllows(Addr("203.0.113.9"), gw, site)
	assert.False(t, ok, "an address outside the block")
}
