package rules

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func roleAssignment(name, scope string) Resource {
	return azure("azure-native:authorization:RoleAssignment", name, map[string]any{"scope": scope,
		"roleDefinitionId": "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/befefa01-2a29-4197-83a8-272ff33ce314"})
}

func TestRoleScopeNarrow(t *testing.T) {
	zone := "/subscriptions/s/resourceGroups/rg-dns-global/providers/Microsoft.Network/dnszones/fieldcert.example"
	for scope, want := range map[string]string{
		// Today's render (before issue 23): the whole shared zone.
		zone:                                "scoped to the whole zone of DNS zone fieldcert.example",
		zone + "/A/learn":                   "scoped to record set A/learn of DNS zone",
		zone + "/TXT/_acme-challenge.learn": "",
		zone + "/txt/_acme-challenge":       "",
		"/subscriptions/s":                  "a whole subscription",
		"/providers/Microsoft.Management/managementGroups/mg1":                              "a whole subscription or management group",
		"/subscriptions/s/resourceGroups/rg-moodle-prod-eastus2-disks":                      "",
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st": "",
	} {
		got := messages(RoleScopeNarrow.Check(prodStack(roleAssignment("certmanager-identity-role", scope))))
		if want == "" {
			assert.Empty(t, got, scope)
			continue
		}
		require.Len(t, got, 1, scope)
		assert.Contains(t, got[0], want)
	}
}
