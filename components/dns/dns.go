// Package dns provides SiteRecord: the site's A record in an existing
// Azure DNS zone, an alias of the ingress public IP so it follows the IP.
package dns

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-azure-native-sdk/network/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the component's type; with the child names it forms URNs.
const TypeToken = "moodle:dns:SiteRecord"

// Args configures a SiteRecord.
type Args struct {
	// ZoneName is the existing Azure DNS zone, e.g. "fieldcert.example" (required).
	ZoneName string
	// ZoneResourceGroup is the zone's resource group (required).
	ZoneResourceGroup string
	// Hostname is the site's name, inside ZoneName (required).
	Hostname string
	// TTLSeconds is the record's TTL, 60-86400 (required); the migration
	// lowers it to 300 before a cut-over.
	TTLSeconds int
	// Target is the ARM ID of the ingress public IP (required).
	Target pulumi.StringInput
}

// SiteRecord is the site's DNS record.
type SiteRecord struct {
	pulumi.ResourceState

	// FQDN is the record's name.
	FQDN string
}

// RelativeName returns the record name inside the zone ("@" for the apex),
// or an error when hostname is not in zone.
func RelativeName(hostname, zone string) (string, error) {
	if hostname == zone {
		return "@", nil
	}
	if rel, ok := strings.CutSuffix(hostname, "."+zone); ok && rel != "" {
		return rel, nil
	}
	return "", fmt.Errorf("hostname %q is not in zone %q", hostname, zone)
}

// New registers the record.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*SiteRecord, error) {
	if args == nil {
		return nil, fmt.Errorf("site record %q: args are required", name)
	}
	a := *args
	rel, err := RelativeName(a.Hostname, a.ZoneName)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if a.ZoneResourceGroup == "" {
		errs = append(errs, errors.New("zoneResourceGroup is required"))
	}
	if a.TTLSeconds < 60 || a.TTLSeconds > 86400 {
		errs = append(errs, fmt.Errorf("ttlSeconds %d is out of range 60-86400", a.TTLSeconds))
	}
	if a.Target == nil {
		errs = append(errs, errors.New("target is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("site record %q: %w", name, err)
	}
	c := &SiteRecord{FQDN: a.Hostname}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registering site record component %q: %w", name, err)
	}
	if _, err := network.NewRecordSet(ctx, name+"-a", &network.RecordSetArgs{
		ZoneName:              pulumi.String(a.ZoneName),
		ResourceGroupName:     pulumi.String(a.ZoneResourceGroup),
		RelativeRecordSetName: pulumi.String(rel),
		RecordType:            pulumi.String("A"),
		Ttl:                   pulumi.Float64(float64(a.TTLSeconds)),
		// An alias record: Azure keeps it pointing at the IP's address.
		TargetResource: &network.SubResourceArgs{Id: a.Target},
	}, pulumi.Parent(c)); err != nil {
		return nil, fmt.Errorf("creating A record %s: %w", a.Hostname, err)
	}
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"fqdn": pulumi.String(a.Hostname)}); err != nil {
		return nil, fmt.Errorf("registering outputs of site record %q: %w", name, err)
	}
	return c, nil
}
