package aks

import (
	"strings"
	"testing"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const clusterType = "azure-native:containerservice/v20241001:ManagedCluster"

func args() *Args {
	return &Args{
		ResourceGroupName:    pulumi.String("rg-moodle-prod-eastus2"),
		Location:             "eastus2",
		Name:                 "aks-moodle-prod",
		DNSPrefix:            "moodle-prod-abc123",
		NodeResourceGroup:    "rg-moodle-prod-eastus2-nodes",
		KubernetesVersion:    "1.35",
		Zones:                []string{"1", "2", "3"},
		SystemPool:           Pool{VMSize: "Standard_D4s_v5", MinCount: 3, MaxCount: 5},
		UserPool:             Pool{VMSize: "Standard_D8s_v5", MinCount: 3, MaxCount: 40},
		JobsPool:             &Pool{VMSize: "Standard_D4s_v5", MinCount: 0, MaxCount: 5},
		NodeSubnetID:         pulumi.String("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/nodes"),
		PodCIDR:              "192.168.0.0/16",
		ServiceCIDR:          "172.16.0.0/16",
		DNSServiceIP:         "172.16.0.10",
		Tier:                 "Standard",
		DisableLocalAccounts: true,
		AdminGroupObjectIDs:  []string{"6f1c3b1e-8a52-4c2e-9d0e-1b2a3c4d5e6f"},
		AuthorizedIPRanges:   []string{"198.51.100.0/24"},
		UpgradeChannel:       "patch",
		Maintenance:          infra.MaintenanceWindow{DayOfWeek: "Sunday", StartHour: 3, DurationHours: 4, UTCOffset: "-05:00"},
		IngressIPName:        "pip-moodle-prod-eastus2-ingress",
		SubscriptionID:       pulumi.String(mocks.SubscriptionID),
		Tags:                 map[string]string{"environment": "prod"},
	}
}

func run(t *testing.T, a *Args) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.Run("p", "s", nil, nil, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "aks", a)
		return err
	})
}

func cluster(t *testing.T, rec *mocks.Recorder) mocks.Resource {
	t.Helper()
	c, ok := rec.Named(clusterType, "aks-cluster")
	require.True(t, ok, "the cluster is registered with the v20241001 API")
	return c
}

func TestClusterSettings(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	c := cluster(t, rec)
	comp, _ := rec.Named(TypeToken, "aks")
	assert.Equal(t, comp.URN, c.Parent)

	assert.Equal(t, "aks-moodle-prod", c.Input("resourceName"))
	assert.Equal(t, "1.35", c.Input("kubernetesVersion"))
	assert.Equal(t, "Standard", c.Input("sku.tier"))
	// Network: Azure CNI overlay with Cilium network policy.
	assert.Equal(t, "azure", c.Input("networkProfile.networkPlugin"))
	assert.Equal(t, "overlay", c.Input("networkProfile.networkPluginMode"))
	assert.Equal(t, "cilium", c.Input("networkProfile.networkPolicy"))
	assert.Equal(t, "192.168.0.0/16", c.Input("networkProfile.podCidr"))
	assert.Equal(t, "172.16.0.10", c.Input("networkProfile.dnsServiceIP"))
	// Identity and access.
	assert.Equal(t, true, c.Input("oidcIssuerProfile.enabled"))
	assert.Equal(t, true, c.Input("securityProfile.workloadIdentity.enabled"))
	assert.Equal(t, true, c.Input("aadProfile.managed"))
	assert.Equal(t, true, c.Input("aadProfile.enableAzureRBAC"))
	assert.Equal(t, []any{"6f1c3b1e-8a52-4c2e-9d0e-1b2a3c4d5e6f"}, c.Input("aadProfile.adminGroupObjectIDs"))
	assert.Equal(t, true, c.Input("disableLocalAccounts"))
	assert.Equal(t, []any{"198.51.100.0/24"}, c.Input("apiServerAccessProfile.authorizedIPRanges"))
	assert.Equal(t, false, c.Input("apiServerAccessProfile.enablePrivateCluster"))
	assert.Equal(t, "UserAssigned", c.Input("identity.type"))
	// Storage drivers and upgrades.
	assert.Equal(t, true, c.Input("storageProfile.fileCSIDriver.enabled"))
	assert.Equal(t, true, c.Input("storageProfile.diskCSIDriver.enabled"))
	assert.Equal(t, "patch", c.Input("autoUpgradeProfile.upgradeChannel"))
	assert.Equal(t, "NodeImage", c.Input("autoUpgradeProfile.nodeOSUpgradeChannel"))
	// Autoscaler tuned for elastic load; emptyDir must not pin nodes.
	assert.Equal(t, "false", c.Input("autoScalerProfile.skipNodesWithLocalStorage"))
	assert.Equal(t, "least-waste", c.Input("autoScalerProfile.expander"))
	assert.Equal(t, "10m", c.Input("autoScalerProfile.scaleDownUnneededTime"))
	assert.Equal(t, "0.5", c.Input("autoScalerProfile.scaleDownUtilizationThreshold"))
}

func TestSystemPool(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	pools := cluster(t, rec).Input("agentPoolProfiles").([]any)
	require.Len(t, pools, 1)
	sys := pools[0].(map[string]any)
	assert.Equal(t, "System", sys["mode"])
	assert.Equal(t, true, sys["enableAutoScaling"])
	assert.Equal(t, float64(3), sys["minCount"])
	assert.Equal(t, float64(5), sys["maxCount"])
	assert.Equal(t, []any{"1", "2", "3"}, sys["availabilityZones"])
	assert.Equal(t, []any{SystemTaint}, sys["nodeTaints"])
	assert.Equal(t, false, sys["enableNodePublicIP"])
	assert.True(t, strings.HasSuffix(sys["vnetSubnetID"].(string), "/subnets/nodes"))
}

func TestUserAndJobsPools(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	c := cluster(t, rec)
	pools := rec.OfType("azure-native:containerservice/v20241001:AgentPool")
	require.Len(t, pools, 2)
	byName := map[string]mocks.Resource{}
	for _, p := range pools {
		byName[p.String("agentPoolName")] = p
		assert.Contains(t, p.Dependencies, c.URN, "pools wait for the cluster")
		assert.Equal(t, true, p.Input("enableAutoScaling"))
		// AKS refuses an autoscaled pool without count (pulumi-azure-native#2943,
		// Azure/azure-service-operator#3220): count starts at minCount, within
		// min..max, and later changes belong to the autoscaler.
		assert.Equal(t, p.Input("minCount"), p.Input("count"), "count starts at minCount")
		assert.Contains(t, p.IgnoreChanges, "count", "pulumi up never fights the autoscaler")
		assert.Equal(t, []any{"1", "2", "3"}, p.Input("availabilityZones"))
	}
	assert.Equal(t, float64(40), byName["user"].Input("maxCount"))
	assert.Empty(t, byName["user"].Input("nodeTaints"), "web nodes take any workload")
	assert.Equal(t, float64(0), byName["jobs"].Input("minCount"), "the jobs pool scales to zero")
	assert.Equal(t, []any{JobsTaint}, byName["jobs"].Input("nodeTaints"))
	assert.Equal(t, "jobs", byName["jobs"].Input("nodeLabels").(map[string]any)[PoolLabel])

	a := args()
	a.JobsPool = nil
	rec, err = run(t, a)
	require.NoError(t, err)
	assert.Len(t, rec.OfType("azure-native:containerservice/v20241001:AgentPool"), 1, "no jobs pool unless asked")
}

func TestKubeletPullsFromTheStacksRegistry(t *testing.T) {
	a := args()
	a.ContainerRegistryID = "/subscriptions/2b7a3c55-0d4e-4f1a-9c3b-6e8d1f2a4b5c/resourceGroups/rg-registry/providers/Microsoft.ContainerRegistry/registries/crfieldcert"
	rec, err := run(t, a)
	require.NoError(t, err)
	ras := rec.OfType("azure-native:authorization:RoleAssignment")
	var pull *mocks.Resource
	for i := range ras {
		if ras[i].Name == "aks-acr-pull" {
			pull = &ras[i]
		}
	}
	require.NotNil(t, pull, "the kubelet gets a role on the registry")
	assert.Equal(t, a.ContainerRegistryID, pull.Input("scope"), "scoped to that registry only")
	assert.Equal(t, "/subscriptions/2b7a3c55-0d4e-4f1a-9c3b-6e8d1f2a4b5c/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d", pull.Input("roleDefinitionId"), "AcrPull (Azure built-in role ID)")
	assert.Equal(t, "ServicePrincipal", pull.Input("principalType"))
	assert.NotEmpty(t, pull.Input("principalId"), "the kubelet identity's object ID")
	prov := rec.OfType("pulumi:providers:kubernetes")[0]
	assert.Contains(t, prov.Dependencies, pull.URN, "no pod pulls before the grant exists")

	rec, err = run(t, args())
	require.NoError(t, err)
	for _, r := range rec.OfType("azure-native:authorization:RoleAssignment") {
		assert.NotEqual(t, "aks-acr-pull", r.Name, "no registry, no grant")
	}
	a = args()
	a.ContainerRegistryID = "crfieldcert"
	_, err = run(t, a)
	require.ErrorContains(t, err, `containerRegistryID "crfieldcert" is not a container registry's ARM ID`)
}

func TestControlPlaneIdentityAndIngressIP(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	c := cluster(t, rec)

	ip, ok := rec.Named("azure-native:network:PublicIPAddress", "aks-ingress-ip")
	require.True(t, ok)
	assert.Equal(t, "Standard", ip.Input("sku.name"))
	assert.Equal(t, "Static", ip.Input("publicIPAllocationMethod"))
	assert.Equal(t, infra.IngressIPTagValue, ip.Input("tags."+infra.IngressIPTagKey))
	assert.Equal(t, "prod", ip.Input("tags.environment"))

	grants := rec.OfType("azure-native:authorization:RoleAssignment")
	require.Len(t, grants, 2)
	scopes := []string{grants[0].String("scope"), grants[1].String("scope")}
	assert.Contains(t, scopes, "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/nodes")
	assert.Contains(t, strings.Join(scopes, " "), "pip-moodle-prod-eastus2-ingress")
	for _, g := range grants {
		assert.Contains(t, g.String("roleDefinitionId"), "4d97b98b-1d4f-4787-a291-c67834d212e7", "Network Contributor")
	}
	// Depending on the identity component waits for all its children.
	for _, g := range grants {
		assert.Contains(t, c.Dependencies, g.URN, "the cluster waits for its grants")
	}
}

func TestMaintenanceWindows(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	ws := rec.OfType("azure-native:containerservice/v20241001:MaintenanceConfiguration")
	require.Len(t, ws, 2)
	for _, w := range ws {
		assert.Equal(t, "Sunday", w.Input("maintenanceWindow.schedule.weekly.dayOfWeek"))
		assert.Equal(t, "03:00", w.Input("maintenanceWindow.startTime"))
		assert.Equal(t, float64(4), w.Input("maintenanceWindow.durationHours"))
		assert.Equal(t, "-05:00", w.Input("maintenanceWindow.utcOffset"))
	}
	a := args()
	a.UpgradeChannel = "none"
	rec, err = run(t, a)
	require.NoError(t, err)
	ws = rec.OfType("azure-native:containerservice/v20241001:MaintenanceConfiguration")
	require.Len(t, ws, 1, "node images still follow the window")
	assert.Equal(t, "aksManagedNodeOSUpgradeSchedule", ws[0].Input("configName"))
}

func TestKubernetesProviderKeepsKubeconfigSecret(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	provs := rec.OfType("pulumi:providers:kubernetes")
	require.Len(t, provs, 1)
	assert.Equal(t, mocks.Secret, provs[0].Input("kubeconfig"))
	assert.Equal(t, false, provs[0].Input("deleteUnreachable"))
	// Everything in the cluster schedules on the user or jobs pool: nothing
	// is created through the provider before both exist.
	for _, p := range rec.OfType("azure-native:containerservice/v20241001:AgentPool") {
		assert.Contains(t, provs[0].Dependencies, p.URN, "the provider waits for pool %s", p.Name)
	}
	assert.Contains(t, rec.Invokes(), "azure-native:containerservice/v20241001:listManagedClusterUserCredentials")
}

func TestPrivateClusterAndDev(t *testing.T) {
	a := args()
	a.PrivateCluster, a.AuthorizedIPRanges = true, nil
	a.Tier, a.DisableLocalAccounts = "Free", false
	rec, err := run(t, a)
	require.NoError(t, err)
	c := cluster(t, rec)
	assert.Equal(t, true, c.Input("apiServerAccessProfile.enablePrivateCluster"))
	assert.Nil(t, c.Input("apiServerAccessProfile.authorizedIPRanges"))
	assert.Equal(t, "Free", c.Input("sku.tier"))
	assert.Equal(t, false, c.Input("disableLocalAccounts"))
}

func TestClusterRejectsBadArgs(t *testing.T) {
	a := args()
	a.SystemPool.MinCount = 0
	a.UserPool = Pool{VMSize: "big", MinCount: 5, MaxCount: 2}
	a.AuthorizedIPRanges = nil
	a.AdminGroupObjectIDs = nil
	a.Tier = "Premium2"
	a.KubernetesVersion = "latest"
	a.ServiceMeshRevision = "asm-1-30"
	rec, err := run(t, a)
	require.Error(t, err)
	for _, want := range []string{
		"exactly one of ingressIPName",
		"systemPool bounds 0..5", `userPool.vmSize "big"`, "userPool bounds 5..2", "authorizedIPRanges or privateCluster",
		"adminGroupObjectIDs", `tier "Premium2"`, `kubernetesVersion "latest"`,
	} {
		assert.Contains(t, err.Error(), want)
	}
	assert.Empty(t, rec.Resources())
}

func TestIstioAddon(t *testing.T) {
	a := args()
	a.IngressIPName, a.ServiceMeshRevision = "", "asm-1-30"
	rec, err := run(t, a)
	require.NoError(t, err)
	c := cluster(t, rec)
	assert.Equal(t, "Istio", c.Input("serviceMeshProfile.mode"))
	assert.Equal(t, []any{"asm-1-30"}, c.Input("serviceMeshProfile.istio.revisions"))
	gws := c.Input("serviceMeshProfile.istio.components.ingressGateways").([]any)
	assert.Equal(t, "External", gws[0].(map[string]any)["mode"])
	assert.Empty(t, rec.OfType("azure-native:network:PublicIPAddress"), "the add-on's gateway brings its own IP")
	assert.Len(t, rec.OfType("azure-native:authorization:RoleAssignment"), 1, "only the subnet grant")

	rec, err = run(t, args())
	require.NoError(t, err)
	assert.Nil(t, cluster(t, rec).Input("serviceMeshProfile"), "no add-on with Istio from charts")
}

// TestSupportPlan: the plan is always sent (leaving LTS is then a change
// AKS sees), LTS goes with the Premium tier, and LTS on another tier is
// refused before anything is registered.
func TestSupportPlan(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	assert.Equal(t, "KubernetesOfficial", cluster(t, rec).Input("supportPlan"), "the default plan is stated")

	a := args()
	a.KubernetesVersion, a.Tier, a.SupportPlan = "1.33", "Premium", infra.SupportLTS
	rec, err = run(t, a)
	require.NoError(t, err)
	c := cluster(t, rec)
	assert.Equal(t, "AKSLongTermSupport", c.Input("supportPlan"))
	assert.Equal(t, "Premium", c.Input("sku.tier"))

	a.Tier = "Standard"
	rec, err = run(t, a)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "supportPlan AKSLongTermSupport needs the Premium tier, not \"Standard\"")
	assert.Empty(t, rec.Resources(), "nothing registered")

	a.SupportPlan = "LongTerm"
	_, err = run(t, a)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `supportPlan "LongTerm" is not KubernetesOfficial or AKSLongTermSupport`)
}

// TestFQDNPoliciesEnableACNSSecurity: FQDN policies need ACNS security on
// the cluster (AKS refuses toFQDNs without it); without them no ACNS.
func TestFQDNPoliciesEnableACNSSecurity(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	assert.Nil(t, cluster(t, rec).Input("networkProfile.advancedNetworking"))

	a := args()
	a.FQDNPolicies = true
	rec, err = run(t, a)
	require.NoError(t, err)
	c := cluster(t, rec)
	assert.Equal(t, true, c.Input("networkProfile.advancedNetworking.security.enabled"))
	assert.Equal(t, false, c.Input("networkProfile.advancedNetworking.observability.enabled"), "observability is not needed and not paid for")
}

func TestDataDisksGroupAndProtection(t *testing.T) {
	a := args()
	a.DiskResourceGroupID = pulumi.String("/subscriptions/s/resourceGroups/rg-moodle-prod-eastus2-disks")
	a.Protect = true
	rec, err := run(t, a)
	require.NoError(t, err)
	c := cluster(t, rec)
	assert.True(t, c.Protect, "Pulumi refuses to delete or replace the prod cluster")
	var disks *mocks.Resource
	grants := rec.OfType("azure-native:authorization:RoleAssignment")
	for i := range grants {
		if grants[i].String("scope") == "/subscriptions/s/resourceGroups/rg-moodle-prod-eastus2-disks" {
			disks = &grants[i]
		}
	}
	require.NotNil(t, disks, "the control plane may make disks in the stack's disk group")
	assert.Contains(t, disks.String("roleDefinitionId"), "b24988ac-6180-42a0-ab88-20f7382dd24c", "Contributor, on that group alone")
	assert.Contains(t, c.Dependencies, disks.URN, "before the cluster's CSI driver provisions a disk")

	rec, err = run(t, args())
	require.NoError(t, err)
	assert.False(t, cluster(t, rec).Protect, "dev clusters can be destroyed")
	assert.Len(t, rec.OfType("azure-native:authorization:RoleAssignment"), 2, "no disk grant without the group")
}
