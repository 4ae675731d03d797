package argcheck

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
)

func TestPlacement(t *testing.T) {
	assert.Empty(t, Placement(pulumi.String("rg"), true, "uksouth", map[string]string{"a": "b"}))
	assert.Empty(t, Placement(nil, false, "uksouth", map[string]string{"a": "b"}), "a group is not needed when the component makes it")

	errs := Placement(nil, true, "", nil)
	assert.Len(t, errs, 3)
	assert.EqualError(t, errs[0], "resourceGroupName is required")
	assert.EqualError(t, errs[1], "location is required")
	assert.EqualError(t, errs[2], "tags are required (infra.Tags)")
}
