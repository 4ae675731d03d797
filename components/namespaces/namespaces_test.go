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
		MoodleEgressPorts:      []int{587},
		IntegrationEgressPorts: []int{443, 8443},
		CertManagerHosts:       []string{"acme-v02.api.letsencrypt.org", "management.azure.com"},
		AlertReceivers:         []infra.Endpoint{{Host: "smtp.example.com", Port: 587}},
		SecretAlertReceivers:   []infra.Endpoint{{Host: "events.pagerduty.com", Port: 443}},
		FQDNPolicies:           true,
	}
}

// cnp finds a CiliumNetworkPolicy by namespace and name.
func cnp(t *testing.T, rec *mocks.Recorder, ns, name string) mocks.Resource {
	t.Helper()
	for _, r := range rec.OfType("kubernetes:cilium.io/v2:CiliumNetworkPolicy") {
		if r.String("metadata.namespace") == ns && r.String("metadata.name") == name {
			return r
		}
	}
	require.Failf(t, "no CiliumNetworkPolicy", "%s/%s", ns, name)
	return mocks.Resource{}
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
		assert.Equal(t, name == infra.NamespaceMoodle || name == infra.NamespaceIntegrations || name == infra.NamespaceMonitoring, meshed, name)
		if name == infra.NamespaceData {
			assert.False(t, meshed, "the data tier is outside the mesh (its own TLS, network policy)")
		}
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
	assert.ElementsMatch(t, []any{float64(infra.MySQLPort), float64(infra.MySQLReadPort), float64(infra.RedisPort)}, ports, "the proxy's write and read ports, Redis")

	// The members, the proxies, the Redis nodes and the operators talk to
	// each other on their peer ports, and only inside the namespace.
	peers := netpol(t, rec, infra.NamespaceData, "allow-in-peers")
	prule := peers.Input("spec.ingress").([]any)[0].(map[string]any)
	assert.Equal(t, map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": infra.NamespaceData}}, prule["from"].([]any)[0].(map[string]any)["namespaceSelector"])
	for _, p := range []int{infra.MySQLGroupPort, infra.MySQLAdminPort, infra.RedisBusPort} {
		assert.Contains(t, rulePorts(prule), float64(p))
	}
	exp := netpol(t, rec, infra.NamespaceData, "allow-in-exporters")
	assert.ElementsMatch(t, []any{float64(9104), float64(8404), float64(9121)}, rulePorts(exp.Input("spec.ingress").([]any)[0].(map[string]any)),
		"Prometheus scrapes the exporters themselves: no sidecar serves 15020 here")

	backup := netpol(t, rec, infra.NamespaceData, "allow-out-backup-account")
	to := backup.Input("spec.egress").([]any)[0].(map[string]any)["to"].([]any)[0].(map[string]any)
	assert.Equal(t, "10.40.16.0/24", to["ipBlock"].(map[string]any)["cidr"], "backups go to the private endpoint subnet")

	// Nothing else may reach the data stores.
	for _, r := range rec.OfType("kubernetes:networking.k8s.io/v1:NetworkPolicy") {
		if r.String("metadata.namespace") == infra.NamespaceData && r.Input("spec.ingress") != nil {
			assert.Contains(t, []string{"allow-in-moodle", "allow-in-peers", "allow-in-exporters"}, r.String("metadata.name"))
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
// addresses, which under Cilium no NetworkPolicy selects (an ipBlock never
// matches a node): a CiliumNetworkPolicy allows Prometheus to the host and
// remote-node entities. The API server calls the operator's webhook on
// 10250 through the nodes.
func TestMonitoringReachesNodesAndTheAPIServerReachesItsWebhook(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	for _, r := range rec.OfType("kubernetes:networking.k8s.io/v1:NetworkPolicy") {
		assert.NotEqual(t, "allow-out-nodes", r.String("metadata.name"), "no ipBlock to the node subnet: Cilium ignores it")
	}
	nodes := cnp(t, rec, infra.NamespaceMonitoring, "allow-out-nodes")
	assert.Equal(t, map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "prometheus"}}, nodes.Input("spec.endpointSelector"), "Prometheus only")
	rule := nodes.Input("spec.egress").([]any)[0].(map[string]any)
	assert.Equal(t, []any{"host", "remote-node"}, rule["toEntities"])
	assert.Equal(t, []any{map[string]any{"ports": []any{
		map[string]any{"port": "10250", "protocol": "TCP"}, map[string]any{"port": "9100", "protocol": "TCP"},
	}}}, rule["toPorts"])
	hook := netpol(t, rec, infra.NamespaceMonitoring, "allow-in-webhook").Input("spec.ingress").([]any)[0].(map[string]any)
	assert.Nil(t, hook["from"], "from anywhere: the API server comes through the nodes")
	assert.Equal(t, []any{float64(10250)}, rulePorts(hook))
}

// TestNamespacesOutsideTheMeshHaveAnEgressAllowList: istio-system reaches
// only the API server; cert-manager's controller and Alertmanager reach
// their named hosts (FQDN rules, with the DNS rule they need), everything
// else in those namespaces only the API server and the cluster.
func TestNamespacesOutsideTheMeshHaveAnEgressAllowList(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	for _, r := range rec.OfType("kubernetes:networking.k8s.io/v1:NetworkPolicy") {
		ns := r.String("metadata.namespace")
		if ns != infra.NamespaceIstio && ns != infra.NamespaceCertManager && ns != infra.NamespaceMonitoring {
			continue
		}
		for _, e := range asList(r.Input("spec.egress")) {
			for _, to := range asList(e.(map[string]any)["to"]) {
				assert.Nil(t, to.(map[string]any)["ipBlock"], "%s/%s: no internet by address in a namespace outside the mesh", ns, r.String("metadata.name"))
			}
		}
	}
	for _, ns := range []string{infra.NamespaceIstio, infra.NamespaceCertManager, infra.NamespaceMonitoring} {
		api := cnp(t, rec, ns, "allow-out-api-server").Input("spec.egress").([]any)[0].(map[string]any)
		assert.Equal(t, []any{"kube-apiserver"}, api["toEntities"], ns)
	}
	cm := cnp(t, rec, infra.NamespaceCertManager, "allow-out-internet")
	assert.Equal(t, map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/component": "controller"}}, cm.Input("spec.endpointSelector"))
	egress := cm.Input("spec.egress").([]any)
	require.Len(t, egress, 2)
	assert.Equal(t, []any{map[string]any{"matchName": "acme-v02.api.letsencrypt.org"}, map[string]any{"matchName": "management.azure.com"}}, egress[0].(map[string]any)["toFQDNs"])
	assert.Equal(t, []any{map[string]any{"matchPattern": "*"}}, egress[1].(map[string]any)["toPorts"].([]any)[0].(map[string]any)["rules"].(map[string]any)["dns"], "FQDN rules need the DNS proxy")
	smtp := cnp(t, rec, infra.NamespaceMonitoring, "allow-out-alert-receivers-587").Input("spec.egress").([]any)[0].(map[string]any)
	assert.Equal(t, []any{map[string]any{"matchName": "smtp.example.com"}}, smtp["toFQDNs"])
	hook := cnp(t, rec, infra.NamespaceMonitoring, "allow-out-alert-receivers-443")
	assert.Equal(t, map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "alertmanager"}}, hook.Input("spec.endpointSelector"))
	assert.Equal(t, []any{map[string]any{"matchName": "[secret]"}}, hook.Input("spec.egress").([]any)[0].(map[string]any)["toFQDNs"],
		"the paging webhook's host comes from secret config and stays secret")

	// Without FQDN policies: any internet address on those ports, never
	// the instance metadata endpoint.
	a := args()
	a.FQDNPolicies = false
	rec, err = run(t, a)
	require.NoError(t, err)
	rule := cnp(t, rec, infra.NamespaceCertManager, "allow-out-internet").Input("spec.egress").([]any)
	require.Len(t, rule, 1, "no DNS rule without FQDN rules")
	assert.Equal(t, []any{map[string]any{"cidr": "0.0.0.0/0", "except": []any{MetadataAddress}}}, rule[0].(map[string]any)["toCIDRSet"])
}

// TestNoPolicyOpensTheMetadataEndpoint: every internet ipBlock leaves out
// 169.254.169.254, whatever its ports.
func TestNoPolicyOpensTheMetadataEndpoint(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	n := 0
	for _, r := range rec.OfType("kubernetes:networking.k8s.io/v1:NetworkPolicy") {
		for _, e := range asList(r.Input("spec.egress")) {
			for _, to := range asList(e.(map[string]any)["to"]) {
				ipb, _ := to.(map[string]any)["ipBlock"].(map[string]any)
				if ipb != nil && ipb["cidr"] == "0.0.0.0/0" {
					assert.Equal(t, []any{MetadataAddress}, ipb["except"], r.String("metadata.namespace")+"/"+r.String("metadata.name"))
					n++
				}
			}
		}
	}
	assert.Greater(t, n, 2, "the internet egress of moodle, data and integrations")
}

// TestNamespacesTheProgramDoesNotOwnAreClosed: a cluster-wide Cilium
// policy puts every other namespace (default included) in default deny,
// and leaves AKS's own and the program's alone.
func TestNamespacesTheProgramDoesNotOwnAreClosed(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	ccnps := rec.OfType("kubernetes:cilium.io/v2:CiliumClusterwideNetworkPolicy")
	require.Len(t, ccnps, 1)
	spec := ccnps[0].Input("spec").(map[string]any)
	assert.Equal(t, []any{map[string]any{}}, spec["ingress"], "an empty rule: default deny, no peer allowed")
	assert.Equal(t, []any{map[string]any{}}, spec["egress"])
	expr := spec["endpointSelector"].(map[string]any)["matchExpressions"].([]any)[0].(map[string]any)
	assert.Equal(t, "NotIn", expr["operator"])
	values := expr["values"].([]any)
	for _, n := range append(infra.Namespaces, "kube-system", "aks-istio-system") {
		assert.Contains(t, values, n)
	}
	assert.NotContains(t, values, "default")
}

// TestIstiodPortsAreLimited: plaintext xDS (15010) is closed, the
// monitoring port (15014) is Prometheus's only, secure xDS (15012) is the
// meshed namespaces' and the gateway's, the webhook (15017) anyone's (the
// API server).
func TestIstiodPortsAreLimited(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	var open []any
	for _, r := range rec.OfType("kubernetes:networking.k8s.io/v1:NetworkPolicy") {
		if r.String("metadata.namespace") != infra.NamespaceIstio {
			continue
		}
		for _, in := range asList(r.Input("spec.ingress")) {
			open = append(open, rulePorts(in.(map[string]any))...)
		}
	}
	assert.ElementsMatch(t, []any{float64(15012), float64(15017), float64(15014)}, open)
	mon := netpol(t, rec, infra.NamespaceIstio, "allow-in-monitoring").Input("spec.ingress").([]any)[0].(map[string]any)
	assert.Len(t, mon["from"], 1)
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
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
	for _, want := range []string{"one injection label", `endpointSubnet "x"`, "egress port 70000", "certManagerHosts are required"} {
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
