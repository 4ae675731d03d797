package mocks

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/fieldcert/moodle-aks/policy/rules"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// nameInputs are the inputs that carry an Azure resource's own name, most
// specific first (a BlobContainer has accountName, its parent's name, and
// containerName, its own).
var nameInputs = []string{
	"containerName", "shareName", "subnetName", "agentPoolName", "roleAssignmentName",
	"federatedIdentityCredentialResourceName", "relativeRecordSetName", "virtualNetworkLinkName",
	"privateDnsZoneGroupName", "managementPolicyName", "blobServicesName", "fileServicesName",
	"accountName", "resourceName", "virtualNetworkName", "networkSecurityGroupName",
	"privateEndpointName", "privateZoneName", "publicIpAddressName", "zoneName", "workspaceName",
	"registryName", "vaultName", "resourceGroupName", "name",
}

// computedOutputs returns the ID and outputs a real provider would return:
// the inputs plus the properties Azure or Kubernetes compute.
func computedOutputs(args pulumi.MockResourceArgs) (string, resource.PropertyMap) {
	out := args.Inputs.Copy()
	str := func(k string) string {
		if v, ok := args.Inputs[resource.PropertyKey(k)]; ok && v.IsString() {
			return v.StringValue()
		}
		return ""
	}
	set := func(k string, v any) { out[resource.PropertyKey(k)] = resource.NewPropertyValue(v) }
	typ := rules.BaseType(args.TypeToken)

	switch {
	case strings.HasPrefix(typ, "azure-native:"):
		name := args.Name
		for _, k := range nameInputs {
			if v := str(k); v != "" {
				name = v
				break
			}
		}
		rg := str("resourceGroupName")
		parts := strings.Split(typ, ":")
		id := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Mock.%s/%s/%s",
			SubscriptionID, rg, parts[1], parts[2], name)
		switch typ {
		case "azure-native:resources:ResourceGroup":
			id = fmt.Sprintf("/subscriptions/%s/resourceGroups/%s", SubscriptionID, name)
		case "azure-native:network:RecordSet":
			// Azure's own form, which role assignments on a record set use
			// (https://learn.microsoft.com/azure/dns/dns-protect-zones-recordsets).
			id = fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/dnszones/%s/%s/%s",
				SubscriptionID, rg, str("zoneName"), str("recordType"), name)
		}
		set("name", name)
		set("azureApiVersion", "mock")
		azureExtras(typ, name, id, set)
		return id, out

	case strings.HasPrefix(typ, "random:"):
		// Deterministic, so rendered output is stable; always secret, as the
		// provider marks it.
		sum := sha256.Sum256([]byte(args.Name))
		out["result"] = resource.MakeSecret(resource.NewStringProperty(hex.EncodeToString(sum[:])[:24]))
		out["bcryptHash"] = resource.MakeSecret(resource.NewStringProperty("$2a$10$mock"))
		return args.Name + "-id", out

	case strings.HasPrefix(typ, "kubernetes:"):
		meta := resource.PropertyMap{}
		if v, ok := args.Inputs["metadata"]; ok && v.IsObject() {
			meta = v.ObjectValue().Copy()
		}
		if _, ok := meta["name"]; !ok {
			meta["name"] = resource.NewStringProperty(args.Name)
		}
		out["metadata"] = resource.NewObjectProperty(meta)
		ns := "default"
		if v, ok := meta["namespace"]; ok && v.IsString() {
			ns = v.StringValue()
		}
		return ns + "/" + meta["name"].StringValue(), out
	}
	return args.Name + "-id", out
}

// azureExtras adds the outputs that Azure computes for the types the
// program reads them from.
func azureExtras(typ, name, id string, set func(string, any)) {
	switch typ {
	case "azure-native:storage:StorageAccount":
		set("primaryEndpoints", map[string]any{
			"blob": "https://" + name + ".blob.core.windows.net/",
			"file": "https://" + name + ".file.core.windows.net/",
		})
	case "azure-native:containerservice:ManagedCluster":
		set("fqdn", name+".hcp.mock.azmk8s.io")
		set("nodeResourceGroup", "MC_"+name)
		set("oidcIssuerProfile", map[string]any{
			"enabled":   true,
			"issuerURL": "https://mock.oic.prod-aks.azure.com/" + TenantID + "/" + uuid(name) + "/",
		})
		set("identityProfile", map[string]any{
			"kubeletidentity": map[string]any{
				"clientId":   uuid(name + "/kubelet/client"),
				"objectId":   uuid(name + "/kubelet/object"),
				"resourceId": id + "-agentpool",
			},
		})
	case "azure-native:managedidentity:UserAssignedIdentity":
		set("principalId", uuid(name+"/principal"))
		set("clientId", uuid(name+"/client"))
		set("tenantId", TenantID)
	case "azure-native:network:PublicIPAddress":
		set("ipAddress", "20.0.0.10")
	}
}

// uuid derives a stable UUID-shaped string from s.
func uuid(s string) string {
	h := sha256.Sum256([]byte(s))
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}
