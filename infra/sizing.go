package infra

import "fmt"

// Sizing rules of the data tier, computed from config so that MySQL's
// memory, connections and Moodle's web concurrency stay consistent.
const (
	// PHPWorkersPerWebPod is how many requests one Moodle web pod serves at
	// once (PHP-FPM pm.max_children); each holds one database connection.
	PHPWorkersPerWebPod = 16
	// perConnectionMiB is what one MySQL connection may take in thread
	// buffers (sort, join, read, stack, network) under Moodle's queries.
	perConnectionMiB = 3
	// mysqlOverheadMiB is mysqld's own memory beside the buffer pool.
	mysqlOverheadMiB = 384
	// bufferPoolChunkMiB is innodb_buffer_pool_chunk_size: the pool is a
	// multiple of it.
	bufferPoolChunkMiB = 128
)

// MaxConnections sizes MySQL's max_connections from the most requests the
// stack can send at once: every web pod at the autoscaler's maximum, the
// cron and admin jobs, each integration, and headroom for backups, the
// exporter and an administrator.
func (c *Config) MaxConnections() int {
	return c.WebMaxReplicas*PHPWorkersPerWebPod + 10 + 4*len(c.Integrations) + 20
}

// BufferPoolMiB sizes innodb_buffer_pool_size from the container's memory:
// 60% (50% under 2 GiB), a whole number of 128 MiB chunks, at least one.
func BufferPoolMiB(memoryMiB int) int {
	pct := 60
	if memoryMiB < 2048 {
		pct = 50
	}
	pool := memoryMiB * pct / 100 / bufferPoolChunkMiB * bufferPoolChunkMiB
	return max(pool, bufferPoolChunkMiB)
}

// MySQLMemoryNeededMiB is what MySQL needs for a buffer pool and a number
// of connections.
func MySQLMemoryNeededMiB(bufferPoolMiB, connections int) int {
	return bufferPoolMiB + connections*perConnectionMiB + mysqlOverheadMiB
}

// RedisMaxMemoryMiB is Redis' maxmemory: 75% of the container, the rest for
// fragmentation, replication buffers and the AOF rewrite.
func RedisMaxMemoryMiB(memoryMiB int) int {
	return memoryMiB * 3 / 4
}

// sizing validates the data tier's sizes against each other.
func (v *validator) sizing(c *Config) {
	v.between("mysqlCpuMillis", c.MysqlCPUMillis, 250, 64000)
	if v.between("mysqlMemoryMiB", c.MysqlMemoryMiB, 1024, 262144) {
		pool, conns := BufferPoolMiB(c.MysqlMemoryMiB), c.MaxConnections()
		if need := MySQLMemoryNeededMiB(pool, conns); need > c.MysqlMemoryMiB {
			v.fail("mysqlMemoryMiB", "%d MiB is too small for %d connections (webMaxReplicas %d x %d PHP workers + jobs) and a %d MiB buffer pool: needs %d MiB; raise it or lower webMaxReplicas",
				c.MysqlMemoryMiB, conns, c.WebMaxReplicas, PHPWorkersPerWebPod, pool, need)
		}
	}
	v.dataTier(c)
	v.between("redisMemoryMiB", c.RedisMemoryMiB, 128, 65536)
	v.oneOf("redisSessionPersistence", c.RedisSessionPersistence, []string{"aof", "off"})
	for key, sched := range map[string]string{"backupSchedule": c.BackupSchedule, "filesSnapshotSchedule": c.FilesSnapshotSchedule} {
		if !validCron(sched) {
			v.fail(key, "%q is not a five-field cron schedule such as \"30 2 * * *\"", sched)
		}
	}
	if c.RestoreBackup != "" && !restoreNameRE.MatchString(c.RestoreBackup) {
		v.fail("restoreBackup", "%q is not a dump name such as mysql/20261125T023000Z.sql.gz", c.RestoreBackup)
	}
	if c.RestoreInto != "" && c.RestoreInto != MoodleDatabase && !restoreCopyRE.MatchString(c.RestoreInto) {
		v.fail("restoreInto", "%q is neither %q nor a scratch database moodle_<name> (lowercase letters, digits, _; at most 64 characters)", c.RestoreInto, MoodleDatabase)
	}
	for key, img := range map[string]string{"azureCliImage": c.AzureCLIImage, "mysqlExporterImage": c.MysqlExporterImage, "redisExporterImage": c.RedisExporterImage,
		"mysqlProxyImage": c.MysqlProxyImage, "redisClusterImage": c.RedisClusterImage} {
		v.image(key, img)
	}
}

// Describe returns the sizing as a reviewer reads it.
func (c *Config) DescribeSizing() string {
	return fmt.Sprintf("mysql: %d MiB memory, %d MiB buffer pool, %d max_connections", c.MysqlMemoryMiB, BufferPoolMiB(c.MysqlMemoryMiB), c.MaxConnections())
}

// HAProxyMaxConn is the connection limit of each of Percona's HAProxy pods
// (maxconn 2048 in the operator's build/haproxy-global.cfg, v1.1.0);
// components/mysql raises it where ProxyConnections needs more.
const HAProxyMaxConn = 2048

// ProxyConnections is what one HAProxy pod must accept when every client
// goes through it (a zone lost, or the Service's balancing uneven): each
// Moodle request holds a connection to the primary (3306) and, for its
// reads, one to a secondary (3307).
func (c *Config) ProxyConnections() int { return 2 * c.MaxConnections() }

// DataSpreadKey is the topology the data tier's members are kept apart on:
// zones when the stack has at least three (one member per zone), the node
// otherwise (a region without zones, or dev).
func (c *Config) DataSpreadKey() string {
	if len(c.Zones) >= 3 {
		return "topology.kubernetes.io/zone"
	}
	return "kubernetes.io/hostname"
}

// dataTier checks the replicated data tier: sizes a group and a cluster
// can run with, no single point of failure in prod, connections the proxy
// can carry.
func (v *validator) dataTier(c *Config) {
	if c.MysqlMembers != 1 && (c.MysqlMembers < 3 || c.MysqlMembers > 9 || c.MysqlMembers%2 == 0) {
		v.fail("mysqlMembers", "%d is not 1 or an odd number from 3 to 9: group replication needs a majority of the members to commit, so an even group tolerates no more failures than one member fewer", c.MysqlMembers)
	}
	if c.RedisSessionShards != 1 && (c.RedisSessionShards < 3 || c.RedisSessionShards > 9) {
		v.fail("redisSessionShards", "%d is not 1 or 3 to 9: a Redis Cluster fails a leader over only while a majority of the leaders is reachable, which two leaders never keep", c.RedisSessionShards)
	}
	if c.Environment == Prod {
		if c.MysqlMembers < 3 {
			v.fail("mysqlMembers", "%d is a single point of failure: prod needs at least 3 members so the database survives the loss of a pod, a node or a zone", c.MysqlMembers)
		}
		if c.RedisSessionShards < 3 {
			v.fail("redisSessionShards", "%d is a single point of failure: prod needs at least 3 leaders, each with a follower in another zone, so sessions survive the loss of a pod, a node or a zone", c.RedisSessionShards)
		}
		if n := len(c.Zones); n == 2 {
			v.fail("zones", "two zones cannot hold a majority of the database and sessions when one is lost: use three zones (or none in a region without zones)")
		}
	}
}
