package infra

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	moodleimage "github.com/fieldcert/moodle-aks/images/moodle"
)

// vmSizeParts reads the family letters and vCPU count of an Azure VM size:
// "Standard_D8s_v5" -> "D", 8; "Standard_E16ads_v5" -> "E", 16.
var vmSizeParts = regexp.MustCompile(`^Standard_([A-Z]+?)(\d+)[a-z]*(_v\d+)?$`)

// memoryPerVCPU is GiB of memory per vCPU of the general families.
// https://learn.microsoft.com/azure/virtual-machines/sizes
var memoryPerVCPU = map[string]int{"D": 4, "B": 4, "E": 8, "F": 2, "L": 8}

// VMCapacity returns a VM size's vCPUs and memory in MiB.
func VMCapacity(size string) (vcpu, memoryMiB int, err error) {
	m := vmSizeParts.FindStringSubmatch(size)
	if m == nil {
		return 0, 0, fmt.Errorf("%q is not a VM size of the form Standard_<family><vCPUs>...", size)
	}
	ratio, ok := memoryPerVCPU[m[1]]
	if !ok {
		fams := make([]string, 0, len(memoryPerVCPU))
		for f := range memoryPerVCPU {
			fams = append(fams, f)
		}
		sort.Strings(fams)
		return 0, 0, fmt.Errorf("%q is of family %s, whose capacity the check does not know; use one of %v", size, m[1], fams)
	}
	vcpu, _ = strconv.Atoi(m[2])
	return vcpu, vcpu * ratio * 1024, nil
}

// Allocatable share of a node after AKS reserves CPU and memory for the
// kubelet, the OS and eviction.
const (
	allocatableCPUPct = 90
	allocatableMemPct = 75
	sidecarCPUMillis  = 100 // istio-proxy request of every meshed pod
	sidecarMemMiB     = 128
	// platformCPUMillis and platformMemMiB are what istiod, cert-manager,
	// the exporters and monitoring take on the user pool.
	platformCPUMillis = 2000
	platformMemMiB    = 6144
	// daemonSetCPUMillis and daemonSetMemMiB are what runs on every node
	// before any pod of ours: Cilium, the CSI drivers, kube-proxy's
	// replacement, istio-cni, node-exporter and the monitoring agent
	// (requests as AKS and the charts set them, rounded up).
	daemonSetCPUMillis = 500
	daemonSetMemMiB    = 1024
)

// Requests of the data tier's other containers: mysqld_exporter beside
// each member, each HAProxy pod, each operator (components/mysql and
// components/redis set these).
const (
	mysqlExporterCPUMillis = 20
	mysqlExporterMemMiB    = 64
	HAProxyCPUMillis       = 250
	HAProxyMemMiB          = 256
	OperatorCPUMillis      = 100
	OperatorMemMiB         = 256
)

// RedisSessionFollowers is the sessions cluster's followers: one per leader
// once there are three leaders, none for a single leader (dev).
func (c *Config) RedisSessionFollowers() int {
	if c.RedisSessionShards >= 3 {
		return c.RedisSessionShards
	}
	return 0
}

// podFits checks that one pod, with its sidecar and exporter, fits a single
// node of its pool: the autoscaler adds nodes, never bigger ones, so a pod
// larger than one node stays Pending for ever.
func (v *validator) podFits(key, what string, cpuMillis, memMiB int, pool string, vmSize string) {
	vcpu, mem, err := VMCapacity(vmSize)
	if err != nil {
		return // reported by capacity
	}
	nodeCPU := vcpu*1000*allocatableCPUPct/100 - daemonSetCPUMillis
	nodeMem := mem*allocatableMemPct/100 - daemonSetMemMiB
	if cpuMillis > nodeCPU || memMiB > nodeMem {
		v.fail(key, "%s needs %dm CPU and %d MiB with its sidecar containers, more than one %s node of the %s pool can give (%dm, %d MiB after AKS's reservations and the DaemonSets): it would stay Pending; lower %s or use a larger %s.vmSize",
			what, cpuMillis, memMiB, vmSize, pool, nodeCPU, nodeMem, key, pool+"Pool")
	}
}

// capacity checks that the user pool at its autoscaler maximum can hold
// Moodle at its HPA maximum beside the data tier and the platform.
func (v *validator) capacity(c *Config) {
	vcpu, mem, err := VMCapacity(c.UserPool.VMSize)
	if err != nil {
		v.fail("userPool.vmSize", "%v", err)
		return
	}
	// Each pod on one node of the user pool (sidecar, exporter included).
	// The data tier is outside the mesh: no sidecar on its pods.
	side := func(n int) int { return n + sidecarCPUMillis }
	v.podFits("mysqlMemoryMiB", "a MySQL member pod", c.MysqlCPUMillis+mysqlExporterCPUMillis, c.MysqlMemoryMiB+mysqlExporterMemMiB, "user", c.UserPool.VMSize)
	v.podFits("redisMemoryMiB", "a Redis pod", 100+10, c.RedisMemoryMiB+32, "user", c.UserPool.VMSize)
	v.podFits("webMemoryMiB", "a Moodle web pod", side(c.WebCPUMillis+10), c.WebMemoryMiB+32+sidecarMemMiB, "user", c.UserPool.VMSize)

	nodes := c.UserPool.MaxCount
	haveCPU := nodes * vcpu * 1000 * allocatableCPUPct / 100
	haveMem := nodes * mem * allocatableMemPct / 100
	// Every member with its exporter and one HAProxy pod per member; each
	// Redis pod of the sessions cluster and the cache; the two operators.
	redisPods := c.RedisSessionShards + c.RedisSessionFollowers() + 1
	data := c.MysqlMembers*(c.MysqlCPUMillis+mysqlExporterCPUMillis+HAProxyCPUMillis) + redisPods*110 + 2*OperatorCPUMillis
	dataMem := c.MysqlMembers*(c.MysqlMemoryMiB+mysqlExporterMemMiB+HAProxyMemMiB) + redisPods*(c.RedisMemoryMiB+32) + 2*OperatorMemMiB
	needCPU := c.WebMaxReplicas*(c.WebCPUMillis+sidecarCPUMillis) + data + platformCPUMillis
	needMem := c.WebMaxReplicas*(c.WebMemoryMiB+sidecarMemMiB) + dataMem + platformMemMiB
	if needCPU > haveCPU || needMem > haveMem {
		v.fail("webMaxReplicas", "%d web pods do not fit the user pool at userPool.maxCount %d x %s: need %dm CPU and %d MiB, the pool offers %dm and %d MiB; raise userPool.maxCount or the VM size, or lower webMaxReplicas",
			c.WebMaxReplicas, nodes, c.UserPool.VMSize, needCPU, needMem, haveCPU, haveMem)
	}
}

var (
	langRE   = regexp.MustCompile(`^[a-z]{2,3}(_[a-z0-9]+)*$`)
	envVarRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
)

// moodle checks the Moodle workload settings.
func (v *validator) moodle(c *Config) {
	v.between("webCpuMillis", c.WebCPUMillis, 100, 16000)
	v.between("webMemoryMiB", c.WebMemoryMiB, 256, 32768)
	baked := moodleimage.LanguagePacks()
	for i, l := range c.LanguagePacks {
		if !langRE.MatchString(l) {
			v.fail(fmt.Sprintf("languagePacks[%d]", i), "%q is not a Moodle language code such as de or pt_br", l)
		} else if !contains(baked, l) {
			// The upgrade Job would stop on it in the cluster.
			v.fail(fmt.Sprintf("languagePacks[%d]", i), "%q is not in the Moodle image (images/moodle/language-packs.txt has %v): add it there and rebuild moodleImage", l, baked)
		}
	}
	if !langRE.MatchString(c.DefaultLanguage) {
		v.fail("defaultLanguage", "%q is not a Moodle language code", c.DefaultLanguage)
	} else if c.DefaultLanguage != "en" && !contains(c.LanguagePacks, c.DefaultLanguage) {
		v.fail("defaultLanguage", "%q is not en and not in languagePacks %v", c.DefaultLanguage, c.LanguagePacks)
	}
	if c.SiteName == "" {
		v.fail("siteName", "is required")
	}
	if !plainAddressRE.MatchString(c.AdminEmail) {
		v.fail("adminEmail", "%q is not an email address", c.AdminEmail)
	}
	names := make([]string, 0, len(c.IntegrationSecrets))
	for n := range c.IntegrationSecrets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := c.Integrations[n]; !ok {
			v.fail("integrationSecrets."+n, "names no integration declared in integrations")
		}
		for k := range c.IntegrationSecrets[n] {
			if !envVarRE.MatchString(k) {
				// The key is a variable name, never a secret: safe to show.
				v.fail("integrationSecrets."+n, "%q is not an environment variable name (A-Z, 0-9, _)", k)
			}
		}
	}
	v.capacity(c)
	v.monitoring(c)
	v.migration(c)
}

// monitoring checks the monitoring and alert routing settings.
func (v *validator) monitoring(c *Config) {
	if !exactChartRE.MatchString(c.PrometheusChartVersion) {
		v.fail("prometheusChartVersion", "%q is not an exact chart version such as 88.5.3", c.PrometheusChartVersion)
	}
	v.between("prometheusRetentionDays", c.PrometheusRetentionDays, 1, 365)
	v.between("prometheusStorageGiB", c.PrometheusStorageGiB, 10, 4096)
	v.image("apacheExporterImage", c.ApacheExporterImage)
	if c.SMTPHost != "" {
		// Moodle's own mail uses the relay too, and needs a no-reply sender.
		if _, err := ParseEndpoint(c.SMTPHost); err != nil {
			v.fail("smtpHost", "%q is not host:port", c.SMTPHost)
		}
		if !plainAddressRE.MatchString(c.SMTPFrom) {
			v.fail("smtpFrom", "%q is not an email address, and smtpHost needs a sender (Moodle's no-reply address)", c.SMTPFrom)
		}
	}
	if c.SMTPPassword != "" && c.SMTPUsername == "" {
		v.fail("smtpUsername", "is required with smtpPassword")
	}
	if len(c.AlertEmails) > 0 {
		if _, err := ParseEndpoint(c.SMTPHost); err != nil {
			v.fail("smtpHost", "%q is not host:port, and alertEmails needs an SMTP relay", c.SMTPHost)
		}
		if !plainAddressRE.MatchString(c.SMTPFrom) {
			v.fail("smtpFrom", "%q is not an email address, and alertEmails needs a sender", c.SMTPFrom)
		}
	}
	ruleIDs := make([]string, 0, len(c.PolicyEnforcement))
	for id := range c.PolicyEnforcement {
		ruleIDs = append(ruleIDs, id)
	}
	sort.Strings(ruleIDs)
	for _, id := range ruleIDs {
		level := c.PolicyEnforcement[id]
		key := "policyEnforcement." + id
		if !ruleIDRE.MatchString(id) {
			v.fail(key, "%q is not a rule id such as aks-zones", id)
		}
		if v.oneOf(key, level, []string{"mandatory", "advisory", "disabled"}) && c.Environment == Prod && strings.HasPrefix(id, "residency-") && level != "mandatory" {
			v.fail(key, "residency rules stay mandatory in prod")
		}
	}
	if c.SMTPUsername != "" && c.SMTPPassword == "" {
		v.fail("smtpPassword", "is empty while smtpUsername is set")
	}
}

var (
	exactChartRE = regexp.MustCompile(`^\d+\.\d+\.\d+$`)
	ruleIDRE     = regexp.MustCompile(`^[a-z]+(-[a-z0-9]+)+$`)
)

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
