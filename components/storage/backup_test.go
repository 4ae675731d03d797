package storage

import (
	"testing"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func args() *BackupStoreArgs {
	return &BackupStoreArgs{
		ResourceGroupName: pulumi.String("rg-test"),
		AccountName:       "stmdlbkpprodabc123",
		Location:          "eastus2",
		Replication:       "ZRS",
		RetentionDays:     35,
		Protection:        infra.Protect,
		Tags:              map[string]string{"environment": "prod"},
	}
}

func run(t *testing.T, a *BackupStoreArgs) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.Run("p", "s", nil, nil, func(ctx *pulumi.Context) error {
		_, err := NewBackupStore(ctx, "backups", a)
		return err
	})
}

func TestBackupStoreAccount(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	comp, ok := rec.Named(BackupStoreType, "backups")
	require.True(t, ok)

	acct, ok := rec.Named("azure-native:storage:StorageAccount", "backups-account")
	require.True(t, ok)
	assert.Equal(t, comp.URN, acct.Parent)
	assert.Equal(t, "stmdlbkpprodabc123", acct.Input("accountName"))
	assert.Equal(t, "eastus2", acct.Input("location"))
	assert.Equal(t, "Standard_ZRS", acct.Input("sku.name"))
	assert.Equal(t, "StorageV2", acct.Input("kind"))
	assert.Equal(t, true, acct.Input("enableHttpsTrafficOnly"))
	assert.Equal(t, "TLS1_2", acct.Input("minimumTlsVersion"))
	assert.Equal(t, false, acct.Input("allowBlobPublicAccess"))
	assert.Equal(t, false, acct.Input("allowSharedKeyAccess"))
	assert.Equal(t, "Deny", acct.Input("networkRuleSet.defaultAction"))
	assert.Equal(t, "prod", acct.Input("tags.environment"))
	assert.True(t, acct.Protect && acct.RetainOnDelete, "the account is protected and retained")
}

func TestBackupStoreContainerAndLifecycle(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	acct, _ := rec.Named("azure-native:storage:StorageAccount", "backups-account")

	ctr, ok := rec.Named("azure-native:storage:BlobContainer", "backups-container")
	require.True(t, ok)
	assert.Equal(t, BackupContainer, ctr.Input("containerName"))
	assert.Equal(t, "None", ctr.Input("publicAccess"))
	assert.Contains(t, ctr.Dependencies, acct.URN)
	assert.True(t, ctr.Protect, "the container holding backups is protected too")

	svc, ok := rec.Named("azure-native:storage:BlobServiceProperties", "backups-blob-service")
	require.True(t, ok)
	assert.Equal(t, true, svc.Input("isVersioningEnabled"))
	assert.Equal(t, true, svc.Input("deleteRetentionPolicy.enabled"))
	assert.Equal(t, true, svc.Input("containerDeleteRetentionPolicy.enabled"))
	// A backup deleted early stays recoverable at least until it would
	// have expired; for as long nobody can delete or overwrite it.
	assert.GreaterOrEqual(t, svc.Input("deleteRetentionPolicy.days"), float64(35))
	assert.GreaterOrEqual(t, svc.Input("containerDeleteRetentionPolicy.days"), float64(35))
	worm, ok := rec.Named("azure-native:storage:BlobContainerImmutabilityPolicy", "backups-retention")
	require.True(t, ok)
	assert.Equal(t, BackupContainer, worm.Input("containerName"))
	assert.GreaterOrEqual(t, worm.Input("immutabilityPeriodSinceCreationInDays"), float64(35))
	assert.Equal(t, false, worm.Input("allowProtectedAppendWrites"), "no writes into a kept backup")
	assert.Contains(t, worm.Dependencies, ctr.URN)

	lc, ok := rec.Named("azure-native:storage:ManagementPolicy", "backups-lifecycle")
	require.True(t, ok)
	rules, _ := lc.Input("policy.rules").([]any)
	require.Len(t, rules, 1)
	rule := rules[0].(map[string]any)
	del := rule["definition"].(map[string]any)["actions"].(map[string]any)["baseBlob"].(map[string]any)["delete"].(map[string]any)
	assert.Equal(t, float64(35), del["daysAfterModificationGreaterThan"], "backups expire after the retention")
	ver := rule["definition"].(map[string]any)["actions"].(map[string]any)["version"].(map[string]any)["delete"].(map[string]any)
	assert.Equal(t, float64(35), ver["daysAfterCreationGreaterThan"], "and so do the versions a deleted backup leaves")
	prefixes := rule["definition"].(map[string]any)["filters"].(map[string]any)["prefixMatch"]
	assert.Equal(t, []any{BackupContainer + "/mysql/"}, prefixes, "dumps expire; the moodledata copy under files/ does not")
}

func TestBackupStoreLockOnlyWhenAsked(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	assert.Empty(t, rec.OfType("azure-native:authorization:ManagementLockByScope"))
	a := args()
	a.Lock = true
	rec, err = run(t, a)
	require.NoError(t, err)
	acct, _ := rec.Named("azure-native:storage:StorageAccount", "backups-account")
	lock, ok := rec.Named("azure-native:authorization:ManagementLockByScope", "backups-lock")
	require.True(t, ok)
	assert.Equal(t, "CanNotDelete", lock.Input("level"))
	assert.Contains(t, lock.Dependencies, acct.URN, "on the account itself")
	assert.Contains(t, lock.String("scope"), "stmdlbkpprodabc123")

	a.RetentionDays = 366
	_, err = run(t, a)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "retentionDays 366 is out of range 1-365")
}

func TestBackupStoreRejectsBadArgs(t *testing.T) {
	bad := args()
	bad.AccountName = "Has-Dashes"
	bad.Replication = "GRS2"
	bad.RetentionDays = 0
	bad.Protection = ""
	rec, err := run(t, bad)
	require.Error(t, err)
	for _, want := range []string{`accountName "Has-Dashes"`, `replication "GRS2"`, "retentionDays 0", `data protection ""`} {
		assert.Contains(t, err.Error(), want)
	}
	assert.Empty(t, rec.Resources())
}
