package stacks

import (
	"fmt"

	"github.com/fieldcert/moodle-aks/components/migration"
	"github.com/fieldcert/moodle-aks/infra"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// migration runs the copy of an old Moodle and the pre-cut-over load test
// when their run numbers are set (docs/migration.md).
func (r *Region) migration(ctx *pulumi.Context, cfg *infra.Config) error {
	move := cfg.DatabaseMove.Legacy() && cfg.DatabaseMove.Imported()
	if !cfg.Migration.Enabled() && cfg.LoadTest.Run == 0 && !move {
		return nil
	}
	target := r.Cluster.IngressIPAddress
	if cfg.LoadTest.TargetIP != "" {
		target = pulumi.String(cfg.LoadTest.TargetIP).ToStringOutput()
	}
	var upgrade *corev1.PodSpecArgs
	if cfg.Migration.ImportDatabase || move {
		upgrade = r.Moodle.UpgradePod()
	}
	// The database move: the single instance, still running, into the
	// cluster's primary (docs/database-move.md).
	var mv *migration.Move
	if move {
		mv = &migration.Move{Run: cfg.DatabaseMove.ImportRun, SourceHost: r.MySQL.LegacyHost, SourcePassword: r.MySQL.RootPassword}
	}
	var clientID pulumi.StringInput // the migration identity exists only while a migration is configured
	if id, ok := r.Identities[infra.MigrationWorkload.Name]; ok {
		clientID = id.ClientID
	}
	m, err := migration.New(ctx, "migration", &migration.Args{
		Migration:   cfg.Migration,
		LoadTest:    cfg.LoadTest,
		DBPassword:  cfg.MigrationDBPassword,
		MoodleImage: cfg.MoodleImage,
		MySQLImage:  cfg.MysqlImage,
		K6Image:     cfg.K6Image,
		ClientID:    clientID,
		UpgradePod:  upgrade,
		DataClaim:   MoodledataShare,
		Hostname:    cfg.Hostname,
		IngressIP:   target,
		InsecureTLS: cfg.ACMEEnvironment == "staging",
		OnJobsPool:  cfg.JobsPool.Enabled,
		Move:        mv,
		DependsOn:   r.workloadDeps(r.Moodle.Upgraded), // not two upgrades at once
	}, pulumi.Providers(r.Cluster.Provider))
	if err != nil {
		return fmt.Errorf("deploying the migration: %w", err)
	}
	r.Migration = m
	return nil
}
