package infra

import (
	"fmt"
	"net/netip"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// AKS and Azure limits the validation enforces.
const (
	// MaxPoolNodes is the most nodes one AKS node pool may have.
	MaxPoolNodes = 1000
	// MinKubernetesMinor is the oldest Kubernetes minor the program supports:
	// 1.29 brought native sidecars, which Jobs in the Istio mesh need.
	MinKubernetesMinor = 29
	// MaxWebReplicas bounds the web HorizontalPodAutoscaler.
	MaxWebReplicas = 500
)

var (
	k8sVersionRE = regexp.MustCompile(`^1\.(\d+)(\.\d+)?$`)
	vmSizeRE     = regexp.MustCompile(`^Standard_[A-Za-z0-9_]+$`)
	dnsLabelRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	suffixRE     = regexp.MustCompile(`^[a-z0-9]{4,8}$`)
	uuidRE       = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	utcOffsetRE  = regexp.MustCompile(`^[+-](0\d|1[0-4]):(00|30|45)$`)
	// CAAIssuerRE is a CAA issuer domain name (RFC 8659 §4.2).
	CAAIssuerRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$`)
	// ContainerRegistryIDRE is an Azure Container Registry's ARM ID; [1] is
	// its subscription, [2] its name.
	ContainerRegistryIDRE = regexp.MustCompile(`(?i)^/subscriptions/([0-9a-f-]{36})/resourceGroups/[^/]+/providers/Microsoft\.ContainerRegistry/registries/([a-z0-9]{5,50})$`)
	// imageRE follows the distribution reference grammar: registry host
	// (optional port), lowercase path components, then tag and/or digest.
	imageRE = regexp.MustCompile(`^((?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+(?::\d+)?/)?` +
		`([a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)` +
		`(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?` +
		`(?:@(sha256:[a-f0-9]{64}))?$`)
)

var replications = []string{"LRS", "ZRS", "GRS", "RAGRS", "GZRS", "RAGZRS"}

// Validate checks every field and returns one error per problem, each naming
// its config key. Load calls it; tests call it on hand-made configs.
func (c *Config) Validate() []error {
	v := &validator{}
	reg, known := LookupRegion(c.Region)

	v.oneOf("environment", string(c.Environment), []string{string(Dev), string(Prod)})
	if c.Region == "" {
		v.fail("region", "is required; set an Azure region such as westeurope")
	} else if !known {
		v.fail("region", "%q is not a known Azure region (ARM names such as westeurope; catalog: infra/regions.go)", c.Region)
	}
	switch {
	case c.Residency == "":
		v.fail("residency", "is required; set the residency boundary, one of %s", strings.Join(Boundaries(), ", "))
	case !KnownBoundary(c.Residency):
		v.fail("residency", "%q is not a known residency boundary; allowed: %s", c.Residency, strings.Join(Boundaries(), ", "))
	case known && !BoundaryContains(c.Residency, c.Region):
		v.fail("residency", "%q does not contain region %q (%s, country %q)", c.Residency, c.Region, reg.Geography, reg.Country)
	}
	v.hostname("hostname", c.Hostname)

	if m := k8sVersionRE.FindStringSubmatch(c.KubernetesVersion); m == nil {
		v.fail("kubernetesVersion", "%q is not a version of the form 1.MINOR or 1.MINOR.PATCH", c.KubernetesVersion)
	} else if minor, _ := strconv.Atoi(m[1]); minor < MinKubernetesMinor {
		v.fail("kubernetesVersion", "%q is older than 1.%d, which native sidecars (Jobs in the mesh) need", c.KubernetesVersion, MinKubernetesMinor)
	}

	v.oneOf("kubernetesSupportPlan", c.KubernetesSupportPlan, []string{SupportOfficial, SupportLTS})

	v.zones(c.Zones, reg, known)
	v.pool("systemPool", c.SystemPool, 1)
	v.pool("userPool", c.UserPool, 0)
	if c.JobsPool.Enabled {
		v.pool("jobsPool", c.JobsPool.NodePool, 0)
	}
	if c.IntegrationsPool.Enabled {
		v.pool("integrationsPool", c.IntegrationsPool.NodePool, 0)
	}

	v.aks(c)

	minWeb := 1
	if c.Environment == Prod {
		// A PodDisruptionBudget can only keep a pod serving during a drain
		// when there are at least two.
		minWeb = 2
	}
	v.between("webMinReplicas", c.WebMinReplicas, minWeb, MaxWebReplicas)
	v.between("webMaxReplicas", c.WebMaxReplicas, 1, MaxWebReplicas)
	if c.WebMaxReplicas < c.WebMinReplicas {
		v.fail("webMaxReplicas", "%d is below webMinReplicas %d", c.WebMaxReplicas, c.WebMinReplicas)
	}

	v.between("moodledataQuotaGiB", c.MoodledataQuotaGiB, 100, 102400)
	v.between("mysqlDiskGiB", c.MysqlDiskGiB, 4, 32767)
	// At most a year: blob and share soft delete, which keep a deleted
	// backup as long as the retention, go no further.
	v.between("backupRetentionDays", c.BackupRetentionDays, 1, 365)
	if v.oneOf("backupReplication", c.BackupReplication, replications) &&
		strings.Contains(c.BackupReplication, "ZRS") && known && !reg.Zones {
		v.fail("backupReplication", "%q needs availability zones, which region %q does not have; use LRS or GRS", c.BackupReplication, c.Region)
	}
	if v.oneOf("dataProtection", string(c.DataProtection), []string{string(Protect), string(Retain), string(NoProtection)}) &&
		c.Environment == Prod && c.DataProtection == NoProtection {
		v.fail("dataProtection", "%q is not allowed in prod; use protect or retain", c.DataProtection)
	}

	v.network(c)
	v.oneOf("pluginMode", c.PluginMode, []string{"baked", "share"})
	v.integrations(c)
	v.sizing(c)
	v.backupWindows(c)
	v.moodle(c)
	v.certificates(c)
	v.between("dnsTtlSeconds", c.DNSTTLSeconds, 60, 86400)
	if c.AuditLogs {
		v.between("auditLogRetentionDays", c.AuditLogRetentionDays, 30, 730)
	}
	if c.DefenderForContainers && !c.AuditLogs {
		v.fail("defenderForContainers", "is on but auditLogs is off: Defender reports to the audit workspace; turn auditLogs on, or defenderForContainers off")
	}
	if c.MathJaxURL != "" {
		u, err := url.Parse(c.MathJaxURL)
		switch {
		case err != nil || u.Scheme != "https" || u.Hostname() == "":
			v.fail("mathJaxUrl", "%q is not an https:// URL with a host", c.MathJaxURL)
		case c.Environment == Prod && u.Hostname() != c.Hostname:
			v.fail("mathJaxUrl", "%q is served by %s, not the site (%s): every learner's browser would send its address and page there; serve MathJax from the site or leave mathJaxUrl empty (filter off)", c.MathJaxURL, u.Hostname(), c.Hostname)
		}
	}
	for _, ca := range c.DNSCAAIssuers {
		if !CAAIssuerRE.MatchString(ca) {
			v.fail("dnsCaaIssuers", "%q is not a CA's domain name (e.g. letsencrypt.org; RFC 8659 §4.2)", ca)
		}
	}
	if c.DNSZoneName != "" {
		v.hostname("dnsZoneName", c.DNSZoneName)
		if c.Hostname != c.DNSZoneName && !strings.HasSuffix(c.Hostname, "."+c.DNSZoneName) {
			v.fail("dnsZoneName", "%q does not contain hostname %q", c.DNSZoneName, c.Hostname)
		}
		if !ResourceGroupNameRE.MatchString(c.DNSZoneResourceGroup) {
			v.fail("dnsZoneResourceGroup", "%q is not a resource group name; it is required when dnsZoneName is set", c.DNSZoneResourceGroup)
		}
	}

	if c.MoodleImage == "" {
		v.fail("moodleImage", "is required; set the Moodle image built from images/ with an exact tag")
	} else {
		v.image("moodleImage", c.MoodleImage)
	}
	v.image("mysqlImage", c.MysqlImage)
	v.image("redisImage", c.RedisImage)

	v.alerting(c)
	if c.NameSuffix != "" && !suffixRE.MatchString(c.NameSuffix) {
		v.fail("nameSuffix", "%q must be 4 to 8 lowercase letters and digits", c.NameSuffix)
	}
	v.registries(c)
	return v.errs
}

// aks checks the cluster's access, upgrade and maintenance settings.
func (v *validator) aks(c *Config) {
	v.oneOf("upgradeChannel", c.UpgradeChannel, []string{"patch", "stable", "rapid", "none"})
	w := c.MaintenanceWindow
	days := []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
	v.oneOf("maintenanceWindow.dayOfWeek", w.DayOfWeek, days)
	v.between("maintenanceWindow.startHour", w.StartHour, 0, 23)
	v.between("maintenanceWindow.durationHours", w.DurationHours, 4, 24)
	if !utcOffsetRE.MatchString(w.UTCOffset) {
		v.fail("maintenanceWindow.utcOffset", "%q is not an offset such as +00:00 or -05:00", w.UTCOffset)
	}
	for i, r := range c.APIServerAuthorizedIPRanges {
		key := fmt.Sprintf("apiServerAuthorizedIpRanges[%d]", i)
		p, err := netip.ParsePrefix(r)
		if err != nil {
			if a, aerr := netip.ParseAddr(r); aerr == nil && a.Is4() {
				continue
			}
			v.fail(key, "%q is not an IPv4 address or CIDR", r)
		} else if p.Bits() == 0 {
			v.fail(key, "%q opens the API server to the whole internet", r)
		}
	}
	if !c.PrivateCluster && len(c.APIServerAuthorizedIPRanges) == 0 {
		v.fail("apiServerAuthorizedIpRanges", "is empty: restrict the API server with authorized ranges, or set privateCluster to true")
	}
	for i, id := range c.AKSAdminGroupObjectIDs {
		if !uuidRE.MatchString(id) {
			v.fail(fmt.Sprintf("aksAdminGroupObjectIds[%d]", i), "%q is not an Entra object ID (a UUID)", id)
		}
	}
	if c.Environment == Prod && len(c.AKSAdminGroupObjectIDs) == 0 {
		v.fail("aksAdminGroupObjectIds", "prod disables local accounts, so at least one Entra admin group is needed")
	}
}

var (
	addonRevisionRE = regexp.MustCompile(`^asm-1-\d+$`)
	semverRE        = regexp.MustCompile(`^\d+\.\d+\.\d+$`)
	vSemverRE       = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)
	plainAddressRE  = regexp.MustCompile(`^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$`)
)

// certificates checks chart versions and the ACME settings.
func (v *validator) certificates(c *Config) {
	if v.oneOf("istioMode", c.IstioMode, []string{"helm", "aks-addon"}) && c.IstioMode == "aks-addon" {
		if !addonRevisionRE.MatchString(c.IstioAddonRevision) {
			v.fail("istioAddonRevision", "%q is not an add-on revision such as asm-1-30", c.IstioAddonRevision)
		}
		if c.DNSZoneName != "" {
			v.fail("dnsZoneName", "must be empty with istioMode aks-addon: the add-on's gateway has an AKS-managed IP that the record cannot follow")
		}
	}
	if !semverRE.MatchString(c.IstioVersion) {
		v.fail("istioVersion", "%q is not an exact chart version such as 1.30.3", c.IstioVersion)
	}
	if !vSemverRE.MatchString(c.CertManagerVersion) {
		v.fail("certManagerVersion", "%q is not an exact chart version such as v1.21.1", c.CertManagerVersion)
	}
	if !plainAddressRE.MatchString(c.ACMEEmail) {
		v.fail("acmeEmail", "%q is not an email address; Let's Encrypt needs a contact", c.ACMEEmail)
	}
	if v.oneOf("acmeChallenge", c.ACMEChallenge, []string{"dns01", "http01"}) && c.ACMEChallenge == "dns01" && c.DNSZoneName == "" {
		v.fail("acmeChallenge", "dns01 needs dnsZoneName (the zone cert-manager writes the challenge to)")
	}
	v.oneOf("acmeEnvironment", c.ACMEEnvironment, []string{"production", "staging"})
}

type validator struct {
	errs []error
	// images are the image references checked so far, by config key, for
	// the registry check at the end.
	images [][2]string
}

func (v *validator) fail(key, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("config %s:%s: %s", Project, key, fmt.Sprintf(format, args...)))
}

func (v *validator) oneOf(key, got string, allowed []string) bool {
	if slices.Contains(allowed, got) {
		return true
	}
	if got == "" {
		v.fail(key, "is required; allowed: %s", strings.Join(allowed, ", "))
	} else {
		v.fail(key, "%q is not allowed; allowed: %s", got, strings.Join(allowed, ", "))
	}
	return false
}

func (v *validator) between(key string, got, lo, hi int) bool {
	if got < lo || got > hi {
		v.fail(key, "%d is out of range; allowed: %d to %d", got, lo, hi)
		return false
	}
	return true
}

func (v *validator) hostname(key, h string) {
	if h == "" {
		v.fail(key, "is required; set the site's DNS name, e.g. learn.example.com")
		return
	}
	labels := strings.Split(h, ".")
	ok := len(h) <= 253 && len(labels) >= 2
	for _, l := range labels {
		ok = ok && dnsLabelRE.MatchString(l)
	}
	if !ok {
		v.fail(key, "%q is not a lowercase DNS name of two or more labels (a-z, 0-9, '-'), e.g. learn.example.com", h)
	}
}

func (v *validator) zones(zones []string, reg Region, known bool) {
	if len(zones) > 0 && known && !reg.Zones {
		v.fail("zones", "%v: region %q has no availability zones; leave zones empty", zones, reg.Name)
		return
	}
	seen := map[string]bool{}
	for _, z := range zones {
		if z != "1" && z != "2" && z != "3" {
			v.fail("zones", "%q is not an availability zone; allowed: \"1\", \"2\", \"3\"", z)
		} else if seen[z] {
			v.fail("zones", "zone %q is listed twice", z)
		}
		seen[z] = true
	}
}

func (v *validator) pool(key string, p NodePool, minAllowed int) {
	if !vmSizeRE.MatchString(p.VMSize) {
		v.fail(key+".vmSize", "%q is not an Azure VM size such as Standard_D4s_v5", p.VMSize)
	}
	v.between(key+".minCount", p.MinCount, minAllowed, MaxPoolNodes)
	v.between(key+".maxCount", p.MaxCount, 1, MaxPoolNodes)
	if p.MinCount > p.MaxCount {
		v.fail(key+".minCount", "%d is greater than %s.maxCount %d", p.MinCount, key, p.MaxCount)
	}
}

func (v *validator) network(c *Config) {
	prefixes := map[string]netip.Prefix{}
	for _, f := range []struct{ key, val string }{
		{"vnetCidr", c.VnetCIDR}, {"nodeSubnetCidr", c.NodeSubnetCIDR}, {"endpointSubnetCidr", c.EndpointSubnetCIDR},
		{"podCidr", c.PodCIDR}, {"serviceCidr", c.ServiceCIDR},
	} {
		p, err := netip.ParsePrefix(f.val)
		switch {
		case err != nil || !p.Addr().Is4():
			v.fail(f.key, "%q is not an IPv4 CIDR such as 10.40.0.0/16", f.val)
		case p.Masked() != p:
			v.fail(f.key, "%q has host bits set; did you mean %s?", f.val, p.Masked())
		case p.Bits() < 8 || p.Bits() > 29:
			v.fail(f.key, "%q has prefix length /%d; allowed: /8 to /29", f.val, p.Bits())
		default:
			prefixes[f.key] = p
		}
	}
	vnet, okV := prefixes["vnetCidr"]
	for _, sub := range []string{"nodeSubnetCidr", "endpointSubnetCidr"} {
		if p, ok := prefixes[sub]; ok && okV && !(vnet.Contains(p.Addr()) && p.Bits() >= vnet.Bits()) {
			v.fail(sub, "%s is not inside vnetCidr %s", p, vnet)
		}
	}
	pairs := [][2]string{
		{"endpointSubnetCidr", "nodeSubnetCidr"}, {"podCidr", "vnetCidr"}, {"serviceCidr", "vnetCidr"}, {"serviceCidr", "podCidr"},
	}
	for _, pr := range pairs {
		a, okA := prefixes[pr[0]]
		b, okB := prefixes[pr[1]]
		if okA && okB && a.Overlaps(b) {
			v.fail(pr[0], "%s overlaps %s %s", a, pr[1], b)
		}
	}
	ip, err := netip.ParseAddr(c.DNSServiceIP)
	switch {
	case err != nil || !ip.Is4():
		v.fail("dnsServiceIp", "%q is not an IPv4 address", c.DNSServiceIP)
	default:
		if svc, ok := prefixes["serviceCidr"]; ok {
			if !svc.Contains(ip) {
				v.fail("dnsServiceIp", "%s is not inside serviceCidr %s", ip, svc)
			} else if ip == svc.Addr() || ip == svc.Addr().Next() {
				v.fail("dnsServiceIp", "%s is the network address or the first address of serviceCidr %s, which Kubernetes reserves", ip, svc)
			}
		}
	}
}

func (v *validator) image(key, ref string) {
	v.images = append(v.images, [2]string{key, ref})
	m := imageRE.FindStringSubmatch(ref)
	switch {
	case m == nil:
		v.fail(key, "%q is not an image reference such as registry.example.com/moodle:4.5.7", ref)
	case m[3] == "" && m[4] == "":
		v.fail(key, "%q has no tag or digest; pin an exact tag (and a digest where you can)", ref)
	case m[3] == "latest":
		v.fail(key, "%q uses the tag latest, which changes under you; pin an exact tag", ref)
	}
}

// registries checks that the cluster can pull every image: one from an
// Azure Container Registry must come from containerRegistryId, the one the
// kubelet gets AcrPull on (public registries need no grant). Call it after
// every v.image.
func (v *validator) registries(c *Config) {
	own := ""
	if c.ContainerRegistryID != "" {
		m := ContainerRegistryIDRE.FindStringSubmatch(c.ContainerRegistryID)
		if m == nil {
			v.fail("containerRegistryId", "%q is not a container registry's ARM ID (/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ContainerRegistry/registries/<name>)", c.ContainerRegistryID)
			return
		}
		own = strings.ToLower(m[2]) + ".azurecr.io"
	}
	for _, img := range v.images {
		key, ref := img[0], img[1]
		host, _, found := strings.Cut(ref, "/")
		if !found || !strings.HasSuffix(strings.ToLower(host), ".azurecr.io") || strings.EqualFold(host, own) {
			continue
		}
		if own == "" {
			v.fail("containerRegistryId", "is required: %s %q comes from the Azure Container Registry %s, which the cluster can pull from only with AcrPull on it", key, ref, host)
		} else {
			v.fail(key, "%q comes from %s, but the cluster pulls only from %s (containerRegistryId)", ref, host, own)
		}
	}
}

// jsonFields lists the JSON field names of the struct dst points to (or of
// the elements of the map or slice it points to).
func jsonFields(dst any) string {
	var names []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Anonymous {
				walk(f.Type)
				continue
			}
			if tag := strings.Split(f.Tag.Get("json"), ",")[0]; tag != "" {
				names = append(names, tag)
			}
		}
	}
	t := reflect.TypeOf(dst).Elem()
	for t.Kind() == reflect.Map || t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
		t = t.Elem() // a map of integrations lists the fields of one
	}
	if t.Kind() == reflect.Struct {
		walk(t)
	}
	return strings.Join(names, ", ")
}
