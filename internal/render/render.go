// Package render is the offline renderer of DESIGN.md section 5: it runs a
// region stack's program in-process under the recorder mock, with the
// stack's config files and no cloud credentials, and writes
// resources.json, kubernetes/ and policy.json.
package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/fieldcert/moodle-aks/internal/mocks"
	"github.com/fieldcert/moodle-aks/policy/rules"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"
)

// Exit codes of the renderer.
const (
	ExitOK        = 0 // rendered, no mandatory violation
	ExitViolation = 1 // mandatory policy violations (files still written)
	ExitInvalid   = 2 // invalid config or program error
)

// Options says what to render.
type Options struct {
	// Dir holds Pulumi.yaml and the stack files.
	Dir string
	// Stack is the stack name.
	Stack string
	// ConfigFile replaces Pulumi.<Stack>.yaml when set.
	ConfigFile string
	// Out is the output folder; empty means write nothing.
	Out string
	// Program is the Pulumi program (stacks.Program).
	Program pulumi.RunFunc
	// Rules are the policy rules to evaluate (rules.All()).
	Rules []rules.Rule
	// Previous is a folder with an earlier render of the stack (what it
	// runs): a render that would abandon, replace or shrink one of its
	// database disks is refused as invalid config. Empty: no comparison.
	Previous string
}

// Result is what a render produced.
type Result struct {
	Config     *infra.Config
	Resources  []rules.Resource
	Manifests  map[string]map[string]any // path under kubernetes/ -> manifest
	Violations []rules.Violation
	// PackConfig is the stack's policy pack config (policy-config.json).
	PackConfig map[string]any
	// Warnings are what the comparison with -previous found that does not
	// stop the render (the config's own are in Config.Warnings).
	Warnings []string
}

// Render loads the stack's config, runs the program under mocks, evaluates
// the policy rules and, when opts.Out is set, writes the three outputs.
// Config problems come back as *ConfigError.
func Render(opts Options) (*Result, error) {
	sc, err := LoadStackConfig(opts.Dir, opts.Stack, opts.ConfigFile)
	if err != nil {
		return nil, err
	}
	cfg, err := infra.Load(sc.Project, opts.Stack, infra.MapSource{Values: sc.Values, Secrets: sc.Secrets})
	if err != nil {
		return nil, &ConfigError{err}
	}
	active, err := rules.WithEnforcement(opts.Rules, cfg.PolicyEnforcement)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("config %s:%w", sc.Project, err)}
	}
	rec, err := mocks.Run(sc.Project, opts.Stack, sc.Values, sc.Secrets, opts.Program)
	if err != nil {
		return nil, fmt.Errorf("running the program for stack %q: %w", opts.Stack, err)
	}
	res := &Result{Config: cfg, Resources: rec.Resources(), PackConfig: rules.PackConfig(opts.Rules, cfg.PolicyEnforcement)}
	if opts.Previous != "" {
		prev, err := readPrevious(opts.Previous)
		if err != nil {
			return nil, err
		}
		if err := CheckDatabaseVolumes(prev, res.Resources, cfg.DatabaseMove); err != nil {
			return nil, &ConfigError{fmt.Errorf("%w\n(compared with the render in %s; -previous none skips the comparison, for a stack that was never deployed)", err, opts.Previous)}
		}
		res.Warnings = append(res.Warnings, DroppedProtected(prev, res.Resources)...)
	}
	res.Manifests, err = Manifests(res.Resources)
	if err != nil {
		return nil, err
	}
	res.Violations = rules.Evaluate(&rules.Stack{
		Region:      cfg.Region,
		Residency:   cfg.Residency,
		Environment: string(cfg.Environment),
		Resources:   res.Resources,
	}, active)
	if opts.Out != "" {
		if err := res.Write(opts.Out); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// Main is the renderer's command line; it returns the exit code.
func Main(args []string, program pulumi.RunFunc, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stack := fs.String("stack", "dev", "stack `NAME`: reads Pulumi.NAME.yaml")
	out := fs.String("out", "", "output `DIR` (default rendered/NAME)")
	file := fs.String("config", "", "stack config `FILE` to use instead of Pulumi.NAME.yaml")
	dir := fs.String("dir", ".", "project `DIR` holding Pulumi.yaml")
	previous := fs.String("previous", "", "`DIR` of the render the stack runs now (default: the output DIR's resources.json, if any; none: no comparison): a render that drops, replaces or shrinks a database disk is refused (exit 2)")
	day := fs.String("date", "", "deploy `DATE` (YYYY-MM-DD) the version checks use instead of today (sets "+infra.DateEnv+")")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./cmd/render [-stack NAME] [-out DIR] [-config FILE] [-dir DIR] [-date YYYY-MM-DD] [-previous DIR|none]")
		fmt.Fprintln(stderr, "Renders a region stack offline under Pulumi mocks. Exit 0: rendered; 1: mandatory policy violations; 2: invalid config or program error.")
		fmt.Fprintln(stderr, "Versions are checked against their support dates on -date (default: "+infra.DateEnv+", else today); warnings go to stderr.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return ExitInvalid
	}
	if *out == "" {
		*out = filepath.Join("rendered", *stack)
	}
	switch *previous {
	case "":
		*previous = *out
	case "none":
		*previous = ""
	}
	if *day != "" {
		// The program reads the date where the engine runs it too, so the
		// flag goes through the same variable (restored on return: tests run
		// Main in-process).
		if prev, set := os.LookupEnv(infra.DateEnv); set {
			defer os.Setenv(infra.DateEnv, prev)
		} else {
			defer os.Unsetenv(infra.DateEnv)
		}
		if err := os.Setenv(infra.DateEnv, *day); err != nil {
			fmt.Fprintf(stderr, "render %s: %v\n", *stack, err)
			return ExitInvalid
		}
	}
	res, err := Render(Options{Dir: *dir, Stack: *stack, ConfigFile: *file, Out: *out, Program: program, Rules: rules.All(), Previous: *previous})
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			fmt.Fprintf(stderr, "render %s: invalid config:\n%v\n", *stack, indent(ce.Err.Error()))
		} else {
			fmt.Fprintf(stderr, "render %s: %v\n", *stack, err)
		}
		return ExitInvalid
	}
	for _, w := range append(append([]string{}, res.Config.Warnings...), res.Warnings...) {
		fmt.Fprintf(stderr, "render %s: warning: %s\n", *stack, w)
	}
	mandatory := 0
	for _, v := range res.Violations {
		if v.Enforcement == rules.Mandatory {
			mandatory++
		}
		fmt.Fprintf(stderr, "%s [%s] %s: %s\n", v.Enforcement, v.Policy, v.URN, v.Message)
	}
	fmt.Fprintf(stdout, "rendered stack %s (%s, %s): %d resources, %d kubernetes objects, %d policy violations (%d mandatory) -> %s\n",
		*stack, res.Config.Region, res.Config.Residency, len(res.Resources), len(res.Manifests), len(res.Violations), mandatory, *out)
	if mandatory > 0 {
		return ExitViolation
	}
	return ExitOK
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// Write writes resources.json, kubernetes/ and policy.json under dir,
// replacing what an earlier render left there.
func (r *Result) Write(dir string) error {
	for _, stale := range []string{"resources.json", "policy.json", "policy-config.json", "kubernetes"} {
		if err := os.RemoveAll(filepath.Join(dir, stale)); err != nil {
			return fmt.Errorf("clearing %s: %w", dir, err)
		}
	}
	if err := writeJSON(filepath.Join(dir, "resources.json"), r.Resources); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, "policy.json"), r.Violations); err != nil {
		return err
	}
	// An addition to the contract: the stack's enforcement levels, for
	// `pulumi preview --policy-pack-config`.
	if r.PackConfig != nil {
		if err := writeJSON(filepath.Join(dir, "policy-config.json"), r.PackConfig); err != nil {
			return err
		}
	}
	paths := make([]string, 0, len(r.Manifests))
	for p := range r.Manifests {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		b, err := manifestYAML(r.Manifests[p])
		if err != nil {
			return fmt.Errorf("encoding %s: %w", p, err)
		}
		if err := writeFile(filepath.Join(dir, "kubernetes", p), b); err != nil {
			return err
		}
	}
	return nil
}

func writeJSON(path string, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	return writeFile(path, buf.Bytes())
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// manifestYAML writes apiVersion, kind and metadata first, then the rest
// in key order.
func manifestYAML(m map[string]any) ([]byte, error) {
	var doc yaml.Node
	doc.Kind = yaml.MappingNode
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	rank := map[string]int{"apiVersion": 0, "kind": 1, "metadata": 2}
	sort.Slice(keys, func(i, j int) bool {
		ri, okI := rank[keys[i]]
		rj, okJ := rank[keys[j]]
		switch {
		case okI && okJ:
			return ri < rj
		case okI != okJ:
			return okI
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		var v yaml.Node
		if err := v.Encode(m[k]); err != nil {
			return nil, err
		}
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, &v)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
