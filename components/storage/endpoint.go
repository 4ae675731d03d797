package storage

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-azure-native-sdk/network/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Endpoint places a storage account's private endpoint.
type Endpoint struct {
	// SubnetID is the ARM ID of the private endpoint subnet (required).
	SubnetID pulumi.StringInput
	// VNetID is the ARM ID of the VNet the private DNS zone is linked to
	// (required), so that pods resolve the account to its private address.
	VNetID pulumi.StringInput
}

func (e *Endpoint) validate() error {
	if e == nil || e.SubnetID == nil || e.VNetID == nil {
		return errors.New("privateEndpoint needs subnetID and vnetID")
	}
	return nil
}

// privateEndpoint gives an account a private endpoint for one service
// ("file" or "blob"), with the privatelink DNS zone that makes the
// account's usual name resolve to it inside the VNet.
func privateEndpoint(ctx *pulumi.Context, parent pulumi.Resource, name, service string, rg pulumi.StringInput,
	location, accountName string, accountID pulumi.IDOutput, ep Endpoint, tags pulumi.StringMap) error {
	zoneName := "privatelink." + service + ".core.windows.net"
	opts := []pulumi.ResourceOption{pulumi.Parent(parent)}
	zone, err := network.NewPrivateZone(ctx, name+"-"+service+"-dns", &network.PrivateZoneArgs{
		PrivateZoneName:   pulumi.String(zoneName),
		ResourceGroupName: rg,
		Location:          pulumi.String("global"), // private DNS zones are global objects holding no data
		Tags:              tags,
	}, opts...)
	if err != nil {
		return fmt.Errorf("creating private DNS zone %s: %w", zoneName, err)
	}
	if _, err := network.NewVirtualNetworkLink(ctx, name+"-"+service+"-dns-link", &network.VirtualNetworkLinkArgs{
		VirtualNetworkLinkName: pulumi.String("vnet"),
		PrivateZoneName:        zone.Name,
		ResourceGroupName:      rg,
		Location:               pulumi.String("global"),
		VirtualNetwork:         &network.SubResourceArgs{Id: ep.VNetID},
		RegistrationEnabled:    pulumi.Bool(false),
		Tags:                   tags,
	}, opts...); err != nil {
		return fmt.Errorf("linking %s to the VNet: %w", zoneName, err)
	}
	pe, err := network.NewPrivateEndpoint(ctx, name+"-"+service+"-pe", &network.PrivateEndpointArgs{
		PrivateEndpointName: pulumi.String("pe-" + accountName + "-" + service),
		ResourceGroupName:   rg,
		Location:            pulumi.String(location),
		Subnet:              &network.SubnetTypeArgs{Id: ep.SubnetID},
		PrivateLinkServiceConnections: network.PrivateLinkServiceConnectionArray{&network.PrivateLinkServiceConnectionArgs{
			Name:                 pulumi.String(service),
			PrivateLinkServiceId: accountID.ToStringOutput(),
			GroupIds:             pulumi.StringArray{pulumi.String(service)},
		}},
		Tags: tags,
	}, opts...)
	if err != nil {
		return fmt.Errorf("creating %s private endpoint of %q: %w", service, accountName, err)
	}
	if _, err := network.NewPrivateDnsZoneGroup(ctx, name+"-"+service+"-pe-dns", &network.PrivateDnsZoneGroupArgs{
		PrivateDnsZoneGroupName: pulumi.String("default"),
		PrivateEndpointName:     pe.Name,
		ResourceGroupName:       rg,
		PrivateDnsZoneConfigs: network.PrivateDnsZoneConfigArray{&network.PrivateDnsZoneConfigArgs{
			Name:             pulumi.String(strings.ReplaceAll(zoneName, ".", "-")),
			PrivateDnsZoneId: zone.ID().ToStringOutput(),
		}},
	}, opts...); err != nil {
		return fmt.Errorf("registering %s private endpoint of %q in DNS: %w", service, accountName, err)
	}
	return nil
}
