package certs

import (
	"testing"

	"github.com/fieldcert/moodle-aks/components/internal/helm"
	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func args(challenge string) *Args {
	a := &Args{
		Version: "v1.21.1", Hostname: "learn.fieldcert.example", Email: "certs@fieldcert.example",
		Challenge: challenge, Environment: "production", Replicas: 2, GatewayNamespace: infra.NamespaceIngress,
	}
	if challenge == "dns01" {
		a.DNS = &AzureDNS{SubscriptionID: pulumi.String(mocks.SubscriptionID), ZoneResourceGroup: "rg-dns", ZoneName: "fieldcert.example", ClientID: pulumi.String("client-id")}
	}
	return a
}

func run(t *testing.T, a *Args) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.RunAfter(func(ctx *pulumi.Context, ns pulumi.Resource) error {
		a.Namespaces = []pulumi.Resource{ns}
		_, err := New(ctx, "certs", a)
		return err
	})
}

func TestCertManagerRelease(t *testing.T) {
	rec, err := run(t, args("dns01"))
	require.NoError(t, err)
	rel, ok := rec.Named("kubernetes:helm.sh/v3:Release", "certs-cert-manager")
	require.True(t, ok)
	assert.Equal(t, "v1.21.1", rel.Input("version"))
	assert.Equal(t, helm.JetstackRepo, rel.Input("repositoryOpts.repo"))
	assert.Equal(t, infra.NamespaceCertManager, rel.Input("namespace"))
	assert.Equal(t, true, rel.Input("values.crds.enabled"))
	assert.Equal(t, true, rel.Input("values.crds.keep"))
	assert.Equal(t, "true", rel.Input("values.podLabels").(map[string]any)["azure.workload.identity/use"])
	assert.Equal(t, infra.CertManagerWorkload.ServiceAccount, rel.Input("values.serviceAccount.name"), "the federated service account")
	// The namespace reaches only kube-dns on port 53: the DNS-01 self-check
	// must go through it (cert-manager's --dns01-recursive-nameservers-only).
	assert.Equal(t, []any{"--dns01-recursive-nameservers-only"}, rel.Input("values.extraArgs"))
}

func TestCertManagerSurvivesDrains(t *testing.T) {
	a := args("dns01")
	a.Replicas = 2
	rec, err := run(t, a)
	require.NoError(t, err)
	rel, _ := rec.Named("kubernetes:helm.sh/v3:Release", "certs-cert-manager")
	for _, d := range []string{"", "webhook.", "cainjector."} {
		if d != "" {
			assert.Equal(t, float64(2), rel.Input("values."+d+"replicaCount"), d)
		}
		assert.Equal(t, true, rel.Input("values."+d+"podDisruptionBudget.enabled"), "%s keeps one pod through a drain (the webhook is failurePolicy Fail)", d)
	}
	a = args("dns01")
	a.Replicas = 1
	rec, err = run(t, a)
	require.NoError(t, err)
	rel, _ = rec.Named("kubernetes:helm.sh/v3:Release", "certs-cert-manager")
	assert.Equal(t, false, rel.Input("values.webhook.podDisruptionBudget.enabled"), "one pod: a budget would block every drain")
}

func TestIssuersAndCertificate(t *testing.T) {
	rec, err := run(t, args("dns01"))
	require.NoError(t, err)
	rel, _ := rec.Named("kubernetes:helm.sh/v3:Release", "certs-cert-manager")
	prod, ok := rec.Named("kubernetes:cert-manager.io/v1:ClusterIssuer", "certs-issuer-production")
	require.True(t, ok)
	_, ok = rec.Named("kubernetes:cert-manager.io/v1:ClusterIssuer", "certs-issuer-staging")
	require.True(t, ok, "a staging issuer exists too")
	assert.Contains(t, prod.Dependencies, rel.URN, "CRDs first")
	assert.Equal(t, "https://acme-v02.api.letsencrypt.org/directory", prod.Input("spec.acme.server"))
	solver := prod.Input("spec.acme.solvers").([]any)[0].(map[string]any)
	az := solver["dns01"].(map[string]any)["azureDNS"].(map[string]any)
	assert.Equal(t, "fieldcert.example", az["hostedZoneName"])
	assert.Equal(t, "client-id", az["managedIdentity"].(map[string]any)["clientID"])

	cert, ok := rec.Named("kubernetes:cert-manager.io/v1:Certificate", "certs-site")
	require.True(t, ok)
	assert.Equal(t, infra.NamespaceIngress, cert.Input("metadata.namespace"), "beside the gateway")
	assert.Equal(t, infra.SiteTLSSecret, cert.Input("spec.secretName"))
	assert.Equal(t, []any{"learn.fieldcert.example"}, cert.Input("spec.dnsNames"))
	assert.Equal(t, "letsencrypt-production", cert.Input("spec.issuerRef.name"))
	assert.Contains(t, cert.Dependencies, prod.URN)
}

func TestHTTP01AndStaging(t *testing.T) {
	a := args("http01")
	a.Environment = "staging"
	rec, err := run(t, a)
	require.NoError(t, err)
	iss, _ := rec.Named("kubernetes:cert-manager.io/v1:ClusterIssuer", "certs-issuer-staging")
	solver := iss.Input("spec.acme.solvers").([]any)[0].(map[string]any)
	assert.Equal(t, SolverIngressClass, solver["http01"].(map[string]any)["ingress"].(map[string]any)["ingressClassName"])
	cert, _ := rec.Named("kubernetes:cert-manager.io/v1:Certificate", "certs-site")
	assert.Equal(t, "letsencrypt-staging", cert.Input("spec.issuerRef.name"))
}

func TestCertsRejectBadArgs(t *testing.T) {
	a := args("dns01")
	a.DNS = nil
	a.Version = "1.19"
	a.Email = "nobody"
	a.Environment = "test"
	rec, err := run(t, a)
	require.Error(t, err)
	for _, want := range []string{"dns01 needs", `version "1.19"`, `email "nobody"`, `environment "test"`} {
		assert.Contains(t, err.Error(), want)
	}
	for _, r := range rec.Resources() {
		assert.NotEqual(t, TypeToken, r.Type)
	}
}

func TestEgressHosts(t *testing.T) {
	assert.Equal(t, []string{"acme-v02.api.letsencrypt.org", "acme-staging-v02.api.letsencrypt.org"}, EgressHosts("http01"),
		"both issuers' ACME directories")
	assert.Equal(t, []string{"acme-v02.api.letsencrypt.org", "acme-staging-v02.api.letsencrypt.org", "management.azure.com", "login.microsoftonline.com"},
		EgressHosts("dns01"), "DNS-01 also writes the zone through Azure Resource Manager with an Entra ID token")
}
