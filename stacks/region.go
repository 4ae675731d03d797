// Package stacks composes one region stack from the components. It is the
// only package that reads stack config: it loads it once through infra and
// hands each component the typed values it needs.
package stacks

import (
	"fmt"

	"github.com/fieldcert/moodle-aks/components/network"
	"github.com/fieldcert/moodle-aks/components/resourcegroup"
	"github.com/fieldcert/moodle-aks/components/storage"
	"github.com/fieldcert/moodle-aks/infra"
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
	// Backups is the region's backup storage account.
	Backups *storage.BackupStore
}

// NewRegion creates a region stack's resources from its config.
func NewRegion(ctx *pulumi.Context, cfg *infra.Config) (*Region, error) {
	names := infra.NewNames(cfg)
	tags := infra.Tags(cfg)

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

	backups, err := storage.NewBackupStore(ctx, "backups", &storage.BackupStoreArgs{
		ResourceGroupName: rg.Name,
		AccountName:       names.StorageAccount("bkp"),
		Location:          cfg.Region,
		Replication:       cfg.BackupReplication,
		RetentionDays:     cfg.BackupRetentionDays,
		Protection:        cfg.DataProtection,
		Tags:              tags,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the backup store: %w", err)
	}

	ctx.Export("region", pulumi.String(cfg.Region))
	ctx.Export("residency", pulumi.String(cfg.Residency))
	ctx.Export("resourceGroupName", rg.Name)
	ctx.Export("backupAccountName", backups.AccountName)
	return &Region{ResourceGroup: rg, Network: net, Backups: backups}, nil
}
