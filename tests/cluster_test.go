package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/render"
	"github.com/fieldcert/moodle-aks/stacks"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestInClusterPlatform(t *testing.T) {
	cases := []struct {
		stack, issuer, challenge string
		istiod                   float64
	}{
		{"dev", "letsencrypt-staging", "http01", 1},
		{"prod", "letsencrypt-production", "dns01", 2},
	}
	for _, tc := range cases {
		t.Run(tc.stack, func(t *testing.T) {
			rec := runStack(t, tc.stack, "")
			prov := rec.OfType("pulumi:providers:kubernetes")
			require.Len(t, prov, 1)
			for _, r := range rec.Resources() {
				if strings.HasPrefix(r.Type, "kubernetes:") {
					assert.True(t, strings.HasPrefix(r.Provider, prov[0].URN+"::"), "%s deploys through the cluster's provider", r.URN)
				}
			}

			nss := map[string]map[string]any{}
			for _, n := range rec.OfType("kubernetes:core/v1:Namespace") {
				nss[n.String("metadata.name")] = n.Input("metadata.labels").(map[string]any)
			}
			require.Len(t, nss, len(infra.Namespaces))
			for _, n := range infra.MeshNamespaces {
				assert.Equal(t, "enabled", nss[n]["istio-injection"], n)
			}
			assert.Equal(t, "restricted", nss[infra.NamespaceMoodle]["pod-security.kubernetes.io/enforce"])

			istiod, ok := rec.Named("kubernetes:helm.sh/v3:Release", "mesh-istiod")
			require.True(t, ok)
			assert.Equal(t, "1.30.3", istiod.Input("version"))
			assert.Equal(t, tc.istiod, istiod.Input("values.autoscaleMin"))
			gw, _ := rec.Named("kubernetes:helm.sh/v3:Release", "mesh-gateway")
			pip := rec.OfType("azure-native:network:PublicIPAddress")[0]
			assert.Equal(t, pip.Input("publicIpAddressName"), gw.Input("values.service.annotations").(map[string]any)["service.beta.kubernetes.io/azure-pip-name"], "the gateway uses the ingress IP")

			pa, ok := rec.Named("kubernetes:security.istio.io/v1:PeerAuthentication", "mesh-peer-authentication")
			require.True(t, ok)
			assert.Equal(t, "STRICT", pa.Input("spec.mtls.mode"))

			cert, ok := rec.Named("kubernetes:cert-manager.io/v1:Certificate", "certs-site")
			require.True(t, ok)
			assert.Equal(t, tc.issuer, cert.Input("spec.issuerRef.name"))
			iss, _ := rec.Named("kubernetes:cert-manager.io/v1:ClusterIssuer", "certs-issuer-production")
			solver := iss.Input("spec.acme.solvers").([]any)[0].(map[string]any)
			assert.Contains(t, solver, tc.challenge)

			pv, ok := rec.Named("kubernetes:core/v1:PersistentVolume", "volumes-moodledata-pv")
			require.True(t, ok)
			files := rec.OfType("azure-native:storage:StorageAccount")
			var account string
			for _, f := range files {
				if f.String("kind") == "FileStorage" {
					account = f.String("accountName")
				}
			}
			assert.Contains(t, pv.String("spec.csi.volumeHandle"), "#"+account+"#moodledata", "bound to the file store's share")
			for _, n := range infra.Namespaces {
				_, ok := rec.Named("kubernetes:networking.k8s.io/v1:NetworkPolicy", "namespaces-"+n+"-default-deny")
				assert.True(t, ok, "default deny in %s", n)
			}
		})
	}
}

func TestProdDeclaresIntegrationEgress(t *testing.T) {
	rec := runStack(t, "prod", "")
	se, ok := rec.Named("kubernetes:networking.istio.io/v1:ServiceEntry", "mesh-egress-integrations-api-workday-example-443")
	require.True(t, ok, "the hr-sync integration's endpoint is declared")
	assert.Equal(t, []any{"api.workday.example"}, se.Input("spec.hosts"))
	_, ok = rec.Named("kubernetes:networking.istio.io/v1:ServiceEntry", "mesh-egress-moodle-smtp-azurecomm-net-587")
	assert.True(t, ok)
}

func TestRenderedManifestsOfTheInClusterPlatform(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		r := renderCLI(t, stacks.Program, "-stack", stack)
		require.Equal(t, render.ExitOK, r.code, r.stderr)
		for _, f := range []string{
			"_cluster/namespace-moodle.yaml", "_cluster/storageclass-premium-disk-retain.yaml",
			"_cluster/persistentvolume-moodle-moodledata.yaml", "_cluster/clusterissuer-letsencrypt-staging.yaml",
			"istio-system/peerauthentication-default.yaml", "istio-ingress/gateway-moodle.yaml",
			"istio-ingress/certificate-site.yaml", "moodle/virtualservice-moodle.yaml",
			"moodle/persistentvolumeclaim-moodledata.yaml", "data/networkpolicy-default-deny.yaml",
			"data/perconaservermysql-mysql.yaml", "data/rediscluster-redis-sessions.yaml", "_cluster/clusterissuer-data-tier-ca.yaml",
		} {
			b, err := os.ReadFile(filepath.Join(r.out, "kubernetes", f))
			require.NoError(t, err, "%s: %s", stack, f)
			var m map[string]any
			require.NoError(t, yaml.Unmarshal(b, &m))
			assert.NotEmpty(t, m["kind"], f)
		}
	}
}

func TestIstioAddonStack(t *testing.T) {
	rec := runStack(t, "addon", "testdata/addon.yaml")
	c := rec.OfType("azure-native:containerservice/v20241001:ManagedCluster")[0]
	assert.Equal(t, []any{"asm-1-30"}, c.Input("serviceMeshProfile.istio.revisions"))
	assert.Empty(t, rec.OfType("azure-native:network:PublicIPAddress"))
	for _, r := range rec.OfType("kubernetes:helm.sh/v3:Release") {
		assert.NotContains(t, r.String("chart"), "istio", "no Istio chart with the add-on")
		assert.NotEqual(t, "base", r.String("chart"))
	}
	for _, n := range rec.OfType("kubernetes:core/v1:Namespace") {
		name := n.String("metadata.name")
		assert.NotEqual(t, infra.NamespaceIstio, name)
		if name == infra.NamespaceMoodle {
			assert.Equal(t, "asm-1-30", n.Input("metadata.labels").(map[string]any)["istio.io/rev"])
		}
	}
	cert, _ := rec.Named("kubernetes:cert-manager.io/v1:Certificate", "certs-site")
	assert.Equal(t, "aks-istio-ingress", cert.Input("metadata.namespace"))

	r := renderCLI(t, stacks.Program, "-stack", "addon", "-config", "testdata/addon.yaml")
	assert.Equal(t, render.ExitOK, r.code, r.stderr)
}
