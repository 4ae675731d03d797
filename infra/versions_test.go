package infra

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAKSCalendarMatchesTheRules: each minor's dates are in order, LTS adds
// about a year to community support, and the minors run without gaps.
func TestAKSCalendarMatchesTheRules(t *testing.T) {
	require.NotEmpty(t, AKSVersions)
	for i, v := range AKSVersions {
		assert.True(t, v.GA.Before(v.End), "1.%d: GA before the end of support", v.Minor)
		assert.True(t, v.End.Before(v.LTSEnd), "1.%d: LTS ends after community support", v.Minor)
		months := (v.LTSEnd.Year()-v.End.Year())*12 + int(v.LTSEnd.Month()-v.End.Month())
		assert.InDelta(t, 12, months, 1, "1.%d: LTS is one more year (AKS: one year of community support, one of LTS)", v.Minor)
		if i > 0 {
			assert.Equal(t, AKSVersions[i-1].Minor+1, v.Minor, "minors are listed in order without gaps")
		}
	}
	lowest, _ := LookupAKSVersion(AKSVersions[0].Minor)
	assert.GreaterOrEqual(t, lowest.Minor, MinKubernetesMinor, "the catalog starts at the oldest minor the program supports (native sidecars)")
}

// TestAKSCalendarDates: the dates the AKS calendar publishes (months end on
// their last day, as the calendar says) for the minors around the deploy
// date the issue names.
func TestAKSCalendarDates(t *testing.T) {
	for _, c := range []struct {
		minor       int
		end, ltsEnd time.Time
	}{
		{33, Day(2026, time.July, 31), Day(2027, time.July, 31)},
		{34, Day(2026, time.November, 30), Day(2027, time.November, 30)},
		{35, Day(2027, time.March, 31), Day(2028, time.March, 31)},
		{36, Day(2027, time.June, 30), Day(2028, time.June, 30)},
	} {
		v, ok := LookupAKSVersion(c.minor)
		require.True(t, ok, "1.%d is in the catalog", c.minor)
		assert.Equal(t, c.end, v.End, "1.%d end of community support", c.minor)
		assert.Equal(t, c.ltsEnd, v.LTSEnd, "1.%d end of LTS", c.minor)
	}
	v, _ := LookupAKSVersion(35)
	assert.Equal(t, Day(2026, time.March, 5), v.GA)
	_, ok := LookupAKSVersion(37)
	assert.False(t, ok, "1.37 is not vetted: no pinned Istio supports it")
}

func TestPlatformReleasesAreWellFormed(t *testing.T) {
	for name, list := range map[string][]PlatformRelease{
		"istio": IstioReleases, "addon": IstioAddonRevisions, "cert-manager": CertManagerReleases, "kube-prometheus-stack": PrometheusStackReleases,
	} {
		require.NotEmpty(t, list, name)
		for _, r := range list {
			assert.NotEmpty(t, r.Source, "%s %s cites its source", name, r.Line)
			assert.Greater(t, r.KubeMin, 0, "%s %s", name, r.Line)
			if r.KubeMax != 0 {
				assert.LessOrEqual(t, r.KubeMin, r.KubeMax, "%s %s", name, r.Line)
			}
			assert.False(t, r.End.IsZero() && r.Until == "", "%s %s says until when it is supported", name, r.Line)
		}
	}
}

// stackVersions is a config with only what CheckVersions reads.
func stackVersions(k8s, plan string) *Config {
	return &Config{
		KubernetesVersion: k8s, KubernetesSupportPlan: plan, IstioMode: "helm",
		IstioVersion: "1.30.3", CertManagerVersion: "v1.21.1", PrometheusChartVersion: "88.5.3",
	}
}

func errorText(r VersionReport) string {
	var b strings.Builder
	for _, e := range r.Errors {
		b.WriteString(e.Error() + "\n")
	}
	return b.String()
}

// TestCheckVersionsOnTheDeployDate holds Kubernetes versions against the
// calendar on injected dates: supported, near the end, ended, ended but on
// LTS, LTS ended, not yet GA, unknown.
func TestCheckVersionsOnTheDeployDate(t *testing.T) {
	dec1 := Day(2026, time.December, 1)
	cases := []struct {
		name      string
		k8s, plan string
		day       time.Time
		errs      []string // substrings of the one kubernetesVersion error; none: no error
		warn      string   // substring of a kubernetesVersion warning; "": none
	}{
		{name: "1.35 on 2026-12-01", k8s: "1.35", plan: SupportOfficial, day: dec1},
		{name: "1.36 on 2026-12-01", k8s: "1.36.3", plan: SupportOfficial, day: dec1},
		{name: "1.35 sixty days before its end", k8s: "1.35", plan: SupportOfficial, day: Day(2027, time.January, 30)},
		{name: "1.35 59 days before its end warns", k8s: "1.35", plan: SupportOfficial, day: Day(2027, time.January, 31), warn: "ends on 2027-03-31 (in 59 days)"},
		{name: "1.35 on its last day warns", k8s: "1.35", plan: SupportOfficial, day: Day(2027, time.March, 31), warn: "ends on 2027-03-31 (in 0 days)"},
		{name: "1.35 the day after", k8s: "1.35", plan: SupportOfficial, day: Day(2027, time.April, 1),
			errs: []string{`kubernetesVersion: "1.35"`, "ended on 2027-03-31", "kubernetesSupportPlan AKSLongTermSupport", "until 2028-03-31", "1.36 (until 2027-06-30)"}},
		{name: "1.33 without LTS", k8s: "1.33", plan: SupportOfficial, day: dec1,
			errs: []string{`kubernetesVersion: "1.33"`, "AKS support ended on 2026-07-31", "Premium tier", "until 2027-07-31", "1.35 (until 2027-03-31) or 1.36 (until 2027-06-30)"}},
		{name: "1.34 the day after its end", k8s: "1.34", plan: SupportOfficial, day: dec1, errs: []string{"ended on 2026-11-30"}},
		{name: "1.33 on LTS", k8s: "1.33", plan: SupportLTS, day: dec1},
		{name: "1.33 LTS near its end", k8s: "1.33", plan: SupportLTS, day: Day(2027, time.July, 1), warn: "long-term support (AKSLongTermSupport) ends on 2027-07-31 (in 30 days)"},
		{name: "1.33 LTS ended", k8s: "1.33", plan: SupportLTS, day: Day(2027, time.August, 1), errs: []string{"long-term support (AKSLongTermSupport) ended on 2027-07-31"}},
		{name: "1.36 before GA", k8s: "1.36", plan: SupportOfficial, day: Day(2026, time.May, 15), errs: []string{"not generally available on AKS before 2026-06-01"}},
		{name: "1.37 unknown", k8s: "1.37", plan: SupportOfficial, day: dec1, errs: []string{`"1.37" is not in the AKS version catalog`, "1.29 to 1.36"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := stackVersions(c.k8s, c.plan).CheckVersions(c.day)
			var k8sErrs []string
			for _, e := range r.Errors {
				if strings.Contains(e.Error(), ":kubernetesVersion:") {
					k8sErrs = append(k8sErrs, e.Error())
				}
			}
			if len(c.errs) == 0 {
				assert.Empty(t, k8sErrs)
			} else {
				require.Len(t, k8sErrs, 1, errorText(r))
				for _, want := range c.errs {
					assert.Contains(t, k8sErrs[0], want)
				}
			}
			var warns []string
			for _, w := range r.Warnings {
				if strings.Contains(w, ":kubernetesVersion:") {
					warns = append(warns, w)
				}
			}
			if c.warn == "" {
				assert.Empty(t, warns)
			} else {
				require.Len(t, warns, 1)
				assert.Contains(t, warns[0], c.warn)
			}
		})
	}
}

// TestCheckVersionsPlatformReleases: Istio, the add-on, cert-manager and
// the monitoring chart against the cluster's minor and their own ends.
func TestCheckVersionsPlatformReleases(t *testing.T) {
	dec1 := Day(2026, time.December, 1)
	cases := []struct {
		name   string
		mutate func(c *Config)
		day    time.Time
		key    string
		err    string // substring of the key's error; "": no error for key
		warn   string // substring of the key's warning; "": no warning for key
	}{
		{"istio 1.30 with 1.35, before its last 60 days", func(c *Config) {}, Day(2026, time.September, 1), "istioVersion", "", ""},
		{"istio 1.30 in its last 60 days", func(c *Config) {}, Day(2026, time.November, 1), "istioVersion", "", "reaches end of life on 2026-11-30 (in 29 days)"},
		{"istio 1.30 ended is a warning, not a refusal", func(c *Config) {}, dec1, "istioVersion", "", "Istio 1.30 reached end of life on 2026-11-30"},
		{"istio 1.28 does not support 1.35", func(c *Config) { c.IstioVersion = "1.28.3" }, Day(2026, time.April, 1), "istioVersion", "Istio 1.28 supports Kubernetes 1.30 to 1.34, not kubernetesVersion 1.35", ""},
		{"istio 1.30 does not support 1.29", func(c *Config) { c.KubernetesVersion = "1.29" }, Day(2025, time.March, 1), "istioVersion", "supports Kubernetes 1.32 to 1.36, not kubernetesVersion 1.29", ""},
		{"istio 1.31 is not vetted", func(c *Config) { c.IstioVersion = "1.31.0" }, dec1, "istioVersion", "Istio 1.31 (1.31) is not in the version catalog (infra/versions.go knows 1.28, 1.29, 1.30)", ""},
		{"add-on asm-1-30 near its expected end", func(c *Config) { c.IstioMode, c.IstioAddonRevision = "aks-addon", "asm-1-30" }, dec1, "istioAddonRevision", "", "2026-12-31 (expected) (in 30 days)"},
		{"add-on asm-1-27 can no longer be installed", func(c *Config) { c.IstioMode, c.IstioAddonRevision = "aks-addon", "asm-1-27" }, dec1, "istioAddonRevision", "reached end of life on 2026-05-31 and can no longer be installed; choose asm-1-30", ""},
		{"add-on asm-1-27 does not support 1.36", func(c *Config) {
			c.IstioMode, c.IstioAddonRevision, c.KubernetesVersion = "aks-addon", "asm-1-27", "1.36"
		}, Day(2026, time.March, 1), "istioAddonRevision", "the AKS Istio add-on asm-1-27 supports Kubernetes 1.29 to 1.35", ""},
		{"add-on mode ignores istioVersion", func(c *Config) { c.IstioMode, c.IstioAddonRevision, c.IstioVersion = "aks-addon", "asm-1-30", "1.28.3" }, Day(2026, time.September, 1), "istioVersion", "", ""},
		{"cert-manager 1.21 with 1.35", func(c *Config) {}, dec1, "certManagerVersion", "", ""},
		{"cert-manager 1.19 ended", func(c *Config) { c.CertManagerVersion = "v1.19.2" }, dec1, "certManagerVersion", "", "cert-manager 1.19 reached end of life on 2026-07-08"},
		{"cert-manager 1.20 does not support 1.36", func(c *Config) { c.CertManagerVersion, c.KubernetesVersion = "v1.20.4", "1.36" }, dec1, "certManagerVersion", "cert-manager 1.20 supports Kubernetes 1.32 to 1.35, not kubernetesVersion 1.36", ""},
		{"kube-prometheus-stack 88 on 1.35", func(c *Config) {}, dec1, "prometheusChartVersion", "", ""},
		{"kube-prometheus-stack 89 is not vetted", func(c *Config) { c.PrometheusChartVersion = "89.0.0" }, dec1, "prometheusChartVersion", "kube-prometheus-stack 89 (89) is not in the version catalog", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := stackVersions("1.35", SupportOfficial)
			c.mutate(cfg)
			r := cfg.CheckVersions(c.day)
			tag := ":" + c.key + ":"
			var errs, warns []string
			for _, e := range r.Errors {
				if strings.Contains(e.Error(), tag) {
					errs = append(errs, e.Error())
				}
			}
			for _, w := range r.Warnings {
				if strings.Contains(w, tag) {
					warns = append(warns, w)
				}
			}
			if c.err == "" {
				assert.Empty(t, errs)
			} else {
				require.Len(t, errs, 1, errorText(r))
				assert.Contains(t, errs[0], c.err)
			}
			if c.warn == "" {
				assert.Empty(t, warns)
			} else {
				require.Len(t, warns, 1, "%v", r.Warnings)
				assert.Contains(t, warns[0], c.warn)
			}
		})
	}
}

// TestLoadRefusesAnEndedVersionBeforeAnythingElse: the whole config load
// on an injected date; an ended minor is refused with the key and the date,
// and LTS is the way to keep it.
func TestLoadRefusesAnEndedVersion(t *testing.T) {
	v := valid("dev")
	v["kubernetesVersion"] = "1.33"
	_, err := LoadAt(Project, "test", MapSource{Values: v}, Day(2026, time.December, 1))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "config moodle-aks:kubernetesVersion: \"1.33\": AKS support ended on 2026-07-31")

	v["kubernetesSupportPlan"] = SupportLTS
	c, err := LoadAt(Project, "test", MapSource{Values: v}, Day(2026, time.December, 1))
	require.NoError(t, err)
	assert.Equal(t, SupportLTS, c.KubernetesSupportPlan)

	v["kubernetesSupportPlan"] = "Premium"
	_, err = LoadAt(Project, "test", MapSource{Values: v}, Day(2026, time.December, 1))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "config moodle-aks:kubernetesSupportPlan: \"Premium\" is not allowed; allowed: KubernetesOfficial, AKSLongTermSupport")
	assert.NotContains(t, err.Error(), "kubernetesVersion", "a malformed key is reported alone, not with the catalog's verdict on top")

	// The defaults deploy on the day the issue was tried, with the
	// warnings of that day.
	c, err = load(t, valid("prod"))
	require.NoError(t, err)
	assert.Equal(t, "1.35", c.KubernetesVersion)
	assert.Equal(t, SupportOfficial, c.KubernetesSupportPlan)
	require.Len(t, c.Warnings, 1)
	assert.Contains(t, c.Warnings[0], "istioVersion: Istio 1.30 reached end of life on 2026-11-30")
}

func TestTodayReadsTheDateVariable(t *testing.T) {
	t.Setenv(DateEnv, "2027-04-01")
	d, err := Today()
	require.NoError(t, err)
	assert.Equal(t, Day(2027, time.April, 1), d)
	_, err = Load(Project, "test", MapSource{Values: valid("dev")})
	require.Error(t, err, "Load uses the variable's day: 1.35 has ended then")
	assert.Contains(t, err.Error(), "kubernetesVersion: \"1.35\": AKS support ended on 2027-03-31")

	t.Setenv(DateEnv, "1 April 2027")
	_, err = Today()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "environment variable MOODLE_AKS_DATE: \"1 April 2027\" is not a date")

	t.Setenv(DateEnv, "")
	before := time.Now().UTC()
	d, err = Today()
	after := time.Now().UTC()
	require.NoError(t, err)
	assert.Contains(t, []time.Time{Day(before.Year(), before.Month(), before.Day()), Day(after.Year(), after.Month(), after.Day())}, d, "unset: today, in UTC")
}
