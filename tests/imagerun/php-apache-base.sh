#!/bin/sh
# What the base image (php:8.3-apache-bookworm, docker-library/php's
# 8.3/bookworm/apache/Dockerfile) does to Debian's apache2 before the Moodle
# Dockerfile runs, repeated on Debian's apache2 inside the test's private
# mount namespace: envvars that the environment can override, run/lock/log
# directories any user may write, logs to stdout/stderr, prefork, PHP
# handler, and its apache2-foreground entrypoint.
set -eu
APACHE_CONFDIR=/etc/apache2
APACHE_ENVVARS=$APACHE_CONFDIR/envvars
sed -ri 's/^export ([^=]+)=(.*)$/: ${\1:=\2}\nexport \1/' "$APACHE_ENVVARS"
. "$APACHE_ENVVARS"
for dir in "$APACHE_LOCK_DIR" "$APACHE_RUN_DIR" "$APACHE_LOG_DIR" "$APACHE_RUN_DIR/socks"; do
  # (The base image removes and re-creates them; here they are mount points.)
  mkdir -p "$dir"
  find "$dir" -mindepth 1 -delete
  chown "$APACHE_RUN_USER:$APACHE_RUN_GROUP" "$dir"
  chmod 1777 "$dir"
done
ln -sfT /dev/stderr "$APACHE_LOG_DIR/error.log"
ln -sfT /dev/stdout "$APACHE_LOG_DIR/access.log"
ln -sfT /dev/stdout "$APACHE_LOG_DIR/other_vhosts_access.log"
a2dismod -q mpm_event >/dev/null 2>&1 || true
a2enmod -q mpm_prefork >/dev/null
{
  printf '<FilesMatch \\.php$>\n\tSetHandler application/x-httpd-php\n</FilesMatch>\n\n'
  printf 'DirectoryIndex disabled\nDirectoryIndex index.php index.html\n\n'
  printf '<Directory /var/www/>\n\tOptions -Indexes\n\tAllowOverride All\n</Directory>\n'
} >"$APACHE_CONFDIR/conf-available/docker-php.conf"
a2enconf -q docker-php >/dev/null

# apache2-foreground, as the base image ships it (trimmed to what runs here).
cat >/usr/local/bin/apache2-foreground <<'EOF'
#!/bin/bash
set -e
: "${APACHE_CONFDIR:=/etc/apache2}"
: "${APACHE_ENVVARS:=$APACHE_CONFDIR/envvars}"
if test -f "$APACHE_ENVVARS"; then
	. "$APACHE_ENVVARS"
fi
: "${APACHE_RUN_DIR:=/var/run/apache2}"
: "${APACHE_PID_FILE:=$APACHE_RUN_DIR/apache2.pid}"
rm -f "$APACHE_PID_FILE"
for e in "${!APACHE_@}"; do
	if [[ "$e" == *_DIR ]] && [[ "${!e}" == /* ]]; then
		mkdir -p "${!e}"
	fi
done
exec apache2 -DFOREGROUND "$@"
EOF
chmod 0755 /usr/local/bin/apache2-foreground
