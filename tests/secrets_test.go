package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// secretRefs walks a manifest and calls f for every secretKeyRef
// (env valueFrom) and secretRef (envFrom) it holds.
func secretRefs(v any, f func(name, key string)) {
	switch m := v.(type) {
	case map[string]any:
		if ref, ok := m["secretKeyRef"].(map[string]any); ok {
			f(ref["name"].(string), ref["key"].(string))
		}
		if ref, ok := m["secretRef"].(map[string]any); ok {
			f(ref["name"].(string), "")
		}
		for _, e := range m {
			secretRefs(e, f)
		}
	case []any:
		for _, e := range m {
			secretRefs(e, f)
		}
	}
}

// TestEverySecretKeyReferencedExists reads the committed rendered/ output:
// every key a container takes from a Secret is a key of that Secret in the
// same namespace (rendered Secrets keep their keys, values "[secret]"), so
// a misnamed key fails here, not as CreateContainerConfigError in a pod.
func TestEverySecretKeyReferencedExists(t *testing.T) {
	for _, stack := range []string{"dev", "prod", "prod-eu"} {
		dir := filepath.Join(root, "rendered", stack, "kubernetes")
		secrets := map[string]map[string]any{}
		var manifests []string
		require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			manifests = append(manifests, p)
			if strings.HasPrefix(d.Name(), "secret-") {
				b, err := os.ReadFile(p)
				require.NoError(t, err)
				var m map[string]any
				require.NoError(t, yaml.Unmarshal(b, &m))
				keys := map[string]any{}
				for _, field := range []string{"stringData", "data"} {
					data, ok := m[field].(map[string]any)
					if m[field] != nil {
						require.True(t, ok, "%s: %s shows its keys, not one opaque value", p, field)
					}
					for k, v := range data {
						assert.Equal(t, "[secret]", v, "%s: %s is secret", p, k)
						keys[k] = v
					}
				}
				ns := filepath.Base(filepath.Dir(p))
				secrets[ns+"/"+m["metadata"].(map[string]any)["name"].(string)] = keys
			}
			return nil
		}))
		require.NotEmpty(t, secrets, stack)
		refs := 0
		for _, p := range manifests {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			var m map[string]any
			require.NoError(t, yaml.Unmarshal(b, &m))
			ns := filepath.Base(filepath.Dir(p))
			secretRefs(m, func(name, key string) {
				refs++
				keys, ok := secrets[ns+"/"+name]
				if !assert.True(t, ok, "%s: %s refers to Secret %s/%s, which the stack does not create", stack, filepath.Base(p), ns, name) {
					return
				}
				if key != "" {
					assert.Contains(t, keys, key, "%s: %s refers to key %q of Secret %s/%s", stack, filepath.Base(p), key, ns, name)
				}
			})
		}
		assert.Greater(t, refs, 20, "%s: the check saw the workloads' secret references", stack)
	}
}
