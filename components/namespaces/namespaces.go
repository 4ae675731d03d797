// Package namespaces provides the cluster's namespaces, one per concern,
// with Pod Security labels, Istio injection where the mesh applies, and
// NetworkPolicies that deny everything not explicitly allowed. The allows
// mirror the Istio authorization policies of package mesh: a flow must
// pass both.
package namespaces

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strconv"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	admissionv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/admissionregistration/v1"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the component's type; with the child names it forms URNs.
const TypeToken = "moodle:namespaces:Namespaces"

// Pod Security Standard levels.
const (
	Restricted = "restricted"
	Baseline   = "baseline"
	Privileged = "privileged"
)

// PodSecurity is each namespace's enforced level, and why where it is not
// restricted. Every namespace also warns and audits at restricted.
var PodSecurity = map[string]string{
	// The Istio CNI node agent is a privileged DaemonSet that edits the
	// nodes' CNI configuration; it replaces the privileged istio-init
	// container in every meshed pod, so the workloads can stay restricted.
	infra.NamespaceIstio: Privileged,
	// The gateway binds ports 80 and 443 through the
	// net.ipv4.ip_unprivileged_port_start sysctl, one of the safe sysctls
	// that baseline, and so restricted, allows (Pod Security Standards,
	// "Sysctls"); tools/chartcheck holds its pods to restricted.
	infra.NamespaceIngress:     Restricted,
	infra.NamespaceCertManager: Restricted,
	infra.NamespaceMoodle:      Restricted,
	// MySQL, Redis and their operators run as non-root users with fsGroup,
	// every security context set in the custom resources.
	infra.NamespaceData:         Restricted,
	infra.NamespaceIntegrations: Restricted,
	// Prometheus, Alertmanager, Grafana, kube-state-metrics, the operator.
	infra.NamespaceMonitoring: Restricted,
	// The node exporter reads the host's /proc and /sys with hostPID and
	// hostNetwork, which only privileged allows: alone in its namespace.
	infra.NamespaceNodeExporter: Privileged,
}

// Args configures the namespaces.
type Args struct {
	// Mesh says where istiod and the gateway live and which label turns on
	// sidecar injection (infra.Config.Mesh); with the AKS add-on, AKS owns
	// the control plane's and gateway's namespaces and they are not created.
	Mesh infra.MeshLayout
	// EndpointSubnet is the private endpoint subnet's CIDR: backup jobs
	// reach the backup account there (required).
	EndpointSubnet string
	// MoodleEgressPorts are the ports Moodle may open to the internet
	// (the mesh limits the hosts); 443 is always included.
	MoodleEgressPorts []int
	// IntegrationEgressPorts likewise for the integrations namespace.
	IntegrationEgressPorts []int
	// CertManagerHosts are the internet hosts cert-manager's controller
	// calls on 443 (the ACME directories, and with DNS-01 Azure Resource
	// Manager and Entra ID) (required).
	CertManagerHosts []string
	// AlertReceivers are the internet endpoints Alertmanager delivers to
	// (the SMTP relay); SecretAlertReceivers likewise, from secret config
	// (the paging webhook's host): their names stay secret in the policy.
	AlertReceivers, SecretAlertReceivers []infra.Endpoint
	// FQDNPolicies limits cert-manager's and Alertmanager's internet
	// egress to those host names (Cilium toFQDNs, which needs ACNS security
	// on the cluster); false: to any internet address on those ports.
	FQDNPolicies bool
}

// AKSNamespaces are the namespaces AKS itself runs pods in (add-ons
// included): the default-deny policy for namespaces the program does not
// own leaves them alone. kube-system: AKS's components; aks-command: `az
// aks command invoke` (access-private-cluster.md); gatekeeper-system: the
// Azure Policy add-on; app-routing-system: the application routing add-on;
// aks-istio-*: the Istio add-on (istio-deploy-addon.md, -ingress, -egress).
var AKSNamespaces = []string{
	"kube-system", "kube-public", "kube-node-lease", "aks-command", "gatekeeper-system",
	"app-routing-system", "aks-istio-system", "aks-istio-ingress", "aks-istio-egress",
}

// MetadataAddress is the Azure instance metadata endpoint (IMDS): no pod
// the program runs may reach it (it hands out the node's identity tokens).
const MetadataAddress = "169.254.169.254/32"

// Namespaces is the set of namespaces with their policies.
type Namespaces struct {
	pulumi.ResourceState

	// Names maps each namespace's name to its resource.
	Names map[string]*corev1.Namespace
	// Ready are the namespace resources, in creation order: depend on them
	// (not on the component, whose children are not all known when a
	// dependent registers) to create objects after their namespace.
	Ready []pulumi.Resource
}

// peer is one side of an allowed flow.
type peer struct {
	namespace string            // "" with cidr set
	pods      map[string]string // nil: every pod of the namespace
	cidr      string            // an IP block instead of pods (never a pod or node address under Cilium)
}

// flow is one allowed connection, written from the receiving side
// (ingress) or the sending side (egress).
type flow struct {
	name  string
	peers []peer // nil: from/to anywhere
	ports []int
	udp   bool
	// pods selects the namespace's pods the flow is for; nil: all of them.
	pods map[string]string
}

// policy is one namespace's allows.
type policy struct {
	ingress []flow
	egress  []flow
}

// internet is every address outside the cluster, less the instance
// metadata endpoint. Under Cilium an ipBlock never selects a pod or node
// address, whatever its CIDR (AKS: azure-cni-powered-by-cilium.md, FAQ).
var internet = []peer{{cidr: "0.0.0.0/0"}}

// ciliumAPI is the API version of Cilium's policies as AKS ships Cilium
// (1.18 on Kubernetes 1.35: supported-kubernetes-versions.md).
const ciliumAPI = "cilium.io/v2"

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func ciliumPorts(ports []int, proto string) []any {
	var out []any
	for _, p := range ports {
		out = append(out, map[string]any{"port": strconv.Itoa(p), "protocol": proto})
	}
	return []any{map[string]any{"ports": out}}
}

// spec is the CiliumNetworkPolicy spec of an egress allow. An FQDN rule
// needs the pods' DNS answers seen by Cilium's DNS proxy, so it comes with
// a DNS rule to kube-dns (how-to-apply-fqdn-filtering-policies.md).
func (c cilium) spec() map[string]any {
	sel := map[string]any{}
	if c.pods != nil {
		labels := map[string]any{}
		for k, v := range c.pods {
			labels[k] = v
		}
		sel["matchLabels"] = labels
	}
	rule := map[string]any{"toPorts": ciliumPorts(c.ports, "TCP")}
	egress := []any{rule}
	switch {
	case len(c.entities) > 0:
		rule["toEntities"] = toAny(c.entities)
	case c.world:
		rule["toCIDRSet"] = []any{map[string]any{"cidr": "0.0.0.0/0", "except": []any{MetadataAddress}}}
	default:
		var names []any
		for _, h := range c.fqdns {
			var name any = h
			if c.secret[h] {
				name = pulumi.ToSecret(pulumi.String(h))
			}
			names = append(names, map[string]any{"matchName": name})
		}
		rule["toFQDNs"] = names
		egress = append(egress, map[string]any{
			"toEndpoints": []any{map[string]any{"matchLabels": map[string]any{"io.kubernetes.pod.namespace": "kube-system", "k8s-app": "kube-dns"}}},
			"toPorts": []any{map[string]any{
				"ports": []any{map[string]any{"port": "53", "protocol": "ANY"}},
				"rules": map[string]any{"dns": []any{map[string]any{"matchPattern": "*"}}},
			}},
		})
	}
	return map[string]any{"endpointSelector": sel, "egress": egress}
}

// cilium is a CiliumNetworkPolicy egress allow: what NetworkPolicy cannot
// say on AKS (node addresses, the API server, host names).
type cilium struct {
	name string
	// pods selects the namespace's pods it applies to; nil: all of them.
	pods map[string]string
	// entities are Cilium entities: host and remote-node (the nodes and
	// their host-network pods), kube-apiserver.
	entities []string
	// fqdns are host names (toFQDNs), world the internet less the
	// metadata endpoint (toCIDRSet); one of the three is set. secret marks
	// the names that come from secret config.
	fqdns  []string
	secret map[string]bool
	world  bool
	ports  []int
}

func ns(name string) peer { return peer{namespace: name} }

// workloadIdentity selects the pods that use Azure workload identity (the
// webhook's label, set on the backup and restore Jobs' pods).
var workloadIdentity = map[string]string{"azure.workload.identity/use": "true"}

func (a *Args) policies() map[string]policy {
	moodlePorts := append([]int{443}, a.MoodleEgressPorts...)
	integrationPorts := append([]int{443}, a.IntegrationEgressPorts...)
	m := a.Mesh
	istiod := flow{"istiod", []peer{{namespace: m.ControlPlaneNamespace, pods: map[string]string{"app": "istiod"}}}, []int{15012}, false, nil}
	scrape := flow{"prometheus", []peer{ns(infra.NamespaceMonitoring)}, []int{15020, 15090}, false, nil}
	// Sidecars and the gateway fetch config and certificates from istiod.
	var xdsClients []peer
	for _, n := range append(slices.Clone(infra.MeshNamespaces), m.GatewayNamespace) {
		xdsClients = append(xdsClients, ns(n))
	}
	return map[string]policy{
		infra.NamespaceIstio: {
			ingress: []flow{
				{"xds", xdsClients, []int{15012}, false, nil},
				// The API server calls istiod's webhooks (15017) through the
				// nodes, from addresses AKS does not publish.
				{"webhooks", nil, []int{15017}, false, nil},
				{"monitoring", []peer{ns(infra.NamespaceMonitoring)}, []int{15014}, false, nil},
			},
		},
		infra.NamespaceIngress: {
			ingress: []flow{
				{"web", nil, []int{80, 443, 15021}, false, nil},
				// cert-manager's HTTP-01 solver pods answer the gateway here.
				{"acme-solver", []peer{ns(infra.NamespaceIngress)}, []int{8089}, false, nil},
				scrape,
				// cert-manager's HTTP-01 self-check: the site's public address
				// is the gateway's load balancer, which Cilium resolves to the
				// gateway pods for a client inside the cluster.
				{"acme-self-check", []peer{ns(infra.NamespaceCertManager)}, []int{80}, false, nil},
			},
			egress: []flow{
				istiod,
				{"moodle", []peer{ns(infra.NamespaceMoodle)}, []int{infra.MoodleWebPort}, false, nil},
				{"acme-solver", []peer{ns(infra.NamespaceIngress)}, []int{8089}, false, nil},
			},
		},
		infra.NamespaceCertManager: {
			ingress: []flow{
				{"webhook", nil, []int{10250}, false, nil},
				{"prometheus", []peer{ns(infra.NamespaceMonitoring)}, []int{9402}, false, nil},
			},
			egress: []flow{{"acme-self-check", []peer{ns(m.GatewayNamespace)}, []int{80}, false, nil}},
		},
		infra.NamespaceMoodle: {
			ingress: []flow{
				{"gateway", []peer{ns(m.GatewayNamespace)}, []int{infra.MoodleWebPort}, false, nil},
				{"integrations", []peer{ns(infra.NamespaceIntegrations)}, []int{infra.MoodleWebPort}, false, nil},
				scrape,
			},
			egress: []flow{
				istiod,
				{"data", []peer{ns(infra.NamespaceData)}, infra.DataClientPorts, false, nil},
				{"internet", internet, moodlePorts, false, nil},
			},
		},
		// Outside the mesh: no istiod, no 15020; the exporters are scraped on
		// their own ports.
		infra.NamespaceData: {
			ingress: []flow{
				{"moodle", []peer{ns(infra.NamespaceMoodle)}, infra.DataClientPorts, false, nil},
				{"peers", []peer{ns(infra.NamespaceData)}, infra.DataPeerPorts, false, nil},
				{"exporters", []peer{ns(infra.NamespaceMonitoring)}, infra.DataMetricsPorts, false, nil},
			},
			egress: []flow{
				{"peers", []peer{ns(infra.NamespaceData)}, infra.DataPeerPorts, false, nil},
				// Backups: the blob private endpoint, and Entra ID for the
				// workload identity token; only the pods that use workload
				// identity (no member, proxy or operator reaches the internet).
				{"backup-account", []peer{{cidr: a.EndpointSubnet}}, []int{443}, false, workloadIdentity},
				{"entra-id", internet, []int{443}, false, workloadIdentity},
			},
		},
		infra.NamespaceIntegrations: {
			ingress: []flow{scrape},
			egress: []flow{
				istiod,
				{"moodle", []peer{ns(infra.NamespaceMoodle)}, []int{infra.MoodleWebPort}, false, nil},
				{"internet", internet, integrationPorts, false, nil},
			},
		},
		// The node exporter runs in its nodes' network namespace, which pod
		// policies do not govern; any other pod here is closed off.
		infra.NamespaceNodeExporter: {},
		infra.NamespaceMonitoring: {
			ingress: []flow{
				{"same-namespace", []peer{ns(infra.NamespaceMonitoring)}, nil, false, nil},
				// The API server calls the prometheus-operator's admission
				// webhook (PrometheusRule validation) through the nodes, as for
				// cert-manager's and istiod's webhooks.
				{"webhook", nil, []int{10250}, false, nil},
			},
			egress: []flow{
				istiod,
				// Prometheus scrapes every namespace's pods.
				{"scrape", []peer{{namespace: "*"}}, nil, false, nil},
			},
		},
	}
}

// ciliumPolicies are each namespace's Cilium egress allows.
func (a *Args) ciliumPolicies() map[string][]cilium {
	apiServer := cilium{name: "api-server", entities: []string{"kube-apiserver"}, ports: []int{443}}
	internetTo := func(name string, pods map[string]string, hosts []string, ports []int) cilium {
		c := cilium{name: name, pods: pods, ports: ports}
		if a.FQDNPolicies {
			c.fqdns = hosts
		} else {
			c.world = true
		}
		return c
	}
	out := map[string][]cilium{
		// istiod watches the API server and needs nothing on the internet.
		infra.NamespaceIstio: {apiServer},
		// The operators watch and change their clusters through the API
		// server; nothing else in the namespace calls it.
		infra.NamespaceData: {
			{name: "api-server-mysql-operator", pods: map[string]string{infra.AppLabel: "ps-operator"}, entities: []string{"kube-apiserver"}, ports: []int{443}},
			{name: "api-server-redis-operator", pods: map[string]string{"name": "redis-operator"}, entities: []string{"kube-apiserver"}, ports: []int{443}},
		},
		infra.NamespaceCertManager: {
			apiServer,
			// ACME, and Azure DNS and Entra ID for DNS-01: the controller only.
			internetTo("internet", map[string]string{"app.kubernetes.io/component": "controller"}, a.CertManagerHosts, []int{443}),
		},
		infra.NamespaceMonitoring: {
			apiServer,
			// The kubelets (cAdvisor, 10250) and node-exporter (host network,
			// 9100) answer on node addresses, which only Cilium's host and
			// remote-node entities select (migrate-from-npm-to-cilium-network-policy.md).
			{name: "nodes", pods: map[string]string{"app.kubernetes.io/name": "prometheus"}, entities: []string{"host", "remote-node"}, ports: []int{10250, 9100}},
		},
	}
	// Alertmanager delivers to its receivers, one rule per port.
	byPort := map[int][]string{}
	secret := map[string]bool{}
	for _, e := range a.AlertReceivers {
		byPort[e.Port] = append(byPort[e.Port], e.Host)
	}
	for _, e := range a.SecretAlertReceivers {
		byPort[e.Port] = append(byPort[e.Port], e.Host)
		secret[e.Host] = true
	}
	ports := make([]int, 0, len(byPort))
	for p := range byPort {
		ports = append(ports, p)
	}
	sort.Ints(ports)
	for _, p := range ports {
		hosts := byPort[p]
		sort.Strings(hosts)
		rule := internetTo(fmt.Sprintf("alert-receivers-%d", p), map[string]string{"app.kubernetes.io/name": "alertmanager"}, slices.Compact(hosts), []int{p})
		rule.secret = secret
		out[infra.NamespaceMonitoring] = append(out[infra.NamespaceMonitoring], rule)
	}
	return out
}

func (a *Args) validate() error {
	var errs []error
	if len(a.Mesh.InjectionLabel) != 1 || a.Mesh.ControlPlaneNamespace == "" || a.Mesh.GatewayNamespace == "" {
		errs = append(errs, errors.New("mesh needs one injection label and the control plane's and gateway's namespaces"))
	}
	if _, err := netip.ParsePrefix(a.EndpointSubnet); err != nil {
		errs = append(errs, fmt.Errorf("endpointSubnet %q is not a CIDR", a.EndpointSubnet))
	}
	if len(a.CertManagerHosts) == 0 {
		errs = append(errs, errors.New("certManagerHosts are required: cert-manager must reach its ACME directory"))
	}
	for _, e := range append(slices.Clone(a.AlertReceivers), a.SecretAlertReceivers...) {
		if e.Host == "" || e.Port < 1 || e.Port > 65535 {
			errs = append(errs, fmt.Errorf("alert receiver %q is not host:port", e.String()))
		}
	}
	for _, p := range append(slices.Clone(a.MoodleEgressPorts), a.IntegrationEgressPorts...) {
		if p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("egress port %d is out of range", p))
		}
	}
	return errors.Join(errs...)
}

func selector(labels map[string]string) *metav1.LabelSelectorArgs {
	return &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(labels)}
}

func peers(ps []peer) networkingv1.NetworkPolicyPeerArray {
	var out networkingv1.NetworkPolicyPeerArray
	for _, p := range ps {
		switch {
		case p.cidr == "0.0.0.0/0":
			out = append(out, networkingv1.NetworkPolicyPeerArgs{IpBlock: &networkingv1.IPBlockArgs{
				Cidr: pulumi.String(p.cidr), Except: pulumi.StringArray{pulumi.String(MetadataAddress)},
			}})
		case p.cidr != "":
			out = append(out, networkingv1.NetworkPolicyPeerArgs{IpBlock: &networkingv1.IPBlockArgs{Cidr: pulumi.String(p.cidr)}})
		case p.namespace == "*":
			out = append(out, networkingv1.NetworkPolicyPeerArgs{NamespaceSelector: &metav1.LabelSelectorArgs{}})
		default:
			peer := networkingv1.NetworkPolicyPeerArgs{NamespaceSelector: selector(map[string]string{"kubernetes.io/metadata.name": p.namespace})}
			if p.pods != nil {
				peer.PodSelector = selector(p.pods)
			}
			out = append(out, peer)
		}
	}
	return out
}

func ports(f flow) networkingv1.NetworkPolicyPortArray {
	var out networkingv1.NetworkPolicyPortArray
	for _, p := range f.ports {
		protos := []string{"TCP"}
		if f.udp {
			protos = append(protos, "UDP")
		}
		for _, proto := range protos {
			out = append(out, networkingv1.NetworkPolicyPortArgs{Port: pulumi.Int(p), Protocol: pulumi.String(proto)})
		}
	}
	return out
}

// New registers the namespaces and their network policies.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Namespaces, error) {
	if args == nil {
		return nil, fmt.Errorf("namespaces %q: args are required", name)
	}
	a := *args
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("namespaces %q: %w", name, err)
	}
	c := &Namespaces{Names: map[string]*corev1.Namespace{}}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registering namespaces component %q: %w", name, err)
	}
	dns := flow{"dns", []peer{{namespace: "kube-system", pods: map[string]string{"k8s-app": "kube-dns"}}}, []int{53}, true, nil}
	pols, cil := a.policies(), a.ciliumPolicies()
	for _, n := range a.Mesh.Namespaces() {
		labels := map[string]string{
			"pod-security.kubernetes.io/enforce": PodSecurity[n],
			"pod-security.kubernetes.io/warn":    Restricted,
			"pod-security.kubernetes.io/audit":   Restricted,
		}
		if slices.Contains(infra.MeshNamespaces, n) {
			for k, v := range a.Mesh.InjectionLabel {
				labels[k] = v
			}
		}
		nsRes, err := corev1.NewNamespace(ctx, name+"-"+n, &corev1.NamespaceArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(n), Labels: pulumi.ToStringMap(labels)},
		}, pulumi.Parent(c))
		if err != nil {
			return nil, fmt.Errorf("creating namespace %s: %w", n, err)
		}
		c.Names[n] = nsRes
		c.Ready = append(c.Ready, nsRes)

		in := pulumi.Parent(c)
		after := pulumi.DependsOn([]pulumi.Resource{nsRes})
		mk := func(pname string, spec networkingv1.NetworkPolicySpecArgs) error {
			_, err := networkingv1.NewNetworkPolicy(ctx, name+"-"+n+"-"+pname, &networkingv1.NetworkPolicyArgs{
				Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(pname), Namespace: pulumi.String(n)},
				Spec:     spec,
			}, in, after)
			if err != nil {
				return fmt.Errorf("creating network policy %s/%s: %w", n, pname, err)
			}
			return nil
		}
		// Deny every flow in and out that no other policy allows.
		if err := mk("default-deny", networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")},
		}); err != nil {
			return nil, err
		}
		pol := pols[n]
		pol.egress = append([]flow{dns}, pol.egress...)
		for _, f := range pol.ingress {
			rule := networkingv1.NetworkPolicyIngressRuleArgs{From: peers(f.peers), Ports: ports(f)}
			if err := mk("allow-in-"+f.name, networkingv1.NetworkPolicySpecArgs{
				PodSelector: &metav1.LabelSelectorArgs{},
				PolicyTypes: pulumi.StringArray{pulumi.String("Ingress")},
				Ingress:     networkingv1.NetworkPolicyIngressRuleArray{rule},
			}); err != nil {
				return nil, err
			}
		}
		for _, f := range pol.egress {
			rule := networkingv1.NetworkPolicyEgressRuleArgs{To: peers(f.peers), Ports: ports(f)}
			podSel := &metav1.LabelSelectorArgs{}
			if f.pods != nil {
				podSel = selector(f.pods)
			}
			if err := mk("allow-out-"+f.name, networkingv1.NetworkPolicySpecArgs{
				PodSelector: podSel,
				PolicyTypes: pulumi.StringArray{pulumi.String("Egress")},
				Egress:      networkingv1.NetworkPolicyEgressRuleArray{rule},
			}); err != nil {
				return nil, err
			}
		}
		for _, cp := range cil[n] {
			if _, err := apiextensions.NewCustomResource(ctx, name+"-"+n+"-cilium-"+cp.name, &apiextensions.CustomResourceArgs{
				ApiVersion:  pulumi.String(ciliumAPI),
				Kind:        pulumi.String("CiliumNetworkPolicy"),
				Metadata:    &metav1.ObjectMetaArgs{Name: pulumi.String("allow-out-" + cp.name), Namespace: pulumi.String(n)},
				OtherFields: kubernetes.UntypedArgs{"spec": cp.spec()},
			}, in, after); err != nil {
				return nil, fmt.Errorf("creating Cilium network policy %s/allow-out-%s: %w", n, cp.name, err)
			}
		}
	}
	// Every other namespace (default included; AKS's own excepted) is
	// closed until a policy opens it: a pod that lands there reaches
	// nothing and nothing reaches it. An empty rule selects no peer, so
	// it only turns on default deny (Cilium language.rst, "Ingress/Egress
	// Default Deny").
	owned := append(slices.Clone(AKSNamespaces), a.Mesh.Namespaces()...)
	sort.Strings(owned)
	owned = slices.Compact(owned)
	if _, err := apiextensions.NewCustomResource(ctx, name+"-default-deny-unowned", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String(ciliumAPI),
		Kind:       pulumi.String("CiliumClusterwideNetworkPolicy"),
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String("default-deny-unowned-namespaces")},
		OtherFields: kubernetes.UntypedArgs{"spec": map[string]any{
			"description": "Namespaces the moodle-aks program does not own are closed until a policy opens them.",
			"endpointSelector": map[string]any{"matchExpressions": []any{map[string]any{
				"key": "io.kubernetes.pod.namespace", "operator": "NotIn", "values": toAny(owned),
			}}},
			"ingress": []any{map[string]any{}},
			"egress":  []any{map[string]any{}},
		}},
	}, pulumi.Parent(c), pulumi.DependsOn(c.Ready)); err != nil {
		return nil, fmt.Errorf("creating the default deny of other namespaces: %w", err)
	}
	if err := podSecurityGuard(ctx, name, c, a.Mesh.Namespaces()); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(c.Names))
	for n := range c.Names {
		names = append(names, n)
	}
	sort.Strings(names)
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"namespaces": pulumi.ToStringArray(names)}); err != nil {
		return nil, fmt.Errorf("registering outputs of namespaces %q: %w", name, err)
	}
	return c, nil
}

// PodSecurityGuard is the ValidatingAdmissionPolicy that keeps pods out of
// namespaces that enforce less than they should. Pod Security admission
// judges a pod by its namespace's label, and a namespace without one
// enforces nothing (AKS sets no cluster-wide default, and its API server's
// admission configuration is not the program's): a pod there may mount
// the NFS share inline, which restricted refuses (volume types) and
// baseline allows. So every pod outside AKS's own namespaces must land in
// a namespace that enforces restricted, or in one of the program's
// namespaces at exactly its PodSecurity level (istio-system, monitoring-nodes).
const PodSecurityGuard = "moodle-aks-pod-security"

// podSecurityExpression is the guard's CEL rule: namespaceObject is the
// pod's namespace (ValidatingAdmissionPolicy, "Validation expression",
// https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/).
func podSecurityExpression(exceptions map[string]string) string {
	expr := "variables.level == 'restricted'"
	for _, n := range slices.Sorted(maps.Keys(exceptions)) {
		expr += fmt.Sprintf(" || (namespaceObject.metadata.name == '%s' && variables.level == '%s')", n, exceptions[n])
	}
	return expr
}

func podSecurityGuard(ctx *pulumi.Context, name string, c *Namespaces, own []string) error {
	exceptions := map[string]string{}
	for _, n := range own {
		if PodSecurity[n] != Restricted {
			exceptions[n] = PodSecurity[n]
		}
	}
	policy, err := admissionv1.NewValidatingAdmissionPolicy(ctx, name+"-pod-security-guard", &admissionv1.ValidatingAdmissionPolicyArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(PodSecurityGuard)},
		Spec: &admissionv1.ValidatingAdmissionPolicySpecArgs{
			FailurePolicy: pulumi.String("Fail"),
			MatchConstraints: &admissionv1.MatchResourcesArgs{
				// AKS's own namespaces are AKS's to set.
				NamespaceSelector: &metav1.LabelSelectorArgs{MatchExpressions: metav1.LabelSelectorRequirementArray{&metav1.LabelSelectorRequirementArgs{
					Key: pulumi.String("kubernetes.io/metadata.name"), Operator: pulumi.String("NotIn"), Values: pulumi.ToStringArray(AKSNamespaces),
				}}},
				ResourceRules: admissionv1.NamedRuleWithOperationsArray{&admissionv1.NamedRuleWithOperationsArgs{
					ApiGroups: pulumi.StringArray{pulumi.String("")}, ApiVersions: pulumi.StringArray{pulumi.String("v1")},
					Operations: pulumi.StringArray{pulumi.String("CREATE")}, Resources: pulumi.StringArray{pulumi.String("pods")},
				}},
			},
			Variables: admissionv1.VariableArray{&admissionv1.VariableArgs{
				Name: pulumi.String("level"),
				Expression: pulumi.String("has(namespaceObject.metadata.labels) && 'pod-security.kubernetes.io/enforce' in namespaceObject.metadata.labels ? " +
					"namespaceObject.metadata.labels['pod-security.kubernetes.io/enforce'] : ''"),
			}},
			Validations: admissionv1.ValidationArray{&admissionv1.ValidationArgs{
				Expression: pulumi.String(podSecurityExpression(exceptions)),
				MessageExpression: pulumi.String("'namespace ' + namespaceObject.metadata.name + ' enforces Pod Security ' + " +
					"(variables.level == '' ? 'nothing' : variables.level) + ': pods run only in namespaces that enforce restricted (label pod-security.kubernetes.io/enforce)'"),
				Reason: pulumi.String("Forbidden"),
			}},
		},
	}, pulumi.Parent(c), pulumi.DependsOn(c.Ready))
	if err != nil {
		return fmt.Errorf("creating the Pod Security guard: %w", err)
	}
	if _, err := admissionv1.NewValidatingAdmissionPolicyBinding(ctx, name+"-pod-security-guard-binding", &admissionv1.ValidatingAdmissionPolicyBindingArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(PodSecurityGuard)},
		Spec: &admissionv1.ValidatingAdmissionPolicyBindingSpecArgs{
			PolicyName:        pulumi.String(PodSecurityGuard),
			ValidationActions: pulumi.StringArray{pulumi.String("Deny")},
		},
	}, pulumi.Parent(c), pulumi.DependsOn([]pulumi.Resource{policy})); err != nil {
		return fmt.Errorf("binding the Pod Security guard: %w", err)
	}
	return nil
}
