// Command imagetag prints the Moodle image's content tag (images/moodle),
// the tag the pipeline builds and pushes and the stacks deploy when their
// moodleImage names the repository without a tag:
//
//	go run ./cmd/imagetag               # 4.5.7-php8.3-1a2b3c4d5e6f
//	go run ./cmd/imagetag -registry crfieldcert.azurecr.io
package main

import (
	"flag"
	"fmt"

	moodleimage "github.com/fieldcert/moodle-aks/images/moodle"
)

func main() {
	registry := flag.String("registry", "", "print the full reference in this registry")
	flag.Parse()
	if *registry != "" {
		fmt.Printf("%s/%s:%s\n", *registry, moodleimage.Repository, moodleimage.Tag())
		return
	}
	fmt.Println(moodleimage.Tag())
}
