package mocks

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type comp struct{ pulumi.ResourceState }

func TestRecorderCapturesRegistrations(t *testing.T) {
	rec, err := Run("proj", "stk", map[string]string{"proj:k": "v"}, nil, func(ctx *pulumi.Context) error {
		v, ok := ctx.GetConfig("proj:k")
		if !ok || v != "v" {
			t.Errorf("config not passed: %q", v)
		}
		c := &comp{}
		if err := ctx.RegisterComponentResource("moodle:test:Comp", "c", c); err != nil {
			return err
		}
		var dep pulumi.CustomResourceState
		if err := ctx.RegisterResource("azure-native:storage:StorageAccount", "acct", pulumi.Map{
			"accountName":       pulumi.String("stacct"),
			"resourceGroupName": pulumi.String("rg"),
			"secret":            pulumi.ToSecret(pulumi.String("hunter2")),
		}, &dep, pulumi.Parent(c), pulumi.Protect(true)); err != nil {
			return err
		}
		var child pulumi.CustomResourceState
		return ctx.RegisterResource("azure-native:storage:BlobContainer", "ctr", pulumi.Map{
			"accountName":   pulumi.String("stacct"),
			"containerName": pulumi.String("backups"),
		}, &child, pulumi.Parent(c), pulumi.DependsOn([]pulumi.Resource{&dep}), pulumi.RetainOnDelete(true))
	})
	require.NoError(t, err)

	all := rec.Resources()
	require.Len(t, all, 3)
	assert.Equal(t, "urn:pulumi:stk::proj::moodle:test:Comp::c", all[0].URN, "parents come first")
	assert.False(t, all[0].Custom)
	acct, ok := rec.Named("azure-native:storage:StorageAccount", "acct")
	require.True(t, ok)
	assert.Equal(t, "urn:pulumi:stk::proj::moodle:test:Comp$azure-native:storage:StorageAccount::acct", acct.URN)
	assert.Equal(t, all[0].URN, acct.Parent)
	assert.True(t, acct.Protect)
	assert.Equal(t, Secret, acct.Inputs["secret"], "secrets never recorded in plain text")
	ctr, _ := rec.Named("azure-native:storage:BlobContainer", "ctr")
	assert.Equal(t, []string{acct.URN}, ctr.Dependencies)
	assert.True(t, ctr.RetainOnDelete)
}

func TestComputedOutputs(t *testing.T) {
	id, out := computedOutputs(pulumi.MockResourceArgs{
		TypeToken: "azure-native:storage:BlobContainer", Name: "ctr",
		Inputs: resource.NewPropertyMapFromMap(map[string]any{"accountName": "stacct", "containerName": "backups", "resourceGroupName": "rg"}),
	})
	assert.Equal(t, "/subscriptions/"+SubscriptionID+"/resourceGroups/rg/providers/Mock.storage/BlobContainer/backups", id)
	assert.Equal(t, "backups", out["name"].StringValue(), "the container's own name, not its account's")

	_, out = computedOutputs(pulumi.MockResourceArgs{TypeToken: "azure-native:managedidentity:UserAssignedIdentity", Name: "id",
		Inputs: resource.NewPropertyMapFromMap(map[string]any{"resourceName": "id-backup"})})
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-`, out["principalId"].StringValue())

	_, out = computedOutputs(pulumi.MockResourceArgs{TypeToken: "random:index/randomPassword:RandomPassword", Name: "pw"})
	assert.True(t, out["result"].IsSecret(), "generated passwords are secret")

	id, out = computedOutputs(pulumi.MockResourceArgs{TypeToken: "kubernetes:core/v1:ConfigMap", Name: "cm",
		Inputs: resource.NewPropertyMapFromMap(map[string]any{"metadata": map[string]any{"namespace": "moodle"}})})
	assert.Equal(t, "moodle/cm", id)
	assert.Equal(t, "cm", out["metadata"].ObjectValue()["name"].StringValue())
}

func TestInvokes(t *testing.T) {
	rec := NewRecorder("p", "s")
	out, err := rec.Call(pulumi.MockCallArgs{Token: "azure-native:authorization:getClientConfig"})
	require.NoError(t, err)
	assert.Equal(t, SubscriptionID, out["subscriptionId"].StringValue())

	out, err = rec.Call(pulumi.MockCallArgs{Token: "azure-native:containerservice:listManagedClusterUserCredentials",
		Args: resource.NewPropertyMapFromMap(map[string]any{"resourceName": "aks-moodle-prod"})})
	require.NoError(t, err)
	kc := out["kubeconfigs"].ArrayValue()[0].ObjectValue()["value"]
	require.True(t, kc.IsSecret(), "kubeconfigs are secret")
	raw, err := base64.StdEncoding.DecodeString(kc.SecretValue().Element.StringValue())
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(raw), "aks-moodle-prod.hcp"))
	assert.Equal(t, []string{"azure-native:authorization:getClientConfig", "azure-native:containerservice:listManagedClusterUserCredentials"}, rec.Invokes())
}
