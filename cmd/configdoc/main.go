// Command configdoc keeps the config documentation in step with
// infra.Keys, the one list of config keys the program reads:
//
//	go run ./cmd/configdoc -write   # rewrite README.md's config and versions tables and Pulumi.yaml's config block
//	go run ./cmd/configdoc          # print the README table
//	go run ./cmd/configdoc -yaml    # print Pulumi.yaml's config block
//
// Tests fail while README.md or Pulumi.yaml differ from what it writes.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/fieldcert/moodle-aks/infra"
)

const (
	startMarker = "<!-- config-reference:start -->\n"
	endMarker   = "<!-- config-reference:end -->"

	versionsStart = "<!-- versions:start -->\n"
	versionsEnd   = "<!-- versions:end -->"
)

func main() {
	yaml := flag.Bool("yaml", false, "print Pulumi.yaml's config block instead of the README table")
	write := flag.Bool("write", false, "rewrite README.md and Pulumi.yaml in the current folder")
	flag.Parse()
	switch {
	case *write:
		if err := writeAll(); err != nil {
			fmt.Fprintln(os.Stderr, "configdoc:", err)
			os.Exit(1)
		}
	case *yaml:
		fmt.Print(infra.PulumiYAMLConfig())
	default:
		fmt.Print(infra.ConfigReference())
	}
}

func writeAll() error {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		return err
	}
	r := string(readme)
	i, j := strings.Index(r, startMarker), strings.Index(r, endMarker)
	if i < 0 || j < i {
		return fmt.Errorf("README.md has no config-reference markers")
	}
	r = r[:i+len(startMarker)] + infra.ConfigReference() + r[j:]
	i, j = strings.Index(r, versionsStart), strings.Index(r, versionsEnd)
	if i < 0 || j < i {
		return fmt.Errorf("README.md has no versions markers")
	}
	r = r[:i+len(versionsStart)] + infra.CompatibilityTable() + r[j:]
	if err := os.WriteFile("README.md", []byte(r), 0o644); err != nil {
		return err
	}
	proj, err := os.ReadFile("Pulumi.yaml")
	if err != nil {
		return err
	}
	p := string(proj)
	k := strings.Index(p, "\nconfig:\n")
	if k < 0 {
		return fmt.Errorf("Pulumi.yaml has no config block")
	}
	return os.WriteFile("Pulumi.yaml", []byte(p[:k+1]+infra.PulumiYAMLConfig()), 0o644)
}
