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

// LegacyMySQLImage is the image of the single-instance MySQL that the
// versions before the cluster deployed (kept only while a stack moves).
const LegacyMySQLImage = "mysql:8.4.7"

// dataTier deploys MySQL, Redis and the backups into the data namespace.
func (r *Region) dataTier(ctx *pulumi.Context, cfg *infra.Config) error {
	names, subscription := r.names, r.subscription
	k8s := pulumi.Providers(r.Cluster.Provider)
	// The namespaces and the retaining storage classes come first.
	deps := append(append([]pulumi.Resource{}, r.Namespaces.Ready...), r.Volumes.Classes...)

	deps = append(deps, r.Certificates.DataIssuerReady)
	var legacy *mysql.LegacyArgs
	if cfg.DatabaseMove.Legacy() {
		// The single instance as the versions before the cluster deployed it.
		legacy = &mysql.LegacyArgs{
			Image: LegacyMySQLImage, CPUMillis: cfg.MysqlCPUMillis, MemoryMiB: cfg.MysqlMemoryMiB,
			DiskGiB: cfg.MysqlDiskGiB, StorageClass: volumes.DiskClass, Imported: cfg.DatabaseMove.Imported(),
		}
	}
	db, err := mysql.New(ctx, "mysql", &mysql.Args{
		Image:            cfg.MysqlImage,
		ProxyImage:       cfg.MysqlProxyImage,
		ExporterImage:    cfg.MysqlExporterImage,
		Members:          cfg.MysqlMembers,
		SpreadKey:        cfg.DataSpreadKey(),
		CPUMillis:        cfg.MysqlCPUMillis,
		MemoryMiB:        cfg.MysqlMemoryMiB,
		DiskGiB:          cfg.MysqlDiskGiB,
		MaxConnections:   cfg.MaxConnections(),
		ProxyConnections: cfg.ProxyConnections(),
		StorageClass:     volumes.ZonalDiskClass,
		Protection:       cfg.DataProtection,
		Issuer:           r.Certificates.DataIssuer,
		Legacy:           legacy,
		DependsOn:        deps,
	}, k8s)
	if err != nil {
		return fmt.Errorf("deploying MySQL: %w", err)
	}
	cache, err := redis.New(ctx, "redis", &redis.Args{
		Image:           cfg.RedisImage,
		ClusterImage:    cfg.RedisClusterImage,
		ExporterImage:   cfg.RedisExporterImage,
		MemoryMiB:       cfg.RedisMemoryMiB,
		Shards:          cfg.RedisSessionShards,
		Followers:       cfg.RedisSessionFollowers(),
		SpreadKey:       cfg.DataSpreadKey(),
		PersistSessions: cfg.RedisSessionPersistence == "aof",
		StorageClass:    volumes.ZonalDiskClass,
		Protection:      cfg.DataProtection,
		Issuer:          r.Certificates.DataIssuer,
		DependsOn:       deps,
	}, k8s)
	if err != nil {
		return fmt.Errorf("deploying Redis: %w", err)
	}
	// The nightly dump reads where the site's data is: the single instance
	// until a moving stack has imported it, then the cluster.
	backupHost, backupReadPorts := db.Host, backupPorts(cfg.MysqlMembers)
	if db.LegacyHost != "" && !cfg.DatabaseMove.Imported() {
		backupHost, backupReadPorts = db.LegacyHost, []int{infra.MySQLPort}
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
		FilesClaim:         MoodledataShare, // the read-only claim in data (stacks/cluster.go)
		MySQLHost:          backupHost,
		MySQLReadPorts:     backupReadPorts,
		MySQLWritePort:     mysql.WritePort,
		BackupPassword:     db.BackupPassword,
		RootPassword:       db.RootPassword,
		Schedule:           cfg.BackupSchedule,
		SnapshotSchedule:   cfg.FilesSnapshotSchedule,
		RetentionDays:      cfg.BackupRetentionDays,
		Restore:            cfg.RestoreBackup,
		RestoreInto:        cfg.RestoreInto,
		OnJobsPool:         cfg.JobsPool.Enabled,
		DependsOn:          append(deps, r.Identities[infra.BackupWorkload.Name].Resources...),
	}, k8s)
	if err != nil {
		return fmt.Errorf("deploying the backups: %w", err)
	}
	r.MySQL, r.Redis, r.Backups = db, cache, bk
	return nil
}

// backupPorts are the ports the nightly dump tries: a secondary through the
// proxy's read port where the group has secondaries, then the primary.
func backupPorts(members int) []int {
	if members == 1 {
		return []int{mysql.WritePort}
	}
	return []int{mysql.ReadPort, mysql.WritePort}
}
