// Command render renders a region stack offline: the same program main.go
// runs, in-process under Pulumi mocks, with no cloud credentials.
//
//	go run ./cmd/render -stack dev [-out DIR] [-config FILE]
//
// It writes DIR/resources.json, DIR/kubernetes/ and DIR/policy.json
// (default DIR: rendered/NAME) and exits 0 when rendered, 1 on mandatory
// policy violations and 2 on invalid config or a program error.
package main

import (
	"os"

	"github.com/fieldcert/moodle-aks/internal/render"
	"github.com/fieldcert/moodle-aks/stacks"
)

func main() {
	os.Exit(render.Main(os.Args[1:], stacks.Program, os.Stdout, os.Stderr))
}
