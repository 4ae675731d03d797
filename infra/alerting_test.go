package infra

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A relay that takes mail without a login (port 25, a connector that
// trusts the cluster's address) needs no username; submission ports do.
func TestRelayWithoutLoginOnlyOffSubmissionPorts(t *testing.T) {
	v := valid("dev")
	v["smtpHost"], v["smtpFrom"] = "fieldcert-example.mail.protection.outlook.com:25", "noreply@example.com"
	c, err := load(t, v)
	require.NoError(t, err)
	assert.Empty(t, c.DeliveryWarnings(testDay))
	v["smtpHost"] = "fieldcert-example.mail.protection.outlook.com:587"
	_, err = load(t, v)
	require.Error(t, err)
	assert.Contains(t, err.Error(), Project+":smtpUsername: is empty")
}

// A URL of a service Alertmanager has a native integration for is refused
// as a generic webhook, naming the key to use, and never echoed.
func TestWebhookOfANativeServiceIsRefused(t *testing.T) {
	for url, key := range map[string]string{
		"https://events.pagerduty.com/integration/tok3n/enqueue":                      "alertPagerDutyRoutingKey",
		"https://events.eu.pagerduty.com/v2/enqueue?tok3n":                            "alertPagerDutyRoutingKey",
		"https://api.eu.opsgenie.com/v1/json/integrations/webhooks/prometheus?tok3n":  "alertOpsgenieApiKey",
		"https://prod-12.westeurope.logic.azure.com/workflows/tok3n/triggers/manual":  "alertTeamsWebhookUrl",
		"https://fieldcert.webhook.office.com/webhookb2/tok3n/IncomingWebhook/abc/de": "alertTeamsWebhookUrl",
	} {
		v := valid("prod")
		v["alertWebhookUrl"] = url
		_, err := load(t, v, "alertWebhookUrl")
		require.Error(t, err, url)
		assert.Contains(t, err.Error(), Project+":alertWebhookUrl: is a ", url)
		assert.Contains(t, err.Error(), "set "+key+" instead", url)
		assert.NotContains(t, err.Error(), "tok3n", "the secret URL is not echoed")
	}
	v := valid("prod")
	v["alertWebhookUrl"] = "https://hooks.fieldcert.example/alertmanager/tok3n"
	c, err := load(t, v, "alertWebhookUrl")
	require.NoError(t, err, "any other https endpoint takes the generic webhook JSON")
	assert.Equal(t, []string{ReceiverEmail, ReceiverPagerDuty, ReceiverWebhook}, c.AlertReceiverKinds())
}

func TestReceiverKeysMustBeSecret(t *testing.T) {
	for _, key := range []string{"alertPagerDutyRoutingKey", "alertOpsgenieApiKey", "alertTeamsWebhookUrl", "alertHeartbeatUrl"} {
		v := valid("dev")
		v[key] = "https://x.example.com/0123456789abcdef0123456789abcdef"
		_, err := LoadAt(Project, "test", MapSource{Values: v}, testDay)
		require.Error(t, err, key)
		assert.Contains(t, err.Error(), Project+":"+key+": is set in plain text")
		assert.NotContains(t, err.Error(), "0123456789abcdef")
	}
}

// Exchange Online's Basic SMTP AUTH: a warning that names the date, and
// says it has passed once it has (the date is an input).
func TestExchangeBasicAuthWarningFollowsTheDate(t *testing.T) {
	v := valid("dev")
	v["smtpHost"], v["smtpFrom"] = "smtp.office365.com:587", "noreply@example.com"
	v["smtpUsername"], v["smtpPassword"] = "alerts@example.com", "s3cret"
	c, err := load(t, v)
	require.NoError(t, err)
	require.Len(t, c.Warnings, 2, "%v", c.Warnings)
	assert.Contains(t, c.Warnings[1], Project+":smtpHost: Exchange Online turns Basic authentication for SMTP AUTH off by default at the end of December 2026 (2026-12-31)")
	after := c.DeliveryWarnings(Day(2027, time.February, 1))
	require.Len(t, after, 1)
	assert.Contains(t, after[0], "off by default since 2026-12-31")
	v["smtpHost"] = "smtp.azurecomm.net:587"
	c, err = load(t, v)
	require.NoError(t, err)
	assert.Empty(t, c.DeliveryWarnings(testDay), "Azure Communication Services is not Exchange Online")
	assert.Len(t, c.Warnings, 1, "only the version warning")
}
