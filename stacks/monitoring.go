package stacks

import (
	"fmt"

	"github.com/fieldcert/moodle-aks/components/monitoring"
	"github.com/fieldcert/moodle-aks/components/volumes"
	"github.com/fieldcert/moodle-aks/infra"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// monitoring deploys Prometheus, Alertmanager and Grafana.
func (r *Region) monitoring(ctx *pulumi.Context, cfg *infra.Config) error {
	replicas := 1
	if cfg.Environment == infra.Prod {
		replicas = 2
	}
	m, err := monitoring.New(ctx, "monitoring", &monitoring.Args{
		ChartVersion:  cfg.PrometheusChartVersion,
		RetentionDays: cfg.PrometheusRetentionDays,
		StorageGiB:    cfg.PrometheusStorageGiB,
		StorageClass:  volumes.DiskClass,
		UserPoolMax:   cfg.UserPool.MaxCount,
		Data:          monitoring.DataTopology{MySQLMembers: cfg.MysqlMembers, RedisShards: cfg.RedisSessionShards, RedisFollowers: cfg.RedisSessionFollowers()},
		Replicas:      replicas,
		Routing:       Routing(cfg),
		// And istiod: its injection webhook (failurePolicy Fail) must answer
		// before the chart's pods are created.
		DependsOn: r.meshReady(append(append([]pulumi.Resource{}, r.Namespaces.Ready...), r.Volumes.Classes...)),
	}, pulumi.Providers(r.Cluster.Provider))
	if err != nil {
		return fmt.Errorf("deploying monitoring: %w", err)
	}
	r.Monitoring = m
	return nil
}

// Routing is where the stack's alerts go (the receivers' egress is opened
// from the same value).
func Routing(cfg *infra.Config) monitoring.Routing {
	return monitoring.Routing{
		Emails:       cfg.AlertEmails,
		SMTPHost:     cfg.SMTPHost,
		SMTPFrom:     cfg.SMTPFrom,
		SMTPUsername: cfg.SMTPUsername,
		SMTPPassword: cfg.SMTPPassword,
		WebhookURL:   cfg.AlertWebhookURL,

		PagerDutyRoutingKey: cfg.AlertPagerDutyRoutingKey,
		OpsgenieAPIKey:      cfg.AlertOpsgenieAPIKey,
		TeamsWebhookURL:     cfg.AlertTeamsWebhookURL,
		HeartbeatURL:        cfg.AlertHeartbeatURL,
	}
}
