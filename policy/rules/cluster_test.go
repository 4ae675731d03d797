package rules

import (
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
		namespace("data", map[string]any{"istio.io/rev": "asm-1-27"}),
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
		rel("istiod", "1.28.3", "https://istio-release.storage.googleapis.com/charts"),
		rel("cert-manager", "v1.19.2", "https://charts.jetstack.io"),
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
