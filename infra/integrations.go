package infra

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Endpoint is an outbound destination outside the cluster, "host:port".
type Endpoint struct {
	Host string
	Port int
}

// String returns "host:port".
func (e Endpoint) String() string { return e.Host + ":" + strconv.Itoa(e.Port) }

var wildcardHostRE = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

// ParseEndpoint parses "host:port" (host may start with "*.").
func ParseEndpoint(s string) (Endpoint, error) {
	i := strings.LastIndexByte(s, ':')
	ok := i > 0
	host, port := s, ""
	if ok {
		host, port = s[:i], s[i+1:]
	}
	p, err := strconv.Atoi(port)
	if !ok || err != nil || p < 1 || p > 65535 {
		return Endpoint{}, fmt.Errorf("%q is not host:port with a port from 1 to 65535", s)
	}
	if !wildcardHostRE.MatchString(host) {
		return Endpoint{}, fmt.Errorf("%q: %q is not a lowercase DNS name (optionally *.domain)", s, host)
	}
	return Endpoint{Host: host, Port: p}, nil
}

// Integration is a third-party integration declared in config: a
// scheduled job or a long-running service that talks to Moodle's web
// service API and to its own outbound endpoints.
type Integration struct {
	// Kind is "job" (a CronJob) or "service" (a Deployment).
	Kind string `json:"kind"`
	// Image is the container image, pinned by tag or digest.
	Image string `json:"image"`
	// Schedule is a job's cron schedule (five fields).
	Schedule string `json:"schedule"`
	// Command overrides the image's entrypoint (optional).
	Command []string `json:"command"`
	// Port is a service's container port.
	Port int `json:"port"`
	// Replicas is a service's replica count (1-20).
	Replicas int `json:"replicas"`
	// Endpoints are the outbound "host:port" destinations it may reach.
	Endpoints []string `json:"endpoints"`
	// MoodlePaths are the Moodle URL paths it may call, in Istio's path
	// syntax (exact, or a prefix ending in "*"); empty: DefaultMoodlePaths.
	MoodlePaths []string `json:"moodlePaths"`
}

// IntegrationServiceAccount is the service account (and object name) of
// an integration in NamespaceIntegrations: its mesh identity.
func IntegrationServiceAccount(name string) string { return "integration-" + name }

// DefaultMoodlePaths are the Moodle paths an integration may call unless
// it declares its own: the web service entry points (REST/SOAP servers,
// file downloads with a token).
var DefaultMoodlePaths = []string{"/webservice/*"}

// Paths returns the integration's Moodle paths, DefaultMoodlePaths unless
// it declares some.
func (in Integration) Paths() []string {
	if len(in.MoodlePaths) == 0 {
		return DefaultMoodlePaths
	}
	return in.MoodlePaths
}

// istioPathRE is an Istio AuthorizationPolicy path: absolute, exact or
// with one trailing "*" (prefix match); no query string.
var istioPathRE = regexp.MustCompile(`^/[A-Za-z0-9._~/%-]*\*?$`)

var (
	cronFieldRE   = regexp.MustCompile(`^[0-9*/,\-]+$`)
	restoreNameRE = regexp.MustCompile(`^mysql/[0-9]{8}T[0-9]{6}Z\.sql\.gz$`)
	restoreCopyRE = regexp.MustCompile(`^moodle_[a-z0-9_]{1,57}$`)
)

// validCron accepts five-field cron schedules of numbers, *, /, , and -.
func validCron(s string) bool {
	fields := strings.Fields(s)
	ok := len(fields) == 5
	for _, f := range fields {
		ok = ok && cronFieldRE.MatchString(f)
	}
	return ok
}

// IntegrationNames returns the declared integrations' names, sorted.
func (c *Config) IntegrationNames() []string {
	names := make([]string, 0, len(c.Integrations))
	for n := range c.Integrations {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// EgressEndpoints returns every outbound endpoint the stack declares:
// Moodle's own and each integration's, deduplicated and sorted.
func (c *Config) EgressEndpoints() []Endpoint {
	seen := map[string]Endpoint{}
	add := func(s string) {
		if e, err := ParseEndpoint(s); err == nil {
			seen[e.String()] = e
		}
	}
	for _, s := range c.MoodleEgress {
		add(s)
	}
	for _, n := range c.IntegrationNames() {
		for _, s := range c.Integrations[n].Endpoints {
			add(s)
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Endpoint, 0, len(keys))
	for _, k := range keys {
		out = append(out, seen[k])
	}
	return out
}

func (v *validator) integrations(c *Config) {
	for i, s := range c.MoodleEgress {
		if _, err := ParseEndpoint(s); err != nil {
			v.fail(fmt.Sprintf("moodleEgress[%d]", i), "%v", err)
		}
	}
	for _, name := range c.IntegrationNames() {
		in := c.Integrations[name]
		key := "integrations." + name
		if !dnsLabelRE.MatchString(name) || len(name) > 40 {
			v.fail(key, "the name must be a lowercase DNS label of at most 40 characters")
		}
		if in.Image == "" {
			v.fail(key+".image", "is required")
		} else {
			v.image(key+".image", in.Image)
		}
		switch in.Kind {
		case "job":
			if !validCron(in.Schedule) {
				v.fail(key+".schedule", "%q is not a five-field cron schedule such as \"*/15 * * * *\"", in.Schedule)
			}
		case "service":
			v.between(key+".port", in.Port, 1, 65535)
			v.between(key+".replicas", in.Replicas, 1, 20)
		default:
			v.fail(key+".kind", "%q is not allowed; allowed: job, service", in.Kind)
		}
		for i, s := range in.Endpoints {
			if _, err := ParseEndpoint(s); err != nil {
				v.fail(fmt.Sprintf("%s.endpoints[%d]", key, i), "%v", err)
			}
		}
		for i, p := range in.MoodlePaths {
			switch {
			case !istioPathRE.MatchString(p):
				v.fail(fmt.Sprintf("%s.moodlePaths[%d]", key, i), "%q is not an absolute path, exact or ending in * (e.g. /webservice/rest/*), without a query", p)
			case p == "/*" || p == "/":
				v.fail(fmt.Sprintf("%s.moodlePaths[%d]", key, i), "%q opens every Moodle path; name the web service paths the integration calls", p)
			}
		}
	}
}
