// Package certs provides the site's TLS certificate: cert-manager from its
// official chart, Let's Encrypt ClusterIssuers (production and staging)
// that answer DNS-01 on Azure DNS through workload identity or HTTP-01
// through the ingress gateway, and the Certificate whose secret the
// gateway serves.
package certs

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"

	"github.com/fieldcert/moodle-aks/components/internal/helm"
	"github.com/fieldcert/moodle-aks/infra"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the component's type; with the child names it forms URNs.
const TypeToken = "moodle:certs:Certificates"

const certManagerAPI = "cert-manager.io/v1"

// ACME directories of Let's Encrypt.
var acmeServers = map[string]string{
	"production": "https://acme-v02.api.letsencrypt.org/directory",
	"staging":    "https://acme-staging-v02.api.letsencrypt.org/directory",
}

// Azure endpoints the DNS-01 solver calls (Azure public cloud): Resource
// Manager for the zone's records, Entra ID for the workload identity token.
var azureDNSHosts = []string{"management.azure.com", "login.microsoftonline.com"}

// EgressHosts are the internet hosts cert-manager's controller calls on
// 443: the ACME directories of both issuers and, with DNS-01, Azure.
func EgressHosts(challenge string) []string {
	var out []string
	for _, env := range []string{"production", "staging"} {
		u, _ := url.Parse(acmeServers[env])
		out = append(out, u.Hostname())
	}
	if challenge == "dns01" {
		out = append(out, azureDNSHosts...)
	}
	return out
}

// IssuerName returns the ClusterIssuer of an ACME environment.
func IssuerName(environment string) string { return "letsencrypt-" + environment }

// SolverIngressClass is the ingress class of cert-manager's HTTP-01 solver
// Ingress. No controller serves it: the mesh routes the challenge path to
// the solver pods itself (mesh.ACMESolverService), so Istio's own Ingress
// support never creates a second server for the site's host.
const SolverIngressClass = "acme-solver-via-mesh"

var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

// AzureDNS is where DNS-01 challenges are written.
type AzureDNS struct {
	// SubscriptionID holds the zone.
	SubscriptionID pulumi.StringInput
	// ZoneResourceGroup and ZoneName name the zone.
	ZoneResourceGroup, ZoneName string
	// ClientID is cert-manager's workload identity (infra.CertManagerWorkload).
	ClientID pulumi.StringInput
}

// Args configures the certificates.
type Args struct {
	// Version is the exact cert-manager chart version (required).
	Version string
	// Hostname is the site's name (required).
	Hostname string
	// Email is the ACME account's contact (required).
	Email string
	// Challenge is "dns01" (needs DNS) or "http01".
	Challenge string
	// Environment picks the issuer: "production" or "staging".
	Environment string
	// DNS is required with dns01.
	DNS *AzureDNS
	// Replicas of the controller and webhook (2 in prod).
	Replicas int
	// GatewayNamespace is where the ingress gateway reads the certificate's
	// secret (infra.MeshLayout.GatewayNamespace, required).
	GatewayNamespace string
	// Namespaces are created first (required).
	Namespaces []pulumi.Resource
	// Gateway is the mesh's last release: the Certificate's secret is read
	// by it, and HTTP-01 needs its routes (optional).
	Gateway pulumi.Resource
}

// Certificates is cert-manager with its issuers and the site certificate.
type Certificates struct {
	pulumi.ResourceState

	// Issuer is the ClusterIssuer the site certificate uses.
	Issuer string
	// Release is cert-manager's Helm release; objects of its kinds depend on it.
	Release pulumi.Resource
	// DataIssuer is the ClusterIssuer of the data tier's private CA
	// (DataIssuerName); DataIssuerReady is it, for dependencies.
	DataIssuer      string
	DataIssuerReady pulumi.Resource
}

// DataIssuerName is the ClusterIssuer that signs the data tier's TLS
// certificates (MySQL, Redis) and the clients' (Moodle, the backup Jobs):
// a CA of the stack's own, so the data stores outside the mesh still talk
// TLS, and the sessions Redis checks its clients' certificates.
const DataIssuerName = "data-tier-ca"

// dataCASecret holds the CA's key pair, in cert-manager's namespace (a CA
// ClusterIssuer reads its secret there, the cluster resource namespace).
const dataCASecret = "data-tier-ca"

func (a *Args) validate() error {
	var errs []error
	if err := (helm.Chart{Repo: helm.JetstackRepo, Name: "cert-manager", Version: a.Version}).Validate(); err != nil {
		errs = append(errs, err)
	}
	if a.Hostname == "" {
		errs = append(errs, errors.New("hostname is required"))
	}
	if !emailRE.MatchString(a.Email) {
		errs = append(errs, fmt.Errorf("email %q is not an email address", a.Email))
	}
	if !slices.Contains([]string{"dns01", "http01"}, a.Challenge) {
		errs = append(errs, fmt.Errorf("challenge %q is not dns01 or http01", a.Challenge))
	}
	if a.Challenge == "dns01" && (a.DNS == nil || a.DNS.SubscriptionID == nil || a.DNS.ClientID == nil || a.DNS.ZoneName == "" || a.DNS.ZoneResourceGroup == "") {
		errs = append(errs, errors.New("dns01 needs the Azure DNS zone, its subscription and cert-manager's client ID"))
	}
	if _, ok := acmeServers[a.Environment]; !ok {
		errs = append(errs, fmt.Errorf("environment %q is not production or staging", a.Environment))
	}
	if a.Replicas < 1 {
		errs = append(errs, fmt.Errorf("replicas %d must be at least 1", a.Replicas))
	}
	if len(a.Namespaces) == 0 || a.GatewayNamespace == "" {
		errs = append(errs, errors.New("namespaces and the gateway's namespace are required"))
	}
	return errors.Join(errs...)
}

// chartValues are cert-manager's values this component sets, named as in
// the chart's values.yaml at the pinned version.
type chartValues struct {
	CRDs struct {
		Enabled bool `json:"enabled"`
		// Keep the CRDs (and so every Certificate) if the release goes.
		Keep bool `json:"keep"`
	} `json:"crds"`
	ReplicaCount int `json:"replicaCount"`
	// The workload identity webhook injects the Azure token into pods
	// with this label.
	PodLabels      map[string]string `json:"podLabels"`
	ServiceAccount struct {
		Name string `json:"name"`
	} `json:"serviceAccount"`
	PodDisruptionBudget struct {
		Enabled bool `json:"enabled"`
	} `json:"podDisruptionBudget"`
	Webhook    replicated `json:"webhook"`
	Cainjector replicated `json:"cainjector"`
	// ExtraArgs are the controller's flags.
	ExtraArgs []string `json:"extraArgs"`
}

// replicated is the replica count and disruption budget of one of the
// chart's Deployments.
type replicated struct {
	ReplicaCount        int `json:"replicaCount"`
	PodDisruptionBudget struct {
		Enabled bool `json:"enabled"`
	} `json:"podDisruptionBudget"`
}

func (a *Args) values() chartValues {
	var v chartValues
	v.CRDs.Enabled, v.CRDs.Keep = true, true
	v.ReplicaCount = a.Replicas
	v.PodLabels = map[string]string{"azure.workload.identity/use": "true"}
	v.ServiceAccount.Name = infra.CertManagerWorkload.ServiceAccount
	v.PodDisruptionBudget.Enabled = a.Replicas > 1
	// The webhook is failurePolicy Fail: a drain must leave one running.
	v.Webhook.ReplicaCount, v.Webhook.PodDisruptionBudget.Enabled = a.Replicas, a.Replicas > 1
	v.Cainjector.ReplicaCount, v.Cainjector.PodDisruptionBudget.Enabled = a.Replicas, a.Replicas > 1
	// DNS-01 self-check through the cluster's resolver (kube-dns, which the
	// namespace may reach), not by asking the zone's nameservers on port 53
	// directly, which the namespace's NetworkPolicy does not allow.
	v.ExtraArgs = []string{"--dns01-recursive-nameservers-only"}
	return v
}

// New installs cert-manager, the issuers and the site certificate.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Certificates, error) {
	if args == nil {
		return nil, fmt.Errorf("certificates %q: args are required", name)
	}
	a := *args
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("certificates %q: %w", name, err)
	}
	c := &Certificates{Issuer: IssuerName(a.Environment)}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registering certificates component %q: %w", name, err)
	}
	vals, err := helm.Values(a.values())
	if err != nil {
		return nil, err
	}
	rel, err := helm.Release(ctx, name+"-cert-manager", "cert-manager", infra.NamespaceCertManager,
		helm.Chart{Repo: helm.JetstackRepo, Name: "cert-manager", Version: a.Version}, vals,
		pulumi.Parent(c), pulumi.DependsOn(a.Namespaces))
	if err != nil {
		return nil, err
	}
	c.Release = rel
	after := []pulumi.ResourceOption{pulumi.Parent(c), pulumi.DependsOn([]pulumi.Resource{rel})}

	solver := pulumi.Map{"http01": pulumi.Map{"ingress": pulumi.Map{"ingressClassName": pulumi.String(SolverIngressClass)}}}
	if a.Challenge == "dns01" {
		solver = pulumi.Map{"dns01": pulumi.Map{"azureDNS": pulumi.Map{
			"subscriptionID":    a.DNS.SubscriptionID,
			"resourceGroupName": pulumi.String(a.DNS.ZoneResourceGroup),
			"hostedZoneName":    pulumi.String(a.DNS.ZoneName),
			"environment":       pulumi.String("AzurePublicCloud"),
			// Workload identity: no client secret anywhere.
			"managedIdentity": pulumi.Map{"clientID": a.DNS.ClientID},
		}}}
	}
	envs := []string{"production", "staging"}
	var issuers []pulumi.Resource
	for _, env := range envs {
		iss, err := apiextensions.NewCustomResource(ctx, name+"-issuer-"+env, &apiextensions.CustomResourceArgs{
			ApiVersion: pulumi.String(certManagerAPI),
			Kind:       pulumi.String("ClusterIssuer"),
			Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(IssuerName(env))},
			OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{"acme": pulumi.Map{
				"server":              pulumi.String(acmeServers[env]),
				"email":               pulumi.String(a.Email),
				"privateKeySecretRef": pulumi.Map{"name": pulumi.String(IssuerName(env) + "-account")},
				"solvers":             pulumi.Array{solver},
			}}},
		}, after...)
		if err != nil {
			return nil, fmt.Errorf("creating ClusterIssuer %s: %w", IssuerName(env), err)
		}
		issuers = append(issuers, iss)
	}

	// The data tier's CA: a self-signed root, and the CA issuer it backs.
	selfSigned, err := apiextensions.NewCustomResource(ctx, name+"-selfsigned", &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String(certManagerAPI),
		Kind:        pulumi.String("ClusterIssuer"),
		Metadata:    &metav1.ObjectMetaArgs{Name: pulumi.String("selfsigned")},
		OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{"selfSigned": pulumi.Map{}}},
	}, after...)
	if err != nil {
		return nil, fmt.Errorf("creating the self-signed ClusterIssuer: %w", err)
	}
	ca, err := apiextensions.NewCustomResource(ctx, name+"-data-ca", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String(certManagerAPI),
		Kind:       pulumi.String("Certificate"),
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(dataCASecret), Namespace: pulumi.String(infra.NamespaceCertManager)},
		OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{
			"isCA":       pulumi.Bool(true),
			"commonName": pulumi.String("moodle-aks data tier CA"),
			"secretName": pulumi.String(dataCASecret),
			"issuerRef":  pulumi.Map{"name": pulumi.String("selfsigned"), "kind": pulumi.String("ClusterIssuer")},
			"privateKey": pulumi.Map{"algorithm": pulumi.String("ECDSA"), "size": pulumi.Int(256)},
			// Ten years, renewed a year ahead; the leaf certificates it signs
			// carry ca.crt, so a renewed CA reaches every client with them.
			"duration":    pulumi.String("87600h"),
			"renewBefore": pulumi.String("8760h"),
		}},
	}, append(after, pulumi.DependsOn([]pulumi.Resource{selfSigned}))...)
	if err != nil {
		return nil, fmt.Errorf("creating the data tier CA: %w", err)
	}
	dataIssuer, err := apiextensions.NewCustomResource(ctx, name+"-data-issuer", &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String(certManagerAPI),
		Kind:        pulumi.String("ClusterIssuer"),
		Metadata:    &metav1.ObjectMetaArgs{Name: pulumi.String(DataIssuerName)},
		OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{"ca": pulumi.Map{"secretName": pulumi.String(dataCASecret)}}},
	}, append(after, pulumi.DependsOn([]pulumi.Resource{ca}))...)
	if err != nil {
		return nil, fmt.Errorf("creating the data tier ClusterIssuer: %w", err)
	}
	c.DataIssuer, c.DataIssuerReady = DataIssuerName, dataIssuer

	deps := issuers
	if a.Gateway != nil {
		deps = append(deps, a.Gateway)
	}
	if _, err := apiextensions.NewCustomResource(ctx, name+"-site", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String(certManagerAPI),
		Kind:       pulumi.String("Certificate"),
		// In the gateway's namespace: Istio reads credentialName there.
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("site"), Namespace: pulumi.String(a.GatewayNamespace)},
		OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{
			"secretName": pulumi.String(infra.SiteTLSSecret),
			"dnsNames":   pulumi.StringArray{pulumi.String(a.Hostname)},
			"issuerRef":  pulumi.Map{"name": pulumi.String(c.Issuer), "kind": pulumi.String("ClusterIssuer")},
			"privateKey": pulumi.Map{"algorithm": pulumi.String("ECDSA"), "size": pulumi.Int(256), "rotationPolicy": pulumi.String("Always")},
			// Renew a month ahead: time to notice and fix a failing renewal.
			"renewBefore": pulumi.String("720h"),
		}},
	}, pulumi.Parent(c), pulumi.DependsOn(deps)); err != nil {
		return nil, fmt.Errorf("creating the site certificate: %w", err)
	}
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"issuer": pulumi.String(c.Issuer)}); err != nil {
		return nil, fmt.Errorf("registering outputs of certificates %q: %w", name, err)
	}
	return c, nil
}
