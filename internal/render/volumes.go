package render

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/policy/rules"
)

// DatabaseVolume is one disk that holds the site's database, as a render
// declares it: the claim the StatefulSet (ours, or the operator's) makes.
type DatabaseVolume struct {
	// Claim is the PersistentVolumeClaim's name in the data namespace.
	Claim string
	// Class and GiB are its storage class and size.
	Class string
	GiB   int
	// Legacy marks the single-instance StatefulSet of the versions before
	// the cluster.
	Legacy bool
}

func gib(q string) int {
	n, _ := strconv.Atoi(strings.TrimSuffix(q, "Gi"))
	return n
}

func count(v any) int {
	if f, ok := v.(float64); ok {
		return int(f)
	}
	return 0
}

// DatabaseVolumes lists the database disks of a render: the single
// instance's claim data-mysql-0 (StatefulSet data/mysql, claim template
// "data"), and each member's datadir-<cluster>-mysql-<i> of a
// PerconaServerMySQL (the operator's names: pkg/mysql/mysql.go).
func DatabaseVolumes(rs []rules.Resource) map[string]DatabaseVolume {
	out := map[string]DatabaseVolume{}
	for _, r := range rs {
		if r.String("metadata.namespace") != infra.NamespaceData {
			continue
		}
		switch r.Type {
		case "kubernetes:apps/v1:StatefulSet":
			if r.String("metadata.name") != "mysql" {
				continue
			}
			claims, _ := r.Input("spec.volumeClaimTemplates").([]any)
			for _, c := range claims {
				cm, _ := c.(map[string]any)
				ct := rules.Resource{Inputs: cm}
				for i := 0; i < max(1, count(r.Input("spec.replicas"))); i++ {
					name := fmt.Sprintf("%s-mysql-%d", ct.String("metadata.name"), i)
					out[name] = DatabaseVolume{Claim: name, Class: ct.String("spec.storageClassName"), GiB: gib(ct.String("spec.resources.requests.storage")), Legacy: true}
				}
			}
		case "kubernetes:ps.percona.com/v1:PerconaServerMySQL":
			pvc := rules.Resource{Inputs: map[string]any{"pvc": r.Input("spec.mysql.volumeSpec.persistentVolumeClaim")}}
			for i := 0; i < count(r.Input("spec.mysql.size")); i++ {
				name := fmt.Sprintf("datadir-%s-mysql-%d", r.String("metadata.name"), i)
				out[name] = DatabaseVolume{Claim: name, Class: pvc.String("pvc.storageClassName"), GiB: gib(pvc.String("pvc.resources.requests.storage"))}
			}
		}
	}
	return out
}

// CheckDatabaseVolumes compares the database disks of the previous render
// (what the stack runs) with this one's and refuses a change that would
// abandon or replace one: a disk that disappears (the single instance
// dropped without its data imported, a group made smaller), changes class
// or shrinks. The single instance's disk may go once databaseMove says its
// data was imported (docs/database-move.md).
func CheckDatabaseVolumes(prev, next []rules.Resource, move infra.DatabaseMove) error {
	before, after := DatabaseVolumes(prev), DatabaseVolumes(next)
	names := make([]string, 0, len(before))
	for n := range before {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs []error
	fail := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config %s:%s: %s", infra.Project, key, fmt.Sprintf(format, args...)))
	}
	for _, n := range names {
		b := before[n]
		a, ok := after[n]
		switch {
		case !ok && b.Legacy && move.Imported():
			// Retired after the import: its disk stays (Retain), unused.
		case !ok && b.Legacy:
			fail("databaseMove", "this render drops the single-instance MySQL (StatefulSet data/mysql), whose disk %s holds the site's database, and the new cluster starts empty: keep it with databaseMove.keepSingleInstance: true, import it with databaseMove.importRun, then retire it (docs/database-move.md)", n)
		case !ok:
			fail("mysqlMembers", "this render drops the database disk %s (a member of the group): a group is made smaller only by hand, after the member has left it (docs/database-move.md)", n)
		case a.Class != b.Class:
			fail("mysqlDiskGiB", "the database disk %s would change storage class from %s to %s: a claim's class cannot change, so its member would be rebuilt on a new, empty disk; move the data with a dump and import instead (docs/database-move.md)", n, b.Class, a.Class)
		case a.GiB < b.GiB:
			fail("mysqlDiskGiB", "the database disk %s would shrink from %d GiB to %d GiB: a disk only grows", n, b.GiB, a.GiB)
		}
	}
	return errors.Join(errs...)
}

// DroppedProtected warns of each protected resource of the previous render
// (or state) that this render no longer declares: `pulumi up` stops at it
// ("refusing to delete protected resource") until someone unprotects it in
// the state, which is what the database move's runbook says to do once the
// data is elsewhere (docs/database-move.md). Protected resources are also
// retained, so unprotecting and deleting them from the state leaves them
// (and their disks) in the cluster.
func DroppedProtected(prev, next []rules.Resource) []string {
	declared := map[string]bool{}
	for _, r := range next {
		declared[r.URN] = true
	}
	var out []string
	for _, r := range prev {
		if r.Protect && r.URN != "" && !declared[r.URN] {
			out = append(out, fmt.Sprintf("%s is protected in what the stack runs and this program no longer declares it: `pulumi up` stops at it until its data is moved and you run `pulumi state unprotect '%s'` (it stays in the cluster, retained; docs/database-move.md)", r.URN, r.URN))
		}
	}
	sort.Strings(out)
	return out
}

// readPrevious reads what the stack runs: the resources.json of a previous
// render in a folder, or a Pulumi stack export (`pulumi stack export`: the
// state's resources with their inputs), or nil when there is neither.
func readPrevious(path string) ([]rules.Resource, error) {
	info, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return readStackExport(path)
	}
	b, err := os.ReadFile(filepath.Join(path, "resources.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rs []rules.Resource
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("reading the previous render %s: %w", path, err)
	}
	return rs, nil
}

// readStackExport reads the resources of a `pulumi stack export` file
// (deployment version 3: deployment.resources[] with urn, type, custom,
// inputs). A stack never deployed has none.
func readStackExport(path string) ([]rules.Resource, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var exp struct {
		Deployment struct {
			Resources []rules.Resource `json:"resources"`
		} `json:"deployment"`
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		return nil, fmt.Errorf("reading the stack export %s: %w", path, err)
	}
	return exp.Deployment.Resources, nil
}
