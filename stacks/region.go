// Package stacks composes one region stack from the components. It is the
// only package that reads stack config: it loads it once through infra and
// hands each component the typed values it needs.
package stacks

import (
	"fmt"

	"github.com/fieldcert/moodle-aks/components/aks"
	"github.com/fieldcert/moodle-aks/components/backup"
	"github.com/fieldcert/moodle-aks/components/certs"
	"github.com/fieldcert/moodle-aks/components/identity"
	"github.com/fieldcert/moodle-aks/components/integrations"
	"github.com/fieldcert/moodle-aks/components/mesh"
	"github.com/fieldcert/moodle-aks/components/migration"
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
	azurenative "github.com/pulumi/pulumi-azure-native-sdk/v2"
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
	for _, w := range cfg.Warnings {
		// A version near or past its end of support: shown in every
		// preview and up (and so in the pull request's preview comment).
		if err := ctx.Log.Warn(w, nil); err != nil {
			return fmt.Errorf("logging a version warning: %w", err)
		}
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
	names        infra.Names
	subscription pulumi.StringInput
	shares       []storage.Share
	// azure hands the azure-native provider to the Azure components.
	azure pulumi.ResourceOption

	// AzureProvider is the one azure-native provider every Azure resource
	// of the region is registered through.
	AzureProvider pulumi.ProviderResource
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
	// Migration holds the migration and load-test Jobs (none when off).
	Migration *migration.Migration
}

// AzureNativeVersion is the azure-native provider plugin the stacks run:
// the root module's version in go.mod (a test keeps them equal).
const AzureNativeVersion = "2.90.0"

// Share names on the file store.
const (
	MoodledataShare = "moodledata"
	AddonsShare     = "addons"
)

// NewRegion creates a region stack's resources from its config: the whole
// region, one step per line. Each step lives in its own file.
func NewRegion(ctx *pulumi.Context, cfg *infra.Config) (*Region, error) {
	// One explicit azure-native provider for every Azure resource and call:
	// the service modules come at different versions (containerservice
	// 2.88.0, managedidentity 2.80.0, the rest 2.90.0), and without it the
	// engine would install and run one default provider per version.
	provider, err := azurenative.NewProvider(ctx, "azure-native", &azurenative.ProviderArgs{
		Location: pulumi.String(cfg.Region),
	}, pulumi.Version(AzureNativeVersion))
	if err != nil {
		return nil, fmt.Errorf("creating the azure-native provider: %w", err)
	}
	client, err := authorization.GetClientConfig(ctx, pulumi.Provider(provider))
	if err != nil {
		return nil, fmt.Errorf("reading the Azure client config: %w", err)
	}
	r := &Region{names: infra.NewNames(cfg), subscription: pulumi.String(client.SubscriptionId), azure: pulumi.Providers(provider), AzureProvider: provider}
	steps := []func(*pulumi.Context, *infra.Config) error{
		r.azurePlatform, // azure.go: group, network, AKS, storage, identities, DNS
		r.inCluster,     // cluster.go: namespaces, Istio, certificates, volumes
		r.dataTier,      // data.go: MySQL, Redis, backups and restore
		r.monitoring,    // monitoring.go: Prometheus, Alertmanager, Grafana
		r.applications,  // moodle.go: Moodle and the integrations
		r.migration,     // migration.go: copy of an old site, load test
	}
	for _, step := range steps {
		if err := step(ctx, cfg); err != nil {
			return nil, err
		}
	}
	ctx.Export("region", pulumi.String(cfg.Region))
	ctx.Export("residency", pulumi.String(cfg.Residency))
	ctx.Export("resourceGroupName", r.ResourceGroup.Name)
	ctx.Export("clusterName", r.Cluster.Name)
	ctx.Export("ingressIpAddress", r.Cluster.IngressIPAddress)
	ctx.Export("nfsServer", r.Files.NFSServer)
	ctx.Export("backupAccountName", r.BackupStore.AccountName)
	return r, nil
}
