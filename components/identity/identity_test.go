package identity

import (
	"testing"

	"github.com/fieldcert/moodle-aks/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func args() *Args {
	return &Args{
		ResourceGroupName: pulumi.String("rg-test"),
		Location:          "eastus2",
		Name:              "id-moodle-prod-backup",
		Tags:              map[string]string{"environment": "prod"},
		SubscriptionID:    pulumi.String(mocks.SubscriptionID),
		Issuer:            pulumi.String("https://oidc.example/issuer/"),
		Namespace:         "data",
		ServiceAccount:    "mysql-backup",
		Grants: []Grant{{
			Role:  RoleStorageBlobDataContributor,
			Scope: pulumi.String("/subscriptions/s/resourceGroups/rg-test/providers/Microsoft.Storage/storageAccounts/stbkp"),
			What:  "backups",
		}},
	}
}

func run(t *testing.T, a *Args) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.Run("p", "s", nil, nil, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "backup", a)
		return err
	})
}

func TestWorkloadIdentity(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	comp, ok := rec.Named(TypeToken, "backup")
	require.True(t, ok)

	id, ok := rec.Named("azure-native:managedidentity:UserAssignedIdentity", "backup-identity")
	require.True(t, ok)
	assert.Equal(t, comp.URN, id.Parent)
	assert.Equal(t, "id-moodle-prod-backup", id.Input("resourceName"))
	assert.Equal(t, "eastus2", id.Input("location"))

	fed, ok := rec.Named("azure-native:managedidentity:FederatedIdentityCredential", "backup-federation")
	require.True(t, ok)
	assert.Equal(t, "system:serviceaccount:data:mysql-backup", fed.Input("subject"))
	assert.Equal(t, "https://oidc.example/issuer/", fed.Input("issuer"))
	assert.Equal(t, []any{"api://AzureADTokenExchange"}, fed.Input("audiences"))
	assert.Contains(t, fed.Dependencies, id.URN)

	ra, ok := rec.Named("azure-native:authorization:RoleAssignment", "backup-backups-role")
	require.True(t, ok)
	assert.Equal(t, "/subscriptions/"+mocks.SubscriptionID+"/providers/Microsoft.Authorization/roleDefinitions/"+RoleStorageBlobDataContributor, ra.Input("roleDefinitionId"))
	assert.Equal(t, "/subscriptions/s/resourceGroups/rg-test/providers/Microsoft.Storage/storageAccounts/stbkp", ra.Input("scope"), "scoped to the one account")
	assert.Equal(t, "ServicePrincipal", ra.Input("principalType"))
	assert.NotEmpty(t, ra.Input("principalId"))
	assert.Contains(t, ra.Dependencies, id.URN)
}

func TestWorkloadIdentityWithoutFederation(t *testing.T) {
	a := args()
	a.Namespace, a.ServiceAccount, a.Issuer = "", "", nil
	rec, err := run(t, a)
	require.NoError(t, err)
	assert.Empty(t, rec.OfType("azure-native:managedidentity:FederatedIdentityCredential"))
	assert.Len(t, rec.OfType("azure-native:authorization:RoleAssignment"), 1)
}

func TestWorkloadIdentityRejectsBadArgs(t *testing.T) {
	a := args()
	a.Issuer = nil
	a.ServiceAccount = "Bad_Name"
	a.Grants = append(a.Grants, Grant{Role: "Owner", What: "everything"})
	rec, err := run(t, a)
	require.Error(t, err)
	for _, want := range []string{"issuer is required", `serviceAccount "Bad_Name"`, `grants[1].role "Owner"`, "grants[1].scope is required"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.Empty(t, rec.Resources())
}

func TestCustomRoleDefinedAndGranted(t *testing.T) {
	a := args()
	a.Grants = []Grant{{
		Custom: &CustomRole{
			Name: "id-moodle-prod-backup backup writer", Description: "write backups",
			DataActions: []string{"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write"},
			DefinedIn:   pulumi.String("/subscriptions/s/resourceGroups/rg-test"),
		},
		Scope: pulumi.String("/subscriptions/s/resourceGroups/rg-test/providers/Microsoft.Storage/storageAccounts/stbkp"),
		What:  "backups",
	}}
	rec, err := run(t, a)
	require.NoError(t, err)
	def, ok := rec.Named("azure-native:authorization:RoleDefinition", "backup-backups-role-definition")
	require.True(t, ok)
	assert.Equal(t, "id-moodle-prod-backup backup writer", def.Input("roleName"))
	assert.Equal(t, []any{"/subscriptions/s/resourceGroups/rg-test"}, def.Input("assignableScopes"))
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, def.Input("roleDefinitionId"))
	assert.Equal(t, nameGUID("id-moodle-prod-backup backup writer"), def.Input("roleDefinitionId"), "the same name, the same ID on every run")
	assert.NotEqual(t, nameGUID("id-moodle-prod-backup backup writer"), nameGUID("id-moodle-dev-backup backup writer"))
	ra, ok := rec.Named("azure-native:authorization:RoleAssignment", "backup-backups-role")
	require.True(t, ok)
	assert.Contains(t, ra.Dependencies, def.URN, "granted once defined")
	assert.Contains(t, ra.String("roleDefinitionId"), "backup-backups-role-definition", "the custom role's ID, not a built-in one")

	a.Grants[0].Custom.DataActions = []string{"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*"}
	_, err = run(t, a)
	require.ErrorContains(t, err, "has a wildcard: name each action")
}
