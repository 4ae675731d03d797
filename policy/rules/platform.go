package rules

import (
	"fmt"
	"slices"

	"github.com/fieldcert/moodle-aks/infra"
)

// Type tokens the platform rules look at (API versions dropped, BaseType).
const (
	typeCluster      = "azure-native:containerservice:ManagedCluster"
	typeAgentPool    = "azure-native:containerservice:AgentPool"
	typeAccount      = "azure-native:storage:StorageAccount"
	typeFileShare    = "azure-native:storage:FileShare"
	typeContainer    = "azure-native:storage:BlobContainer"
	typeResGroup     = "azure-native:resources:ResourceGroup"
	typePublicIP     = "azure-native:network:PublicIPAddress"
	fileStorageKind  = "FileStorage"
	tls12            = "TLS1_2"
	publicAccessDeny = "Disabled"
)

// pool is one node pool as the rules see it.
type pool struct {
	name string
	in   map[string]any
}

// pools returns the node pools of a resource: the profiles declared inside
// a cluster, or an AgentPool itself.
func pools(r Resource) []pool {
	switch BaseType(r.Type) {
	case typeCluster:
		var out []pool
		profiles, _ := r.Input("agentPoolProfiles").([]any)
		for _, p := range profiles {
			if m, ok := p.(map[string]any); ok {
				name, _ := m["name"].(string)
				out = append(out, pool{name, m})
			}
		}
		return out
	case typeAgentPool:
		return []pool{{r.String("agentPoolName"), r.Inputs}}
	}
	return nil
}

// AKSAutoscaling requires the cluster autoscaler on every pool.
var AKSAutoscaling = Rule{
	ID:          "aks-autoscaling",
	Description: "Every AKS node pool has the cluster autoscaler on, with minCount <= maxCount, so capacity follows load and scales back down.",
	Enforcement: Mandatory,
	Check: perResource(func(s *Stack, r Resource) []string {
		var out []string
		for _, p := range pools(r) {
			on, _ := p.in["enableAutoScaling"].(bool)
			lo, okLo := p.in["minCount"].(float64)
			hi, okHi := p.in["maxCount"].(float64)
			switch {
			case !on:
				out = append(out, fmt.Sprintf("node pool %q has the cluster autoscaler off", p.name))
			case !okLo || !okHi:
				out = append(out, fmt.Sprintf("node pool %q has no minCount/maxCount", p.name))
			case lo > hi:
				out = append(out, fmt.Sprintf("node pool %q has minCount %v above maxCount %v", p.name, lo, hi))
			}
		}
		return out
	}),
}

// AKSLocalAccounts requires Entra ID as the only way into prod clusters.
var AKSLocalAccounts = Rule{
	ID:          "aks-local-accounts",
	Description: "Prod AKS clusters disable local accounts and use Entra ID with Azure RBAC, so every access is a named identity.",
	Enforcement: Mandatory,
	Check: perResource(func(s *Stack, r Resource) []string {
		if BaseType(r.Type) != typeCluster || s.Environment != string(infra.Prod) {
			return nil
		}
		var out []string
		if v, _ := r.Input("disableLocalAccounts").(bool); !v {
			out = append(out, fmt.Sprintf("cluster %q keeps local accounts in prod", r.Name))
		}
		if v, _ := r.Input("aadProfile.enableAzureRBAC").(bool); !v {
			out = append(out, fmt.Sprintf("cluster %q does not use Azure RBAC for Kubernetes authorization", r.Name))
		}
		return out
	}),
}

// AKSZones requires prod pools to span zones where the region has them.
var AKSZones = Rule{
	ID:          "aks-zones",
	Description: "In prod, where the region has availability zones, every AKS node pool spans at least two of them.",
	Enforcement: Mandatory,
	Check: perResource(func(s *Stack, r Resource) []string {
		reg, _ := infra.LookupRegion(s.Region)
		if s.Environment != string(infra.Prod) || !reg.Zones {
			return nil
		}
		var out []string
		for _, p := range pools(r) {
			if zones, _ := p.in["availabilityZones"].([]any); len(zones) < 2 {
				out = append(out, fmt.Sprintf("node pool %q uses %d zones; %s has 3", p.name, len(zones), s.Region))
			}
		}
		return out
	}),
}

// AKSAPIRestricted requires a private or IP-restricted API server.
var AKSAPIRestricted = Rule{
	ID:          "aks-api-restricted",
	Description: "The AKS API server is private or limited to authorized IP ranges, never open to the whole internet.",
	Enforcement: Mandatory,
	Check: perResource(func(s *Stack, r Resource) []string {
		if BaseType(r.Type) != typeCluster {
			return nil
		}
		if private, _ := r.Input("apiServerAccessProfile.enablePrivateCluster").(bool); private {
			return nil
		}
		ranges, _ := r.Input("apiServerAccessProfile.authorizedIPRanges").([]any)
		if len(ranges) == 0 {
			return []string{fmt.Sprintf("cluster %q has a public API server with no authorized IP ranges", r.Name)}
		}
		if slices.Contains(ranges, any("0.0.0.0/0")) {
			return []string{fmt.Sprintf("cluster %q authorizes 0.0.0.0/0 on its API server", r.Name)}
		}
		return nil
	}),
}

// StorageSecureTransport requires TLS 1.2 and HTTPS.
var StorageSecureTransport = Rule{
	ID: "storage-secure-transport",
	Description: "Storage accounts require TLS 1.2 and HTTPS. The one exception is the Premium FileStorage account " +
		"of the NFS shares (NFS cannot mount with secure transfer required): it must then be unreachable from public networks.",
	Enforcement: Mandatory,
	Check: perResource(func(s *Stack, r Resource) []string {
		if BaseType(r.Type) != typeAccount {
			return nil
		}
		var out []string
		if r.String("minimumTlsVersion") != tls12 {
			out = append(out, fmt.Sprintf("storage account %q allows TLS below 1.2", r.Name))
		}
		if https, _ := r.Input("enableHttpsTrafficOnly").(bool); !https {
			if r.String("kind") != fileStorageKind || r.String("publicNetworkAccess") != publicAccessDeny {
				out = append(out, fmt.Sprintf("storage account %q allows plain HTTP", r.Name))
			}
		}
		return out
	}),
}

// StorageNoPublicAccess refuses anonymous blobs and a public file account.
var StorageNoPublicAccess = Rule{
	ID:          "storage-no-public-access",
	Description: "No storage account allows anonymous blob access, and the file account (moodledata) has public network access disabled.",
	Enforcement: Mandatory,
	Check: perResource(func(s *Stack, r Resource) []string {
		if BaseType(r.Type) != typeAccount {
			return nil
		}
		var out []string
		if v, ok := r.Input("allowBlobPublicAccess").(bool); !ok || v {
			out = append(out, fmt.Sprintf("storage account %q does not turn anonymous blob access off", r.Name))
		}
		if r.String("kind") == fileStorageKind && r.String("publicNetworkAccess") != publicAccessDeny {
			out = append(out, fmt.Sprintf("file storage account %q is reachable from public networks", r.Name))
		}
		return out
	}),
}

// DataProtected requires prod data resources to be protected.
var DataProtected = Rule{
	ID:          "data-protected",
	Description: "In prod, resource groups, storage accounts, file shares and blob containers are protected, so no update or destroy deletes data by accident.",
	Enforcement: Mandatory,
	Check: perResource(func(s *Stack, r Resource) []string {
		if s.Environment != string(infra.Prod) {
			return nil
		}
		switch BaseType(r.Type) {
		case typeResGroup, typeAccount, typeFileShare, typeContainer:
			if !r.Protect {
				return []string{fmt.Sprintf("%s %q holds data and is not protected", r.Type, r.Name)}
			}
		}
		return nil
	}),
}

// PublicIPIngressOnly allows one public IP: the ingress gateway's.
var PublicIPIngressOnly = Rule{
	ID:          "public-ip-ingress-only",
	Description: "The only public IP of a region stack is the ingress load balancer's (tag purpose=ingress); nodes get no public IPs.",
	Enforcement: Mandatory,
	Check: func(s *Stack) []Finding {
		var out []Finding
		ingress := 0
		for _, r := range s.Resources {
			if BaseType(r.Type) == typePublicIP {
				if r.String("tags."+infra.IngressIPTagKey) != infra.IngressIPTagValue {
					out = append(out, Finding{r.URN, fmt.Sprintf("public IP %q is not the ingress IP (tag %s=%s)", r.Name, infra.IngressIPTagKey, infra.IngressIPTagValue)})
				} else if ingress++; ingress > 1 {
					out = append(out, Finding{r.URN, fmt.Sprintf("public IP %q is a second ingress IP", r.Name)})
				}
			}
			for _, p := range pools(r) {
				if v, _ := p.in["enableNodePublicIP"].(bool); v {
					out = append(out, Finding{r.URN, fmt.Sprintf("node pool %q gives nodes public IPs", p.name)})
				}
			}
		}
		return out
	},
}
