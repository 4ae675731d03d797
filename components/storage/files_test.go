package storage

import (
	"testing"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func endpoint() *Endpoint {
	return &Endpoint{
		SubnetID: pulumi.String("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/endpoints"),
		VNetID:   pulumi.String("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"),
	}
}

func fileArgs() *FileStoreArgs {
	return &FileStoreArgs{
		ResourceGroupName: pulumi.String("rg-test"),
		AccountName:       "stmdlfilesprodabc123",
		Location:          "eastus2",
		Replication:       "ZRS",
		Shares:            []Share{{Name: "moodledata", QuotaGiB: 1024}, {Name: "addons", QuotaGiB: 100}},
		PrivateEndpoint:   endpoint(),
		Protection:        infra.Protect,
		SoftDeleteDays:    35,
		Tags:              map[string]string{"environment": "prod"},
	}
}

func runFiles(t *testing.T, a *FileStoreArgs) (*mocks.Recorder, *FileStore, error) {
	t.Helper()
	var fs *FileStore
	rec, err := mocks.Run("p", "s", nil, nil, func(ctx *pulumi.Context) error {
		var err error
		fs, err = NewFileStore(ctx, "files", a)
		return err
	})
	return rec, fs, err
}

func TestFileStoreAccount(t *testing.T) {
	rec, fs, err := runFiles(t, fileArgs())
	require.NoError(t, err)
	acct, ok := rec.Named("azure-native:storage:StorageAccount", "files-account")
	require.True(t, ok)
	assert.Equal(t, "FileStorage", acct.Input("kind"))
	assert.Equal(t, "Premium_ZRS", acct.Input("sku.name"))
	assert.Equal(t, "Disabled", acct.Input("publicNetworkAccess"), "no public network access")
	assert.Equal(t, "Deny", acct.Input("networkRuleSet.defaultAction"))
	assert.Equal(t, "TLS1_2", acct.Input("minimumTlsVersion"))
	assert.Equal(t, false, acct.Input("allowBlobPublicAccess"))
	assert.Equal(t, false, acct.Input("enableHttpsTrafficOnly"), "NFS cannot mount with secure transfer required")
	assert.True(t, acct.Protect && acct.RetainOnDelete)
	assert.Equal(t, map[string]string{"moodledata": "/stmdlfilesprodabc123/moodledata", "addons": "/stmdlfilesprodabc123/addons"}, fs.SharePaths)
}

func TestFileStoreShares(t *testing.T) {
	rec, _, err := runFiles(t, fileArgs())
	require.NoError(t, err)
	shares := rec.OfType("azure-native:storage:FileShare")
	require.Len(t, shares, 2)
	md, ok := rec.Named("azure-native:storage:FileShare", "files-moodledata-share")
	require.True(t, ok)
	assert.Equal(t, "NFS", md.Input("enabledProtocols"))
	assert.Equal(t, float64(1024), md.Input("shareQuota"))
	assert.True(t, md.Protect, "moodledata is protected in prod")
}

func TestFileStoreShareSoftDeleteAndNoLock(t *testing.T) {
	rec, _, err := runFiles(t, fileArgs())
	require.NoError(t, err)
	svc, ok := rec.Named("azure-native:storage:FileServiceProperties", "files-file-service")
	require.True(t, ok)
	assert.Equal(t, true, svc.Input("shareDeleteRetentionPolicy.enabled"))
	assert.Equal(t, float64(35), svc.Input("shareDeleteRetentionPolicy.days"), "a deleted share and its snapshots come back for the retention")
	// A lock here would refuse the ARM delete of an expired snapshot.
	assert.Empty(t, rec.OfType("azure-native:authorization:ManagementLockByScope"))

	a := fileArgs()
	a.SoftDeleteDays = 366
	_, _, err = runFiles(t, a)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "softDeleteDays 366 is out of range 1-365")
}

func TestFileStorePrivateEndpoint(t *testing.T) {
	rec, _, err := runFiles(t, fileArgs())
	require.NoError(t, err)
	acct, _ := rec.Named("azure-native:storage:StorageAccount", "files-account")

	pe, ok := rec.Named("azure-native:network:PrivateEndpoint", "files-file-pe")
	require.True(t, ok)
	assert.Equal(t, "eastus2", pe.Input("location"))
	assert.Contains(t, pe.String("subnet.id"), "/subnets/endpoints")
	conns := pe.Input("privateLinkServiceConnections").([]any)
	require.Len(t, conns, 1)
	assert.Equal(t, []any{"file"}, conns[0].(map[string]any)["groupIds"])
	assert.Contains(t, pe.Dependencies, acct.URN)

	zone, ok := rec.Named("azure-native:network:PrivateZone", "files-file-dns")
	require.True(t, ok)
	assert.Equal(t, "privatelink.file.core.windows.net", zone.Input("privateZoneName"))
	assert.Equal(t, "global", zone.Input("location"))
	link, ok := rec.Named("azure-native:network:VirtualNetworkLink", "files-file-dns-link")
	require.True(t, ok)
	assert.Equal(t, "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v", link.Input("virtualNetwork.id"))
	assert.Equal(t, false, link.Input("registrationEnabled"))
	grp, ok := rec.Named("azure-native:network:PrivateDnsZoneGroup", "files-file-pe-dns")
	require.True(t, ok)
	assert.Contains(t, grp.Dependencies, pe.URN)
	assert.Contains(t, grp.Dependencies, zone.URN)
}

func TestFileStoreRejectsBadArgs(t *testing.T) {
	a := fileArgs()
	a.Replication = "GRS"
	a.Shares = []Share{{Name: "Moodle_Data", QuotaGiB: 50}}
	a.PrivateEndpoint = nil
	rec, _, err := runFiles(t, a)
	require.Error(t, err)
	for _, want := range []string{`replication "GRS"`, `share name "Moodle_Data"`, "quota 50 GiB", "privateEndpoint needs"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.Empty(t, rec.Resources())
}

func TestBackupStorePrivateEndpoint(t *testing.T) {
	a := args()
	a.PrivateEndpoint = endpoint()
	rec, err := run(t, a)
	require.NoError(t, err)
	acct, _ := rec.Named("azure-native:storage:StorageAccount", "backups-account")
	assert.Equal(t, "Disabled", acct.Input("publicNetworkAccess"))
	pe, ok := rec.Named("azure-native:network:PrivateEndpoint", "backups-blob-pe")
	require.True(t, ok)
	assert.Equal(t, []any{"blob"}, pe.Input("privateLinkServiceConnections").([]any)[0].(map[string]any)["groupIds"])
	zone, _ := rec.Named("azure-native:network:PrivateZone", "backups-blob-dns")
	assert.Equal(t, "privatelink.blob.core.windows.net", zone.Input("privateZoneName"))

	rec, err = run(t, args())
	require.NoError(t, err)
	assert.Empty(t, rec.OfType("azure-native:network:PrivateEndpoint"), "no endpoint unless asked")
}
