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
