package monitoring

import (
	"net/url"
	"strconv"

	"github.com/fieldcert/moodle-aks/infra"
	"gopkg.in/yaml.v3"
)

// Routing says where alerts go. Each receiver exists only when configured.
type Routing struct {
	// Emails receive every alert; empty: no email receiver.
	Emails []string
	// SMTP relay and sender; Username and Password when it needs a login.
	SMTPHost, SMTPFrom, SMTPUsername, SMTPPassword string
	// WebhookURL pages for critical alerts; empty: no pager receiver.
	WebhookURL string
}

// Endpoints are the internet endpoints the routing delivers to: the SMTP
// relay when there are email receivers, and (in secret, since it comes
// from the secret alertWebhookUrl) the webhook's host, on 443 unless the
// URL names a port.
func (r Routing) Endpoints() (plain, secret []infra.Endpoint) {
	if len(r.Emails) > 0 && r.SMTPHost != "" {
		if e, err := infra.ParseEndpoint(r.SMTPHost); err == nil {
			plain = append(plain, e)
		}
	}
	if r.WebhookURL != "" {
		if u, err := url.Parse(r.WebhookURL); err == nil && u.Hostname() != "" {
			port := 443
			if p, err := strconv.Atoi(u.Port()); err == nil {
				port = p
			}
			secret = append(secret, infra.Endpoint{Host: u.Hostname(), Port: port})
		}
	}
	return plain, secret
}

type receiver struct {
	Name           string           `yaml:"name"`
	EmailConfigs   []map[string]any `yaml:"email_configs,omitempty"`
	WebhookConfigs []map[string]any `yaml:"webhook_configs,omitempty"`
}

type route struct {
	Receiver       string   `yaml:"receiver"`
	Matchers       []string `yaml:"matchers,omitempty"`
	GroupBy        []string `yaml:"group_by,omitempty"`
	GroupWait      string   `yaml:"group_wait,omitempty"`
	GroupInterval  string   `yaml:"group_interval,omitempty"`
	RepeatInterval string   `yaml:"repeat_interval,omitempty"`
	Continue       bool     `yaml:"continue,omitempty"`
	Routes         []route  `yaml:"routes,omitempty"`
}

type inhibit struct {
	SourceMatchers []string `yaml:"source_matchers"`
	TargetMatchers []string `yaml:"target_matchers"`
	Equal          []string `yaml:"equal,omitempty"`
}

type amConfig struct {
	Global       map[string]any `yaml:"global,omitempty"`
	Route        route          `yaml:"route"`
	Receivers    []receiver     `yaml:"receivers"`
	InhibitRules []inhibit      `yaml:"inhibit_rules"`
}

// AlertmanagerConfig renders alertmanager.yaml: critical alerts page (when
// a webhook is set) and mail; warnings mail; "null" swallows what no
// receiver takes. A site-down alert silences the site's symptoms, and a
// data store down silences the alerts it causes.
func AlertmanagerConfig(r Routing) (string, error) {
	cfg := amConfig{
		Receivers: []receiver{{Name: "null"}},
		Route: route{
			Receiver: "null", GroupBy: []string{"alertname", "namespace"},
			GroupWait: "30s", GroupInterval: "5m", RepeatInterval: "4h",
		},
		InhibitRules: []inhibit{
			{SourceMatchers: []string{`alertname="MoodleDown"`}, TargetMatchers: []string{`component="site"`, `alertname!="MoodleDown"`}},
			{SourceMatchers: []string{`alertname=~"MySQLDown|RedisDown"`}, TargetMatchers: []string{`component="site"`, `severity="warning"`}},
			{SourceMatchers: []string{`severity="critical"`}, TargetMatchers: []string{`severity="warning"`}, Equal: []string{"alertname", "namespace"}},
		},
	}
	if r.WebhookURL != "" {
		cfg.Receivers = append(cfg.Receivers, receiver{Name: "pager", WebhookConfigs: []map[string]any{{"url": r.WebhookURL, "send_resolved": true}}})
		cfg.Route.Routes = append(cfg.Route.Routes, route{Receiver: "pager", Matchers: []string{`severity="critical"`}, RepeatInterval: "1h", Continue: true})
	}
	if len(r.Emails) > 0 {
		cfg.Global = map[string]any{"smtp_smarthost": r.SMTPHost, "smtp_from": r.SMTPFrom, "smtp_require_tls": true}
		if r.SMTPUsername != "" {
			cfg.Global["smtp_auth_username"] = r.SMTPUsername
			cfg.Global["smtp_auth_password"] = r.SMTPPassword
		}
		var mails []map[string]any
		for _, e := range r.Emails {
			mails = append(mails, map[string]any{"to": e, "send_resolved": true})
		}
		cfg.Receivers = append(cfg.Receivers, receiver{Name: "email", EmailConfigs: mails})
		cfg.Route.Routes = append(cfg.Route.Routes, route{Receiver: "email", Matchers: []string{`severity=~"critical|warning"`}})
	}
	b, err := yaml.Marshal(cfg)
	return string(b), err
}
