// Package argcheck holds the argument checks every Azure component shares,
// so each component's validate lists only what is its own.
package argcheck

import (
	"errors"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Placement checks where an Azure resource goes: its resource group (nil
// when the component creates the group itself, pass requireGroup false),
// its location and its standard tags.
func Placement(group pulumi.StringInput, requireGroup bool, location string, tags map[string]string) []error {
	var errs []error
	if requireGroup && group == nil {
		errs = append(errs, errors.New("resourceGroupName is required"))
	}
	if location == "" {
		errs = append(errs, errors.New("location is required"))
	}
	if len(tags) == 0 {
		errs = append(errs, errors.New("tags are required (infra.Tags)"))
	}
	return errs
}
