// Command configdoc prints the README's config reference table from
// infra.Keys, the one list of config keys the program reads:
//
//	go run ./cmd/configdoc
//
// Paste its output between the config-reference markers of README.md; a
// test fails while the two differ.
package main

import (
	"fmt"

	"github.com/fieldcert/moodle-aks/infra"
)

func main() {
	fmt.Print(infra.ConfigReference())
}
