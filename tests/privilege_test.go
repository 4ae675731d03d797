package tests

import (
	"strings"
	"testing"

	"github.com/fieldcert/moodle-aks/policy/rules"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Least privilege across the rendered stacks (issue 23).

// TestEachRegionWritesOnlyItsOwnChallenge: the zone is shared by every
// region; each stack's cert-manager may write only the challenge record of
// its own hostname, and the CAA record allows only the stack's issuer and
// validation method.
func TestEachRegionWritesOnlyItsOwnChallenge(t *testing.T) {
	scopes := map[string]string{}
	for _, s := range []string{"prod", "prod-eu"} {
		rec := runStack(t, s, "")
		txt, ok := rec.Named("azure-native:network:RecordSet", "site-acme-challenge")
		require.True(t, ok, s)
		a, _ := rec.Named("azure-native:network:RecordSet", "site-a")
		assert.Equal(t, "_acme-challenge."+a.String("relativeRecordSetName"), txt.String("relativeRecordSetName"), s)

		var grants []string
		for _, r := range rec.OfType("azure-native:authorization:RoleAssignment") {
			if strings.Contains(strings.ToLower(r.String("scope")), "/dnszones/") {
				grants = append(grants, r.String("scope"))
			}
		}
		require.Len(t, grants, 1, "%s: one role under the zone", s)
		assert.True(t, strings.HasSuffix(grants[0], "/dnszones/fieldcert.example/TXT/"+txt.String("relativeRecordSetName")), "%s: %s", s, grants[0])
		scopes[s] = grants[0]

		caa, ok := rec.Named("azure-native:network:RecordSet", "site-caa")
		require.True(t, ok, s)
		assert.Equal(t, a.String("relativeRecordSetName"), caa.String("relativeRecordSetName"))
		assert.Contains(t, caa.Input("caaRecords").([]any), map[string]any{"flags": float64(0), "tag": "issue", "value": "letsencrypt.org; validationmethods=dns-01"}, s)
		assert.Empty(t, rules.RoleScopeNarrow.Check(&rules.Stack{Resources: rec.Resources()}), s)
	}
	assert.NotEqual(t, scopes["prod"], scopes["prod-eu"])
}

// TestAuditTrailPerEnvironment: prod sends its audit logs to a workspace in
// its own region and runs Defender and Azure Policy; dev, by default, none.
func TestAuditTrailPerEnvironment(t *testing.T) {
	for _, s := range []string{"prod", "prod-eu"} {
		rec := runStack(t, s, "")
		rg := rec.OfType("azure-native:resources:ResourceGroup")[0]
		ws := rec.OfType("azure-native:operationalinsights:Workspace")
		require.Len(t, ws, 1, s)
		assert.Equal(t, rg.String("location"), ws[0].String("location"), "%s: the audit log stays in the region", s)
		assert.Len(t, rec.OfType("azure-native:insights:DiagnosticSetting"), 3, "%s: the cluster and both storage accounts", s)
		st, err := rules.StackFromResources(rec.Resources())
		require.NoError(t, err)
		assert.Empty(t, rules.AuditTrail.Check(st), s)
	}
	dev := runStack(t, "dev", "")
	assert.Empty(t, dev.OfType("azure-native:operationalinsights:Workspace"))
	c := dev.OfType("azure-native:containerservice/v20241001:ManagedCluster")
	require.Len(t, c, 1)
	assert.Nil(t, c[0].Input("securityProfile.defender"))
	assert.Equal(t, false, c[0].Input("addonProfiles.azurepolicy.enabled"))
}
