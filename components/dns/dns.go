// Package dns provides SiteRecord: the site's A record in an existing
// Azure DNS zone, an alias of the ingress public IP so it follows the IP;
// the site's CAA record; and, for DNS-01, the one TXT record set the ACME
// challenge is written to, so cert-manager's role can be granted on that
// record set alone instead of the whole shared zone.
package dns

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fieldcert/moodle-aks/infra"
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
	// ACMEChallenge is "dns01" or "http01": with dns01 the component
	// creates the challenge's TXT record set (ChallengeRecordID) and the CAA
	// record, when there is one, allows only that validation method.
	ACMEChallenge string
	// CAAIssuers are the CAs allowed to issue for Hostname (RFC 8659);
	// empty: no CAA record is managed.
	CAAIssuers []string
}

// ChallengePlaceholder is the TXT value kept in the challenge record set
// beside cert-manager's own: cert-manager's Azure DNS solver deletes the
// record set when its last value goes (pkg/issuer/acme/dns/azuredns,
// updateTXTRecord, cert-manager 2026-08-22), and a role granted on a deleted
// record set grants nothing on the one the next challenge creates. The ACME
// server reads every TXT value and matches one (RFC 8555 §8.4), so the
// placeholder never fails a challenge.
const ChallengePlaceholder = "moodle-aks: kept so this record set outlives each challenge"

// SiteRecord is the site's DNS record.
type SiteRecord struct {
	pulumi.ResourceState

	// FQDN is the record's name.
	FQDN string
	// ChallengeRecordID is the ARM ID of the `_acme-challenge` TXT record
	// set (dns01 only; else nil): the scope of cert-manager's role.
	ChallengeRecordID pulumi.StringOutput
	// HasChallengeRecord is whether ChallengeRecordID is set.
	HasChallengeRecord bool
}

// ChallengeName returns the challenge record's name inside the zone for a
// record name from RelativeName (RFC 8555 §8.4: "_acme-challenge." and the
// domain).
func ChallengeName(rel string) string {
	if rel == "@" {
		return "_acme-challenge"
	}
	return "_acme-challenge." + rel
}

// CAAValue is the `issue` property value for one CA, limited to one ACME
// validation method where the challenge is known (RFC 8657 §4,
// "validationmethods"; Let's Encrypt honours it:
// https://letsencrypt.org/docs/caa/).
func CAAValue(issuer, challenge string) string {
	switch challenge {
	case "dns01":
		return issuer + "; validationmethods=dns-01"
	case "http01":
		return issuer + "; validationmethods=http-01"
	}
	return issuer
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
	if a.ACMEChallenge != "" && a.ACMEChallenge != "dns01" && a.ACMEChallenge != "http01" {
		errs = append(errs, fmt.Errorf("acmeChallenge %q is not dns01 or http01", a.ACMEChallenge))
	}
	for _, ca := range a.CAAIssuers {
		if !infra.CAAIssuerRE.MatchString(ca) {
			errs = append(errs, fmt.Errorf("CAA issuer %q is not a domain name (RFC 8659 §4.2)", ca))
		}
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
	if len(a.CAAIssuers) > 0 {
		caa := network.CaaRecordArray{}
		for _, ca := range a.CAAIssuers {
			caa = append(caa, &network.CaaRecordArgs{Flags: pulumi.Int(0), Tag: pulumi.String("issue"), Value: pulumi.String(CAAValue(ca, a.ACMEChallenge))})
		}
		// No wildcard certificate for the name from any CA (RFC 8659 §4.3:
		// an issuewild property of ";" forbids wildcard issuance).
		caa = append(caa, &network.CaaRecordArgs{Flags: pulumi.Int(0), Tag: pulumi.String("issuewild"), Value: pulumi.String(";")})
		if _, err := network.NewRecordSet(ctx, name+"-caa", &network.RecordSetArgs{
			ZoneName:              pulumi.String(a.ZoneName),
			ResourceGroupName:     pulumi.String(a.ZoneResourceGroup),
			RelativeRecordSetName: pulumi.String(rel),
			RecordType:            pulumi.String("CAA"),
			Ttl:                   pulumi.Float64(3600),
			CaaRecords:            caa,
		}, pulumi.Parent(c)); err != nil {
			return nil, fmt.Errorf("creating CAA record %s: %w", a.Hostname, err)
		}
	}
	if a.ACMEChallenge == "dns01" {
		txt, err := network.NewRecordSet(ctx, name+"-acme-challenge", &network.RecordSetArgs{
			ZoneName:              pulumi.String(a.ZoneName),
			ResourceGroupName:     pulumi.String(a.ZoneResourceGroup),
			RelativeRecordSetName: pulumi.String(ChallengeName(rel)),
			RecordType:            pulumi.String("TXT"),
			// cert-manager's own TTL for the records it creates.
			Ttl:        pulumi.Float64(60),
			TxtRecords: network.TxtRecordArray{&network.TxtRecordArgs{Value: pulumi.StringArray{pulumi.String(ChallengePlaceholder)}}},
		}, pulumi.Parent(c),
			// cert-manager adds and removes its values during a challenge.
			pulumi.IgnoreChanges([]string{"txtRecords"}))
		if err != nil {
			return nil, fmt.Errorf("creating the ACME challenge record of %s: %w", a.Hostname, err)
		}
		c.ChallengeRecordID, c.HasChallengeRecord = txt.ID().ToStringOutput(), true
	}
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"fqdn": pulumi.String(a.Hostname)}); err != nil {
		return nil, fmt.Errorf("registering outputs of site record %q: %w", name, err)
	}
	return c, nil
}
