package moodleimage

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTagCoversTheWholeBuildContext: every file the Docker build can see is
// hashed into the tag (the Go files are this package, not the image's).
func TestTagCoversTheWholeBuildContext(t *testing.T) {
	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	var want []string
	for _, e := range entries {
		if !e.IsDir() && !hasGoSuffix(e.Name()) {
			want = append(want, e.Name())
		}
	}
	assert.Equal(t, want, Files(), "a new file in images/moodle must be added to the go:embed list")
	assert.Contains(t, Files(), "Dockerfile")
}

func hasGoSuffix(name string) bool { return len(name) > 3 && name[len(name)-3:] == ".go" }

// TestTagFollowsTheContent: the tag is stable for the same content and
// names the Moodle release and PHP of the Dockerfile.
func TestTagFollowsTheContent(t *testing.T) {
	assert.Equal(t, Tag(), Tag())
	assert.Regexp(t, `^4\.5\.7-php8\.3-[0-9a-f]{12}$`, Tag())
	assert.Equal(t, []string{"de", "es", "fr"}, LanguagePacks())
}
