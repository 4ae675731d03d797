package stacks

import (
	"github.com/fieldcert/moodle-aks/components/identity"
	"github.com/fieldcert/moodle-aks/infra"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The custom roles of the backup identity: each the actions its Job runs
// and no more (https://learn.microsoft.com/azure/role-based-access-control/resource-provider-operations,
// Microsoft.Storage). Defined in the stack's resource group, assigned on
// one account each.

// backupWriterRole lets the dump upload and the restore download: read
// and list blobs, create them. No delete: within the retention the
// container's WORM policy refuses an overwrite anyway, and after it only
// the lifecycle rule removes backups.
func backupWriterRole(n infra.Names, group pulumi.StringInput) *identity.CustomRole {
	return &identity.CustomRole{
		Name:        n.Identity("backup") + " backup writer",
		Description: "moodle-aks: upload and read database dumps and their manifests; never delete them.",
		DataActions: []string{
			"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
			"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
			"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action",
		},
		DefinedIn: group,
	}
}

// shareSnapshotRole lets the nightly Job snapshot the moodledata share and
// expire old snapshots through ARM (az storage share-rm snapshot, list
// --include-snapshot, delete --snapshot). shares/delete also covers the
// share itself: share soft delete keeps a deleted share, with its
// snapshots, for backupRetentionDays. Unlike Storage Account Contributor
// it cannot list or regenerate keys, change network rules or delete the
// account.
func shareSnapshotRole(n infra.Names, group pulumi.StringInput) *identity.CustomRole {
	return &identity.CustomRole{
		Name:        n.Identity("backup") + " share snapshots",
		Description: "moodle-aks: snapshot the moodledata share and expire its old snapshots.",
		Actions: []string{
			"Microsoft.Storage/storageAccounts/read",
			"Microsoft.Storage/storageAccounts/fileServices/read",
			"Microsoft.Storage/storageAccounts/fileServices/shares/read",
			"Microsoft.Storage/storageAccounts/fileServices/shares/write",
			"Microsoft.Storage/storageAccounts/fileServices/shares/delete",
		},
		DefinedIn: group,
	}
}
