// Package dataprotect turns a stack's data protection mode into the Pulumi
// resource options that every data resource (storage accounts, shares,
// containers, disks, volumes) is registered with.
package dataprotect

import (
	"fmt"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Options returns the options for mode: Protect makes Pulumi refuse any
// delete or replace until someone runs `pulumi state unprotect`; Retain
// leaves the resource in Azure when Pulumi deletes it; NoProtection adds
// nothing. An unknown mode is an error rather than silently unprotected.
func Options(mode infra.DataProtection) ([]pulumi.ResourceOption, error) {
	switch mode {
	case infra.Protect:
		// RetainOnDelete as well: if someone unprotects to move a resource,
		// a delete still leaves the data in Azure.
		return []pulumi.ResourceOption{pulumi.Protect(true), pulumi.RetainOnDelete(true)}, nil
	case infra.Retain:
		return []pulumi.ResourceOption{pulumi.RetainOnDelete(true)}, nil
	case infra.NoProtection:
		return nil, nil
	}
	return nil, fmt.Errorf("data protection %q is not one of protect, retain, none", mode)
}
