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
	// NamespaceNodeExporter holds the node exporter alone: it reads the
	// host (host network and PID, hostPath), which only a privileged
	// namespace admits, and nothing else should run at that level.
	NamespaceNodeExporter = "monitoring-nodes"

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

	// Redis runs twice: sessions (never evicts, may persist) and the
	// Moodle application cache (evicts least recently used, never persists).
	RedisSessionsService = "redis-sessions"
	RedisCacheService    = "redis-cache"

	// MoodleDBSecret in NamespaceMoodle holds Moodle's database settings
	// (host, port, name, user, password); RedisSecret its Redis passwords.
	MoodleDBSecret    = "moodle-db"
	MoodleRedisSecret = "moodle-redis"
	MoodleDatabase    = "moodle"
	MoodleDBUser      = "moodle"

	// AlertLabel on a Job or CronJob routes its failures to an alert
	// (values "backup", "cron", "integration"); SeverityLabel sets the
	// alert's severity ("critical", "warning").
	AlertLabel    = "moodle.fieldcert/alert"
	SeverityLabel = "moodle.fieldcert/severity"

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
	NamespaceMoodle, NamespaceData, NamespaceIntegrations, NamespaceMonitoring, NamespaceNodeExporter,
}

// MeshNamespaces are the namespaces labelled for Istio sidecars: Moodle,
// the integrations and monitoring (whose pods opt out one by one).
//
// The data namespace is outside the mesh: its operators' protocols go
// around Services (group replication on 33061 and the Redis cluster bus
// from pod to pod, HAProxy's checks of each member, clients redirected to a
// Redis node's own address), which Istio's STRICT mutual TLS and
// REGISTRY_ONLY egress would each need declared in a Service the operators
// do not create, and a failover would wait for the sidecars to learn a new
// pod address. Its traffic is TLS from the stores themselves (the data
// tier CA) and allowed by network policy only.
var MeshNamespaces = []string{NamespaceMoodle, NamespaceIntegrations, NamespaceMonitoring}

// Ports of the replicated data tier (components/mysql, components/redis).
const (
	// MySQLReadPort is the proxy's port to the secondaries.
	MySQLReadPort = 3307
	// MySQLXPort, MySQLGroupPort and MySQLAdminPort are the members' X
	// protocol, group replication and admin ports; MySQLSidecarPort the
	// backup sidecar's (Percona operator v1.1.0, pkg/mysql/mysql.go).
	MySQLXPort       = 33060
	MySQLGroupPort   = 33061
	MySQLAdminPort   = 33062
	MySQLSidecarPort = 6450
	// HAProxyMetricsPort serves HAProxy's Prometheus endpoint.
	HAProxyMetricsPort = 8404
	// RedisBusPort is the Redis Cluster bus (RedisPort + 10000).
	RedisBusPort = 16379
)

// DataPeerPorts are what the data tier's pods open to each other: clients
// and the proxy to the members, group replication, the operators' admin
// connections, the Redis Cluster's nodes.
var DataPeerPorts = []int{MySQLPort, MySQLReadPort, MySQLXPort, MySQLGroupPort, MySQLAdminPort, MySQLSidecarPort, RedisPort, RedisBusPort}

// DataClientPorts are what Moodle opens to the data tier: the proxy's write
// and read ports, Redis (each cluster node, and the cache).
var DataClientPorts = []int{MySQLPort, MySQLReadPort, RedisPort}

// DataMetricsPorts are the data tier's exporters Prometheus scrapes.
var DataMetricsPorts = []int{MySQLExporterPort, HAProxyMetricsPort, RedisExporterPort}

// Principal returns the SPIFFE-style principal Istio authorization
// policies use for a service account.
func Principal(namespace, serviceAccount string) string {
	return "cluster.local/ns/" + namespace + "/sa/" + serviceAccount
}

// MeshLayout says where the mesh's parts live, which differs between
// Istio from its charts and the AKS add-on.
type MeshLayout struct {
	// Addon is true with the AKS Istio add-on.
	Addon bool
	// Revision is the add-on's revision ("" with the charts).
	Revision string
	// ControlPlaneNamespace holds istiod and the mesh-wide policies.
	ControlPlaneNamespace string
	// GatewayNamespace holds the ingress gateway, its Gateway and the site
	// certificate's secret.
	GatewayNamespace string
	// GatewayApp is the gateway pods' "istio" label value and service account.
	GatewayApp string
	// InjectionLabel turns on sidecar injection for a namespace.
	InjectionLabel map[string]string
}

// Mesh returns the mesh layout of the stack.
func (c *Config) Mesh() MeshLayout {
	if c.IstioMode == "aks-addon" {
		return MeshLayout{
			Addon: true, Revision: c.IstioAddonRevision,
			ControlPlaneNamespace: "aks-istio-system", GatewayNamespace: "aks-istio-ingress",
			GatewayApp:     "aks-istio-ingressgateway-external",
			InjectionLabel: map[string]string{"istio.io/rev": c.IstioAddonRevision},
		}
	}
	return MeshLayout{
		ControlPlaneNamespace: NamespaceIstio, GatewayNamespace: NamespaceIngress,
		GatewayApp:     IngressGatewayName,
		InjectionLabel: map[string]string{"istio-injection": "enabled"},
	}
}

// GatewayLabel is the "istio" label value of the gateway pods.
func (m MeshLayout) GatewayLabel() string {
	if m.Addon {
		return m.GatewayApp
	}
	return "ingressgateway"
}

// Namespaces returns the namespaces the program creates for this layout:
// all of Namespaces, less those the AKS add-on manages itself.
func (m MeshLayout) Namespaces() []string {
	if !m.Addon {
		return Namespaces
	}
	var out []string
	for _, n := range Namespaces {
		if n != NamespaceIstio && n != NamespaceIngress {
			out = append(out, n)
		}
	}
	return out
}
