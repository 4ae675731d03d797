package stacks

import (
	"fmt"
	"slices"
	"strings"

	"github.com/fieldcert/moodle-aks/components/certs"
	"github.com/fieldcert/moodle-aks/components/mesh"
	"github.com/fieldcert/moodle-aks/components/namespaces"
	"github.com/fieldcert/moodle-aks/components/volumes"
	"github.com/fieldcert/moodle-aks/infra"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// access lists who may reach each data store and service in the mesh;
// everything else is denied. Namespaces' network policies allow the same
// flows one layer down.
func access(cfg *infra.Config) []mesh.Access {
	p := infra.Principal
	out := []mesh.Access{
		// No policy for the data stores: the data namespace is outside the
		// mesh (infra.MeshNamespaces), its flows allowed by network policy.
		// No policy for Prometheus: it has no sidecar (no mesh identity) and
		// scrapes the exporters through Istio's merged metrics on 15020,
		// which the sidecar serves outside the inbound listener that
		// AuthorizationPolicies govern.
		// Prometheus, Alertmanager and Grafana talk among themselves.
		{Name: "monitoring", Namespace: infra.NamespaceMonitoring, Namespaces: []string{infra.NamespaceMonitoring}},
	}
	// Each integration calls its own Moodle paths (the web service API by
	// default), with the site's hostname its sidecar sets.
	for _, n := range cfg.IntegrationNames() {
		out = append(out, mesh.Access{
			Name: "integration-" + n, Namespace: infra.NamespaceMoodle, App: infra.MoodleWebApp,
			Principals: []string{p(infra.NamespaceIntegrations, infra.IntegrationServiceAccount(n))},
			Ports:      []int{infra.MoodleWebPort}, Paths: cfg.Integrations[n].Paths(), Hosts: []string{cfg.Hostname},
		})
	}
	return out
}

// egress lists the outbound endpoints of each namespace: Moodle's own and
// the integrations' from config, and the backup account and Entra ID for
// the workloads that use workload identity.
func egress(cfg *infra.Config, backupHost string) ([]mesh.Egress, []int, []int) {
	var out []mesh.Egress
	var moodlePorts, integrationPorts []int
	moodleEgress := cfg.MoodleEgress
	if cfg.SMTPHost != "" {
		// Moodle's own mail goes through the stack's relay.
		moodleEgress = append(slices.Clone(moodleEgress), cfg.SMTPHost)
	}
	for _, s := range moodleEgress {
		e, _ := infra.ParseEndpoint(s) // validated by infra.Load
		out = append(out, mesh.Egress{Namespace: infra.NamespaceMoodle, Endpoint: e})
		moodlePorts = append(moodlePorts, e.Port)
	}
	for _, name := range cfg.IntegrationNames() {
		for _, s := range cfg.Integrations[name].Endpoints {
			e, _ := infra.ParseEndpoint(s)
			out = append(out, mesh.Egress{Namespace: infra.NamespaceIntegrations, Endpoint: e})
			integrationPorts = append(integrationPorts, e.Port)
		}
	}
	// The backup Jobs are in the data namespace, outside the mesh: their
	// egress is the namespace's network policy.
	for _, w := range []infra.Workload{infra.MigrationWorkload} {
		for _, h := range []string{backupHost, "login.microsoftonline.com"} {
			out = append(out, mesh.Egress{Namespace: w.Namespace, Endpoint: infra.Endpoint{Host: h, Port: 443}})
		}
	}
	// The old database, while a migration imports it.
	if m := cfg.Migration; m.Enabled() && m.ImportDatabase {
		out = append(out, mesh.Egress{Namespace: infra.MigrationWorkload.Namespace, Endpoint: infra.Endpoint{Host: m.DBHost, Port: m.DBPort}})
		moodlePorts = append(moodlePorts, m.DBPort)
	}
	// Share snapshots are an ARM call.
	out = append(out, mesh.Egress{Namespace: infra.BackupWorkload.Namespace, Endpoint: infra.Endpoint{Host: "management.azure.com", Port: 443}})
	// One ServiceEntry per namespace and endpoint.
	out = slices.CompactFunc(sortEgress(out), func(a, b mesh.Egress) bool { return a == b })
	slices.Sort(moodlePorts)
	slices.Sort(integrationPorts)
	return out, slices.Compact(moodlePorts), slices.Compact(integrationPorts)
}

// inCluster deploys the in-cluster platform through the cluster's provider.
func (r *Region) inCluster(ctx *pulumi.Context, cfg *infra.Config) error {
	names, subscription, shares := r.names, r.subscription, r.shares
	prod := cfg.Environment == infra.Prod
	k8s := pulumi.Providers(r.Cluster.Provider)
	eg, moodlePorts, integrationPorts := egress(cfg, names.StorageAccount("bkp")+".blob.core.windows.net")

	layout := cfg.Mesh()
	receivers, secretReceivers := Routing(cfg).Endpoints()
	ns, err := namespaces.New(ctx, "namespaces", &namespaces.Args{
		Mesh:                   layout,
		EndpointSubnet:         cfg.EndpointSubnetCIDR,
		MoodleEgressPorts:      moodlePorts,
		IntegrationEgressPorts: integrationPorts,
		CertManagerHosts:       certs.EgressHosts(cfg.ACMEChallenge),
		AlertReceivers:         receivers,
		SecretAlertReceivers:   secretReceivers,
		FQDNPolicies:           cfg.EgressFQDNFiltering,
	}, k8s)
	if err != nil {
		return fmt.Errorf("creating the namespaces: %w", err)
	}
	nsDeps := ns.Ready

	replicas, gwMin, gwMax := 1, 1, 3
	if prod {
		replicas, gwMin, gwMax = 2, 2, 10
	}
	m, err := mesh.New(ctx, "mesh", &mesh.Args{
		Layout:                 layout,
		Version:                cfg.IstioVersion,
		Hostname:               cfg.Hostname,
		IngressIPName:          r.Cluster.IngressIPName,
		IngressIPResourceGroup: r.Cluster.IngressIPResourceGroup,
		GatewayMinReplicas:     gwMin,
		GatewayMaxReplicas:     gwMax,
		IstiodReplicas:         replicas,
		HTTP01:                 cfg.ACMEChallenge == "http01",
		Egress:                 eg,
		Access:                 access(cfg),
		SiteHostClients:        []string{infra.NamespaceIntegrations},
		Namespaces:             nsDeps,
	}, k8s)
	if err != nil {
		return fmt.Errorf("installing the mesh: %w", err)
	}

	var dns *certs.AzureDNS
	if cfg.ACMEChallenge == "dns01" {
		dns = &certs.AzureDNS{
			SubscriptionID:    subscription,
			ZoneResourceGroup: cfg.DNSZoneResourceGroup,
			ZoneName:          cfg.DNSZoneName,
			ClientID:          r.Identities[infra.CertManagerWorkload.Name].ClientID,
		}
	}
	cs, err := certs.New(ctx, "certs", &certs.Args{
		Version:          cfg.CertManagerVersion,
		Hostname:         cfg.Hostname,
		Email:            cfg.ACMEEmail,
		Challenge:        cfg.ACMEChallenge,
		Environment:      cfg.ACMEEnvironment,
		DNS:              dns,
		Replicas:         replicas,
		Namespaces:       nsDeps,
		GatewayNamespace: layout.GatewayNamespace,
		Gateway:          m.Ready,
	}, k8s)
	if err != nil {
		return fmt.Errorf("installing cert-manager: %w", err)
	}

	var vs []volumes.Share
	for _, s := range shares {
		v := volumes.Share{Name: s.Name, QuotaGiB: s.QuotaGiB, Namespace: infra.NamespaceMoodle}
		if s.Name == MoodledataShare {
			v.ReadOnlyIn = infra.NamespaceData // the backup Job copies its content store
		}
		vs = append(vs, v)
	}
	vol, err := volumes.New(ctx, "volumes", &volumes.Args{
		ResourceGroup:     names.ResourceGroup(),
		DiskResourceGroup: names.DiskResourceGroup(),
		StorageAccount:    names.StorageAccount("files"),
		Shares:            vs,
		ZoneRedundant:     len(cfg.Zones) > 0,
		Protection:        cfg.DataProtection,
		DependsOn:         append(slices.Clone(nsDeps), r.Files.Shares...),
	}, k8s)
	if err != nil {
		return fmt.Errorf("creating the volumes: %w", err)
	}
	r.Namespaces, r.Mesh, r.Certificates, r.Volumes = ns, m, cs, vol
	return nil
}

func sortEgress(es []mesh.Egress) []mesh.Egress {
	slices.SortStableFunc(es, func(a, b mesh.Egress) int {
		if a.Namespace != b.Namespace {
			return strings.Compare(a.Namespace, b.Namespace)
		}
		return strings.Compare(a.Endpoint.String(), b.Endpoint.String())
	})
	return es
}
