// Package helm holds what the components that install Helm charts share:
// the chart repositories (one place), typed values turned into the
// release's values map, and the release itself with the options every
// chart gets.
package helm

import (
	"encoding/json"
	"fmt"
	"regexp"

	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Official chart repositories.
const (
	IstioRepo               = "https://istio-release.storage.googleapis.com/charts"
	JetstackRepo            = "https://charts.jetstack.io"
	PrometheusCommunityRepo = "https://prometheus-community.github.io/helm-charts"
)

// exactVersionRE accepts exact chart versions only: no ranges, no "latest".
var exactVersionRE = regexp.MustCompile(`^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)

// Chart names one chart of a repository at an exact version.
type Chart struct {
	Repo    string
	Name    string
	Version string
}

// Validate refuses a chart without an exact version.
func (c Chart) Validate() error {
	if c.Repo == "" || c.Name == "" {
		return fmt.Errorf("chart %q needs a repository and a name", c.Name)
	}
	if !exactVersionRE.MatchString(c.Version) {
		return fmt.Errorf("chart %s version %q is not an exact version", c.Name, c.Version)
	}
	return nil
}

// Values turns typed chart values (a struct with json tags, named as in
// the chart's values.yaml at the pinned version) into a release's values.
func Values(v any) (pulumi.Map, error) {
	m, err := PlainValues(v)
	if err != nil {
		return nil, err
	}
	return pulumi.ToMap(m), nil
}

// PlainValues is Values as plain Go maps, for use inside an Apply.
func PlainValues(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding chart values: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decoding chart values: %w", err)
	}
	return m, nil
}

// Release installs a chart into an existing namespace as release name,
// with values from Values (or an output of them).
func Release(ctx *pulumi.Context, resourceName, name, namespace string, c Chart, values pulumi.MapInput, opts ...pulumi.ResourceOption) (*helmv3.Release, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	rel, err := helmv3.NewRelease(ctx, resourceName, &helmv3.ReleaseArgs{
		Name:           pulumi.String(name),
		Namespace:      pulumi.String(namespace),
		Chart:          pulumi.String(c.Name),
		Version:        pulumi.String(c.Version),
		RepositoryOpts: &helmv3.RepositoryOptsArgs{Repo: pulumi.String(c.Repo)},
		Values:         values,
		// Namespaces are created, labelled and policed by package namespaces.
		CreateNamespace: pulumi.Bool(false),
		// Roll back a failed upgrade instead of leaving it half applied.
		Atomic:        pulumi.Bool(true),
		CleanupOnFail: pulumi.Bool(true),
		Timeout:       pulumi.Int(900),
		MaxHistory:    pulumi.Int(10),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("installing chart %s as %s/%s: %w", c.Name, namespace, name, err)
	}
	return rel, nil
}
