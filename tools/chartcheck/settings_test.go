package chartcheck

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// The value-effect check proves each key changes what a chart renders; it
// cannot tell whether the change is the one the program means. These tests
// read the templated objects of the pinned charts and check that each
// setting the program relies on arrives where the cluster reads it: mesh
// config and images, native sidecars and CNI, disruption budgets, Grafana's
// admin secret, dashboards and datasource, the Alertmanager config, rule
// and monitor selection, and the kube-state-metrics label allowlist. A
// chart upgrade that renames or drops one of them fails here.

// find returns the one object of a kind and name in a release.
func find(t *testing.T, r templated, kind, name string) Object {
	t.Helper()
	for _, o := range r.objects {
		if o.Kind() == kind && o.Name() == name {
			return o
		}
	}
	require.Failf(t, "object missing", "%s/%s: release %s templates no %s %s", r.rel.Stack, r.rel.Name, r.rel.Name, kind, name)
	return nil
}

func count(r templated, kind string) int {
	n := 0
	for _, o := range r.objects {
		if o.Kind() == kind {
			n++
		}
	}
	return n
}

// container is a workload's container by name.
func container(t *testing.T, o Object, name string) map[string]any {
	t.Helper()
	path := "spec.template.spec.containers"
	for _, c := range asSlice(o.Get(path)) {
		if m := asMap(c); m["name"] == name {
			return m
		}
	}
	require.Failf(t, "container missing", "%s %s has no container %s", o.Kind(), o.Name(), name)
	return nil
}

// env is a container's environment as name -> value (or the secret
// reference as "secret:<name>/<key>").
func env(c map[string]any) map[string]string {
	out := map[string]string{}
	for _, e := range asSlice(c["env"]) {
		m := asMap(e)
		name := fmt.Sprint(m["name"])
		if ref := asMap(Object(m).Get("valueFrom.secretKeyRef")); ref != nil {
			out[name] = fmt.Sprintf("secret:%v/%v", ref["name"], ref["key"])
			continue
		}
		if v, ok := m["value"]; ok {
			out[name] = fmt.Sprint(v)
		}
	}
	return out
}

func args(c map[string]any) []string {
	var out []string
	for _, a := range asSlice(c["args"]) {
		out = append(out, fmt.Sprint(a))
	}
	return out
}

// release finds a stack's release by chart name.
func release(t *testing.T, rels []templated, chart string) templated {
	t.Helper()
	for _, r := range rels {
		if r.rel.Chart == chart {
			return r
		}
	}
	require.Failf(t, "release missing", "no release of chart %s", chart)
	return templated{}
}

func value(r templated, path string) any {
	v, _ := At(r.rel.Values, strings.Split(path, "."))
	return v
}

func TestIstioSettingsReachTheTemplates(t *testing.T) {
	stacks, rels := load(t)
	for _, s := range stacks {
		t.Run(s.Name, func(t *testing.T) {
			istiod := release(t, rels[s.Name], "istiod")
			version := istiod.rel.Version
			hub := fmt.Sprint(value(istiod, "global.hub"))
			require.Equal(t, "docker.io/istio", hub, "the release images' hub, not the development hub the package carries")

			d := find(t, istiod, "Deployment", "istiod")
			discovery := container(t, d, "discovery")
			assert.Equal(t, hub+"/pilot:"+version, discovery["image"], "istiod runs the released image of the pinned version")
			assert.Equal(t, "true", env(discovery)["ENABLE_NATIVE_SIDECARS"], "native sidecars: Jobs in the mesh complete")

			// Mesh config as istiod reads it (ConfigMap istio, key mesh).
			var mesh map[string]any
			require.NoError(t, yaml.Unmarshal([]byte(find(t, istiod, "ConfigMap", "istio").Str("data.mesh")), &mesh))
			m := Object(mesh)
			assert.Equal(t, "REGISTRY_ONLY", m.Str("outboundTrafficPolicy.mode"), "only declared destinations")
			assert.Equal(t, true, m.Get("enablePrometheusMerge"), "metrics merged on 15020")
			assert.Equal(t, "/dev/stdout", m.Str("accessLogFile"))
			assert.Equal(t, "true", m.Str("defaultConfig.proxyMetadata.ISTIO_META_DNS_CAPTURE"), "DNS capture for TCP ServiceEntries")

			// The injector's values name the sidecar image.
			var inj map[string]any
			require.NoError(t, json.Unmarshal([]byte(find(t, istiod, "ConfigMap", "istio-sidecar-injector").Str("data.values")), &inj))
			assert.Equal(t, hub, Object(inj).Str("global.hub"), "sidecars and the gateway (image: auto) come from the release hub")
			assert.Equal(t, version, Object(inj).Str("global.tag"))
			assert.Equal(t, true, Object(inj).Get("pilot.cni.enabled"), "injection leaves traffic capture to the CNI node agent (no istio-init)")

			hpa := find(t, istiod, "HorizontalPodAutoscaler", "istiod")
			assert.EqualValues(t, value(istiod, "autoscaleMin"), hpa.Get("spec.minReplicas"))
			wantPDB := 0
			if fmt.Sprint(value(istiod, "autoscaleMin")) != "1" {
				wantPDB = 1
			}
			assert.Equal(t, wantPDB, count(istiod, "PodDisruptionBudget"), "istiod keeps a disruption budget when it runs more than one replica")

			cni := release(t, rels[s.Name], "cni")
			ds := find(t, cni, "DaemonSet", "istio-cni-node")
			install := container(t, ds, "install-cni")
			assert.Equal(t, hub+"/install-cni:"+version, install["image"])
			for k := range asMap(ds.Get("spec.template.metadata.annotations")) {
				assert.NotContains(t, k, "apparmor", "no deprecated AppArmor annotation (the API server warns on it since 1.30)")
			}
			assert.Equal(t, "Unconfined", Object(install).Str("securityContext.appArmorProfile.type"), "the profile is in the securityContext field")
			cfg := find(t, cni, "ConfigMap", "istio-cni-config")
			assert.Equal(t, "true", cfg.Str("data.CHAINED_CNI_PLUGIN"), "chained onto Cilium's CNI config")
			assert.ElementsMatch(t, []string{"istio-system", "kube-system"}, strings.Split(cfg.Str("data.EXCLUDE_NAMESPACES"), ","))

			gw := release(t, rels[s.Name], "gateway")
			svc := find(t, gw, "Service", gw.rel.Name)
			assert.Equal(t, "LoadBalancer", svc.Str("spec.type"))
			assert.Equal(t, "Local", svc.Str("spec.externalTrafficPolicy"), "the client's address reaches Moodle")
			pip := asMap(value(gw, "service.annotations"))["service.beta.kubernetes.io/azure-pip-name"]
			require.NotEmpty(t, pip)
			assert.Equal(t, pip, asMap(svc.Get("metadata.annotations"))["service.beta.kubernetes.io/azure-pip-name"], "the static ingress IP")
			hpa = find(t, gw, "HorizontalPodAutoscaler", gw.rel.Name)
			minGW := value(gw, "autoscaling.minReplicas")
			assert.EqualValues(t, minGW, hpa.Get("spec.minReplicas"))
			assert.EqualValues(t, value(gw, "autoscaling.maxReplicas"), hpa.Get("spec.maxReplicas"))
			if fmt.Sprint(minGW) == "1" {
				assert.Zero(t, count(gw, "PodDisruptionBudget"), "one gateway: no budget (it would block every drain)")
			} else {
				assert.EqualValues(t, 1, find(t, gw, "PodDisruptionBudget", gw.rel.Name).Get("spec.minAvailable"), "a drain leaves a gateway serving")
			}
			pod := find(t, gw, "Deployment", gw.rel.Name)
			assert.Equal(t, "RuntimeDefault", pod.Str("spec.template.spec.securityContext.seccompProfile.type"))
			assert.Contains(t, fmt.Sprint(pod.Get("spec.template.spec.securityContext.sysctls")), "net.ipv4.ip_unprivileged_port_start")
		})
	}
}

func TestCertManagerSettingsReachTheTemplates(t *testing.T) {
	stacks, rels := load(t)
	for _, s := range stacks {
		t.Run(s.Name, func(t *testing.T) {
			cm := release(t, rels[s.Name], "cert-manager")
			replicas := value(cm, "replicaCount")
			d := find(t, cm, "Deployment", "cert-manager")
			assert.EqualValues(t, replicas, d.Get("spec.replicas"))
			assert.Contains(t, args(container(t, d, "cert-manager-controller")), "--dns01-recursive-nameservers-only", "DNS-01 self-check through kube-dns")
			assert.Equal(t, "true", asMap(d.Get("spec.template.metadata.labels"))["azure.workload.identity/use"], "the workload identity webhook injects the Azure token")
			assert.Equal(t, value(cm, "serviceAccount.name"), d.Str("spec.template.spec.serviceAccountName"), "the federated service account")
			for _, name := range []string{"cert-manager-webhook", "cert-manager-cainjector"} {
				assert.EqualValues(t, replicas, find(t, cm, "Deployment", name).Get("spec.replicas"), name)
			}
			wantPDBs := 0
			if fmt.Sprint(replicas) != "1" {
				wantPDBs = 3
			}
			assert.Equal(t, wantPDBs, count(cm, "PodDisruptionBudget"), "controller, webhook and cainjector keep budgets with more than one replica")
			crds := 0
			for _, o := range cm.objects {
				if o.Kind() == "CustomResourceDefinition" {
					crds++
					assert.Equal(t, "keep", asMap(o.Get("metadata.annotations"))["helm.sh/resource-policy"], "%s survives the release (and so every Certificate)", o.Name())
				}
			}
			assert.Equal(t, 6, crds, "cert-manager's six CRDs come with the release")
		})
	}
}

// dashboardDatasources is every datasource uid the program's dashboards use.
func dashboardDatasources(t *testing.T) map[string]bool {
	files, err := filepath.Glob(filepath.Join(root, "components", "monitoring", "dashboards", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	uids := map[string]bool{}
	re := regexp.MustCompile(`"datasource":\s*\{[^}]*"uid":\s*"([^"]+)"`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			uids[m[1]] = true
		}
	}
	require.NotEmpty(t, uids, "the dashboards name their datasource")
	return uids
}

func decodeB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	require.NoError(t, err)
	return b
}

func TestMonitoringSettingsReachTheTemplates(t *testing.T) {
	stacks, rels := load(t)
	uids := dashboardDatasources(t)
	for _, s := range stacks {
		t.Run(s.Name, func(t *testing.T) {
			kps := release(t, rels[s.Name], "kube-prometheus-stack")
			p := find(t, kps, "Prometheus", "kube-prometheus-stack-prometheus")
			spec := value(kps, "prometheus.prometheusSpec")
			assert.Equal(t, asMap(spec)["retention"], p.Str("spec.retention"))
			assert.EqualValues(t, asMap(spec)["replicas"], p.Get("spec.replicas"))
			assert.Equal(t, "false", asMap(p.Get("spec.podMetadata.annotations"))["sidecar.istio.io/inject"], "Prometheus stays out of the mesh")
			assert.Equal(t, "premium-disk-retain", p.Str("spec.storage.volumeClaimTemplate.spec.storageClassName"), "metrics on the retained disk class")
			assert.Equal(t, asMap(value(kps, "prometheus.serviceAccount"))["name"], p.Str("spec.serviceAccountName"))
			assert.True(t, SameValue(asMap(spec)["resources"], p.Get("spec.resources")), "Prometheus' requests and limits: %v", p.Get("spec.resources"))
			assert.NotEmpty(t, p.Str("spec.resources.limits.memory"))

			// Rule and monitor selection: the program's own objects are picked up.
			for _, o := range s.Objects {
				labels := labelsOf(o)
				switch o.Kind() {
				case "PrometheusRule":
					assert.True(t, selects(asMap(p.Get("spec.ruleSelector")), labels), "Prometheus loads rule %s", o.Name())
					assert.NotNil(t, p.Get("spec.ruleNamespaceSelector"), "rules from every namespace")
				case "ServiceMonitor":
					assert.True(t, selects(asMap(p.Get("spec.serviceMonitorSelector")), labels), "Prometheus uses monitor %s", o.Name())
				}
			}
			// The pods job, from the additional scrape config Secret.
			ref := p.Str("spec.additionalScrapeConfigs.name")
			require.NotEmpty(t, ref)
			sec := find(t, kps, "Secret", ref)
			var jobs []map[string]any
			raw, _ := asMap(sec.Get("data"))[p.Str("spec.additionalScrapeConfigs.key")].(string)
			require.NotEmpty(t, raw)
			require.NoError(t, yaml.Unmarshal(decodeB64(t, raw), &jobs))
			require.Len(t, jobs, 1)
			assert.Equal(t, "kubernetes-pods", jobs[0]["job_name"])

			am := find(t, kps, "Alertmanager", "kube-prometheus-stack-alertmanager")
			assert.Equal(t, "alertmanager-config", am.Str("spec.configSecret"), "Alertmanager reads the program's routing")
			assert.Equal(t, "false", asMap(am.Get("spec.podMetadata.annotations"))["sidecar.istio.io/inject"])

			g := find(t, kps, "Deployment", "kube-prometheus-stack-grafana")
			genv := env(container(t, g, "grafana"))
			assert.Equal(t, "secret:grafana-admin/admin-user", genv["GF_SECURITY_ADMIN_USER"])
			assert.Equal(t, "secret:grafana-admin/admin-password", genv["GF_SECURITY_ADMIN_PASSWORD"], "the generated admin password, no chart default")
			denv := env(container(t, g, "grafana-sc-dashboard"))
			assert.Equal(t, "grafana_dashboard", denv["LABEL"])
			assert.Equal(t, "1", denv["LABEL_VALUE"])
			assert.Equal(t, "monitoring", denv["NAMESPACE"], "dashboards from the monitoring namespace only")
			for _, o := range s.Objects {
				if o.Kind() == "ConfigMap" && strings.HasPrefix(o.Name(), "dashboard-") {
					assert.Equal(t, "1", labelsOf(o)["grafana_dashboard"], "the sidecar loads %s", o.Name())
				}
			}
			ds := find(t, kps, "ConfigMap", "kube-prometheus-stack-grafana-datasource")
			var provisioned struct {
				Datasources []struct{ UID string } `json:"datasources"`
			}
			dsYAML, _ := asMap(ds.Get("data"))["datasource.yaml"].(string)
			require.NoError(t, yaml.Unmarshal([]byte(dsYAML), &provisioned))
			require.NotEmpty(t, provisioned.Datasources)
			have := map[string]bool{}
			for _, d := range provisioned.Datasources {
				have[d.UID] = true
			}
			for uid := range uids {
				assert.True(t, have[uid], "the dashboards' datasource %q is provisioned (have %v)", uid, have)
			}

			ksm := find(t, kps, "Deployment", "kube-prometheus-stack-kube-state-metrics")
			var allow string
			for _, a := range args(container(t, ksm, "kube-state-metrics")) {
				if v, ok := strings.CutPrefix(a, "--metric-labels-allowlist="); ok {
					allow = v
				}
			}
			for _, want := range asSlice(value(kps, "kube-state-metrics.metricLabelsAllowlist")) {
				assert.Contains(t, allow, fmt.Sprint(want), "kube-state-metrics exports the labels alerts route on")
			}
			assert.Contains(t, allow, "jobs=[moodle.fieldcert/alert")
		})
	}
}
