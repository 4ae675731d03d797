package imagerun

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// aptDepends lists a package's Depends as Debian's metadata declares them
// (virtual packages, shown as <name>, left out).
func aptDepends(t *testing.T, pkg string) []string {
	out, err := exec.Command("apt-cache", "depends", "--no-recommends", "--no-suggests", "--no-conflicts",
		"--no-breaks", "--no-replaces", "--no-enhances", pkg).Output()
	require.NoError(t, err, "apt-cache depends %s", pkg)
	var deps []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) == 2 && strings.TrimPrefix(f[0], "|") == "Depends:" && !strings.HasPrefix(f[1], "<") {
			deps = append(deps, f[1])
		}
	}
	return deps
}

// aptField reads one field of a package's newest version.
func aptField(t *testing.T, pkg, field string) string {
	out, err := exec.Command("apt-cache", "show", "--no-all-versions", pkg).Output()
	require.NoError(t, err, "apt-cache show %s: Debian has no such package", pkg)
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, field+": "); ok {
			return v
		}
	}
	return ""
}

// source is the Debian source package a binary package is built from.
func source(t *testing.T, pkg string) string {
	if s := aptField(t, pkg, "Source"); s != "" {
		return strings.Fields(s)[0] // "freetype (2.12.1+dfsg-5)" -> "freetype"
	}
	return pkg
}

// runtimeLibraries follows a -dev package's dependencies from the same
// source package (transitional names such as libfreetype6-dev included) to
// the shared-library packages the built extension loads: Section libs, from
// that source. Their own dependencies apt keeps with them once they are
// marked manual; other -dev packages (libc6-dev, zlib1g-dev) are not
// followed: the base image keeps those.
func runtimeLibraries(t *testing.T, pkg string, seen map[string]bool, out map[string]bool) {
	if seen[pkg] {
		return
	}
	seen[pkg] = true
	src := source(t, pkg)
	for _, d := range aptDepends(t, pkg) {
		if source(t, d) != src {
			continue
		}
		switch {
		case strings.HasSuffix(d, "-dev"):
			runtimeLibraries(t, d, seen, out)
		case strings.HasPrefix(d, "lib") && aptField(t, d, "Section") == "libs":
			out[d] = true
		}
	}
}

var shellList = func(name string) *regexp.Regexp { return regexp.MustCompile(name + `="([^"]*)"`) }

// TestDockerfileKeepsExtensionLibraries checks, with no Docker engine, that
// the Dockerfile keeps every shared library its PHP extensions link: the
// -dev packages it builds against are purged, so each one's library package
// (as Debian bookworm, the base image's release, declares it) must be in the
// list the Dockerfile marks manual before the purge.
func TestDockerfileKeepsExtensionLibraries(t *testing.T) {
	requirePackages(t)
	b, err := os.ReadFile(filepath.Join(root, "images", "moodle", "Dockerfile"))
	require.NoError(t, err)
	df := string(b)
	require.Regexp(t, `(?m)^FROM php:[0-9.]+-apache-bookworm$`, df, "the base image is Debian bookworm")
	osr, err := os.ReadFile("/etc/os-release")
	require.NoError(t, err)
	require.Contains(t, string(osr), "VERSION_CODENAME=bookworm", "this check reads bookworm's package metadata: run it on bookworm")

	runtimeM := shellList("runtime").FindStringSubmatch(df)
	buildM := shellList("build").FindStringSubmatch(df)
	require.NotNil(t, runtimeM, `the Dockerfile lists its runtime libraries in runtime="..."`)
	require.NotNil(t, buildM, `the Dockerfile lists its build packages in build="..."`)
	runtime, build := strings.Fields(runtimeM[1]), strings.Fields(buildM[1])
	require.NotEmpty(t, build)

	need := map[string]bool{}
	for _, p := range build {
		require.True(t, strings.HasSuffix(p, "-dev"), "%s in build= is a -dev package (build= is what gets purged)", p)
		runtimeLibraries(t, p, map[string]bool{}, need)
	}
	require.Contains(t, need, "libzip4", "the check finds zip's library (Debian metadata is readable)")
	for lib := range need {
		assert.Contains(t, runtime, lib, "an extension links %s: the Dockerfile must keep it (runtime=)", lib)
	}
	for _, p := range runtime {
		assert.Equal(t, "libs", aptField(t, p, "Section"), "%s in runtime= is a library package of bookworm", p)
	}

	// The order inside the RUN: install both, build, mark the libraries
	// manual, then purge only the build packages.
	install := strings.Index(df, "apt-get install -y --no-install-recommends git unzip rsync ca-certificates curl $runtime $build")
	mark := strings.Index(df, "apt-mark manual $runtime")
	purge := strings.Index(df, "apt-get purge -y --auto-remove $build")
	require.True(t, install > 0 && mark > install && purge > mark, "install $runtime $build, then apt-mark manual $runtime, then purge $build")
	assert.Equal(t, 1, strings.Count(df, "apt-get purge"), "nothing else is purged")
	assert.Contains(t, df, `if ldd "$(php-config --extension-dir)"/*.so | grep 'not found'; then exit 1; fi`, "the build fails on a missing library")
}

// TestSyncCodeKeepsUIPluginsAndRemovesDroppedFiles runs moodle-admin
// sync-code as the add-on share's Job runs it (www-data, onto a share whose
// root belongs to root) across two releases.
func TestSyncCodeKeepsUIPluginsAndRemovesDroppedFiles(t *testing.T) {
	requirePackages(t)
	if os.Geteuid() != 0 {
		t.Fatal("this test runs moodle-admin as www-data and needs root (CI runs as root)")
	}
	w, err := os.MkdirTemp("/var/tmp", "sync-code-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(w) })
	require.NoError(t, os.Chmod(w, 0o755))
	image, share := filepath.Join(w, "image"), filepath.Join(w, "share")
	write := func(path, content string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
	release := func(r string, files ...string) {
		require.NoError(t, os.RemoveAll(image))
		write(filepath.Join(image, "version.php"), "<?php\n$release  = '"+r+"';   // Human-friendly version name\n")
		for _, f := range files {
			write(filepath.Join(image, f), "<?php // "+r+"\n")
		}
	}
	// The share's root belongs to root, writable by the pods (as an NFS share
	// mounted with the pods' group would be).
	require.NoError(t, os.MkdirAll(share, 0o777))
	require.NoError(t, os.Chmod(share, 0o777))
	script, err := filepath.Abs(filepath.Join(root, "images", "moodle", "moodle-admin.sh"))
	require.NoError(t, err)
	sync := func() string {
		cmd := exec.Command("setpriv", "--reuid", strconv.Itoa(wwwDataUID), "--regid", strconv.Itoa(wwwDataUID), "--clear-groups",
			"env", "-i", "PATH=/usr/bin:/bin", "MOODLE_CODE_DIR="+share, "MOODLE_IMAGE_CODE_DIR="+image, "sh", script, "sync-code")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "sync-code: %s", out)
		return string(out)
	}

	release("4.5.6 (Build: 20250811)", "index.php", "lib/old.php", "mod/old/view.php")
	assert.Contains(t, sync(), "of 4.5.6 (Build: 20250811) onto")
	assert.FileExists(t, filepath.Join(share, "mod/old/view.php"))
	// An admin installs a plugin from the web UI.
	write(filepath.Join(share, "local/fromui/version.php"), "<?php // installed from the UI\n")
	require.NoError(t, os.Chown(filepath.Join(share, "local/fromui/version.php"), wwwDataUID, wwwDataUID))

	release("4.5.7 (Build: 20251006)", "index.php", "lib/new.php")
	out := sync()
	assert.Contains(t, out, "of 4.5.7 (Build: 20251006) onto")
	assert.FileExists(t, filepath.Join(share, "lib/new.php"))
	assert.NoFileExists(t, filepath.Join(share, "lib/old.php"), "a file the release removed is removed (Moodle refuses to upgrade over it)")
	assert.NoDirExists(t, filepath.Join(share, "mod/old"), "and its emptied directory")
	assert.FileExists(t, filepath.Join(share, "local/fromui/version.php"), "a plugin installed from the UI stays")
	idx, err := os.ReadFile(filepath.Join(share, "index.php"))
	require.NoError(t, err)
	assert.Contains(t, string(idx), "4.5.7", "core files come from the new image")
	manifest, err := os.ReadFile(filepath.Join(share, ".moodle-image-files"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(manifest)), "\n")
	assert.True(t, slices.Equal([]string{"./index.php", "./lib/new.php", "./version.php"}, lines), "the manifest lists the image's files: %v", lines)
}
