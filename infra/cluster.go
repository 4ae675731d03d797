package infra

// The cluster's layout: namespaces, the names and ports of the services
// that the in-cluster components create and that other components (mesh
// routing, authorization, network policy, monitoring) refer to. One place,
// so a rename cannot leave a policy pointing at nothing.
const (
	NamespaceIstio        = "istio-system"
	NamespaceIngress      = "istio-ingress"
	NamespaceCertManager  = "cert-manager"
	NamespaceMoodle       = "moodle"
	NamespaceData         = "data"
	NamespaceIntegrations = "integrations"
	NamespaceMonitoring   = "monitoring"

	// MoodleWebService fronts the Moodle web pods on MoodleWebPort.
	MoodleWebService = "moodle-web"
	MoodleWebPort    = 8080
	// MySQLService and RedisService are the data stores in NamespaceData.
	MySQLService = "mysql"
	MySQLPort    = 3306
	RedisService = "redis"
	RedisPort    = 6379
	// Exporter ports Prometheus scrapes.
	MySQLExporterPort = 9104
	RedisExporterPort = 9121

	// Service accounts of the workloads that talk to the data stores.
	MoodleWebServiceAccount   = "moodle-web"
	MoodleCronServiceAccount  = "moodle-cron"
	MoodleAdminServiceAccount = "moodle-admin" // upgrade, install and maintenance jobs
	PrometheusServiceAccount  = "prometheus"

	// AppLabel is the pod label that names a workload; the mesh's
	// authorization policies select pods by it.
	AppLabel     = "app"
	MoodleWebApp = "moodle-web"
	MySQLApp     = "mysql"
	RedisApp     = "redis"

	// SiteTLSSecret holds the site certificate in NamespaceIngress, where
	// the ingress gateway reads it.
	SiteTLSSecret = "moodle-tls"
	// IngressGatewayName is the gateway's Helm release and pod label
	// (istio: ingressgateway).
	IngressGatewayName = "istio-ingressgateway"
)

// Namespaces lists every namespace the program creates, in creation order.
var Namespaces = []string{
	NamespaceIstio, NamespaceIngress, NamespaceCertManager,
	NamespaceMoodle, NamespaceData, NamespaceIntegrations, NamespaceMonitoring,
}

// MeshNamespaces are the namespaces whose pods get Istio sidecars: Moodle,
// its data stores, the integrations and monitoring.
var MeshNamespaces = []string{NamespaceMoodle, NamespaceData, NamespaceIntegrations, NamespaceMonitoring}

// Principal returns the SPIFFE-style principal Istio authorization
// policies use for a service account.
func Principal(namespace, serviceAccount string) string {
	return "cluster.local/ns/" + namespace + "/sa/" + serviceAccount
}
