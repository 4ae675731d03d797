// Package pods holds the pod settings every workload component shares: the
// restricted Pod Security Standard's container context, the jobs node pool,
// environment from Secrets.
package pods

import (
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// PoolLabel is the node label (and taint key) of the AKS node pools.
const PoolLabel = "moodle.fieldcert/pool"

// Restricted is a container context that passes the restricted Pod
// Security Standard, with a read-only root filesystem: write to mounted
// volumes only.
func Restricted() *corev1.SecurityContextArgs {
	s := RestrictedWritableRoot()
	s.ReadOnlyRootFilesystem = pulumi.Bool(true)
	return s
}

// RestrictedWritableRoot is Restricted for images that write under their
// root filesystem (Apache and PHP, MySQL's client and server).
func RestrictedWritableRoot() *corev1.SecurityContextArgs {
	return &corev1.SecurityContextArgs{
		AllowPrivilegeEscalation: pulumi.Bool(false),
		RunAsNonRoot:             pulumi.Bool(true),
		Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
		SeccompProfile:           &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

// OnJobsPool schedules a pod on the jobs pool (tainted so that only Jobs
// that ask run there).
func OnJobsPool(spec *corev1.PodSpecArgs) { OnPool(spec, "jobs") }

// OnPool places a pod on the named tainted pool: it selects the pool's
// nodes and tolerates their taint.
func OnPool(spec *corev1.PodSpecArgs, pool string) {
	spec.NodeSelector = pulumi.StringMap{PoolLabel: pulumi.String(pool)}
	spec.Tolerations = corev1.TolerationArray{corev1.TolerationArgs{
		Key: pulumi.String(PoolLabel), Operator: pulumi.String("Equal"), Value: pulumi.String(pool), Effect: pulumi.String("NoSchedule"),
	}}
}

// Value is an environment variable with a literal value.
func Value(env, v string) corev1.EnvVarArgs {
	return corev1.EnvVarArgs{Name: pulumi.String(env), Value: pulumi.String(v)}
}

// RunAs is a pod context that runs every container as uid (user and group)
// under the runtime's default seccomp profile, with no fsGroup.
func RunAs(uid int) *corev1.PodSecurityContextArgs {
	return &corev1.PodSecurityContextArgs{
		RunAsUser: pulumi.Int(uid), RunAsGroup: pulumi.Int(uid), RunAsNonRoot: pulumi.Bool(true),
		SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

// FromSecret is an environment variable read from a Secret's key.
func FromSecret(env, secret, key string) corev1.EnvVarArgs {
	return corev1.EnvVarArgs{Name: pulumi.String(env), ValueFrom: &corev1.EnvVarSourceArgs{
		SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: pulumi.String(secret), Key: pulumi.String(key)},
	}}
}
