// Package resourcegroup provides the ResourceGroup component: the Azure
// resource group that holds everything one region stack creates.
package resourcegroup

import (
	"errors"
	"fmt"

	"github.com/fieldcert/moodle-aks/components/dataprotect"
	"github.com/fieldcert/moodle-aks/components/internal/argcheck"
	"github.com/fieldcert/moodle-aks/components/internal/locks"
	"github.com/fieldcert/moodle-aks/infra"
	"github.com/pulumi/pulumi-azure-native-sdk/resources/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the component's type; with the child names it forms URNs,
// so changing it needs pulumi.Aliases.
const TypeToken = "moodle:resourcegroup:ResourceGroup"

// Args configures a ResourceGroup.
type Args struct {
	// Name is the Azure name of the group (required; Azure's name rules).
	Name string
	// Location is the ARM region name (required), e.g. "westeurope".
	Location string
	// Tags go on the group (required: the standard tags of infra.Tags).
	Tags map[string]string
	// Protection is the stack's data protection mode (required). Deleting a
	// resource group deletes everything in it, data included, so the group
	// is protected (or retained) exactly like the data resources it holds.
	Protection infra.DataProtection
	// Lock puts a CanNotDelete management lock on the group: Azure then
	// refuses to delete it or anything in it (prod's data disks).
	Lock bool
}

// ResourceGroup is a component holding one Azure resource group.
type ResourceGroup struct {
	pulumi.ResourceState

	// Name is the Azure name of the group, for resourceGroupName inputs.
	Name pulumi.StringOutput
	// ID is the ARM ID of the group, for role assignment scopes.
	ID pulumi.IDOutput
	// Location is the group's region.
	Location pulumi.StringOutput
}

func (a *Args) validate() error {
	errs := argcheck.Placement(nil, false, a.Location, a.Tags)
	if !infra.ResourceGroupNameRE.MatchString(a.Name) {
		errs = append(errs, fmt.Errorf("name %q breaks Azure's resource group rule (1-90 of A-Z a-z 0-9 - _ . ( ), not ending in '.')", a.Name))
	}
	return errors.Join(errs...)
}

// New registers a resource group component named name.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*ResourceGroup, error) {
	if args == nil {
		return nil, fmt.Errorf("resource group %q: args are required", name)
	}
	a := *args
	protect, perr := dataprotect.Options(a.Protection)
	if err := errors.Join(a.validate(), perr); err != nil {
		return nil, fmt.Errorf("resource group %q: %w", name, err)
	}

	c := &ResourceGroup{}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registering resource group component %q: %w", name, err)
	}
	rg, err := resources.NewResourceGroup(ctx, name+"-rg", &resources.ResourceGroupArgs{
		ResourceGroupName: pulumi.String(a.Name),
		Location:          pulumi.String(a.Location),
		Tags:              pulumi.ToStringMap(a.Tags),
	}, append([]pulumi.ResourceOption{pulumi.Parent(c)}, protect...)...)
	if err != nil {
		return nil, fmt.Errorf("creating resource group %q: %w", a.Name, err)
	}
	if a.Lock {
		if _, err := locks.CanNotDelete(ctx, name+"-lock", rg.ID().ToStringOutput(), "resource group "+a.Name, pulumi.Parent(c)); err != nil {
			return nil, err
		}
	}
	c.Name = rg.Name
	c.ID = rg.ID()
	c.Location = rg.Location
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"name":     rg.Name,
		"id":       rg.ID(),
		"location": rg.Location,
	}); err != nil {
		return nil, fmt.Errorf("registering outputs of resource group %q: %w", name, err)
	}
	return c, nil
}
