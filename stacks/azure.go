package stacks

import (
	"fmt"

	"github.com/fieldcert/moodle-aks/components/aks"
	"github.com/fieldcert/moodle-aks/components/audit"
	"github.com/fieldcert/moodle-aks/components/dns"
	"github.com/fieldcert/moodle-aks/components/identity"
	"github.com/fieldcert/moodle-aks/components/network"
	"github.com/fieldcert/moodle-aks/components/resourcegroup"
	"github.com/fieldcert/moodle-aks/components/storage"
	"github.com/fieldcert/moodle-aks/infra"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// azurePlatform creates the region's Azure resources: resource group,
// network, AKS, file and backup storage, workload identities, DNS record.
func (r *Region) azurePlatform(ctx *pulumi.Context, cfg *infra.Config) error {
	names, subscription := r.names, r.subscription
	tags := infra.Tags(cfg)
	prod := cfg.Environment == infra.Prod

	rg, err := resourcegroup.New(ctx, "region", &resourcegroup.Args{
		Name:     names.ResourceGroup(),
		Location: cfg.Region,
		Tags:     tags,
		// Deleting the group deletes the data in it.
		Protection: cfg.DataProtection,
	}, r.azure)
	if err != nil {
		return fmt.Errorf("creating the region's resource group: %w", err)
	}

	// The audit trail, in the stack's region: first, so that the cluster's
	// Defender profile can name its workspace.
	var trail *audit.Trail
	if cfg.AuditLogs {
		trail, err = audit.New(ctx, "audit", &audit.Args{
			ResourceGroupName: rg.Name,
			Location:          cfg.Region,
			Name:              names.LogWorkspace(),
			RetentionDays:     cfg.AuditLogRetentionDays,
			Protect:           prod,
			Tags:              tags,
		}, r.azure)
		if err != nil {
			return fmt.Errorf("creating the audit trail: %w", err)
		}
	}
	var defenderWorkspace pulumi.StringInput
	if cfg.DefenderForContainers {
		defenderWorkspace = trail.WorkspaceID
	}

	// The data disks' own group (MySQL, Redis): AKS deletes the node
	// resource group with the cluster, and every disk the CSI driver made
	// there by default with it. Locked in prod.
	disks, err := resourcegroup.New(ctx, "data-disks", &resourcegroup.Args{
		Name:       names.DiskResourceGroup(),
		Location:   cfg.Region,
		Tags:       tags,
		Protection: cfg.DataProtection,
		Lock:       prod,
	}, r.azure)
	if err != nil {
		return fmt.Errorf("creating the data disks' resource group: %w", err)
	}

	net, err := network.New(ctx, "network", &network.Args{
		ResourceGroupName: rg.Name,
		Location:          cfg.Region,
		Name:              names.VNet(),
		AddressSpace:      cfg.VnetCIDR,
		NodeSubnet:        cfg.NodeSubnetCIDR,
		EndpointSubnet:    cfg.EndpointSubnetCIDR,
		Tags:              tags,
	}, r.azure)
	if err != nil {
		return fmt.Errorf("creating the network: %w", err)
	}

	var jobs *aks.Pool
	var integrationsPool *aks.Pool
	if p := cfg.IntegrationsPool; p.Enabled {
		integrationsPool = &aks.Pool{VMSize: p.VMSize, MinCount: p.MinCount, MaxCount: p.MaxCount}
	}
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
	if cfg.KubernetesSupportPlan == infra.SupportLTS {
		tier = "Premium" // AKS offers long-term support on Premium only
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
		IntegrationsPool:     integrationsPool,
		NodeSubnetID:         net.NodeSubnetID,
		PodCIDR:              cfg.PodCIDR,
		ServiceCIDR:          cfg.ServiceCIDR,
		DNSServiceIP:         cfg.DNSServiceIP,
		Tier:                 tier,
		SupportPlan:          cfg.KubernetesSupportPlan,
		FQDNPolicies:         cfg.EgressFQDNFiltering,
		DisableLocalAccounts: prod,
		AdminGroupObjectIDs:  cfg.AKSAdminGroupObjectIDs,
		AuthorizedIPRanges:   cfg.APIServerAuthorizedIPRanges,
		PrivateCluster:       cfg.PrivateCluster,
		UpgradeChannel:       cfg.UpgradeChannel,
		Maintenance:          cfg.MaintenanceWindow,
		ContainerRegistryID:  cfg.ContainerRegistryID,
		IngressIPName:        ingressIP,
		ServiceMeshRevision:  meshRevision,
		DiskResourceGroupID:  disks.ID.ToStringOutput(),
		Protect:              prod,
		SubscriptionID:       subscription,
		Tags:                 tags,
		DefenderWorkspaceID:  defenderWorkspace,
		AzurePolicy:          cfg.AzurePolicyAddon,
	}, r.azure)
	if err != nil {
		return fmt.Errorf("creating the AKS cluster: %w", err)
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
		SoftDeleteDays:    cfg.BackupRetentionDays,
		Tags:              tags,
	}, r.azure)
	if err != nil {
		return fmt.Errorf("creating the file store: %w", err)
	}

	backups, err := storage.NewBackupStore(ctx, "backups", &storage.BackupStoreArgs{
		ResourceGroupName: rg.Name,
		AccountName:       names.StorageAccount("bkp"),
		Location:          cfg.Region,
		Replication:       cfg.BackupReplication,
		RetentionDays:     cfg.BackupRetentionDays,
		Protection:        cfg.DataProtection,
		Lock:              prod,
		Tags:              tags,
		PrivateEndpoint:   endpoint,
	}, r.azure)
	if err != nil {
		return fmt.Errorf("creating the backup store: %w", err)
	}

	if trail != nil {
		service := func(id pulumi.IDOutput, svc string) pulumi.StringInput {
			return pulumi.Sprintf("%s/%s/default", id, svc)
		}
		if err := trail.Send(ctx, "audit",
			audit.Source{Name: "cluster", ResourceURI: cluster.ID.ToStringOutput(), Categories: audit.ClusterCategories},
			audit.Source{Name: "backups-blobs", ResourceURI: service(backups.AccountID, "blobServices"), Categories: audit.StorageCategories},
			audit.Source{Name: "files-shares", ResourceURI: service(files.AccountID, "fileServices"), Categories: audit.StorageCategories},
		); err != nil {
			return err
		}
	}

	// Workload identities: each federated with one service account and
	// granted one role on one resource.
	// The backup identity may write and read backups but not delete them
	// (BackupWriterRole), and snapshot the moodledata share through ARM
	// (ShareSnapshotRole): no Storage Account Contributor (keys, network
	// rules, the account itself), no blob delete.
	grants := map[string][]identity.Grant{
		infra.BackupWorkload.Name: {
			{Custom: backupWriterRole(names, rg.ID.ToStringOutput()), Scope: backups.AccountID.ToStringOutput(), What: "backups"},
			{Custom: shareSnapshotRole(names, rg.ID.ToStringOutput()), Scope: files.AccountID.ToStringOutput(), What: "files"},
		},
	}
	workloads := []infra.Workload{infra.BackupWorkload}
	if cfg.Migration.Enabled() {
		// Only while a migration is configured, and read-only.
		grants[infra.MigrationWorkload.Name] = []identity.Grant{{Role: identity.RoleStorageBlobDataReader, Scope: backups.AccountID.ToStringOutput(), What: "backups"}}
		workloads = append(workloads, infra.MigrationWorkload)
	}
	if cfg.DNSZoneName != "" {
		site, err := dns.New(ctx, "site", &dns.Args{
			ZoneName:          cfg.DNSZoneName,
			ZoneResourceGroup: cfg.DNSZoneResourceGroup,
			Hostname:          cfg.Hostname,
			TTLSeconds:        cfg.DNSTTLSeconds,
			Target:            cluster.IngressIPID.ToStringOutput(),
			ACMEChallenge:     cfg.ACMEChallenge,
			CAAIssuers:        cfg.DNSCAAIssuers,
		}, r.azure)
		if err != nil {
			return fmt.Errorf("creating the site's DNS record: %w", err)
		}
		if site.HasChallengeRecord {
			// DNS Zone Contributor on the one challenge record set of this
			// stack's hostname, not the zone: the zone is shared by every
			// region, and a role on it could repoint the other region's
			// site or answer its challenges (record-set-level Azure RBAC:
			// https://learn.microsoft.com/azure/dns/dns-protect-zones-recordsets).
			grants[infra.CertManagerWorkload.Name] = []identity.Grant{{Role: identity.RoleDNSZoneContributor, Scope: site.ChallengeRecordID, What: "acme-challenge"}}
			workloads = append(workloads, infra.CertManagerWorkload)
		}
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
		}, r.azure)
		if err != nil {
			return fmt.Errorf("creating the %s identity: %w", w.Name, err)
		}
		ids[w.Name] = id
	}

	r.ResourceGroup, r.Network, r.Cluster, r.Files, r.BackupStore, r.Identities = rg, net, cluster, files, backups, ids
	r.shares = shares
	return nil
}
