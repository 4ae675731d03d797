// Package monitoring provides Prometheus, Alertmanager and Grafana from the
// official kube-prometheus-stack chart, with Moodle-aware alert rules,
// alert routing from config (email, a paging webhook), and dashboards
// provisioned as code.
//
// Scraping and the mesh: meshed pods expose their own metrics merged with
// the sidecar's on port 15020 (Istio's metrics merging), which is outside
// mutual TLS; Prometheus scrapes them through their prometheus.io
// annotations. The monitoring stack's own pods stay out of the mesh, so
// Prometheus needs no mesh certificates.
package monitoring

import (
	"embed"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/fieldcert/moodle-aks/components/internal/helm"
	"github.com/fieldcert/moodle-aks/infra"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the component's type; with the child names it forms URNs.
const TypeToken = "moodle:monitoring:Monitoring"

//go:embed dashboards/*.json
var dashboards embed.FS

// Dashboards returns the provisioned dashboards by file name.
func Dashboards() (map[string]string, error) {
	entries, err := dashboards.ReadDir("dashboards")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range entries {
		b, err := dashboards.ReadFile("dashboards/" + e.Name())
		if err != nil {
			return nil, err
		}
		out[e.Name()] = string(b)
	}
	return out, nil
}

// Secret names in the monitoring namespace.
const (
	GrafanaAdminSecret = "grafana-admin"
	// GrafanaSidecarRole is the Role Grafana's sidecars run with.
	GrafanaSidecarRole  = "grafana-sidecar-configmaps"
	AlertmanagerSecret  = "alertmanager-config"
	alertmanagerConfKey = "alertmanager.yaml"
)

// Args configures monitoring.
type Args struct {
	// ChartVersion is the exact kube-prometheus-stack version (required).
	ChartVersion string
	// RetentionDays and StorageGiB size Prometheus (required).
	RetentionDays, StorageGiB int
	// StorageClass is the retained disk class (required).
	StorageClass string
	// UserPoolMax is the user pool's autoscaler maximum, for its alert.
	UserPoolMax int
	// Data is the data tier's shape, for its alerts.
	Data DataTopology
	// Routing says where alerts go.
	Routing Routing
	// Replicas of Prometheus and Alertmanager (2 in prod).
	Replicas int
	// DependsOn are created first: the namespace, storage classes (required).
	DependsOn []pulumi.Resource
}

// Monitoring is the deployed monitoring stack.
type Monitoring struct {
	pulumi.ResourceState

	// Release is the chart's release: objects of its CRDs' kinds wait for it.
	Release pulumi.Resource
}

func (a *Args) validate() error {
	var errs []error
	if err := (helm.Chart{Repo: helm.PrometheusCommunityRepo, Name: "kube-prometheus-stack", Version: a.ChartVersion}).Validate(); err != nil {
		errs = append(errs, err)
	}
	if a.RetentionDays < 1 || a.StorageGiB < 10 || a.Replicas < 1 || a.UserPoolMax < 1 {
		errs = append(errs, fmt.Errorf("retention %d days, storage %d GiB, %d replicas and pool max %d must be positive (storage at least 10)", a.RetentionDays, a.StorageGiB, a.Replicas, a.UserPoolMax))
	}
	if len(a.Routing.Emails) > 0 && (a.Routing.SMTPHost == "" || a.Routing.SMTPFrom == "") {
		errs = append(errs, errors.New("email alerts need smtpHost and smtpFrom"))
	}
	if a.StorageClass == "" || len(a.DependsOn) == 0 {
		errs = append(errs, errors.New("storageClass and dependsOn are required"))
	}
	return errors.Join(errs...)
}

// KubeStateMetricsExcluded are the kube-state-metrics collectors left out:
// they need list on every Secret and ConfigMap of the cluster, data
// included (charts/kube-state-metrics templates/role.yaml).
var KubeStateMetricsExcluded = []string{"secrets", "configmaps"}

// outOfMesh keeps a pod of the monitoring stack out of the mesh.
var outOfMesh = map[string]string{"sidecar.istio.io/inject": "false"}

// chartValues are the kube-prometheus-stack values this component sets,
// named as in the chart's values.yaml at the pinned version.
type chartValues struct {
	CRDs struct {
		Enabled bool `json:"enabled"`
	} `json:"crds"`
	DefaultRules struct {
		Rules    map[string]bool `json:"rules"`
		Disabled map[string]bool `json:"disabled"`
	} `json:"defaultRules"`
	KubeEtcd              enabled `json:"kubeEtcd"`
	KubeControllerManager enabled `json:"kubeControllerManager"`
	KubeScheduler         enabled `json:"kubeScheduler"`
	KubeProxy             enabled `json:"kubeProxy"`
	PrometheusOperator    struct {
		PodAnnotations map[string]string `json:"podAnnotations"`
		Namespaces     struct {
			ReleaseNamespace bool     `json:"releaseNamespace"`
			Additional       []string `json:"additional"`
		} `json:"namespaces"`
		AdmissionWebhooks struct {
			Patch struct {
				PodAnnotations map[string]string `json:"podAnnotations"`
			} `json:"patch"`
		} `json:"admissionWebhooks"`
	} `json:"prometheusOperator"`
	Prometheus struct {
		ServiceAccount struct {
			Name string `json:"name"`
		} `json:"serviceAccount"`
		PrometheusSpec struct {
			Replicas                                int              `json:"replicas"`
			Retention                               string           `json:"retention"`
			PodMetadata                             map[string]any   `json:"podMetadata"`
			ServiceMonitorSelectorNilUsesHelmValues bool             `json:"serviceMonitorSelectorNilUsesHelmValues"`
			PodMonitorSelectorNilUsesHelmValues     bool             `json:"podMonitorSelectorNilUsesHelmValues"`
			RuleSelectorNilUsesHelmValues           bool             `json:"ruleSelectorNilUsesHelmValues"`
			AdditionalScrapeConfigs                 []map[string]any `json:"additionalScrapeConfigs"`
			StorageSpec                             map[string]any   `json:"storageSpec"`
			Resources                               map[string]any   `json:"resources"`
		} `json:"prometheusSpec"`
	} `json:"prometheus"`
	Alertmanager struct {
		AlertmanagerSpec struct {
			Replicas     int            `json:"replicas"`
			ConfigSecret string         `json:"configSecret"`
			PodMetadata  map[string]any `json:"podMetadata"`
			Storage      map[string]any `json:"storage"`
		} `json:"alertmanagerSpec"`
	} `json:"alertmanager"`
	Grafana struct {
		Admin struct {
			ExistingSecret string `json:"existingSecret"`
			UserKey        string `json:"userKey"`
			PasswordKey    string `json:"passwordKey"`
		} `json:"admin"`
		PodAnnotations map[string]string `json:"podAnnotations"`
		TestFramework  enabled           `json:"testFramework"`
		RBAC           struct {
			Namespaced      bool   `json:"namespaced"`
			UseExistingRole string `json:"useExistingRole"`
		} `json:"rbac"`
		Sidecar struct {
			Dashboards struct {
				Enabled         bool   `json:"enabled"`
				Label           string `json:"label"`
				LabelValue      string `json:"labelValue"`
				SearchNamespace string `json:"searchNamespace"`
				Resource        string `json:"resource"`
			} `json:"dashboards"`
			Datasources struct {
				Resource string `json:"resource"`
			} `json:"datasources"`
		} `json:"sidecar"`
	} `json:"grafana"`
	NodeExporter struct {
		NamespaceOverride string `json:"namespaceOverride"`
	} `json:"prometheus-node-exporter"`
	KubeStateMetrics struct {
		MetricLabelsAllowlist []string          `json:"metricLabelsAllowlist"`
		PodAnnotations        map[string]string `json:"podAnnotations"`
		CollectorsExclude     []string          `json:"collectorsExclude"`
	} `json:"kube-state-metrics"`
}

type enabled struct {
	Enabled bool `json:"enabled"`
}

// ChartRuleGroup is one of the chart's default rule groups
// (defaultRules.rules.<Key> in its values.yaml) and what the program does
// with it. Every group the pinned chart has is listed: none is left to the
// chart's default, and docs/alerts.md explains each choice.
type ChartRuleGroup struct {
	Key  string
	Keep bool
	Why  string
}

// ChartRuleGroups are the choices for kube-prometheus-stack 88.x. Kept
// alerting groups watch the monitoring stack itself, which the program's
// own rules cannot; the others duplicate the program's rules, alert on
// what AKS manages, or cannot be scraped here.
var ChartRuleGroups = []ChartRuleGroup{
	{"general", true, "Watchdog (the heartbeat), TargetDown (a scrape target that stopped answering) and InfoInhibitor"},
	{"alertmanager", true, "Alertmanager's own health (config reloads, cluster); its delivery failures are the program's AlertmanagerNotificationsFailing, routed to the other receivers"},
	{"prometheus", true, "Prometheus' own health (rule failures, discovery, ingestion, its link to Alertmanager); remote write is not used"},
	{"prometheusOperator", true, "the operator that turns PrometheusRules and ServiceMonitors into configuration"},
	{"configReloaders", true, "the sidecars that reload Prometheus' and Alertmanager's configuration"},
	{"kubeStateMetrics", true, "kube-state-metrics, which every Job, CronJob and deployment alert reads"},
	{"k8sContainerCpuUsageSecondsTotal", true, "recording rules only (the chart's dashboards)"},
	{"k8sContainerMemoryCache", true, "recording rules only"},
	{"k8sContainerMemoryRss", true, "recording rules only"},
	{"k8sContainerMemorySwap", true, "recording rules only"},
	{"k8sContainerResource", true, "recording rules only"},
	{"k8sContainerMemoryWorkingSetBytes", true, "recording rules only"},
	{"k8sPodOwner", true, "recording rules only"},
	{"kubePrometheusGeneral", true, "recording rules only"},
	{"kubePrometheusNodeRecording", true, "recording rules only"},
	{"nodeExporterRecording", true, "recording rules only"},
	{"node", true, "recording rules only"},
	{"kubelet", true, "recording rules only"},
	{"kubernetesApps", false, "duplicates the program's rules (PodCrashLooping, MoodleAutoscalerAtMax, the Job alerts), and KubeJobFailed fires for every kept failed Job, even after later runs succeed"},
	{"kubernetesResources", false, "quota and overcommit alerts: the node autoscaler adds capacity, and CPU throttling is info only"},
	{"kubernetesStorage", false, "duplicates PersistentVolumeFilling"},
	{"kubernetesSystem", false, "API server, kubelet and version alerts on what AKS runs; the kubelet's scrape path is not open; NodeNotReady (the program's) covers the nodes"},
	{"kubeApiserverAvailability", false, "recording for the API server SLO alerts, which are AKS's (its uptime SLA)"},
	{"kubeApiserverBurnrate", false, "recording for the API server SLO alerts"},
	{"kubeApiserverHistogram", false, "recording for the API server SLO alerts"},
	{"kubeApiserverSlos", false, "KubeAPIErrorBudgetBurn: the control plane is AKS's"},
	{"kubeControllerManager", false, "managed by AKS and not scraped (kubeControllerManager.enabled false)"},
	{"kubeSchedulerAlerting", false, "managed by AKS and not scraped (kubeScheduler.enabled false)"},
	{"kubeSchedulerRecording", false, "managed by AKS and not scraped"},
	{"kubeProxy", false, "Cilium replaces kube-proxy"},
	{"etcd", false, "managed by AKS and not scraped (kubeEtcd.enabled false)"},
	{"nodeExporterAlerting", false, "node-exporter's scrape path is not open yet (issue \"traffic flows\"); until it is, these alerts could only be silent or TargetDown"},
	{"network", false, "node-exporter's (NodeNetworkInterfaceFlapping)"},
	{"windows", false, "no Windows nodes"},
}

// ChartAlertsDisabled are alerts of kept groups turned off, and why.
var ChartAlertsDisabled = map[string]string{
	"AlertmanagerFailedToSendAlerts":        "replaced by AlertmanagerNotificationsFailing, which routes by integration to the other receivers",
	"AlertmanagerClusterFailedToSendAlerts": "replaced by AlertmanagerNotificationsFailing",
	"PrometheusRemoteStorageFailures":       "no remote write",
	"PrometheusRemoteWriteBehind":           "no remote write",
	"PrometheusRemoteWriteDesiredShards":    "no remote write",
}

func claim(class string, gib int) map[string]any {
	return map[string]any{"volumeClaimTemplate": map[string]any{"spec": map[string]any{
		"storageClassName": class,
		"accessModes":      []any{"ReadWriteOnce"},
		"resources":        map[string]any{"requests": map[string]any{"storage": strconv.Itoa(gib) + "Gi"}},
	}}}
}

// podsScrapeConfig scrapes every pod annotated prometheus.io/scrape, on the
// port and path the annotations name: for meshed pods Istio points them at
// the merged metrics on 15020.
var podsScrapeConfig = map[string]any{
	"job_name":              "kubernetes-pods",
	"kubernetes_sd_configs": []any{map[string]any{"role": "pod"}},
	"relabel_configs": []any{
		map[string]any{"source_labels": []any{"__meta_kubernetes_pod_annotation_prometheus_io_scrape"}, "action": "keep", "regex": "true"},
		// A finished pod (a Job's, kept with its Job) answers nothing: it
		// would be a target down for as long as the Job is kept.
		map[string]any{"source_labels": []any{"__meta_kubernetes_pod_phase"}, "action": "drop", "regex": "Succeeded|Failed"},
		map[string]any{"source_labels": []any{"__meta_kubernetes_pod_annotation_prometheus_io_path"}, "action": "replace", "target_label": "__metrics_path__", "regex": "(.+)"},
		map[string]any{"source_labels": []any{"__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"}, "action": "replace",
			"regex": `([^:]+)(?::\d+)?;(\d+)`, "replacement": "$1:$2", "target_label": "__address__"},
		map[string]any{"action": "labelmap", "regex": "__meta_kubernetes_pod_label_(.+)"},
		map[string]any{"source_labels": []any{"__meta_kubernetes_namespace"}, "target_label": "namespace"},
		map[string]any{"source_labels": []any{"__meta_kubernetes_pod_name"}, "target_label": "pod"},
	},
}

func (a *Args) values() chartValues {
	var v chartValues
	v.CRDs.Enabled = true
	v.DefaultRules.Rules, v.DefaultRules.Disabled = map[string]bool{}, map[string]bool{}
	for _, g := range ChartRuleGroups {
		v.DefaultRules.Rules[g.Key] = g.Keep
	}
	for a := range ChartAlertsDisabled {
		v.DefaultRules.Disabled[a] = true
	}
	// AKS manages these; they cannot be scraped (and Cilium replaces kube-proxy).
	v.KubeEtcd, v.KubeControllerManager, v.KubeScheduler, v.KubeProxy = enabled{}, enabled{}, enabled{}, enabled{}
	v.PrometheusOperator.PodAnnotations = outOfMesh
	// The certificate-patching hook Jobs: in the mesh they would never end.
	v.PrometheusOperator.AdmissionWebhooks.Patch.PodAnnotations = outOfMesh
	p := &v.Prometheus.PrometheusSpec
	v.Prometheus.ServiceAccount.Name = infra.PrometheusServiceAccount
	p.Replicas = a.Replicas
	p.Retention = strconv.Itoa(a.RetentionDays) + "d"
	p.PodMetadata = map[string]any{"annotations": outOfMesh}
	// Pick up every ServiceMonitor, PodMonitor and rule, not only the chart's.
	p.ServiceMonitorSelectorNilUsesHelmValues, p.PodMonitorSelectorNilUsesHelmValues, p.RuleSelectorNilUsesHelmValues = false, false, false
	p.AdditionalScrapeConfigs = []map[string]any{podsScrapeConfig}
	p.StorageSpec = claim(a.StorageClass, a.StorageGiB)
	p.Resources = map[string]any{"requests": map[string]any{"cpu": "500m", "memory": "2Gi"}, "limits": map[string]any{"memory": "4Gi"}}
	am := &v.Alertmanager.AlertmanagerSpec
	am.Replicas = a.Replicas
	am.ConfigSecret = AlertmanagerSecret
	am.PodMetadata = map[string]any{"annotations": outOfMesh}
	am.Storage = claim(a.StorageClass, 10)
	g := &v.Grafana
	g.Admin.ExistingSecret, g.Admin.UserKey, g.Admin.PasswordKey = GrafanaAdminSecret, "admin-user", "admin-password"
	g.PodAnnotations = outOfMesh
	g.Sidecar.Dashboards.Enabled = true
	g.Sidecar.Dashboards.Label, g.Sidecar.Dashboards.LabelValue = "grafana_dashboard", "1"
	g.Sidecar.Dashboards.SearchNamespace = infra.NamespaceMonitoring
	// Least privilege (issue 23): the chart's default is a ClusterRole that
	// reads every Secret in the cluster, for sidecars that look for
	// dashboards and data sources in ConfigMaps and Secrets. Here both
	// sidecars read ConfigMaps only, and Grafana's RoleBinding in
	// monitoring points at GrafanaSidecarRole, which lists ConfigMaps of
	// that namespace and nothing else (charts/grafana templates/role.yaml,
	// rolebinding.yaml: useExistingRole).
	g.RBAC.Namespaced, g.RBAC.UseExistingRole = true, GrafanaSidecarRole
	g.Sidecar.Dashboards.Resource, g.Sidecar.Datasources.Resource = "configmap", "configmap"
	// The chart's `helm test` pod (root, no seccomp) would be the one pod
	// of monitoring that restricted refuses; Pulumi never runs helm test.
	g.TestFramework = enabled{}
	// The operator's ClusterRole is fixed by the chart (it reads Secrets
	// everywhere, to write Prometheus' and Alertmanager's configuration);
	// it is told to act in monitoring only, where every ServiceMonitor,
	// PodMonitor and PrometheusRule of the program is, and the node
	// exporter's namespace, where its chart puts its ServiceMonitor
	// (--namespaces).
	v.PrometheusOperator.Namespaces.ReleaseNamespace = true
	v.PrometheusOperator.Namespaces.Additional = []string{infra.NamespaceNodeExporter}
	// The node exporter needs a privileged namespace; monitoring stays
	// restricted.
	v.NodeExporter.NamespaceOverride = infra.NamespaceNodeExporter
	// kube-state-metrics would list every Secret and ConfigMap of the
	// cluster, data included, for metrics no rule uses.
	v.KubeStateMetrics.CollectorsExclude = KubeStateMetricsExcluded
	// The labels alerts route on: jobs' alert labels and the node pools.
	v.KubeStateMetrics.MetricLabelsAllowlist = []string{
		"jobs=[" + infra.AlertLabel + "," + infra.SeverityLabel + "]",
		"cronjobs=[" + infra.AlertLabel + "," + infra.SeverityLabel + "]",
		// The zone: where each Redis master runs (RedisMastersShareZone).
		"nodes=[moodle.fieldcert/pool,topology.kubernetes.io/zone]",
	}
	v.KubeStateMetrics.PodAnnotations = outOfMesh
	return v
}

// New deploys the monitoring stack.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Monitoring, error) {
	if args == nil {
		return nil, fmt.Errorf("monitoring %q: args are required", name)
	}
	a := *args
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("monitoring %q: %w", name, err)
	}
	ns := infra.NamespaceMonitoring
	c := &Monitoring{}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registering monitoring component %q: %w", name, err)
	}
	in := []pulumi.ResourceOption{pulumi.Parent(c), pulumi.DependsOn(a.DependsOn)}
	meta := func(n string, labels pulumi.StringMap) *metav1.ObjectMetaArgs {
		return &metav1.ObjectMetaArgs{Name: pulumi.String(n), Namespace: pulumi.String(ns), Labels: labels}
	}

	pw, err := random.NewRandomPassword(ctx, name+"-grafana-password", &random.RandomPasswordArgs{Length: pulumi.Int(24), Special: pulumi.Bool(false)}, pulumi.Parent(c))
	if err != nil {
		return nil, fmt.Errorf("generating Grafana's admin password: %w", err)
	}
	grafana, err := corev1.NewSecret(ctx, name+"-grafana-admin", &corev1.SecretArgs{
		Metadata:   meta(GrafanaAdminSecret, nil),
		Type:       pulumi.String("Opaque"),
		StringData: pulumi.StringMap{"admin-user": pulumi.String("admin"), "admin-password": pw.Result},
	}, in...)
	if err != nil {
		return nil, fmt.Errorf("creating Grafana's admin secret: %w", err)
	}
	amConf, err := AlertmanagerConfig(a.Routing)
	if err != nil {
		return nil, fmt.Errorf("rendering the Alertmanager configuration: %w", err)
	}
	am, err := corev1.NewSecret(ctx, name+"-alertmanager-config", &corev1.SecretArgs{
		Metadata: meta(AlertmanagerSecret, nil),
		Type:     pulumi.String("Opaque"),
		// The SMTP password and the webhook URL are in it: secret throughout.
		StringData: pulumi.StringMap{alertmanagerConfKey: pulumi.ToSecret(pulumi.String(amConf)).(pulumi.StringOutput)},
	}, in...)
	if err != nil {
		return nil, fmt.Errorf("creating the Alertmanager configuration: %w", err)
	}

	// What Grafana's sidecars may read: ConfigMaps of monitoring (the
	// dashboards and the chart's data source), nothing else.
	sidecarRole, err := rbacv1.NewRole(ctx, name+"-grafana-sidecar-role", &rbacv1.RoleArgs{
		Metadata: meta(GrafanaSidecarRole, nil),
		Rules: rbacv1.PolicyRuleArray{&rbacv1.PolicyRuleArgs{
			ApiGroups: pulumi.StringArray{pulumi.String("")},
			Resources: pulumi.StringArray{pulumi.String("configmaps")},
			Verbs:     pulumi.ToStringArray([]string{"get", "list", "watch"}),
		}},
	}, in...)
	if err != nil {
		return nil, fmt.Errorf("creating Grafana's sidecar role: %w", err)
	}

	vals, err := helm.Values(a.values())
	if err != nil {
		return nil, err
	}
	rel, err := helm.Release(ctx, name+"-stack", "kube-prometheus-stack", ns,
		helm.Chart{Repo: helm.PrometheusCommunityRepo, Name: "kube-prometheus-stack", Version: a.ChartVersion}, vals,
		append(in, pulumi.DependsOn([]pulumi.Resource{grafana, am, sidecarRole}))...)
	if err != nil {
		return nil, err
	}
	c.Release = rel
	after := append(append([]pulumi.ResourceOption{}, in...), pulumi.DependsOn([]pulumi.Resource{rel}))

	custom := func(rname, kind, objName, objNs string, spec map[string]any) error {
		_, err := apiextensions.NewCustomResource(ctx, name+"-"+rname, &apiextensions.CustomResourceArgs{
			ApiVersion:  pulumi.String("monitoring.coreos.com/v1"),
			Kind:        pulumi.String(kind),
			Metadata:    &metav1.ObjectMetaArgs{Name: pulumi.String(objName), Namespace: pulumi.String(objNs), Labels: pulumi.StringMap{"release": pulumi.String("kube-prometheus-stack")}},
			OtherFields: kubernetes.UntypedArgs{"spec": spec},
		}, after...)
		if err != nil {
			return fmt.Errorf("creating %s %s/%s: %w", kind, objNs, objName, err)
		}
		return nil
	}
	if err := custom("rules", "PrometheusRule", "moodle-alerts", ns, map[string]any{"groups": ruleGroups(Alerts(a.UserPoolMax, a.Data))}); err != nil {
		return nil, err
	}
	// istiod is scraped by its Service. cert-manager's chart annotates its
	// controller, webhook and cainjector pods (prometheus.enabled), which
	// the kubernetes-pods job scrapes: a ServiceMonitor would scrape the
	// controller twice.
	if err := custom("istiod-monitor", "ServiceMonitor", "istiod", ns, map[string]any{
		"namespaceSelector": map[string]any{"matchNames": []any{infra.NamespaceIstio, "aks-istio-system"}},
		"selector":          map[string]any{"matchLabels": map[string]any{"app": "istiod"}},
		"endpoints":         []any{map[string]any{"port": "http-monitoring", "interval": "30s"}},
	}); err != nil {
		return nil, err
	}

	files, err := Dashboards()
	if err != nil {
		return nil, fmt.Errorf("reading the dashboards: %w", err)
	}
	for _, f := range slices.Sorted(maps.Keys(files)) {
		base := f[:len(f)-len(".json")]
		if _, err := corev1.NewConfigMap(ctx, name+"-dashboard-"+base, &corev1.ConfigMapArgs{
			Metadata: meta("dashboard-"+base, pulumi.StringMap{"grafana_dashboard": pulumi.String("1")}),
			Data:     pulumi.StringMap{f: pulumi.String(files[f])},
		}, in...); err != nil {
			return nil, fmt.Errorf("creating dashboard %s: %w", f, err)
		}
	}
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"chart": pulumi.String(a.ChartVersion)}); err != nil {
		return nil, fmt.Errorf("registering outputs of monitoring %q: %w", name, err)
	}
	return c, nil
}
