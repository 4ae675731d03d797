// Package identity provides WorkloadIdentity: a user-assigned managed
// identity, optionally federated with one Kubernetes service account
// (AKS workload identity, so pods need no keys), and its role assignments,
// each scoped to the one resource it needs.
package identity

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/fieldcert/moodle-aks/components/internal/argcheck"
	"github.com/pulumi/pulumi-azure-native-sdk/authorization/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/managedidentity/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the component's type; with the child names it forms URNs.
const TypeToken = "moodle:identity:WorkloadIdentity"

// Built-in Azure role definition IDs the program grants.
// https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
const (
	// RoleStorageBlobDataContributor reads, writes and deletes blobs.
	RoleStorageBlobDataContributor = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
	// RoleStorageBlobDataReader reads and lists blobs, nothing more.
	RoleStorageBlobDataReader = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
	// RoleNetworkContributor manages networks; AKS needs it to join its
	// subnet and to attach the ingress public IP to its load balancer.
	RoleNetworkContributor = "4d97b98b-1d4f-4787-a291-c67834d212e7"
	// RoleContributor manages every resource in its scope (never granted
	// above one resource group that holds only data disks).
	RoleContributor = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	// RoleDNSZoneContributor manages records of a DNS zone (ACME DNS-01).
	RoleDNSZoneContributor = "befefa01-2a29-4197-83a8-272ff33ce314"
)

// nameGUID derives a stable GUID (RFC 4122 version 5 layout) from a role's
// name: the same stack defines the same role ID on every run.
func nameGUID(name string) string {
	h := sha1.Sum([]byte("moodle-aks role " + name))
	h[6] = (h[6] & 0x0f) | 0x50
	h[8] = (h[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// tokenAudience is the audience of AKS workload identity tokens.
const tokenAudience = "api://AzureADTokenExchange"

var (
	guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	// Kubernetes names: RFC 1123 labels.
	k8sNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
)

// CustomRole is a role the program defines with only the actions one
// workload needs, where no built-in role is that narrow.
type CustomRole struct {
	// Name is the role's tenant-unique name; Description says what for.
	Name, Description string
	// Actions (ARM) and DataActions (data plane) the role allows.
	Actions, DataActions []string
	// DefinedIn is the resource group the role is defined in and may be
	// assigned under (custom roles are assignable at a management group,
	// subscription or resource group, never a single resource:
	// https://learn.microsoft.com/azure/role-based-access-control/custom-roles,
	// "AssignableScopes").
	DefinedIn pulumi.StringInput
}

// Grant is one role assignment.
type Grant struct {
	// Role is a built-in role definition GUID (the Role* constants); empty
	// with Custom.
	Role string
	// Custom, when set, defines that role and grants it instead.
	Custom *CustomRole
	// Scope is the ARM ID of the one resource the role applies to.
	Scope pulumi.StringInput
	// What names the scope in the child's logical name, e.g. "backups".
	What string
}

// Args configures a WorkloadIdentity.
type Args struct {
	// ResourceGroupName is the group the identity lives in (required).
	ResourceGroupName pulumi.StringInput
	// Location is the ARM region (required).
	Location string
	// Name is the identity's Azure name (required, 3-128 characters).
	Name string
	// Tags go on the identity (required: infra.Tags).
	Tags map[string]string
	// SubscriptionID completes role definition IDs (required with Grants).
	SubscriptionID pulumi.StringInput
	// Issuer is the AKS cluster's OIDC issuer URL; with Namespace and
	// ServiceAccount it federates the identity (optional).
	Issuer pulumi.StringInput
	// Namespace of the federated Kubernetes service account.
	Namespace string
	// ServiceAccount is the federated Kubernetes service account's name.
	ServiceAccount string
	// Grants are the identity's role assignments (optional).
	Grants []Grant
}

// WorkloadIdentity is a managed identity with its federation and grants.
type WorkloadIdentity struct {
	pulumi.ResourceState

	// ID is the identity's ARM ID.
	ID pulumi.IDOutput
	// ClientID goes in the service account's azure.workload.identity/client-id annotation.
	ClientID pulumi.StringOutput
	// PrincipalID is the identity's object ID, for further role assignments.
	PrincipalID pulumi.StringOutput
	// Resources are the identity, its federation and its grants: depend on
	// them, not on the component, to wait for every grant (a component's
	// children are not all known when a dependent registers).
	Resources []pulumi.Resource
}

func (a *Args) validate() error {
	errs := argcheck.Placement(a.ResourceGroupName, true, a.Location, a.Tags)
	if l := len(a.Name); l < 3 || l > 128 {
		errs = append(errs, fmt.Errorf("name %q must be 3-128 characters", a.Name))
	}
	federated := a.Namespace != "" || a.ServiceAccount != ""
	if federated {
		if a.Issuer == nil {
			errs = append(errs, errors.New("issuer is required to federate a service account"))
		}
		if !k8sNameRE.MatchString(a.Namespace) || !k8sNameRE.MatchString(a.ServiceAccount) {
			errs = append(errs, fmt.Errorf("namespace %q and serviceAccount %q must both be Kubernetes names", a.Namespace, a.ServiceAccount))
		}
	}
	if len(a.Grants) > 0 && a.SubscriptionID == nil {
		errs = append(errs, errors.New("subscriptionID is required for grants"))
	}
	for i, g := range a.Grants {
		switch {
		case g.Custom != nil:
			if g.Role != "" || g.Custom.Name == "" || g.Custom.DefinedIn == nil || len(g.Custom.Actions)+len(g.Custom.DataActions) == 0 {
				errs = append(errs, fmt.Errorf("grants[%d].custom needs a name, a group to be defined in and at least one action, and no built-in role", i))
			}
			for _, act := range append(slices.Clone(g.Custom.Actions), g.Custom.DataActions...) {
				if strings.Contains(act, "*") {
					errs = append(errs, fmt.Errorf("grants[%d].custom action %q has a wildcard: name each action", i, act))
				}
			}
		case !guidRE.MatchString(g.Role):
			errs = append(errs, fmt.Errorf("grants[%d].role %q is not a role definition GUID", i, g.Role))
		}
		if g.Scope == nil {
			errs = append(errs, fmt.Errorf("grants[%d].scope is required: grant on one resource, never the subscription", i))
		}
		if !k8sNameRE.MatchString(g.What) {
			errs = append(errs, fmt.Errorf("grants[%d].what %q must be a short lowercase name", i, g.What))
		}
	}
	return errors.Join(errs...)
}

// New registers a workload identity.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*WorkloadIdentity, error) {
	if args == nil {
		return nil, fmt.Errorf("workload identity %q: args are required", name)
	}
	a := *args
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("workload identity %q: %w", name, err)
	}
	c := &WorkloadIdentity{}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("registering workload identity component %q: %w", name, err)
	}
	id, err := managedidentity.NewUserAssignedIdentity(ctx, name+"-identity", &managedidentity.UserAssignedIdentityArgs{
		ResourceName:      pulumi.String(a.Name),
		ResourceGroupName: a.ResourceGroupName,
		Location:          pulumi.String(a.Location),
		Tags:              pulumi.ToStringMap(a.Tags),
	}, pulumi.Parent(c))
	if err != nil {
		return nil, fmt.Errorf("creating managed identity %q: %w", a.Name, err)
	}
	c.Resources = []pulumi.Resource{id}
	if a.ServiceAccount != "" {
		fed, err := managedidentity.NewFederatedIdentityCredential(ctx, name+"-federation", &managedidentity.FederatedIdentityCredentialArgs{
			FederatedIdentityCredentialResourceName: pulumi.String(a.Namespace + "-" + a.ServiceAccount),
			ResourceName:                            id.Name,
			ResourceGroupName:                       a.ResourceGroupName,
			Issuer:                                  a.Issuer,
			Subject:                                 pulumi.String("system:serviceaccount:" + a.Namespace + ":" + a.ServiceAccount),
			Audiences:                               pulumi.StringArray{pulumi.String(tokenAudience)},
		}, pulumi.Parent(c))
		if err != nil {
			return nil, fmt.Errorf("federating %q with %s/%s: %w", a.Name, a.Namespace, a.ServiceAccount, err)
		}
		c.Resources = append(c.Resources, fed)
	}
	for _, g := range a.Grants {
		roleID := pulumi.Sprintf("/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s", a.SubscriptionID, g.Role)
		var after []pulumi.Resource
		if r := g.Custom; r != nil {
			def, err := authorization.NewRoleDefinition(ctx, name+"-"+g.What+"-role-definition", &authorization.RoleDefinitionArgs{
				RoleDefinitionId: pulumi.String(nameGUID(r.Name)),
				RoleName:         pulumi.String(r.Name),
				Description:      pulumi.String(r.Description),
				RoleType:         pulumi.String("CustomRole"),
				Scope:            r.DefinedIn,
				AssignableScopes: pulumi.StringArray{r.DefinedIn},
				Permissions: authorization.PermissionArray{authorization.PermissionArgs{
					Actions: pulumi.ToStringArray(r.Actions), DataActions: pulumi.ToStringArray(r.DataActions),
				}},
			}, pulumi.Parent(c))
			if err != nil {
				return nil, fmt.Errorf("defining role %q: %w", r.Name, err)
			}
			roleID, after = def.ID().ToStringOutput(), []pulumi.Resource{def}
			c.Resources = append(c.Resources, def)
		}
		ra, err := authorization.NewRoleAssignment(ctx, name+"-"+g.What+"-role", &authorization.RoleAssignmentArgs{
			PrincipalId:      id.PrincipalId,
			PrincipalType:    pulumi.String("ServicePrincipal"),
			RoleDefinitionId: roleID,
			Scope:            g.Scope,
		}, pulumi.Parent(c), pulumi.DependsOn(after))
		if err != nil {
			return nil, fmt.Errorf("granting %q role %s on %s: %w", a.Name, g.Role, g.What, err)
		}
		c.Resources = append(c.Resources, ra)
	}
	c.ID, c.ClientID, c.PrincipalID = id.ID(), id.ClientId, id.PrincipalId
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"id": id.ID(), "clientId": id.ClientId, "principalId": id.PrincipalId,
	}); err != nil {
		return nil, fmt.Errorf("registering outputs of workload identity %q: %w", name, err)
	}
	return c, nil
}
