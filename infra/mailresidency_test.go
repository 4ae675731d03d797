package infra

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The data locations against the boundaries, as the ACS privacy page and
// the EU Data Boundary list them.
func TestDataLocationWithin(t *testing.T) {
	for _, tc := range []struct {
		location, boundary string
		within             bool
	}{
		{"Europe", "eu", true},
		{"Germany", "eu", true},
		{"Germany", "de", true},
		{"Europe", "de", false}, // the EU boundary is wider than Germany
		{"United States", "eu", false},
		{"United States", "us", true},
		{"UK", "eu", false}, // the UK is outside the EU Data Boundary
		{"UK", "uk", true},
		{"Switzerland", "eu", true}, // EFTA, inside the EU Data Boundary
		{"Asia Pacific", "sg", false},
		{"Asia Pacific", "apac", true},
		{"eu", "eu", true}, // a boundary code, for a relay other than ACS
		{"us", "eu", false},
		{"Mars", "eu", false},
	} {
		assert.Equal(t, tc.within, DataLocationWithin(tc.location, tc.boundary), "%s in %s", tc.location, tc.boundary)
	}
}

// Learners' mail: prod must say where the relay keeps it, inside the
// stack's boundary (issue 23: prod-eu mailed through the US stack's relay).
func TestMailRelayResidency(t *testing.T) {
	v := valid("prod") // residency eu
	_, err := load(t, v)
	require.NoError(t, err, "Europe is inside eu")

	v["smtpDataLocation"] = "United States"
	_, err = load(t, v)
	require.Error(t, err)
	assert.Contains(t, err.Error(), Project+`:smtpDataLocation: "United States" lies outside the stack's residency boundary "eu"`)

	delete(v, "smtpDataLocation")
	_, err = load(t, v)
	require.Error(t, err)
	assert.Contains(t, err.Error(), Project+":smtpDataLocation: is empty: in prod")

	v["smtpDataLocation"] = "europe-west"
	_, err = load(t, v)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"europe-west" is neither an Azure Communication Services data location`)

	d := valid("dev")
	d["smtpHost"], d["smtpFrom"], d["smtpUsername"], d["smtpPassword"] = "smtp.example.com:587", "a@example.com", "u", "p"
	_, err = load(t, d)
	assert.NoError(t, err, "dev may leave it out")
}

func TestMathJaxURL(t *testing.T) {
	v := valid("prod")
	v["mathJaxUrl"] = "https://cdn.jsdelivr.net/npm/mathjax@2.7.9/MathJax.js"
	_, err := load(t, v)
	require.Error(t, err)
	assert.Contains(t, err.Error(), Project+`:mathJaxUrl: "https://cdn.jsdelivr.net/npm/mathjax@2.7.9/MathJax.js" is served by cdn.jsdelivr.net, not the site (learn.example.com)`)

	v["mathJaxUrl"] = "https://learn.example.com/mathjax/MathJax.js"
	c, err := load(t, v)
	require.NoError(t, err)
	assert.Equal(t, "https://learn.example.com/mathjax/MathJax.js", c.MathJaxURL)

	v["mathJaxUrl"] = "http://learn.example.com/mathjax/MathJax.js"
	_, err = load(t, v)
	assert.ErrorContains(t, err, "is not an https:// URL")

	d := valid("dev")
	d["mathJaxUrl"] = "https://cdn.jsdelivr.net/npm/mathjax@2.7.9/MathJax.js"
	_, err = load(t, d)
	assert.NoError(t, err, "dev may try a CDN")
}

func TestAuditSwitches(t *testing.T) {
	prod, err := load(t, valid("prod"))
	require.NoError(t, err)
	assert.True(t, prod.AuditLogs && prod.DefenderForContainers && prod.AzurePolicyAddon, "prod: all on by default")
	assert.Equal(t, 365, prod.AuditLogRetentionDays)
	dev, err := load(t, valid("dev"))
	require.NoError(t, err)
	assert.False(t, dev.AuditLogs || dev.DefenderForContainers || dev.AzurePolicyAddon, "dev: off by default")

	v := valid("dev")
	v["defenderForContainers"] = "on"
	_, err = load(t, v)
	assert.ErrorContains(t, err, Project+":defenderForContainers: is on but auditLogs is off")
	v["auditLogs"], v["auditLogRetentionDays"] = "on", "3000"
	_, err = load(t, v)
	assert.ErrorContains(t, err, Project+":auditLogRetentionDays: 3000 is out of range; allowed: 30 to 730")
	v["auditLogs"] = "yes"
	_, err = load(t, v)
	assert.ErrorContains(t, err, Project+`:auditLogs: "yes" is not allowed; allowed: auto, on, off`)
}
