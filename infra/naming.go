package infra

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"regexp"
	"strings"
)

// Azure naming rules the names below satisfy (and tests check).
var (
	// Storage account: 3-24 lowercase letters and digits, globally unique.
	StorageAccountNameRE = regexp.MustCompile(`^[a-z0-9]{3,24}$`)
	// Resource group: 1-90 letters, digits, '-', '_', '.', '(' and ')', not ending in '.'.
	ResourceGroupNameRE = regexp.MustCompile(`^[A-Za-z0-9_.()-]{0,89}[A-Za-z0-9_()-]$`)
	// AKS DNS prefix: 1-54 letters, digits and '-', starting and ending with a letter or digit.
	DNSPrefixRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,52}[a-zA-Z0-9])?$`)
	// AKS cluster: 1-63 letters, digits, '-' and '_', starting and ending with a letter or digit.
	ClusterNameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?$`)
)

var nonAlnum = regexp.MustCompile(`[^a-z0-9]+`)

// Names derives the Azure names of one region stack. The same project, stack
// and region always give the same names, so a redeploy never renames (and so
// never replaces) a resource.
type Names struct {
	// Suffix is 6 lowercase letters and digits derived from project, stack and
	// region (or the nameSuffix config key), for globally unique names.
	Suffix string
	// Slug is the stack name reduced to lowercase letters, digits and '-'.
	Slug string
	env  Environment
	reg  string
}

// NewNames derives the names of a stack. A nameSuffix from config replaces
// the derived suffix.
func NewNames(c *Config) Names {
	suffix := c.NameSuffix
	if suffix == "" {
		suffix = StableSuffix(c.Project, c.Stack, c.Region)
	}
	slug := strings.Trim(nonAlnum.ReplaceAllString(strings.ToLower(c.Stack), "-"), "-")
	if slug == "" {
		slug = "stack"
	}
	return Names{Suffix: suffix, Slug: slug, env: c.Environment, reg: c.Region}
}

// StableSuffix hashes its parts into 6 characters of [a-z2-7].
func StableSuffix(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return strings.ToLower(base32.StdEncoding.EncodeToString(sum[:]))[:6]
}

// ResourceGroup is the stack's resource group, e.g. "rg-moodle-prod-westeurope".
func (n Names) ResourceGroup() string {
	return truncate(fmt.Sprintf("rg-moodle-%s-%s", n.Slug, n.reg), 90)
}

// StorageAccount names a storage account for a purpose of up to 5 lowercase
// letters ("files", "bkp"), e.g. "stmdlbkpprodk3j2xq": globally unique through
// the suffix, at most 24 characters.
func (n Names) StorageAccount(purpose string) string {
	p := nonAlnum.ReplaceAllString(strings.ToLower(purpose), "")
	if len(p) > 5 {
		p = p[:5]
	}
	env := string(n.env)
	if len(env) > 4 {
		env = env[:4]
	}
	return "stmdl" + p + env + n.Suffix
}

// Cluster is the AKS cluster name, e.g. "aks-moodle-prod".
func (n Names) Cluster() string {
	return strings.TrimRight(truncate("aks-moodle-"+n.Slug, 63), "-_")
}

// DNSPrefix is the AKS DNS prefix; the suffix keeps the API server FQDN
// unique across subscriptions.
func (n Names) DNSPrefix() string {
	return strings.TrimRight(truncate("moodle-"+n.Slug, 54-len(n.Suffix)-1), "-") + "-" + n.Suffix
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Tags are the standard tags every Azure resource that takes tags carries.
func Tags(c *Config) map[string]string {
	return map[string]string{
		"environment": string(c.Environment),
		"region":      c.Region,
		"residency":   c.Residency,
		"managed-by":  "pulumi",
		"project":     c.Project,
		"stack":       c.Stack,
	}
}

// StandardTagKeys are the keys of Tags, for policy checks.
var StandardTagKeys = []string{"environment", "region", "residency", "managed-by", "project", "stack"}

// VNet is the region's virtual network, e.g. "vnet-moodle-prod-eastus2".
func (n Names) VNet() string {
	return truncate(fmt.Sprintf("vnet-moodle-%s-%s", n.Slug, n.reg), 64)
}

// NodeResourceGroup is the group AKS creates for the cluster's nodes.
func (n Names) NodeResourceGroup() string {
	return truncate(n.ResourceGroup(), 74) + "-nodes"
}

// DiskResourceGroup holds the stack's data disks (MySQL, Redis): a group
// the stack owns, so deleting the cluster (and with it the node resource
// group) leaves them.
func (n Names) DiskResourceGroup() string {
	return truncate(n.ResourceGroup(), 84) + "-disks"
}

// LogWorkspace is the stack's Log Analytics workspace (audit trail), e.g.
// "log-moodle-prod-eastus2" (4-63 letters, digits and '-').
func (n Names) LogWorkspace() string {
	return truncate(fmt.Sprintf("log-moodle-%s-%s", n.Slug, n.reg), 63)
}

// IngressIP is the ingress gateway's public IP, e.g. "pip-moodle-prod-eastus2-ingress".
func (n Names) IngressIP() string {
	return truncate(fmt.Sprintf("pip-moodle-%s-%s", n.Slug, n.reg), 72) + "-ingress"
}

// Identity names a workload's managed identity, e.g. "id-moodle-prod-eastus2-backup".
func (n Names) Identity(workload string) string {
	return truncate(fmt.Sprintf("id-moodle-%s-%s", n.Slug, n.reg), 100) + "-" + workload
}

// The tag that marks the one public IP a region stack may own, the ingress
// gateway's; the AKS component sets it and the policy pack checks it.
const (
	IngressIPTagKey   = "purpose"
	IngressIPTagValue = "ingress"
)
