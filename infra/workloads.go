package infra

// Workload is a Kubernetes service account that an Azure managed identity
// is federated with (AKS workload identity). The Azure platform creates the
// identities; the in-cluster components create the namespaces and service
// accounts with these names and the identity's client ID annotation.
type Workload struct {
	// Name is the workload's short name, used in Azure names.
	Name string
	// Namespace and ServiceAccount form the federated subject
	// system:serviceaccount:<Namespace>:<ServiceAccount>.
	Namespace      string
	ServiceAccount string
}

// The workloads that touch Azure, each with the least it needs.
var (
	// BackupWorkload writes database dumps and moodledata copies to the
	// backup container.
	BackupWorkload = Workload{Name: "backup", Namespace: "data", ServiceAccount: "backup"}
	// MigrationWorkload reads the old site's dumps staged in the backup
	// container during a migration.
	MigrationWorkload = Workload{Name: "migration", Namespace: "moodle", ServiceAccount: "migration"}
	// CertManagerWorkload answers ACME DNS-01 challenges in the site's zone.
	CertManagerWorkload = Workload{Name: "certmanager", Namespace: "cert-manager", ServiceAccount: "cert-manager"}
)
