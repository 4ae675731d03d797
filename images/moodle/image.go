// Package moodleimage exposes what the Moodle image built from this folder
// contains, so that a stack's config is checked against the image when it
// renders rather than when a Job fails in the cluster.
package moodleimage

import (
	_ "embed"
	"strings"
)

//go:embed language-packs.txt
var languagePacks string

// LanguagePacks returns the language packs the Dockerfile bakes into the
// image (language-packs.txt, one code a line, # comments), in file order.
func LanguagePacks() []string {
	var packs []string
	for _, line := range strings.Split(languagePacks, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			packs = append(packs, line)
		}
	}
	return packs
}
