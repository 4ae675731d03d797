// Package integrations provides the third-party integrations declared in
// config: scheduled jobs (CronJobs) and long-running services
// (Deployments) in the integrations namespace that call Moodle's web
// service API inside the mesh (mutual TLS) and reach only their declared
// outbound endpoints. Each has its own service account and a Secret with
// its credentials (a Moodle web-service token among them).
package integrations

import (
	"errors"
	"fmt"
	"maps"
	"sort"
	"strconv"

	"github.com/fieldcert/moodle-aks/components/internal/pods"
	"github.com/fieldcert/moodle-aks/infra"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the component's type; with the child names it forms URNs.
const TypeToken = "moodle:integrations:Integrations"

// The uid integration containers run as (images must not need root).
const integrationUID = 10001

// MoodleURL is where integrations reach Moodle: the web Service inside the
// mesh, so the call is mutually authenticated and encrypted by the sidecars.
var MoodleURL = "http://" + infra.MoodleWebService + "." + infra.NamespaceMoodle + ".svc.cluster.local:" + strconv.Itoa(infra.MoodleWebPort)

// IntegrationsPool is the node pool (label and taint value) of the
// integrations (components/aks).
const IntegrationsPool = "integrations"

// Args configures the integrations.
type Args struct {
	// Integrations by name, from config.
	Integrations map[string]infra.Integration
	// Secrets by integration name: environment variable -> value (secret).
	Secrets map[string]map[string]string
	// OwnPool runs every integration on the integrations pool, whose taint
	// keeps other pods off: third-party code never shares a node with the
	// upgrade Job (the admin password), cron or the backup Jobs (their
	// workload identity tokens). false: the user pool.
	OwnPool bool
	// DependsOn are created first: the namespace, the mesh (required).
	DependsOn []pulumi.Resource
}

// Integrations is the deployed integrations.
type Integrations struct {
	pulumi.ResourceState

	// Names are the deployed integrations, sorted.
	Names []string
}

func (a *Args) validate() error {
	var errs []error
	for n := range a.Secrets {
		if _, ok := a.Integrations[n]; !ok {
			errs = append(errs, fmt.Errorf("secrets for %q, which is not an integration", n))
		}
	}
	for n, in := range a.Integrations {
		if in.Kind != "job" && in.Kind != "service" {
			errs = append(errs, fmt.Errorf("integration %q has kind %q", n, in.Kind))
		}
		if in.Image == "" {
			errs = append(errs, fmt.Errorf("integration %q has no image", n))
		}
	}
	if len(a.DependsOn) == 0 {
		errs = append(errs, errors.New("dependsOn is required"))
	}
	return errors.Join(errs...)
}

// New registers every declared integration.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Integrations, error) {
	if args == nil {
		return nil, fmt.Errorf("integrations %q: args are required", name)
	}
	a := *args
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("integrations %q: %w", name, err)
	}
	c := &Integrations{}
	for n := range a.Integrations {
		c.Names = append(c.Names, n)
	}
	sort.Strings(c.Names)
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registering integrations component %q: %w", name, err)
	}
	ns := infra.NamespaceIntegrations
	in := []pulumi.ResourceOption{pulumi.Parent(c), pulumi.DependsOn(a.DependsOn)}

	for _, n := range c.Names {
		spec := a.Integrations[n]
		obj := infra.IntegrationServiceAccount(n)
		labels := pulumi.StringMap{infra.AppLabel: pulumi.String(obj), "moodle.fieldcert/integration": pulumi.String(n)}
		meta := func(l pulumi.StringMap) *metav1.ObjectMetaArgs {
			return &metav1.ObjectMetaArgs{Name: pulumi.String(obj), Namespace: pulumi.String(ns), Labels: l}
		}
		if _, err := corev1.NewServiceAccount(ctx, name+"-"+n+"-sa", &corev1.ServiceAccountArgs{
			Metadata: meta(labels), AutomountServiceAccountToken: pulumi.Bool(false),
		}, in...); err != nil {
			return nil, fmt.Errorf("creating %s's service account: %w", n, err)
		}
		data := pulumi.StringMap{}
		for k, v := range a.Secrets[n] {
			data[k] = pulumi.ToSecret(pulumi.String(v)).(pulumi.StringOutput)
		}
		if _, err := corev1.NewSecret(ctx, name+"-"+n+"-secret", &corev1.SecretArgs{
			Metadata:   meta(labels),
			Type:       pulumi.String("Opaque"),
			StringData: data,
		}, append(in, pulumi.AdditionalSecretOutputs([]string{"stringData", "data"}))...); err != nil {
			return nil, fmt.Errorf("creating %s's secret: %w", n, err)
		}
		container := corev1.ContainerArgs{
			Name:    pulumi.String(n),
			Image:   pulumi.String(spec.Image),
			Command: pulumi.ToStringArray(spec.Command),
			Env: corev1.EnvVarArray{
				corev1.EnvVarArgs{Name: pulumi.String("MOODLE_URL"), Value: pulumi.String(MoodleURL)},
				corev1.EnvVarArgs{Name: pulumi.String("MOODLE_WS_URL"), Value: pulumi.String(MoodleURL + "/webservice/rest/server.php")},
			},
			// MOODLE_TOKEN and the integration's other credentials.
			EnvFrom: corev1.EnvFromSourceArray{corev1.EnvFromSourceArgs{SecretRef: &corev1.SecretEnvSourceArgs{Name: pulumi.String(obj)}}},
			Resources: &corev1.ResourceRequirementsArgs{
				Requests: pulumi.StringMap{"cpu": pulumi.String("100m"), "memory": pulumi.String("256Mi")},
				Limits:   pulumi.StringMap{"memory": pulumi.String("512Mi")},
			},
			SecurityContext: pods.Restricted(),
			VolumeMounts:    corev1.VolumeMountArray{corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")}},
		}
		pod := &corev1.PodSpecArgs{
			ServiceAccountName: pulumi.String(obj),
			SecurityContext:    pods.RunAs(integrationUID),
			Volumes:            corev1.VolumeArray{corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{}}},
		}
		switch {
		case a.OwnPool:
			pods.OnPool(pod, IntegrationsPool)
		case spec.Kind == "service":
			pod.NodeSelector = pulumi.StringMap{pods.PoolLabel: pulumi.String("user")}
		}
		switch spec.Kind {
		case "job":
			alert := pulumi.StringMap{infra.AlertLabel: pulumi.String("integration"), infra.SeverityLabel: pulumi.String("warning")}
			maps.Copy(alert, labels)
			pod.RestartPolicy = pulumi.String("Never")
			pod.Containers = corev1.ContainerArray{container}
			if _, err := batchv1.NewCronJob(ctx, name+"-"+n, &batchv1.CronJobArgs{
				Metadata: meta(alert),
				Spec: &batchv1.CronJobSpecArgs{
					Schedule:                   pulumi.String(spec.Schedule),
					TimeZone:                   pulumi.String("Etc/UTC"),
					ConcurrencyPolicy:          pulumi.String("Forbid"),
					StartingDeadlineSeconds:    pulumi.Int(300),
					SuccessfulJobsHistoryLimit: pulumi.Int(3),
					FailedJobsHistoryLimit:     pulumi.Int(3),
					JobTemplate: &batchv1.JobTemplateSpecArgs{
						Metadata: &metav1.ObjectMetaArgs{Labels: alert},
						Spec: &batchv1.JobSpecArgs{
							BackoffLimit:          pulumi.Int(1),
							ActiveDeadlineSeconds: pulumi.Int(3600),
							Template:              &corev1.PodTemplateSpecArgs{Metadata: &metav1.ObjectMetaArgs{Labels: alert}, Spec: pod},
						},
					},
				},
			}, in...); err != nil {
				return nil, fmt.Errorf("creating %s's CronJob: %w", n, err)
			}
		case "service":
			port := pulumi.Int(spec.Port)
			container.Ports = corev1.ContainerPortArray{corev1.ContainerPortArgs{Name: pulumi.String("http"), ContainerPort: port}}
			container.ReadinessProbe = &corev1.ProbeArgs{TcpSocket: &corev1.TCPSocketActionArgs{Port: port}, PeriodSeconds: pulumi.Int(10)}
			container.LivenessProbe = &corev1.ProbeArgs{TcpSocket: &corev1.TCPSocketActionArgs{Port: port}, PeriodSeconds: pulumi.Int(20), FailureThreshold: pulumi.Int(3)}
			pod.Containers = corev1.ContainerArray{container}
			if _, err := appsv1.NewDeployment(ctx, name+"-"+n, &appsv1.DeploymentArgs{
				Metadata: meta(labels),
				Spec: &appsv1.DeploymentSpecArgs{
					Replicas: pulumi.Int(spec.Replicas),
					Selector: &metav1.LabelSelectorArgs{MatchLabels: labels},
					Template: &corev1.PodTemplateSpecArgs{Metadata: &metav1.ObjectMetaArgs{Labels: labels}, Spec: pod},
				},
			}, in...); err != nil {
				return nil, fmt.Errorf("creating %s's Deployment: %w", n, err)
			}
			if _, err := corev1.NewService(ctx, name+"-"+n+"-service", &corev1.ServiceArgs{
				Metadata: meta(labels),
				Spec: &corev1.ServiceSpecArgs{
					Type: pulumi.String("ClusterIP"), Selector: labels,
					Ports: corev1.ServicePortArray{corev1.ServicePortArgs{Name: pulumi.String("http"), Port: port, TargetPort: port}},
				},
			}, in...); err != nil {
				return nil, fmt.Errorf("creating %s's Service: %w", n, err)
			}
		}
	}
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"integrations": pulumi.ToStringArray(c.Names)}); err != nil {
		return nil, fmt.Errorf("registering outputs of integrations %q: %w", name, err)
	}
	return c, nil
}
