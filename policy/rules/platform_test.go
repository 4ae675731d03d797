package rules

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func prodStack(rs ...Resource) *Stack {
	return &Stack{Region: "eastus2", Residency: "us", Environment: "prod", Resources: rs}
}

func devStack(rs ...Resource) *Stack {
	return &Stack{Region: "eastus2", Residency: "us", Environment: "dev", Resources: rs}
}

func goodPool(name string) map[string]any {
	return map[string]any{
		"name": name, "enableAutoScaling": true, "minCount": float64(3), "maxCount": float64(10),
		"availabilityZones": []any{"1", "2", "3"}, "enableNodePublicIP": false,
	}
}

func clusterWith(mutate func(in map[string]any)) Resource {
	in := map[string]any{
		"agentPoolProfiles":      []any{goodPool("system")},
		"disableLocalAccounts":   true,
		"aadProfile":             map[string]any{"enableAzureRBAC": true},
		"apiServerAccessProfile": map[string]any{"authorizedIPRanges": []any{"198.51.100.0/24"}, "enablePrivateCluster": false},
	}
	if mutate != nil {
		mutate(in)
	}
	return azure("azure-native:containerservice/v20241001:ManagedCluster", "aks-cluster", in)
}

func agentPool(mutate func(in map[string]any)) Resource {
	in := goodPool("user")
	delete(in, "name")
	in["agentPoolName"] = "user"
	if mutate != nil {
		mutate(in)
	}
	return azure("azure-native:containerservice/v20241001:AgentPool", "aks-user-pool", in)
}

func messages(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Message)
	}
	return out
}

func TestPlatformRulesPassAGoodCluster(t *testing.T) {
	s := prodStack(clusterWith(nil), agentPool(nil))
	for _, r := range []Rule{AKSAutoscaling, AKSLocalAccounts, AKSZones, AKSAPIRestricted, PublicIPIngressOnly} {
		assert.Empty(t, r.Check(s), r.ID)
	}
}

func TestAKSAutoscaling(t *testing.T) {
	off := agentPool(func(in map[string]any) { in["enableAutoScaling"] = false })
	inverted := clusterWith(func(in map[string]any) {
		p := goodPool("system")
		p["minCount"] = float64(12)
		in["agentPoolProfiles"] = []any{p}
	})
	unbounded := agentPool(func(in map[string]any) { delete(in, "maxCount") })
	got := messages(AKSAutoscaling.Check(devStack(off, inverted, unbounded)))
	require.Len(t, got, 3)
	assert.Contains(t, got, `node pool "user" has the cluster autoscaler off`)
	assert.Contains(t, got, `node pool "system" has minCount 12 above maxCount 10`)
	assert.Contains(t, got, `node pool "user" has no minCount/maxCount`)
}

func TestAKSLocalAccounts(t *testing.T) {
	local := clusterWith(func(in map[string]any) { in["disableLocalAccounts"] = false; in["aadProfile"] = map[string]any{} })
	got := messages(AKSLocalAccounts.Check(prodStack(local)))
	require.Len(t, got, 2)
	assert.Contains(t, got[0], "keeps local accounts in prod")
	assert.Contains(t, got[1], "Azure RBAC")
	assert.Empty(t, AKSLocalAccounts.Check(devStack(local)), "dev may keep local accounts")
}

func TestAKSZones(t *testing.T) {
	oneZone := agentPool(func(in map[string]any) { in["availabilityZones"] = []any{"1"} })
	got := AKSZones.Check(prodStack(oneZone))
	require.Len(t, got, 1)
	assert.Contains(t, got[0].Message, `node pool "user" uses 1 zones`)
	assert.Empty(t, AKSZones.Check(devStack(oneZone)), "dev may skip zones")
	zoneless := &Stack{Region: "northcentralus", Residency: "us", Environment: "prod", Resources: []Resource{oneZone}}
	assert.Empty(t, AKSZones.Check(zoneless), "no zones to use")
}

func TestAKSAPIRestricted(t *testing.T) {
	open := clusterWith(func(in map[string]any) { in["apiServerAccessProfile"] = map[string]any{"enablePrivateCluster": false} })
	world := clusterWith(func(in map[string]any) {
		in["apiServerAccessProfile"] = map[string]any{"authorizedIPRanges": []any{"0.0.0.0/0"}}
	})
	private := clusterWith(func(in map[string]any) { in["apiServerAccessProfile"] = map[string]any{"enablePrivateCluster": true} })
	assert.Contains(t, messages(AKSAPIRestricted.Check(devStack(open))), `cluster "aks-cluster" has a public API server with no authorized IP ranges`)
	assert.Contains(t, messages(AKSAPIRestricted.Check(devStack(world))), `cluster "aks-cluster" authorizes 0.0.0.0/0 on its API server`)
	assert.Empty(t, AKSAPIRestricted.Check(devStack(private)))
}

func storageAccount(name string, in map[string]any) Resource {
	base := map[string]any{
		"kind": "StorageV2", "minimumTlsVersion": "TLS1_2", "enableHttpsTrafficOnly": true,
		"allowBlobPublicAccess": false, "publicNetworkAccess": "Disabled",
	}
	for k, v := range in {
		base[k] = v
	}
	return azure("azure-native:storage:StorageAccount", name, base)
}

func TestStorageSecureTransport(t *testing.T) {
	tls10 := storageAccount("old", map[string]any{"minimumTlsVersion": "TLS1_0"})
	http := storageAccount("http", map[string]any{"enableHttpsTrafficOnly": false})
	nfsPrivate := storageAccount("nfs", map[string]any{"kind": "FileStorage", "enableHttpsTrafficOnly": false})
	nfsPublic := storageAccount("nfs-public", map[string]any{"kind": "FileStorage", "enableHttpsTrafficOnly": false, "publicNetworkAccess": "Enabled"})
	got := messages(StorageSecureTransport.Check(devStack(tls10, http, nfsPrivate, nfsPublic)))
	assert.ElementsMatch(t, []string{
		`storage account "old" allows TLS below 1.2`,
		`storage account "http" allows plain HTTP`,
		`storage account "nfs-public" allows plain HTTP`,
	}, got, "the private NFS account is the one exception")
}

func TestStorageNoPublicAccess(t *testing.T) {
	anon := storageAccount("anon", map[string]any{"allowBlobPublicAccess": true})
	unset := storageAccount("unset", nil)
	delete(unset.Inputs, "allowBlobPublicAccess")
	files := storageAccount("files", map[string]any{"kind": "FileStorage", "publicNetworkAccess": "Enabled"})
	got := messages(StorageNoPublicAccess.Check(devStack(anon, unset, files)))
	assert.ElementsMatch(t, []string{
		`storage account "anon" does not turn anonymous blob access off`,
		`storage account "unset" does not turn anonymous blob access off`,
		`file storage account "files" is reachable from public networks`,
	}, got)
}

func TestDataProtected(t *testing.T) {
	acct := storageAccount("bkp", nil)
	share := azure("azure-native:storage:FileShare", "moodledata", nil)
	share.Protect = true
	vnet := azure("azure-native:network:VirtualNetwork", "vnet", nil)
	got := DataProtected.Check(prodStack(acct, share, vnet))
	require.Len(t, got, 1)
	assert.Contains(t, got[0].Message, `"bkp" holds data and is not protected`)
	assert.Empty(t, DataProtected.Check(devStack(acct)), "dev retains rather than protects")
}

func TestPublicIPIngressOnly(t *testing.T) {
	ingress := azure("azure-native:network:PublicIPAddress", "ingress", map[string]any{"tags": map[string]any{"purpose": "ingress"}})
	second := azure("azure-native:network:PublicIPAddress", "ingress2", map[string]any{"tags": map[string]any{"purpose": "ingress"}})
	stray := azure("azure-native:network:PublicIPAddress", "jumpbox", map[string]any{})
	nodeIPs := agentPool(func(in map[string]any) { in["enableNodePublicIP"] = true })
	got := messages(PublicIPIngressOnly.Check(devStack(ingress, second, stray, nodeIPs)))
	assert.ElementsMatch(t, []string{
		`public IP "ingress2" is a second ingress IP`,
		`public IP "jumpbox" is not the ingress IP (tag purpose=ingress)`,
		`node pool "user" gives nodes public IPs`,
	}, got)
	assert.Empty(t, PublicIPIngressOnly.Check(devStack(ingress)))
}
