// Package moodleimage exposes what the Moodle image built from this folder
// contains, so that a stack's config is checked against the image when it
// renders rather than when a Job fails in the cluster, and names the image
// by its content.
package moodleimage

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"regexp"
	"sort"
	"strings"
)

// files is everything the image is built from: the build context
// (tests check that no file of this folder is left out).
//
//go:embed Dockerfile *.conf *.ini *.php *.sh *.txt
var files embed.FS

// Repository is the image's repository name in the registry.
const Repository = "moodle"

// LanguagePacks returns the language packs the Dockerfile bakes into the
// image (language-packs.txt, one code a line, # comments), in file order.
func LanguagePacks() []string {
	b, _ := files.ReadFile("language-packs.txt")
	var packs []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			packs = append(packs, line)
		}
	}
	return packs
}

// Files lists the build context's files, sorted.
func Files() []string {
	var names []string
	_ = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names)
	return names
}

var (
	moodleVersionRE = regexp.MustCompile(`(?m)^ARG MOODLE_VERSION=v([0-9.]+)$`)
	phpRE           = regexp.MustCompile(`(?m)^FROM php:(\d+\.\d+)\.`)
)

// Tag is the image's tag, named by its content: the Moodle release and PHP
// version the Dockerfile pins, then the first 12 hex digits of a SHA-256
// over every file of the build context (name and content). The same
// sources always give the same tag, and any change gives a new one, so a
// tag is never pushed twice with different content and a stack that names
// it deploys exactly what CI built and tested from that commit.
func Tag() string {
	h := sha256.New()
	for _, name := range Files() {
		b, _ := files.ReadFile(name)
		h.Write([]byte(name + "\x00"))
		h.Write(b)
		h.Write([]byte{0})
	}
	df, _ := files.ReadFile("Dockerfile")
	moodle, php := "unknown", "unknown"
	if m := moodleVersionRE.FindSubmatch(df); m != nil {
		moodle = string(m[1])
	}
	if m := phpRE.FindSubmatch(df); m != nil {
		php = string(m[1])
	}
	return moodle + "-php" + php + "-" + hex.EncodeToString(h.Sum(nil))[:12]
}
