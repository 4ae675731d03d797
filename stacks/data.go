package stacks

import (
	"fmt"

	"github.com/fieldcert/moodle-aks/components/backup"
	"github.com/fieldcert/moodle-aks/components/mysql"
	"github.com/fieldcert/moodle-aks/components/redis"
	"github.com/fieldcert/moodle-aks/components/storage"
	"github.com/fieldcert/moodle-aks/components/volumes"
	"github.com/fieldcert/moodle-aks/infra"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// dataTier deploys MySQL, Redis and the backups into the data namespace.
func (r *Region) dataTier(ctx *pulumi.Context, cfg *infra.Config) error {
	names, subscription := r.names, r.subscription
	k8s := pulumi.Providers(r.Cluster.Provider)
	// The namespaces and the retaining storage classes come first.
	deps := append(append([]pulumi.Resource{}, r.Namespaces.Ready...), r.Volumes.Classes...)

	db, err := mysql.New(ctx, "mysql", &mysql.Args{
		Image:          cfg.MysqlImage,
		ExporterImage:  cfg.MysqlExporterImage,
		CPUMillis:      cfg.MysqlCPUMillis,
		MemoryMiB:      cfg.MysqlMemoryMiB,
		DiskGiB:        cfg.MysqlDiskGiB,
		MaxConnections: cfg.MaxConnections(),
		StorageClass:   volumes.DiskClass,
		Protection:     cfg.DataProtection,
		DependsOn:      deps,
	}, k8s)
	if err != nil {
		return fmt.Errorf("deploying MySQL: %w", err)
	}
	cache, err := redis.New(ctx, "redis", &redis.Args{
		Image:           cfg.RedisImage,
		ExporterImage:   cfg.RedisExporterImage,
		MemoryMiB:       cfg.RedisMemoryMiB,
		PersistSessions: cfg.RedisSessionPersistence == "aof",
		StorageClass:    volumes.DiskClass,
		Protection:      cfg.DataProtection,
		DependsOn:       deps,
	}, k8s)
	if err != nil {
		return fmt.Errorf("deploying Redis: %w", err)
	}
	bk, err := backup.New(ctx, "backups", &backup.Args{
		MySQLImage:         cfg.MysqlImage,
		AzureCLIImage:      cfg.AzureCLIImage,
		ClientID:           r.Identities[infra.BackupWorkload.Name].ClientID,
		SubscriptionID:     subscription,
		BackupAccount:      names.StorageAccount("bkp"),
		Container:          storage.BackupContainer,
		FilesResourceGroup: names.ResourceGroup(),
		FilesAccount:       names.StorageAccount("files"),
		Share:              MoodledataShare,
		MySQLHost:          db.Host,
		BackupPassword:     db.BackupPassword,
		RootPassword:       db.RootPassword,
		Schedule:           cfg.BackupSchedule,
		SnapshotSchedule:   cfg.FilesSnapshotSchedule,
		RetentionDays:      cfg.BackupRetentionDays,
		Restore:            cfg.RestoreBackup,
		OnJobsPool:         cfg.JobsPool.Enabled,
		DependsOn:          append(deps, r.Identities[infra.BackupWorkload.Name].Resources...),
	}, k8s)
	if err != nil {
		return fmt.Errorf("deploying the backups: %w", err)
	}
	r.MySQL, r.Redis, r.Backups = db, cache, bk
	return nil
}
