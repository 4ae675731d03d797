package main

import (
	"context"
	"testing"

	"github.com/fieldcert/moodle-aks/policy/rules"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type manager struct{ got [][2]string }

func (m *manager) ReportViolation(msg, urn string) { m.got = append(m.got, [2]string{msg, urn}) }

func tags(residency string) property.Value {
	return property.New(map[string]property.Value{
		"environment": property.New("prod"), "region": property.New("brazilsouth"), "residency": property.New(residency),
		"managed-by": property.New("pulumi"), "project": property.New("moodle-aks"), "stack": property.New("prod"),
	})
}

func previewOf(sku string) []policyx.AnalyzerResource {
	return []policyx.AnalyzerResource{
		{
			Type: "azure-native:resources:ResourceGroup", Name: "region-rg", URN: "urn:rg",
			Properties: property.NewMap(map[string]property.Value{"location": property.New("brazilsouth"), "tags": tags("br")}),
		},
		{
			Type: "azure-native:storage:StorageAccount", Name: "backups-account", URN: "urn:acct",
			Properties: property.NewMap(map[string]property.Value{
				"location": property.New("brazilsouth"),
				"sku":      property.New(map[string]property.Value{"name": property.New(sku)}),
				"tags":     tags("br"),
				// a secret input must not break the conversion
				"key": property.New("s3cr3t").WithSecret(true),
			}),
		},
	}
}

func TestPackRunsTheSharedRules(t *testing.T) {
	pack, err := Pack(rules.All())
	require.NoError(t, err)
	require.Len(t, pack.Policies(), len(rules.All()))

	var replication policyx.StackValidationPolicy
	for _, p := range pack.Policies() {
		assert.Equal(t, policyx.EnforcementLevelMandatory, p.EnforcementLevel(), p.Name())
		if p.Name() == rules.ResidencyReplication.ID {
			replication = p.(policyx.StackValidationPolicy)
		}
	}
	require.NotNil(t, replication)

	m := &manager{}
	require.NoError(t, replication.Validate(context.Background(), policyx.StackValidationArgs{Manager: m, Resources: previewOf("Standard_GRS")}))
	require.Len(t, m.got, 1, "GRS in brazilsouth copies data to the US")
	assert.Contains(t, m.got[0][0], "southcentralus")
	assert.Equal(t, "urn:acct", m.got[0][1])

	m = &manager{}
	require.NoError(t, replication.Validate(context.Background(), policyx.StackValidationArgs{Manager: m, Resources: previewOf("Standard_ZRS")}))
	assert.Empty(t, m.got)
}

func TestCheckWithoutResourceGroupReports(t *testing.T) {
	got := Check(rules.ResidencyLocation, previewOf("Standard_LRS")[1:])
	require.Len(t, got, 1)
	assert.Contains(t, got[0].Message, "cannot tell its region")
}

func TestPlainKeepsSecretsSecret(t *testing.T) {
	in := previewOf("Standard_LRS")[1]
	m := plainMap(in.Properties)
	assert.Equal(t, "[secret]", m["key"])
	assert.Equal(t, "Standard_LRS", m["sku"].(map[string]any)["name"])
}
