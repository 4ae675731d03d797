// Package volumes provides the cluster's storage: StorageClasses that
// retain their disks and shares, and static PersistentVolumes with claims
// bound to the NFS shares of the region's file store, so that moodledata
// outlives the cluster and a rebuilt cluster reattaches the same data.
package volumes

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/fieldcert/moodle-aks/components/dataprotect"
	"github.com/fieldcert/moodle-aks/infra"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	storagev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/storage/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the component's type; with the child names it forms URNs.
const TypeToken = "moodle:volumes:Volumes"

// StorageClass names.
const (
	// DiskClass is zone-redundant Premium SSD (locally redundant without
	// zones): a pod can move to another zone and reattach its disk. Prometheus
	// uses it, and the single-instance MySQL of earlier versions did.
	DiskClass = "premium-disk-retain"
	// ZonalDiskClass is locally redundant Premium SSD, created in the zone of
	// the pod that first uses it: the replicated data tier's members, each
	// pinned to its zone by anti-affinity, whose copies in other zones are
	// the redundancy. LRS writes are faster than ZRS ("the write latency for
	// LRS disks is better than ZRS disks", Azure docs, "Redundancy options for
	// managed disks"), and a member could not follow a ZRS disk into a zone
	// that already has a member anyway.
	ZonalDiskClass = "premium-disk-zonal-retain"
	// NFSClass is Premium Azure Files over NFS, for shared (RWX) data.
	NFSClass = "premium-nfs-retain"
)

// nfsMountOptions suit Moodle on Azure Files NFS: several TCP connections
// per mount (nconnect) for throughput, noresvport so a reconnect after a
// network blip works, and a short attribute cache so pods see each other's
// writes (Moodle's file locks live in the database, not on the share).
var nfsMountOptions = []string{"nconnect=4", "noresvport", "actimeo=30"}

// Share is one NFS share to expose as a PersistentVolume with a claim.
type Share struct {
	// Name is the share's name on the file store; the claim has the same name.
	Name string
	// QuotaGiB is the share's size.
	QuotaGiB int
	// Namespace is where the claim goes.
	Namespace string
	// ReadOnlyIn, when set, is a namespace that gets a read-only claim of
	// the same name on the share too (the backup Job's copy).
	ReadOnlyIn string
}

// Args configures the volumes.
type Args struct {
	// ResourceGroup and StorageAccount name the file store (required).
	ResourceGroup, StorageAccount string
	// DiskResourceGroup is where dynamically provisioned disks go (the
	// StorageClasses' resourceGroup): outside the node resource group,
	// which AKS deletes with the cluster (required).
	DiskResourceGroup string
	// Shares are the NFS shares to bind (at least one).
	Shares []Share
	// ZoneRedundant selects ZRS disks and shares (the stack uses zones).
	ZoneRedundant bool
	// Protection is the data protection mode of volumes and claims (required).
	Protection infra.DataProtection
	// DependsOn are created first: the claims' namespaces and the file
	// shares the volumes point at (required).
	DependsOn []pulumi.Resource
}

// Volumes is the storage classes and bound volumes.
type Volumes struct {
	pulumi.ResourceState

	// Claims maps each share's name to its claim's name.
	Claims map[string]string
	// Classes are the StorageClass resources: workloads with claims on them
	// depend on these.
	Classes []pulumi.Resource
	// Bound are the volumes and claims of the shares: pods that mount the
	// claims depend on these.
	Bound []pulumi.Resource
}

func (a *Args) validate() error {
	var errs []error
	if !infra.ResourceGroupNameRE.MatchString(a.ResourceGroup) {
		errs = append(errs, fmt.Errorf("resourceGroup %q is not a resource group name", a.ResourceGroup))
	}
	if !infra.ResourceGroupNameRE.MatchString(a.DiskResourceGroup) {
		errs = append(errs, fmt.Errorf("diskResourceGroup %q is not a resource group name", a.DiskResourceGroup))
	}
	if !infra.StorageAccountNameRE.MatchString(a.StorageAccount) {
		errs = append(errs, fmt.Errorf("storageAccount %q is not a storage account name", a.StorageAccount))
	}
	if len(a.Shares) == 0 {
		errs = append(errs, errors.New("at least one share is required"))
	}
	for _, s := range a.Shares {
		if s.Name == "" || s.Namespace == "" || s.QuotaGiB < 1 {
			errs = append(errs, fmt.Errorf("share %q needs a name, a namespace and a size", s.Name))
		}
	}
	if len(a.DependsOn) == 0 {
		errs = append(errs, errors.New("dependsOn (namespaces and shares) is required"))
	}
	return errors.Join(errs...)
}

// New registers the storage classes, volumes and claims.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Volumes, error) {
	if args == nil {
		return nil, fmt.Errorf("volumes %q: args are required", name)
	}
	a := *args
	err := a.validate()
	protect, perr := dataprotect.Options(a.Protection)
	if err = errors.Join(err, perr); err != nil {
		return nil, fmt.Errorf("volumes %q: %w", name, err)
	}
	c := &Volumes{Claims: map[string]string{}}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registering volumes component %q: %w", name, err)
	}
	sku := "Premium_LRS"
	if a.ZoneRedundant {
		sku = "Premium_ZRS"
	}
	retain := pulumi.String("Retain")
	disk, err := storagev1.NewStorageClass(ctx, name+"-disk", &storagev1.StorageClassArgs{
		Metadata:    &metav1.ObjectMetaArgs{Name: pulumi.String(DiskClass)},
		Provisioner: pulumi.String("disk.csi.azure.com"),
		// resourceGroup: disks outlive the cluster (azure-disk-csi.md).
		Parameters: pulumi.StringMap{"skuName": pulumi.String(sku), "cachingMode": pulumi.String("ReadOnly"),
			"resourceGroup": pulumi.String(a.DiskResourceGroup)},
		// A deleted claim leaves its disk: MySQL's data is never reclaimed.
		ReclaimPolicy:        retain,
		AllowVolumeExpansion: pulumi.Bool(true),
		// Create the disk in the zone where the pod is scheduled.
		VolumeBindingMode: pulumi.String("WaitForFirstConsumer"),
	}, pulumi.Parent(c))
	if err != nil {
		return nil, fmt.Errorf("creating storage class %s: %w", DiskClass, err)
	}
	zonal, err := storagev1.NewStorageClass(ctx, name+"-disk-zonal", &storagev1.StorageClassArgs{
		Metadata:    &metav1.ObjectMetaArgs{Name: pulumi.String(ZonalDiskClass)},
		Provisioner: pulumi.String("disk.csi.azure.com"),
		Parameters: pulumi.StringMap{"skuName": pulumi.String("Premium_LRS"), "cachingMode": pulumi.String("ReadOnly"),
			"resourceGroup": pulumi.String(a.DiskResourceGroup)},
		ReclaimPolicy:        retain,
		AllowVolumeExpansion: pulumi.Bool(true),
		// The disk is made in the zone the scheduler picked for the pod.
		VolumeBindingMode: pulumi.String("WaitForFirstConsumer"),
	}, pulumi.Parent(c))
	if err != nil {
		return nil, fmt.Errorf("creating storage class %s: %w", ZonalDiskClass, err)
	}
	nfs, err := storagev1.NewStorageClass(ctx, name+"-nfs", &storagev1.StorageClassArgs{
		Metadata:             &metav1.ObjectMetaArgs{Name: pulumi.String(NFSClass)},
		Provisioner:          pulumi.String("file.csi.azure.com"),
		Parameters:           pulumi.StringMap{"protocol": pulumi.String("nfs"), "skuName": pulumi.String(sku)},
		MountOptions:         pulumi.ToStringArray(nfsMountOptions),
		ReclaimPolicy:        retain,
		AllowVolumeExpansion: pulumi.Bool(true),
		VolumeBindingMode:    pulumi.String("Immediate"),
	}, pulumi.Parent(c))
	if err != nil {
		return nil, fmt.Errorf("creating storage class %s: %w", NFSClass, err)
	}
	c.Classes = []pulumi.Resource{disk, zonal, nfs}

	data := append([]pulumi.ResourceOption{pulumi.Parent(c), pulumi.DependsOn(a.DependsOn)}, protect...)
	for _, s := range a.Shares {
		if err := a.bind(ctx, c, name, s, s.Namespace, false, data); err != nil {
			return nil, err
		}
		if s.ReadOnlyIn != "" {
			if err := a.bind(ctx, c, name, s, s.ReadOnlyIn, true, data); err != nil {
				return nil, err
			}
		}
	}
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"diskClass": pulumi.String(DiskClass), "nfsClass": pulumi.String(NFSClass)}); err != nil {
		return nil, fmt.Errorf("registering outputs of volumes %q: %w", name, err)
	}
	return c, nil
}

// bind makes a static volume on share s and the one claim in ns it is
// bound to; a read-only one mounts the share read-only, whatever the pod
// asks.
func (a *Args) bind(ctx *pulumi.Context, c *Volumes, name string, s Share, ns string, ro bool, data []pulumi.ResourceOption) error {
	suffix, mode := "", "ReadWriteMany"
	// readOnly is set only on the read-only volume: an existing volume's
	// spec is immutable, and a new field on it would replace a protected
	// volume.
	var readOnly pulumi.BoolPtrInput
	if ro {
		suffix, mode, readOnly = "-readonly", "ReadOnlyMany", pulumi.Bool(true)
	}
	pvName := ns + "-" + s.Name
	size := pulumi.String(strconv.Itoa(s.QuotaGiB) + "Gi")
	pv, err := corev1.NewPersistentVolume(ctx, name+"-"+s.Name+suffix+"-pv", &corev1.PersistentVolumeArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(pvName)},
		Spec: &corev1.PersistentVolumeSpecArgs{
			Capacity:                      pulumi.StringMap{"storage": size},
			AccessModes:                   pulumi.StringArray{pulumi.String(mode)},
			PersistentVolumeReclaimPolicy: pulumi.String("Retain"),
			StorageClassName:              pulumi.String(NFSClass),
			MountOptions:                  pulumi.ToStringArray(nfsMountOptions),
			// Bound to its claim only: no other claim can take the data.
			ClaimRef: &corev1.ObjectReferenceArgs{Namespace: pulumi.String(ns), Name: pulumi.String(s.Name)},
			Csi: &corev1.CSIPersistentVolumeSourceArgs{
				ReadOnly: readOnly,
				Driver:   pulumi.String("file.csi.azure.com"),
				// Azure Files CSI static volume handle: group#account#share.
				VolumeHandle: pulumi.String(a.ResourceGroup + "#" + a.StorageAccount + "#" + s.Name),
				VolumeAttributes: pulumi.StringMap{
					"resourceGroup":  pulumi.String(a.ResourceGroup),
					"storageAccount": pulumi.String(a.StorageAccount),
					"shareName":      pulumi.String(s.Name),
					"protocol":       pulumi.String("nfs"),
				},
			},
		},
	}, data...)
	if err != nil {
		return fmt.Errorf("creating volume %s: %w", pvName, err)
	}
	pvc, err := corev1.NewPersistentVolumeClaim(ctx, name+"-"+s.Name+suffix+"-pvc", &corev1.PersistentVolumeClaimArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(s.Name), Namespace: pulumi.String(ns)},
		Spec: &corev1.PersistentVolumeClaimSpecArgs{
			AccessModes:      pulumi.StringArray{pulumi.String(mode)},
			StorageClassName: pulumi.String(NFSClass),
			VolumeName:       pulumi.String(pvName),
			Resources:        &corev1.VolumeResourceRequirementsArgs{Requests: pulumi.StringMap{"storage": size}},
		},
	}, append(data, pulumi.DependsOn([]pulumi.Resource{pv}))...)
	if err != nil {
		return fmt.Errorf("creating claim %s/%s: %w", ns, s.Name, err)
	}
	c.Bound = append(c.Bound, pv, pvc)
	if !ro {
		c.Claims[s.Name] = s.Name
	}
	return nil
}
