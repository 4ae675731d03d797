package network

import (
	"regexp"
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
		Name:              "vnet-moodle-prod-eastus2",
		AddressSpace:      "10.40.0.0/16",
		NodeSubnet:        "10.40.0.0/20",
		EndpointSubnet:    "10.40.16.0/24",
		Tags:              map[string]string{"environment": "prod"},
	}
}

func run(t *testing.T, a *Args) (*mocks.Recorder, *Network, error) {
	t.Helper()
	var n *Network
	rec, err := mocks.Run("p", "s", nil, nil, func(ctx *pulumi.Context) error {
		var err error
		n, err = New(ctx, "network", a)
		return err
	})
	return rec, n, err
}

func subnet(t *testing.T, vnet mocks.Resource, name string) map[string]any {
	t.Helper()
	for _, s := range vnet.Input("subnets").([]any) {
		m := s.(map[string]any)
		if m["name"] == name {
			return m
		}
	}
	t.Fatalf("no subnet %q", name)
	return nil
}

func TestNetwork(t *testing.T) {
	rec, _, err := run(t, args())
	require.NoError(t, err)
	comp, ok := rec.Named(TypeToken, "network")
	require.True(t, ok)

	vnet, ok := rec.Named("azure-native:network:VirtualNetwork", "network-vnet")
	require.True(t, ok)
	assert.Equal(t, comp.URN, vnet.Parent)
	assert.Equal(t, "eastus2", vnet.Input("location"))
	assert.Equal(t, []any{"10.40.0.0/16"}, vnet.Input("addressSpace.addressPrefixes"))
	assert.Equal(t, "prod", vnet.Input("tags.environment"))

	nodesNSG, ok := rec.Named("azure-native:network:NetworkSecurityGroup", "network-nodes-nsg")
	require.True(t, ok)
	epNSG, ok := rec.Named("azure-native:network:NetworkSecurityGroup", "network-endpoints-nsg")
	require.True(t, ok)
	assert.Contains(t, vnet.Dependencies, nodesNSG.URN)
	assert.Contains(t, vnet.Dependencies, epNSG.URN)

	nodes := subnet(t, vnet, NodeSubnet)
	assert.Equal(t, "10.40.0.0/20", nodes["addressPrefix"])
	assert.Contains(t, nodes["networkSecurityGroup"].(map[string]any)["id"], "nsg-moodle-prod-eastus2-nodes", "each subnet has its NSG")
	ep := subnet(t, vnet, EndpointSubnet)
	assert.Equal(t, "Enabled", ep["privateEndpointNetworkPolicies"], "NSGs apply to private endpoints")
	assert.Contains(t, ep["networkSecurityGroup"].(map[string]any)["id"], "nsg-moodle-prod-eastus2-endpoints")

	// Private endpoints accept only the nodes on the storage ports.
	rules := epNSG.Input("securityRules").([]any)
	require.Len(t, rules, 2)
	allow := rules[0].(map[string]any)
	assert.Equal(t, "10.40.0.0/20", allow["sourceAddressPrefix"])
	assert.Equal(t, []any{"443", "2049"}, allow["destinationPortRanges"])
	deny := rules[1].(map[string]any)
	assert.Equal(t, "Deny", deny["access"])
	assert.Greater(t, deny["priority"], allow["priority"])
}

// TestSecurityRulesAzureAccepts checks the rules against the network API's
// definition (azure-rest-api-specs, network/resource-manager, securityRules:
// "destinationPortRange: ... Asterisk '*' can also be used to match all
// ports"; destinationPortRanges lists ports and ranges only, and Azure
// answers SecurityRuleInvalidPortRange to "*" there) and against how the
// AKS load balancer delivers web traffic (floating IP: the destination is
// the public ingress IP, not the node subnet).
func TestSecurityRulesAzureAccepts(t *testing.T) {
	rec, _, err := run(t, args())
	require.NoError(t, err)
	portRE := regexp.MustCompile(`^\d{1,5}(-\d{1,5})?$`)
	for _, name := range []string{"network-nodes-nsg", "network-endpoints-nsg"} {
		nsg, ok := rec.Named("azure-native:network:NetworkSecurityGroup", name)
		require.True(t, ok, name)
		for _, r := range nsg.Input("securityRules").([]any) {
			rule := r.(map[string]any)
			ranges, hasRanges := rule["destinationPortRanges"].([]any)
			single, hasSingle := rule["destinationPortRange"].(string)
			assert.True(t, hasRanges != hasSingle, "%s: exactly one of destinationPortRange(s)", rule["name"])
			for _, p := range ranges {
				assert.Regexp(t, portRE, p, "%s: destinationPortRanges holds ports or ranges, never *", rule["name"])
			}
			if hasSingle {
				assert.True(t, single == "*" || portRE.MatchString(single), "%s: %q", rule["name"], single)
			}
		}
	}
	nodes, _ := rec.Named("azure-native:network:NetworkSecurityGroup", "network-nodes-nsg")
	web := nodes.Input("securityRules").([]any)[0].(map[string]any)
	assert.Equal(t, "allow-web-inbound", web["name"])
	assert.Equal(t, "Internet", web["sourceAddressPrefix"])
	assert.Equal(t, "*", web["destinationAddressPrefix"], "the load balancer keeps the ingress IP as destination")
	assert.Equal(t, []any{"80", "443"}, web["destinationPortRanges"])
}

func TestNetworkSubnetIDs(t *testing.T) {
	_, n, err := run(t, args())
	require.NoError(t, err)
	ids := make(chan string, 2)
	n.NodeSubnetID.ApplyT(func(s string) string { ids <- s; return s })
	n.EndpointSubnetID.ApplyT(func(s string) string { ids <- s; return s })
	got := []string{<-ids, <-ids}
	assert.ElementsMatch(t, []string{
		"/subscriptions/" + mocks.SubscriptionID + "/resourceGroups/rg-test/providers/Mock.network/VirtualNetwork/vnet-moodle-prod-eastus2/subnets/nodes",
		"/subscriptions/" + mocks.SubscriptionID + "/resourceGroups/rg-test/providers/Mock.network/VirtualNetwork/vnet-moodle-prod-eastus2/subnets/endpoints",
	}, got)
}

func TestNetworkRejectsBadArgs(t *testing.T) {
	cases := map[string]struct {
		mutate func(a *Args)
		want   string
	}{
		"subnet outside":  {func(a *Args) { a.NodeSubnet = "10.41.0.0/20" }, "nodeSubnet 10.41.0.0/20 is not inside addressSpace"},
		"subnets overlap": {func(a *Args) { a.EndpointSubnet = "10.40.8.0/24" }, "overlaps endpointSubnet"},
		"bad cidr":        {func(a *Args) { a.AddressSpace = "ten" }, `addressSpace "ten"`},
		"no tags":         {func(a *Args) { a.Tags = nil }, "tags are required"},
		"no location":     {func(a *Args) { a.Location = "" }, "location is required"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			a := args()
			tc.mutate(a)
			rec, _, err := run(t, a)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, rec.Resources())
		})
	}
}
