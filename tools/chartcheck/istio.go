package chartcheck

// The mesh layer as Istio enforces it: mutual TLS (PeerAuthentication) and
// AuthorizationPolicy. Each rule cites its source; semantics_test.go has a
// test per rule that fails when the evaluator ignores it. Sources:
//   [AuthZ]    istio/api v1.30.3 security/v1beta1/authorization_policy.proto
//              (the AuthorizationPolicy reference, at the pinned release)
//   [AuthZ-TCP] istio.io content/en/docs/tasks/security/authorization/authz-tcp
//   [PeerAuth] istio/api v1.30.3 security/v1beta1/peer_authentication.proto
//   [Design]   ../shared/DESIGN.md section 7 (ports 15020/15021/15090 are
//              not intercepted)

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Request is what the receiving proxy sees of a connection: the
// workload's port and, when that port speaks HTTP, the request.
type Request struct {
	Port               int
	Host, Path, Method string
}

// uninterceptedPorts are served by the sidecar outside its inbound
// listener: merged metrics, health, Envoy's metrics [Design].
var uninterceptedPorts = map[int]bool{15020: true, 15021: true, 15090: true}

// MeshAllows says whether Istio lets from's request reach to, and if not,
// which rule refuses it.
func (s *Stack) MeshAllows(from, to Endpoint, req Request) (bool, string) {
	if !to.Meshed || uninterceptedPorts[req.Port] {
		return true, "" // no proxy, or a port the proxy does not intercept
	}
	listener := to.Gateway && s.gatewayListens(to, req.Port)
	http := listener || s.speaksHTTP(to, req.Port)
	mtls := from.Meshed && !listener
	if !listener && !from.Meshed && s.strictMTLS(to) {
		// [PeerAuth]: STRICT accepts mutual TLS only; a client without a
		// sidecar has no certificate. (A gateway's own listeners are not
		// governed by PeerAuthentication: they serve the outside world.)
		return false, fmt.Sprintf("%s requires mutual TLS (PeerAuthentication STRICT), and %s has no sidecar", to, from)
	}
	src := source{ip: from.IP}
	if mtls {
		sa := from.ServiceAccount
		if sa == "" {
			sa = "default"
		}
		src.principal = "cluster.local/ns/" + from.Namespace + "/sa/" + sa
		src.namespace = from.Namespace
	}
	var allows []Object
	for _, ap := range s.authorizationPolicies(to) {
		action := ap.Str("spec.action")
		if action == "" {
			action = "ALLOW" // [AuthZ]: "The default action is ALLOW"
		}
		switch action {
		case "CUSTOM":
			return false, fmt.Sprintf("AuthorizationPolicy %s is CUSTOM, which this check does not model", policyName(ap))
		case "AUDIT":
			continue // [AuthZ]: "AUDIT policies do not affect whether requests are allowed or denied"
		case "DENY":
			// [AuthZ] rule 2: any matching DENY policy denies. [AuthZ-TCP]: on
			// TCP the HTTP-only fields of a DENY rule are dropped and the rest
			// still applies ("due to its restrictive nature it denies").
			if matchesRules(ap, src, req, http, true) {
				return false, fmt.Sprintf("AuthorizationPolicy %s (DENY) matches", policyName(ap))
			}
		case "ALLOW":
			allows = append(allows, ap)
		}
	}
	if len(allows) == 0 {
		return true, "" // [AuthZ] rule 3: no ALLOW policy for the workload
	}
	var names []string
	for _, ap := range allows {
		// [AuthZ] rule 4; an ALLOW rule with HTTP-only fields on TCP is
		// invalid and ignored [AuthZ-TCP].
		if matchesRules(ap, src, req, http, false) {
			return true, ""
		}
		names = append(names, policyName(ap))
	}
	// [AuthZ] rule 5.
	return false, fmt.Sprintf("no rule of the ALLOW policies that apply to %s (%s) matches %s", to, strings.Join(names, ", "), describe(src, req, http))
}

func describe(src source, req Request, http bool) string {
	who := "a client without mesh identity"
	if src.principal != "" {
		who = src.principal
	}
	if !http {
		return fmt.Sprintf("%s on TCP port %d", who, req.Port)
	}
	return fmt.Sprintf("%s %s %s%s on port %d", who, orDefault(req.Method, "GET"), req.Host, req.Path, req.Port)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// source is the peer as the receiving proxy knows it.
type source struct {
	principal, namespace string
	ip                   netip.Addr
}

// RootNamespace is Istio's root namespace: istiod's (meshConfig
// rootNamespace defaults to it), or the AKS add-on's.
func (s *Stack) RootNamespace() string {
	for _, r := range s.Releases {
		if r.Chart == "istiod" {
			return r.Namespace
		}
	}
	return "aks-istio-system"
}

// authorizationPolicies are the policies that apply to a workload
// [AuthZ]: "The selector will match with workloads in the same namespace
// as the authorization policy. If the authorization policy is in the root
// namespace, the selector will additionally match with workloads in all
// namespaces. If the selector and the targetRef are not set, the selector
// will match all workloads." Policies with targetRefs attach to Gateway
// API resources and waypoints, not to these workloads.
func (s *Stack) authorizationPolicies(to Endpoint) []Object {
	var out []Object
	for _, o := range s.Objects {
		if o.Kind() != "AuthorizationPolicy" || (o.Namespace() != to.Namespace && o.Namespace() != s.RootNamespace()) {
			continue
		}
		if o.Get("spec.targetRefs") != nil || o.Get("spec.targetRef") != nil {
			continue
		}
		if sel := asMap(o.Get("spec.selector")); sel != nil && !selects(sel, to.Labels) {
			continue
		}
		out = append(out, o)
	}
	return out
}

// strictMTLS reports whether a PeerAuthentication of mode STRICT applies
// to the workload: the root namespace's mesh-wide one, the namespace's, or
// one selecting it; the most specific wins [PeerAuth].
func (s *Stack) strictMTLS(to Endpoint) bool {
	mode := "PERMISSIVE"
	rank := -1
	for _, o := range s.Objects {
		if o.Kind() != "PeerAuthentication" {
			continue
		}
		sel := asMap(o.Get("spec.selector"))
		r := -1
		switch {
		case o.Namespace() == to.Namespace && sel != nil && selects(sel, to.Labels):
			r = 2
		case o.Namespace() == to.Namespace && sel == nil:
			r = 1
		case o.Namespace() == s.RootNamespace() && sel == nil:
			r = 0
		}
		if r > rank {
			if m := o.Str("spec.mtls.mode"); m != "" && m != "UNSET" {
				mode, rank = m, r
			}
		}
	}
	return mode == "STRICT"
}

// gatewayListens reports whether a gateway pod serves a port through a
// Gateway resource selecting it (its listeners: HTTP, HTTPS).
func (s *Stack) gatewayListens(gw Endpoint, port int) bool {
	for _, o := range s.Objects {
		if o.Kind() != "Gateway" || !selects(map[string]any{"matchLabels": asMap(o.Get("spec.selector"))}, gw.Labels) {
			continue
		}
		for _, sv := range asSlice(o.Get("spec.servers")) {
			if p, ok := Object(asMap(sv)).Get("port.number").(float64); ok && int(p) == port {
				return true
			}
		}
	}
	return false
}

// speaksHTTP reports whether the workload's port is HTTP to Istio: a
// Service selecting the pod names the port http*/grpc*/http2, or says so
// in appProtocol (Istio's explicit protocol selection).
func (s *Stack) speaksHTTP(to Endpoint, port int) bool {
	for _, o := range s.Objects {
		if o.Kind() != "Service" || o.Namespace() != to.Namespace || len(asMap(o.Get("spec.selector"))) == 0 ||
			!selects(map[string]any{"matchLabels": asMap(o.Get("spec.selector"))}, to.Labels) {
			continue
		}
		for _, p := range asSlice(o.Get("spec.ports")) {
			sp := asMap(p)
			target := sp["port"]
			if tp, ok := sp["targetPort"].(float64); ok {
				target = tp
			}
			if tf, ok := target.(float64); !ok || int(tf) != port {
				continue
			}
			name := fmt.Sprint(sp["name"]) + "-"
			app := strings.ToLower(fmt.Sprint(sp["appProtocol"]))
			for _, proto := range []string{"http-", "http2-", "grpc-", "https-"} {
				if strings.HasPrefix(name, proto) || app+"-" == proto {
					return true
				}
			}
		}
	}
	return false
}

// matchesRules reports whether any rule of a policy matches [AuthZ]: "A
// match occurs when at least one rule matches the request. If not set, the
// match will never occur". With deny set, HTTP-only fields on a TCP
// connection are dropped; without it, a rule using them never matches.
func matchesRules(ap Object, src source, req Request, http, deny bool) bool {
	for _, r := range asSlice(ap.Get("spec.rules")) {
		if ruleMatches(asMap(r), src, req, http, deny) {
			return true
		}
	}
	return false
}

// httpOnly are the fields that exist only for HTTP [AuthZ]: "Must be used
// only with HTTP".
var httpOnly = map[string]bool{
	"hosts": true, "notHosts": true, "methods": true, "notMethods": true, "paths": true, "notPaths": true,
	"requestPrincipals": true, "notRequestPrincipals": true,
}

// ruleMatches: from, to and when are ANDed; within from (to), any source
// (operation) matches; within one, fields are ANDed, each field's values
// ORed, the not-fields negated [AuthZ] ("Fields in the operation are ANDed
// together").
func ruleMatches(rule map[string]any, src source, req Request, http, deny bool) bool {
	if !http {
		for _, f := range asSlice(rule["from"]) {
			for k := range asMap(asMap(f)["source"]) {
				if httpOnly[k] && !deny {
					return false
				}
			}
		}
		for _, t := range asSlice(rule["to"]) {
			for k := range asMap(asMap(t)["operation"]) {
				if httpOnly[k] && !deny {
					return false
				}
			}
		}
		for _, c := range asSlice(rule["when"]) {
			if strings.HasPrefix(fmt.Sprint(asMap(c)["key"]), "request.") && !deny {
				return false
			}
		}
	}
	if from := asSlice(rule["from"]); from != nil {
		ok := false
		for _, f := range from {
			ok = ok || sourceMatches(asMap(asMap(f)["source"]), src, http)
		}
		if !ok {
			return false
		}
	}
	if to := asSlice(rule["to"]); to != nil {
		ok := false
		for _, t := range to {
			ok = ok || operationMatches(asMap(asMap(t)["operation"]), req, http)
		}
		if !ok {
			return false
		}
	}
	for _, c := range asSlice(rule["when"]) {
		if !conditionMatches(asMap(c), src, req, http) {
			return false
		}
	}
	return true
}

func sourceMatches(f map[string]any, src source, http bool) bool {
	for k, v := range f {
		if !http && httpOnly[k] {
			continue // dropped in a DENY rule on TCP
		}
		vals := strs(v)
		switch k {
		case "principals":
			// "This field requires mTLS enabled": no principal, no match.
			if src.principal == "" || !anyMatch(vals, src.principal, false) {
				return false
			}
		case "notPrincipals":
			if src.principal != "" && anyMatch(vals, src.principal, false) {
				return false
			}
		case "namespaces":
			if src.namespace == "" || !anyMatch(vals, src.namespace, false) {
				return false
			}
		case "notNamespaces":
			if src.namespace != "" && anyMatch(vals, src.namespace, false) {
				return false
			}
		case "serviceAccounts":
			// "<namespace>/<service account>", mTLS only.
			sa := strings.TrimPrefix(src.principal, "cluster.local/ns/")
			if src.principal == "" || !anyMatch(vals, strings.Replace(sa, "/sa/", "/", 1), false) {
				return false
			}
		case "ipBlocks", "remoteIpBlocks":
			if !ipIn(vals, src.ip) {
				return false
			}
		case "notIpBlocks", "notRemoteIpBlocks":
			if ipIn(vals, src.ip) {
				return false
			}
		case "requestPrincipals":
			return false // no request carries a JWT in these flows
		case "notRequestPrincipals":
		default:
			return false // a field this check does not model never matches
		}
	}
	return true
}

func operationMatches(op map[string]any, req Request, http bool) bool {
	for k, v := range op {
		if !http && httpOnly[k] {
			continue
		}
		vals := strs(v)
		switch k {
		case "ports":
			if !anyMatch(vals, strconv.Itoa(req.Port), false) {
				return false
			}
		case "notPorts":
			if anyMatch(vals, strconv.Itoa(req.Port), false) {
				return false
			}
		case "hosts":
			// "The match is case-insensitive."
			if !anyMatch(vals, req.Host, true) {
				return false
			}
		case "notHosts":
			if anyMatch(vals, req.Host, true) {
				return false
			}
		case "methods":
			if !anyMatch(vals, orDefault(req.Method, "GET"), false) {
				return false
			}
		case "notMethods":
			if anyMatch(vals, orDefault(req.Method, "GET"), false) {
				return false
			}
		case "paths":
			// The path without its query string (Envoy's url_path matcher).
			if !anyMatch(vals, pathOnly(req.Path), false) {
				return false
			}
		case "notPaths":
			if anyMatch(vals, pathOnly(req.Path), false) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func conditionMatches(c map[string]any, src source, req Request, http bool) bool {
	var got string
	switch c["key"] {
	case "source.principal":
		got = src.principal
	case "source.namespace":
		got = src.namespace
	case "destination.port":
		got = strconv.Itoa(req.Port)
	case "request.headers[:authority]", "request.host":
		got = req.Host
	default:
		return false // not modelled: never matches
	}
	if vals := strs(c["values"]); vals != nil && !anyMatch(vals, got, false) {
		return false
	}
	if vals := strs(c["notValues"]); vals != nil && anyMatch(vals, got, false) {
		return false
	}
	return true
}

func pathOnly(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[:i]
	}
	return p
}

func strs(v any) []string {
	var out []string
	for _, e := range asSlice(v) {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

// anyMatch applies Istio's string matching: exact, prefix ("abc*"),
// suffix ("*abc") or presence ("*") [AuthZ].
func anyMatch(patterns []string, s string, fold bool) bool {
	if fold {
		s = strings.ToLower(s)
	}
	for _, p := range patterns {
		if fold {
			p = strings.ToLower(p)
		}
		switch {
		case p == "*":
			if s != "" {
				return true
			}
		case strings.HasSuffix(p, "*"):
			if strings.HasPrefix(s, strings.TrimSuffix(p, "*")) {
				return true
			}
		case strings.HasPrefix(p, "*"):
			if strings.HasSuffix(s, strings.TrimPrefix(p, "*")) {
				return true
			}
		case p == s:
			return true
		}
	}
	return false
}

func ipIn(cidrs []string, ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(ip) {
			return true
		}
		if a, err := netip.ParseAddr(c); err == nil && a == ip {
			return true
		}
	}
	return false
}
