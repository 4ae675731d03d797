package integrations

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
		Integrations: map[string]infra.Integration{
			"hr-sync": {Kind: "job", Image: "r.example.com/hr:1.4.2", Schedule: "*/30 * * * *", Command: []string{"/app/sync"}},
			"crm":     {Kind: "service", Image: "r.example.com/crm:2.1", Port: 8080, Replicas: 2},
		},
		Secrets: map[string]map[string]string{"hr-sync": {"MOODLE_TOKEN": "tok-plain-in-test"}},
		OwnPool: true,
	}
}

func run(t *testing.T, a *Args) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.RunAfter(func(ctx *pulumi.Context, ns pulumi.Resource) error {
		if a.DependsOn == nil {
			a.DependsOn = []pulumi.Resource{ns}
		}
		_, err := New(ctx, "integrations", a)
		return err
	})
}

func TestScheduledIntegration(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	cj, ok := rec.Named("kubernetes:batch/v1:CronJob", "integrations-hr-sync")
	require.True(t, ok)
	assert.Equal(t, infra.NamespaceIntegrations, cj.Input("metadata.namespace"))
	assert.Equal(t, "*/30 * * * *", cj.Input("spec.schedule"))
	assert.Equal(t, "Forbid", cj.Input("spec.concurrencyPolicy"))
	assert.NotNil(t, cj.Input("spec.startingDeadlineSeconds"))
	assert.NotNil(t, cj.Input("spec.jobTemplate.spec.activeDeadlineSeconds"))
	assert.Equal(t, "integration", cj.Input("spec.jobTemplate.metadata.labels").(map[string]any)[infra.AlertLabel], "failures page someone")
	pod := cj.Input("spec.jobTemplate.spec.template.spec").(map[string]any)
	assert.Equal(t, "integration-hr-sync", pod["serviceAccountName"], "its own service account")
	ownPool := map[string]any{"moodle.fieldcert/pool": "integrations"}
	assert.Equal(t, ownPool, pod["nodeSelector"], "third-party code on its own pool, not the jobs pool")
	assert.Equal(t, []any{map[string]any{"key": "moodle.fieldcert/pool", "operator": "Equal", "value": "integrations", "effect": "NoSchedule"}}, pod["tolerations"])
	c := pod["containers"].([]any)[0].(map[string]any)
	assert.Equal(t, "r.example.com/hr:1.4.2", c["image"])
	assert.Equal(t, "integration-hr-sync", c["envFrom"].([]any)[0].(map[string]any)["secretRef"].(map[string]any)["name"])

	sec, ok := rec.Named("kubernetes:core/v1:Secret", "integrations-hr-sync-secret")
	require.True(t, ok)
	assert.Equal(t, map[string]any{"MOODLE_TOKEN": mocks.Secret}, sec.Input("stringData"), "the token is a Pulumi secret; its key shows")
}

func TestServiceIntegration(t *testing.T) {
	rec, err := run(t, args())
	require.NoError(t, err)
	d, ok := rec.Named("kubernetes:apps/v1:Deployment", "integrations-crm")
	require.True(t, ok)
	assert.Equal(t, float64(2), d.Input("spec.replicas"))
	assert.Equal(t, map[string]any{"moodle.fieldcert/pool": "integrations"}, d.Input("spec.template.spec.nodeSelector"))
	c := d.Input("spec.template.spec.containers").([]any)[0].(map[string]any)
	assert.NotNil(t, c["readinessProbe"])
	assert.NotNil(t, c["livenessProbe"])
	var url string
	for _, e := range c["env"].([]any) {
		if e.(map[string]any)["name"] == "MOODLE_URL" {
			url = e.(map[string]any)["value"].(string)
		}
	}
	assert.Equal(t, "http://moodle-web.moodle.svc.cluster.local:8080", url, "inside the mesh: mTLS by the sidecars")
	_, ok = rec.Named("kubernetes:core/v1:Service", "integrations-crm-service")
	assert.True(t, ok)
}

func TestIntegrationsRejectSecretsForUnknownNames(t *testing.T) {
	a := args()
	a.Secrets["ghost"] = map[string]string{"X": "y"}
	_, err := run(t, a)
	assert.ErrorContains(t, err, `secrets for "ghost"`)
}
