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
