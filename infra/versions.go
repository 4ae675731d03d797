package infra

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The version catalog: which AKS Kubernetes minors, Istio releases, AKS
// Istio add-on revisions, cert-manager releases and kube-prometheus-stack
// majors the program knows, until when each is supported, and which
// Kubernetes minors each platform release supports. CheckVersions holds a
// stack's versions against it on the deploy date, so that a stack is
// refused before anything is created instead of failing half-way in Azure.
//
// A date here is the last day of support: a version is supported on its
// End and ended the day after. Where a source names only a month, its End
// is the month's last day (the AKS calendar's own rule: "Unless an explicit
// date is provided, the End of Life (EOL) date is the last day of the
// specified month"). Adding a release: add its row with the source beside
// it, add its chart packages to charts/ (tools/chartcheck templates them),
// and test it in versions_test.go.

// DateEnv names the environment variable that sets the deploy date
// (YYYY-MM-DD) the version checks use instead of today: for tests, and to
// ask whether a stack would still deploy on a later day. The renderer's
// -date flag sets it.
const DateEnv = "MOODLE_AKS_DATE"

// WarnDays is how long before a version's end of support the checks warn.
const WarnDays = 60

// Support plans of AKS (ManagedCluster properties.supportPlan).
const (
	// SupportOfficial is AKS's community support: about a year per minor.
	SupportOfficial = "KubernetesOfficial"
	// SupportLTS is AKS long-term support: a second year, on the Premium
	// tier only.
	SupportLTS = "AKSLongTermSupport"
)

// Day is midnight UTC of a calendar day.
func Day(year int, month time.Month, day int) time.Time {
	return time.Date(year, month, day, 0, 0, 0, 0, time.UTC)
}

// monthEnd is the last day of a month.
func monthEnd(year int, month time.Month) time.Time {
	return Day(year, month+1, 1).AddDate(0, 0, -1)
}

// Today is the deploy date: DateEnv when set, else today in UTC.
func Today() (time.Time, error) {
	if v := strings.TrimSpace(os.Getenv(DateEnv)); v != "" {
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return time.Time{}, fmt.Errorf("environment variable %s: %q is not a date of the form 2026-12-01", DateEnv, v)
		}
		return d, nil
	}
	now := time.Now().UTC()
	return Day(now.Year(), now.Month(), now.Day()), nil
}

// AKSVersion is one AKS Kubernetes minor.
type AKSVersion struct {
	// Minor is the Kubernetes minor (35 for 1.35).
	Minor int
	// GA is the month AKS made it generally available (first day).
	GA time.Time
	// End is the last day of community support (KubernetesOfficial): AKS
	// creates and upgrades to it only until then.
	End time.Time
	// LTSEnd is the last day of long-term support (AKSLongTermSupport,
	// Premium tier).
	LTSEnd time.Time
}

// AKSVersions is the AKS release calendar and LTS calendar, from
// MicrosoftDocs/azure-aks-docs articles/aks/supported-kubernetes-versions.md
// (commit fb060abe, 2026-08-21; page dated 2026-08-05): "AKS Kubernetes
// release calendar" and "LTS versions" tables. 1.35 went GA on 2026-03-05
// (AKS release notes). 1.37 (GA planned for Oct 2026) is not listed: no
// Istio release the program pins supports it, and the API server check has
// not run on it.
var AKSVersions = []AKSVersion{
	{Minor: 29, GA: Day(2024, time.March, 1), End: monthEnd(2025, time.March), LTSEnd: monthEnd(2026, time.April)},
	{Minor: 30, GA: Day(2024, time.July, 1), End: Day(2025, time.August, 22), LTSEnd: monthEnd(2026, time.July)},
	{Minor: 31, GA: Day(2024, time.November, 1), End: Day(2025, time.November, 1), LTSEnd: monthEnd(2026, time.November)},
	{Minor: 32, GA: Day(2025, time.April, 1), End: monthEnd(2026, time.March), LTSEnd: monthEnd(2027, time.March)},
	{Minor: 33, GA: Day(2025, time.June, 1), End: monthEnd(2026, time.July), LTSEnd: monthEnd(2027, time.July)},
	{Minor: 34, GA: Day(2025, time.November, 1), End: monthEnd(2026, time.November), LTSEnd: monthEnd(2027, time.November)},
	{Minor: 35, GA: Day(2026, time.March, 5), End: monthEnd(2027, time.March), LTSEnd: monthEnd(2028, time.March)},
	{Minor: 36, GA: Day(2026, time.June, 1), End: monthEnd(2027, time.June), LTSEnd: monthEnd(2028, time.June)},
}

// PlatformRelease is one release line of a platform component (an Istio
// minor, an add-on revision, a cert-manager minor, a chart major) and the
// Kubernetes minors it supports.
type PlatformRelease struct {
	// Line is the release line as the config names it: "1.30" (Istio,
	// cert-manager), "asm-1-30" (add-on), "88" (kube-prometheus-stack).
	Line string
	// KubeMin and KubeMax bound the supported Kubernetes minors; KubeMax 0
	// means no upper bound is published.
	KubeMin, KubeMax int
	// End is the last day of support; zero when no date is published yet.
	End time.Time
	// Until says what ends support when End is zero, or qualifies End
	// ("expected").
	Until string
	// Source is where the row comes from.
	Source string
}

const (
	srcIstioCharts = "../shared/charts/README.md (team catalog, 2026-12-01); Istio supported releases via endoflife.date products/istio.md"
	srcAddon       = "MicrosoftDocs/azure-aks-docs articles/aks/istio-support-policy.md (fb060abe, 2026-08-21)"
	srcCertManager = "cert-manager/website content/docs/releases/README.md (776e5dba, 2026-08-22)"
)

// IstioReleases are the Istio minors the program can install from charts.
var IstioReleases = []PlatformRelease{
	{Line: "1.28", KubeMin: 30, KubeMax: 34, End: Day(2026, time.July, 1), Source: srcIstioCharts},
	{Line: "1.29", KubeMin: 31, KubeMax: 35, End: monthEnd(2026, time.August), Source: srcIstioCharts},
	{Line: "1.30", KubeMin: 32, KubeMax: 36, End: monthEnd(2026, time.November), Source: srcIstioCharts},
}

// IstioAddonRevisions are the AKS Istio add-on's revisions ("Service mesh
// add-on release calendar"; an ended revision can no longer be installed).
var IstioAddonRevisions = []PlatformRelease{
	{Line: "asm-1-27", KubeMin: 29, KubeMax: 35, End: monthEnd(2026, time.May), Source: srcAddon},
	{Line: "asm-1-28", KubeMin: 30, KubeMax: 35, End: monthEnd(2026, time.August), Until: "expected", Source: srcAddon},
	{Line: "asm-1-29", KubeMin: 31, KubeMax: 36, End: monthEnd(2026, time.September), Until: "expected", Source: srcAddon},
	{Line: "asm-1-30", KubeMin: 32, KubeMax: 36, End: monthEnd(2026, time.December), Until: "expected", Source: srcAddon},
}

// CertManagerReleases are the cert-manager minors ("All cert-manager
// releases are supported at least until the release of a second subsequent
// version").
var CertManagerReleases = []PlatformRelease{
	{Line: "1.19", KubeMin: 31, KubeMax: 35, End: Day(2026, time.July, 8), Source: srcCertManager + "; 1.19 ended with the release of 1.21"},
	{Line: "1.20", KubeMin: 32, KubeMax: 35, Until: "the release of 1.22", Source: srcCertManager},
	{Line: "1.21", KubeMin: 33, KubeMax: 36, Until: "the release of 1.23", Source: srcCertManager},
}

// PrometheusStackReleases are the kube-prometheus-stack majors. The chart
// has no support window: only its newest release gets fixes, so a major is
// listed once its values have been carried over and checked (tools/chartcheck).
// KubeMin is the chart's own kubeVersion constraint.
var PrometheusStackReleases = []PlatformRelease{
	{Line: "67", KubeMin: 19, Until: "superseded by 68 (only the newest release is maintained)", Source: "kube-prometheus-stack 67.8.0 Chart.yaml kubeVersion >=1.19.0-0"},
	{Line: "88", KubeMin: 25, Until: "its successor's release (only the newest release is maintained)", Source: "kube-prometheus-stack 88.5.3 Chart.yaml kubeVersion >=1.25.0-0; current on 2026-08-21"},
}

// LookupAKSVersion finds a Kubernetes minor in the AKS calendar.
func LookupAKSVersion(minor int) (AKSVersion, bool) {
	for _, v := range AKSVersions {
		if v.Minor == minor {
			return v, true
		}
	}
	return AKSVersion{}, false
}

func lookupRelease(list []PlatformRelease, line string) (PlatformRelease, bool) {
	for _, r := range list {
		if r.Line == line {
			return r, true
		}
	}
	return PlatformRelease{}, false
}

func lines(list []PlatformRelease) string {
	out := make([]string, len(list))
	for i, r := range list {
		out[i] = r.Line
	}
	return strings.Join(out, ", ")
}

// supports reports whether a release supports a Kubernetes minor.
func (r PlatformRelease) supports(minor int) bool {
	return minor >= r.KubeMin && (r.KubeMax == 0 || minor <= r.KubeMax)
}

func (r PlatformRelease) kubeRange() string {
	if r.KubeMax == 0 {
		return fmt.Sprintf("1.%d and later", r.KubeMin)
	}
	return fmt.Sprintf("1.%d to 1.%d", r.KubeMin, r.KubeMax)
}

var minorLineRE = regexp.MustCompile(`^v?(\d+)\.(\d+)\.\d+`)

// releaseLine is "MAJOR.MINOR" of an exact version ("v1.21.1" -> "1.21").
func releaseLine(version string) (string, bool) {
	m := minorLineRE.FindStringSubmatch(version)
	if m == nil {
		return "", false
	}
	return m[1] + "." + m[2], true
}

// KubernetesMinor is the minor of a "1.MINOR[.PATCH]" version, or 0.
func KubernetesMinor(version string) int {
	m := k8sVersionRE.FindStringSubmatch(version)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// VersionReport is what CheckVersions found: problems that stop the stack
// (each naming its config key) and warnings to print.
type VersionReport struct {
	Errors   []error
	Warnings []string
}

func (r *VersionReport) fail(key, format string, args ...any) {
	r.Errors = append(r.Errors, fmt.Errorf("config %s:%s: %s", Project, key, fmt.Sprintf(format, args...)))
}

func (r *VersionReport) warn(key, format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf("config %s:%s: %s", Project, key, fmt.Sprintf(format, args...)))
}

func date(t time.Time) string { return t.Format(time.DateOnly) }

// daysLeft is the number of days from today to the last day of support.
func daysLeft(today, end time.Time) int { return int(end.Sub(today).Hours() / 24) }

// CheckVersions holds the stack's versions against the catalog on the
// deploy date today:
//   - kubernetesVersion must be a GA AKS minor still supported on its plan:
//     community support, or with kubernetesSupportPlan AKSLongTermSupport
//     (Premium tier) the LTS year; AKS refuses to create an ended version;
//   - the Istio release (istioVersion, or istioAddonRevision with the
//     add-on), cert-manager and kube-prometheus-stack must be releases the
//     catalog lists and support the cluster's minor; an add-on revision past
//     its end is refused (AKS no longer installs it); a chart release past
//     its end is a warning (nothing refuses it, but it gets no fixes);
//   - anything within WarnDays of its end is a warning naming the date.
//
// Call it after Validate: a malformed version is Validate's to report.
func (c *Config) CheckVersions(today time.Time) VersionReport {
	var r VersionReport
	minor := KubernetesMinor(c.KubernetesVersion)
	if minor == 0 {
		return r
	}
	lts := c.KubernetesSupportPlan == SupportLTS
	if v, ok := LookupAKSVersion(minor); !ok {
		r.fail("kubernetesVersion", "%q is not in the AKS version catalog (infra/versions.go lists 1.%d to 1.%d); add the minor with its dates from the AKS release calendar, after tools/apiserver has run on it",
			c.KubernetesVersion, AKSVersions[0].Minor, AKSVersions[len(AKSVersions)-1].Minor)
	} else {
		end, plan := v.End, "community support ("+SupportOfficial+")"
		if lts {
			end, plan = v.LTSEnd, "long-term support ("+SupportLTS+")"
		}
		switch {
		case today.Before(v.GA):
			r.fail("kubernetesVersion", "%q is not generally available on AKS before %s", c.KubernetesVersion, date(v.GA))
		case today.After(end) && !lts && !today.After(v.LTSEnd):
			r.fail("kubernetesVersion", "%q: AKS support ended on %s; AKS creates an ended version only on the Premium tier with kubernetesSupportPlan %s (supported until %s); otherwise choose %s",
				c.KubernetesVersion, date(v.End), SupportLTS, date(v.LTSEnd), supportedMinors(today))
		case today.After(end):
			r.fail("kubernetesVersion", "%q: AKS %s ended on %s; choose %s", c.KubernetesVersion, plan, date(end), supportedMinors(today))
		case daysLeft(today, end) < WarnDays:
			r.warn("kubernetesVersion", "%q: AKS %s ends on %s (in %d days); upgrade one minor at a time before then (README \"Versions\")",
				c.KubernetesVersion, plan, date(end), daysLeft(today, end))
		}
	}

	if c.IstioMode == "aks-addon" {
		r.release("istioAddonRevision", "the AKS Istio add-on "+c.IstioAddonRevision, IstioAddonRevisions, c.IstioAddonRevision, minor, today, true)
	} else if line, ok := releaseLine(c.IstioVersion); ok {
		r.release("istioVersion", "Istio "+line, IstioReleases, line, minor, today, false)
	}
	if line, ok := releaseLine(c.CertManagerVersion); ok {
		r.release("certManagerVersion", "cert-manager "+line, CertManagerReleases, line, minor, today, false)
	}
	if major, _, ok := strings.Cut(c.PrometheusChartVersion, "."); ok {
		r.release("prometheusChartVersion", "kube-prometheus-stack "+major, PrometheusStackReleases, major, minor, today, false)
	}
	return r
}

// release checks one platform release line against the catalog.
func (r *VersionReport) release(key, what string, list []PlatformRelease, line string, minor int, today time.Time, endedIsFatal bool) {
	rel, ok := lookupRelease(list, line)
	if !ok {
		r.fail(key, "%s (%s) is not in the version catalog (infra/versions.go knows %s); add its row with its support dates and Kubernetes range, and its chart packages to charts/",
			what, line, lines(list))
		return
	}
	if !rel.supports(minor) {
		r.fail(key, "%s supports Kubernetes %s, not kubernetesVersion 1.%d (%s)", what, rel.kubeRange(), minor, rel.Source)
	}
	if rel.End.IsZero() {
		return
	}
	end := date(rel.End)
	if rel.Until != "" {
		end += " (" + rel.Until + ")"
	}
	switch {
	case today.After(rel.End) && endedIsFatal:
		r.fail(key, "%s reached end of life on %s and can no longer be installed; choose %s", what, end, supportedLines(list, minor, today))
	case today.After(rel.End):
		r.warn(key, "%s reached end of life on %s: it gets no security fixes; move to a supported release as soon as its chart is vetted (README \"Versions\")", what, end)
	case daysLeft(today, rel.End) < WarnDays:
		r.warn(key, "%s reaches end of life on %s (in %d days); plan the upgrade (README \"Versions\")", what, end, daysLeft(today, rel.End))
	}
}

// supportedMinors lists the AKS minors in community support on a day.
func supportedMinors(today time.Time) string {
	var out []string
	for _, v := range AKSVersions {
		if !today.Before(v.GA) && !today.After(v.End) {
			out = append(out, fmt.Sprintf("1.%d (until %s)", v.Minor, date(v.End)))
		}
	}
	if len(out) == 0 {
		return "a minor AKS still supports (the catalog has none on this day: update infra/versions.go)"
	}
	return strings.Join(out, " or ")
}

// supportedLines lists the releases of a line that are still supported and
// support the cluster's minor.
func supportedLines(list []PlatformRelease, minor int, today time.Time) string {
	var out []string
	for _, r := range list {
		if r.supports(minor) && (r.End.IsZero() || !today.After(r.End)) {
			out = append(out, r.Line)
		}
	}
	if len(out) == 0 {
		return "a supported release (the catalog has none for this cluster on this day: update infra/versions.go)"
	}
	return strings.Join(out, " or ")
}

// CompatibilityTable renders the catalog as the README's "Versions" tables
// (`go run ./cmd/configdoc -write`; a test keeps the README in step): each
// AKS minor with its support ends and which pinned platform releases
// support it, then each platform release line with its Kubernetes range
// and end of support. Pinned marks the defaults of Keys.
func CompatibilityTable() string {
	def := func(key string) string {
		k, _ := LookupKey(key)
		s, _ := k.Default.(string)
		return s
	}
	istio, _ := releaseLine(def("istioVersion"))
	cm, _ := releaseLine(def("certManagerVersion"))
	kps, _, _ := strings.Cut(def("prometheusChartVersion"), ".")
	addon := def("istioAddonRevision")
	pinned := []struct {
		name string
		list []PlatformRelease
		line string
	}{
		{"Istio " + istio, IstioReleases, istio},
		{"add-on " + addon, IstioAddonRevisions, addon},
		{"cert-manager " + cm, CertManagerReleases, cm},
		{"kube-prometheus-stack " + kps, PrometheusStackReleases, kps},
	}
	var b strings.Builder
	b.WriteString("| AKS minor | community support until | LTS (`AKSLongTermSupport`, Premium) until |")
	for _, p := range pinned {
		b.WriteString(" " + p.name + " |")
	}
	b.WriteString("\n|---|---|---|" + strings.Repeat("---|", len(pinned)) + "\n")
	defMinor := KubernetesMinor(def("kubernetesVersion"))
	for _, v := range AKSVersions {
		name := fmt.Sprintf("1.%d", v.Minor)
		if v.Minor == defMinor {
			name = fmt.Sprintf("**1.%d** (default)", v.Minor)
		}
		fmt.Fprintf(&b, "| %s | %s | %s |", name, date(v.End), date(v.LTSEnd))
		for _, p := range pinned {
			r, _ := lookupRelease(p.list, p.line)
			if r.supports(v.Minor) {
				b.WriteString(" yes |")
			} else {
				b.WriteString(" no |")
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\n| release line | Kubernetes | supported until | pinned | source |\n|---|---|---|---|---|\n")
	for _, p := range []struct {
		what string
		list []PlatformRelease
		line string
		key  string
	}{
		{"Istio", IstioReleases, istio, "istioVersion"},
		{"AKS Istio add-on", IstioAddonRevisions, addon, "istioAddonRevision"},
		{"cert-manager", CertManagerReleases, cm, "certManagerVersion"},
		{"kube-prometheus-stack", PrometheusStackReleases, kps, "prometheusChartVersion"},
	} {
		for _, r := range p.list {
			until := r.Until
			if !r.End.IsZero() {
				until = date(r.End)
				if r.Until != "" {
					until += " (" + r.Until + ")"
				}
			}
			mark := ""
			if r.Line == p.line {
				mark = "`" + p.key + ": " + def(p.key) + "`"
			}
			fmt.Fprintf(&b, "| %s %s | %s | %s | %s | %s |\n", p.what, r.Line, r.kubeRange(), until, mark, r.Source)
		}
	}
	return b.String()
}
