package apiserver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestPodSecurityGuard: the rendered ValidatingAdmissionPolicy, applied to
// the real API server, keeps pods out of namespaces that enforce less than
// restricted (issue 23: a namespace without a Pod Security label enforces
// nothing, and a pod there could mount the NFS share inline), and lets
// through the program's namespaces at their own level and AKS's.
func TestPodSecurityGuard(t *testing.T) {
	s := server(t)
	c := newClient(t, s)
	ctx := context.Background()
	stack := "prod"
	rendered, _ := stackObjects(t, stack, templateCharts(t))
	parse := func(doc string) object { return testObject(t, doc) }
	var guard []object
	for _, o := range rendered {
		switch o.u.GetKind() {
		case "Namespace":
			_, err := c.apply(ctx, o, false)
			require.NoError(t, err, o.String())
		case "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
			guard = append(guard, o)
		}
	}
	require.Len(t, guard, 2, "the policy and its binding are rendered")
	// Namespaces the program does not create, as someone else might.
	for name, level := range map[string]string{"scratch": "", "loose": "baseline", "wide-open": "privileged"} {
		labels := ""
		if level != "" {
			labels = fmt.Sprintf("\n  labels: {pod-security.kubernetes.io/enforce: %s}", level)
		}
		_, err := c.apply(ctx, parse("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+name+labels), false)
		require.NoError(t, err)
	}
	for _, ns := range []string{"moodle", "monitoring-nodes", "kube-system", "scratch", "loose", "wide-open"} {
		_, err := c.apply(ctx, parse("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: "+ns+"}"), false)
		require.NoError(t, err)
	}
	for _, o := range guard {
		_, err := c.apply(ctx, o, false)
		require.NoError(t, err, o.String())
	}
	t.Cleanup(func() {
		for _, o := range guard {
			resource := map[string]string{"ValidatingAdmissionPolicy": "validatingadmissionpolicies", "ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings"}[o.u.GetKind()]
			gvr := schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: resource}
			assert.NoError(t, c.dyn.Resource(gvr).Delete(ctx, o.u.GetName(), metav1.DeleteOptions{}))
		}
	})

	pod := func(ns, extra string) object {
		return parse(`
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: ` + ns + `}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: c
    image: registry.example.com/c:1
    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
` + extra)
	}
	// The policy is compiled and loaded asynchronously: wait until it
	// refuses the unlabelled namespace.
	var err error
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, err = c.apply(ctx, pod("scratch", ""), true); err != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	require.Error(t, err, "the guard took effect within a minute")

	nfs := "  volumes: [{name: data, nfs: {server: stmdlfiles.file.core.windows.net, path: /stmdlfiles/moodledata}}]\n"
	cases := []struct {
		ns, extra, want string // want "": admitted
	}{
		{"moodle", "", ""},
		{"monitoring-nodes", "", ""},
		{"kube-system", "", ""},
		{"scratch", "", "namespace scratch enforces Pod Security nothing: pods run only in namespaces that enforce restricted"},
		{"scratch", nfs, "namespace scratch enforces Pod Security nothing"},
		{"loose", nfs, "namespace loose enforces Pod Security baseline"},
		{"wide-open", "", "namespace wide-open enforces Pod Security privileged"},
		// In a restricted namespace Pod Security itself refuses the inline
		// NFS volume.
		{"moodle", nfs, `violates PodSecurity "restricted:latest": restricted volume types`},
	}
	for _, tc := range cases {
		_, err := c.apply(ctx, pod(tc.ns, tc.extra), true)
		if tc.want == "" {
			assert.NoError(t, err, "a pod in %s is admitted", tc.ns)
			continue
		}
		if assert.Error(t, err, "a pod in %s (%q) is refused", tc.ns, tc.extra) {
			assert.Contains(t, err.Error(), tc.want)
		}
	}
}
