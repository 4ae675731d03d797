#!/bin/sh
# Administrative steps of the region stacks, run by Kubernetes Jobs from
# this same image:
#   moodle-admin upgrade           install an empty database, or upgrade it to
#                                  this image's code (in maintenance mode only
#                                  when an upgrade is pending), configure the
#                                  caches, then set maintenance from config
#   moodle-admin maintenance on|off
#   moodle-admin configure-caches  point the application and session caches
#                                  at the cache Redis (also part of upgrade)
#   moodle-admin logout-all        log every user out (every session key on
#                                  every master of the sessions cluster)
#   moodle-admin sync-code         copy the image's code onto the add-on share
#                                  (pluginMode: share), keeping UI-installed
#                                  plugins and removing what the release removed
# Paths can be overridden for tests: MOODLE_CODE_DIR, MOODLE_IMAGE_CODE_DIR,
# MOODLE_ADMIN_LIB.
set -eu
code=${MOODLE_CODE_DIR:-/var/www/moodle}
image=${MOODLE_IMAGE_CODE_DIR:-/opt/moodle-image}
lib=${MOODLE_ADMIN_LIB:-/usr/local/lib/moodle}
php=php
runbook="docs/alerts.md#moodleupgradefailed in the moodle-aks repository"

# The release this code is ($release in version.php, e.g. "4.5.7 (Build: ...)").
release() {
  sed -n "s/^\$release *= *'\(.*\)';.*/\1/p" "$code/version.php"
}

maintenance() {
  case "$1" in
  on) $php "$code/admin/cli/maintenance.php" --enable ;;
  off) $php "$code/admin/cli/maintenance.php" --disable ;;
  *) echo "usage: moodle-admin maintenance on|off" >&2; exit 2 ;;
  esac
}

# upgrade_failed explains, on the Job's log, why the site is in maintenance.
upgrade_failed() {
  if [ "$1" -ne 0 ]; then
    echo "the upgrade to $to failed: the site stays in maintenance mode so that no" \
      "request meets a half-upgraded database. The MoodleUpgradeFailed alert fires;" \
      "see $runbook." >&2
  fi
}

upgrade() {
  # Every language pack the stack offers must be in this image.
  for lang in ${MOODLE_LANGUAGE_PACKS:-}; do
    if [ ! -d "/var/www/langpacks/$lang" ]; then
      echo "language pack $lang is not in this image: add it to images/moodle/language-packs.txt and rebuild" >&2
      exit 1
    fi
  done
  to=$(release)
  if $php "$code/admin/cli/cfg.php" --name=version >/dev/null 2>&1; then
    # Exit 2: an upgrade is pending; 0: the database is at this code already.
    pending=0
    $php "$code/admin/cli/upgrade.php" --is-pending >/dev/null 2>&1 || pending=$?
    case "$pending" in
    0) echo "the database is at $to already: no upgrade" ;;
    2)
      echo "upgrading the database to $to (maintenance mode on)"
      # Whatever fails from here on leaves CLI maintenance on, on purpose.
      trap 'upgrade_failed $?' EXIT
      maintenance on
      $php "$code/admin/cli/upgrade.php" --non-interactive
      trap - EXIT
      ;;
    *)
      echo "cannot tell whether an upgrade is pending: upgrade.php --is-pending exited $pending" >&2
      exit 1
      ;;
    esac
  else
    echo "installing an empty database at $to"
    # The password is a file of this Job's (never a variable); it is on
    # install_database.php's command line for the seconds the install takes,
    # and seal-admin.php replaces it right after.
    adminpass=$(cat "${MOODLE_ADMIN_PASSWORD_FILE:?the upgrade Job mounts the admin password file}")
    $php "$code/admin/cli/install_database.php" --agree-license --lang="${MOODLE_LANG:-en}" \
      --adminuser=admin --adminpass="$adminpass" --adminemail="${MOODLE_ADMIN_EMAIL}" \
      --fullname="${MOODLE_SITE_NAME}" --shortname="${MOODLE_SITE_SHORTNAME}"
  fi
  # The generated password is in the stack's state: it must not stay valid,
  # on a site installed now or before seal-admin existed.
  $php "$lib/seal-admin.php"
  # The site language is set in config.php for every pod (not with cfg.php,
  # which refuses a setting that config.php sets).
  $php "$lib/configure-caches.php"
  $php "$lib/filters.php"
  $php "$code/admin/cli/purge_caches.php"
  if [ "${MOODLE_MAINTENANCE:-0}" = "1" ]; then
    maintenance on
  else
    maintenance off
  fi
}

sync_code() {
  # Files of the image that were synced last time; what this release no
  # longer has is removed (Moodle refuses to upgrade over removed files), and
  # what no image had (plugins installed from the web UI) stays.
  manifest="$code/.moodle-image-files"
  new=$(mktemp)
  (cd "$image" && find . \( -type f -o -type l \) ! -name .moodle-image-files | LC_ALL=C sort) >"$new"
  if [ -f "$manifest" ]; then
    LC_ALL=C sort "$manifest" | LC_ALL=C comm -23 - "$new" | while IFS= read -r f; do
      rm -f "$code/$f"
      rmdir -p "$(dirname "$code/$f")" 2>/dev/null || true
    done
  fi
  # No owners, permissions or directory times: the share's root may belong
  # to root, and the files belong to whoever syncs them (www-data).
  # --checksum: a changed file of the same size and time is still copied.
  rsync -rlt --checksum --omit-dir-times --no-perms --no-owner --no-group "$image/" "$code/"
  cp "$new" "$manifest"
  rm -f "$new"
  echo "synced $(wc -l <"$manifest") files of $(release) onto $code"
}

cd "$code"
case "${1:-}" in
upgrade) upgrade ;;
maintenance) maintenance "${2:-}" ;;
configure-caches) $php "$lib/configure-caches.php" ;;
logout-all) $php "$lib/logout-all.php" ;;
sync-code) sync_code ;;
*)
  echo "usage: moodle-admin upgrade | maintenance on|off | configure-caches | logout-all | sync-code" >&2
  exit 2
  ;;
esac
