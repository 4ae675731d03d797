#!/bin/sh
# Administrative steps of the region stacks, run by Kubernetes Jobs from
# this same image:
#   moodle-admin upgrade        install an empty database, or upgrade it to
#                               this image's code, then set the language
#   moodle-admin maintenance on|off
#   moodle-admin sync-code      copy the image's code onto the add-on share
#                               (pluginMode: share), keeping UI-installed plugins
set -eu
cd /var/www/moodle
php=php

case "${1:-}" in
upgrade)
  # Every language pack the stack offers must be in this image.
  for lang in ${MOODLE_LANGUAGE_PACKS:-}; do
    if [ ! -d "/var/www/langpacks/$lang" ]; then
      echo "language pack $lang is not in this image: rebuild it with LANG_PACKS including $lang" >&2
      exit 1
    fi
  done
  if $php admin/cli/cfg.php --name=version >/dev/null 2>&1; then
    echo "upgrading to $(grep -m1 release version.php)"
    $php admin/cli/maintenance.php --enable
    $php admin/cli/upgrade.php --non-interactive
  else
    echo "installing an empty database"
    $php admin/cli/install_database.php --agree-license --lang="${MOODLE_LANG:-en}" \
      --adminuser=admin --adminpass="${MOODLE_ADMIN_PASSWORD}" --adminemail="${MOODLE_ADMIN_EMAIL}" \
      --fullname="${MOODLE_SITE_NAME}" --shortname="${MOODLE_SITE_SHORTNAME}"
  fi
  $php admin/cli/cfg.php --name=lang --set="${MOODLE_LANG:-en}"
  $php admin/cli/purge_caches.php
  if [ "${MOODLE_MAINTENANCE:-0}" = "1" ]; then
    $php admin/cli/maintenance.php --enable
  else
    $php admin/cli/maintenance.php --disable
  fi
  ;;
maintenance)
  case "${2:-}" in
  on) $php admin/cli/maintenance.php --enable ;;
  off) $php admin/cli/maintenance.php --disable ;;
  *) echo "usage: moodle-admin maintenance on|off" >&2; exit 2 ;;
  esac
  ;;
sync-code)
  # Core files from the image win; directories only on the share (plugins
  # installed from the web UI) stay.
  rsync -a /opt/moodle-image/ /var/www/moodle/
  ;;
*)
  echo "usage: moodle-admin upgrade | maintenance on|off | sync-code" >&2
  exit 2
  ;;
esac
