// Package locks puts Azure management locks on what must outlive a
// mistake: a CanNotDelete lock makes Azure refuse to delete the resource,
// or anything in the group it is on, until someone with
// Microsoft.Authorization/locks/delete removes the lock. It does not stop
// data-plane deletes (blobs, files): those are guarded by soft delete and
// immutability (https://learn.microsoft.com/azure/azure-resource-manager/management/lock-resources,
// "Considerations before applying your locks"; MicrosoftDocs/azure-docs
// articles/storage/common/lock-account-resource.md).
package locks

import (
	"fmt"

	"github.com/pulumi/pulumi-azure-native-sdk/authorization/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Name is the lock's Azure name on every locked scope.
const Name = "moodle-do-not-delete"

// CanNotDelete locks scope (an ARM ID) against deletion; what names it in
// the notes an operator reads before removing the lock.
func CanNotDelete(ctx *pulumi.Context, name string, scope pulumi.StringInput, what string, opts ...pulumi.ResourceOption) (*authorization.ManagementLockByScope, error) {
	lock, err := authorization.NewManagementLockByScope(ctx, name, &authorization.ManagementLockByScopeArgs{
		Level:    pulumi.String("CanNotDelete"),
		LockName: pulumi.String(Name),
		Scope:    scope,
		Notes:    pulumi.String("Moodle " + what + ": set by the moodle-aks program (prod). Remove it only to delete the data on purpose; docs/restore.md."),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", what, err)
	}
	return lock, nil
}
