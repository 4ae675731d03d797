package audit

import (
	"testing"

	"github.com/fieldcert/moodle-aks/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func run(t *testing.T, a *Args, sources ...Source) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.Run("p", "s", nil, nil, func(ctx *pulumi.Context) error {
		trail, err := New(ctx, "audit", a)
		if err != nil {
			return err
		}
		return trail.Send(ctx, "audit", sources...)
	})
}

func TestTrail(t *testing.T) {
	rec, err := run(t, &Args{ResourceGroupName: pulumi.String("rg"), Location: "northeurope", Name: "log-moodle-prod-eu-northeurope",
		RetentionDays: 365, Protect: true, Tags: map[string]string{"stack": "prod-eu"}},
		Source{Name: "cluster", ResourceURI: pulumi.String("/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks"), Categories: ClusterCategories})
	require.NoError(t, err)
	ws, ok := rec.Named("azure-native:operationalinsights:Workspace", "audit-workspace")
	require.True(t, ok)
	assert.Equal(t, "northeurope", ws.Input("location"), "the logs stay in the stack's region")
	assert.Equal(t, float64(365), ws.Input("retentionInDays"))
	assert.Equal(t, true, ws.Input("features.disableLocalAuth"), "no shared key reads the audit log")
	assert.True(t, ws.Protect, "prod's audit log is never deleted by accident")

	d, ok := rec.Named("azure-native:insights:DiagnosticSetting", "audit-cluster-diagnostics")
	require.True(t, ok)
	assert.Equal(t, "Dedicated", d.Input("logAnalyticsDestinationType"))
	assert.Equal(t, []any{
		map[string]any{"category": "kube-audit-admin", "enabled": true},
		map[string]any{"category": "guard", "enabled": true},
	}, d.Input("logs"))
	assert.Contains(t, d.String("workspaceId"), "log-moodle-prod-eu-northeurope")
	assert.Contains(t, d.Dependencies, ws.URN)
}

func TestTrailRejectsBadArgs(t *testing.T) {
	rec, err := run(t, &Args{Location: "northeurope", Name: "x", RetentionDays: 7})
	require.Error(t, err)
	for _, want := range []string{"resourceGroupName is required", "tags are required", `workspace name "x"`, "retention 7 days"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.Empty(t, rec.Resources())

	_, err = run(t, &Args{ResourceGroupName: pulumi.String("rg"), Location: "northeurope", Name: "log-a", RetentionDays: 30, Tags: map[string]string{"a": "b"}},
		Source{Name: "cluster"})
	assert.ErrorContains(t, err, `source "cluster" needs a resource and categories`)
}
