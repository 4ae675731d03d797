package storage

import (
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/fieldcert/moodle-aks/components/dataprotect"
	"github.com/fieldcert/moodle-aks/components/internal/argcheck"
	"github.com/fieldcert/moodle-aks/infra"
	"github.com/pulumi/pulumi-azure-native-sdk/storage/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// FileStoreType is the FileStore component's type token.
const FileStoreType = "moodle:storage:FileStore"

// Premium file shares take 100 GiB to 100 TiB.
const (
	MinShareGiB = 100
	MaxShareGiB = 102400
)

var shareNameRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$`)

// Share is one NFS share.
type Share struct {
	// Name is the share's name (3-63 lowercase letters, digits, single '-').
	Name string
	// QuotaGiB is the provisioned size (100-102400); Premium bills and
	// sizes IOPS by it.
	QuotaGiB int
}

// FileStoreArgs configures a FileStore.
type FileStoreArgs struct {
	// ResourceGroupName is the group the account lives in (required).
	ResourceGroupName pulumi.StringInput
	// AccountName is the globally unique account name (required).
	AccountName string
	// Location is the ARM region (required).
	Location string
	// Replication is "LRS" or "ZRS" (Premium files offer no geo-replication).
	Replication string
	// Shares are the NFS shares (at least one).
	Shares []Share
	// PrivateEndpoint is where pods reach the account (required).
	PrivateEndpoint *Endpoint
	// Protection is the data protection mode (required).
	Protection infra.DataProtection
	// SoftDeleteDays is how long a deleted share, with its snapshots, can
	// be undeleted (required, 1-365): the stack's backup retention.
	SoftDeleteDays int
	// Tags go on every Azure resource (required: infra.Tags).
	Tags map[string]string
}

// FileStore is a Premium FileStorage account with NFS shares, reachable
// only through its private endpoint.
type FileStore struct {
	pulumi.ResourceState

	// AccountName is the storage account's name.
	AccountName pulumi.StringOutput
	// AccountID is the account's ARM ID, the scope of role assignments.
	AccountID pulumi.IDOutput
	// NFSServer is the host NFS clients mount from (resolves to the private
	// endpoint inside the VNet).
	NFSServer pulumi.StringOutput
	// SharePaths maps each share's name to its NFS export path,
	// "/<account>/<share>".
	SharePaths map[string]string
	// Shares are the share resources: depend on them to use the shares.
	Shares []pulumi.Resource
}

func (a *FileStoreArgs) validate() error {
	errs := argcheck.Placement(a.ResourceGroupName, true, a.Location, a.Tags)
	if !infra.StorageAccountNameRE.MatchString(a.AccountName) {
		errs = append(errs, fmt.Errorf("accountName %q must be 3-24 lowercase letters and digits", a.AccountName))
	}
	if !slices.Contains([]string{"LRS", "ZRS"}, a.Replication) {
		errs = append(errs, fmt.Errorf("replication %q is not LRS or ZRS (Premium file shares)", a.Replication))
	}
	if len(a.Shares) == 0 {
		errs = append(errs, errors.New("at least one share is required"))
	}
	seen := map[string]bool{}
	for _, s := range a.Shares {
		if !shareNameRE.MatchString(s.Name) || seen[s.Name] {
			errs = append(errs, fmt.Errorf("share name %q is invalid or repeated", s.Name))
		}
		seen[s.Name] = true
		if s.QuotaGiB < MinShareGiB || s.QuotaGiB > MaxShareGiB {
			errs = append(errs, fmt.Errorf("share %q quota %d GiB is out of range %d-%d", s.Name, s.QuotaGiB, MinShareGiB, MaxShareGiB))
		}
	}
	if a.SoftDeleteDays < 1 || a.SoftDeleteDays > MaxRetentionDays {
		errs = append(errs, fmt.Errorf("softDeleteDays %d is out of range 1-%d", a.SoftDeleteDays, MaxRetentionDays))
	}
	if err := a.PrivateEndpoint.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// NewFileStore registers the account, its shares and its private endpoint.
func NewFileStore(ctx *pulumi.Context, name string, args *FileStoreArgs, opts ...pulumi.ResourceOption) (*FileStore, error) {
	if args == nil {
		return nil, fmt.Errorf("file store %q: args are required", name)
	}
	a := *args
	err := a.validate()
	protect, perr := dataprotect.Options(a.Protection)
	if err = errors.Join(err, perr); err != nil {
		return nil, fmt.Errorf("file store %q: %w", name, err)
	}
	c := &FileStore{SharePaths: map[string]string{}}
	if err := ctx.RegisterComponentResource(FileStoreType, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registering file store component %q: %w", name, err)
	}
	tags := pulumi.ToStringMap(a.Tags)
	data := append([]pulumi.ResourceOption{pulumi.Parent(c)}, protect...)

	account, err := storage.NewStorageAccount(ctx, name+"-account", &storage.StorageAccountArgs{
		AccountName:       pulumi.String(a.AccountName),
		ResourceGroupName: a.ResourceGroupName,
		Location:          pulumi.String(a.Location),
		Kind:              pulumi.String(string(storage.KindFileStorage)),
		Sku:               &storage.SkuArgs{Name: pulumi.String("Premium_" + a.Replication)},
		// NFS 4.1 shares cannot be mounted while "secure transfer required"
		// is on (Azure Files' NFS documentation). Traffic stays inside the
		// VNet instead: public access off, private endpoint only, and the
		// endpoint subnet's NSG admits only the nodes on port 2049.
		EnableHttpsTrafficOnly: pulumi.Bool(false),
		MinimumTlsVersion:      pulumi.String(string(storage.MinimumTlsVersion_TLS1_2)),
		AllowBlobPublicAccess:  pulumi.Bool(false),
		// NFS needs no keys; nothing else should use them.
		AllowSharedKeyAccess:        pulumi.Bool(false),
		AllowCrossTenantReplication: pulumi.Bool(false),
		PublicNetworkAccess:         pulumi.String(string(storage.PublicNetworkAccessDisabled)),
		NetworkRuleSet: &storage.NetworkRuleSetArgs{
			DefaultAction: storage.DefaultActionDeny,
			Bypass:        pulumi.String("None"),
		},
		Tags: tags,
	}, data...)
	if err != nil {
		return nil, fmt.Errorf("creating file storage account %q: %w", a.AccountName, err)
	}
	// Share soft delete: a deleted share comes back with its files and its
	// snapshots (the nightly backups) for SoftDeleteDays. Azure Files
	// offers it for NFS shares as for SMB ones
	// (https://learn.microsoft.com/azure/storage/files/storage-files-prevent-file-share-deletion).
	// No management lock on this account: a CanNotDelete lock is inherited
	// by the shares and refuses the ARM delete of an expired snapshot
	// (`az storage share-rm delete --snapshot`), so the nightly expiry
	// would fail and snapshots pile up to the share's limit of 200.
	if _, err := storage.NewFileServiceProperties(ctx, name+"-file-service", &storage.FileServicePropertiesArgs{
		AccountName:       account.Name,
		ResourceGroupName: a.ResourceGroupName,
		FileServicesName:  pulumi.String("default"),
		ShareDeleteRetentionPolicy: &storage.DeleteRetentionPolicyArgs{
			Enabled: pulumi.Bool(true), Days: pulumi.Int(a.SoftDeleteDays),
		},
	}, pulumi.Parent(c), pulumi.DependsOn([]pulumi.Resource{account})); err != nil {
		return nil, fmt.Errorf("configuring share soft delete of %q: %w", a.AccountName, err)
	}
	for _, s := range a.Shares {
		share, err := storage.NewFileShare(ctx, name+"-"+s.Name+"-share", &storage.FileShareArgs{
			ShareName:         pulumi.String(s.Name),
			AccountName:       account.Name,
			ResourceGroupName: a.ResourceGroupName,
			EnabledProtocols:  pulumi.String(string(storage.EnabledProtocolsNFS)),
			// Root in a migration or restore job keeps file ownership
			// (www-data) when it copies moodledata; Moodle pods run as
			// non-root, and only the nodes can reach the share.
			RootSquash: pulumi.String(string(storage.RootSquashTypeNoRootSquash)),
			ShareQuota: pulumi.Int(s.QuotaGiB),
		}, append(data, pulumi.DependsOn([]pulumi.Resource{account}))...)
		if err != nil {
			return nil, fmt.Errorf("creating NFS share %q: %w", s.Name, err)
		}
		c.Shares = append(c.Shares, share)
		c.SharePaths[s.Name] = "/" + a.AccountName + "/" + s.Name
	}
	if err := privateEndpoint(ctx, c, name, "file", a.ResourceGroupName, a.Location, a.AccountName, account.ID(), *a.PrivateEndpoint, tags); err != nil {
		return nil, err
	}

	c.AccountName = account.Name
	c.AccountID = account.ID()
	c.NFSServer = pulumi.Sprintf("%s.file.core.windows.net", account.Name)
	outputs := pulumi.Map{"accountName": account.Name, "nfsServer": c.NFSServer}
	for k, v := range c.SharePaths {
		outputs["share-"+k] = pulumi.String(v)
	}
	if err := ctx.RegisterResourceOutputs(c, outputs); err != nil {
		return nil, fmt.Errorf("registering outputs of file store %q: %w", name, err)
	}
	return c, nil
}
