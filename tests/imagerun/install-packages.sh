#!/usr/bin/env bash
# Installs the Debian packages the real-run tests of the Moodle image need
# (tests/imagerun): Apache with mod_php, PHP with the extensions the
# Dockerfile builds, MariaDB, Redis, rsync and util-linux's unshare/setpriv.
# HAProxy fronts the replicated database as Percona's does;
# jq and curl run the pipeline's PR-comment script in tests/pipeline_test.go;
# etcd-server is the store of the real Kubernetes API server tools/apiserver
# runs. The backup scripts' Blob Storage commands run with Debian's Azure CLI
# against Azurite (npm, pinned below), Microsoft's storage emulator.
# prometheus brings promtool, which checks and evaluates the alert rules,
# and the Prometheus that evaluates them against a real Alertmanager; that
# Alertmanager (and amtool) is the chart's version, built from its Go
# module (Debian's is 0.25, without the msteamsv2 integration the program
# configures); python3-aiosmtpd is the SMTP server with AUTH it delivers to.
# The exporters (Debian's: the pinned releases are not on the module proxy)
# are what Prometheus scrapes in the image's real run.
# Called by .ci/run, and by the tests themselves when something is missing
# and they run as root. Does nothing when everything is there.
set -euo pipefail
packages=(
  apache2 libapache2-mod-php8.2 php8.2-cli php8.2-opcache
  php8.2-mysql php8.2-intl php8.2-gd php8.2-zip php8.2-soap php8.2-xml
  php8.2-mbstring php8.2-curl php8.2-redis
  mariadb-server mariadb-client redis-server redis-tools rsync util-linux
  jq curl time etcd-server haproxy azure-cli nodejs prometheus python3-aiosmtpd
  prometheus-mysqld-exporter prometheus-redis-exporter prometheus-apache-exporter
)
azurite_version=3.35.0
azurite_dir=/opt/moodle-aks/azurite
azurite_ok() { grep -q "\"version\": \"$azurite_version\"" "$azurite_dir/node_modules/azurite/package.json" 2>/dev/null; }
# The chart's Alertmanager (kube-prometheus-stack 88.5.3: quay.io/prometheus/alertmanager:v0.34.0;
# tools/chartcheck holds the two equal).
alertmanager_version=0.34.0
alertmanager_dir=/opt/moodle-aks/alertmanager-$alertmanager_version
alertmanager_ok() { "$alertmanager_dir/alertmanager" --version 2>&1 | grep -q "version $alertmanager_version " && [ -x "$alertmanager_dir/amtool" ]; }
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# The Dockerfile check reads Debian's package metadata (apt-cache).
if [ ${#missing[@]} -eq 0 ] && azurite_ok && alertmanager_ok && apt-cache show libzip-dev >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "tests/imagerun needs these Debian packages (run as root): apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts services from postinst where it can; the tests start their
# own on loopback.
for s in apache2 mariadb redis-server etcd haproxy prometheus prometheus-mysqld-exporter prometheus-redis-exporter prometheus-apache-exporter prometheus-node-exporter; do
  service "$s" stop >/dev/null 2>&1 || true
done
if ! azurite_ok; then
  # npm: in NodeSource's nodejs package, a package of its own in Debian's.
  command -v npm >/dev/null 2>&1 || apt-get install -y -qq --no-install-recommends npm >/dev/null
  mkdir -p "$azurite_dir"
  npm install --prefix "$azurite_dir" --no-audit --no-fund --no-save --silent "azurite@$azurite_version" >/dev/null
  azurite_ok || { echo "Azurite $azurite_version did not install in $azurite_dir" >&2; exit 1; }
fi
if ! alertmanager_ok; then
  # The module has the web UI's sources but not its build (ui/app/dist,
  # made by npm in Alertmanager's release process), which the server
  # embeds: a placeholder page stands in; the API and notifications are
  # the release's code.
  src=$(cd /tmp && go mod download -json "github.com/prometheus/alertmanager@v$alertmanager_version" | jq -r .Dir)
  tmp=$(mktemp -d)
  cp -r "$src/." "$tmp" && chmod -R u+w "$tmp"
  mkdir -p "$tmp/ui/app/dist"
  echo '<!doctype html><title>Alertmanager</title><p>The web UI is not built here (tests only).' >"$tmp/ui/app/dist/index.html"
  mkdir -p "$alertmanager_dir"
  (cd "$tmp" && go build -ldflags "-X github.com/prometheus/common/version.Version=$alertmanager_version" -o "$alertmanager_dir/" ./cmd/alertmanager ./cmd/amtool)
  rm -rf "$tmp"
  alertmanager_ok || { echo "Alertmanager $alertmanager_version did not build in $alertmanager_dir" >&2; exit 1; }
fi
