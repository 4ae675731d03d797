package chartcheck

import (
	"fmt"
	"net/netip"
	"strconv"
)

// Endpoint is one end of a flow: a pod (namespace and labels) or, with no
// namespace, an address outside the pod network (a node, the API server,
// a host on the internet).
type Endpoint struct {
	Namespace string
	Labels    map[string]string
	IP        netip.Addr
}

// String names the endpoint.
func (e Endpoint) String() string {
	if e.Namespace == "" {
		return e.IP.String()
	}
	return fmt.Sprintf("%s pod %v", e.Namespace, e.Labels)
}

// Addr is an endpoint outside the pod network.
func Addr(ip string) Endpoint { return Endpoint{IP: netip.MustParseAddr(ip)} }

// NodeAddr is an address in the node subnet (a node, or a host-network pod).
func (s *Stack) NodeAddr() Endpoint {
	a := s.NodeCIDR.Addr()
	for range 4 {
		a = a.Next()
	}
	return Endpoint{IP: a}
}

// networkPolicies are the stack's NetworkPolicies by namespace.
func (s *Stack) networkPolicies(ns string) []Object {
	var out []Object
	for _, o := range s.Objects {
		if o.Kind() == "NetworkPolicy" && o.Namespace() == ns {
			out = append(out, o)
		}
	}
	return out
}

// Allows says whether the rendered NetworkPolicies let from open a
// connection to to on port/proto (Kubernetes semantics: a pod selected by no
// policy of a direction is open in that direction; otherwise some rule must
// allow the flow), and if not, which side refuses it.
func (s *Stack) Allows(from, to Endpoint, port int, proto string) (bool, string) {
	if from.Namespace != "" {
		if ok := s.allowed(from.Namespace, from.Labels, "Egress", "egress", "to", to, port, proto); !ok {
			return false, fmt.Sprintf("no egress policy of namespace %s lets %s reach %s on %d/%s", from.Namespace, from, to, port, proto)
		}
	}
	if to.Namespace != "" {
		if ok := s.allowed(to.Namespace, to.Labels, "Ingress", "ingress", "from", from, port, proto); !ok {
			return false, fmt.Sprintf("no ingress policy of namespace %s lets %s in on %d/%s from %s", to.Namespace, to, port, proto, from)
		}
	}
	return true, ""
}

func (s *Stack) allowed(ns string, labels map[string]string, typ, field, peersField string, peer Endpoint, port int, proto string) bool {
	selected := false
	for _, np := range s.networkPolicies(ns) {
		if !selects(asMap(np.Get("spec.podSelector")), labels) || !hasType(np, typ, field) {
			continue
		}
		selected = true
		rules, _ := np.Get("spec." + field).([]any)
		for _, r := range rules {
			rule := asMap(r)
			if s.peersMatch(ns, rule[peersField], peer) && portsMatch(rule["ports"], port, proto) {
				return true
			}
		}
	}
	return !selected
}

func hasType(np Object, typ, field string) bool {
	types, ok := np.Get("spec.policyTypes").([]any)
	if !ok {
		// Without policyTypes: Ingress always, Egress when egress rules exist.
		return typ == "Ingress" || np.Get("spec."+field) != nil
	}
	for _, t := range types {
		if t == typ {
			return true
		}
	}
	return false
}

func (s *Stack) peersMatch(policyNS string, peers any, e Endpoint) bool {
	list, _ := peers.([]any)
	if peers == nil || len(list) == 0 {
		return true // no peers: every source or destination
	}
	for _, p := range list {
		peer := asMap(p)
		if ipb := asMap(peer["ipBlock"]); ipb != nil {
			if e.Namespace != "" {
				continue // ipBlocks are for addresses outside the pod network
			}
			cidr, err := netip.ParsePrefix(fmt.Sprint(ipb["cidr"]))
			if err != nil || !cidr.Contains(e.IP) {
				continue
			}
			excluded := false
			for _, ex := range asSlice(ipb["except"]) {
				if x, err := netip.ParsePrefix(fmt.Sprint(ex)); err == nil && x.Contains(e.IP) {
					excluded = true
				}
			}
			if !excluded {
				return true
			}
			continue
		}
		if e.Namespace == "" {
			continue // selectors match pods only
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
