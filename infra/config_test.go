package infra

import (
	"strings"
	"testing"
	"time"

	moodleimage "github.com/fieldcert/moodle-aks/images/moodle"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// valid returns a complete, valid config for env, keyed without namespace.
func valid(env string) map[string]string {
	m := map[string]string{
		"environment": env,
		"region":      "westeurope",
		"residency":   "eu",
		"hostname":    "learn.example.com",
		"moodleImage": "registry.example.com/moodle:4.5.7",
		// Documentation range (RFC 5737) standing in for the agents' egress.
		"apiServerAuthorizedIpRanges": `["203.0.113.0/24"]`,
		"acmeEmail":                   "certs@example.com",
	}
	if env == "prod" {
		// Two kinds of receiver and the heartbeat (secret: see load).
		m["alertEmails"] = `["oncall@example.com"]`
		m["smtpHost"], m["smtpFrom"] = "smtp.example.com:587", "alerts@example.com"
		m["smtpUsername"], m["smtpPassword"] = "alerts", "s3cret"
		m["smtpDataLocation"] = "Europe"
		m["alertPagerDutyRoutingKey"] = "0123456789abcdef0123456789ABCDEF"
		m["alertHeartbeatUrl"] = "https://hc-ping.example.com/5f2a"
		m["aksAdminGroupObjectIds"] = `["6f1c3b1e-8a52-4c2e-9d0e-1b2a3c4d5e6f"]`
	}
	return m
}

// registryID is the ARM ID of the team's registry in the test configs.
const registryID = "/subscriptions/2b7a3c55-0d4e-4f1a-9c3b-6e8d1f2a4b5c/resourceGroups/rg-registry/providers/Microsoft.ContainerRegistry/registries/crfieldcert"

// testDay is the deploy date of these tests: fixed, so that no test starts
// failing when a default version reaches its end of support.
var testDay = Day(2026, time.December, 1)

func load(t *testing.T, values map[string]string, secrets ...string) (*Config, error) {
	t.Helper()
	// The base config's secrets are set as secrets; a test that wants a
	// plain-text secret deletes the key and sets another.
	for _, k := range []string{"smtpPassword", "alertPagerDutyRoutingKey", "alertHeartbeatUrl"} {
		if _, ok := values[k]; ok {
			secrets = append(secrets, k)
		}
	}
	return LoadAt(Project, "test", MapSource{Values: values, Secrets: secrets}, testDay)
}

func TestLoadAppliesEnvironmentDefaults(t *testing.T) {
	dev, err := load(t, valid("dev"))
	require.NoError(t, err)
	prod, err := load(t, valid("prod"))
	require.NoError(t, err)

	assert.Empty(t, dev.Zones, "dev uses no zones by default")
	assert.Equal(t, []string{"1", "2", "3"}, prod.Zones, "prod spreads over every zone of a zonal region")
	assert.Equal(t, Retain, dev.DataProtection)
	assert.Equal(t, Protect, prod.DataProtection)
	assert.Equal(t, "LRS", dev.BackupReplication)
	assert.Equal(t, "ZRS", prod.BackupReplication)
	assert.Less(t, dev.UserPool.MaxCount, prod.UserPool.MaxCount)
	assert.GreaterOrEqual(t, prod.WebMinReplicas, 2)
	assert.True(t, prod.JobsPool.Enabled)
	assert.False(t, dev.JobsPool.Enabled)
	// Environment-independent defaults come from the Keys table.
	k, _ := LookupKey("vnetCidr")
	assert.Equal(t, k.Default, dev.VnetCIDR)
}

func TestLoadProdInZonelessRegionFallsBackToLRS(t *testing.T) {
	v := valid("prod")
	v["region"], v["residency"], v["smtpDataLocation"] = "northcentralus", "us", "United States"
	c, err := load(t, v)
	require.NoError(t, err)
	assert.Empty(t, c.Zones)
	assert.Equal(t, "LRS", c.BackupReplication)
}

func TestLoadSentinelsMeanEnvironmentDefault(t *testing.T) {
	// The Pulumi CLI passes Pulumi.yaml's defaults ("auto", 0, {}) to the
	// program; they must give the same config as leaving the keys unset.
	v := valid("prod")
	for _, k := range Keys {
		if _, set := v[k.Name]; !set && k.Default != nil {
			v[k.Name] = k.YAMLDefault()
		}
	}
	withSentinels, err := load(t, v)
	require.NoError(t, err)
	without, err := load(t, valid("prod"))
	require.NoError(t, err)
	assert.Equal(t, without, withSentinels)
}

func TestLoadOverridesObjectFieldByField(t *testing.T) {
	v := valid("prod")
	v["userPool"] = `{"maxCount": 50}`
	v["zones"] = "1,3,2"
	c, err := load(t, v)
	require.NoError(t, err)
	assert.Equal(t, NodePool{VMSize: "Standard_D8s_v5", MinCount: 3, MaxCount: 50}, c.UserPool)
	assert.Equal(t, []string{"1", "3", "2"}, c.Zones)
}

func TestLoadRejectsBadValues(t *testing.T) {
	cases := []struct {
		name string
		env  string
		set  map[string]string
		key  string // the namespaced key the message must name
		want string // a fragment of the message: what is wrong or allowed
	}{
		{"unknown environment", "dev", map[string]string{"environment": "staging"}, "environment", "allowed: dev, prod"},
		{"unknown region", "dev", map[string]string{"region": "westeurope2"}, "region", "not a known Azure region"},
		{"region with spaces", "dev", map[string]string{"region": "West Europe"}, "region", "ARM names"},
		{"unknown residency", "dev", map[string]string{"residency": "europe"}, "residency", "not a known residency boundary"},
		{"residency without region", "dev", map[string]string{"residency": "us"}, "residency", `does not contain region "westeurope"`},
		{"hostname with scheme", "dev", map[string]string{"hostname": "https://learn.example.com"}, "hostname", "not a lowercase DNS name"},
		{"hostname single label", "dev", map[string]string{"hostname": "moodle"}, "hostname", "two or more labels"},
		{"hostname uppercase", "dev", map[string]string{"hostname": "Learn.Example.com"}, "hostname", "lowercase"},
		{"k8s version format", "dev", map[string]string{"kubernetesVersion": "v1.30"}, "kubernetesVersion", "1.MINOR"},
		{"k8s version too old", "dev", map[string]string{"kubernetesVersion": "1.28"}, "kubernetesVersion", "older than 1.29"},
		{"zones in zoneless region", "dev", map[string]string{"region": "northcentralus", "residency": "us", "zones": "1,2"}, "zones", "has no availability zones"},
		{"zone out of range", "dev", map[string]string{"zones": "1,4"}, "zones", `"4" is not an availability zone`},
		{"zone twice", "dev", map[string]string{"zones": "1,1"}, "zones", "listed twice"},
		{"pool min above max", "dev", map[string]string{"userPool": `{"minCount": 5, "maxCount": 3}`}, "userPool.minCount", "greater than userPool.maxCount"},
		{"pool max above AKS limit", "prod", map[string]string{"userPool": `{"maxCount": 2000}`}, "userPool.maxCount", "allowed: 1 to 1000"},
		{"system pool to zero", "dev", map[string]string{"systemPool": `{"minCount": 0}`}, "systemPool.minCount", "allowed: 1 to 1000"},
		{"pool vm size", "dev", map[string]string{"userPool": `{"vmSize": "D4s_v5"}`}, "userPool.vmSize", "not an Azure VM size"},
		{"pool unknown field", "dev", map[string]string{"userPool": `{"maxNodes": 5}`}, "userPool", `unknown field "maxNodes"`},
		{"pool wrong type", "dev", map[string]string{"userPool": `{"maxCount": "five"}`}, "userPool", `field "maxCount" must be a int`},
		{"jobs pool bounds when enabled", "dev", map[string]string{"jobsPool": `{"enabled": true, "minCount": 4, "maxCount": 2}`}, "jobsPool.minCount", "greater than"},
		{"web replicas not a number", "dev", map[string]string{"webMaxReplicas": "many"}, "webMaxReplicas", "not a whole number"},
		{"web max below min", "dev", map[string]string{"webMinReplicas": "4", "webMaxReplicas": "2"}, "webMaxReplicas", "below webMinReplicas 4"},
		{"prod web min 1", "prod", map[string]string{"webMinReplicas": "1"}, "webMinReplicas", "allowed: 2 to 500"},
		{"moodledata under premium minimum", "dev", map[string]string{"moodledataQuotaGiB": "50"}, "moodledataQuotaGiB", "allowed: 100 to 102400"},
		{"mysql disk too big", "dev", map[string]string{"mysqlDiskGiB": "40000"}, "mysqlDiskGiB", "allowed: 4 to 32767"},
		{"retention negative", "dev", map[string]string{"backupRetentionDays": "-1"}, "backupRetentionDays", "allowed: 1 to 365"},
		{"replication unknown", "dev", map[string]string{"backupReplication": "GRS2"}, "backupReplication", "allowed: LRS, ZRS"},
		{"ZRS without zones", "dev", map[string]string{"region": "ukwest", "residency": "uk", "backupReplication": "ZRS"}, "backupReplication", "needs availability zones"},
		{"prod without protection", "prod", map[string]string{"dataProtection": "none"}, "dataProtection", "not allowed in prod"},
		{"vnet not a CIDR", "dev", map[string]string{"vnetCidr": "10.40.0.0"}, "vnetCidr", "not an IPv4 CIDR"},
		{"cidr host bits", "dev", map[string]string{"vnetCidr": "10.40.1.0/16"}, "vnetCidr", "host bits set"},
		{"subnet outside vnet", "dev", map[string]string{"nodeSubnetCidr": "10.41.0.0/20"}, "nodeSubnetCidr", "not inside vnetCidr"},
		{"subnets overlap", "dev", map[string]string{"endpointSubnetCidr": "10.40.1.0/24"}, "endpointSubnetCidr", "overlaps nodeSubnetCidr"},
		{"pod cidr overlaps vnet", "dev", map[string]string{"podCidr": "10.40.0.0/16"}, "podCidr", "overlaps vnetCidr"},
		{"service cidr overlaps pods", "dev", map[string]string{"serviceCidr": "192.168.0.0/20", "dnsServiceIp": "192.168.0.10"}, "serviceCidr", "overlaps podCidr"},
		{"dns ip outside services", "dev", map[string]string{"dnsServiceIp": "10.0.0.10"}, "dnsServiceIp", "not inside serviceCidr"},
		{"dns ip reserved", "dev", map[string]string{"dnsServiceIp": "172.16.0.1"}, "dnsServiceIp", "reserves"},
		{"image latest", "dev", map[string]string{"mysqlImage": "mysql:latest"}, "mysqlImage", "tag latest"},
		{"image untagged", "dev", map[string]string{"redisImage": "redis"}, "redisImage", "no tag or digest"},
		{"image malformed", "dev", map[string]string{"moodleImage": "Registry/Moodle:4.5"}, "moodleImage", "not an image reference"},
		{"moodle image missing", "dev", map[string]string{"moodleImage": ""}, "moodleImage", "is required"},
		{"alert email malformed", "dev", map[string]string{"alertEmails": `["ops at example.com"]`}, "alertEmails[0]", "not a plain email"},
		{"alert email with name", "dev", map[string]string{"alertEmails": `["Ops <ops@example.com>"]`}, "alertEmails[0]", "not a plain email"},
		{"alert emails not a list", "dev", map[string]string{"alertEmails": `ops@example.com`}, "alertEmails", "not a list of strings"},
		{"prod with one kind of receiver", "prod", map[string]string{"alertEmails": `[]`}, "alertEmails", "one kind of alert receiver (pagerduty): when it cannot deliver, the alert that says so goes nowhere"},
		{"prod without receivers", "prod", map[string]string{"alertEmails": `[]`, "alertPagerDutyRoutingKey": ""}, "alertEmails", "prod needs alert receivers that reach a person"},
		{"prod without heartbeat", "prod", map[string]string{"alertHeartbeatUrl": ""}, "alertHeartbeatUrl", "prod needs a dead man's switch"},
		{"submission without login", "dev", map[string]string{"smtpHost": "smtp.office365.com:587", "smtpFrom": "noreply@example.com"}, "smtpUsername", `smtpHost "smtp.office365.com:587" is a message submission port`},
		{"implicit TLS submission without login", "dev", map[string]string{"smtpHost": "smtp.example.com:465", "smtpFrom": "noreply@example.com"}, "smtpUsername", "message submission port"},
		{"pagerduty key", "prod", map[string]string{"alertPagerDutyRoutingKey": "R0UTING-KEY"}, "alertPagerDutyRoutingKey", "not a PagerDuty Events API v2 integration key"},
		{"upgrade channel", "dev", map[string]string{"upgradeChannel": "fast"}, "upgradeChannel", "allowed: patch, stable, rapid, none"},
		{"maintenance too short", "dev", map[string]string{"maintenanceWindow": `{"durationHours": 2}`}, "maintenanceWindow.durationHours", "allowed: 4 to 24"},
		{"maintenance day", "dev", map[string]string{"maintenanceWindow": `{"dayOfWeek": "sunday"}`}, "maintenanceWindow.dayOfWeek", "allowed: Monday"},
		{"maintenance offset", "dev", map[string]string{"maintenanceWindow": `{"utcOffset": "UTC"}`}, "maintenanceWindow.utcOffset", "not an offset"},
		{"maintenance hour", "dev", map[string]string{"maintenanceWindow": `{"startHour": 24}`}, "maintenanceWindow.startHour", "allowed: 0 to 23"},
		{"api server open to all", "dev", map[string]string{"apiServerAuthorizedIpRanges": `["0.0.0.0/0"]`}, "apiServerAuthorizedIpRanges[0]", "whole internet"},
		{"api server range malformed", "dev", map[string]string{"apiServerAuthorizedIpRanges": `["10.0.0.300/32"]`}, "apiServerAuthorizedIpRanges[0]", "not an IPv4 address or CIDR"},
		{"api server unrestricted", "dev", map[string]string{"apiServerAuthorizedIpRanges": `[]`}, "apiServerAuthorizedIpRanges", "or set privateCluster"},
		{"private cluster not bool", "dev", map[string]string{"privateCluster": "yes"}, "privateCluster", "not true or false"},
		{"admin group not uuid", "prod", map[string]string{"aksAdminGroupObjectIds": `["platform-admins"]`}, "aksAdminGroupObjectIds[0]", "not an Entra object ID"},
		{"prod without admin group", "prod", map[string]string{"aksAdminGroupObjectIds": `[]`}, "aksAdminGroupObjectIds", "at least one Entra admin group"},
		{"plugin mode", "dev", map[string]string{"pluginMode": "ui"}, "pluginMode", "allowed: baked, share"},
		{"dns ttl", "dev", map[string]string{"dnsTtlSeconds": "5"}, "dnsTtlSeconds", "allowed: 60 to 86400"},
		{"dns zone without hostname", "dev", map[string]string{"dnsZoneName": "other.example", "dnsZoneResourceGroup": "rg-dns"}, "dnsZoneName", "does not contain hostname"},
		{"dns zone without group", "dev", map[string]string{"dnsZoneName": "example.com"}, "dnsZoneResourceGroup", "required when dnsZoneName is set"},
		{"istio version", "dev", map[string]string{"istioVersion": "1.28"}, "istioVersion", "exact chart version"},
		{"cert-manager version", "dev", map[string]string{"certManagerVersion": "1.19.2"}, "certManagerVersion", "such as v1.21.1"},
		{"acme email", "dev", map[string]string{"acmeEmail": "certs"}, "acmeEmail", "not an email address"},
		{"dns01 without zone", "dev", map[string]string{"acmeChallenge": "dns01"}, "acmeChallenge", "needs dnsZoneName"},
		{"acme environment", "dev", map[string]string{"acmeEnvironment": "test"}, "acmeEnvironment", "allowed: production, staging"},
		{"moodle egress", "dev", map[string]string{"moodleEgress": `["smtp.example.com"]`}, "moodleEgress[0]", "not host:port"},
		{"integration kind", "dev", map[string]string{"integrations": `{"hr": {"kind": "daemon", "image": "r.example.com/hr:1.0"}}`}, "integrations.hr.kind", "allowed: job, service"},
		{"integration schedule", "dev", map[string]string{"integrations": `{"hr": {"kind": "job", "image": "r.example.com/hr:1.0", "schedule": "hourly"}}`}, "integrations.hr.schedule", "five-field cron"},
		{"integration image", "dev", map[string]string{"integrations": `{"hr": {"kind": "job", "image": "r.example.com/hr:latest", "schedule": "0 * * * *"}}`}, "integrations.hr.image", "tag latest"},
		{"integration port", "dev", map[string]string{"integrations": `{"crm": {"kind": "service", "image": "r.example.com/crm:2", "port": 0, "replicas": 1}}`}, "integrations.crm.port", "allowed: 1 to 65535"},
		{"integration path with a query", "dev", map[string]string{"integrations": `{"hr": {"kind": "job", "image": "r.example.com/hr:1.0", "schedule": "0 * * * *", "moodlePaths": ["/webservice/rest/server.php?wstoken=x"]}}`}, "integrations.hr.moodlePaths[0]", "without a query"},
		{"integration path opening everything", "dev", map[string]string{"integrations": `{"hr": {"kind": "job", "image": "r.example.com/hr:1.0", "schedule": "0 * * * *", "moodlePaths": ["/*"]}}`}, "integrations.hr.moodlePaths[0]", "opens every Moodle path"},
		{"integration relative path", "dev", map[string]string{"integrations": `{"hr": {"kind": "job", "image": "r.example.com/hr:1.0", "schedule": "0 * * * *", "moodlePaths": ["webservice/*"]}}`}, "integrations.hr.moodlePaths[0]", "not an absolute path"},
		{"integration endpoint", "dev", map[string]string{"integrations": `{"crm": {"kind": "service", "image": "r.example.com/crm:2", "port": 8080, "replicas": 1, "endpoints": ["https://api.crm.example:443"]}}`}, "integrations.crm.endpoints[0]", "not a lowercase DNS name"},
		{"integration name", "dev", map[string]string{"integrations": `{"HR_Sync": {"kind": "job", "image": "r.example.com/hr:1.0", "schedule": "0 * * * *"}}`}, "integrations.HR_Sync", "lowercase DNS label"},
		{"integration unknown field", "dev", map[string]string{"integrations": `{"hr": {"kind": "job", "imag": "x"}}`}, "integrations", `unknown field "imag"`},
		{"addon revision", "dev", map[string]string{"istioMode": "aks-addon", "istioAddonRevision": "1.27"}, "istioAddonRevision", "such as asm-1-30"},
		{"addon with dns zone", "dev", map[string]string{"istioMode": "aks-addon", "dnsZoneName": "example.com", "dnsZoneResourceGroup": "rg-dns"}, "dnsZoneName", "AKS-managed IP"},
		{"istio mode", "dev", map[string]string{"istioMode": "ambient"}, "istioMode", "allowed: helm, aks-addon"},
		{"mysql memory", "dev", map[string]string{"mysqlMemoryMiB": "512"}, "mysqlMemoryMiB", "allowed: 1024 to 262144"},
		{"mysql cpu", "dev", map[string]string{"mysqlCpuMillis": "100"}, "mysqlCpuMillis", "allowed: 250 to 64000"},
		{"redis memory", "dev", map[string]string{"redisMemoryMiB": "64"}, "redisMemoryMiB", "allowed: 128 to 65536"},
		{"redis persistence", "dev", map[string]string{"redisSessionPersistence": "rdb"}, "redisSessionPersistence", "allowed: aof, off"},
		{"backup schedule", "dev", map[string]string{"backupSchedule": "daily"}, "backupSchedule", "five-field cron"},
		{"restore name", "dev", map[string]string{"restoreBackup": "../etc/passwd"}, "restoreBackup", "not a dump name"},
		{"restore target", "dev", map[string]string{"restoreInto": "mysql"}, "restoreInto", `"mysql" is neither "moodle" nor a scratch database moodle_<name>`},
		{"exporter image", "dev", map[string]string{"mysqlExporterImage": "prom/mysqld-exporter"}, "mysqlExporterImage", "no tag or digest"},
		{"web cpu", "dev", map[string]string{"webCpuMillis": "50"}, "webCpuMillis", "allowed: 100 to 16000"},
		{"language code", "dev", map[string]string{"languagePacks": `["German"]`}, "languagePacks[0]", "not a Moodle language code"},
		{"private registry without a grant", "dev", map[string]string{"moodleImage": "crfieldcert.azurecr.io/moodle:4.5.7"}, "containerRegistryId", `is required: moodleImage "crfieldcert.azurecr.io/moodle:4.5.7" comes from the Azure Container Registry crfieldcert.azurecr.io`},
		{"image from another registry", "dev", map[string]string{"containerRegistryId": registryID, "integrations": `{"hr": {"kind": "job", "image": "crother.azurecr.io/hr:1.0", "schedule": "0 * * * *"}}`}, "integrations.hr.image", "the cluster pulls only from crfieldcert.azurecr.io"},
		{"registry id", "dev", map[string]string{"containerRegistryId": "crfieldcert"}, "containerRegistryId", "not a container registry's ARM ID"},
		// Standard_D8s_v5: 8 vCPU, 32 GiB; 75% allocatable less the DaemonSets.
		{"mysql pod larger than a node", "prod", map[string]string{"userPool": `{"vmSize": "Standard_D8s_v5", "minCount": 3, "maxCount": 40}`, "mysqlMemoryMiB": "65536"}, "mysqlMemoryMiB", "a MySQL member pod needs 2020m CPU and 65600 MiB with its sidecar containers, more than one Standard_D8s_v5 node of the user pool can give (6700m, 23552 MiB"},
		// The replicated data tier (issue: no single point of failure in prod).
		{"one member in prod", "prod", map[string]string{"mysqlMembers": "1"}, "mysqlMembers", "1 is a single point of failure: prod needs at least 3 members"},
		{"even group", "dev", map[string]string{"mysqlMembers": "4"}, "mysqlMembers", "4 is not 1 or an odd number from 3 to 9"},
		{"two leaders", "dev", map[string]string{"redisSessionShards": "2"}, "redisSessionShards", "2 is not 1 or 3 to 9"},
		{"one leader in prod", "prod", map[string]string{"redisSessionShards": "1"}, "redisSessionShards", "1 is a single point of failure: prod needs at least 3 leaders"},
		{"two zones in prod", "prod", map[string]string{"zones": "1,2"}, "zones", "two zones cannot hold a majority"},
		{"negative import run", "prod", map[string]string{"databaseMove": `{"keepSingleInstance": true, "importRun": -1}`}, "databaseMove.importRun", "must be 0"},
		{"web pod larger than a node", "dev", map[string]string{"userPool": `{"vmSize": "Standard_D2s_v5", "minCount": 1, "maxCount": 10}`, "webMemoryMiB": "8192"}, "webMemoryMiB", "a Moodle web pod needs"},
		{"language pack not in the image", "dev", map[string]string{"languagePacks": `["de", "it"]`}, "languagePacks[1]", `"it" is not in the Moodle image (images/moodle/language-packs.txt`},
		{"default language not packed", "dev", map[string]string{"defaultLanguage": "fr"}, "defaultLanguage", "not in languagePacks"},
		{"maintenance not bool", "dev", map[string]string{"maintenanceMode": "soon"}, "maintenanceMode", "not true or false"},
		{"admin email", "dev", map[string]string{"adminEmail": "root"}, "adminEmail", "not an email address"},
		{"integration secret unknown", "dev", map[string]string{"integrationSecrets": `{"crm": {"TOKEN": "x"}}`}, "integrationSecrets", "names no integration"},
		{"pool vm family", "dev", map[string]string{"userPool": `{"vmSize": "Standard_NC6s_v3"}`}, "userPool.vmSize", "does not know"},
		{"smtp relay missing", "dev", map[string]string{"alertEmails": `["ops@example.com"]`}, "smtpHost", "needs an SMTP relay"},
		{"smtp sender missing", "dev", map[string]string{"alertEmails": `["ops@example.com"]`, "smtpHost": "smtp.example.com:587"}, "smtpFrom", "needs a sender"},
		{"moodle mail sender missing", "dev", map[string]string{"smtpHost": "smtp.example.com:587"}, "smtpFrom", "smtpHost needs a sender (Moodle's no-reply address)"},
		{"moodle mail relay", "dev", map[string]string{"smtpHost": "smtp.example.com", "smtpFrom": "noreply@example.com"}, "smtpHost", `"smtp.example.com" is not host:port`},
		{"smtp user missing", "dev", map[string]string{"smtpPassword": "s3cret"}, "smtpUsername", "is required with smtpPassword"},
		{"smtp password missing", "dev", map[string]string{"smtpUsername": "alerts"}, "smtpPassword", "empty while smtpUsername"},
		{"prometheus retention", "dev", map[string]string{"prometheusRetentionDays": "400"}, "prometheusRetentionDays", "allowed: 1 to 365"},
		{"prometheus chart", "dev", map[string]string{"prometheusChartVersion": "67"}, "prometheusChartVersion", "exact chart version"},
		{"enforcement level", "dev", map[string]string{"policyEnforcement": `{"aks-zones": "optional"}`}, "policyEnforcement.aks-zones", "allowed: mandatory, advisory, disabled"},
		{"residency stays mandatory", "prod", map[string]string{"policyEnforcement": `{"residency-replication": "advisory"}`}, "policyEnforcement.residency-replication", "stay mandatory in prod"},
		{"migration server", "dev", map[string]string{"migration": `{"run": 1, "filesServer": "", "filesPath": "/export/moodledata"}`}, "migration.filesServer", "NFS server"},
		{"migration path", "dev", map[string]string{"migration": `{"run": 1, "filesServer": "10.0.0.5", "filesPath": "export"}`}, "migration.filesPath", "absolute NFS export path"},
		{"migration db password", "dev", map[string]string{"migration": `{"run": 1, "filesServer": "old-nfs.corp", "filesPath": "/export", "importDatabase": true, "dbHost": "old-db.corp", "dbUser": "moodle"}`}, "migrationDbPassword", "required to import the database"},
		{"migration cut-over outside maintenance", "dev", map[string]string{"migration": `{"run": 1, "filesServer": "old-nfs.corp", "filesPath": "/export", "importDatabase": true, "dbHost": "old-db.corp", "dbUser": "moodle"}`}, "migration.importDatabase", "set maintenanceMode: true for the cut-over run"},
		{"migration unknown field", "dev", map[string]string{"migration": `{"runs": 1}`}, "migration", `unknown field "runs"`},
		{"load test duration", "dev", map[string]string{"loadTest": `{"run": 1, "duration": "ten minutes"}`}, "loadTest.duration", "not a duration"},
		{"load test path", "dev", map[string]string{"loadTest": `{"run": 1, "paths": ["login"]}`}, "loadTest.paths[0]", "not a path"},
		{"load test target", "dev", map[string]string{"loadTest": `{"run": 1, "targetIp": "gateway"}`}, "loadTest.targetIp", "not an IP address"},
		{"load test with the add-on", "dev", map[string]string{"loadTest": `{"run": 1}`, "istioMode": "aks-addon"}, "loadTest.targetIp", "required with istioMode aks-addon"},
		{"name suffix", "dev", map[string]string{"nameSuffix": "AB-1"}, "nameSuffix", "4 to 8 lowercase"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := valid(tc.env)
			for k, val := range tc.set {
				v[k] = val
			}
			_, err := load(t, v)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "config "+Project+":"+tc.key+":", "the message names the key")
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestUntaggedMoodleImageIsThisCommitsImage(t *testing.T) {
	v := valid("dev")
	v["moodleImage"] = "registry.example.com/moodle"
	c, err := load(t, v)
	require.NoError(t, err)
	assert.Equal(t, "registry.example.com/moodle:"+moodleimage.Tag(), c.MoodleImage)
	assert.Regexp(t, `^4\.5\.7-php8\.3-[0-9a-f]{12}$`, moodleimage.Tag(), "Moodle release, PHP, content hash")

	// Another repository without a tag is still refused; a pinned tag stays.
	v["moodleImage"] = "registry.example.com/lms"
	_, err = load(t, v)
	require.ErrorContains(t, err, "moodleImage")
	v["moodleImage"] = "registry.example.com/moodle:4.5.7-php8.3-r2"
	c, err = load(t, v)
	require.NoError(t, err)
	assert.Equal(t, "registry.example.com/moodle:4.5.7-php8.3-r2", c.MoodleImage)
}

func TestPrivateClusterNeedsNoRanges(t *testing.T) {
	v := valid("dev")
	v["apiServerAuthorizedIpRanges"] = `[]`
	v["privateCluster"] = "true"
	c, err := load(t, v)
	require.NoError(t, err)
	assert.True(t, c.PrivateCluster)
	// The default window is AKS's minimum and keeps clear of the default
	// backups (a node drain would cut them).
	assert.Equal(t, 4, c.MaintenanceWindow.DurationHours)
	for _, sched := range []string{c.BackupSchedule, c.FilesSnapshotSchedule} {
		starts, err := cronStarts(sched)
		require.NoError(t, err)
		assert.Equal(t, -1, overlapsWindow(starts, c.MaintenanceWindow), sched)
	}
}

func TestIntegrationsAndEgress(t *testing.T) {
	v := valid("dev")
	v["moodleEgress"] = `["smtp.office365.com:587", "login.example.com:443"]`
	v["integrations"] = `{
		"hr-sync": {"kind": "job", "image": "r.example.com/hr:1.0", "schedule": "*/15 * * * *", "endpoints": ["api.hr.example:443", "smtp.office365.com:587"]},
		"crm": {"kind": "service", "image": "r.example.com/crm:2.1", "port": 8080, "replicas": 2, "endpoints": ["*.crm.example:443"]}
	}`
	c, err := load(t, v)
	require.NoError(t, err)
	assert.Equal(t, []string{"crm", "hr-sync"}, c.IntegrationNames())
	var got []string
	for _, e := range c.EgressEndpoints() {
		got = append(got, e.String())
	}
	assert.Equal(t, []string{"*.crm.example:443", "api.hr.example:443", "login.example.com:443", "smtp.office365.com:587"}, got, "deduplicated and sorted")
	assert.Equal(t, "http01", c.ACMEChallenge, "no zone: HTTP-01")
	assert.Equal(t, "staging", c.ACMEEnvironment, "dev uses Let's Encrypt staging")
	assert.Equal(t, []string{"/webservice/*"}, c.Integrations["crm"].Paths(), "by default an integration calls the web services only")
	assert.True(t, c.EgressFQDNFiltering, "named hosts by default")
	v["integrations"] = `{"crm": {"kind": "service", "image": "r.example.com/crm:2.1", "port": 8080, "replicas": 2, "moodlePaths": ["/webservice/rest/server.php", "/login/token.php"]}}`
	c, err = load(t, v)
	require.NoError(t, err)
	assert.Equal(t, []string{"/webservice/rest/server.php", "/login/token.php"}, c.Integrations["crm"].Paths())

	v["dnsZoneName"], v["dnsZoneResourceGroup"], v["hostname"] = "example.com", "rg-dns", "learn.example.com"
	c, err = load(t, v)
	require.NoError(t, err)
	assert.Equal(t, "dns01", c.ACMEChallenge, "a managed zone: DNS-01")
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	v := valid("dev")
	v["hostname"] = "not a host"
	v["mysqlImage"] = "mysql:latest"
	v["userPool"] = `{"minCount": 9, "maxCount": 1}`
	_, err := load(t, v)
	require.Error(t, err)
	for _, key := range []string{"hostname", "mysqlImage", "userPool.minCount"} {
		assert.Contains(t, err.Error(), Project+":"+key)
	}
}

func TestLoadRequiresEnvironmentAndRegionFirst(t *testing.T) {
	_, err := load(t, map[string]string{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), Project+":environment: is required")
	assert.Contains(t, err.Error(), Project+":region: is required")
}

func TestWebhookMustBeSecretAndNeverEchoed(t *testing.T) {
	v := valid("prod")
	v["alertWebhookUrl"] = "https://events.example.com/hook/token123"
	_, err := load(t, v)
	require.Error(t, err, "a plain-text webhook is refused")
	assert.Contains(t, err.Error(), Project+":alertWebhookUrl")
	assert.NotContains(t, err.Error(), "token123")

	c, err := load(t, v, "alertWebhookUrl")
	require.NoError(t, err)
	assert.Equal(t, "https://events.example.com/hook/token123", c.AlertWebhookURL)

	v["integrations"] = `{"hr": {"kind": "job", "image": "r.example.com/hr:1.0", "schedule": "0 * * * *"}}`
	v["integrationSecrets"] = `{"hr": {"MOODLE_TOKEN": "tok-abc"}}`
	_, err = load(t, v, "alertWebhookUrl")
	require.Error(t, err, "plain-text integration secrets are refused")
	assert.Contains(t, err.Error(), Project+":integrationSecrets: is set in plain text")
	assert.NotContains(t, err.Error(), "tok-abc")
	c, err = load(t, v, "alertWebhookUrl", "integrationSecrets")
	require.NoError(t, err)
	assert.Equal(t, "tok-abc", c.IntegrationSecrets["hr"]["MOODLE_TOKEN"])
	delete(v, "integrations")
	delete(v, "integrationSecrets")

	v["alertWebhookUrl"] = "http://events.example.com/hook/token123"
	_, err = load(t, v, "alertWebhookUrl")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "https://")
	assert.NotContains(t, err.Error(), "token123", "the secret value is not echoed")
}

func TestConfigReferenceListsEveryKey(t *testing.T) {
	ref := ConfigReference()
	for _, k := range Keys {
		assert.Contains(t, ref, "| `"+k.Name+"` |")
		assert.NotEmpty(t, k.Description, k.Name)
		assert.True(t, k.Default != nil || k.DefaultDoc == "required", "%s: optional keys need a Pulumi.yaml default, or the CLI makes them required", k.Name)
	}
	assert.Equal(t, len(Keys)+2, strings.Count(ref, "\n"))
}
