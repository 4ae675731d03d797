package resourcegroup

import (
	"testing"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func tags() map[string]string {
	return infra.Tags(&infra.Config{Project: "p", Stack: "s", Region: "uksouth", Residency: "uk", Environment: infra.Prod})
}

func run(t *testing.T, args *Args) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.Run("p", "s", nil, nil, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "region", args)
		return err
	})
}

func TestResourceGroup(t *testing.T) {
	cases := []struct {
		mode          infra.DataProtection
		protect, keep bool
	}{
		{infra.Protect, true, true},
		{infra.Retain, false, true},
		{infra.NoProtection, false, false},
	}
	for _, tc := range cases {
		t.Run(string(tc.mode), func(t *testing.T) {
			rec, err := run(t, &Args{Name: "rg-moodle-prod-uksouth", Location: "uksouth", Tags: tags(), Protection: tc.mode})
			require.NoError(t, err)

			comp, ok := rec.Named(TypeToken, "region")
			require.True(t, ok, "the component is registered")
			rg, ok := rec.Named("azure-native:resources:ResourceGroup", "region-rg")
			require.True(t, ok)
			assert.Equal(t, comp.URN, rg.Parent)
			assert.Equal(t, "uksouth", rg.Input("location"))
			assert.Equal(t, "rg-moodle-prod-uksouth", rg.Input("resourceGroupName"))
			assert.Equal(t, "uk", rg.Input("tags.residency"))
			assert.Equal(t, "pulumi", rg.Input("tags.managed-by"))
			assert.Equal(t, tc.protect, rg.Protect)
			assert.Equal(t, tc.keep, rg.RetainOnDelete)
		})
	}
}

func TestResourceGroupRejectsBadArgsBeforeRegistering(t *testing.T) {
	rec, err := run(t, &Args{Name: "rg-ends-with-dot.", Location: "", Tags: nil, Protection: "sometimes"})
	require.Error(t, err)
	for _, want := range []string{"rg-ends-with-dot.", "location is required", "tags are required", `"sometimes"`} {
		assert.Contains(t, err.Error(), want)
	}
	assert.Empty(t, rec.Resources(), "nothing is registered")

	_, err = run(t, nil)
	assert.ErrorContains(t, err, "args are required")
}

func TestResourceGroupLock(t *testing.T) {
	rec, err := run(t, &Args{Name: "rg-moodle-prod-uksouth-disks", Location: "uksouth", Tags: tags(), Protection: infra.Protect, Lock: true})
	require.NoError(t, err)
	rg := rec.OfType("azure-native:resources:ResourceGroup")[0]
	locks := rec.OfType("azure-native:authorization:ManagementLockByScope")
	require.Len(t, locks, 1)
	assert.Equal(t, "CanNotDelete", locks[0].Input("level"))
	assert.Contains(t, locks[0].Dependencies, rg.URN)
	assert.Contains(t, locks[0].String("scope"), "rg-moodle-prod-uksouth-disks")

	rec, err = run(t, &Args{Name: "rg-moodle-dev-uksouth-disks", Location: "uksouth", Tags: tags(), Protection: infra.Retain})
	require.NoError(t, err)
	assert.Empty(t, rec.OfType("azure-native:authorization:ManagementLockByScope"))
}
