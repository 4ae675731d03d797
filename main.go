// Command moodle-aks is the Pulumi program that deploys Moodle on AKS, one
// region stack at a time. The composition lives in package stacks.
package main

import (
	"github.com/fieldcert/moodle-aks/stacks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func main() {
	pulumi.Run(stacks.Program)
}
