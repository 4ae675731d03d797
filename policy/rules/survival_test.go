package rules

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// survivingStack is what prod renders for its data (components/storage,
// components/resourcegroup, components/volumes), reduced to what the rule
// reads.
func survivingStack() []Resource {
	disks := azure(typeResourceGroup, "data-disks-rg", map[string]any{"resourceGroupName": "rg-disks"})
	acct := azure(typeAccount, "backups-account", map[string]any{"accountName": "stbkp"})
	lock := func(name string, on Resource) Resource {
		l := azure(typeLock, name, map[string]any{"level": "CanNotDelete"})
		l.Dependencies = []string{on.URN}
		return l
	}
	return []Resource{
		disks, acct, lock("disks-lock", disks), lock("backups-lock", acct),
		azure("azure-native:containerservice/v20241001:ManagedCluster", "aks", map[string]any{"nodeResourceGroup": "rg-nodes"}),
		k8s(typeStorageCls, "disk", map[string]any{"metadata": meta("", "managed-premium-retain"), "provisioner": "disk.csi.azure.com", "parameters": map[string]any{"resourceGroup": "rg-disks"}}),
		k8s(typeStorageCls, "nfs", map[string]any{"metadata": meta("", "nfs"), "provisioner": "file.csi.azure.com", "parameters": map[string]any{}}),
		azure(typeLifecycle, "lc", map[string]any{"accountName": "stbkp", "policy": map[string]any{"rules": []any{map[string]any{
			"definition": map[string]any{"actions": map[string]any{"baseBlob": map[string]any{"delete": map[string]any{"daysAfterModificationGreaterThan": float64(35)}}}}}}}}),
		azure(typeImmutability, "worm", map[string]any{"accountName": "stbkp", "immutabilityPeriodSinceCreationInDays": float64(35)}),
		azure(typeBlobService, "svc", map[string]any{"accountName": "stbkp", "isVersioningEnabled": true, "deleteRetentionPolicy": map[string]any{"enabled": true, "days": float64(35)}}),
		azure(typeFileService, "fsvc", map[string]any{"accountName": "stfiles", "shareDeleteRetentionPolicy": map[string]any{"enabled": true, "days": float64(35)}}),
	}
}

func survivalFindings(rs []Resource, env string) string {
	s := stack(rs...)
	s.Environment = env
	var msgs []string
	for _, f := range BackupsSurvive.Check(s) {
		msgs = append(msgs, f.Message)
	}
	return strings.Join(msgs, "\n")
}

// with returns the stack with the resource named name changed by f (nil
// f: removed).
func with(name string, f func(r *Resource)) []Resource {
	var out []Resource
	for _, r := range survivingStack() {
		if r.Name == name {
			if f == nil {
				continue
			}
			f(&r)
		}
		out = append(out, r)
	}
	return out
}

func TestBackupsSurvive(t *testing.T) {
	assert.Empty(t, survivalFindings(survivingStack(), "prod"))
	cases := []struct {
		name string
		rs   []Resource
		want string
	}{
		{"disk class without resourceGroup: the node group", with("disk", func(r *Resource) { r.Inputs["parameters"] = map[string]any{} }), "into the node resource group"},
		{"disk class naming the node group", with("disk", func(r *Resource) { r.Inputs["parameters"] = map[string]any{"resourceGroup": "rg-nodes"} }), "into the node resource group"},
		{"disk class naming a group the stack does not own", with("disk", func(r *Resource) { r.Inputs["parameters"] = map[string]any{"resourceGroup": "rg-else"} }), `"rg-else", a group this stack does not create`},
		{"disks' group unlocked", with("disks-lock", nil), "rg-disks holds the data disks but has no CanNotDelete lock"},
		{"a ReadOnly lock is not a delete lock", with("disks-lock", func(r *Resource) { r.Inputs["level"] = "ReadOnly" }), "no CanNotDelete lock"},
		{"backup account unlocked", with("backups-lock", nil), "backup account stbkp has no CanNotDelete lock"},
		{"no retention policy", with("worm", nil), "no container retention policy keeps them that long"},
		{"retention policy shorter than the lifecycle", with("worm", func(r *Resource) { r.Inputs["immutabilityPeriodSinceCreationInDays"] = float64(14) }), "no container retention policy keeps them that long"},
		{"soft delete shorter than the retention", with("svc", func(r *Resource) {
			r.Inputs["deleteRetentionPolicy"] = map[string]any{"enabled": true, "days": float64(14)}
		}), "blob soft delete of at least 35 days"},
		{"no versioning", with("svc", func(r *Resource) { r.Inputs["isVersioningEnabled"] = false }), "needs versioning"},
		{"share soft delete off", with("fsvc", func(r *Resource) { r.Inputs["shareDeleteRetentionPolicy"] = map[string]any{"enabled": false} }), "does not soft-delete shares"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Contains(t, survivalFindings(tc.rs, "prod"), tc.want)
			assert.Empty(t, survivalFindings(tc.rs, "dev"), "dev is not held to it")
		})
	}
}
