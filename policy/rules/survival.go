package rules

import (
	"fmt"
	"slices"
)

// Types the survival rule reads.
const (
	typeResourceGroup  = "azure-native:resources:ResourceGroup"
	typeLock           = "azure-native:authorization:ManagementLockByScope"
	typeLifecycle      = "azure-native:storage:ManagementPolicy"
	typeBlobService    = "azure-native:storage:BlobServiceProperties"
	typeImmutability   = "azure-native:storage:BlobContainerImmutabilityPolicy"
	typeFileService    = "azure-native:storage:FileServiceProperties"
	diskCSIProvisioner = "disk.csi.azure.com"
)

// BackupsSurvive: in prod, data outlives what holds it and the identities
// that write it. Disks the CSI driver provisions go to a resource group
// the stack owns (a StorageClass without resourceGroup puts them in the
// node resource group, which AKS deletes with the cluster), locked
// against deletion; every account whose lifecycle rule expires backups
// after N days keeps them undeletable and unoverwritable for N days
// (a container time-based retention policy), recoverable for N days once
// deleted (blob soft delete, versioning on), and is itself locked; shares
// are soft-deleted, not deleted, for the same N days.
var BackupsSurvive = Rule{
	ID:          "backups-survive",
	Description: "In prod, data disks are provisioned into a locked resource group the stack owns (not the node resource group); backup accounts are locked, keep each backup immutable and soft-deletable for at least its lifecycle retention with versioning on; file shares are soft-deleted for as long.",
	Enforcement: Mandatory,
	Check: func(s *Stack) []Finding {
		if s.Environment != "prod" {
			return nil
		}
		var out []Finding
		add := func(urn, format string, args ...any) { out = append(out, Finding{urn, fmt.Sprintf(format, args...)}) }
		locked := map[string]bool{} // URNs a CanNotDelete lock depends on
		groups := map[string]Resource{}
		nodeGroups := map[string]bool{}
		for _, r := range s.Resources {
			switch BaseType(r.Type) {
			case typeLock:
				if r.String("level") == "CanNotDelete" {
					for _, d := range r.Dependencies {
						locked[d] = true
					}
				}
			case typeResourceGroup:
				groups[r.String("resourceGroupName")] = r
			case typeCluster:
				nodeGroups[r.String("nodeResourceGroup")] = true
			}
		}
		retention := map[string]int{} // account name -> lifecycle days
		accounts := map[string]Resource{}
		for _, r := range s.Resources {
			switch BaseType(r.Type) {
			case typeStorageCls:
				if r.String("provisioner") != diskCSIProvisioner {
					continue
				}
				rg := r.String("parameters.resourceGroup")
				g, owned := groups[rg]
				switch {
				case rg == "" || nodeGroups[rg]:
					add(r.URN, "StorageClass %s provisions disks into the node resource group, which AKS deletes with the cluster: set parameters.resourceGroup to a group the stack owns", r.String("metadata.name"))
				case !owned:
					add(r.URN, "StorageClass %s provisions disks into %q, a group this stack does not create", r.String("metadata.name"), rg)
				case !locked[g.URN]:
					add(g.URN, "resource group %s holds the data disks but has no CanNotDelete lock", rg)
				}
			case typeLifecycle:
				rules, _ := r.Input("policy.rules").([]any)
				for _, rule := range rules {
					m, _ := rule.(map[string]any)
					del := Resource{Inputs: m}.Input("definition.actions.baseBlob.delete.daysAfterModificationGreaterThan")
					if n := number(del); n > 0 {
						retention[r.String("accountName")] = max(retention[r.String("accountName")], n)
					}
				}
			case typeAccount:
				accounts[r.String("accountName")] = r
			}
		}
		for _, name := range sortedKeys(retention) {
			days := retention[name]
			if a, ok := accounts[name]; ok && !locked[a.URN] {
				add(a.URN, "backup account %s has no CanNotDelete lock", name)
			}
			worm, soft := false, false
			for _, r := range s.Resources {
				if r.String("accountName") != name {
					continue
				}
				switch BaseType(r.Type) {
				case typeImmutability:
					worm = worm || number(r.Input("immutabilityPeriodSinceCreationInDays")) >= days
				case typeBlobService:
					soft = r.Input("isVersioningEnabled") == true && r.Input("deleteRetentionPolicy.enabled") == true &&
						number(r.Input("deleteRetentionPolicy.days")) >= days
				}
			}
			if !worm {
				add("", "backup account %s expires backups after %d days but no container retention policy keeps them that long: whoever can write them can delete them", name, days)
			}
			if !soft {
				add("", "backup account %s needs versioning and blob soft delete of at least %d days (its retention)", name, days)
			}
		}
		for _, r := range s.Resources {
			if BaseType(r.Type) == typeFileService && r.Input("shareDeleteRetentionPolicy.enabled") != true {
				add(r.URN, "file service of %s does not soft-delete shares: a deleted share takes its snapshots with it", r.String("accountName"))
			}
		}
		return out
	},
}

func sortedKeys(m map[string]int) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
