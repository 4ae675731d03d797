// Package storage provides the region stack's storage accounts. This file
// holds the BackupStore: a StorageV2 account with a private container for
// database and moodledata backups, kept in the stack's region.
package storage

import (
	"errors"
	"fmt"
	"slices"

	"github.com/fieldcert/moodle-aks/components/dataprotect"
	"github.com/fieldcert/moodle-aks/components/internal/argcheck"
	"github.com/fieldcert/moodle-aks/components/internal/locks"
	"github.com/fieldcert/moodle-aks/infra"
	"github.com/pulumi/pulumi-azure-native-sdk/storage/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// BackupStoreType is the BackupStore component's type token.
const BackupStoreType = "moodle:storage:BackupStore"

// BackupContainer is the name of the blob container backups are written to.
const BackupContainer = "backups"

// DumpPrefix holds the database dumps and their manifests, which expire;
// files/ holds the copy of moodledata's content store, which does not.
const DumpPrefix = "mysql/"

// MaxRetentionDays is the longest blob soft delete Azure offers, and so
// the longest retention whose deleted backups stay recoverable for as long.
const MaxRetentionDays = 365

// Replications are the SKU replications a BackupStore accepts.
var Replications = []string{"LRS", "ZRS", "GRS", "RAGRS", "GZRS", "RAGZRS"}

// BackupStoreArgs configures a BackupStore.
type BackupStoreArgs struct {
	// ResourceGroupName is the group the account lives in (required).
	ResourceGroupName pulumi.StringInput
	// AccountName is the globally unique account name (required; 3-24
	// lowercase letters and digits, see infra.Names.StorageAccount).
	AccountName string
	// Location is the ARM region (required); it must be the stack's region.
	Location string
	// Replication is one of Replications (required). Whether geo-replication
	// keeps data in its residency boundary is checked by the policy pack.
	Replication string
	// RetentionDays is how long a backup blob is kept before the lifecycle
	// rule deletes it, and how long it can be neither deleted nor
	// overwritten (the container's time-based retention policy) and stays
	// undeletable once deleted (soft delete) (required, 1-365).
	RetentionDays int
	// Lock puts a CanNotDelete management lock on the account (prod).
	Lock bool
	// Protection is the data protection mode (required).
	Protection infra.DataProtection
	// Tags go on the account (required: infra.Tags).
	Tags map[string]string
	// PrivateEndpoint, when set, gives the account a blob private endpoint
	// and turns public network access off: in-cluster backup jobs reach it
	// through the VNet only. Optional.
	PrivateEndpoint *Endpoint
}

// BackupStore is a backup storage account and its container.
type BackupStore struct {
	pulumi.ResourceState

	// AccountName is the storage account's name.
	AccountName pulumi.StringOutput
	// AccountID is the account's ARM ID, the scope of role assignments.
	AccountID pulumi.IDOutput
	// ContainerName is the backup container's name.
	ContainerName pulumi.StringOutput
	// BlobEndpoint is the account's blob endpoint URL.
	BlobEndpoint pulumi.StringOutput
}

func (a *BackupStoreArgs) validate() error {
	errs := argcheck.Placement(a.ResourceGroupName, true, a.Location, a.Tags)
	if !infra.StorageAccountNameRE.MatchString(a.AccountName) {
		errs = append(errs, fmt.Errorf("accountName %q must be 3-24 lowercase letters and digits", a.AccountName))
	}
	if !slices.Contains(Replications, a.Replication) {
		errs = append(errs, fmt.Errorf("replication %q is not one of %v", a.Replication, Replications))
	}
	if a.RetentionDays < 1 || a.RetentionDays > MaxRetentionDays {
		errs = append(errs, fmt.Errorf("retentionDays %d is out of range 1-%d (blob soft delete keeps at most %d days)", a.RetentionDays, MaxRetentionDays, MaxRetentionDays))
	}
	if a.PrivateEndpoint != nil {
		if err := a.PrivateEndpoint.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// NewBackupStore registers a backup storage account with a private
// container, blob soft delete and a lifecycle rule that deletes backups
// after RetentionDays.
func NewBackupStore(ctx *pulumi.Context, name string, args *BackupStoreArgs, opts ...pulumi.ResourceOption) (*BackupStore, error) {
	if args == nil {
		return nil, fmt.Errorf("backup store %q: args are required", name)
	}
	a := *args
	err := a.validate()
	protect, perr := dataprotect.Options(a.Protection)
	if err = errors.Join(err, perr); err != nil {
		return nil, fmt.Errorf("backup store %q: %w", name, err)
	}

	c := &BackupStore{}
	if err := ctx.RegisterComponentResource(BackupStoreType, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registering backup store component %q: %w", name, err)
	}
	data := append([]pulumi.ResourceOption{pulumi.Parent(c)}, protect...)
	tags := pulumi.ToStringMap(a.Tags)
	publicAccess := storage.PublicNetworkAccessEnabled // still denied by the network rules
	if a.PrivateEndpoint != nil {
		publicAccess = storage.PublicNetworkAccessDisabled
	}

	account, err := storage.NewStorageAccount(ctx, name+"-account", &storage.StorageAccountArgs{
		AccountName:       pulumi.String(a.AccountName),
		ResourceGroupName: a.ResourceGroupName,
		Location:          pulumi.String(a.Location),
		Kind:              pulumi.String(string(storage.KindStorageV2)),
		Sku:               &storage.SkuArgs{Name: pulumi.String("Standard_" + a.Replication)},
		AccessTier:        storage.AccessTierCool, // written nightly, read only to restore
		// Transport and access hardening: https only, TLS 1.2, no anonymous
		// blobs, no account keys (backup jobs use workload identity).
		EnableHttpsTrafficOnly:       pulumi.Bool(true),
		MinimumTlsVersion:            pulumi.String(string(storage.MinimumTlsVersion_TLS1_2)),
		AllowBlobPublicAccess:        pulumi.Bool(false),
		AllowSharedKeyAccess:         pulumi.Bool(false),
		DefaultToOAuthAuthentication: pulumi.Bool(true),
		// Copies of personal data must not leave the tenant.
		AllowCrossTenantReplication: pulumi.Bool(false),
		PublicNetworkAccess:         pulumi.String(string(publicAccess)),
		NetworkRuleSet: &storage.NetworkRuleSetArgs{
			DefaultAction: storage.DefaultActionDeny,
			Bypass:        pulumi.String(string(storage.BypassAzureServices)),
		},
		Tags: tags,
	}, data...)
	if err != nil {
		return nil, fmt.Errorf("creating backup storage account %q: %w", a.AccountName, err)
	}

	child := []pulumi.ResourceOption{pulumi.Parent(c), pulumi.DependsOn([]pulumi.Resource{account})}
	days := pulumi.Int(a.RetentionDays)
	if _, err := storage.NewBlobServiceProperties(ctx, name+"-blob-service", &storage.BlobServicePropertiesArgs{
		AccountName:       account.Name,
		ResourceGroupName: a.ResourceGroupName,
		BlobServicesName:  pulumi.String("default"),
		// Versioning: an overwritten or deleted blob stays as a version.
		IsVersioningEnabled: pulumi.Bool(true),
		// Soft delete as long as the retention: a backup deleted early (by
		// hand, or by anyone who can) is recoverable until it would have
		// expired anyway.
		DeleteRetentionPolicy:          &storage.DeleteRetentionPolicyArgs{Enabled: pulumi.Bool(true), Days: days},
		ContainerDeleteRetentionPolicy: &storage.DeleteRetentionPolicyArgs{Enabled: pulumi.Bool(true), Days: days},
	}, child...); err != nil {
		return nil, fmt.Errorf("configuring blob service of %q: %w", a.AccountName, err)
	}

	container, err := storage.NewBlobContainer(ctx, name+"-container", &storage.BlobContainerArgs{
		AccountName:       account.Name,
		ResourceGroupName: a.ResourceGroupName,
		ContainerName:     pulumi.String(BackupContainer),
		PublicAccess:      storage.PublicAccessNone,
	}, append(child, protect...)...)
	if err != nil {
		return nil, fmt.Errorf("creating backup container in %q: %w", a.AccountName, err)
	}
	// WORM: for RetentionDays after it is written no backup can be
	// overwritten or deleted, by any identity (container-level time-based
	// retention, https://learn.microsoft.com/azure/storage/blobs/immutable-container-level-worm-policies).
	// It is left unlocked: locking is irreversible and a team decision
	// (docs/restore.md, "Backups nobody can delete").
	if _, err := storage.NewBlobContainerImmutabilityPolicy(ctx, name+"-retention", &storage.BlobContainerImmutabilityPolicyArgs{
		AccountName:                           account.Name,
		ResourceGroupName:                     a.ResourceGroupName,
		ContainerName:                         container.Name,
		ImmutabilityPolicyName:                pulumi.String("default"),
		ImmutabilityPeriodSinceCreationInDays: days,
		AllowProtectedAppendWrites:            pulumi.Bool(false),
	}, append(child, pulumi.DependsOn([]pulumi.Resource{container}))...); err != nil {
		return nil, fmt.Errorf("setting the backup container's retention policy in %q: %w", a.AccountName, err)
	}

	if _, err := storage.NewManagementPolicy(ctx, name+"-lifecycle", &storage.ManagementPolicyArgs{
		AccountName:          account.Name,
		ResourceGroupName:    a.ResourceGroupName,
		ManagementPolicyName: pulumi.String("default"),
		Policy: &storage.ManagementPolicySchemaArgs{
			Rules: storage.ManagementPolicyRuleArray{&storage.ManagementPolicyRuleArgs{
				Name:    pulumi.String("expire-backups"),
				Enabled: pulumi.Bool(true),
				Type:    pulumi.String(string(storage.RuleTypeLifecycle)),
				Definition: &storage.ManagementPolicyDefinitionArgs{
					Filters: &storage.ManagementPolicyFilterArgs{
						BlobTypes: pulumi.StringArray{pulumi.String("blockBlob")},
						// Dumps only: the copy of moodledata's content
						// store (files/) holds files still in use.
						PrefixMatch: pulumi.StringArray{pulumi.String(BackupContainer + "/" + DumpPrefix)},
					},
					Actions: &storage.ManagementPolicyActionArgs{
						// After the retention (the WORM period has passed by
						// then), the backup and any version it left.
						BaseBlob: &storage.ManagementPolicyBaseBlobArgs{
							Delete: &storage.DateAfterModificationArgs{
								DaysAfterModificationGreaterThan: pulumi.Float64(float64(a.RetentionDays)),
							},
						},
						Version: &storage.ManagementPolicyVersionArgs{
							Delete: &storage.DateAfterCreationArgs{
								DaysAfterCreationGreaterThan: pulumi.Float64(float64(a.RetentionDays)),
							},
						},
					},
				},
			}},
		},
	}, child...); err != nil {
		return nil, fmt.Errorf("creating lifecycle policy of %q: %w", a.AccountName, err)
	}
	if a.Lock {
		if _, err := locks.CanNotDelete(ctx, name+"-lock", account.ID().ToStringOutput(), "backup account "+a.AccountName, child...); err != nil {
			return nil, err
		}
	}

	if a.PrivateEndpoint != nil {
		if err := privateEndpoint(ctx, c, name, "blob", a.ResourceGroupName, a.Location, a.AccountName, account.ID(), *a.PrivateEndpoint, tags); err != nil {
			return nil, err
		}
	}

	c.AccountName = account.Name
	c.AccountID = account.ID()
	c.ContainerName = container.Name
	c.BlobEndpoint = account.PrimaryEndpoints.Blob()
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"accountName":   account.Name,
		"accountId":     account.ID(),
		"containerName": container.Name,
		"blobEndpoint":  c.BlobEndpoint,
	}); err != nil {
		return nil, fmt.Errorf("registering outputs of backup store %q: %w", name, err)
	}
	return c, nil
}
