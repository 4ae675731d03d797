package render

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/fieldcert/moodle-aks/infra"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"gopkg.in/yaml.v3"
)

// ConfigError is a problem with the stack's config files: exit code 2.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// StackConfig is the config a stack's program sees, as the Pulumi CLI would
// pass it: Pulumi.yaml's defaults overlaid with the stack file's values,
// keys namespaced ("moodle-aks:region"), arrays and objects as JSON.
type StackConfig struct {
	// Project is the project name from Pulumi.yaml.
	Project string
	// Values maps each namespaced key to its raw value.
	Values map[string]string
	// Secrets lists the keys whose value was `secure:` in the stack file. The
	// renderer cannot decrypt them: it passes the key's placeholder
	// (infra.Key.Placeholder) or "[secret]".
	Secrets []string
}

type projectFile struct {
	Name   string                    `yaml:"name"`
	Config map[string]declaredConfig `yaml:"config"`
}

type declaredConfig struct {
	Type    string                            `yaml:"type"`
	Items   *workspace.ProjectConfigItemsType `yaml:"items"`
	Default any                               `yaml:"default"`
	Secret  bool                              `yaml:"secret"`
}

// stackFile keeps each config value as its YAML node: a top-level scalar is
// a config.Value to the CLI, its literal text ("1.30" stays "1.30", not the
// number 1.3); objects and arrays decode as usual.
type stackFile struct {
	Config map[string]yaml.Node `yaml:"config"`
}

// LoadStackConfig reads dir/Pulumi.yaml and the stack file (dir/Pulumi.<stack>.yaml,
// or file when it is not empty) and applies the rules the Pulumi CLI
// applies: declared types, declared defaults, required keys, and no
// undeclared key in the project's namespace. Every problem is reported.
func LoadStackConfig(dir, stack, file string) (*StackConfig, error) {
	projPath := filepath.Join(dir, "Pulumi.yaml")
	var proj projectFile
	if err := readYAML(projPath, &proj); err != nil {
		return nil, &ConfigError{err}
	}
	if proj.Name == "" {
		return nil, &ConfigError{fmt.Errorf("%s: no project name", projPath)}
	}
	if file == "" {
		file = filepath.Join(dir, "Pulumi."+stack+".yaml")
	}
	var st stackFile
	if err := readYAML(file, &st); err != nil {
		return nil, &ConfigError{err}
	}
	config := make(map[string]any, len(st.Config))
	for k, n := range st.Config {
		if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
			config[k] = n.Value
			continue
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, &ConfigError{fmt.Errorf("parsing %s: %s: %w", file, k, err)}
		}
		config[k] = v
	}

	sc := &StackConfig{Project: proj.Name, Values: map[string]string{}}
	var errs []error
	for name, decl := range proj.Config {
		if decl.Default == nil {
			continue
		}
		raw, err := encodeValue(decl.Default)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: default of %s: %w", projPath, name, err))
			continue
		}
		sc.Values[proj.Name+":"+name] = raw
	}

	keys := make([]string, 0, len(config))
	for k := range config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		val := config[key]
		ns, name, found := strings.Cut(key, ":")
		if !found {
			ns, name = proj.Name, key
		}
		full := ns + ":" + name
		secret := false
		val = redactSecure(val, &secret)
		if ns == proj.Name {
			decl, declared := proj.Config[name]
			if !declared {
				errs = append(errs, fmt.Errorf("config %s (in %s) is not declared in Pulumi.yaml; check the spelling (README, \"Config reference\")", full, file))
				continue
			}
			if secret {
				// A secret's value is replaced by a well-formed placeholder.
				if k, ok := infra.LookupKey(name); ok && k.Placeholder != "" {
					val = k.Placeholder
				}
			} else if err := checkType(decl, val); err != nil {
				errs = append(errs, fmt.Errorf("config %s (in %s): %w", full, file, err))
				continue
			}
		}
		raw, err := encodeValue(val)
		if err != nil {
			errs = append(errs, fmt.Errorf("config %s (in %s): %w", full, file, err))
			continue
		}
		sc.Values[full] = raw
		if secret {
			sc.Secrets = append(sc.Secrets, full)
		}
	}
	names := make([]string, 0, len(proj.Config))
	for name := range proj.Config {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := sc.Values[proj.Name+":"+name]; !ok {
			errs = append(errs, fmt.Errorf("config %s:%s is required and %s does not set it", proj.Name, name, file))
		}
	}
	if len(errs) > 0 {
		return nil, &ConfigError{errors.Join(errs...)}
	}
	return sc, nil
}

func readYAML(path string, dst any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if err := yaml.Unmarshal(b, dst); err != nil {
		return fmt.Errorf("parsing %s: %w", path, err)
	}
	return nil
}

// redactSecure replaces every {secure: ...} value with "[secret]" and
// reports whether it found one.
func redactSecure(v any, found *bool) any {
	switch t := v.(type) {
	case map[string]any:
		if _, ok := t["secure"]; ok && len(t) == 1 {
			*found = true
			return "[secret]"
		}
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = redactSecure(e, found)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = redactSecure(e, found)
		}
		return out
	}
	return v
}

// checkType applies a declared config type exactly as the Pulumi CLI does
// (pkg/v3 workspace.validateStackConfigValue): a primitive stack value is
// checked in its string form, as config.Value stores it (so `80`, `"80"`
// and the CLI's `pulumi config set k 80` are all integers, and "true" is a
// boolean), an object or array in its JSON form, with the SDK's own
// workspace.ValidateConfigValue.
func checkType(decl declaredConfig, v any) error {
	if decl.Type == "" {
		return nil // not explicitly typed: Pulumi does not check it
	}
	var content any
	switch v.(type) {
	case map[string]any, []any:
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &content); err != nil {
			return err
		}
	default:
		content = fmt.Sprintf("%v", v)
	}
	if !workspace.ValidateConfigValue(decl.Type, decl.Items, content) {
		return fmt.Errorf("value %v is not of the declared type %s", v, workspace.InferFullTypeName(decl.Type, decl.Items))
	}
	return nil
}

// encodeValue renders a YAML value as Pulumi passes config to a program.
func encodeValue(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case int:
		return strconv.Itoa(t), nil
	case bool:
		return strconv.FormatBool(t), nil
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), nil
	case []any, map[string]any:
		b, err := json.Marshal(t)
		return string(b), err
	}
	return "", fmt.Errorf("unsupported value %v (%T)", v, v)
}
