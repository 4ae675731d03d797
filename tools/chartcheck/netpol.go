package chartcheck

// The network layer as Azure CNI powered by Cilium enforces it on AKS.
// Each rule below cites where it is documented; semantics_test.go has a
// test per rule that fails when the evaluator ignores it. Sources:
//   [AKS-Cilium]  MicrosoftDocs/azure-aks-docs articles/aks/azure-cni-powered-by-cilium.md
//                 (Limitations, FAQ; commit fb060abe, 2026-08-21)
//   [AKS-Migrate] the same repository, articles/aks/migrate-from-npm-to-cilium-network-policy.md
//   [AKS-FQDN]    the same repository, articles/aks/container-network-security-fqdn-filtering-concepts.md
//   [Cilium]      cilium/cilium v1.18.6 (the release AKS runs on Kubernetes 1.35)
//                 Documentation/security/policy/{intro,language,kubernetes}.rst
//   [K8s-NP]      the Kubernetes NetworkPolicy API (networking.k8s.io/v1)

import (
	"fmt"
	"net/netip"
	"path"
	"strconv"
	"strings"
)

// Endpoint is one end of a flow.
type Endpoint struct {
	// Namespace, Labels and ServiceAccount describe a pod; Meshed says it
	// has an Istio sidecar (or is an Istio gateway), Gateway that it is one.
	Namespace      string
	Labels         map[string]string
	ServiceAccount string
	Meshed         bool
	Gateway        bool
	// HostNetwork: a pod in its node's network namespace (node-exporter,
	// the Istio CNI agent): it has the node's identity.
	HostNetwork bool
	// Node is a node's address: the kubelet, a host-network pod, or the
	// API server reaching the cluster through the nodes ([Cilium]
	// language.rst: "ingress control-plane traffic is being tunneled
	// through worker nodes" on AKS). LocalNode narrows it to the other
	// side's own node (the kubelet probing its pods).
	Node      bool
	LocalNode bool
	// APIServer is the AKS API server as a destination (Cilium's
	// kube-apiserver entity).
	APIServer bool
	// IP and Host are an address outside the cluster and, when known, its
	// DNS name (for FQDN rules).
	IP   netip.Addr
	Host string
	// Name says what the endpoint is in messages.
	Name string
}

// String names the endpoint.
func (e Endpoint) String() string {
	switch {
	case e.Name != "":
		return e.Name
	case e.APIServer:
		return "the API server"
	case e.Node:
		return "a node"
	case e.Namespace != "":
		return fmt.Sprintf("%s pod %v", e.Namespace, e.Labels)
	case e.Host != "":
		return e.Host + " (" + e.IP.String() + ")"
	}
	return e.IP.String()
}

// pod reports whether the endpoint has a pod identity of its own.
func (e Endpoint) pod() bool { return e.Namespace != "" && !e.HostNetwork }

// node reports whether the endpoint has a node's identity.
func (e Endpoint) node() bool { return e.Node || e.HostNetwork }

// outside reports whether the endpoint is outside the cluster (world).
func (e Endpoint) outside() bool { return e.IP.IsValid() && !e.pod() && !e.node() && !e.APIServer }

// Addr is an endpoint outside the cluster.
func Addr(ip string) Endpoint { return Endpoint{IP: netip.MustParseAddr(ip)} }

// Named is an internet host with its address.
func Named(host, ip string) Endpoint { return Endpoint{Host: host, IP: netip.MustParseAddr(ip)} }

// NodeAddr is a node of the cluster.
func (s *Stack) NodeAddr() Endpoint { return Endpoint{Node: true, Name: "a node"} }

// ciliumLabels are the labels Cilium gives a pod's identity: its own, its
// namespace (io.kubernetes.pod.namespace), its namespace's labels
// (io.cilium.k8s.namespace.labels.*) and its service account
// (io.cilium.k8s.policy.serviceaccount) ([Cilium] kubernetes.rst).
func (s *Stack) ciliumLabels(e Endpoint) map[string]string {
	out := map[string]string{"io.kubernetes.pod.namespace": e.Namespace}
	for k, v := range s.Namespaces[e.Namespace] {
		out["io.cilium.k8s.namespace.labels."+k] = v
	}
	if e.ServiceAccount != "" {
		out["io.cilium.k8s.policy.serviceaccount"] = e.ServiceAccount
	}
	for k, v := range e.Labels {
		out[k] = v
	}
	return out
}

// stripSource drops the label source prefix Cilium selectors may carry
// ("k8s:", "any:").
func stripSource(sel map[string]any) map[string]any {
	if sel == nil {
		return nil
	}
	out := map[string]any{}
	if ml := asMap(sel["matchLabels"]); ml != nil {
		m := map[string]any{}
		for k, v := range ml {
			m[trimSource(k)] = v
		}
		out["matchLabels"] = m
	}
	var exprs []any
	for _, e := range asSlice(sel["matchExpressions"]) {
		em := map[string]any{}
		for k, v := range asMap(e) {
			em[k] = v
		}
		em["key"] = trimSource(fmt.Sprint(em["key"]))
		exprs = append(exprs, em)
	}
	if exprs != nil {
		out["matchExpressions"] = exprs
	}
	return out
}

func trimSource(k string) string {
	for _, p := range []string{"k8s:", "any:"} {
		k = strings.TrimPrefix(k, p)
	}
	return k
}

// Allows says whether Cilium lets from open a connection to to on
// port/proto: the sender's egress policies and the receiver's ingress
// policies must both allow it ([Cilium] language.rst: "policy must be
// configured on both sides (sender and receiver)"); if not, which side
// refuses it and why.
func (s *Stack) Allows(from, to Endpoint, port int, proto string) (bool, string) {
	if ok, why := s.side(from, to, "Egress", port, proto); !ok {
		return false, why
	}
	return s.side(to, from, "Ingress", port, proto)
}

// peersOf lists the identities a peer endpoint can show. A node peer is
// both the local host and a remote node: a flow to "the nodes" reaches
// the sender's own node (host) and every other (remote-node) ([Cilium]
// language.rst, entities host and remote-node), and both must pass.
func peersOf(e Endpoint) []Endpoint {
	if !e.node() {
		return []Endpoint{e}
	}
	local, remote := e, e
	local.Name, remote.Name = e.String()+" (its own node: host)", e.String()+" (another node: remote-node)"
	local.Labels, remote.Labels = map[string]string{"reserved:host": ""}, map[string]string{"reserved:remote-node": ""}
	if e.LocalNode {
		return []Endpoint{local}
	}
	return []Endpoint{local, remote}
}

// side evaluates one endpoint's policies in one direction.
func (s *Stack) side(subject, peer Endpoint, dir string, port int, proto string) (bool, string) {
	if !subject.pod() {
		// Cilium enforces policy on the pods it manages: host-network pods
		// use the host identity and get no policy ([AKS-Cilium]
		// Limitations: "Network policies aren't applied to pods using host
		// networking"); nodes, the API server and the internet are not
		// pods of this cluster.
		return true, ""
	}
	for _, p := range peersOf(peer) {
		if ok, why := s.sideOne(subject, p, dir, port, proto); !ok {
			return false, why
		}
	}
	return true, ""
}

func (s *Stack) sideOne(subject, peer Endpoint, dir string, port int, proto string) (bool, string) {
	labels := s.ciliumLabels(subject)
	field := map[string]string{"Ingress": "ingress", "Egress": "egress"}[dir]
	type selected struct {
		o           Object
		clusterwide bool
	}
	var cilium []selected
	for _, cp := range s.ciliumPolicies(subject.Namespace) {
		if sel := stripSource(asMap(cp.Get("spec.endpointSelector"))); sel != nil && selects(sel, labels) {
			cilium = append(cilium, selected{cp, cp.Kind() == "CiliumClusterwideNetworkPolicy"})
		}
	}
	// Deny rules win over every allow, a NetworkPolicy's included ([Cilium]
	// language.rst, "Simple Egress Deny": "egress traffic is denied even if
	// the policy contains egress rules that would otherwise allow it").
	for _, c := range cilium {
		for _, r := range asSlice(c.o.Get("spec." + field + "Deny")) {
			if s.ciliumRuleMatches(c.o.Namespace(), c.clusterwide, asMap(r), dir, subject, peer, port, proto) {
				return false, fmt.Sprintf("%s %s denies %s %s %s on %d/%s", c.o.Kind(), policyName(c.o), subject, map[string]string{"Ingress": "from", "Egress": "to"}[dir], peer, port, proto)
			}
		}
	}
	if _, local := peer.Labels["reserved:host"]; local && dir == "Ingress" {
		// [Cilium] language.rst: "Kubernetes will automatically allow all
		// communication from the local host of all local endpoints" (the
		// kubelet's probes), unless the agent runs with
		// --allow-localhost=policy, which AKS does not set.
		return true, ""
	}
	isSelected := false
	// Kubernetes NetworkPolicies of the subject's namespace.
	for _, np := range s.policiesOf("NetworkPolicy", subject.Namespace) {
		if !selects(asMap(np.Get("spec.podSelector")), subject.Labels) || !hasType(np, dir, field) {
			continue
		}
		// [K8s-NP], [Cilium] intro.rst: a selected endpoint is default-deny
		// in that direction.
		isSelected = true
		peersField := map[string]string{"Ingress": "from", "Egress": "to"}[dir]
		for _, r := range asSlice(np.Get("spec." + field)) {
			rule := asMap(r)
			if s.npPeersMatch(subject.Namespace, rule[peersField], peer) && portsMatch(rule["ports"], port, proto) {
				return true, ""
			}
		}
	}
	// Cilium's own allows: the namespace's CiliumNetworkPolicies and the
	// CiliumClusterwideNetworkPolicies.
	for _, c := range cilium {
		rules := asSlice(c.o.Get("spec." + field))
		if rules != nil || len(asSlice(c.o.Get("spec."+field+"Deny"))) > 0 || defaultDeny(c.o, field) {
			// [Cilium] intro.rst: a rule with that section (or
			// enableDefaultDeny) puts the endpoint in default deny.
			isSelected = true
		}
		for _, r := range rules {
			if s.ciliumRuleMatches(c.o.Namespace(), c.clusterwide, asMap(r), dir, subject, peer, port, proto) {
				return true, ""
			}
		}
	}
	if !isSelected {
		return true, ""
	}
	if dir == "Egress" {
		return false, fmt.Sprintf("no egress policy of namespace %s lets %s reach %s on %d/%s", subject.Namespace, subject, peer, port, proto)
	}
	return false, fmt.Sprintf("no ingress policy of namespace %s lets %s in on %d/%s from %s", subject.Namespace, subject, port, proto, peer)
}

func policyName(o Object) string {
	if o.Namespace() == "" {
		return o.Name()
	}
	return o.Namespace() + "/" + o.Name()
}

// defaultDeny reads enableDefaultDeny for a direction ([Cilium] intro.rst,
// "Endpoint default policy").
func defaultDeny(cp Object, field string) bool {
	v, ok := asMap(cp.Get("spec.enableDefaultDeny"))[field].(bool)
	return ok && v
}

// policiesOf are the stack's objects of a kind in a namespace.
func (s *Stack) policiesOf(kind, ns string) []Object {
	var out []Object
	for _, o := range s.Objects {
		if o.Kind() == kind && o.Namespace() == ns {
			out = append(out, o)
		}
	}
	return out
}

// ciliumPolicies are the CiliumNetworkPolicies of a namespace and every
// CiliumClusterwideNetworkPolicy.
func (s *Stack) ciliumPolicies(ns string) []Object {
	out := s.policiesOf("CiliumNetworkPolicy", ns)
	for _, o := range s.Objects {
		if o.Kind() == "CiliumClusterwideNetworkPolicy" {
			out = append(out, o)
		}
	}
	return out
}

// hasType says whether a NetworkPolicy governs a direction ([K8s-NP]:
// without policyTypes, Ingress always, Egress when egress rules exist).
func hasType(np Object, typ, field string) bool {
	types, ok := np.Get("spec.policyTypes").([]any)
	if !ok {
		return typ == "Ingress" || np.Get("spec."+field) != nil
	}
	for _, t := range types {
		if t == typ {
			return true
		}
	}
	return false
}

// npPeersMatch matches a NetworkPolicy rule's peers as Cilium on AKS does.
func (s *Stack) npPeersMatch(policyNS string, peers any, e Endpoint) bool {
	list, _ := peers.([]any)
	if peers == nil || len(list) == 0 {
		// [K8s-NP]: a rule without peers matches every source or
		// destination; Cilium translates it to allow-all (nodes, the API
		// server and the internet included).
		return true
	}
	for _, p := range list {
		peer := asMap(p)
		if ipb := asMap(peer["ipBlock"]); ipb != nil {
			// [AKS-Cilium] FAQ: "a NetworkPolicy ipBlock can't select pod or
			// node IPs", even 0.0.0.0/0; [Cilium] language.rst: "By default,
			// CIDR-based selectors do not match in-cluster entities (pods or
			// nodes)". The API server has its own identity (kube-apiserver),
			// which this check does not assume a CIDR selects.
			if !e.outside() {
				continue
			}
			if cidrMatches(fmt.Sprint(ipb["cidr"]), asSlice(ipb["except"]), e.IP) {
				return true
			}
			continue
		}
		// Namespace and pod selectors select pods, never a node or a
		// host-network pod (they have the host's identity).
		if !e.pod() {
			continue
		}
		nsSel, hasNS := peer["namespaceSelector"]
		if hasNS {
			if !selects(asMap(nsSel), s.Namespaces[e.Namespace]) {
				continue
			}
		} else if e.Namespace != policyNS {
			continue
		}
		if podSel, ok := peer["podSelector"]; ok && !selects(asMap(podSel), e.Labels) {
			continue
		}
		return true
	}
	return false
}

func cidrMatches(cidr string, except []any, ip netip.Addr) bool {
	c, err := netip.ParsePrefix(cidr)
	if err != nil || !c.Contains(ip) {
		return false
	}
	for _, ex := range except {
		if x, err := netip.ParsePrefix(fmt.Sprint(ex)); err == nil && x.Contains(ip) {
			return false
		}
	}
	return true
}

// ciliumRuleMatches matches one CiliumNetworkPolicy rule ([Cilium]
// language.rst): its peers (endpoints, entities, CIDRs, FQDNs) and its
// ports. An empty rule matches nothing: it only turns on default deny
// ("Ingress/Egress Default Deny").
func (s *Stack) ciliumRuleMatches(policyNS string, clusterwide bool, rule map[string]any, dir string, subject, peer Endpoint, port int, proto string) bool {
	pre := map[string]string{"Ingress": "from", "Egress": "to"}[dir]
	hasPeer := false
	matched := false
	if eps, ok := rule[pre+"Endpoints"]; ok {
		hasPeer = true
		for _, sel := range asSlice(eps) {
			sm := stripSource(asMap(sel))
			if !peer.pod() {
				continue
			}
			// [Cilium] kubernetes.rst: a CiliumNetworkPolicy's peer selector
			// applies within the policy's namespace unless it names
			// io.kubernetes.pod.namespace; a clusterwide policy's, anywhere.
			if !clusterwide && !mentions(sm, "io.kubernetes.pod.namespace") && peer.Namespace != policyNS {
				continue
			}
			if selects(sm, s.ciliumLabels(peer)) {
				matched = true
			}
		}
	}
	if ents, ok := rule[pre+"Entities"]; ok {
		hasPeer = true
		for _, e := range asSlice(ents) {
			if entityMatches(fmt.Sprint(e), peer) {
				matched = true
			}
		}
	}
	for _, key := range []string{pre + "CIDR", pre + "CIDRSet"} {
		list, ok := rule[key]
		if !ok {
			continue
		}
		hasPeer = true
		for _, c := range asSlice(list) {
			cidr, except := fmt.Sprint(c), []any(nil)
			if m := asMap(c); m != nil {
				cidr, except = fmt.Sprint(m["cidr"]), asSlice(m["except"])
			}
			// CIDR rules apply to endpoints outside the cluster only
			// ("CIDR rules do not apply to traffic where both sides ... are
			// managed by Cilium or use an IP belonging to a node").
			if peer.outside() && cidrMatches(cidr, except, peer.IP) {
				matched = true
			}
		}
	}
	if fq, ok := rule["toFQDNs"]; ok && dir == "Egress" {
		hasPeer = true
		// [AKS-FQDN]: FQDN policies need ACNS security ("If ACNS security
		// is disabled, FQDN and L7 policies ... are blocked"); [Cilium]
		// language.rst: the names are learnt from DNS answers Cilium's DNS
		// proxy sees, which needs an L7 DNS rule for the same endpoints.
		if peer.outside() && peer.Host != "" && s.FQDNPolicies && s.hasDNSRule(subject) {
			for _, f := range asSlice(fq) {
				m := asMap(f)
				if n, ok := m["matchName"].(string); ok && strings.EqualFold(n, peer.Host) {
					matched = true
				}
				if p, ok := m["matchPattern"].(string); ok {
					if ok, _ := path.Match(strings.ReplaceAll(p, "**.", "*."), peer.Host); ok {
						matched = true
					}
				}
			}
		}
	}
	if !hasPeer {
		// A rule with ports only matches any peer on them; with nothing at
		// all it matches nothing.
		if _, ok := rule["toPorts"]; !ok {
			return false
		}
		matched = true
	}
	return matched && ciliumPortsMatch(rule["toPorts"], port, proto)
}

// hasDNSRule reports whether a Cilium policy selecting the endpoint has
// an L7 DNS rule, which its FQDN rules need.
func (s *Stack) hasDNSRule(subject Endpoint) bool {
	labels := s.ciliumLabels(subject)
	for _, cp := range s.ciliumPolicies(subject.Namespace) {
		if sel := stripSource(asMap(cp.Get("spec.endpointSelector"))); sel == nil || !selects(sel, labels) {
			continue
		}
		for _, r := range asSlice(cp.Get("spec.egress")) {
			for _, tp := range asSlice(asMap(r)["toPorts"]) {
				if asSlice(Object(asMap(tp)).Get("rules.dns")) != nil {
					return true
				}
			}
		}
	}
	return false
}

func mentions(sel map[string]any, key string) bool {
	if _, ok := asMap(sel["matchLabels"])[key]; ok {
		return true
	}
	for _, e := range asSlice(sel["matchExpressions"]) {
		if asMap(e)["key"] == key {
			return true
		}
	}
	return false
}

// entityMatches applies a Cilium entity ([Cilium] language.rst, "Entities
// based"): host is the local node, remote-node every other node (both
// with their host-network pods), kube-apiserver the API server, world
// everything outside the cluster, cluster everything inside it, all both.
func entityMatches(entity string, e Endpoint) bool {
	_, host := e.Labels["reserved:host"]
	_, remote := e.Labels["reserved:remote-node"]
	switch entity {
	case "all":
		return true
	case "host":
		return e.node() && host
	case "remote-node":
		return e.node() && remote
	case "kube-apiserver":
		return e.APIServer
	case "world":
		return e.outside()
	case "cluster":
		return e.pod() || e.node()
	}
	return false
}

func ciliumPortsMatch(toPorts any, port int, proto string) bool {
	list := asSlice(toPorts)
	if len(list) == 0 {
		return true
	}
	for _, tp := range list {
		for _, p := range asSlice(asMap(tp)["ports"]) {
			pm := asMap(p)
			pp := strings.ToUpper(fmt.Sprint(pm["protocol"]))
			if pm["protocol"] == nil {
				pp = "ANY"
			}
			if pp != "ANY" && pp != proto {
				continue
			}
			n, err := strconv.Atoi(fmt.Sprint(pm["port"]))
			if err != nil {
				continue // named ports are not used: they can be enforced wrongly ([AKS-Migrate])
			}
			end := n
			if e, err := strconv.Atoi(fmt.Sprint(pm["endPort"])); err == nil {
				end = e
			}
			if n == 0 || (port >= n && port <= end) {
				return true
			}
		}
	}
	return false
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// selects applies a label selector (matchLabels and matchExpressions); an
// empty or nil selector selects everything.
func selects(sel map[string]any, labels map[string]string) bool {
	for k, v := range asMap(sel["matchLabels"]) {
		if labels[k] != fmt.Sprint(v) {
			return false
		}
	}
	for _, e := range asSlice(sel["matchExpressions"]) {
		expr := asMap(e)
		key := fmt.Sprint(expr["key"])
		val, has := labels[key]
		in := false
		for _, v := range asSlice(expr["values"]) {
			in = in || fmt.Sprint(v) == val
		}
		switch expr["operator"] {
		case "In":
			if !has || !in {
				return false
			}
		case "NotIn":
			if has && in {
				return false
			}
		case "Exists":
			if !has {
				return false
			}
		case "DoesNotExist":
			if has {
				return false
			}
		}
	}
	return true
}

// portsMatch matches a NetworkPolicy rule's ports (number, optional
// endPort, protocol TCP by default) ([K8s-NP]).
func portsMatch(ports any, port int, proto string) bool {
	list := asSlice(ports)
	if len(list) == 0 {
		return true
	}
	for _, p := range list {
		pm := asMap(p)
		pp := "TCP"
		if v, ok := pm["protocol"].(string); ok {
			pp = v
		}
		if pp != proto {
			continue
		}
		switch v := pm["port"].(type) {
		case nil:
			return true
		case float64:
			end := int(v)
			if e, ok := pm["endPort"].(float64); ok {
				end = int(e)
			}
			if port >= int(v) && port <= end {
				return true
			}
		case string:
			if n, err := strconv.Atoi(v); err == nil && n == port {
				return true
			}
		}
	}
	return false
}
