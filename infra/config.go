package infra

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	moodleimage "github.com/fieldcert/moodle-aks/images/moodle"
)

// Environment decides the defaults of a stack.
type Environment string

// The environments a stack can be.
const (
	Dev  Environment = "dev"
	Prod Environment = "prod"
)

// DataProtection says how data resources resist deletion.
type DataProtection string

// The data protection modes.
const (
	// Protect sets pulumi.Protect: Pulumi refuses to delete or replace the
	// resource until someone runs `pulumi state unprotect`.
	Protect DataProtection = "protect"
	// Retain sets pulumi.RetainOnDelete: a delete (or `pulumi destroy`) drops
	// the resource from the state and leaves it in Azure.
	Retain DataProtection = "retain"
	// NoProtection lets Pulumi delete data resources; never allowed in prod.
	NoProtection DataProtection = "none"
)

// NodePool sizes one autoscaled AKS node pool.
type NodePool struct {
	// VMSize is the Azure VM size, e.g. "Standard_D4s_v5".
	VMSize string `json:"vmSize"`
	// MinCount is the fewest nodes the cluster autoscaler keeps.
	MinCount int `json:"minCount"`
	// MaxCount is the most nodes the cluster autoscaler may add.
	MaxCount int `json:"maxCount"`
}

// JobsPool is the optional pool for cron, integration and migration jobs.
type JobsPool struct {
	// Enabled creates the pool; without it jobs run on the user pool.
	Enabled bool `json:"enabled"`
	NodePool
}

// MaintenanceWindow is the weekly window for AKS upgrades.
type MaintenanceWindow struct {
	// DayOfWeek is an English day name, e.g. "Sunday".
	DayOfWeek string `json:"dayOfWeek"`
	// StartHour is the hour (0-23) the window opens, in UTCOffset.
	StartHour int `json:"startHour"`
	// DurationHours is how long the window stays open (4-24; AKS needs 4).
	DurationHours int `json:"durationHours"`
	// UTCOffset is the window's offset from UTC, "+HH:MM" or "-HH:MM".
	UTCOffset string `json:"utcOffset"`
}

// Config is the typed, defaulted and validated config of one region stack.
// Load it once (in stacks) and pass what each component needs.
type Config struct {
	Project string
	Stack   string

	Environment Environment
	Region      string
	Residency   string
	Hostname    string

	KubernetesVersion string
	// KubernetesSupportPlan is SupportOfficial or SupportLTS (Premium tier).
	KubernetesSupportPlan string
	Zones                 []string
	SystemPool            NodePool
	UserPool              NodePool
	JobsPool              JobsPool
	// IntegrationsPool is a pool of its own for the third-party
	// integrations (integrationsPool): their code never shares a node with
	// the upgrade, cron or backup Jobs and their credentials.
	IntegrationsPool JobsPool

	UpgradeChannel              string
	MaintenanceWindow           MaintenanceWindow
	APIServerAuthorizedIPRanges []string
	PrivateCluster              bool
	AKSAdminGroupObjectIDs      []string

	WebMinReplicas int
	WebMaxReplicas int
	WebCPUMillis   int
	WebMemoryMiB   int

	MaintenanceMode    bool
	DefaultLanguage    string
	LanguagePacks      []string
	SiteName           string
	AdminEmail         string
	IntegrationSecrets map[string]map[string]string

	MoodledataQuotaGiB      int
	MysqlDiskGiB            int
	MysqlCPUMillis          int
	MysqlMemoryMiB          int
	MysqlMembers            int
	RedisSessionShards      int
	RedisMemoryMiB          int
	RedisSessionPersistence string
	BackupSchedule          string
	FilesSnapshotSchedule   string
	RestoreBackup           string
	RestoreInto             string
	AzureCLIImage           string
	MysqlExporterImage      string
	RedisExporterImage      string
	BackupRetentionDays     int
	BackupReplication       string
	DataProtection          DataProtection
	PluginMode              string

	DNSZoneName          string
	DNSZoneResourceGroup string
	DNSTTLSeconds        int
	// DNSCAAIssuers are the CAs the site's CAA record allows (dnsCaaIssuers).
	DNSCAAIssuers []string
	// AuditLogs sends the cluster's audit log and the storage accounts'
	// data access to a Log Analytics workspace in the region (auditLogs);
	// AuditLogRetentionDays is how long it keeps them.
	AuditLogs             bool
	AuditLogRetentionDays int
	// DefenderForContainers and AzurePolicyAddon turn on AKS's Defender
	// profile and Azure Policy add-on (defenderForContainers, azurePolicyAddon).
	DefenderForContainers, AzurePolicyAddon bool
	// MathJaxURL is the site's own copy of MathJax (mathJaxUrl); empty:
	// the MathJax filter is disabled.
	MathJaxURL string
	// SMTPDataLocation is where the mail relay keeps what it sends
	// (smtpDataLocation): an Azure Communication Services data location.
	SMTPDataLocation string

	IstioMode          string
	IstioAddonRevision string
	IstioVersion       string
	CertManagerVersion string
	ACMEEmail          string
	ACMEChallenge      string
	ACMEEnvironment    string
	MoodleEgress       []string
	Integrations       map[string]Integration
	// EgressFQDNFiltering limits non-mesh namespaces' internet egress to
	// named hosts (Cilium FQDN policies, AKS ACNS security).
	EgressFQDNFiltering bool

	VnetCIDR           string
	NodeSubnetCIDR     string
	EndpointSubnetCIDR string
	PodCIDR            string
	ServiceCIDR        string
	DNSServiceIP       string

	MoodleImage string
	// ContainerRegistryID is the ARM ID of the registry private images come
	// from; the kubelet gets AcrPull on it.
	ContainerRegistryID string
	MysqlImage          string
	MysqlProxyImage     string
	RedisImage          string
	RedisClusterImage   string

	AlertEmails     []string
	AlertWebhookURL string
	// AlertPagerDutyRoutingKey, AlertOpsgenieAPIKey, AlertTeamsWebhookURL:
	// native receivers (secret); AlertHeartbeatURL: the dead man's switch.
	AlertPagerDutyRoutingKey string
	AlertOpsgenieAPIKey      string
	AlertTeamsWebhookURL     string
	AlertHeartbeatURL        string
	SMTPHost                 string
	SMTPFrom                 string
	SMTPUsername             string
	SMTPPassword             string

	PolicyEnforcement map[string]string

	Migration           Migration
	DatabaseMove        DatabaseMove
	MigrationDBPassword string
	LoadTest            LoadTest
	K6Image             string

	PrometheusChartVersion  string
	PrometheusRetentionDays int
	PrometheusStorageGiB    int
	ApacheExporterImage     string

	NameSuffix string

	// Warnings are what the version checks found that does not stop the
	// stack (a version near or past its end of support); the program logs
	// them and the renderer prints them.
	Warnings []string
}

// Source is where Load reads config from: the Pulumi context in a real
// run, a map in tests and the offline renderer.
type Source interface {
	// Get returns the raw value of a key given without namespace, as Pulumi
	// passes it to programs: scalars as text, arrays and objects as JSON.
	Get(key string) (string, bool)
	// IsSecret reports whether the key was set as a secret.
	IsSecret(key string) bool
}

// MapSource serves config from a map keyed by bare or namespaced key; keys
// listed in Secrets count as set with --secret.
type MapSource struct {
	Values  map[string]string
	Secrets []string
}

// Get implements Source.
func (m MapSource) Get(key string) (string, bool) {
	if v, ok := m.Values[Project+":"+key]; ok {
		return v, true
	}
	v, ok := m.Values[key]
	return v, ok
}

// IsSecret implements Source.
func (m MapSource) IsSecret(key string) bool {
	for _, s := range m.Secrets {
		if s == key || s == Project+":"+key {
			return true
		}
	}
	return false
}

// Load reads every key of Keys through get, applies the defaults of the
// environment and region, and validates the result, with the version
// checks on the deploy date (Today: DateEnv, else today). The error joins
// every problem found, each naming its key, the bad value and what is
// allowed.
func Load(project, stack string, src Source) (*Config, error) {
	today, err := Today()
	if err != nil {
		return nil, err
	}
	return LoadAt(project, stack, src, today)
}

// LoadAt is Load with the deploy date given: the day the version checks
// hold the stack's versions against (CheckVersions).
func LoadAt(project, stack string, src Source, today time.Time) (*Config, error) {
	r := &reader{src: src}
	c := &Config{Project: project, Stack: stack}

	var env, region string
	r.str("environment", &env)
	r.str("region", &region)
	c.Environment, c.Region = Environment(env), region
	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	c.applyDefaults()

	for key, field := range c.stringFields() {
		r.str(key, field)
	}
	r.zones(&c.Zones)
	r.object("systemPool", &c.SystemPool)
	r.object("userPool", &c.UserPool)
	r.object("jobsPool", &c.JobsPool)
	r.object("integrationsPool", &c.IntegrationsPool)
	r.object("maintenanceWindow", &c.MaintenanceWindow)
	r.strs("apiServerAuthorizedIpRanges", &c.APIServerAuthorizedIPRanges)
	r.bool("privateCluster", &c.PrivateCluster)
	r.strs("aksAdminGroupObjectIds", &c.AKSAdminGroupObjectIDs)
	r.int("dnsTtlSeconds", &c.DNSTTLSeconds)
	r.strs("dnsCaaIssuers", &c.DNSCAAIssuers)
	prodDefault := c.Environment == Prod
	c.AuditLogs = r.onOff("auditLogs", prodDefault)
	c.DefenderForContainers = r.onOff("defenderForContainers", prodDefault)
	c.AzurePolicyAddon = r.onOff("azurePolicyAddon", prodDefault)
	r.int("auditLogRetentionDays", &c.AuditLogRetentionDays)
	if c.AuditLogRetentionDays == 0 {
		c.AuditLogRetentionDays = 30
		if prodDefault {
			c.AuditLogRetentionDays = 365
		}
	}
	r.object("policyEnforcement", &c.PolicyEnforcement)
	r.object("migration", &c.Migration)
	r.object("databaseMove", &c.DatabaseMove)
	r.object("loadTest", &c.LoadTest)
	if r.str("migrationDbPassword", &c.MigrationDBPassword) && c.MigrationDBPassword != "" && !src.IsSecret("migrationDbPassword") {
		r.fail("migrationDbPassword", "is set in plain text; set it with `pulumi config set --secret migrationDbPassword ...`")
	}
	r.int("prometheusRetentionDays", &c.PrometheusRetentionDays)
	r.int("prometheusStorageGiB", &c.PrometheusStorageGiB)
	if r.str("smtpPassword", &c.SMTPPassword) && c.SMTPPassword != "" && !src.IsSecret("smtpPassword") {
		r.fail("smtpPassword", "is set in plain text; set it with `pulumi config set --secret smtpPassword ...`")
	}
	r.int("webCpuMillis", &c.WebCPUMillis)
	r.int("webMemoryMiB", &c.WebMemoryMiB)
	r.bool("maintenanceMode", &c.MaintenanceMode)
	r.strs("languagePacks", &c.LanguagePacks)
	if r.object("integrationSecrets", &c.IntegrationSecrets) && len(c.IntegrationSecrets) > 0 && !src.IsSecret("integrationSecrets") {
		r.fail("integrationSecrets", "is set in plain text; set it with `pulumi config set --secret --path 'integrationSecrets.<name>.<VAR>' ...`")
	}
	r.int("webMinReplicas", &c.WebMinReplicas)
	r.int("webMaxReplicas", &c.WebMaxReplicas)
	r.int("moodledataQuotaGiB", &c.MoodledataQuotaGiB)
	r.int("mysqlDiskGiB", &c.MysqlDiskGiB)
	r.int("mysqlCpuMillis", &c.MysqlCPUMillis)
	r.int("mysqlMemoryMiB", &c.MysqlMemoryMiB)
	r.int("redisMemoryMiB", &c.RedisMemoryMiB)
	r.int("mysqlMembers", &c.MysqlMembers)
	r.int("redisSessionShards", &c.RedisSessionShards)
	r.int("backupRetentionDays", &c.BackupRetentionDays)
	var dp string
	if r.str("dataProtection", &dp) {
		c.DataProtection = DataProtection(dp)
	}
	r.strs("alertEmails", &c.AlertEmails)
	r.strs("moodleEgress", &c.MoodleEgress)
	r.object("integrations", &c.Integrations)
	r.bool("egressFqdnFiltering", &c.EgressFQDNFiltering)
	for _, k := range []struct {
		key string
		dst *string
	}{
		{"alertWebhookUrl", &c.AlertWebhookURL}, {"alertPagerDutyRoutingKey", &c.AlertPagerDutyRoutingKey},
		{"alertOpsgenieApiKey", &c.AlertOpsgenieAPIKey}, {"alertTeamsWebhookUrl", &c.AlertTeamsWebhookURL}, {"alertHeartbeatUrl", &c.AlertHeartbeatURL},
	} {
		if r.str(k.key, k.dst) && *k.dst != "" && !src.IsSecret(k.key) {
			r.fail(k.key, "is set in plain text; it carries a token, so set it with `pulumi config set --secret %s ...`", k.key)
		}
	}

	if c.AdminEmail == "" {
		c.AdminEmail = c.ACMEEmail
		if len(c.AlertEmails) > 0 {
			c.AdminEmail = c.AlertEmails[0]
		}
	}
	if c.ACMEChallenge == "" {
		// DNS-01 where the stack manages the zone, else HTTP-01.
		c.ACMEChallenge = "http01"
		if c.DNSZoneName != "" {
			c.ACMEChallenge = "dns01"
		}
	}

	c.MoodleImage = ResolveMoodleImage(c.MoodleImage)

	errs := append(r.errs, c.Validate()...)
	if len(errs) == 0 {
		// Versions are held against the catalog once they are well-formed.
		report := c.CheckVersions(today)
		errs, c.Warnings = report.Errors, append(report.Warnings, c.DeliveryWarnings(today)...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// ResolveMoodleImage gives the Moodle image of this commit when moodleImage
// names the repository without a tag or digest
// ("crfieldcert.azurecr.io/moodle"): the content tag of images/moodle, the
// tag the pipeline builds and pushes. Any other reference is left as it is
// (an explicit tag pins another build, for a rollback).
func ResolveMoodleImage(ref string) string {
	m := imageRE.FindStringSubmatch(ref)
	if m == nil || m[3] != "" || m[4] != "" {
		return ref
	}
	if path := m[2]; path == moodleimage.Repository || strings.HasSuffix(path, "/"+moodleimage.Repository) {
		return ref + ":" + moodleimage.Tag()
	}
	return ref
}

// applyDefaults fills every field from the environment and region. Values
// from config then override field by field (objects key by key).
func (c *Config) applyDefaults() {
	reg, _ := LookupRegion(c.Region)
	fields := c.stringFields()
	for _, k := range Keys {
		if s, ok := k.Default.(string); ok && k.DefaultDoc == "" && fields[k.Name] != nil {
			// Keys with an environment-independent default take it from the
			// one table Pulumi.yaml is checked against.
			*fields[k.Name] = s
		}
	}
	// Lists and maps start empty, not nil, as if set to [] or {}.
	c.AlertEmails, c.MoodleEgress = []string{}, []string{}
	c.APIServerAuthorizedIPRanges, c.AKSAdminGroupObjectIDs = []string{}, []string{}
	c.Integrations = map[string]Integration{}
	c.LanguagePacks, c.IntegrationSecrets = []string{}, map[string]map[string]string{}
	c.PolicyEnforcement = map[string]string{}
	c.Migration = Migration{DBPort: 3306, DBName: "moodle"}
	c.LoadTest = LoadTest{VirtualUsers: 200, RampUp: "2m", Duration: "10m", Paths: []string{"/", "/login/index.php"}, P95Ms: 1500, MaxErrorPercent: 1}
	c.DNSTTLSeconds = 3600
	c.DNSCAAIssuers = []string{"letsencrypt.org"}
	c.EgressFQDNFiltering = true
	c.ACMEEnvironment = "staging"
	if c.Environment == Prod {
		c.ACMEEnvironment = "production"
	}
	c.MaintenanceWindow = MaintenanceWindow{DayOfWeek: "Sunday", StartHour: 5, DurationHours: 4, UTCOffset: "+00:00"}
	prod := c.Environment == Prod
	if prod {
		if reg.Zones {
			c.Zones = []string{"1", "2", "3"}
		}
		c.SystemPool = NodePool{VMSize: "Standard_D4s_v5", MinCount: 3, MaxCount: 5}
		c.UserPool = NodePool{VMSize: "Standard_D8s_v5", MinCount: 3, MaxCount: 30}
		c.JobsPool = JobsPool{Enabled: true, NodePool: NodePool{VMSize: "Standard_D4s_v5", MinCount: 0, MaxCount: 5}}
		c.IntegrationsPool = JobsPool{Enabled: true, NodePool: NodePool{VMSize: "Standard_D2s_v5", MinCount: 0, MaxCount: 3}}
		c.WebMinReplicas, c.WebMaxReplicas = 3, 60
		c.MoodledataQuotaGiB, c.MysqlDiskGiB, c.BackupRetentionDays = 1024, 256, 35
		c.MysqlCPUMillis, c.MysqlMemoryMiB, c.RedisMemoryMiB = 2000, 16384, 1024
		c.WebCPUMillis, c.WebMemoryMiB = 1000, 2048
		c.PrometheusRetentionDays, c.PrometheusStorageGiB = 30, 200
		c.RedisSessionPersistence = "aof"
		c.MysqlMembers, c.RedisSessionShards = 3, 3
		c.BackupReplication = "LRS"
		if reg.Zones {
			c.BackupReplication = "ZRS"
		}
		c.DataProtection = Protect
	} else {
		c.SystemPool = NodePool{VMSize: "Standard_D2s_v5", MinCount: 1, MaxCount: 2}
		c.UserPool = NodePool{VMSize: "Standard_D4s_v5", MinCount: 1, MaxCount: 3}
		c.JobsPool = JobsPool{Enabled: false, NodePool: NodePool{VMSize: "Standard_D4s_v5", MinCount: 0, MaxCount: 3}}
		c.IntegrationsPool = JobsPool{Enabled: false, NodePool: NodePool{VMSize: "Standard_D2s_v5", MinCount: 0, MaxCount: 2}}
		c.WebMinReplicas, c.WebMaxReplicas = 1, 3
		c.MoodledataQuotaGiB, c.MysqlDiskGiB, c.BackupRetentionDays = 100, 32, 7
		c.MysqlCPUMillis, c.MysqlMemoryMiB, c.RedisMemoryMiB = 500, 2048, 256
		c.WebCPUMillis, c.WebMemoryMiB = 500, 1024
		c.PrometheusRetentionDays, c.PrometheusStorageGiB = 7, 20
		c.RedisSessionPersistence = "off"
		c.MysqlMembers, c.RedisSessionShards = 1, 1
		c.BackupReplication = "LRS"
		c.DataProtection = Retain
	}
}

// stringFields maps the plain string keys to their fields, for defaults
// and for reading.
func (c *Config) stringFields() map[string]*string {
	return map[string]*string{
		"residency": &c.Residency, "hostname": &c.Hostname, "kubernetesVersion": &c.KubernetesVersion, "kubernetesSupportPlan": &c.KubernetesSupportPlan,
		"backupReplication": &c.BackupReplication, "vnetCidr": &c.VnetCIDR, "nodeSubnetCidr": &c.NodeSubnetCIDR,
		"endpointSubnetCidr": &c.EndpointSubnetCIDR, "podCidr": &c.PodCIDR, "serviceCidr": &c.ServiceCIDR,
		"dnsServiceIp": &c.DNSServiceIP, "moodleImage": &c.MoodleImage, "containerRegistryId": &c.ContainerRegistryID, "mysqlImage": &c.MysqlImage,
		"mysqlProxyImage": &c.MysqlProxyImage, "redisClusterImage": &c.RedisClusterImage,
		"redisImage": &c.RedisImage, "nameSuffix": &c.NameSuffix, "upgradeChannel": &c.UpgradeChannel,
		"smtpDataLocation": &c.SMTPDataLocation, "mathJaxUrl": &c.MathJaxURL,
		"pluginMode": &c.PluginMode, "dnsZoneName": &c.DNSZoneName, "dnsZoneResourceGroup": &c.DNSZoneResourceGroup,
		"istioVersion": &c.IstioVersion, "istioMode": &c.IstioMode, "istioAddonRevision": &c.IstioAddonRevision, "certManagerVersion": &c.CertManagerVersion, "acmeEmail": &c.ACMEEmail,
		"acmeChallenge": &c.ACMEChallenge, "acmeEnvironment": &c.ACMEEnvironment,
		"redisSessionPersistence": &c.RedisSessionPersistence, "backupSchedule": &c.BackupSchedule,
		"filesSnapshotSchedule": &c.FilesSnapshotSchedule, "restoreBackup": &c.RestoreBackup, "restoreInto": &c.RestoreInto,
		"k6Image":  &c.K6Image,
		"smtpHost": &c.SMTPHost, "smtpFrom": &c.SMTPFrom, "smtpUsername": &c.SMTPUsername,
		"prometheusChartVersion": &c.PrometheusChartVersion, "apacheExporterImage": &c.ApacheExporterImage,
		"defaultLanguage": &c.DefaultLanguage, "siteName": &c.SiteName, "adminEmail": &c.AdminEmail,
		"azureCliImage": &c.AzureCLIImage, "mysqlExporterImage": &c.MysqlExporterImage, "redisExporterImage": &c.RedisExporterImage,
	}
}

// RegionInfo returns the catalog entry of the stack's region.
func (c *Config) RegionInfo() Region {
	r, _ := LookupRegion(c.Region)
	return r
}

// reader parses raw config values into typed fields, collecting errors.
type reader struct {
	src  Source
	errs []error
}

func (r *reader) fail(key, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("config %s:%s: %s", Project, key, fmt.Sprintf(format, args...)))
}

// raw returns the value of key, or false when it is not set or holds the
// sentinel default ("auto", 0) that stands for the environment's default.
func (r *reader) raw(key string) (string, bool) {
	v, ok := r.src.Get(key)
	if k, known := LookupKey(key); ok && known && k.DefaultDoc != "" && k.Default != nil && v == k.YAMLDefault() {
		return "", false
	}
	return v, ok
}

// zones reads "auto" (keep the default), "none" or a comma list.
func (r *reader) zones(dst *[]string) {
	v, ok := r.raw("zones")
	if !ok {
		return
	}
	if strings.TrimSpace(v) == "none" {
		*dst = nil
		return
	}
	var out []string
	for _, z := range strings.Split(v, ",") {
		out = append(out, strings.TrimSpace(z))
	}
	*dst = out
}

func (r *reader) str(key string, dst *string) bool {
	v, ok := r.raw(key)
	if ok {
		*dst = v
	}
	return ok
}

// onOff reads an "auto", "on" or "off" key; auto is the environment's
// default.
func (r *reader) onOff(key string, auto bool) bool {
	v, ok := r.raw(key)
	switch strings.TrimSpace(v) {
	case "on":
		return true
	case "off":
		return false
	case "auto":
		return auto
	}
	if ok {
		r.fail(key, "%q is not allowed; allowed: auto, on, off", v)
	}
	return auto
}

func (r *reader) int(key string, dst *int) {
	v, ok := r.raw(key)
	if !ok {
		return
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		r.fail(key, "%q is not a whole number", v)
		return
	}
	*dst = n
}

func (r *reader) bool(key string, dst *bool) {
	v, ok := r.raw(key)
	if !ok {
		return
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		r.fail(key, "%q is not true or false", v)
		return
	}
	*dst = b
}

func (r *reader) strs(key string, dst *[]string) {
	v, ok := r.raw(key)
	if !ok {
		return
	}
	var out []string
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		r.fail(key, "%s is not a list of strings", v)
		return
	}
	*dst = out
}

// object decodes a JSON object over the defaults already in dst; an unknown
// field is an error, so a typo never silently drops a setting.
func (r *reader) object(key string, dst any) bool {
	v, ok := r.raw(key)
	if !ok {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(v)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		msg := err.Error()
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			msg = fmt.Sprintf("field %q must be a %s, got %s", te.Field, te.Type.String(), te.Value)
		case strings.HasPrefix(msg, "json: unknown field "):
			msg = fmt.Sprintf("unknown field %s; allowed: %s", strings.TrimPrefix(msg, "json: unknown field "), jsonFields(dst))
		}
		r.fail(key, "%s", msg)
		return false
	}
	return true
}
