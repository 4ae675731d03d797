package infra

import (
	"fmt"
	"maps"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Alert receiver kinds, named as Alertmanager names their integrations
// (the `integration` label of alertmanager_notifications_failed_total).
const (
	ReceiverEmail     = "email"
	ReceiverWebhook   = "webhook"
	ReceiverPagerDuty = "pagerduty"
	ReceiverOpsgenie  = "opsgenie"
	ReceiverTeams     = "msteamsv2"
)

// AlertReceiverKinds are the kinds of receiver that reach a person which
// the config sets (see ReceiverKinds). The heartbeat is not one: it
// reaches a dead man's switch, which calls a person only when it stops.
func (c *Config) AlertReceiverKinds() []string {
	return ReceiverKinds(len(c.AlertEmails) > 0, c.AlertPagerDutyRoutingKey, c.AlertOpsgenieAPIKey, c.AlertTeamsWebhookURL, c.AlertWebhookURL)
}

// ReceiverKinds are the kinds of receiver set (mail to someone, a
// non-empty key or URL), in a fixed order: the config's validation and
// the Alertmanager configuration count and route by the same list.
func ReceiverKinds(email bool, pagerDutyKey, opsgenieKey, teamsURL, webhookURL string) []string {
	var kinds []string
	for _, k := range []struct {
		kind string
		set  bool
	}{
		{ReceiverEmail, email}, {ReceiverPagerDuty, pagerDutyKey != ""}, {ReceiverOpsgenie, opsgenieKey != ""},
		{ReceiverTeams, teamsURL != ""}, {ReceiverWebhook, webhookURL != ""},
	} {
		if k.set {
			kinds = append(kinds, k.kind)
		}
	}
	return kinds
}

// submissionPorts are the ports where SMTP is message submission, which
// requires a login before it takes mail: RFC 6409 section 4.3 ("the MSA
// MUST by default issue an error response to the MAIL command if the
// session has not been authenticated") for 587, RFC 8314 section 3.3 for
// implicit TLS on 465. Exchange Online answers "530 5.7.57 Client not
// authenticated to send mail"; Azure Communication Services' SMTP endpoint
// also takes mail only after AUTH.
var submissionPorts = map[int]bool{587: true, 465: true}

// nativeWebhookHosts are the services that Alertmanager has a native
// integration for, and whose URL would be sent generic webhook JSON they
// do not read: the key to use instead.
var nativeWebhookHosts = []struct {
	re      *regexp.Regexp
	service string
	instead string
	why     string
}{
	{regexp.MustCompile(`(^|\.)pagerduty\.com$`), "PagerDuty", "alertPagerDutyRoutingKey",
		"PagerDuty's Events API v2 takes its own JSON with a routing key, not Alertmanager's webhook JSON"},
	{regexp.MustCompile(`(^|\.)opsgenie\.com$`), "Opsgenie", "alertOpsgenieApiKey",
		"Opsgenie's Alert API takes its own JSON and a GenieKey header, not Alertmanager's webhook JSON"},
	{regexp.MustCompile(`(^|\.)(webhook\.office\.com|logic\.azure\.com|powerplatform\.com|powerautomate\.com)$`), "Microsoft Teams", "alertTeamsWebhookUrl",
		"a Teams workflow takes an Adaptive Card, which Alertmanager's msteamsv2 integration sends"},
}

var (
	pagerDutyKeyRE = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)
	opsgenieKeyRE  = regexp.MustCompile(`^[A-Za-z0-9-]{20,64}$`)
)

// alerting checks that every alert receiver the config names can deliver,
// and that prod's alerts reach a person by two independent paths and
// report a dead monitoring stack through a heartbeat. Secret values are
// never echoed.
func (v *validator) alerting(c *Config) {
	for i, e := range c.AlertEmails {
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e || !strings.Contains(e[strings.LastIndex(e, "@"):], ".") {
			v.fail(fmt.Sprintf("alertEmails[%d]", i), "%q is not a plain email address like ops@example.com", e)
		}
	}
	if e, err := ParseEndpoint(c.SMTPHost); err == nil && submissionPorts[e.Port] && c.SMTPUsername == "" {
		v.fail("smtpUsername", "is empty, but smtpHost %q is a message submission port, where the relay refuses mail from a client that has not logged in (RFC 6409 4.3; Exchange Online answers 530 5.7.57): "+
			"every alert and every Moodle mail would fail. Set smtpUsername and a secret smtpPassword (for example an Azure Communication Services SMTP username on smtp.azurecomm.net:587), or use a relay that accepts this cluster without a login", c.SMTPHost)
	}
	// Learners' mail (password resets, notifications) carries personal
	// data: in prod the relay must keep it inside the stack's boundary.
	if c.SMTPHost != "" && c.SMTPDataLocation != "" && !slices.Contains(dataLocationNames(), c.SMTPDataLocation) {
		v.fail("smtpDataLocation", "%q is neither an Azure Communication Services data location (%s) nor a residency boundary code",
			c.SMTPDataLocation, strings.Join(slices.Sorted(maps.Keys(ACSDataLocations)), ", "))
	} else if c.SMTPHost != "" && c.Environment == Prod && c.SMTPDataLocation == "" {
		v.fail("smtpDataLocation", "is empty: in prod, say where the relay %q keeps learners' mail (its Azure Communication Services data location, e.g. Europe, or a boundary code), so that it is checked against residency %q", c.SMTPHost, c.Residency)
	} else if c.SMTPHost != "" && c.SMTPDataLocation != "" && !DataLocationWithin(c.SMTPDataLocation, c.Residency) {
		v.fail("smtpDataLocation", "%q lies outside the stack's residency boundary %q: learners' mail would leave it; use a relay (an ACS resource) with a data location inside %q", c.SMTPDataLocation, c.Residency, c.Residency)
	}
	https := func(key, value string) (*url.URL, bool) {
		if value == "" {
			return nil, false
		}
		u, err := url.Parse(value)
		if err != nil || u.Scheme != "https" || u.Hostname() == "" {
			v.fail(key, "is not an https:// URL with a host (value not shown: it is secret)")
			return nil, false
		}
		return u, true
	}
	if u, ok := https("alertWebhookUrl", c.AlertWebhookURL); ok {
		host := strings.ToLower(u.Hostname())
		for _, n := range nativeWebhookHosts {
			if n.re.MatchString(host) {
				v.fail("alertWebhookUrl", "is a %s URL (%s): %s; set %s instead (value not shown: it is secret)", n.service, host, n.why, n.instead)
			}
		}
	}
	https("alertTeamsWebhookUrl", c.AlertTeamsWebhookURL)
	https("alertHeartbeatUrl", c.AlertHeartbeatURL)
	if c.AlertPagerDutyRoutingKey != "" && !pagerDutyKeyRE.MatchString(c.AlertPagerDutyRoutingKey) {
		v.fail("alertPagerDutyRoutingKey", "is not a PagerDuty Events API v2 integration key (32 letters and digits; value not shown: it is secret)")
	}
	if c.AlertOpsgenieAPIKey != "" && !opsgenieKeyRE.MatchString(c.AlertOpsgenieAPIKey) {
		v.fail("alertOpsgenieApiKey", "is not an Opsgenie API integration key (value not shown: it is secret)")
	}
	if c.Environment != Prod {
		return
	}
	kinds := c.AlertReceiverKinds()
	switch {
	case len(kinds) == 0:
		v.fail("alertEmails", "prod needs alert receivers that reach a person: set two of alertEmails, alertPagerDutyRoutingKey, alertOpsgenieApiKey, alertTeamsWebhookUrl, alertWebhookUrl")
	case len(kinds) == 1:
		v.fail("alertEmails", "prod has one kind of alert receiver (%s): when it cannot deliver, the alert that says so goes nowhere; add a second of alertEmails, alertPagerDutyRoutingKey, alertOpsgenieApiKey, alertTeamsWebhookUrl, alertWebhookUrl", kinds[0])
	}
	if c.AlertHeartbeatURL == "" {
		v.fail("alertHeartbeatUrl", "prod needs a dead man's switch: an https URL (healthchecks.io, Opsgenie or PagerDuty heartbeat, ...) that Alertmanager calls every minute while Prometheus and Alertmanager work, and that calls a person when the calls stop")
	}
}

// exchangeBasicAuthOff is when Exchange Online turns Basic authentication
// for SMTP AUTH (client submission) off by default for existing tenants:
// "End of December 2026" (Microsoft 365 message center MC786329, updated
// 2026-01-27; administrators can turn it back on). Alertmanager's email
// integration has no OAuth.
var exchangeBasicAuthOff = Day(2026, time.December, 31)

// DeliveryWarnings are what the alert delivery settings will meet on the
// deploy date today that does not stop the stack.
func (c *Config) DeliveryWarnings(today time.Time) []string {
	host, _, _ := strings.Cut(strings.ToLower(c.SMTPHost), ":")
	if c.SMTPUsername == "" || (host != "smtp.office365.com" && host != "smtp-legacy.office365.com") {
		return nil
	}
	when := fmt.Sprintf("at the end of December 2026 (%s)", date(exchangeBasicAuthOff))
	if !today.Before(exchangeBasicAuthOff) {
		when = fmt.Sprintf("since %s", date(exchangeBasicAuthOff))
	}
	return []string{fmt.Sprintf("config %s:smtpHost: Exchange Online turns Basic authentication for SMTP AUTH off by default %s (Microsoft 365 message MC786329), and Alertmanager cannot log in with OAuth: "+
		"alert mail and Moodle mail fail unless the tenant keeps SMTP AUTH Basic enabled; move to Azure Communication Services (smtp.azurecomm.net:587) or another relay", Project, when)}
}
