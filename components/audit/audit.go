// Package audit provides Trail: the stack's Log Analytics workspace, in the
// stack's own region, and the diagnostic settings that send it who did
// what: the AKS API server's audit log (kube-audit-admin: every request
// that changes something, and who made it) and its Entra ID authentication
// (guard), and every read, write and delete of the storage accounts' data.
// Without them a breach of learners' data could be neither detected nor
// scoped.
package audit

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/fieldcert/moodle-aks/components/internal/argcheck"
	"github.com/pulumi/pulumi-azure-native-sdk/insights/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/operationalinsights/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the component's type; with the child names it forms URNs.
const TypeToken = "moodle:audit:Trail"

// Log categories (https://learn.microsoft.com/azure/aks/monitor-aks-reference,
// "Resource logs"; https://learn.microsoft.com/azure/storage/blobs/monitor-blob-storage-reference,
// "Resource logs", read 2026-12-02). kube-audit-admin is kube-audit without
// get and list, which AKS recommends for cost; guard is Entra ID and Azure
// RBAC authentication.
var (
	ClusterCategories = []string{"kube-audit-admin", "guard"}
	StorageCategories = []string{"StorageRead", "StorageWrite", "StorageDelete"}
)

// Args configures a Trail.
type Args struct {
	// ResourceGroupName is the stack's group (required).
	ResourceGroupName pulumi.StringInput
	// Location is the stack's region: the logs stay there (required).
	Location string
	// Name is the workspace's name (required; infra.Names.LogWorkspace).
	Name string
	// RetentionDays is how long the logs are kept, 30-730 (required).
	RetentionDays int
	// Protect keeps the workspace (and its logs) from deletion.
	Protect bool
	// Tags go on the workspace (required: infra.Tags).
	Tags map[string]string
}

// Trail is the workspace the diagnostic settings send to.
type Trail struct {
	pulumi.ResourceState

	// WorkspaceID is the workspace's ARM ID.
	WorkspaceID pulumi.StringOutput
}

var workspaceNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]$`)

func (a *Args) validate() error {
	errs := argcheck.Placement(a.ResourceGroupName, true, a.Location, a.Tags)
	if !workspaceNameRE.MatchString(a.Name) {
		errs = append(errs, fmt.Errorf("workspace name %q is not 4-63 letters, digits and '-'", a.Name))
	}
	if a.RetentionDays < 30 || a.RetentionDays > 730 {
		errs = append(errs, fmt.Errorf("retention %d days is out of Log Analytics' range 30-730", a.RetentionDays))
	}
	return errors.Join(errs...)
}

// New creates the workspace.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Trail, error) {
	if args == nil {
		return nil, fmt.Errorf("audit trail %q: args are required", name)
	}
	a := *args
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("audit trail %q: %w", name, err)
	}
	c := &Trail{}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registering audit trail %q: %w", name, err)
	}
	ws, err := operationalinsights.NewWorkspace(ctx, name+"-workspace", &operationalinsights.WorkspaceArgs{
		WorkspaceName:     pulumi.String(a.Name),
		ResourceGroupName: a.ResourceGroupName,
		Location:          pulumi.String(a.Location),
		Sku:               &operationalinsights.WorkspaceSkuArgs{Name: pulumi.String("PerGB2018")},
		RetentionInDays:   pulumi.Int(a.RetentionDays),
		// Reading it needs Entra ID and a role on the workspace, not a
		// shared key (Log Analytics "local authentication").
		Features: &operationalinsights.WorkspaceFeaturesArgs{DisableLocalAuth: pulumi.Bool(true)},
		Tags:     pulumi.ToStringMap(a.Tags),
	}, pulumi.Parent(c), pulumi.Protect(a.Protect))
	if err != nil {
		return nil, fmt.Errorf("creating the audit workspace %s: %w", a.Name, err)
	}
	c.WorkspaceID = ws.ID().ToStringOutput()
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"workspaceId": c.WorkspaceID}); err != nil {
		return nil, fmt.Errorf("registering outputs of audit trail %q: %w", name, err)
	}
	return c, nil
}

// Source is one resource whose logs go to the trail.
type Source struct {
	// Name is the setting's Pulumi name suffix, e.g. "cluster".
	Name string
	// ResourceURI is the resource's ARM ID (a storage account's service:
	// ".../blobServices/default", ".../fileServices/default").
	ResourceURI pulumi.StringInput
	// Categories are its log categories.
	Categories []string
}

// Send creates one diagnostic setting per source, into the workspace's
// resource-specific tables (Dedicated).
func (c *Trail) Send(ctx *pulumi.Context, name string, sources ...Source) error {
	for _, s := range sources {
		if s.ResourceURI == nil || len(s.Categories) == 0 {
			return fmt.Errorf("audit trail %q: source %q needs a resource and categories", name, s.Name)
		}
		logs := insights.LogSettingsArray{}
		for _, cat := range s.Categories {
			logs = append(logs, &insights.LogSettingsArgs{Category: pulumi.String(cat), Enabled: pulumi.Bool(true)})
		}
		if _, err := insights.NewDiagnosticSetting(ctx, name+"-"+s.Name+"-diagnostics", &insights.DiagnosticSettingArgs{
			Name:                        pulumi.String("moodle-aks-audit"),
			ResourceUri:                 s.ResourceURI,
			WorkspaceId:                 c.WorkspaceID,
			LogAnalyticsDestinationType: pulumi.String("Dedicated"),
			Logs:                        logs,
		}, pulumi.Parent(c)); err != nil {
			return fmt.Errorf("sending the %s logs to the audit trail: %w", s.Name, err)
		}
	}
	return nil
}
