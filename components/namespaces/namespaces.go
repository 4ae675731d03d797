// Package namespaces provides the cluster's namespaces, one per concern,
// with Pod Security labels, Istio injection where the mesh applies, and
// NetworkPolicies that deny everything not explicitly allowed. The allows
// mirror the Istio authorization policies of package mesh: a flow must
// pass both.
package namespaces

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"

	"github.com/fieldcert/moodle-aks/infra"
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
	// net.ipv4.ip_unprivileged_port_start sysctl, allowed by baseline only.
	infra.NamespaceIngress:     Baseline,
	infra.NamespaceCertManager: Restricted,
	infra.NamespaceMoodle:      Restricted,
	// MySQL and Redis run as their image's non-root users with fsGroup.
	infra.NamespaceData:         Restricted,
	infra.NamespaceIntegrations: Restricted,
	// The node exporter reads the host's /proc and /sys with hostPID and
	// hostNetwork, which only privileged allows.
	infra.NamespaceMonitoring: Privileged,
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
	// NodeSubnet is the node subnet's CIDR: Prometheus scrapes the kubelets
	// (10250) and node-exporter (9100, host network) on node addresses.
	NodeSubnet string
	// MoodleEgressPorts are the ports Moodle may open to the internet
	// (the mesh limits the hosts); 443 is always included.
	MoodleEgressPorts []int
	// IntegrationEgressPorts likewise for the integrations namespace.
	IntegrationEgressPorts []int
}

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
	cidr      string            // an IP block instead of pods
}

// flow is one allowed connection, written from the receiving side
// (ingress) or the sending side (egress).
type flow struct {
	name  string
	peers []peer // nil: from/to anywhere
	ports []int
	udp   bool
}

// policy is one namespace's allows.
type policy struct {
	ingress []flow
	egress  []flow
}

var anywhere = []peer{{cidr: "0.0.0.0/0"}}

func ns(name string) peer { return peer{namespace: name} }

func (a *Args) policies() map[string]policy {
	moodlePorts := append([]int{443}, a.MoodleEgressPorts...)
	integrationPorts := append([]int{443}, a.IntegrationEgressPorts...)
	m := a.Mesh
	istiod := flow{"istiod", []peer{{namespace: m.ControlPlaneNamespace, pods: map[string]string{"app": "istiod"}}}, []int{15012}, false}
	scrape := flow{"prometheus", []peer{ns(infra.NamespaceMonitoring)}, []int{15020, 15090}, false}
	return map[string]policy{
		infra.NamespaceIstio: {
			// Sidecars and gateways fetch config and certificates; the API
			// server calls the webhooks from addresses AKS does not publish.
			ingress: []flow{{"control-plane", nil, []int{15010, 15012, 15014, 15017, 443}, false}},
			egress:  []flow{{"api-server", anywhere, []int{443}, false}},
		},
		infra.NamespaceIngress: {
			ingress: []flow{
				{"web", nil, []int{80, 443, 15021}, false},
				// cert-manager's HTTP-01 solver pods answer the gateway here.
				{"acme-solver", []peer{ns(infra.NamespaceIngress)}, []int{8089}, false},
				scrape,
			},
			egress: []flow{
				istiod,
				{"moodle", []peer{ns(infra.NamespaceMoodle)}, []int{infra.MoodleWebPort}, false},
				{"acme-solver", []peer{ns(infra.NamespaceIngress)}, []int{8089}, false},
			},
		},
		infra.NamespaceCertManager: {
			ingress: []flow{
				{"webhook", nil, []int{10250}, false},
				{"prometheus", []peer{ns(infra.NamespaceMonitoring)}, []int{9402}, false},
			},
			// ACME, Azure DNS, Entra ID and the API server; port 80 for the
			// HTTP-01 self check through the site's public address.
			egress: []flow{{"internet", anywhere, []int{80, 443}, false}},
		},
		infra.NamespaceMoodle: {
			ingress: []flow{
				{"gateway", []peer{ns(m.GatewayNamespace)}, []int{infra.MoodleWebPort}, false},
				{"integrations", []peer{ns(infra.NamespaceIntegrations)}, []int{infra.MoodleWebPort}, false},
				scrape,
			},
			egress: []flow{
				istiod,
				{"data", []peer{ns(infra.NamespaceData)}, []int{infra.MySQLPort, infra.RedisPort}, false},
				{"internet", anywhere, moodlePorts, false},
			},
		},
		infra.NamespaceData: {
			ingress: []flow{
				{"moodle", []peer{ns(infra.NamespaceMoodle)}, []int{infra.MySQLPort, infra.RedisPort}, false},
				{"replication", []peer{ns(infra.NamespaceData)}, []int{infra.MySQLPort, infra.RedisPort}, false},
				// Merged metrics (15020) and Envoy's (15090) only: STRICT mTLS
				// refuses plaintext scrapes of the exporters' own ports.
				{"exporters", []peer{ns(infra.NamespaceMonitoring)}, []int{15020, 15090}, false},
			},
			egress: []flow{
				istiod,
				{"data", []peer{ns(infra.NamespaceData)}, []int{infra.MySQLPort, infra.RedisPort}, false},
				// Backups: the blob private endpoint, and Entra ID for the
				// workload identity token.
				{"backup-account", []peer{{cidr: a.EndpointSubnet}}, []int{443}, false},
				{"entra-id", anywhere, []int{443}, false},
			},
		},
		infra.NamespaceIntegrations: {
			ingress: []flow{scrape},
			egress: []flow{
				istiod,
				{"moodle", []peer{ns(infra.NamespaceMoodle)}, []int{infra.MoodleWebPort}, false},
				{"internet", anywhere, integrationPorts, false},
			},
		},
		infra.NamespaceMonitoring: {
			ingress: []flow{
				{"same-namespace", []peer{ns(infra.NamespaceMonitoring)}, nil, false},
				// The API server calls the prometheus-operator's admission
				// webhook (PrometheusRule validation) from addresses AKS does
				// not publish, as for cert-manager's and istiod's webhooks.
				{"webhook", nil, []int{10250}, false},
			},
			egress: []flow{
				istiod,
				// Prometheus scrapes every namespace; Alertmanager mails and
				// pages; everything reads the API server.
				{"scrape", []peer{{namespace: "*"}}, nil, false},
				// Kubelets (cAdvisor) and node-exporter answer on node
				// addresses, which no namespace selector matches.
				{"nodes", []peer{{cidr: a.NodeSubnet}}, []int{10250, 9100}, false},
				{"internet", anywhere, []int{443, 587}, false},
			},
		},
	}
}

func (a *Args) validate() error {
	var errs []error
	if len(a.Mesh.InjectionLabel) != 1 || a.Mesh.ControlPlaneNamespace == "" || a.Mesh.GatewayNamespace == "" {
		errs = append(errs, errors.New("mesh needs one injection label and the control plane's and gateway's namespaces"))
	}
	if _, err := netip.ParsePrefix(a.EndpointSubnet); err != nil {
		errs = append(errs, fmt.Errorf("endpointSubnet %q is not a CIDR", a.EndpointSubnet))
	}
	if _, err := netip.ParsePrefix(a.NodeSubnet); err != nil {
		errs = append(errs, fmt.Errorf("nodeSubnet %q is not a CIDR", a.NodeSubnet))
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
	dns := flow{"dns", []peer{{namespace: "kube-system", pods: map[string]string{"k8s-app": "kube-dns"}}}, []int{53}, true}
	pols := a.policies()
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
			if err := mk("allow-out-"+f.name, networkingv1.NetworkPolicySpecArgs{
				PodSelector: &metav1.LabelSelectorArgs{},
				PolicyTypes: pulumi.StringArray{pulumi.String("Egress")},
				Egress:      networkingv1.NetworkPolicyEgressRuleArray{rule},
			}); err != nil {
				return nil, err
			}
		}
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
