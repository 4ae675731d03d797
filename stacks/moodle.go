package stacks

import (
	"fmt"
	"slices"

	"github.com/fieldcert/moodle-aks/components/integrations"
	"github.com/fieldcert/moodle-aks/components/moodle"
	"github.com/fieldcert/moodle-aks/infra"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// workloadDeps is what a workload in the mesh waits for: its namespace,
// the volumes, MySQL, then extra, then the mesh (sidecar injection works
// from there on).
func (r *Region) workloadDeps(extra ...pulumi.Resource) []pulumi.Resource {
	return r.meshReady(slices.Concat(r.Namespaces.Ready, r.Volumes.Bound, r.MySQL.Ready, extra))
}

// meshReady adds the mesh (istiod and its injection webhook) to deps, when
// the stack installs it.
func (r *Region) meshReady(deps []pulumi.Resource) []pulumi.Resource {
	if r.Mesh.Ready != nil {
		deps = append(deps, r.Mesh.Ready)
	}
	return deps
}

// applications deploys Moodle and the integrations.
func (r *Region) applications(ctx *pulumi.Context, cfg *infra.Config) error {
	k8s := pulumi.Providers(r.Cluster.Provider)
	deps := r.workloadDeps(r.Redis.Ready...)
	addons := ""
	if cfg.PluginMode == "share" {
		addons = AddonsShare
	}
	var smtpPassword pulumi.StringInput
	if cfg.SMTPPassword != "" {
		smtpPassword = pulumi.ToSecret(pulumi.String(cfg.SMTPPassword)).(pulumi.StringOutput)
	}
	m, err := moodle.New(ctx, "moodle", &moodle.Args{
		Image:            cfg.MoodleImage,
		Hostname:         cfg.Hostname,
		MinReplicas:      cfg.WebMinReplicas,
		MaxReplicas:      cfg.WebMaxReplicas,
		CPUMillis:        cfg.WebCPUMillis,
		MemoryMiB:        cfg.WebMemoryMiB,
		PluginMode:       cfg.PluginMode,
		DataClaim:        MoodledataShare,
		AddonsClaim:      addons,
		DefaultLanguage:  cfg.DefaultLanguage,
		MathJaxURL:       cfg.MathJaxURL,
		LanguagePacks:    cfg.LanguagePacks,
		SiteName:         cfg.SiteName,
		AdminEmail:       cfg.AdminEmail,
		Maintenance:      cfg.MaintenanceMode,
		OnJobsPool:       cfg.JobsPool.Enabled,
		ExporterImage:    cfg.ApacheExporterImage,
		DataIssuer:       r.Certificates.DataIssuer,
		DatabaseEndpoint: r.MySQL.MoodleEndpoint["host"] + ":" + r.MySQL.MoodleEndpoint["port"],
		SMTPHost:         cfg.SMTPHost,
		SMTPFrom:         cfg.SMTPFrom,
		SMTPUsername:     cfg.SMTPUsername,
		SMTPPassword:     smtpPassword,
		DependsOn:        deps,
	}, k8s)
	if err != nil {
		return fmt.Errorf("deploying Moodle: %w", err)
	}
	ints, err := integrations.New(ctx, "integrations", &integrations.Args{
		Integrations: cfg.Integrations,
		Secrets:      cfg.IntegrationSecrets,
		OwnPool:      cfg.IntegrationsPool.Enabled,
		DependsOn:    deps,
	}, k8s)
	if err != nil {
		return fmt.Errorf("deploying the integrations: %w", err)
	}
	r.Moodle, r.Integrations = m, ints
	return nil
}
