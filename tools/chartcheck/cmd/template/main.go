// Command template writes what the pinned charts template for every
// rendered stack, the way tools/chartcheck templates them, for checks that
// live outside this module (tools/apiserver sends them to a real API
// server):
//
//	go run ./cmd/template -root ../.. -out DIR
//
// DIR/<stack>.json is a list of releases, each
// {"release","chart","version","namespace","objects":[...]}; objects keep
// the chart's own metadata (a chart object without a namespace belongs to
// the release's namespace). Hooks are included, marked by their
// helm.sh/hook annotation.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fieldcert/moodle-aks/tools/chartcheck"
)

// Release is one templated release of a stack.
type Release struct {
	Release   string              `json:"release"`
	Chart     string              `json:"chart"`
	Version   string              `json:"version"`
	Namespace string              `json:"namespace"`
	Objects   []chartcheck.Object `json:"objects"`
}

func main() {
	root := flag.String("root", "../..", "the repository: Pulumi.*.yaml, rendered/ and charts/")
	out := flag.String("out", "", "output `DIR`")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "template: -out is required")
		os.Exit(2)
	}
	if err := run(*root, *out); err != nil {
		fmt.Fprintln(os.Stderr, "template:", err)
		os.Exit(1)
	}
}

func run(root, out string) error {
	files, err := filepath.Glob(filepath.Join(root, "Pulumi.*.yaml"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no Pulumi.<stack>.yaml under %s", root)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		stack := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "Pulumi."), ".yaml")
		s, err := chartcheck.LoadStack(root, stack)
		if err != nil {
			return err
		}
		var rels []Release
		for _, r := range s.Releases {
			pkg, err := chartcheck.ChartPackage(root, r)
			if err != nil {
				return err
			}
			manifest, err := chartcheck.Template(pkg, r, r.Values, s.KubeVersion)
			if err != nil {
				return err
			}
			objs, err := chartcheck.Objects(manifest)
			if err != nil {
				return err
			}
			rels = append(rels, Release{Release: r.Name, Chart: r.Chart, Version: r.Version, Namespace: r.Namespace, Objects: objs})
		}
		b, err := json.Marshal(rels)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, stack+".json"), b, 0o644); err != nil {
			return err
		}
		fmt.Printf("%s: %d releases templated\n", stack, len(rels))
	}
	return nil
}
