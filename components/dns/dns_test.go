package dns

import (
	"testing"

	"github.com/fieldcert/moodle-aks/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRelativeName(t *testing.T) {
	for host, want := range map[string]string{
		"learn.fieldcert.example":      "learn",
		"a.b.fieldcert.example":        "a.b",
		"fieldcert.example":            "@",
		"learn.otherfieldcert.example": "",
	} {
		got, err := RelativeName(host, "fieldcert.example")
		if want == "" {
			assert.Error(t, err, host)
			continue
		}
		require.NoError(t, err, host)
		assert.Equal(t, want, got)
	}
}

func run(t *testing.T, a *Args) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.Run("p", "s", nil, nil, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "site", a)
		return err
	})
}

func TestSiteRecord(t *testing.T) {
	rec, err := run(t, &Args{ZoneName: "fieldcert.example", ZoneResourceGroup: "rg-dns", Hostname: "learn.fieldcert.example", TTLSeconds: 300, Target: pulumi.String("/subscriptions/s/pip")})
	require.NoError(t, err)
	r, ok := rec.Named("azure-native:network:RecordSet", "site-a")
	require.True(t, ok)
	assert.Equal(t, "learn", r.Input("relativeRecordSetName"))
	assert.Equal(t, "A", r.Input("recordType"))
	assert.Equal(t, float64(300), r.Input("ttl"))
	assert.Equal(t, "rg-dns", r.Input("resourceGroupName"))
	assert.Equal(t, "/subscriptions/s/pip", r.Input("targetResource.id"), "an alias of the ingress IP")
}

func TestSiteRecordRejectsBadArgs(t *testing.T) {
	rec, err := run(t, &Args{ZoneName: "fieldcert.example", Hostname: "learn.example.com", TTLSeconds: 5})
	require.Error(t, err)
	for _, want := range []string{"not in zone", "zoneResourceGroup is required", "ttlSeconds 5", "target is required"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.Empty(t, rec.Resources())
}

func TestChallengeRecordAndCAA(t *testing.T) {
	rec, err := run(t, &Args{ZoneName: "fieldcert.example", ZoneResourceGroup: "rg-dns", Hostname: "learn.eu.fieldcert.example", TTLSeconds: 300,
		Target: pulumi.String("/subscriptions/s/pip"), ACMEChallenge: "dns01", CAAIssuers: []string{"letsencrypt.org"}})
	require.NoError(t, err)

	txt, ok := rec.Named("azure-native:network:RecordSet", "site-acme-challenge")
	require.True(t, ok, "dns01 creates the challenge record set the role is scoped to")
	assert.Equal(t, "_acme-challenge.learn.eu", txt.Input("relativeRecordSetName"), "RFC 8555 §8.4: _acme-challenge. and the name")
	assert.Equal(t, "TXT", txt.Input("recordType"))
	assert.Equal(t, []any{map[string]any{"value": []any{ChallengePlaceholder}}}, txt.Input("txtRecords"),
		"one value that is not cert-manager's, so its clean-up never empties (and deletes) the record set")
	assert.Equal(t, []string{"txtRecords"}, txt.IgnoreChanges, "cert-manager's values are not drift")

	caa, ok := rec.Named("azure-native:network:RecordSet", "site-caa")
	require.True(t, ok)
	assert.Equal(t, "learn.eu", caa.Input("relativeRecordSetName"))
	assert.Equal(t, []any{
		map[string]any{"flags": float64(0), "tag": "issue", "value": "letsencrypt.org; validationmethods=dns-01"},
		map[string]any{"flags": float64(0), "tag": "issuewild", "value": ";"},
	}, caa.Input("caaRecords"))
}

func TestHTTP01HasNoChallengeRecord(t *testing.T) {
	rec, err := run(t, &Args{ZoneName: "fieldcert.example", ZoneResourceGroup: "rg-dns", Hostname: "fieldcert.example", TTLSeconds: 300,
		Target: pulumi.String("/subscriptions/s/pip"), ACMEChallenge: "http01", CAAIssuers: []string{"letsencrypt.org", "sectigo.com"}})
	require.NoError(t, err)
	_, ok := rec.Named("azure-native:network:RecordSet", "site-acme-challenge")
	assert.False(t, ok, "HTTP-01 writes no DNS record")
	caa, ok := rec.Named("azure-native:network:RecordSet", "site-caa")
	require.True(t, ok)
	assert.Equal(t, "@", caa.Input("relativeRecordSetName"))
	assert.Equal(t, "letsencrypt.org; validationmethods=http-01", caa.Input("caaRecords").([]any)[0].(map[string]any)["value"])
	assert.Equal(t, "sectigo.com; validationmethods=http-01", caa.Input("caaRecords").([]any)[1].(map[string]any)["value"])
	assert.Equal(t, "_acme-challenge", ChallengeName("@"))
}

func TestNoCAAWhenNoIssuers(t *testing.T) {
	rec, err := run(t, &Args{ZoneName: "fieldcert.example", ZoneResourceGroup: "rg-dns", Hostname: "learn.fieldcert.example", TTLSeconds: 300, Target: pulumi.String("/subscriptions/s/pip")})
	require.NoError(t, err)
	assert.Len(t, rec.OfType("azure-native:network:RecordSet"), 1, "the A record alone")
}

func TestBadCAAIssuer(t *testing.T) {
	rec, err := run(t, &Args{ZoneName: "fieldcert.example", ZoneResourceGroup: "rg-dns", Hostname: "learn.fieldcert.example", TTLSeconds: 300,
		Target: pulumi.String("/subscriptions/s/pip"), ACMEChallenge: "dns-01", CAAIssuers: []string{"Let's Encrypt"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `CAA issuer "Let's Encrypt" is not a domain name`)
	assert.Contains(t, err.Error(), `acmeChallenge "dns-01" is not dns01 or http01`)
	assert.Empty(t, rec.Resources())
}
