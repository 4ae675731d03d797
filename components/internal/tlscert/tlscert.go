// Package tlscert creates the cert-manager Certificates of the data tier:
// server and client certificates signed by the stack's private CA (the
// data-tier-ca ClusterIssuer of package certs), whose secrets carry
// ca.crt, tls.crt and tls.key.
package tlscert

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Spec is one certificate.
type Spec struct {
	// Namespace and SecretName place the key pair.
	Namespace, SecretName string
	// CommonName names the holder (a client's identity).
	CommonName string
	// DNSNames are the server names it is valid for (none for a client).
	DNSNames []string
	// Client adds client authentication to its usages; Server adds server
	// authentication.
	Client, Server bool
	// Issuer is the ClusterIssuer that signs it (required).
	Issuer string
}

// New registers the Certificate name. A year's lifetime, renewed a month
// ahead: the data stores restart (one member at a time) when their
// certificate changes, so it should not change often.
func New(ctx *pulumi.Context, name string, s Spec, opts ...pulumi.ResourceOption) (pulumi.Resource, error) {
	if s.Namespace == "" || s.SecretName == "" || s.Issuer == "" || (!s.Client && !s.Server) {
		return nil, fmt.Errorf("certificate %s needs a namespace, a secret name, an issuer and a usage", name)
	}
	usages := pulumi.StringArray{pulumi.String("digital signature"), pulumi.String("key encipherment")}
	if s.Server {
		usages = append(usages, pulumi.String("server auth"))
	}
	if s.Client {
		usages = append(usages, pulumi.String("client auth"))
	}
	spec := pulumi.Map{
		"secretName": pulumi.String(s.SecretName),
		"issuerRef":  pulumi.Map{"name": pulumi.String(s.Issuer), "kind": pulumi.String("ClusterIssuer"), "group": pulumi.String("cert-manager.io")},
		// RSA: every client here (MySQL, phpredis, redis-cli, HAProxy) takes it.
		"privateKey":  pulumi.Map{"algorithm": pulumi.String("RSA"), "size": pulumi.Int(2048), "rotationPolicy": pulumi.String("Always")},
		"duration":    pulumi.String("8760h"),
		"renewBefore": pulumi.String("720h"),
		"usages":      usages,
	}
	if s.CommonName != "" {
		spec["commonName"] = pulumi.String(s.CommonName)
	}
	if len(s.DNSNames) > 0 {
		spec["dnsNames"] = pulumi.ToStringArray(s.DNSNames)
	}
	cert, err := apiextensions.NewCustomResource(ctx, name, &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String("cert-manager.io/v1"),
		Kind:        pulumi.String("Certificate"),
		Metadata:    &metav1.ObjectMetaArgs{Name: pulumi.String(s.SecretName), Namespace: pulumi.String(s.Namespace)},
		OtherFields: kubernetes.UntypedArgs{"spec": spec},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating certificate %s/%s: %w", s.Namespace, s.SecretName, err)
	}
	return cert, nil
}
