package infra

import (
	"fmt"
	"net"
	"regexp"
)

// Migration configures the copy of an existing Moodle into the stack.
type Migration struct {
	// Run numbers the copy: 0 is off; each higher number runs the Jobs
	// again (the first full copy, then each delta).
	Run int `json:"run"`
	// FilesServer and FilesPath are the NFS export of the old moodledata,
	// reachable from the cluster's nodes.
	FilesServer string `json:"filesServer"`
	FilesPath   string `json:"filesPath"`
	// DBHost, DBPort, DBName and DBUser reach the old database (the password
	// is migrationDbPassword, secret).
	DBHost string `json:"dbHost"`
	DBPort int    `json:"dbPort"`
	DBName string `json:"dbName"`
	DBUser string `json:"dbUser"`
	// ImportDatabase dumps the old database and imports it (run it in the
	// cut-over window, with both sites in maintenance).
	ImportDatabase bool `json:"importDatabase"`
}

// Enabled reports whether migration Jobs are wanted.
func (m Migration) Enabled() bool { return m.Run > 0 }

// DatabaseMove moves a stack that runs the single-instance MySQL of the
// versions before the replicated cluster (StatefulSet data/mysql, claim
// data-mysql-0) into the cluster, in three steps (docs/database-move.md):
// keep the single instance beside the new, empty cluster; import its
// database in a maintenance window; retire it (its disk stays).
type DatabaseMove struct {
	// KeepSingleInstance keeps the single instance running (with the same
	// resource names, so Pulumi neither replaces nor deletes it). Moodle
	// stays on it until ImportRun is set.
	KeepSingleInstance bool `json:"keepSingleInstance"`
	// ImportRun > 0 dumps the single instance into the cluster's primary
	// (again for each higher number), then runs Moodle's upgrade; Moodle
	// uses the cluster from then on. Set while the site is in maintenance.
	ImportRun int `json:"importRun"`
}

// Legacy reports whether the stack still runs the single instance.
func (d DatabaseMove) Legacy() bool { return d.KeepSingleInstance }

// Imported reports whether the single instance's data was imported (the
// single instance may then be retired).
func (d DatabaseMove) Imported() bool { return d.ImportRun > 0 }

// LoadTest configures the pre-cut-over load test.
type LoadTest struct {
	Run             int      `json:"run"`
	VirtualUsers    int      `json:"virtualUsers"`
	RampUp          string   `json:"rampUp"`
	Duration        string   `json:"duration"`
	Paths           []string `json:"paths"`
	P95Ms           int      `json:"p95Ms"`
	MaxErrorPercent int      `json:"maxErrorPercent"`
	// TargetIP is where the load goes; "" is the stack's ingress IP.
	TargetIP string `json:"targetIp"`
}

var (
	durationRE = regexp.MustCompile(`^\d+[smh]$`)
	pathRE     = regexp.MustCompile(`^/[A-Za-z0-9/._?=&%-]*$`)
	exportRE   = regexp.MustCompile(`^/[A-Za-z0-9/._-]*$`)
)

func (v *validator) migration(c *Config) {
	m := c.Migration
	if m.Run < 0 {
		v.fail("migration.run", "%d must be 0 (off) or a run number", m.Run)
	}
	if m.Enabled() {
		if m.FilesServer == "" || !(dnsLabelRE.MatchString(m.FilesServer) || hostOrIPRE.MatchString(m.FilesServer)) {
			v.fail("migration.filesServer", "%q is not a host name or IP address of the old moodledata's NFS server", m.FilesServer)
		}
		if !exportRE.MatchString(m.FilesPath) {
			v.fail("migration.filesPath", "%q is not an absolute NFS export path", m.FilesPath)
		}
		if m.ImportDatabase {
			if !hostOrIPRE.MatchString(m.DBHost) {
				v.fail("migration.dbHost", "%q is not the old database's host name", m.DBHost)
			}
			v.between("migration.dbPort", m.DBPort, 1, 65535)
			if m.DBName == "" || m.DBUser == "" {
				v.fail("migration.dbUser", "dbName and dbUser are required to import the database")
			}
			if c.MigrationDBPassword == "" {
				v.fail("migrationDbPassword", "is required to import the database; set it with --secret")
			}
			if !c.MaintenanceMode {
				v.fail("migration.importDatabase", "replaces the new site's database and then makes the final file copy: set maintenanceMode: true for the cut-over run (docs/migration.md step 4)")
			}
		}
	}
	if c.DatabaseMove.ImportRun < 0 {
		v.fail("databaseMove.importRun", "%d must be 0 (not imported yet) or a run number", c.DatabaseMove.ImportRun)
	}
	if c.DatabaseMove.KeepSingleInstance && c.DatabaseMove.ImportRun > 0 && !c.MaintenanceMode {
		v.fail("databaseMove.importRun", "imports the single instance while Moodle may still write to it: set maintenanceMode: true for the import, and retire the single instance (keepSingleInstance: false) before maintenance ends (docs/database-move.md)")
	}
	if c.DatabaseMove.ImportRun > 0 && c.Migration.ImportDatabase && c.Migration.Enabled() {
		v.fail("databaseMove.importRun", "and migration.importDatabase both import into the cluster: run one, then the other")
	}
	l := c.LoadTest
	if l.Run < 0 {
		v.fail("loadTest.run", "%d must be 0 (off) or a run number", l.Run)
	}
	if l.Run > 0 {
		v.between("loadTest.virtualUsers", l.VirtualUsers, 1, 20000)
		for key, d := range map[string]string{"loadTest.rampUp": l.RampUp, "loadTest.duration": l.Duration} {
			if !durationRE.MatchString(d) {
				v.fail(key, "%q is not a duration such as 10m", d)
			}
		}
		if len(l.Paths) == 0 {
			v.fail("loadTest.paths", "list at least one page, such as /login/index.php")
		}
		for i, p := range l.Paths {
			if !pathRE.MatchString(p) {
				v.fail(fmt.Sprintf("loadTest.paths[%d]", i), "%q is not a path on the site", p)
			}
		}
		v.between("loadTest.p95Ms", l.P95Ms, 50, 60000)
		v.between("loadTest.maxErrorPercent", l.MaxErrorPercent, 0, 100)
		if l.TargetIP != "" && net.ParseIP(l.TargetIP) == nil {
			v.fail("loadTest.targetIp", "%q is not an IP address", l.TargetIP)
		}
		if l.TargetIP == "" && c.IstioMode == "aks-addon" {
			v.fail("loadTest.targetIp", "is required with istioMode aks-addon, whose gateway address AKS manages: use the EXTERNAL-IP of `kubectl -n aks-istio-ingress get svc`")
		}
	}
	v.image("k6Image", c.K6Image)
}

// hostOrIPRE accepts a DNS name or an IPv4 address.
var hostOrIPRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$|^(\d{1,3}\.){3}\d{1,3}$`)
