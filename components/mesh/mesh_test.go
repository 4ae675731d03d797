package mesh

import (
	"sort"
	"strings"
	"testing"

	"github.com/fieldcert/moodle-aks/components/internal/helm"
	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func args() *Args {
	return &Args{
		Layout:                 (&infra.Config{IstioMode: "helm"}).Mesh(),
		Version:                "1.30.3",
		Hostname:               "learn.fieldcert.example",
		IngressIPName:          "pip-moodle-prod-eastus2-ingress",
		IngressIPResourceGroup: pulumi.String("rg-moodle-prod-eastus2"),
		GatewayMinReplicas:     2,
		GatewayMaxReplicas:     10,
		IstiodReplicas:         2,
		Egress: []Egress{
			{Namespace: infra.NamespaceMoodle, Endpoint: infra.Endpoint{Host: "smtp.office365.com", Port: 587}},
			{Namespace: infra.NamespaceIntegrations, Endpoint: infra.Endpoint{Host: "*.crm.example", Port: 443}},
		},
		Access: []Access{{
			Name: "mysql", Namespace: infra.NamespaceData, App: infra.MySQLApp,
			Principals: []string{infra.Principal(infra.NamespaceMoodle, infra.MoodleWebServiceAccount)},
			Ports:      []int{infra.MySQLPort},
		}},
		Namespaces: []pulumi.Resource{},
	}
}

func run(t *testing.T, a *Args) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.RunAfter(func(ctx *pulumi.Context, ns pulumi.Resource) error {
		if len(a.Namespaces) == 0 {
			a.Namespaces = []pulumi.Resource{ns}
		}
		_, err := New(ctx, "mesh", a)
		return err
	})
}

func release(t *testing.T, rec *mocks.Recorder, name string) mocks.Resource {
	t.Helper()
	r, ok := rec.Named("kubernetes:helm.sh/v3:Release", "mesh-"+name)
	require.True(t, ok, name)
	return r
}

func object(t *testing.T, rec *mocks.Recorder, kind, name string) mocks.Resource {
	t.Helper()
	for _, r := range rec.Resources() {
		if strings.HasSuffix(r.Type, ":"+kind) && r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return mocks.Resource{}
}

func TestChartsArePinnedAndOrdered(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	base, cni, istiod, gw := release(t, rec, "base"), release(t, rec, "cni"), release(t, rec, "istiod"), release(t, rec, "gateway")
	for _, r := range []mocks.Resource{base, cni, istiod, gw} {
		assert.Equal(t, "1.30.3", r.Input("version"))
		assert.Equal(t, helm.IstioRepo, r.Input("repositoryOpts.repo"))
		assert.Equal(t, false, r.Input("createNamespace"))
		assert.Equal(t, true, r.Input("atomic"))
	}
	assert.Equal(t, infra.NamespaceIstio, istiod.Input("namespace"))
	assert.Equal(t, infra.NamespaceIngress, gw.Input("namespace"))
	assert.Equal(t, infra.IngressGatewayName, gw.Input("name"))
	assert.Contains(t, cni.Dependencies, base.URN)
	assert.Contains(t, istiod.Dependencies, cni.URN)
	assert.Contains(t, gw.Dependencies, istiod.URN)
}

func TestIstiodValues(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	v := release(t, rec, "istiod")
	assert.Equal(t, "true", v.Input("values.env.ENABLE_NATIVE_SIDECARS"), "native sidecars let Jobs complete")
	assert.Equal(t, true, v.Input("values.cni.enabled"))
	assert.Equal(t, "REGISTRY_ONLY", v.Input("values.meshConfig.outboundTrafficPolicy.mode"))
	assert.Equal(t, float64(2), v.Input("values.autoscaleMin"))
	assert.Equal(t, true, release(t, rec, "cni").Input("values.cni.chained"))
}

func TestGatewayUsesTheStaticIP(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	gw := release(t, rec, "gateway")
	ann := gw.Input("values.service.annotations").(map[string]any)
	assert.Equal(t, "pip-moodle-prod-eastus2-ingress", ann["service.beta.kubernetes.io/azure-pip-name"])
	assert.Equal(t, "rg-moodle-prod-eastus2", ann["service.beta.kubernetes.io/azure-load-balancer-resource-group"])
	assert.Equal(t, "Local", gw.Input("values.service.externalTrafficPolicy"))
	assert.Equal(t, float64(2), gw.Input("values.autoscaling.minReplicas"))
	assert.Equal(t, float64(1), gw.Input("values.podDisruptionBudget.minAvailable"))
	assert.Equal(t, "RuntimeDefault", gw.Input("values.securityContext.seccompProfile.type"), "restricted PSS: no warnings")
	assert.Equal(t, []any{map[string]any{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}}, gw.Input("values.securityContext.sysctls"),
		"the chart's own default, kept when its securityContext is replaced")

	// One gateway: the chart renders no budget below two replicas, so none is set.
	a := args()
	a.GatewayMinReplicas = 1
	rec, err = run(t, a)
	require.NoError(t, err)
	assert.Nil(t, release(t, rec, "gateway").Input("values.podDisruptionBudget"))
}

// TestNoDeadMeshSettings: settings Istio ignores or deprecates are not sent
// (istiod's mesh validation warns on ISTIO_META_DNS_AUTO_ALLOCATE; the hold
// settings do nothing with native sidecars); of the global block only the
// release image hub is set.
func TestNoDeadMeshSettings(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	v := release(t, rec, "istiod")
	assert.Nil(t, v.Input("values.meshConfig.defaultConfig.proxyMetadata.ISTIO_META_DNS_AUTO_ALLOCATE"))
	assert.Equal(t, "true", v.Input("values.meshConfig.defaultConfig.proxyMetadata.ISTIO_META_DNS_CAPTURE"))
	assert.Nil(t, v.Input("values.meshConfig.defaultConfig.holdApplicationUntilProxyStarts"))
	assert.Equal(t, map[string]any{"hub": "docker.io/istio"}, v.Input("values.global"))
	assert.Equal(t, map[string]any{"hub": "docker.io/istio"}, release(t, rec, "cni").Input("values.global"))
}

// documentedKeys are the value paths this component sets, as each chart's
// values.yaml at 1.30 documents them (meshConfig and env are free-form
// maps in those charts). A misspelt key would be silently ignored by Helm.
var documentedKeys = map[string][]string{
	"cni":     {"global.hub", "cni.chained", "cni.excludeNamespaces", "cni.seccompProfile.type", "cni.useAppArmorAnnotation"},
	"istiod":  {"global.hub", "autoscaleMin", "autoscaleMax", "env.*", "seccompProfile.type", "cni.enabled", "meshConfig.*"},
	"gateway": {"service.type", "service.annotations.*", "service.externalTrafficPolicy", "autoscaling.enabled", "autoscaling.minReplicas", "autoscaling.maxReplicas", "autoscaling.targetCPUUtilizationPercentage", "podDisruptionBudget.minAvailable", "topologySpreadConstraints", "securityContext.sysctls", "securityContext.seccompProfile.type"},
}

func leaves(prefix string, v any, out *[]string) {
	if m, ok := v.(map[string]any); ok && len(m) > 0 {
		for k, e := range m {
			leaves(strings.TrimPrefix(prefix+"."+k, "."), e, out)
		}
		return
	}
	*out = append(*out, prefix)
}

func TestValuesUseDocumentedKeys(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	for chart, allowed := range documentedKeys {
		var got []string
		leaves("", release(t, rec, chart).Input("values"), &got)
		sort.Strings(got)
		for _, key := range got {
			ok := false
			for _, a := range allowed {
				ok = ok || key == a || strings.HasSuffix(a, ".*") && strings.HasPrefix(key, strings.TrimSuffix(a, "*"))
			}
			assert.True(t, ok, "%s sets %s, which its values.yaml does not document", chart, key)
		}
	}
}

func TestMTLSAndDenyByDefault(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	pa := object(t, rec, "PeerAuthentication", "mesh-peer-authentication")
	assert.Equal(t, "security.istio.io/v1", pa.Input("apiVersion"))
	assert.Equal(t, infra.NamespaceIstio, pa.Input("metadata.namespace"), "root namespace: mesh-wide")
	assert.Equal(t, "STRICT", pa.Input("spec.mtls.mode"))
	assert.Contains(t, pa.Dependencies, release(t, rec, "istiod").URN, "CRDs and webhooks exist first")

	deny := object(t, rec, "AuthorizationPolicy", "mesh-deny-all")
	assert.Equal(t, map[string]any{}, deny.Input("spec"), "an empty policy denies everything")

	mysql := object(t, rec, "AuthorizationPolicy", "mesh-allow-data-mysql")
	assert.Equal(t, "ALLOW", mysql.Input("spec.action"))
	assert.Equal(t, "mysql", mysql.Input("spec.selector.matchLabels.app"))
	rule := mysql.Input("spec.rules").([]any)[0].(map[string]any)
	assert.Equal(t, []any{"cluster.local/ns/moodle/sa/moodle-web"}, rule["from"].([]any)[0].(map[string]any)["source"].(map[string]any)["principals"])
	assert.Equal(t, []any{"3306"}, rule["to"].([]any)[0].(map[string]any)["operation"].(map[string]any)["ports"])

	gw := object(t, rec, "AuthorizationPolicy", "mesh-allow-moodle-gateway")
	assert.Equal(t, "moodle-web", gw.Input("spec.selector.matchLabels.app"), "the gateway may reach Moodle")
}

func TestGatewayAndRoutes(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	gw := object(t, rec, "Gateway", "mesh-gateway-moodle")
	servers := gw.Input("spec.servers").([]any)
	require.Len(t, servers, 2)
	https := servers[1].(map[string]any)
	assert.Equal(t, infra.SiteTLSSecret, https["tls"].(map[string]any)["credentialName"])
	assert.Equal(t, []any{"learn.fieldcert.example"}, https["hosts"])

	redirect := object(t, rec, "VirtualService", "mesh-http-redirect")
	routes := redirect.Input("spec.http").([]any)
	require.Len(t, routes, 1, "without HTTP-01, port 80 only redirects")
	assert.Equal(t, "https", routes[0].(map[string]any)["redirect"].(map[string]any)["scheme"])

	vs := object(t, rec, "VirtualService", "mesh-moodle-route")
	assert.Equal(t, infra.NamespaceMoodle, vs.Input("metadata.namespace"))
	assert.Equal(t, []any{"istio-ingress/moodle"}, vs.Input("spec.gateways"))
	dest := vs.Input("spec.http").([]any)[0].(map[string]any)["route"].([]any)[0].(map[string]any)["destination"].(map[string]any)
	assert.Equal(t, "moodle-web.moodle.svc.cluster.local", dest["host"])

	a := args()
	a.HTTP01 = true
	rec, err = run(t, a)
	require.NoError(t, err)
	routes = object(t, rec, "VirtualService", "mesh-http-redirect").Input("spec.http").([]any)
	require.Len(t, routes, 2)
	assert.Equal(t, "acme-http01", routes[0].(map[string]any)["name"], "the ACME path goes to the solver before the redirect")
	svc, ok := rec.Named("kubernetes:core/v1:Service", "mesh-acme-solver")
	require.True(t, ok)
	assert.Equal(t, "true", svc.Input("spec.selector").(map[string]any)["acme.cert-manager.io/http01-solver"])
}

func TestEgressServiceEntries(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	smtp := object(t, rec, "ServiceEntry", "mesh-egress-moodle-smtp-office365-com-587")
	assert.Equal(t, infra.NamespaceMoodle, smtp.Input("metadata.namespace"))
	assert.Equal(t, []any{"."}, smtp.Input("spec.exportTo"), "visible to the declaring namespace only")
	assert.Equal(t, "DNS", smtp.Input("spec.resolution"))
	assert.Equal(t, "TCP", smtp.Input("spec.ports").([]any)[0].(map[string]any)["protocol"])
	crm := object(t, rec, "ServiceEntry", "mesh-egress-integrations-wildcard-crm-example-443")
	assert.Equal(t, "NONE", crm.Input("spec.resolution"))
	assert.Equal(t, "TLS", crm.Input("spec.ports").([]any)[0].(map[string]any)["protocol"])
}

func TestEgressToAnAddress(t *testing.T) {
	a := args()
	a.Egress = append(a.Egress, Egress{Namespace: infra.NamespaceMoodle, Endpoint: infra.Endpoint{Host: "10.8.0.4", Port: 3306}})
	rec, err := run(t, a)
	require.NoError(t, err)
	db := object(t, rec, "ServiceEntry", "mesh-egress-moodle-address-10-8-0-4-3306")
	assert.Equal(t, []any{"10.8.0.4"}, db.Input("spec.addresses"), "the address is matched, not resolved")
	assert.Equal(t, "STATIC", db.Input("spec.resolution"))
	assert.Equal(t, "10.8.0.4", db.Input("spec.endpoints").([]any)[0].(map[string]any)["address"])
	assert.NotContains(t, db.Input("spec.hosts"), "10.8.0.4", "hosts are names")
}

func TestMeshRejectsBadArgs(t *testing.T) {
	a := args()
	a.Version = "1.28"
	a.Hostname = "Learn"
	a.GatewayMinReplicas = 0
	a.Access = append(a.Access, Access{Name: "broken"})
	rec, err := run(t, a)
	require.Error(t, err)
	for _, want := range []string{`version "1.28"`, `hostname "Learn"`, "gateway replicas 0..10", `access "broken" needs a namespace and who may connect`} {
		assert.Contains(t, err.Error(), want)
	}
	for _, r := range rec.Resources() {
		assert.NotEqual(t, TypeToken, r.Type, "nothing of the mesh is registered")
	}
}

func TestAddon(t *testing.T) {
	a := args()
	a.Layout = (&infra.Config{IstioMode: "aks-addon", IstioAddonRevision: "asm-1-30"}).Mesh()
	a.Version, a.IngressIPName, a.IngressIPResourceGroup = "", "", nil
	rec, err := run(t, a)
	require.NoError(t, err)
	assert.Empty(t, rec.OfType("kubernetes:helm.sh/v3:Release"), "AKS installs Istio")
	cm, ok := rec.Named("kubernetes:core/v1:ConfigMap", "mesh-addon-mesh-config")
	require.True(t, ok)
	assert.Equal(t, "istio-shared-configmap-asm-1-30", cm.Input("metadata.name"))
	assert.Equal(t, "aks-istio-system", cm.Input("metadata.namespace"))
	assert.Contains(t, cm.Input("data.mesh"), "outboundTrafficPolicy:\n  mode: REGISTRY_ONLY")
	pa := object(t, rec, "PeerAuthentication", "mesh-peer-authentication")
	assert.Equal(t, "aks-istio-system", pa.Input("metadata.namespace"), "the add-on's root namespace")
	gw := object(t, rec, "Gateway", "mesh-gateway-moodle")
	assert.Equal(t, "aks-istio-ingress", gw.Input("metadata.namespace"))
	assert.Equal(t, "aks-istio-ingressgateway-external", gw.Input("spec.selector.istio"))
	allow := object(t, rec, "AuthorizationPolicy", "mesh-allow-moodle-gateway")
	src := allow.Input("spec.rules").([]any)[0].(map[string]any)["from"].([]any)[0].(map[string]any)["source"].(map[string]any)
	assert.Equal(t, []any{"cluster.local/ns/aks-istio-ingress/sa/aks-istio-ingressgateway-external"}, src["principals"])
	vs := object(t, rec, "VirtualService", "mesh-moodle-route")
	assert.Equal(t, []any{"aks-istio-ingress/moodle"}, vs.Input("spec.gateways"))
}

// TestTheGatewayAdmitsTheSiteOnly: the root namespace's deny-all covers
// the gateway too, so the gateway has its own ALLOW (the site's host, on
// its listener ports) and a DENY (evaluated first) for internal paths.
func TestTheGatewayAdmitsTheSiteOnly(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	allow := object(t, rec, "AuthorizationPolicy", "mesh-gateway-allow-site")
	assert.Equal(t, infra.NamespaceIngress, allow.Input("metadata.namespace"))
	assert.Equal(t, "ALLOW", allow.Input("spec.action"))
	assert.Equal(t, "ingressgateway", allow.Input("spec.selector.matchLabels.istio"))
	op := allow.Input("spec.rules").([]any)[0].(map[string]any)["to"].([]any)[0].(map[string]any)["operation"].(map[string]any)
	assert.Equal(t, []any{"learn.fieldcert.example", "learn.fieldcert.example:*"}, op["hosts"])
	assert.Equal(t, []any{"80", "443"}, op["ports"])
	assert.Nil(t, allow.Input("spec.rules").([]any)[0].(map[string]any)["from"], "from anyone on the internet")

	deny := object(t, rec, "AuthorizationPolicy", "mesh-gateway-deny-internal")
	assert.Equal(t, "DENY", deny.Input("spec.action"))
	assert.Equal(t, "ingressgateway", deny.Input("spec.selector.matchLabels.istio"))
	paths := deny.Input("spec.rules").([]any)[0].(map[string]any)["to"].([]any)[0].(map[string]any)["operation"].(map[string]any)["paths"]
	assert.Contains(t, paths, "/health.php*")

	// The add-on's gateway: its listener ports are AKS's, so only the host.
	a := args()
	a.Layout = (&infra.Config{IstioMode: "aks-addon", IstioAddonRevision: "asm-1-30"}).Mesh()
	rec, err = run(t, a)
	require.NoError(t, err)
	allow = object(t, rec, "AuthorizationPolicy", "mesh-gateway-allow-site")
	assert.Equal(t, "aks-istio-ingress", allow.Input("metadata.namespace"))
	assert.Equal(t, "aks-istio-ingressgateway-external", allow.Input("spec.selector.matchLabels.istio"))
	assert.Nil(t, allow.Input("spec.rules").([]any)[0].(map[string]any)["to"].([]any)[0].(map[string]any)["operation"].(map[string]any)["ports"])
}

// TestAccessByPathAndHost: paths and hosts go into the rule's operation
// beside the ports; a site-host client namespace gets a VirtualService,
// visible there only, that sets the site's hostname on calls to Moodle.
func TestAccessByPathAndHost(t *testing.T) {
	a := args()
	a.Access = append(a.Access, Access{
		Name: "integration-hr", Namespace: infra.NamespaceMoodle, App: infra.MoodleWebApp,
		Principals: []string{infra.Principal(infra.NamespaceIntegrations, "integration-hr")},
		Ports:      []int{infra.MoodleWebPort}, Paths: []string{"/webservice/*"}, Hosts: []string{"learn.fieldcert.example"},
	})
	a.SiteHostClients = []string{infra.NamespaceIntegrations}
	rec, err := run(t, a)
	require.NoError(t, err)
	p := object(t, rec, "AuthorizationPolicy", "mesh-allow-moodle-integration-hr")
	op := p.Input("spec.rules").([]any)[0].(map[string]any)["to"].([]any)[0].(map[string]any)["operation"].(map[string]any)
	assert.Equal(t, []any{"8080"}, op["ports"])
	assert.Equal(t, []any{"/webservice/*"}, op["paths"])
	assert.Equal(t, []any{"learn.fieldcert.example"}, op["hosts"])

	vs := object(t, rec, "VirtualService", "mesh-site-host-integrations")
	assert.Equal(t, infra.NamespaceIntegrations, vs.Input("metadata.namespace"))
	assert.Equal(t, []any{"."}, vs.Input("spec.exportTo"), "only the integrations' sidecars use it")
	assert.Equal(t, []any{"moodle-web.moodle.svc.cluster.local"}, vs.Input("spec.hosts"))
	route := vs.Input("spec.http").([]any)[0].(map[string]any)
	assert.Equal(t, "learn.fieldcert.example", route["rewrite"].(map[string]any)["authority"], "Moodle sees its wwwroot's host and does not redirect")
}

// istioDefaultAccessLogFormat is Istio's documented default text format
// (istio.io "Envoy Access Logs", "Default access log format", 1.30).
const istioDefaultAccessLogFormat = `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%` + "\n"

// TestAccessLogFormatIsTheDefaultLessThePath: the mesh's format is Istio's
// default with the path operator taken out and nothing else changed, so
// every operator it uses is one the proxy already accepts.
func TestAccessLogFormatIsTheDefaultLessThePath(t *testing.T) {
	assert.Equal(t, strings.Replace(istioDefaultAccessLogFormat, " %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%", "", 1), AccessLogFormat)
	assert.NotContains(t, AccessLogFormat, "PATH")
	assert.Contains(t, AccessLogFormat, "%REQ(X-REQUEST-ID)%", "the request ID ties a line to Apache's")
}
