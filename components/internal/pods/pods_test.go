package pods

import (
	"testing"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
)

func TestRestrictedContexts(t *testing.T) {
	ro, rw := Restricted(), RestrictedWritableRoot()
	assert.Equal(t, pulumi.Bool(true), ro.ReadOnlyRootFilesystem)
	assert.Nil(t, rw.ReadOnlyRootFilesystem, "the image may write under its root")
	for _, s := range []*corev1.SecurityContextArgs{ro, rw} {
		// The restricted Pod Security Standard's requirements.
		assert.Equal(t, pulumi.Bool(false), s.AllowPrivilegeEscalation)
		assert.Equal(t, pulumi.Bool(true), s.RunAsNonRoot)
		assert.Equal(t, pulumi.StringArray{pulumi.String("ALL")}, s.Capabilities.(*corev1.CapabilitiesArgs).Drop)
		assert.Equal(t, pulumi.String("RuntimeDefault"), s.SeccompProfile.(*corev1.SeccompProfileArgs).Type)
	}
	assert.NotSame(t, Restricted(), Restricted(), "callers may change their copy")
}

func TestOnJobsPoolToleratesTheTaint(t *testing.T) {
	spec := &corev1.PodSpecArgs{}
	OnJobsPool(spec)
	assert.Equal(t, pulumi.StringMap{PoolLabel: pulumi.String("jobs")}, spec.NodeSelector)
	tol := spec.Tolerations.(corev1.TolerationArray)[0].(corev1.TolerationArgs)
	assert.Equal(t, pulumi.String(PoolLabel), tol.Key)
	assert.Equal(t, pulumi.String("NoSchedule"), tol.Effect)
}

func TestFromSecret(t *testing.T) {
	e := FromSecret("DB_PASSWORD", "moodle-db", "password")
	ref := e.ValueFrom.(*corev1.EnvVarSourceArgs).SecretKeyRef.(*corev1.SecretKeySelectorArgs)
	assert.Equal(t, pulumi.String("moodle-db"), ref.Name)
	assert.Equal(t, pulumi.String("password"), ref.Key)
	assert.Nil(t, e.Value, "never the value itself")
}
