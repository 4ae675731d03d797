// Package aks provides the region's AKS cluster: an autoscaled system pool,
// an autoscaled user pool for Moodle and its data stores, an optional jobs
// pool that scales to zero, Entra ID with Azure RBAC, workload identity,
// Azure CNI overlay with Cilium, the CSI drivers, planned upgrades, a
// static ingress IP, and a Kubernetes provider for the in-cluster
// components.
package aks

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"

	"github.com/fieldcert/moodle-aks/components/identity"
	"github.com/fieldcert/moodle-aks/components/internal/argcheck"
	"github.com/fieldcert/moodle-aks/infra"
	"github.com/pulumi/pulumi-azure-native-sdk/authorization/v2"
	cs "github.com/pulumi/pulumi-azure-native-sdk/containerservice/v2/v20241001"
	"github.com/pulumi/pulumi-azure-native-sdk/network/v2"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the component's type; with the child names it forms URNs.
const TypeToken = "moodle:aks:Cluster"

// Node labels and taints that steer workloads to pools.
const (
	// PoolLabel is the node label that names a pool's role.
	PoolLabel = "moodle.fieldcert/pool"
	// SystemTaint keeps everything but critical add-ons off system nodes.
	SystemTaint = "CriticalAddonsOnly=true:NoSchedule"
	// JobsTaint keeps everything but jobs that tolerate it off the jobs pool.
	JobsTaint = "moodle.fieldcert/pool=jobs:NoSchedule"
	// IntegrationsTaint keeps everything but the integrations off theirs.
	IntegrationsTaint = "moodle.fieldcert/pool=integrations:NoSchedule"
)

// RoleAcrPull pulls images from a container registry (Azure built-in role).
const RoleAcrPull = "7f951dda-4ed3-4680-a7ca-43fe172d538d"

var (
	vmSizeRE  = regexp.MustCompile(`^Standard_[A-Za-z0-9_]+$`)
	versionRE = regexp.MustCompile(`^1\.\d+(\.\d+)?$`)
)

// Pool sizes one autoscaled node pool.
type Pool struct {
	// VMSize is the Azure VM size (required).
	VMSize string
	// MinCount is the fewest nodes (system pool: at least 1).
	MinCount int
	// MaxCount is the most nodes (at most 1000).
	MaxCount int
}

// Args configures a Cluster.
type Args struct {
	// ResourceGroupName is the group the cluster lives in (required).
	ResourceGroupName pulumi.StringInput
	// Location is the ARM region (required).
	Location string
	// Name is the cluster's Azure name (required; infra.Names.Cluster).
	Name string
	// DNSPrefix is the API server's DNS prefix (required; infra.Names.DNSPrefix).
	DNSPrefix string
	// NodeResourceGroup names the group AKS creates for nodes (required).
	NodeResourceGroup string
	// KubernetesVersion is "1.MINOR" or "1.MINOR.PATCH" (required).
	KubernetesVersion string
	// Zones are the availability zones of every pool (optional).
	Zones []string
	// SystemPool runs critical add-ons only (required).
	SystemPool Pool
	// UserPool runs Moodle, its data stores and the platform (required).
	UserPool Pool
	// JobsPool runs cron, backup and migration jobs; nil: no jobs pool.
	JobsPool *Pool
	// IntegrationsPool runs the third-party integrations alone; nil: none.
	IntegrationsPool *Pool
	// NodeSubnetID is the ARM ID of the node subnet (required).
	NodeSubnetID pulumi.StringInput
	// PodCIDR, ServiceCIDR and DNSServiceIP configure CNI overlay (required).
	PodCIDR, ServiceCIDR, DNSServiceIP string
	// Tier is the SKU tier: "Standard" (uptime SLA, prod), "Free", or
	// "Premium" (required with long-term support) (required).
	Tier string
	// SupportPlan is "KubernetesOfficial" (default when empty) or
	// "AKSLongTermSupport", which AKS offers on the Premium tier only.
	SupportPlan string
	// FQDNPolicies turns on the security part of Advanced Container
	// Networking Services, without which AKS's Cilium refuses FQDN
	// (toFQDNs) and L7 policies; observability stays off.
	FQDNPolicies bool
	// DisableLocalAccounts leaves Entra ID as the only way in (prod).
	DisableLocalAccounts bool
	// AdminGroupObjectIDs get cluster admin through Azure RBAC.
	AdminGroupObjectIDs []string
	// AuthorizedIPRanges may reach the API server; required unless PrivateCluster.
	AuthorizedIPRanges []string
	// PrivateCluster makes the API server private.
	PrivateCluster bool
	// UpgradeChannel is "patch", "stable", "rapid" or "none" (required).
	UpgradeChannel string
	// Maintenance is the weekly window for Kubernetes and node OS upgrades.
	Maintenance infra.MaintenanceWindow
	// ContainerRegistryID is the ARM ID of the Azure Container Registry the
	// images come from; the kubelet identity gets AcrPull on it, scoped to
	// that registry (optional: "" when every image is public).
	ContainerRegistryID string
	// IngressIPName names the ingress gateway's static public IP; empty
	// with the Istio add-on, whose gateway gets an AKS-managed IP.
	IngressIPName string
	// ServiceMeshRevision turns on the AKS Istio add-on at that revision
	// ("asm-1-30") with an external ingress gateway; empty: no add-on
	// (Istio comes from its charts).
	ServiceMeshRevision string
	// DiskResourceGroupID is the group the disk CSI driver creates data
	// disks in (the volumes' StorageClasses name it): the control plane's
	// identity gets Contributor there, on nothing else (optional).
	DiskResourceGroupID pulumi.StringInput
	// Protect makes Pulumi refuse to delete or replace the cluster (prod):
	// deleting it deletes its node resource group and everything in it.
	Protect bool
	// SubscriptionID completes role definition IDs (required).
	SubscriptionID pulumi.StringInput
	// Tags go on every Azure resource (required: infra.Tags).
	Tags map[string]string
	// DefenderWorkspaceID, when set, turns on the Microsoft Defender
	// profile (runtime threat detection), reporting to that Log Analytics
	// workspace.
	DefenderWorkspaceID pulumi.StringInput
	// AzurePolicy turns on the Azure Policy add-on (Gatekeeper).
	AzurePolicy bool
}

// Cluster is the AKS cluster with its pools, identity and provider.
type Cluster struct {
	pulumi.ResourceState

	// Name is the cluster's Azure name.
	Name pulumi.StringOutput
	// ID is the cluster's ARM ID.
	ID pulumi.IDOutput
	// OIDCIssuerURL federates workload identities.
	OIDCIssuerURL pulumi.StringOutput
	// KubeletObjectID is the kubelet identity, for AcrPull on a registry.
	KubeletObjectID pulumi.StringOutput
	// IngressIPAddress is the ingress gateway's static public address.
	IngressIPAddress pulumi.StringOutput
	// IngressIPID is the ARM ID of that public IP, for DNS alias records.
	IngressIPID pulumi.IDOutput
	// IngressIPName and IngressIPResourceGroup go in the gateway Service's
	// azure-pip-name and azure-load-balancer-resource-group annotations.
	IngressIPName string
	// IngressIPResourceGroup is the group that holds the ingress IP.
	IngressIPResourceGroup pulumi.StringOutput
	// Provider deploys the in-cluster components; its kubeconfig is secret.
	Provider *kubernetes.Provider
}

func (p Pool) validate(field string, minAllowed int) []error {
	var errs []error
	if !vmSizeRE.MatchString(p.VMSize) {
		errs = append(errs, fmt.Errorf("%s.vmSize %q is not an Azure VM size", field, p.VMSize))
	}
	if p.MinCount < minAllowed || p.MaxCount > infra.MaxPoolNodes || p.MinCount > p.MaxCount || p.MaxCount < 1 {
		errs = append(errs, fmt.Errorf("%s bounds %d..%d are invalid: need %d <= min <= max <= %d", field, p.MinCount, p.MaxCount, minAllowed, infra.MaxPoolNodes))
	}
	return errs
}

func (a *Args) validate() error {
	errs := argcheck.Placement(a.ResourceGroupName, true, a.Location, a.Tags)
	if !infra.ClusterNameRE.MatchString(a.Name) {
		errs = append(errs, fmt.Errorf("name %q breaks AKS naming rules", a.Name))
	}
	if a.ContainerRegistryID != "" && !infra.ContainerRegistryIDRE.MatchString(a.ContainerRegistryID) {
		errs = append(errs, fmt.Errorf("containerRegistryID %q is not a container registry's ARM ID", a.ContainerRegistryID))
	}
	if !infra.DNSPrefixRE.MatchString(a.DNSPrefix) {
		errs = append(errs, fmt.Errorf("dnsPrefix %q breaks AKS DNS prefix rules", a.DNSPrefix))
	}
	if !infra.ResourceGroupNameRE.MatchString(a.NodeResourceGroup) || len(a.NodeResourceGroup) > 80 {
		errs = append(errs, fmt.Errorf("nodeResourceGroup %q is not a resource group name of at most 80 characters", a.NodeResourceGroup))
	}
	if !versionRE.MatchString(a.KubernetesVersion) {
		errs = append(errs, fmt.Errorf("kubernetesVersion %q is not 1.MINOR or 1.MINOR.PATCH", a.KubernetesVersion))
	}
	errs = append(errs, a.SystemPool.validate("systemPool", 1)...)
	errs = append(errs, a.UserPool.validate("userPool", 0)...)
	if a.IntegrationsPool != nil {
		errs = append(errs, a.IntegrationsPool.validate("integrationsPool", 0)...)
	}
	if a.JobsPool != nil {
		errs = append(errs, a.JobsPool.validate("jobsPool", 0)...)
	}
	if a.NodeSubnetID == nil {
		errs = append(errs, errors.New("nodeSubnetID is required"))
	}
	for _, c := range []struct{ field, v string }{{"podCIDR", a.PodCIDR}, {"serviceCIDR", a.ServiceCIDR}} {
		if _, err := netip.ParsePrefix(c.v); err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not a CIDR", c.field, c.v))
		}
	}
	if _, err := netip.ParseAddr(a.DNSServiceIP); err != nil {
		errs = append(errs, fmt.Errorf("dnsServiceIP %q is not an IP address", a.DNSServiceIP))
	}
	if !slices.Contains([]string{"Free", "Standard", "Premium"}, a.Tier) {
		errs = append(errs, fmt.Errorf("tier %q is not Free, Standard or Premium", a.Tier))
	}
	switch a.SupportPlan {
	case "", infra.SupportOfficial:
	case infra.SupportLTS:
		if a.Tier != "Premium" {
			errs = append(errs, fmt.Errorf("supportPlan %s needs the Premium tier, not %q", infra.SupportLTS, a.Tier))
		}
	default:
		errs = append(errs, fmt.Errorf("supportPlan %q is not %s or %s", a.SupportPlan, infra.SupportOfficial, infra.SupportLTS))
	}
	if !slices.Contains([]string{"patch", "stable", "rapid", "none"}, a.UpgradeChannel) {
		errs = append(errs, fmt.Errorf("upgradeChannel %q is not patch, stable, rapid or none", a.UpgradeChannel))
	}
	if a.Maintenance.DurationHours < 4 || a.Maintenance.DayOfWeek == "" {
		errs = append(errs, fmt.Errorf("maintenance window %+v needs a day and at least 4 hours", a.Maintenance))
	}
	if !a.PrivateCluster && len(a.AuthorizedIPRanges) == 0 {
		errs = append(errs, errors.New("the API server must be restricted: set authorizedIPRanges or privateCluster"))
	}
	if a.DisableLocalAccounts && len(a.AdminGroupObjectIDs) == 0 {
		errs = append(errs, errors.New("with local accounts disabled, adminGroupObjectIDs must name at least one Entra group"))
	}
	if (a.IngressIPName == "") == (a.ServiceMeshRevision == "") {
		errs = append(errs, errors.New("set exactly one of ingressIPName (Istio from charts) and serviceMeshRevision (the AKS add-on)"))
	}
	if a.SubscriptionID == nil {
		errs = append(errs, errors.New("subscriptionID is required"))
	}
	return errors.Join(errs...)
}

// advancedNetworking enables ACNS security (FQDN policies) when asked;
// nil leaves the cluster without ACNS (no charge).
func advancedNetworking(fqdn bool) *cs.AdvancedNetworkingArgs {
	if !fqdn {
		return nil
	}
	return &cs.AdvancedNetworkingArgs{
		Enabled:       pulumi.Bool(true),
		Security:      &cs.AdvancedNetworkingSecurityArgs{Enabled: pulumi.Bool(true)},
		Observability: &cs.AdvancedNetworkingObservabilityArgs{Enabled: pulumi.Bool(false)},
	}
}

// autoscalerProfile is tuned for Moodle's very elastic load (exam days,
// regional rollouts) and for cost: scale up without delay, scale down
// after ten quiet minutes, and never keep a node just for an emptyDir.
func autoscalerProfile() *cs.ManagedClusterPropertiesAutoScalerProfileArgs {
	return &cs.ManagedClusterPropertiesAutoScalerProfileArgs{
		// Pick the pool that leaves the least idle CPU and memory.
		Expander: pulumi.String("least-waste"),
		// Spread scale-ups evenly over the zones of zonal pools.
		BalanceSimilarNodeGroups: pulumi.String("true"),
		ScanInterval:             pulumi.String("10s"),
		NewPodScaleUpDelay:       pulumi.String("0s"),
		MaxNodeProvisionTime:     pulumi.String("15m"),
		// Ten minutes after a scale-up, and ten minutes of low use, before a
		// node goes: long enough to ride out the gaps in an exam-day surge.
		ScaleDownDelayAfterAdd: pulumi.String("10m"),
		ScaleDownUnneededTime:  pulumi.String("10m"),
		// Nodes under half used are candidates for removal.
		ScaleDownUtilizationThreshold: pulumi.String("0.5"),
		// Moodle pods keep $CFG->localcachedir on an emptyDir; with the
		// default of skipping such nodes, the web pool would never shrink.
		SkipNodesWithLocalStorage: pulumi.String("false"),
		// Give Moodle requests and cron runs time to finish on drain.
		MaxGracefulTerminationSec:      pulumi.String("600"),
		DaemonsetEvictionForEmptyNodes: pulumi.Bool(true),
	}
}

func poolProfile(name, mode string, p Pool, a *Args, labels map[string]string, taints []string) *cs.ManagedClusterAgentPoolProfileArgs {
	return &cs.ManagedClusterAgentPoolProfileArgs{
		Name:                pulumi.String(name),
		Mode:                pulumi.String(mode),
		VmSize:              pulumi.String(p.VMSize),
		OsType:              pulumi.String("Linux"),
		OsSKU:               pulumi.String("AzureLinux"),
		OrchestratorVersion: pulumi.String(a.KubernetesVersion),
		EnableAutoScaling:   pulumi.Bool(true),
		MinCount:            pulumi.Int(p.MinCount),
		MaxCount:            pulumi.Int(p.MaxCount),
		Count:               pulumi.Int(max(p.MinCount, 1)),
		AvailabilityZones:   pulumi.ToStringArray(a.Zones),
		VnetSubnetID:        a.NodeSubnetID,
		EnableNodePublicIP:  pulumi.Bool(false),
		NodeLabels:          pulumi.ToStringMap(labels),
		NodeTaints:          pulumi.ToStringArray(taints),
		Tags:                pulumi.ToStringMap(a.Tags),
		Type:                pulumi.String("VirtualMachineScaleSets"),
	}
}

// New registers the cluster and everything around it.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Cluster, error) {
	if args == nil {
		return nil, fmt.Errorf("aks cluster %q: args are required", name)
	}
	a := *args
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("aks cluster %q: %w", name, err)
	}
	c := &Cluster{IngressIPName: a.IngressIPName}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registering aks cluster component %q: %w", name, err)
	}
	tags := pulumi.ToStringMap(a.Tags)

	// The ingress gateway's static, zone-redundant public IP: the only
	// public IP of the region (the mesh points the gateway Service at it).
	// The control plane's identity must join the node subnet and attach
	// that IP to its load balancer; nothing more.
	grants := []identity.Grant{{Role: identity.RoleNetworkContributor, Scope: a.NodeSubnetID, What: "subnet"}}
	var ip *network.PublicIPAddress
	if a.IngressIPName != "" {
		ipTags := pulumi.StringMap{infra.IngressIPTagKey: pulumi.String(infra.IngressIPTagValue)}
		for k, v := range a.Tags {
			ipTags[k] = pulumi.String(v)
		}
		var err error
		ip, err = network.NewPublicIPAddress(ctx, name+"-ingress-ip", &network.PublicIPAddressArgs{
			PublicIpAddressName:      pulumi.String(a.IngressIPName),
			ResourceGroupName:        a.ResourceGroupName,
			Location:                 pulumi.String(a.Location),
			Sku:                      &network.PublicIPAddressSkuArgs{Name: pulumi.String("Standard"), Tier: pulumi.String("Regional")},
			PublicIPAllocationMethod: pulumi.String("Static"),
			PublicIPAddressVersion:   pulumi.String("IPv4"),
			Zones:                    pulumi.ToStringArray(a.Zones),
			Tags:                     ipTags,
		}, pulumi.Parent(c))
		if err != nil {
			return nil, fmt.Errorf("creating ingress public IP %q: %w", a.IngressIPName, err)
		}
		grants = append(grants, identity.Grant{Role: identity.RoleNetworkContributor, Scope: ip.ID().ToStringOutput(), What: "ingress-ip"})
	}
	if a.DiskResourceGroupID != nil {
		// The disk CSI driver of AKS runs with the cluster's identity: to
		// create, attach and resize disks outside the node resource group
		// it needs Contributor on their group
		// (MicrosoftDocs/azure-aks-docs articles/aks/azure-disk-csi.md,
		// "resourceGroup" parameter).
		grants = append(grants, identity.Grant{Role: identity.RoleContributor, Scope: a.DiskResourceGroupID, What: "disks"})
	}
	cp, err := identity.New(ctx, name+"-control-plane", &identity.Args{
		ResourceGroupName: a.ResourceGroupName,
		Location:          a.Location,
		Name:              "id-" + a.Name + "-control-plane",
		Tags:              a.Tags,
		SubscriptionID:    a.SubscriptionID,
		Grants:            grants,
	}, pulumi.Parent(c))
	if err != nil {
		return nil, err
	}

	supportPlan := a.SupportPlan
	if supportPlan == "" {
		supportPlan = infra.SupportOfficial
	}
	var mesh *cs.ServiceMeshProfileArgs
	if a.ServiceMeshRevision != "" {
		mesh = &cs.ServiceMeshProfileArgs{
			Mode: pulumi.String("Istio"),
			Istio: &cs.IstioServiceMeshArgs{
				Revisions: pulumi.StringArray{pulumi.String(a.ServiceMeshRevision)},
				Components: &cs.IstioComponentsArgs{IngressGateways: cs.IstioIngressGatewayArray{
					&cs.IstioIngressGatewayArgs{Mode: pulumi.String("External"), Enabled: pulumi.Bool(true)},
				}},
			},
		}
	}

	api := &cs.ManagedClusterAPIServerAccessProfileArgs{EnablePrivateCluster: pulumi.Bool(a.PrivateCluster)}
	if len(a.AuthorizedIPRanges) > 0 && !a.PrivateCluster {
		api.AuthorizedIPRanges = pulumi.ToStringArray(a.AuthorizedIPRanges)
	}
	channel := a.UpgradeChannel
	cluster, err := cs.NewManagedCluster(ctx, name+"-cluster", &cs.ManagedClusterArgs{
		ResourceName:      pulumi.String(a.Name),
		ResourceGroupName: a.ResourceGroupName,
		Location:          pulumi.String(a.Location),
		DnsPrefix:         pulumi.String(a.DNSPrefix),
		NodeResourceGroup: pulumi.String(a.NodeResourceGroup),
		KubernetesVersion: pulumi.String(a.KubernetesVersion),
		Sku:               &cs.ManagedClusterSKUArgs{Name: pulumi.String("Base"), Tier: pulumi.String(a.Tier)},
		// Sent always, so that leaving long-term support is a change AKS sees.
		SupportPlan: pulumi.String(supportPlan),
		Identity: &cs.ManagedClusterIdentityArgs{
			Type:                   cs.ResourceIdentityTypeUserAssigned,
			UserAssignedIdentities: pulumi.StringArray{cp.ID.ToStringOutput()},
		},
		// Only the system pool is declared here (AKS needs one to create the
		// cluster); the other pools are AgentPool resources of their own.
		AgentPoolProfiles: cs.ManagedClusterAgentPoolProfileArray{
			poolProfile("system", "System", a.SystemPool, &a, map[string]string{PoolLabel: "system"}, []string{SystemTaint}),
		},
		AutoScalerProfile: autoscalerProfile(),
		NetworkProfile: &cs.ContainerServiceNetworkProfileArgs{
			NetworkPlugin:     pulumi.String("azure"),
			NetworkPluginMode: pulumi.String("overlay"),
			// Cilium enforces NetworkPolicies in the dataplane.
			NetworkDataplane:   pulumi.String("cilium"),
			NetworkPolicy:      pulumi.String("cilium"),
			PodCidr:            pulumi.String(a.PodCIDR),
			ServiceCidr:        pulumi.String(a.ServiceCIDR),
			DnsServiceIP:       pulumi.String(a.DNSServiceIP),
			LoadBalancerSku:    pulumi.String("standard"),
			OutboundType:       pulumi.String("loadBalancer"),
			AdvancedNetworking: advancedNetworking(a.FQDNPolicies),
		},
		EnableRBAC: pulumi.Bool(true),
		AadProfile: &cs.ManagedClusterAADProfileArgs{
			Managed:             pulumi.Bool(true),
			EnableAzureRBAC:     pulumi.Bool(true),
			AdminGroupObjectIDs: pulumi.ToStringArray(a.AdminGroupObjectIDs),
		},
		DisableLocalAccounts:   pulumi.Bool(a.DisableLocalAccounts),
		ApiServerAccessProfile: api,
		OidcIssuerProfile:      &cs.ManagedClusterOIDCIssuerProfileArgs{Enabled: pulumi.Bool(true)},
		SecurityProfile:        securityProfile(a.DefenderWorkspaceID),
		// Sent always, so that turning the add-on off is a change AKS sees.
		AddonProfiles: cs.ManagedClusterAddonProfileMap{
			"azurepolicy": cs.ManagedClusterAddonProfileArgs{Enabled: pulumi.Bool(a.AzurePolicy)},
		},
		StorageProfile: &cs.ManagedClusterStorageProfileArgs{
			DiskCSIDriver:      &cs.ManagedClusterStorageProfileDiskCSIDriverArgs{Enabled: pulumi.Bool(true)},
			FileCSIDriver:      &cs.ManagedClusterStorageProfileFileCSIDriverArgs{Enabled: pulumi.Bool(true)},
			SnapshotController: &cs.ManagedClusterStorageProfileSnapshotControllerArgs{Enabled: pulumi.Bool(true)},
			BlobCSIDriver:      &cs.ManagedClusterStorageProfileBlobCSIDriverArgs{Enabled: pulumi.Bool(false)},
		},
		ServiceMeshProfile: mesh,
		AutoUpgradeProfile: &cs.ManagedClusterAutoUpgradeProfileArgs{
			UpgradeChannel:       pulumi.String(channel),
			NodeOSUpgradeChannel: pulumi.String("NodeImage"),
		},
		Tags: tags,
	}, pulumi.Parent(c), pulumi.DependsOn(cp.Resources), pulumi.Protect(a.Protect),
		// The autoscaler owns the node count; a refresh must not reset it.
		pulumi.IgnoreChanges([]string{"agentPoolProfiles[0].count"}))
	if err != nil {
		return nil, fmt.Errorf("creating AKS cluster %q: %w", a.Name, err)
	}

	pools := []struct {
		name   string
		pool   *Pool
		taints []string
	}{
		{"user", &a.UserPool, nil},
		{"jobs", a.JobsPool, []string{JobsTaint}},
		{"integrations", a.IntegrationsPool, []string{IntegrationsTaint}},
	}
	// The Kubernetes provider waits for these: everything in the cluster
	// schedules on a pool (user: Moodle, data, platform; jobs: the Jobs).
	var poolResources []pulumi.Resource
	for _, p := range pools {
		if p.pool == nil {
			continue
		}
		prof := poolProfile(p.name, "User", *p.pool, &a, map[string]string{PoolLabel: p.name}, p.taints)
		pool, err := cs.NewAgentPool(ctx, name+"-"+p.name+"-pool", &cs.AgentPoolArgs{
			AgentPoolName:       pulumi.String(p.name),
			ResourceName:        cluster.Name,
			ResourceGroupName:   a.ResourceGroupName,
			Mode:                prof.Mode,
			VmSize:              prof.VmSize,
			OsType:              prof.OsType,
			OsSKU:               prof.OsSKU,
			OrchestratorVersion: prof.OrchestratorVersion,
			EnableAutoScaling:   prof.EnableAutoScaling,
			MinCount:            prof.MinCount,
			MaxCount:            prof.MaxCount,
			AvailabilityZones:   prof.AvailabilityZones,
			VnetSubnetID:        prof.VnetSubnetID,
			EnableNodePublicIP:  prof.EnableNodePublicIP,
			NodeLabels:          prof.NodeLabels,
			NodeTaints:          prof.NodeTaints,
			Tags:                prof.Tags,
			Type:                prof.Type,
			// AKS requires count even with autoscaling ("Required parameter
			// properties.count is missing (null)", pulumi-azure-native#2943),
			// within min..max: start at minCount. The autoscaler owns it from
			// then on, so later changes are ignored.
			Count: pulumi.Int(p.pool.MinCount),
		}, pulumi.Parent(c), pulumi.IgnoreChanges([]string{"count"}))
		if err != nil {
			return nil, fmt.Errorf("creating %s node pool: %w", p.name, err)
		}
		poolResources = append(poolResources, pool)
	}

	// Image pulls: the kubelet identity may pull from the stack's registry,
	// and from nothing else of the subscription's.
	if a.ContainerRegistryID != "" {
		m := infra.ContainerRegistryIDRE.FindStringSubmatch(a.ContainerRegistryID)
		pull, err := authorization.NewRoleAssignment(ctx, name+"-acr-pull", &authorization.RoleAssignmentArgs{
			PrincipalId:      cluster.IdentityProfile.MapIndex(pulumi.String("kubeletidentity")).ObjectId().Elem(),
			PrincipalType:    pulumi.String("ServicePrincipal"),
			RoleDefinitionId: pulumi.Sprintf("/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s", m[1], RoleAcrPull),
			Scope:            pulumi.String(a.ContainerRegistryID),
		}, pulumi.Parent(c))
		if err != nil {
			return nil, fmt.Errorf("granting the kubelet AcrPull on %s: %w", a.ContainerRegistryID, err)
		}
		poolResources = append(poolResources, pull)
	}

	// Planned maintenance: Kubernetes patches and node images only inside
	// the weekly window.
	windows := []string{"aksManagedNodeOSUpgradeSchedule"}
	if channel != "none" {
		windows = append(windows, "aksManagedAutoUpgradeSchedule")
	}
	m := a.Maintenance
	for _, w := range windows {
		if _, err := cs.NewMaintenanceConfiguration(ctx, name+"-"+w, &cs.MaintenanceConfigurationArgs{
			ConfigName:        pulumi.String(w),
			ResourceName:      cluster.Name,
			ResourceGroupName: a.ResourceGroupName,
			MaintenanceWindow: &cs.MaintenanceWindowArgs{
				Schedule: &cs.ScheduleArgs{Weekly: &cs.WeeklyScheduleArgs{
					DayOfWeek: pulumi.String(m.DayOfWeek), IntervalWeeks: pulumi.Int(1),
				}},
				StartTime:     pulumi.Sprintf("%02d:00", m.StartHour),
				DurationHours: pulumi.Int(m.DurationHours),
				UtcOffset:     pulumi.String(m.UTCOffset),
			},
		}, pulumi.Parent(c)); err != nil {
			return nil, fmt.Errorf("creating maintenance window %s: %w", w, err)
		}
	}

	// Kubeconfig for the Kubernetes provider. In exec format it calls
	// kubelogin, which the pipeline points at its Azure login
	// (AAD_LOGIN_METHOD=azurecli or workloadidentity; see README). It is a
	// secret: it never shows in state or output in plain text.
	creds := cs.ListManagedClusterUserCredentialsOutput(ctx, cs.ListManagedClusterUserCredentialsOutputArgs{
		ResourceGroupName: a.ResourceGroupName,
		ResourceName:      cluster.Name,
		Format:            pulumi.String("exec"),
	}, pulumi.Parent(c))
	kubeconfig := creds.Kubeconfigs().Index(pulumi.Int(0)).Value().ApplyT(func(b64 string) (string, error) {
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return "", fmt.Errorf("decoding kubeconfig of %q: %w", a.Name, err)
		}
		return string(raw), nil
	}).(pulumi.StringOutput)
	provider, err := kubernetes.NewProvider(ctx, name+"-k8s", &kubernetes.ProviderArgs{
		Kubeconfig: pulumi.ToSecret(kubeconfig).(pulumi.StringOutput),
		// Never drop objects from state because the cluster is unreachable.
		DeleteUnreachable: pulumi.Bool(false),
	}, pulumi.Parent(c), pulumi.DependsOn(poolResources))
	if err != nil {
		return nil, fmt.Errorf("creating Kubernetes provider for %q: %w", a.Name, err)
	}

	c.Name = cluster.Name
	c.ID = cluster.ID()
	c.OIDCIssuerURL = cluster.OidcIssuerProfile.IssuerURL().Elem()
	c.KubeletObjectID = cluster.IdentityProfile.MapIndex(pulumi.String("kubeletidentity")).ObjectId().Elem()
	if ip != nil {
		c.IngressIPAddress = ip.IpAddress.Elem()
		c.IngressIPID = ip.ID()
	} else {
		c.IngressIPAddress = pulumi.String("").ToStringOutput()
		c.IngressIPID = pulumi.ID("").ToIDOutput()
	}
	c.IngressIPResourceGroup = a.ResourceGroupName.ToStringOutput()
	c.Provider = provider
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"name":             cluster.Name,
		"id":               cluster.ID(),
		"oidcIssuerUrl":    c.OIDCIssuerURL,
		"ingressIpAddress": c.IngressIPAddress,
	}); err != nil {
		return nil, fmt.Errorf("registering outputs of aks cluster %q: %w", name, err)
	}
	return c, nil
}

// securityProfile is workload identity, and with a workspace Microsoft
// Defender's threat detection (securityProfile.defender:
// https://learn.microsoft.com/azure/defender-for-cloud/defender-for-containers-enable).
func securityProfile(defenderWorkspace pulumi.StringInput) *cs.ManagedClusterSecurityProfileArgs {
	p := &cs.ManagedClusterSecurityProfileArgs{
		WorkloadIdentity: &cs.ManagedClusterSecurityProfileWorkloadIdentityArgs{Enabled: pulumi.Bool(true)},
	}
	if defenderWorkspace != nil {
		p.Defender = &cs.ManagedClusterSecurityProfileDefenderArgs{
			LogAnalyticsWorkspaceResourceId: defenderWorkspace,
			SecurityMonitoring:              &cs.ManagedClusterSecurityProfileDefenderSecurityMonitoringArgs{Enabled: pulumi.Bool(true)},
		}
	}
	return p
}
