// Package mesh provides Istio for the region's cluster: installed from
// Istio's official Helm charts (base, cni, istiod, gateway), with mutual
// TLS required everywhere, native sidecars so Jobs complete, outbound
// traffic limited to declared endpoints, an ingress gateway for the site
// and authorization policies that deny every flow not explicitly allowed.
package mesh

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/fieldcert/moodle-aks/components/internal/helm"
	"github.com/fieldcert/moodle-aks/infra"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the component's type; with the child names it forms URNs.
const TypeToken = "moodle:mesh:Mesh"

// Istio API versions of the objects this component creates.
const (
	securityAPI   = "security.istio.io/v1"
	networkingAPI = "networking.istio.io/v1"
)

// ACMESolverService is the Service in the ingress namespace that selects
// cert-manager's HTTP-01 solver pods; the gateway routes
// /.well-known/acme-challenge/ to it.
const ACMESolverService = "acme-http01-solver"

// acmeSolverPort is the port cert-manager's solver pods listen on.
const acmeSolverPort = 8089

var hostnameRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

// Egress is one outbound endpoint a namespace may reach.
type Egress struct {
	// Namespace is the consuming namespace; the ServiceEntry is visible
	// there only.
	Namespace string
	// Endpoint is the destination.
	Endpoint infra.Endpoint
}

// Access allows principals to reach a workload's ports.
type Access struct {
	// Name names the AuthorizationPolicy.
	Name string
	// Namespace and App select the receiving pods (label infra.AppLabel);
	// an empty App means every workload of the namespace.
	Namespace, App string
	// Principals may connect (infra.Principal); Namespaces likewise for any
	// workload of those namespaces.
	Principals, Namespaces []string
	// Ports are the receiving ports; none means every port.
	Ports []int
	// Paths limit the request paths (Istio syntax: exact, or a prefix
	// ending in "*"); none means every path. HTTP only: on a TCP port a
	// rule with paths matches nothing.
	Paths []string
	// Hosts limit the request's Host (:authority); none means any.
	Hosts []string
}

// InternalPaths are refused at the ingress gateway whatever the host:
// the probes' health endpoint (Apache serves it to anyone who reaches the
// pod, since the kubelet must) and Apache's status page. Moodle's own
// internal files are refused by Apache itself (images/moodle/apache.conf).
var InternalPaths = []string{"/health.php*", "/server-status*"}

// Args configures the mesh.
type Args struct {
	// Layout says how Istio is installed and where its parts live
	// (infra.Config.Mesh): from Istio's charts, or the AKS add-on, which
	// AKS installs from the cluster's serviceMeshProfile.
	Layout infra.MeshLayout
	// Version is the exact version of Istio's charts (required with charts).
	Version string
	// Hostname is the site's DNS name (required).
	Hostname string
	// IngressIPName and IngressIPResourceGroup pin the gateway's load
	// balancer to the static public IP the AKS component made (required
	// with charts; the add-on's gateway has an AKS-managed IP).
	IngressIPName          string
	IngressIPResourceGroup pulumi.StringInput
	// GatewayMinReplicas and GatewayMaxReplicas bound the gateway's
	// autoscaler (charts only; AKS scales the add-on's gateway).
	GatewayMinReplicas, GatewayMaxReplicas int
	// IstiodReplicas is istiod's minimum replica count (1 dev, 2 prod).
	IstiodReplicas int
	// HTTP01 routes /.well-known/acme-challenge/ on port 80 to cert-manager's
	// solver instead of redirecting it to HTTPS.
	HTTP01 bool
	// Egress are the declared outbound endpoints.
	Egress []Egress
	// Access are the allowed flows; everything else is denied.
	Access []Access
	// SiteHostClients are namespaces whose calls to Moodle's web Service get
	// the site's hostname as their :authority (a VirtualService visible
	// there only), so Moodle answers instead of redirecting to wwwroot.
	SiteHostClients []string
	// Namespaces are the namespace resources the objects go into, so they
	// are created first (required).
	Namespaces []pulumi.Resource
}

// Mesh is the installed mesh.
type Mesh struct {
	pulumi.ResourceState

	// Ready is the last Istio release; objects of Istio's kinds made by
	// other components depend on it (the CRDs and webhooks exist then).
	// Nil with the add-on, whose CRDs come with the cluster.
	Ready pulumi.Resource
	// GatewayRef is "<namespace>/<gateway>", for VirtualServices.
	GatewayRef string
}

func (a *Args) validate() error {
	var errs []error
	if a.Layout.ControlPlaneNamespace == "" || a.Layout.GatewayNamespace == "" || a.Layout.GatewayApp == "" {
		errs = append(errs, errors.New("layout is required (infra.Config.Mesh)"))
	}
	if a.Layout.Addon {
		if a.Layout.Revision == "" {
			errs = append(errs, errors.New("the add-on needs a revision"))
		}
		return errors.Join(append(errs, a.validateCommon()...)...)
	}
	if err := (helm.Chart{Repo: helm.IstioRepo, Name: "istiod", Version: a.Version}).Validate(); err != nil {
		errs = append(errs, err)
	}
	if a.IngressIPName == "" || a.IngressIPResourceGroup == nil {
		errs = append(errs, errors.New("ingressIPName and ingressIPResourceGroup are required"))
	}
	if a.GatewayMinReplicas < 1 || a.GatewayMaxReplicas < a.GatewayMinReplicas {
		errs = append(errs, fmt.Errorf("gateway replicas %d..%d are invalid", a.GatewayMinReplicas, a.GatewayMaxReplicas))
	}
	if a.IstiodReplicas < 1 {
		errs = append(errs, fmt.Errorf("istiodReplicas %d must be at least 1", a.IstiodReplicas))
	}
	return errors.Join(append(errs, a.validateCommon()...)...)
}

func (a *Args) validateCommon() []error {
	var errs []error
	if !hostnameRE.MatchString(a.Hostname) {
		errs = append(errs, fmt.Errorf("hostname %q is not a DNS name", a.Hostname))
	}
	for _, x := range a.Access {
		if x.Name == "" || x.Namespace == "" || len(x.Principals)+len(x.Namespaces) == 0 {
			errs = append(errs, fmt.Errorf("access %q needs a namespace and who may connect", x.Name))
		}
	}
	if len(a.Namespaces) == 0 {
		errs = append(errs, errors.New("namespaces are required"))
	}
	return errs
}

// Chart values: only the keys set here, named as in each chart's
// values.yaml at the pinned version (mesh_test.go checks them against
// the keys those charts document).

type seccomp struct {
	Type string `json:"type"`
}

// ReleaseHub is where Istio publishes its release images
// (istio/release-builder release/publish.sh). The 1.30 chart packages keep
// the development hub (registry.istio.io/testing) in their values.yaml,
// which Istio's release build rewrites only in the charts it publishes; the
// program names the release hub itself so that no package can point the
// pods at test images.
const ReleaseHub = "docker.io/istio"

// global is the charts' shared "global" block.
type global struct {
	Hub string `json:"hub"`
}

type cniValues struct {
	Global global `json:"global"`
	CNI    struct {
		Chained        bool     `json:"chained"`
		ExcludeNSs     []string `json:"excludeNamespaces"`
		SeccompProfile seccomp  `json:"seccompProfile"`
		// UseAppArmorAnnotation false: the node agent's AppArmor profile
		// goes in securityContext.appArmorProfile (GA since Kubernetes
		// 1.30), not the annotation the API server calls deprecated.
		UseAppArmorAnnotation bool `json:"useAppArmorAnnotation"`
	} `json:"cni"`
}

type istiodValues struct {
	// Global.Hub also names the image the injector puts in every sidecar
	// and in the gateway's pods ("image: auto").
	Global         global            `json:"global"`
	AutoscaleMin   int               `json:"autoscaleMin"`
	AutoscaleMax   int               `json:"autoscaleMax"`
	Env            map[string]string `json:"env"`
	SeccompProfile seccomp           `json:"seccompProfile"`
	CNI            struct {
		Enabled bool `json:"enabled"`
	} `json:"cni"`
	MeshConfig meshConfig `json:"meshConfig"`
}

// AccessLogFormat is Istio's default access log format (Istio
// "Envoy Access Logs", default format, 1.30) without the request path:
// Moodle carries tokens in query strings (password resets, wstoken,
// tokenpluginfile.php), and Envoy's path operators print them. The
// request ID ties a line to Apache's, which logs the path without the
// query (images/moodle/apache.conf).
const AccessLogFormat = `[%START_TIME%] "%REQ(:METHOD)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% ` +
	`%CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ` +
	`%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" ` +
	`"%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% ` +
	`%DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%` + "\n"

type meshConfig struct {
	AccessLogFile         string `json:"accessLogFile"`
	AccessLogFormat       string `json:"accessLogFormat"`
	EnablePrometheusMerge bool   `json:"enablePrometheusMerge"`
	OutboundTrafficPolicy struct {
		Mode string `json:"mode"`
	} `json:"outboundTrafficPolicy"`
	DefaultConfig struct {
		ProxyMetadata map[string]string `json:"proxyMetadata"`
	} `json:"defaultConfig"`
}

type gatewayValues struct {
	Service struct {
		Type                  string            `json:"type"`
		Annotations           map[string]string `json:"annotations"`
		ExternalTrafficPolicy string            `json:"externalTrafficPolicy"`
	} `json:"service"`
	Autoscaling struct {
		Enabled                        bool `json:"enabled"`
		MinReplicas                    int  `json:"minReplicas"`
		MaxReplicas                    int  `json:"maxReplicas"`
		TargetCPUUtilizationPercentage int  `json:"targetCPUUtilizationPercentage"`
	} `json:"autoscaling"`
	// The chart renders its PodDisruptionBudget only with more than one
	// replica: nil for a single gateway, where it would do nothing.
	PodDisruptionBudget *struct {
		MinAvailable int `json:"minAvailable"`
	} `json:"podDisruptionBudget,omitempty"`
	TopologySpreadConstraints []map[string]any `json:"topologySpreadConstraints"`
	// SecurityContext replaces the chart's default pod security context:
	// its sysctl (bind 80/443 without privileges) plus the seccomp profile
	// the restricted Pod Security Standard asks for.
	SecurityContext map[string]any `json:"securityContext"`
}

func (a *Args) istiod() istiodValues {
	var v istiodValues
	v.Global.Hub = ReleaseHub
	v.AutoscaleMin, v.AutoscaleMax = a.IstiodReplicas, max(a.IstiodReplicas, 5)
	// Native sidecars (Kubernetes 1.29+): the proxy starts before the
	// application and stops after it, so Jobs and CronJobs complete. Istio
	// turned them on by default in 1.27; stated here because the Jobs
	// depend on it, and so a compatibility profile cannot turn it off.
	v.Env = map[string]string{"ENABLE_NATIVE_SIDECARS": "true"}
	v.SeccompProfile = seccomp{"RuntimeDefault"}
	// The CNI node agent sets up traffic capture: no privileged istio-init.
	v.CNI.Enabled = true
	v.MeshConfig.AccessLogFile = "/dev/stdout"
	v.MeshConfig.AccessLogFormat = AccessLogFormat
	v.MeshConfig.EnablePrometheusMerge = true
	// Only declared destinations (ServiceEntries) are reachable.
	v.MeshConfig.OutboundTrafficPolicy.Mode = "REGISTRY_ONLY"
	// DNS capture lets TCP ServiceEntries (SMTP, ...) match by hostname;
	// Istio allocates their addresses itself since 1.23
	// (ISTIO_META_DNS_AUTO_ALLOCATE is deprecated). No holdApplicationUntilProxyStarts: with native
	// sidecars the proxy starts first anyway, and the setting does nothing.
	v.MeshConfig.DefaultConfig.ProxyMetadata = map[string]string{
		"ISTIO_META_DNS_CAPTURE": "true",
	}
	return v
}

func (a *Args) gateway(resourceGroup string) gatewayValues {
	var v gatewayValues
	v.Service.Type = "LoadBalancer"
	v.Service.Annotations = map[string]string{
		// Use the static, zone-redundant IP of the AKS component.
		"service.beta.kubernetes.io/azure-pip-name":                                a.IngressIPName,
		"service.beta.kubernetes.io/azure-load-balancer-resource-group":            resourceGroup,
		"service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path": "/healthz/ready",
	}
	// Keep the client's address for Moodle's logs and rate limits.
	v.Service.ExternalTrafficPolicy = "Local"
	v.Autoscaling.Enabled = true
	v.Autoscaling.MinReplicas, v.Autoscaling.MaxReplicas = a.GatewayMinReplicas, a.GatewayMaxReplicas
	v.Autoscaling.TargetCPUUtilizationPercentage = 70
	if a.GatewayMinReplicas > 1 {
		v.PodDisruptionBudget = &struct {
			MinAvailable int `json:"minAvailable"`
		}{MinAvailable: 1}
	}
	v.SecurityContext = map[string]any{
		"sysctls":        []any{map[string]any{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}},
		"seccompProfile": map[string]any{"type": "RuntimeDefault"},
	}
	v.TopologySpreadConstraints = []map[string]any{{
		"maxSkew":           1,
		"topologyKey":       "topology.kubernetes.io/zone",
		"whenUnsatisfiable": "ScheduleAnyway",
		"labelSelector":     map[string]any{"matchLabels": map[string]any{"istio": "ingressgateway"}},
	}}
	return v
}

// customResource registers an object of one of Istio's kinds.
func customResource(ctx *pulumi.Context, name, apiVersion, kind, namespace, objName string, spec map[string]any, opts ...pulumi.ResourceOption) error {
	_, err := apiextensions.NewCustomResource(ctx, name, &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String(apiVersion),
		Kind:        pulumi.String(kind),
		Metadata:    &metav1.ObjectMetaArgs{Name: pulumi.String(objName), Namespace: pulumi.String(namespace)},
		OtherFields: kubernetes.UntypedArgs{"spec": spec},
	}, opts...)
	if err != nil {
		return fmt.Errorf("creating %s %s/%s: %w", kind, namespace, objName, err)
	}
	return nil
}

// protocol names a ServiceEntry port: TLS (matched by SNI) for 443, TCP
// otherwise.
func protocol(port int) string {
	if port == 443 {
		return "TLS"
	}
	return "TCP"
}

// New installs the mesh.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Mesh, error) {
	if args == nil {
		return nil, fmt.Errorf("mesh %q: args are required", name)
	}
	a := *args
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("mesh %q: %w", name, err)
	}
	lay := a.Layout
	c := &Mesh{GatewayRef: lay.GatewayNamespace + "/moodle"}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registering mesh component %q: %w", name, err)
	}
	after := func(rs ...pulumi.Resource) []pulumi.ResourceOption {
		return []pulumi.ResourceOption{pulumi.Parent(c), pulumi.DependsOn(append(append([]pulumi.Resource{}, a.Namespaces...), rs...))}
	}
	objs := after()
	if lay.Addon {
		// AKS runs istiod; the mesh config goes in the add-on's shared
		// ConfigMap, which istiod merges into its own.
		cfg := meshConfigYAML(a.istiod().MeshConfig)
		if _, err := corev1.NewConfigMap(ctx, name+"-addon-mesh-config", &corev1.ConfigMapArgs{
			Metadata: &metav1.ObjectMetaArgs{
				Name:      pulumi.String("istio-shared-configmap-" + lay.Revision),
				Namespace: pulumi.String(lay.ControlPlaneNamespace),
			},
			Data: pulumi.StringMap{"mesh": pulumi.String(cfg)},
		}, objs...); err != nil {
			return nil, fmt.Errorf("configuring the Istio add-on: %w", err)
		}
	} else {
		ready, err := a.install(ctx, name, after)
		if err != nil {
			return nil, err
		}
		c.Ready = ready[len(ready)-1]
		objs = after(ready...)
	}

	// Mutual TLS for every workload of the mesh.
	if err := customResource(ctx, name+"-peer-authentication", securityAPI, "PeerAuthentication", lay.ControlPlaneNamespace, "default",
		map[string]any{"mtls": map[string]any{"mode": "STRICT"}}, objs...); err != nil {
		return nil, err
	}
	// Deny every request in the mesh that no policy below allows. In the
	// root namespace this applies to every workload, the ingress gateway
	// included, so the gateway gets its own ALLOW below.
	if err := customResource(ctx, name+"-deny-all", securityAPI, "AuthorizationPolicy", lay.ControlPlaneNamespace, "allow-nothing",
		map[string]any{}, objs...); err != nil {
		return nil, err
	}
	gwSelector := map[string]any{"matchLabels": map[string]any{"istio": lay.GatewayLabel()}}
	// The gateway admits the site's host only (with or without a port in
	// Host), on its listener ports (80 redirects or answers ACME, 443
	// serves the site); everything else gets 403.
	siteOp := map[string]any{"hosts": []any{a.Hostname, a.Hostname + ":*"}}
	if !lay.Addon {
		siteOp["ports"] = []any{"80", "443"}
	}
	if err := customResource(ctx, name+"-gateway-allow-site", securityAPI, "AuthorizationPolicy", lay.GatewayNamespace, "allow-site",
		map[string]any{"selector": gwSelector, "action": "ALLOW", "rules": []any{map[string]any{"to": []any{map[string]any{"operation": siteOp}}}}}, objs...); err != nil {
		return nil, err
	}
	// DENY is evaluated before ALLOW: the internal paths never pass.
	if err := customResource(ctx, name+"-gateway-deny-internal", securityAPI, "AuthorizationPolicy", lay.GatewayNamespace, "deny-internal-paths",
		map[string]any{"selector": gwSelector, "action": "DENY", "rules": []any{map[string]any{"to": []any{map[string]any{"operation": map[string]any{"paths": toAny(InternalPaths)}}}}}}, objs...); err != nil {
		return nil, err
	}
	for _, x := range a.allAccess() {
		if err := customResource(ctx, name+"-allow-"+x.Namespace+"-"+x.Name, securityAPI, "AuthorizationPolicy", x.Namespace, "allow-"+x.Name,
			authorization(x), objs...); err != nil {
			return nil, err
		}
	}

	// The site: HTTPS with the certificate in SiteTLSSecret, HTTP redirected.
	servers := []any{
		map[string]any{"port": map[string]any{"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": []any{a.Hostname}},
		map[string]any{
			"port":  map[string]any{"number": 443, "name": "https", "protocol": "HTTPS"},
			"hosts": []any{a.Hostname},
			"tls":   map[string]any{"mode": "SIMPLE", "credentialName": infra.SiteTLSSecret, "minProtocolVersion": "TLSV1_2"},
		},
	}
	if err := customResource(ctx, name+"-gateway-moodle", networkingAPI, "Gateway", lay.GatewayNamespace, "moodle",
		map[string]any{"selector": map[string]any{"istio": lay.GatewayLabel()}, "servers": servers}, objs...); err != nil {
		return nil, err
	}
	var httpRoutes []any
	if a.HTTP01 {
		httpRoutes = append(httpRoutes, map[string]any{
			"name":  "acme-http01",
			"match": []any{map[string]any{"port": 80, "uri": map[string]any{"prefix": "/.well-known/acme-challenge/"}}},
			"route": []any{map[string]any{"destination": map[string]any{
				"host": ACMESolverService + "." + lay.GatewayNamespace + ".svc.cluster.local",
				"port": map[string]any{"number": acmeSolverPort},
			}}},
		})
		if _, err := corev1.NewService(ctx, name+"-acme-solver", &corev1.ServiceArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(ACMESolverService), Namespace: pulumi.String(lay.GatewayNamespace)},
			Spec: &corev1.ServiceSpecArgs{
				Selector: pulumi.StringMap{"acme.cert-manager.io/http01-solver": pulumi.String("true")},
				Ports:    corev1.ServicePortArray{corev1.ServicePortArgs{Name: pulumi.String("http"), Port: pulumi.Int(acmeSolverPort), TargetPort: pulumi.Int(acmeSolverPort)}},
			},
		}, objs...); err != nil {
			return nil, fmt.Errorf("creating the ACME solver service: %w", err)
		}
	}
	httpRoutes = append(httpRoutes, map[string]any{
		"name":     "https-redirect",
		"match":    []any{map[string]any{"port": 80}},
		"redirect": map[string]any{"scheme": "https", "redirectCode": 301},
	})
	if err := customResource(ctx, name+"-http-redirect", networkingAPI, "VirtualService", lay.GatewayNamespace, "http-redirect",
		map[string]any{"hosts": []any{a.Hostname}, "gateways": []any{"moodle"}, "http": httpRoutes}, objs...); err != nil {
		return nil, err
	}
	if err := customResource(ctx, name+"-moodle-route", networkingAPI, "VirtualService", infra.NamespaceMoodle, "moodle",
		map[string]any{
			"hosts":    []any{a.Hostname},
			"gateways": []any{c.GatewayRef},
			"http": []any{map[string]any{
				"name":  "moodle",
				"match": []any{map[string]any{"port": 443}},
				"route": []any{map[string]any{"destination": map[string]any{
					"host": infra.MoodleWebService + "." + infra.NamespaceMoodle + ".svc.cluster.local",
					"port": map[string]any{"number": infra.MoodleWebPort},
				}}},
				// Moodle's upgrade and report pages can run long.
				"timeout": "300s",
			}},
		}, objs...); err != nil {
		return nil, err
	}

	// Mesh clients of Moodle's web Service present the site's hostname, so
	// that Moodle's wwwroot check passes (it redirects any other Host).
	moodleHost := infra.MoodleWebService + "." + infra.NamespaceMoodle + ".svc.cluster.local"
	for _, n := range a.SiteHostClients {
		if err := customResource(ctx, name+"-site-host-"+n, networkingAPI, "VirtualService", n, "moodle-web-site-host",
			map[string]any{
				"hosts":    []any{moodleHost},
				"gateways": []any{"mesh"},
				"exportTo": []any{"."},
				"http": []any{map[string]any{
					"name":    "site-host",
					"rewrite": map[string]any{"authority": a.Hostname},
					"route": []any{map[string]any{"destination": map[string]any{
						"host": moodleHost, "port": map[string]any{"number": infra.MoodleWebPort},
					}}},
				}},
			}, objs...); err != nil {
			return nil, err
		}
	}

	// One ServiceEntry per declared outbound endpoint, visible only in
	// the namespace that declared it.
	for _, e := range a.Egress {
		h := e.Endpoint.Host
		resolution := "DNS"
		if strings.HasPrefix(h, "*.") {
			resolution = "NONE" // wildcards are matched by SNI only
		}
		objName := strings.ReplaceAll(strings.TrimPrefix(h, "*."), ".", "-") + "-" + strconv.Itoa(e.Endpoint.Port)
		if strings.HasPrefix(h, "*.") {
			objName = "wildcard-" + objName
		}
		spec := map[string]any{
			"hosts":      []any{h},
			"location":   "MESH_EXTERNAL",
			"resolution": resolution,
			"exportTo":   []any{"."},
			"ports": []any{map[string]any{
				"number": e.Endpoint.Port, "name": strings.ToLower(protocol(e.Endpoint.Port)) + "-" + strconv.Itoa(e.Endpoint.Port),
				"protocol": protocol(e.Endpoint.Port),
			}},
		}
		if net.ParseIP(h) != nil {
			// An address (the old database during a migration): a
			// ServiceEntry's hosts are names, so name it and match the address.
			objName = "address-" + objName
			spec["hosts"] = []any{objName + ".external"}
			spec["addresses"] = []any{h}
			spec["resolution"] = "STATIC"
			spec["endpoints"] = []any{map[string]any{"address": h}}
		}
		if err := customResource(ctx, name+"-egress-"+e.Namespace+"-"+objName, networkingAPI, "ServiceEntry", e.Namespace, objName,
			spec, objs...); err != nil {
			return nil, err
		}
	}

	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"gateway": pulumi.String(c.GatewayRef)}); err != nil {
		return nil, fmt.Errorf("registering outputs of mesh %q: %w", name, err)
	}
	return c, nil
}

// allAccess adds the flows the mesh itself needs to the declared ones:
// the gateway to Moodle, and the ACME solver from the gateway.
func (a *Args) allAccess() []Access {
	gw := infra.Principal(a.Layout.GatewayNamespace, a.Layout.GatewayApp)
	out := []Access{{
		Name: "gateway", Namespace: infra.NamespaceMoodle, App: infra.MoodleWebApp,
		Principals: []string{gw}, Ports: []int{infra.MoodleWebPort},
	}}
	return append(out, a.Access...)
}

func authorization(x Access) map[string]any {
	var ports []any
	for _, p := range x.Ports {
		ports = append(ports, strconv.Itoa(p))
	}
	source := map[string]any{}
	if len(x.Principals) > 0 {
		source["principals"] = toAny(x.Principals)
	}
	if len(x.Namespaces) > 0 {
		source["namespaces"] = toAny(x.Namespaces)
	}
	rule := map[string]any{"from": []any{map[string]any{"source": source}}}
	op := map[string]any{}
	if len(ports) > 0 {
		op["ports"] = ports
	}
	if len(x.Paths) > 0 {
		op["paths"] = toAny(x.Paths)
	}
	if len(x.Hosts) > 0 {
		op["hosts"] = toAny(x.Hosts)
	}
	if len(op) > 0 {
		rule["to"] = []any{map[string]any{"operation": op}}
	}
	spec := map[string]any{"action": "ALLOW", "rules": []any{rule}}
	if x.App != "" {
		spec["selector"] = map[string]any{"matchLabels": map[string]any{infra.AppLabel: x.App}}
	}
	return spec
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// install installs Istio from its charts: base (the CRDs), cni, istiod,
// then the gateway, each after the one before. It returns istiod and the
// gateway, which Istio objects wait for (CRDs, webhooks, the gateway).
func (a *Args) install(ctx *pulumi.Context, name string, after func(...pulumi.Resource) []pulumi.ResourceOption) ([]pulumi.Resource, error) {
	chart := func(n string) helm.Chart { return helm.Chart{Repo: helm.IstioRepo, Name: n, Version: a.Version} }

	// base installs the CRDs; cni, istiod and the gateway follow in order.
	base, err := helm.Release(ctx, name+"-base", "istio-base", infra.NamespaceIstio, chart("base"), pulumi.Map{}, after()...)
	if err != nil {
		return nil, err
	}
	var cniVals cniValues
	cniVals.Global.Hub = ReleaseHub
	cniVals.CNI.Chained = true
	cniVals.CNI.ExcludeNSs = []string{infra.NamespaceIstio, "kube-system"}
	cniVals.CNI.SeccompProfile = seccomp{"RuntimeDefault"}
	vals, err := helm.Values(cniVals)
	if err != nil {
		return nil, err
	}
	cni, err := helm.Release(ctx, name+"-cni", "istio-cni", infra.NamespaceIstio, chart("cni"), vals, after(base)...)
	if err != nil {
		return nil, err
	}
	if vals, err = helm.Values(a.istiod()); err != nil {
		return nil, err
	}
	istiod, err := helm.Release(ctx, name+"-istiod", "istiod", infra.NamespaceIstio, chart("istiod"), vals, after(base, cni)...)
	if err != nil {
		return nil, err
	}
	// The gateway values need the resource group's name, an output.
	gwVals := a.IngressIPResourceGroup.ToStringOutput().ApplyT(func(rg string) (map[string]any, error) {
		return helm.PlainValues(a.gateway(rg))
	}).(pulumi.MapOutput)
	gateway, err := helm.Release(ctx, name+"-gateway", infra.IngressGatewayName, infra.NamespaceIngress, chart("gateway"), gwVals, after(istiod)...)
	if err != nil {
		return nil, err
	}
	return []pulumi.Resource{istiod, gateway}, nil
}

// meshConfigYAML renders mesh config for the add-on's shared ConfigMap.
func meshConfigYAML(m meshConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, "accessLogFile: %s\n", m.AccessLogFile)
	fmt.Fprintf(&b, "accessLogFormat: %q\n", m.AccessLogFormat)
	fmt.Fprintf(&b, "enablePrometheusMerge: %t\n", m.EnablePrometheusMerge)
	fmt.Fprintf(&b, "outboundTrafficPolicy:\n  mode: %s\n", m.OutboundTrafficPolicy.Mode)
	fmt.Fprintf(&b, "defaultConfig:\n  proxyMetadata:\n")
	keys := make([]string, 0, len(m.DefaultConfig.ProxyMetadata))
	for k := range m.DefaultConfig.ProxyMetadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "    %s: %q\n", k, m.DefaultConfig.ProxyMetadata[k])
	}
	return b.String()
}
