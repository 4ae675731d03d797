package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/policy/rules"
	"github.com/fieldcert/moodle-aks/stacks"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRegionStacks(t *testing.T) {
	cases := []struct {
		stack, region, residency, sku, filesSku, tier string
		protect                                       bool
		zones                                         any
		pools, federated, records                     int
	}{
		{"dev", "westeurope", "eu", "Standard_LRS", "Premium_LRS", "Free", false, []any{}, 1, 1, 0},
		// prod: user, jobs and integrations pools; the A record, the CAA
		// record and the ACME challenge record set.
		{"prod", "eastus2", "us", "Standard_ZRS", "Premium_ZRS", "Standard", true, []any{"1", "2", "3"}, 3, 2, 3},
	}
	for _, tc := range cases {
		t.Run(tc.stack, func(t *testing.T) {
			rec := runStack(t, tc.stack, "")
			all := rec.Resources()

			rg, ok := rec.Named("azure-native:resources:ResourceGroup", "region-rg")
			require.True(t, ok)
			disks, ok := rec.Named("azure-native:resources:ResourceGroup", "data-disks-rg")
			require.True(t, ok)
			require.Len(t, rec.OfType("azure-native:resources:ResourceGroup"), 2, "the region's group and its data disks' group")
			assert.Equal(t, tc.region, rg.Input("location"))
			assert.Regexp(t, infra.ResourceGroupNameRE, rg.Input("resourceGroupName"))
			assert.Contains(t, rg.Input("resourceGroupName"), tc.region)

			vnets := rec.OfType("azure-native:network:VirtualNetwork")
			require.Len(t, vnets, 1)
			assert.Equal(t, []any{"10.40.0.0/16"}, vnets[0].Input("addressSpace.addressPrefixes"), "the VNet takes vnetCidr")
			assert.Len(t, vnets[0].Input("subnets"), 2)
			assert.Len(t, rec.OfType("azure-native:network:NetworkSecurityGroup"), 2)

			accts := map[string]rules.Resource{}
			for _, a := range rec.OfType("azure-native:storage:StorageAccount") {
				accts[a.String("kind")] = a
				assert.Regexp(t, infra.StorageAccountNameRE, a.Input("accountName"))
				assert.Equal(t, rg.Input("resourceGroupName"), a.Input("resourceGroupName"))
				assert.Contains(t, a.Dependencies, rg.URN, "accounts wait for their group")
				assert.Equal(t, "Disabled", a.Input("publicNetworkAccess"), "reached through private endpoints only")
			}
			require.Len(t, accts, 2)
			assert.Equal(t, tc.sku, accts["StorageV2"].Input("sku.name"))
			assert.Equal(t, tc.filesSku, accts["FileStorage"].Input("sku.name"))
			assert.Len(t, rec.OfType("azure-native:network:PrivateEndpoint"), 2)

			// Data resources, and the group that holds them, resist deletion:
			// protected in prod, retained in dev.
			data := []rules.Resource{rg, disks, accts["StorageV2"], accts["FileStorage"]}
			data = append(data, rec.OfType("azure-native:storage:BlobContainer")...)
			data = append(data, rec.OfType("azure-native:storage:FileShare")...)
			for _, r := range data {
				assert.Equal(t, tc.protect, r.Protect, r.URN)
				assert.True(t, r.RetainOnDelete, r.URN)
			}

			clusters := rec.OfType("azure-native:containerservice/v20241001:ManagedCluster")
			require.Len(t, clusters, 1)
			c := clusters[0]
			assert.Equal(t, tc.protect, c.Protect, "the prod cluster is protected (deleting it deletes its node group)")
			// The MySQL and Redis disks are made in the data disks' group,
			// never in the node resource group AKS deletes with the cluster.
			for _, sc := range rec.OfType("kubernetes:storage.k8s.io/v1:StorageClass") {
				if sc.String("provisioner") == "disk.csi.azure.com" {
					assert.Equal(t, disks.Input("resourceGroupName"), sc.Input("parameters.resourceGroup"), sc.URN)
					assert.NotEqual(t, c.Input("nodeResourceGroup"), sc.Input("parameters.resourceGroup"))
				}
			}
			// Locks in prod: the backup account and the disks' group.
			var lockedOn []string
			for _, l := range rec.OfType("azure-native:authorization:ManagementLockByScope") {
				assert.Equal(t, "CanNotDelete", l.Input("level"))
				lockedOn = append(lockedOn, l.Dependencies...)
			}
			if tc.protect {
				assert.Contains(t, lockedOn, disks.URN)
				assert.Contains(t, lockedOn, accts["StorageV2"].URN)
				assert.NotContains(t, lockedOn, accts["FileStorage"].URN, "a lock there refuses the snapshots' expiry")
			} else {
				assert.Empty(t, lockedOn, "dev stacks can be torn down")
			}
			assert.Equal(t, tc.tier, c.Input("sku.tier"))
			assert.Equal(t, tc.protect, c.Input("disableLocalAccounts"), "local accounts off in prod")
			assert.Equal(t, tc.zones, c.Input("agentPoolProfiles").([]any)[0].(map[string]any)["availabilityZones"])
			assert.Len(t, rec.OfType("azure-native:containerservice/v20241001:AgentPool"), tc.pools)
			provs := rec.OfType("pulumi:providers:kubernetes")
			require.Len(t, provs, 1)
			assert.Equal(t, "[secret]", provs[0].Input("kubeconfig"))

			// Workload identities federate with the cluster's OIDC issuer.
			feds := rec.OfType("azure-native:managedidentity:FederatedIdentityCredential")
			assert.Len(t, feds, tc.federated)
			for _, f := range feds {
				assert.Contains(t, f.String("issuer"), "oic.prod-aks.azure.com")
				assert.Contains(t, f.Dependencies, c.URN)
			}
			assert.Len(t, rec.OfType("azure-native:network:RecordSet"), tc.records)

			// Least privilege on the data: no built-in role that can delete
			// backups or manage an account; the backup identity's custom
			// roles name their actions and none deletes a blob; no migration
			// identity unless a migration is configured.
			for _, ra := range rec.OfType("azure-native:authorization:RoleAssignment") {
				for _, forbidden := range []string{"17d1049b-9a84-46fb-8f53-869881c3d3ab", "ba92f5b4-2d11-453d-a403-e96b0029c9fe", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"} {
					assert.NotContains(t, ra.String("roleDefinitionId"), forbidden, "%s: Storage Account Contributor, Storage Blob Data Contributor, Owner", ra.URN)
				}
			}
			defs := rec.OfType("azure-native:authorization:RoleDefinition")
			require.Len(t, defs, 2, "the backup writer and the share snapshot roles")
			for _, d := range defs {
				perms := d.Input("permissions").([]any)[0].(map[string]any)
				for _, key := range []string{"actions", "dataActions"} {
					list, _ := perms[key].([]any)
					for _, a := range list {
						assert.NotContains(t, a, "*", "%s names each action", d.URN)
						assert.NotContains(t, a, "blobs/delete", d.URN)
						assert.NotContains(t, a, "listKeys", d.URN)
						assert.NotContains(t, a, "storageAccounts/delete", d.URN)
					}
				}
				scopes, _ := d.Input("assignableScopes").([]any)
				require.Len(t, scopes, 1)
				assert.Contains(t, scopes[0], rg.String("resourceGroupName"), "assignable in the stack's group only")
			}
			_, migrationID := rec.Named("azure-native:managedidentity:UserAssignedIdentity", "migration-identity-identity")
			assert.False(t, migrationID, "no migration identity while no migration is configured")

			// Every Azure resource with a location carries the standard tags
			// and sits in the stack's region.
			for _, r := range all {
				if !strings.HasPrefix(r.Type, "azure-native:") || r.String("location") == "" {
					continue
				}
				assert.Contains(t, []string{tc.region, "global"}, r.String("location"), r.URN)
				for _, k := range infra.StandardTagKeys {
					assert.NotEmpty(t, r.String("tags."+k), "%s lacks tag %s", r.URN, k)
				}
				assert.Equal(t, tc.residency, r.String("tags.residency"))
				assert.Equal(t, tc.stack, r.String("tags.stack"))
			}

			// Every custom resource has a component parent, but the stack's
			// azure-native provider, which every component uses.
			for _, r := range all {
				if r.Custom && r.Type != "pulumi:providers:azure-native" {
					assert.Contains(t, r.Parent, "::moodle:", "%s has a component parent", r.URN)
				}
			}
		})
	}
}

func TestStackRegistrationOrderIsDeterministic(t *testing.T) {
	first := runStack(t, "prod", "").Resources()
	for i := 0; i < 5; i++ {
		again := runStack(t, "prod", "").Resources()
		require.Equal(t, len(first), len(again))
		for j := range first {
			assert.Equal(t, first[j].URN, again[j].URN)
		}
	}
	// Parents and dependencies come first.
	pos := map[string]int{}
	for i, r := range first {
		pos[r.URN] = i
	}
	for i, r := range first {
		for _, d := range append(r.Dependencies, r.Parent) {
			if j, ok := pos[d]; ok {
				assert.Less(t, j, i, "%s comes after %s", r.URN, d)
			}
		}
	}
}

func TestRealStacksPassThePolicyPackRunner(t *testing.T) {
	// The policy pack executable derives the stack from the resource
	// group's tags; on the real stacks that must agree with the config.
	for _, stack := range []string{"dev", "prod"} {
		rec := runStack(t, stack, "")
		s, err := rules.StackFromResources(rec.Resources())
		require.NoError(t, err)
		want := map[string][2]string{"dev": {"westeurope", "eu"}, "prod": {"eastus2", "us"}}[stack]
		assert.Equal(t, want, [2]string{s.Region, s.Residency})
		assert.Empty(t, rules.Evaluate(s, rules.All()), stack)
	}
}

// TestOneAzureNativeProvider: the service modules come at three versions;
// every Azure resource is registered through the one explicit provider, at
// the root module's version, so the engine runs one azure-native plugin.
func TestOneAzureNativeProvider(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	assert.Contains(t, string(mod), "github.com/pulumi/pulumi-azure-native-sdk/v2 v"+stacks.AzureNativeVersion+"\n",
		"stacks.AzureNativeVersion is the root module's version in go.mod")
	for _, stack := range []string{"dev", "prod"} {
		rec := runStack(t, stack, "")
		provs := rec.OfType("pulumi:providers:azure-native")
		require.Len(t, provs, 1, stack)
		azure := 0
		for _, r := range rec.Resources() {
			if strings.HasPrefix(r.Type, "azure-native:") {
				azure++
				assert.True(t, strings.HasPrefix(r.Provider, provs[0].URN+"::"), "%s: %s %s uses provider %q", stack, r.Type, r.Name, r.Provider)
			}
		}
		assert.Greater(t, azure, 25, stack)
	}
}
