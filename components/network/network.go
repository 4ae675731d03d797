// Package network provides the region stack's VNet: a subnet for the AKS
// nodes and one for private endpoints, each behind its own network security
// group.
package network

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/fieldcert/moodle-aks/components/internal/argcheck"
	"github.com/pulumi/pulumi-azure-native-sdk/network/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the component's type; with the child names it forms URNs.
const TypeToken = "moodle:network:Network"

// Subnet names inside the VNet.
const (
	NodeSubnet     = "nodes"
	EndpointSubnet = "endpoints"
)

// Args configures a Network.
type Args struct {
	// ResourceGroupName is the group the VNet lives in (required).
	ResourceGroupName pulumi.StringInput
	// Location is the ARM region (required).
	Location string
	// Name is the VNet's Azure name (required, 2-64 characters); the NSGs
	// are named after it.
	Name string
	// AddressSpace is the VNet's IPv4 CIDR (required).
	AddressSpace string
	// NodeSubnet is the AKS node subnet's CIDR, inside AddressSpace (required).
	NodeSubnet string
	// EndpointSubnet is the private endpoint subnet's CIDR, inside
	// AddressSpace and not overlapping NodeSubnet (required).
	EndpointSubnet string
	// Tags go on the VNet and NSGs (required: infra.Tags).
	Tags map[string]string
}

// Network is the VNet with its subnets and NSGs.
type Network struct {
	pulumi.ResourceState

	// VNetID is the VNet's ARM ID, for private DNS zone links.
	VNetID pulumi.IDOutput
	// NodeSubnetID is the ARM ID of the AKS node subnet.
	NodeSubnetID pulumi.StringOutput
	// EndpointSubnetID is the ARM ID of the private endpoint subnet.
	EndpointSubnetID pulumi.StringOutput
}

func (a *Args) validate() error {
	errs := argcheck.Placement(a.ResourceGroupName, true, a.Location, a.Tags)
	if l := len(a.Name); l < 2 || l > 64 {
		errs = append(errs, fmt.Errorf("name %q must be 2-64 characters", a.Name))
	}
	space, err := netip.ParsePrefix(a.AddressSpace)
	if err != nil {
		errs = append(errs, fmt.Errorf("addressSpace %q is not a CIDR", a.AddressSpace))
	}
	var subnets []netip.Prefix
	for _, s := range []struct{ field, cidr string }{{"nodeSubnet", a.NodeSubnet}, {"endpointSubnet", a.EndpointSubnet}} {
		p, perr := netip.ParsePrefix(s.cidr)
		switch {
		case perr != nil:
			errs = append(errs, fmt.Errorf("%s %q is not a CIDR", s.field, s.cidr))
		case err == nil && !(space.Contains(p.Addr()) && p.Bits() >= space.Bits()):
			errs = append(errs, fmt.Errorf("%s %s is not inside addressSpace %s", s.field, p, space))
		default:
			subnets = append(subnets, p)
		}
	}
	if len(subnets) == 2 && subnets[0].Overlaps(subnets[1]) {
		errs = append(errs, fmt.Errorf("nodeSubnet %s overlaps endpointSubnet %s", subnets[0], subnets[1]))
	}
	return errors.Join(errs...)
}

// rule is a compact NSG rule.
type rule struct {
	name, access, direction, protocol, source, destination string
	ports                                                  []string
	priority                                               int
}

// args renders the rule. Azure takes "*" (every port) only in the single
// destinationPortRange; destinationPortRanges must list ports or ranges
// (SecurityRuleInvalidPortRange otherwise; network API securityRules,
// "destinationPortRange ... Asterisk '*' can also be used to match all
// ports", azure-rest-api-specs network/resource-manager).
func (r rule) args() network.SecurityRuleTypeArgs {
	a := network.SecurityRuleTypeArgs{
		Name:                     pulumi.String(r.name),
		Access:                   pulumi.String(r.access),
		Direction:                pulumi.String(r.direction),
		Protocol:                 pulumi.String(r.protocol),
		Priority:                 pulumi.Int(r.priority),
		SourceAddressPrefix:      pulumi.String(r.source),
		SourcePortRange:          pulumi.String("*"),
		DestinationAddressPrefix: pulumi.String(r.destination),
	}
	if len(r.ports) == 1 {
		a.DestinationPortRange = pulumi.String(r.ports[0])
	} else {
		a.DestinationPortRanges = pulumi.ToStringArray(r.ports)
	}
	return a
}

// New registers the VNet, its two subnets and their NSGs.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Network, error) {
	if args == nil {
		return nil, fmt.Errorf("network %q: args are required", name)
	}
	a := *args
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("network %q: %w", name, err)
	}
	c := &Network{}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registering network component %q: %w", name, err)
	}
	tags := pulumi.ToStringMap(a.Tags)

	nsg := func(role string, rules []rule) (*network.NetworkSecurityGroup, error) {
		arr := network.SecurityRuleTypeArray{}
		for _, r := range rules {
			arr = append(arr, r.args())
		}
		g, err := network.NewNetworkSecurityGroup(ctx, name+"-"+role+"-nsg", &network.NetworkSecurityGroupArgs{
			NetworkSecurityGroupName: pulumi.String("nsg-" + strings.TrimPrefix(a.Name, "vnet-") + "-" + role),
			ResourceGroupName:        a.ResourceGroupName,
			Location:                 pulumi.String(a.Location),
			SecurityRules:            arr,
			Tags:                     tags,
		}, pulumi.Parent(c))
		if err != nil {
			return nil, fmt.Errorf("creating %s NSG: %w", role, err)
		}
		return g, nil
	}

	// Nodes: the ingress gateway's load balancer brings HTTP(S) from the
	// internet; Azure's default rules already allow VNet and load balancer
	// probes and deny every other inbound flow.
	nodes, err := nsg(NodeSubnet, []rule{
		// Destination any: the AKS load balancer keeps the public ingress IP
		// as the packets' destination (floating IP), so a node-subnet
		// destination never matches web traffic. Nodes have no public IPs,
		// so only what the load balancer forwards arrives here.
		{"allow-web-inbound", "Allow", "Inbound", "Tcp", "Internet", "*", []string{"80", "443"}, 100},
	})
	if err != nil {
		return nil, err
	}
	// Private endpoints: only the nodes, and only on the storage ports
	// (HTTPS for blobs, NFS for Azure Files); nothing else in the VNet.
	endpoints, err := nsg(EndpointSubnet, []rule{
		{"allow-nodes-storage", "Allow", "Inbound", "Tcp", a.NodeSubnet, a.EndpointSubnet, []string{"443", "2049"}, 100},
		{"deny-vnet-inbound", "Deny", "Inbound", "*", "VirtualNetwork", "VirtualNetwork", []string{"*"}, 4000},
	})
	if err != nil {
		return nil, err
	}

	vnet, err := network.NewVirtualNetwork(ctx, name+"-vnet", &network.VirtualNetworkArgs{
		VirtualNetworkName: pulumi.String(a.Name),
		ResourceGroupName:  a.ResourceGroupName,
		Location:           pulumi.String(a.Location),
		AddressSpace:       &network.AddressSpaceArgs{AddressPrefixes: pulumi.StringArray{pulumi.String(a.AddressSpace)}},
		// Subnets are declared inline: as separate Subnet resources, every
		// VNet update would race with (and could remove) them.
		Subnets: network.SubnetTypeArray{
			&network.SubnetTypeArgs{
				Name:                 pulumi.String(NodeSubnet),
				AddressPrefix:        pulumi.String(a.NodeSubnet),
				NetworkSecurityGroup: &network.NetworkSecurityGroupTypeArgs{Id: nodes.ID().ToStringOutput()},
			},
			&network.SubnetTypeArgs{
				Name:                 pulumi.String(EndpointSubnet),
				AddressPrefix:        pulumi.String(a.EndpointSubnet),
				NetworkSecurityGroup: &network.NetworkSecurityGroupTypeArgs{Id: endpoints.ID().ToStringOutput()},
				// Enforce the NSG on private endpoints (Azure leaves it off).
				PrivateEndpointNetworkPolicies: pulumi.String("Enabled"),
			},
		},
		Tags: tags,
	}, pulumi.Parent(c))
	if err != nil {
		return nil, fmt.Errorf("creating VNet %q: %w", a.Name, err)
	}

	c.VNetID = vnet.ID()
	c.NodeSubnetID = pulumi.Sprintf("%s/subnets/%s", vnet.ID(), NodeSubnet)
	c.EndpointSubnetID = pulumi.Sprintf("%s/subnets/%s", vnet.ID(), EndpointSubnet)
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"vnetId":           vnet.ID(),
		"nodeSubnetId":     c.NodeSubnetID,
		"endpointSubnetId": c.EndpointSubnetID,
	}); err != nil {
		return nil, fmt.Errorf("registering outputs of network %q: %w", name, err)
	}
	return c, nil
}
