// Package stacks composes one region stack from the components. It is the
// only package that reads stack config: it loads it once through infra and
// hands each component the typed values it needs.
package stacks

import (
	"fmt"

	"github.com/fieldcert/moodle-aks/components/aks"
	"github.com/fieldcert/moodle-aks/components/backup"
	"github.com/fieldcert/moodle-aks/components/certs"
	"github.com/fieldcert/moodle-aks/components/dns"
	"github.com/fieldcert/moodle-aks/components/identity"
	"github.com/fieldcert/moodle-aks/components/integrations"
	"github.com/fieldcert/moodle-aks/components/mesh"
	"github.com/fieldcert/moodle-aks/components/monitoring"
	"github.com/fieldcert/moodle-aks/components/moodle"
	"github.com/fieldcert/moodle-aks/components/mysql"
	"github.com/fieldcert/moodle-aks/components/namespaces"
	"github.com/fieldcert/moodle-aks/components/network"
	"github.com/fieldcert/moodle-aks/components/redis"
	"github.com/fieldcert/moodle-aks/components/resourcegroup"
	"github.com/fieldcert/moodle-aks/components/storage"
	"github.com/fieldcert/moodle-aks/components/volumes"
	"github.com/fieldcert/moodle-aks/infra"
	"github.com/pulumi/pulumi-azure-native-sdk/authorization/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Program is the Pulumi program of a region stack: main.go runs it under
// the engine, cmd/render and the tests under mocks.
func Program(ctx *pulumi.Context) error {
	cfg, err := LoadConfig(ctx)
	if err != nil {
		// Nothing is registered before the config is valid.
		return err
	}
	_, err = NewRegion(ctx, cfg)
	return err
}

// LoadConfig reads the stack's config (namespace infra.Project) into the
// typed, validated infra.Config.
func LoadConfig(ctx *pulumi.Context) (*infra.Config, error) {
	return infra.Load(ctx.Project(), ctx.Stack(), ctxSource{ctx})
}

// ctxSource reads config from the Pulumi context.
type ctxSource struct{ ctx *pulumi.Context }

func (s ctxSource) Get(key string) (string, bool) { return s.ctx.GetConfig(infra.Project + ":" + key) }
func (s ctxSource) IsSecret(key string) bool      { return s.ctx.IsConfigSecret(infra.Project + ":" + key) }

// Region is everything one region stack creates.
type Region struct {
	// ResourceGroup holds every Azure resource of the region.
	ResourceGroup *resourcegroup.ResourceGroup
	// Network is the VNet with the node and private endpoint subnets.
	Network *network.Network
	// Cluster is the AKS cluster; Cluster.Provider deploys into it.
	Cluster *aks.Cluster
	// Files holds moodledata (and add-on code) on NFS.
	Files *storage.FileStore
	// BackupStore is the region's backup storage account.
	BackupStore *storage.BackupStore
	// Identities are the workload identities, by infra.Workload name.
	Identities map[string]*identity.WorkloadIdentity
	// Namespaces, Mesh, Certificates and Volumes run inside the cluster.
	Namespaces   *namespaces.Namespaces
	Mesh         *mesh.Mesh
	Certificates *certs.Certificates
	Volumes      *volumes.Volumes
	// MySQL, Redis and Backups are the data tier.
	MySQL   *mysql.MySQL
	Redis   *redis.Redis
	Backups *backup.Backups
	// Moodle and Integrations are the applications.
	Moodle       *moodle.Moodle
	Integrations *integrations.Integrations
	// Monitoring is Prometheus, Alertmanager and Grafana.
	Monitoring *monitoring.Monitoring
}

// Share names on the file store.
const (
	MoodledataShare = "moodledata"
	AddonsShare     = "addons"
)

// NewRegion creates a region stack's resources from its config. Read it
// top to bottom: group, network, cluster, storage, identities, DNS, then
// inside the cluster: namespaces, mesh, certificates, volumes.
func NewRegion(ctx *pulumi.Context, cfg *infra.Config) (*Region, error) {
	names := infra.NewNames(cfg)
	tags := infra.Tags(cfg)
	prod := cfg.Environment == infra.Prod
	client, err := authorization.GetClientConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the Azure client config: %w", err)
	}
	subscription := pulumi.String(client.SubscriptionId)

	rg, err := resourcegroup.New(ctx, "region", &resourcegroup.Args{
		Name:     names.ResourceGroup(),
		Location: cfg.Region,
		Tags:     tags,
		// Deleting the group deletes the data in it.
		Protection: cfg.DataProtection,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the region's resource group: %w", err)
	}

	net, err := network.New(ctx, "network", &network.Args{
		ResourceGroupName: rg.Name,
		Location:          cfg.Region,
		Name:              names.VNet(),
		AddressSpace:      cfg.VnetCIDR,
		NodeSubnet:        cfg.NodeSubnetCIDR,
		EndpointSubnet:    cfg.EndpointSubnetCIDR,
		Tags:              tags,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the network: %w", err)
	}

	var jobs *aks.Pool
	if cfg.JobsPool.Enabled {
		jobs = &aks.Pool{VMSize: cfg.JobsPool.VMSize, MinCount: cfg.JobsPool.MinCount, MaxCount: cfg.JobsPool.MaxCount}
	}
	// Istio from its charts gets the static ingress IP; the AKS add-on
	// brings its own gateway and IP.
	ingressIP, meshRevision := names.IngressIP(), ""
	if layout := cfg.Mesh(); layout.Addon {
		ingressIP, meshRevision = "", layout.Revision
	}
	tier := "Free"
	if prod {
		tier = "Standard" // uptime SLA
	}
	cluster, err := aks.New(ctx, "aks", &aks.Args{
		ResourceGroupName:    rg.Name,
		Location:             cfg.Region,
		Name:                 names.Cluster(),
		DNSPrefix:            names.DNSPrefix(),
		NodeResourceGroup:    names.NodeResourceGroup(),
		KubernetesVersion:    cfg.KubernetesVersion,
		Zones:                cfg.Zones,
		SystemPool:           aks.Pool(cfg.SystemPool),
		UserPool:             aks.Pool(cfg.UserPool),
		JobsPool:             jobs,
		NodeSubnetID:         net.NodeSubnetID,
		PodCIDR:              cfg.PodCIDR,
		ServiceCIDR:          cfg.ServiceCIDR,
		DNSServiceIP:         cfg.DNSServiceIP,
		Tier:                 tier,
		DisableLocalAccounts: prod,
		AdminGroupObjectIDs:  cfg.AKSAdminGroupObjectIDs,
		AuthorizedIPRanges:   cfg.APIServerAuthorizedIPRanges,
		PrivateCluster:       cfg.PrivateCluster,
		UpgradeChannel:       cfg.UpgradeChannel,
		Maintenance:          cfg.MaintenanceWindow,
		IngressIPName:        ingressIP,
		ServiceMeshRevision:  meshRevision,
		SubscriptionID:       subscription,
		Tags:                 tags,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the AKS cluster: %w", err)
	}

	endpoint := &storage.Endpoint{SubnetID: net.EndpointSubnetID, VNetID: net.VNetID.ToStringOutput()}
	shares := []storage.Share{{Name: MoodledataShare, QuotaGiB: cfg.MoodledataQuotaGiB}}
	if cfg.PluginMode == "share" {
		shares = append(shares, storage.Share{Name: AddonsShare, QuotaGiB: storage.MinShareGiB})
	}
	fileReplication := "LRS"
	if len(cfg.Zones) > 0 {
		fileReplication = "ZRS" // moodledata survives the loss of a zone
	}
	files, err := storage.NewFileStore(ctx, "files", &storage.FileStoreArgs{
		ResourceGroupName: rg.Name,
		AccountName:       names.StorageAccount("files"),
		Location:          cfg.Region,
		Replication:       fileReplication,
		Shares:            shares,
		PrivateEndpoint:   endpoint,
		Protection:        cfg.DataProtection,
		Tags:              tags,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the file store: %w", err)
	}

	backups, err := storage.NewBackupStore(ctx, "backups", &storage.BackupStoreArgs{
		ResourceGroupName: rg.Name,
		AccountName:       names.StorageAccount("bkp"),
		Location:          cfg.Region,
		Replication:       cfg.BackupReplication,
		RetentionDays:     cfg.BackupRetentionDays,
		Protection:        cfg.DataProtection,
		Tags:              tags,
		PrivateEndpoint:   endpoint,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the backup store: %w", err)
	}

	// Workload identities: each federated with one service account and
	// granted one role on one resource.
	grants := map[string][]identity.Grant{
		infra.BackupWorkload.Name: {
			{Role: identity.RoleStorageBlobDataContributor, Scope: backups.AccountID.ToStringOutput(), What: "backups"},
			// Snapshots of the moodledata share go through ARM.
			{Role: identity.RoleStorageAccountContributor, Scope: files.AccountID.ToStringOutput(), What: "files"},
		},
		infra.MigrationWorkload.Name: {{Role: identity.RoleStorageBlobDataContributor, Scope: backups.AccountID.ToStringOutput(), What: "backups"}},
	}
	workloads := []infra.Workload{infra.BackupWorkload, infra.MigrationWorkload}
	if cfg.DNSZoneName != "" {
		zoneID := pulumi.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/dnszones/%s",
			subscription, cfg.DNSZoneResourceGroup, cfg.DNSZoneName)
		grants[infra.CertManagerWorkload.Name] = []identity.Grant{{Role: identity.RoleDNSZoneContributor, Scope: zoneID, What: "dns-zone"}}
		workloads = append(workloads, infra.CertManagerWorkload)
	}
	ids := map[string]*identity.WorkloadIdentity{}
	for _, w := range workloads {
		id, err := identity.New(ctx, w.Name+"-identity", &identity.Args{
			ResourceGroupName: rg.Name,
			Location:          cfg.Region,
			Name:              names.Identity(w.Name),
			Tags:              tags,
			SubscriptionID:    subscription,
			Issuer:            cluster.OIDCIssuerURL,
			Namespace:         w.Namespace,
			ServiceAccount:    w.ServiceAccount,
			Grants:            grants[w.Name],
		})
		if err != nil {
			return nil, fmt.Errorf("creating the %s identity: %w", w.Name, err)
		}
		ids[w.Name] = id
	}

	if cfg.DNSZoneName != "" {
		if _, err := dns.New(ctx, "site", &dns.Args{
			ZoneName:          cfg.DNSZoneName,
			ZoneResourceGroup: cfg.DNSZoneResourceGroup,
			Hostname:          cfg.Hostname,
			TTLSeconds:        cfg.DNSTTLSeconds,
			Target:            cluster.IngressIPID.ToStringOutput(),
		}); err != nil {
			return nil, fmt.Errorf("creating the site's DNS record: %w", err)
		}
	}

	region := &Region{ResourceGroup: rg, Network: net, Cluster: cluster, Files: files, BackupStore: backups, Identities: ids}
	if err := region.inCluster(ctx, cfg, names, subscription, shares); err != nil {
		return nil, err
	}
	if err := region.dataTier(ctx, cfg, names, subscription); err != nil {
		return nil, err
	}
	if err := region.monitoring(ctx, cfg); err != nil {
		return nil, err
	}
	if err := region.applications(ctx, cfg); err != nil {
		return nil, err
	}

	ctx.Export("region", pulumi.String(cfg.Region))
	ctx.Export("residency", pulumi.String(cfg.Residency))
	ctx.Export("resourceGroupName", rg.Name)
	ctx.Export("clusterName", cluster.Name)
	ctx.Export("ingressIpAddress", cluster.IngressIPAddress)
	ctx.Export("nfsServer", files.NFSServer)
	ctx.Export("backupAccountName", backups.AccountName)
	return region, nil
}
