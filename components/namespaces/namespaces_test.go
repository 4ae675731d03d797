package namespaces

import (
	"testing"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func args() *Args {
	return &Args{
		Mesh:                   (&infra.Config{IstioMode: "helm"}).Mesh(),
		EndpointSubnet:         "10.40.16.0/24",
		NodeSubnet:             "10.40.0.0/20",
		MoodleEgressPorts:      []int{587},
		IntegrationEgressPorts: []int{443, 8443},
	}
}

func run(t *testing.T, a *Args) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.Run("p", "s", nil, nil, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "namespaces", a)
		return err
	})
}

// netpol finds a NetworkPolicy by namespace and name.
func netpol(t *testing.T, rec *mocks.Recorder, ns, name string) mocks.Resource {
	t.Helper()
	r, ok := rec.Named("kubernetes:networking.k8s.io/v1:NetworkPolicy", "namespaces-"+ns+"-"+name)
	require.True(t, ok, "%s/%s", ns, name)
	assert.Equal(t, ns, r.Input("metadata.namespace"))
	assert.Equal(t, name, r.Input("metadata.name"))
	return r
}

func TestNamespacesAndLabels(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	nss := rec.OfType("kubernetes:core/v1:Namespace")
	require.Len(t, nss, len(infra.Namespaces))
	for _, r := range nss {
		name := r.String("metadata.name")
		labels := r.Input("metadata.labels").(map[string]any)
		assert.Equal(t, PodSecurity[name], labels["pod-security.kubernetes.io/enforce"], name)
		assert.Equal(t, "restricted", labels["pod-security.kubernetes.io/audit"], name)
		meshed := labels["istio-injection"] == "enabled"
		assert.Equal(t, name == infra.NamespaceMoodle || name == infra.NamespaceData || name == infra.NamespaceIntegrations || name == infra.NamespaceMonitoring, meshed, name)
	}
	for _, n := range []string{infra.NamespaceMoodle, infra.NamespaceData, infra.NamespaceIntegrations, infra.NamespaceCertManager} {
		assert.Equal(t, Restricted, PodSecurity[n], "%s runs restricted", n)
	}
}

func TestDefaultDenyEverywhere(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	for _, n := range infra.Namespaces {
		p := netpol(t, rec, n, "default-deny")
		assert.Equal(t, []any{"Ingress", "Egress"}, p.Input("spec.policyTypes"))
		assert.Empty(t, p.Input("spec.podSelector"), "applies to every pod")
		dns := netpol(t, rec, n, "allow-out-dns")
		rule := dns.Input("spec.egress").([]any)[0].(map[string]any)
		assert.Len(t, rule["ports"], 2, "DNS over UDP and TCP")
	}
}

func TestDataStoresOnlyFromMoodleAndMonitoring(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	in := netpol(t, rec, infra.NamespaceData, "allow-in-moodle")
	rule := in.Input("spec.ingress").([]any)[0].(map[string]any)
	from := rule["from"].([]any)[0].(map[string]any)
	assert.Equal(t, map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": infra.NamespaceMoodle}}, from["namespaceSelector"])
	var ports []any
	for _, p := range rule["ports"].([]any) {
		ports = append(ports, p.(map[string]any)["port"])
	}
	assert.ElementsMatch(t, []any{float64(infra.MySQLPort), float64(infra.RedisPort)}, ports)

	backup := netpol(t, rec, infra.NamespaceData, "allow-out-backup-account")
	to := backup.Input("spec.egress").([]any)[0].(map[string]any)["to"].([]any)[0].(map[string]any)
	assert.Equal(t, "10.40.16.0/24", to["ipBlock"].(map[string]any)["cidr"], "backups go to the private endpoint subnet")

	// Nothing else may reach the data stores.
	for _, r := range rec.OfType("kubernetes:networking.k8s.io/v1:NetworkPolicy") {
		if r.String("metadata.namespace") == infra.NamespaceData && r.Input("spec.ingress") != nil {
			assert.Contains(t, []string{"allow-in-moodle", "allow-in-replication", "allow-in-exporters"}, r.String("metadata.name"))
		}
	}
}

// ports lists a rule's port numbers.
func rulePorts(rule map[string]any) []any {
	var ports []any
	for _, p := range rule["ports"].([]any) {
		ports = append(ports, p.(map[string]any)["port"])
	}
	return ports
}

// TestMonitoringReachesNodesAndTheAPIServerReachesItsWebhook: kubelets
// (cAdvisor, 10250) and node-exporter (host network, 9100) answer on node
// addresses, which no namespace selector matches; without them the chart's
// KubeletDown fires for ever. The API server calls the operator's webhook
// on 10250 from addresses AKS does not publish.
func TestMonitoringReachesNodesAndTheAPIServerReachesItsWebhook(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	nodes := netpol(t, rec, infra.NamespaceMonitoring, "allow-out-nodes").Input("spec.egress").([]any)[0].(map[string]any)
	assert.Equal(t, "10.40.0.0/20", nodes["to"].([]any)[0].(map[string]any)["ipBlock"].(map[string]any)["cidr"])
	assert.ElementsMatch(t, []any{float64(10250), float64(9100)}, rulePorts(nodes))
	hook := netpol(t, rec, infra.NamespaceMonitoring, "allow-in-webhook").Input("spec.ingress").([]any)[0].(map[string]any)
	assert.Nil(t, hook["from"], "from anywhere: the API server's addresses are not published")
	assert.Equal(t, []any{float64(10250)}, rulePorts(hook))
}

func TestEgressPortsFromConfig(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	out := netpol(t, rec, infra.NamespaceMoodle, "allow-out-internet")
	var ports []any
	for _, p := range out.Input("spec.egress").([]any)[0].(map[string]any)["ports"].([]any) {
		ports = append(ports, p.(map[string]any)["port"])
	}
	assert.Equal(t, []any{float64(443), float64(587)}, ports)
}

func TestNamespacesRejectBadArgs(t *testing.T) {
	rec, err := run(t, &Args{EndpointSubnet: "x", MoodleEgressPorts: []int{70000}})
	require.Error(t, err)
	for _, want := range []string{"one injection label", `endpointSubnet "x"`, "egress port 70000"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.Empty(t, rec.Resources())
}

func TestAddonLayout(t *testing.T) {
	a := args()
	a.Mesh = (&infra.Config{IstioMode: "aks-addon", IstioAddonRevision: "asm-1-30"}).Mesh()
	rec, err := run(t, a)
	require.NoError(t, err)
	var names []string
	for _, r := range rec.OfType("kubernetes:core/v1:Namespace") {
		names = append(names, r.String("metadata.name"))
		if r.String("metadata.name") == infra.NamespaceMoodle {
			assert.Equal(t, "asm-1-30", r.Input("metadata.labels").(map[string]any)["istio.io/rev"], "the add-on's revision label")
		}
	}
	assert.NotContains(t, names, infra.NamespaceIstio, "AKS owns the add-on's namespaces")
	assert.NotContains(t, names, infra.NamespaceIngress)
	gw := netpol(t, rec, infra.NamespaceMoodle, "allow-in-gateway")
	from := gw.Input("spec.ingress").([]any)[0].(map[string]any)["from"].([]any)[0].(map[string]any)
	assert.Equal(t, "aks-istio-ingress", from["namespaceSelector"].(map[string]any)["matchLabels"].(map[string]any)["kubernetes.io/metadata.name"])
}
