package volumes

import (
	"testing"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func args() *Args {
	return &Args{
		ResourceGroup: "rg-moodle-prod-eastus2", StorageAccount: "stmdlfilesprodabc123", DiskResourceGroup: "rg-moodle-prod-eastus2-disks",
		Shares:        []Share{{Name: "moodledata", QuotaGiB: 1024, Namespace: infra.NamespaceMoodle}},
		ZoneRedundant: true, Protection: infra.Protect,
	}
}

func run(t *testing.T, a *Args) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.RunAfter(func(ctx *pulumi.Context, ns pulumi.Resource) error {
		if a.DependsOn == nil {
			a.DependsOn = []pulumi.Resource{ns}
		}
		_, err := New(ctx, "volumes", a)
		return err
	})
}

func TestStorageClassesRetain(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	disk, ok := rec.Named("kubernetes:storage.k8s.io/v1:StorageClass", "volumes-disk")
	require.True(t, ok)
	assert.Equal(t, "disk.csi.azure.com", disk.Input("provisioner"))
	assert.Equal(t, "Premium_ZRS", disk.Input("parameters.skuName"), "zone-redundant disks follow the pod across zones")
	assert.Equal(t, "Retain", disk.Input("reclaimPolicy"))
	assert.Equal(t, true, disk.Input("allowVolumeExpansion"))
	assert.Equal(t, "WaitForFirstConsumer", disk.Input("volumeBindingMode"))
	// Every disk class provisions into the stack's own group, not the node
	// resource group AKS deletes with the cluster.
	for _, class := range []string{"volumes-disk", "volumes-disk-zonal"} {
		c, ok := rec.Named("kubernetes:storage.k8s.io/v1:StorageClass", class)
		require.True(t, ok)
		assert.Equal(t, "rg-moodle-prod-eastus2-disks", c.Input("parameters.resourceGroup"), class)
	}

	nfs, ok := rec.Named("kubernetes:storage.k8s.io/v1:StorageClass", "volumes-nfs")
	require.True(t, ok)
	assert.Equal(t, "nfs", nfs.Input("parameters.protocol"))
	assert.Equal(t, "Retain", nfs.Input("reclaimPolicy"))
	assert.Contains(t, nfs.Input("mountOptions"), "nconnect=4")

	a := args()
	a.ZoneRedundant = false
	rec, err = run(t, a)
	require.NoError(t, err)
	disk, _ = rec.Named("kubernetes:storage.k8s.io/v1:StorageClass", "volumes-disk")
	assert.Equal(t, "Premium_LRS", disk.Input("parameters.skuName"))
}

func TestStaticVolumeBoundToTheShare(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	pv, ok := rec.Named("kubernetes:core/v1:PersistentVolume", "volumes-moodledata-pv")
	require.True(t, ok)
	assert.Equal(t, "moodle-moodledata", pv.Input("metadata.name"))
	assert.Equal(t, "Retain", pv.Input("spec.persistentVolumeReclaimPolicy"))
	assert.Equal(t, []any{"ReadWriteMany"}, pv.Input("spec.accessModes"))
	assert.Equal(t, "1024Gi", pv.Input("spec.capacity.storage"))
	assert.Equal(t, "rg-moodle-prod-eastus2#stmdlfilesprodabc123#moodledata", pv.Input("spec.csi.volumeHandle"))
	assert.Equal(t, "nfs", pv.Input("spec.csi.volumeAttributes.protocol"))
	assert.Equal(t, "moodledata", pv.Input("spec.claimRef.name"))
	assert.True(t, pv.Protect && pv.RetainOnDelete, "protected in prod")

	pvc, ok := rec.Named("kubernetes:core/v1:PersistentVolumeClaim", "volumes-moodledata-pvc")
	require.True(t, ok)
	assert.Equal(t, infra.NamespaceMoodle, pvc.Input("metadata.namespace"))
	assert.Equal(t, "moodle-moodledata", pvc.Input("spec.volumeName"))
	assert.Equal(t, NFSClass, pvc.Input("spec.storageClassName"))
	assert.Contains(t, pvc.Dependencies, pv.URN)
	assert.True(t, pvc.Protect)
	assert.Nil(t, pv.Input("spec.csi.readOnly"), "the serving volume's spec is as before (a PV's spec is immutable)")
	assert.Empty(t, rec.OfType("kubernetes:core/v1:PersistentVolumeClaim")[1:], "no read-only claim unless asked")

	// The backup namespace's read-only claim on the same share.
	a := args()
	a.Shares[0].ReadOnlyIn = infra.NamespaceData
	rec, err = run(t, a)
	require.NoError(t, err)
	ro, ok := rec.Named("kubernetes:core/v1:PersistentVolume", "volumes-moodledata-readonly-pv")
	require.True(t, ok)
	assert.Equal(t, "data-moodledata", ro.Input("metadata.name"))
	assert.Equal(t, true, ro.Input("spec.csi.readOnly"), "mounted read-only whatever the pod asks")
	assert.Equal(t, []any{"ReadOnlyMany"}, ro.Input("spec.accessModes"))
	assert.Equal(t, "rg-moodle-prod-eastus2#stmdlfilesprodabc123#moodledata", ro.Input("spec.csi.volumeHandle"), "the same share")
	assert.Equal(t, infra.NamespaceData, ro.Input("spec.claimRef.namespace"))
	assert.Equal(t, "Retain", ro.Input("spec.persistentVolumeReclaimPolicy"))
	roc, ok := rec.Named("kubernetes:core/v1:PersistentVolumeClaim", "volumes-moodledata-readonly-pvc")
	require.True(t, ok)
	assert.Equal(t, infra.NamespaceData, roc.Input("metadata.namespace"))
	rw, _ := rec.Named("kubernetes:core/v1:PersistentVolume", "volumes-moodledata-pv")
	assert.Equal(t, "moodle-moodledata", rw.Input("metadata.name"), "the serving volume is unchanged")
}

func TestVolumesRejectBadArgs(t *testing.T) {
	a := args()
	a.StorageAccount = "Bad-Name"
	a.Shares = nil
	a.Protection = "maybe"
	rec, err := run(t, a)
	require.Error(t, err)
	for _, want := range []string{`storageAccount "Bad-Name"`, "at least one share", `"maybe"`} {
		assert.Contains(t, err.Error(), want)
	}
	for _, r := range rec.Resources() {
		assert.NotEqual(t, TypeToken, r.Type)
	}
}
