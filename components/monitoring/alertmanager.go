package monitoring

import (
	"net/url"
	"strconv"

	"github.com/fieldcert/moodle-aks/infra"
	"gopkg.in/yaml.v3"
)

// Routing says where alerts go. Each receiver exists only when configured.
type Routing struct {
	// Emails receive critical and warning alerts; empty: no email receiver.
	Emails []string
	// SMTP relay and sender; Username and Password when it needs a login.
	SMTPHost, SMTPFrom, SMTPUsername, SMTPPassword string
	// PagerDutyRoutingKey and OpsgenieAPIKey page through Alertmanager's
	// native integrations; TeamsWebhookURL posts to a Teams workflow;
	// WebhookURL takes the generic webhook JSON. Empty: not used.
	PagerDutyRoutingKey, OpsgenieAPIKey, TeamsWebhookURL, WebhookURL string
	// HeartbeatURL is the dead man's switch Watchdog goes to.
	HeartbeatURL string
}

// Kinds are the configured receivers that reach a person, by
// Alertmanager's integration names (infra.ReceiverKinds).
func (r Routing) Kinds() []string {
	return infra.ReceiverKinds(len(r.Emails) > 0, r.PagerDutyRoutingKey, r.OpsgenieAPIKey, r.TeamsWebhookURL, r.WebhookURL)
}

// The native integrations' endpoints (Alertmanager's defaults:
// config.DefaultGlobalConfig's pagerduty_url and opsgenie_api_url).
var (
	pagerDutyEndpoint = infra.Endpoint{Host: "events.pagerduty.com", Port: 443}
	opsgenieEndpoint  = infra.Endpoint{Host: "api.opsgenie.com", Port: 443}
)

// Endpoints are the internet endpoints the routing delivers to: the SMTP
// relay when there are email receivers, the native integrations' APIs,
// and (in secret, since they come from secret URLs) the hosts of the
// webhook, the Teams workflow and the heartbeat, on 443 unless the URL
// names a port.
func (r Routing) Endpoints() (plain, secret []infra.Endpoint) {
	if len(r.Emails) > 0 && r.SMTPHost != "" {
		if e, err := infra.ParseEndpoint(r.SMTPHost); err == nil {
			plain = append(plain, e)
		}
	}
	if r.PagerDutyRoutingKey != "" {
		plain = append(plain, pagerDutyEndpoint)
	}
	if r.OpsgenieAPIKey != "" {
		plain = append(plain, opsgenieEndpoint)
	}
	for _, raw := range []string{r.WebhookURL, r.TeamsWebhookURL, r.HeartbeatURL} {
		if raw == "" {
			continue
		}
		if u, err := url.Parse(raw); err == nil && u.Hostname() != "" {
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
	Name             string           `yaml:"name"`
	EmailConfigs     []map[string]any `yaml:"email_configs,omitempty"`
	PagerDutyConfigs []map[string]any `yaml:"pagerduty_configs,omitempty"`
	OpsgenieConfigs  []map[string]any `yaml:"opsgenie_configs,omitempty"`
	MSTeamsV2Configs []map[string]any `yaml:"msteamsv2_configs,omitempty"`
	WebhookConfigs   []map[string]any `yaml:"webhook_configs,omitempty"`
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

// Receiver names in alertmanager.yaml.
const (
	NullReceiver      = "null"
	HeartbeatReceiver = "heartbeat"
	CriticalReceiver  = "critical"
	WarningReceiver   = "warning"
	// FallbackReceiver + kind takes the report that kind failed to deliver.
	FallbackReceiver = "fallback-"
)

// paging kinds wake a person; a warning goes to the others when there
// are any.
var paging = map[string]bool{infra.ReceiverPagerDuty: true, infra.ReceiverOpsgenie: true, infra.ReceiverWebhook: true}

// receiverOf builds a receiver of the given kinds for alerts of severity.
func (r Routing) receiverOf(name, severity string, kinds []string) receiver {
	rc := receiver{Name: name}
	for _, k := range kinds {
		switch k {
		case infra.ReceiverEmail:
			for _, e := range r.Emails {
				rc.EmailConfigs = append(rc.EmailConfigs, map[string]any{"to": e, "send_resolved": true})
			}
		case infra.ReceiverPagerDuty:
			// PagerDuty's severities: critical, error, warning, info.
			rc.PagerDutyConfigs = append(rc.PagerDutyConfigs, map[string]any{"routing_key": r.PagerDutyRoutingKey, "severity": severity, "send_resolved": true})
		case infra.ReceiverOpsgenie:
			priority := "P1"
			if severity != "critical" {
				priority = "P3"
			}
			rc.OpsgenieConfigs = append(rc.OpsgenieConfigs, map[string]any{"api_key": r.OpsgenieAPIKey, "priority": priority, "send_resolved": true})
		case infra.ReceiverTeams:
			rc.MSTeamsV2Configs = append(rc.MSTeamsV2Configs, map[string]any{"webhook_url": r.TeamsWebhookURL, "send_resolved": true})
		case infra.ReceiverWebhook:
			rc.WebhookConfigs = append(rc.WebhookConfigs, map[string]any{"url": r.WebhookURL, "send_resolved": true})
		}
	}
	return rc
}

// AlertmanagerConfig renders alertmanager.yaml:
//   - Watchdog, which always fires, goes to the heartbeat every minute;
//   - a report that a kind of receiver failed to deliver
//     (AlertmanagerNotificationsFailing, by its integration label) goes
//     to every other kind;
//   - critical alerts go to every receiver, warnings to email and Teams
//     (to the paging kinds when there are no others);
//   - severity none or info (InfoInhibitor, MoodleMaintenance) and
//     anything unlabelled go to "null".
//
// A site-down alert silences the site's symptoms, a data store down the
// alerts it causes, and planned maintenance the error-rate and latency
// alerts.
func AlertmanagerConfig(r Routing) (string, error) {
	kinds := r.Kinds()
	var warnKinds []string
	for _, k := range kinds {
		if !paging[k] {
			warnKinds = append(warnKinds, k)
		}
	}
	if len(warnKinds) == 0 {
		warnKinds = kinds
	}
	cfg := amConfig{
		Receivers: []receiver{{Name: NullReceiver}},
		Route: route{
			Receiver: NullReceiver, GroupBy: []string{"alertname", "namespace"},
			GroupWait: "30s", GroupInterval: "5m", RepeatInterval: "4h",
		},
		InhibitRules: []inhibit{
			{SourceMatchers: []string{`alertname="MoodleDown"`}, TargetMatchers: []string{`component="site"`, `alertname!="MoodleDown"`}},
			{SourceMatchers: []string{`alertname=~"MySQLDown|RedisDown"`}, TargetMatchers: []string{`component="site"`, `severity="warning"`}},
			{SourceMatchers: []string{`alertname="MoodleMaintenance"`}, TargetMatchers: []string{`alertname=~"MoodleHighErrorRate|MoodleSlowResponses"`}},
			{SourceMatchers: []string{`severity="critical"`}, TargetMatchers: []string{`severity="warning"`}, Equal: []string{"alertname", "namespace"}},
			// The chart's InfoInhibitor: info alerts only next to a warning.
			{SourceMatchers: []string{`alertname="InfoInhibitor"`}, TargetMatchers: []string{`severity="info"`}, Equal: []string{"namespace"}},
		},
	}
	heartbeat := NullReceiver
	if r.HeartbeatURL != "" {
		heartbeat = HeartbeatReceiver
		cfg.Receivers = append(cfg.Receivers, receiver{Name: HeartbeatReceiver, WebhookConfigs: []map[string]any{{"url": r.HeartbeatURL, "send_resolved": false}}})
	}
	routes := []route{{Receiver: heartbeat, Matchers: []string{`alertname="Watchdog"`}, GroupBy: []string{"alertname"}, GroupWait: "0s", GroupInterval: "1m", RepeatInterval: "1m"}}
	for _, k := range kinds {
		var others []string
		for _, o := range kinds {
			if o != k {
				others = append(others, o)
			}
		}
		if len(others) == 0 {
			continue // one kind (dev): its failures go with the other critical alerts
		}
		cfg.Receivers = append(cfg.Receivers, r.receiverOf(FallbackReceiver+k, "critical", others))
		routes = append(routes, route{Receiver: FallbackReceiver + k, Matchers: []string{`alertname="` + NotificationsFailingAlert + `"`, `integration="` + k + `"`}, GroupBy: []string{"alertname", "integration"}, RepeatInterval: "1h"})
	}
	routes = append(routes, route{Receiver: NullReceiver, Matchers: []string{`severity=~"none|info"`}})
	if len(kinds) > 0 {
		cfg.Receivers = append(cfg.Receivers, r.receiverOf(CriticalReceiver, "critical", kinds), r.receiverOf(WarningReceiver, "warning", warnKinds))
		routes = append(routes,
			route{Receiver: CriticalReceiver, Matchers: []string{`severity="critical"`}, RepeatInterval: "1h"},
			route{Receiver: WarningReceiver, Matchers: []string{`severity="warning"`}})
	}
	cfg.Route.Routes = routes
	if len(r.Emails) > 0 {
		cfg.Global = map[string]any{"smtp_smarthost": r.SMTPHost, "smtp_from": r.SMTPFrom, "smtp_require_tls": true}
		if r.SMTPUsername != "" {
			cfg.Global["smtp_auth_username"] = r.SMTPUsername
			cfg.Global["smtp_auth_password"] = r.SMTPPassword
		}
	}
	b, err := yaml.Marshal(cfg)
	return string(b), err
}
