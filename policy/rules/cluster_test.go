package rules

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func k8s(typ, name string, in map[string]any) Resource {
	return Resource{URN: "urn:pulumi:test::moodle-aks::" + typ + "::" + name, Type: typ, Name: name, Custom: true, Inputs: in}
}

func meta(ns, name string) map[string]any {
	return map[string]any{"namespace": ns, "name": name}
}

func peerAuth(ns, name, mode string) Resource {
	return k8s(typePeerAuth, ns+"-"+name, map[string]any{"metadata": meta(ns, name), "spec": map[string]any{"mtls": map[string]any{"mode": mode}}})
}

func namespace(name string, labels map[string]any) Resource {
	return k8s(typeNamespace, name, map[string]any{"metadata": map[string]any{"name": name, "labels": labels}})
}

func TestMeshMTLSStrict(t *testing.T) {
	ns := namespace("moodle", map[string]any{"istio-injection": "enabled"})
	assert.Empty(t, MeshMTLSStrict.Check(devStack(ns, peerAuth("istio-system", "default", "STRICT"))))

	got := messages(MeshMTLSStrict.Check(devStack(ns)))
	assert.Equal(t, []string{"no mesh-wide STRICT PeerAuthentication (default in istio-system or aks-istio-system)"}, got)
	assert.Empty(t, MeshMTLSStrict.Check(devStack(ns, peerAuth("aks-istio-system", "default", "STRICT"))), "the add-on's root namespace")

	got = messages(MeshMTLSStrict.Check(devStack(ns, peerAuth("istio-system", "default", "STRICT"), peerAuth("data", "legacy", "PERMISSIVE"))))
	assert.Equal(t, []string{"PeerAuthentication data/legacy sets mTLS PERMISSIVE"}, got)

	port := peerAuth("moodle", "metrics", "STRICT")
	port.Inputs["spec"].(map[string]any)["portLevelMtls"] = map[string]any{"9100": map[string]any{"mode": "DISABLE"}}
	got = messages(MeshMTLSStrict.Check(devStack(ns, peerAuth("istio-system", "default", "STRICT"), port)))
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "DISABLE on port 9100")
}

func TestMeshInjection(t *testing.T) {
	got := messages(MeshInjection.Check(devStack(
		namespace("moodle", map[string]any{"istio-injection": "enabled"}),
		namespace("data", map[string]any{"istio.io/rev": "asm-1-30"}),
		namespace("istio-system", nil),
		namespace("reports", map[string]any{"team": "bi"}),
	)))
	assert.Equal(t, []string{"namespace reports is not labelled for sidecar injection"}, got)
}

func TestVolumesRetain(t *testing.T) {
	good := k8s(typePV, "pv", map[string]any{"metadata": map[string]any{"name": "moodledata"}, "spec": map[string]any{"persistentVolumeReclaimPolicy": "Retain"}})
	bad := k8s(typePV, "pv2", map[string]any{"metadata": map[string]any{"name": "scratch"}, "spec": map[string]any{"persistentVolumeReclaimPolicy": "Delete"}})
	cls := k8s(typeStorageCls, "sc", map[string]any{"metadata": map[string]any{"name": "fast"}})
	got := messages(VolumesRetain.Check(devStack(good, bad, cls)))
	assert.ElementsMatch(t, []string{
		`PersistentVolume scratch reclaims with "Delete"`,
		`StorageClass fast reclaims with "Delete"`,
	}, got, "an unset StorageClass reclaimPolicy means Delete")
}

func TestHelmPinned(t *testing.T) {
	rel := func(name, version, repo string) Resource {
		return k8s(typeHelmRelease, name, map[string]any{"chart": name, "version": version, "repositoryOpts": map[string]any{"repo": repo}})
	}
	got := messages(HelmPinned.Check(devStack(
		rel("istiod", "1.30.3", "https://istio-release.storage.googleapis.com/charts"),
		rel("cert-manager", "v1.21.1", "https://charts.jetstack.io"),
		rel("floating", "~1.2", "https://example.com/charts"),
		rel("unpinned", "", "https://example.com/charts"),
		rel("local", "1.0.0", ""),
	)))
	assert.ElementsMatch(t, []string{
		`release floating of chart floating has version "~1.2", not an exact version`,
		`release unpinned of chart unpinned has version "", not an exact version`,
		`release local of chart local names no https chart repository`,
	}, got)
}

func TestDataNotExposed(t *testing.T) {
	svc := func(ns, name, typ, app string) Resource {
		return k8s(typeService, ns+"-"+name, map[string]any{
			"metadata": meta(ns, name),
			"spec":     map[string]any{"type": typ, "selector": map[string]any{"app": app}},
		})
	}
	got := messages(DataNotExposed.Check(devStack(
		svc("data", "mysql", "ClusterIP", "mysql"),
		svc("data", "mysql-lb", "LoadBalancer", "mysql"),
		svc("moodle", "redis-np", "NodePort", "redis"),
		svc("istio-ingress", "gateway", "LoadBalancer", "istio-ingressgateway"),
	)))
	assert.ElementsMatch(t, []string{
		"Service data/mysql-lb exposes a data store as LoadBalancer",
		"Service moodle/redis-np exposes a data store as NodePort",
	}, got, "the gateway may be a LoadBalancer")
}

func TestBackupsScheduled(t *testing.T) {
	cron := func(name, kind, schedule string, suspend bool) Resource {
		return k8s(typeCronJob, name, map[string]any{
			"metadata": map[string]any{"name": name, "labels": map[string]any{"moodle.fieldcert/backup": kind}},
			"spec":     map[string]any{"schedule": schedule, "suspend": suspend},
		})
	}
	assert.Empty(t, BackupsScheduled.Check(prodStack(cron("mysql-backup", "mysql", "30 2 * * *", false), cron("files-snapshot", "files", "0 3 * * *", false))))
	got := messages(BackupsScheduled.Check(prodStack(cron("mysql-backup", "mysql", "30 2 * * *", true))))
	assert.ElementsMatch(t, []string{
		"backup CronJob mysql-backup is suspended or has no schedule",
		"prod schedules no mysql backup",
		"prod schedules no files backup",
	}, got)
	assert.Empty(t, BackupsScheduled.Check(devStack()), "dev may skip backups")
}

func deployment(ns, name string, labels map[string]any, c map[string]any) Resource {
	return k8s("kubernetes:apps/v1:Deployment", ns+"-"+name, map[string]any{
		"metadata": meta(ns, name),
		"spec": map[string]any{"template": map[string]any{
			"metadata": map[string]any{"labels": labels},
			"spec":     map[string]any{"containers": []any{c}},
		}},
	})
}

func TestImagesPinned(t *testing.T) {
	ok := deployment("moodle", "web", nil, map[string]any{"name": "moodle", "image": "cr.example.com:5000/moodle:4.5.7"})
	digest := deployment("moodle", "dig", nil, map[string]any{"name": "x", "image": "redis@sha256:" + strings.Repeat("a", 64)})
	latest := deployment("moodle", "latest", nil, map[string]any{"name": "x", "image": "mysql:latest"})
	bare := deployment("moodle", "bare", nil, map[string]any{"name": "x", "image": "cr.example.com:5000/moodle"})
	cron := k8s(typeCronJob, "cron", map[string]any{"spec": map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{
		"spec": map[string]any{"initContainers": []any{map[string]any{"name": "init", "image": "busybox"}}},
	}}}}})
	got := messages(ImagesPinned.Check(devStack(ok, digest, latest, bare, cron)))
	require.Len(t, got, 3)
	assert.Contains(t, got[0], `"mysql:latest"`)
	assert.Contains(t, got[1], `"cr.example.com:5000/moodle"`, "a registry port is not a tag")
	assert.Contains(t, got[2], `"busybox"`, "init containers too")
}

func TestWebResilience(t *testing.T) {
	labels := map[string]any{"app": "moodle-web"}
	probed := map[string]any{"name": "moodle", "readinessProbe": map[string]any{}, "livenessProbe": map[string]any{}}
	web := deployment("moodle", "moodle-web", labels, probed)
	hpa := k8s("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "hpa", map[string]any{
		"metadata": meta("moodle", "moodle-web"),
		"spec":     map[string]any{"scaleTargetRef": map[string]any{"kind": "Deployment", "name": "moodle-web"}},
	})
	pdb := k8s("kubernetes:policy/v1:PodDisruptionBudget", "pdb", map[string]any{
		"metadata": meta("moodle", "moodle-web"),
		"spec":     map[string]any{"selector": map[string]any{"matchLabels": labels}},
	})
	assert.Empty(t, WebResilience.Check(devStack(web, hpa, pdb)))

	bare := deployment("moodle", "reports", map[string]any{"app": "reports"}, map[string]any{"name": "r"})
	got := messages(WebResilience.Check(devStack(web, hpa, pdb, bare)))
	assert.ElementsMatch(t, []string{
		"Deployment moodle/reports has no HorizontalPodAutoscaler",
		"Deployment moodle/reports has no PodDisruptionBudget selecting its pods",
		"Deployment moodle/reports: container r lacks a readiness or liveness probe",
	}, got)
	other := deployment("integrations", "crm", nil, map[string]any{"name": "c"})
	assert.Empty(t, WebResilience.Check(devStack(other)), "only Moodle's namespace")
}

func TestCronJobGuards(t *testing.T) {
	good := k8s(typeCronJob, "good", map[string]any{"metadata": meta("moodle", "moodle-cron"), "spec": map[string]any{
		"concurrencyPolicy": "Forbid", "startingDeadlineSeconds": float64(50),
		"jobTemplate": map[string]any{"spec": map[string]any{"activeDeadlineSeconds": float64(3600)}},
	}})
	bad := k8s(typeCronJob, "bad", map[string]any{"metadata": meta("integrations", "sync"), "spec": map[string]any{}})
	got := messages(CronJobGuards.Check(devStack(good, bad)))
	assert.ElementsMatch(t, []string{
		`CronJob integrations/sync has concurrencyPolicy "Allow"; use Forbid or Replace`,
		"CronJob integrations/sync has no startingDeadlineSeconds",
		"CronJob integrations/sync has no activeDeadlineSeconds",
	}, got)
}
