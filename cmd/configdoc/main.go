// Command configdoc prints, from infra.Keys (the one list of config keys
// the program reads), either the README's config reference table or, with
// -yaml, the `config:` block of Pulumi.yaml:
//
//	go run ./cmd/configdoc         # paste between the README's markers
//	go run ./cmd/configdoc -yaml   # replaces Pulumi.yaml's config block
//
// Tests fail while README.md or Pulumi.yaml differ from what it prints.
package main

import (
	"flag"
	"fmt"

	"github.com/fieldcert/moodle-aks/infra"
)

func main() {
	yaml := flag.Bool("yaml", false, "print Pulumi.yaml's config block instead of the README table")
	flag.Parse()
	if *yaml {
		fmt.Print(infra.PulumiYAMLConfig())
		return
	}
	fmt.Print(infra.ConfigReference())
}
