<?php
// Moodle configuration for the region stacks. Every value comes from the
// environment (a ConfigMap) or from secrets mounted by Kubernetes; nothing
// here differs between regions or holds a secret.

unset($CFG);
global $CFG;
$CFG = new stdClass();

/**
 * A required setting: its value, else the default when one is given, else
 * a stop naming what is missing. Works under Apache too (no STDERR there):
 * the message goes to PHP's error log, which is the container's stderr in
 * both cases, and a web request gets a 500.
 */
function moodle_required(string|false $value, ?string $default, string $missing): string {
    if ($value !== false && $value !== '') {
        return $value;
    }
    if ($default !== null) {
        return $default;
    }
    error_log("config.php: $missing");
    if (PHP_SAPI !== 'cli' && !headers_sent()) {
        http_response_code(500);
    }
    exit(1);
}

// A setting from the environment.
function moodle_env(string $name, ?string $default = null): string {
    return moodle_required(getenv($name), $default, "environment variable $name is required");
}

// A password, from its file in MOODLE_SECRETS_DIR (the pod's projected
// secrets volume), never from the environment: Moodle's PHP info page and
// /proc/<pid>/environ show the environment. A missing file is an error
// unless a default is given (an optional secret).
function moodle_secret(string $file, ?string $default = null): string {
    $path = moodle_env('MOODLE_SECRETS_DIR', '/run/secrets/moodle') . '/' . $file;
    return moodle_required(is_readable($path) ? file_get_contents($path) : false, $default, "secret file $path is missing or unreadable");
}

// mysqli for MySQL (production); mariadb where the server is MariaDB (the
// tests that run this image's files on Debian's MariaDB).
$CFG->dbtype    = moodle_env('MOODLE_DB_TYPE', 'mysqli');
$CFG->dblibrary = 'native';
$CFG->dbhost    = moodle_env('MOODLE_DB_HOST');
$CFG->dbname    = moodle_env('MOODLE_DB_NAME');
$CFG->dbuser    = moodle_env('MOODLE_DB_USER');
$CFG->dbpass    = moodle_secret('db-password');
$CFG->prefix    = 'mdl_';
$CFG->dboptions = [
    'dbpersist'   => false,
    'dbport'      => (int) moodle_env('MOODLE_DB_PORT', '3306'),
    'dbcollation' => 'utf8mb4_unicode_ci',
    // A primary that just failed over answers again within seconds; a
    // request waits this long for a connection before it fails.
    'connecttimeout' => 5,
];
// The data tier is outside the mesh: every connection to MySQL is
// encrypted ('require'; the server's name is not checked, Moodle's mysqli
// driver has no option for a private CA: lib/dml/mysqli_native_moodle_database.php).
if (getenv('MOODLE_DB_SSL')) {
    $CFG->dboptions['ssl'] = getenv('MOODLE_DB_SSL');
}
// Reads go to the group's secondaries through the proxy's read port, with
// Moodle's own read-replica support (lib/dml/moodle_read_slave_trait.php):
// SELECTs outside transactions, on tables this request has not written in
// the last `latency` seconds; writes, transactions, locks and sessions
// stay on the primary. A read port with no secondary behind it refuses the
// connection within connecttimeout, and Moodle reads from the primary.
if (getenv('MOODLE_DB_READONLY_PORT')) {
    $CFG->dboptions['readonly'] = [
        'instance' => [['dbhost' => $CFG->dbhost, 'dbport' => (int) getenv('MOODLE_DB_READONLY_PORT')]],
        'connecttimeout' => 2,
        'latency' => 1,
    ];
}

// One wwwroot for every pod; TLS ends at the Istio gateway.
$CFG->wwwroot  = 'https://' . moodle_env('MOODLE_HOSTNAME');
$CFG->sslproxy = true;
// The gateway keeps the Host header, so this is not a "reverse proxy" site
// in Moodle's sense (one that is reached under another name).
$CFG->reverseproxy = false;
// The client's address: Apache's mod_remoteip already took it from the one
// X-Forwarded-For entry a trusted hop added (apache.conf). Moodle reads
// REMOTE_ADDR only and never the raw headers, which a client can forge:
// GETREMOTEADDR_SKIP_HTTP_CLIENT_IP (1) | GETREMOTEADDR_SKIP_HTTP_X_FORWARDED_FOR (2).
$CFG->getremoteaddrconf = 3;

// Shared data on the NFS share; per-pod caches never shared.
$CFG->dataroot      = moodle_env('MOODLE_DATAROOT', '/moodledata');
$CFG->localcachedir = moodle_env('MOODLE_LOCALCACHEDIR', '/var/moodle-localcache');
$CFG->localrequestdir = moodle_env('MOODLE_LOCALREQUESTDIR', '/tmp/moodle-request');
$CFG->directorypermissions = 02770;

// File locks on network storage are unreliable: locks live in the database.
$CFG->lock_factory = '\core\lock\db_record_lock_factory';

// Sessions in Redis (the "sessions" cluster, which never evicts). Two or
// more comma-separated seeds switch Moodle's handler to cluster mode
// (lib/classes/session/redis.php); one host would silently stay in single
// mode and fail on every key another shard holds.
$CFG->session_handler_class = '\core\session\redis';
$CFG->session_redis_host = moodle_env('MOODLE_REDIS_SESSIONS_HOST');
$CFG->session_redis_port = 6379;
// TLS to the data tier, with the stack's CA; the sessions cluster also
// checks Moodle's own certificate. Its nodes are reached at the addresses
// the cluster announces (CLUSTER SLOTS), which no certificate lists: the
// chain is checked, not the name.
$datatls = getenv('MOODLE_DATA_TLS_DIR') ?: '';
if ($datatls !== '') {
    $CFG->session_redis_encrypt = [
        'cafile' => "$datatls/ca.crt",
        'local_cert' => "$datatls/tls.crt",
        'local_pk' => "$datatls/tls.key",
        'verify_peer' => true,
        'verify_peer_name' => false,
    ];
}
$CFG->session_redis_auth = moodle_secret('redis-sessions-password');
$CFG->session_redis_prefix = 'sess_';
$CFG->session_redis_acquire_lock_timeout = 120;
$CFG->session_redis_lock_expire = 7200;
$CFG->session_redis_serializer_use_igbinary = false;

// The application and session caches (MUC) live in the "cache" Redis
// instance (allkeys-lru, not persistent). moodle-admin configure-caches, run
// by the upgrade Job, writes that store and its mappings into the shared
// cache configuration from these two values, so every replica has the same.
$CFG->moodle_redis_cache_host = moodle_env('MOODLE_REDIS_CACHE_HOST');
$CFG->moodle_redis_cache_password = moodle_secret('redis-cache-password');
// The cache instance's certificate names its Service: checked in full.
$CFG->moodle_redis_cache_cafile = $datatls !== '' ? "$datatls/ca.crt" : '';

// Moodle's own mail (password resets, notifications) through the stack's
// SMTP relay; without MOODLE_SMTP_HOST Moodle uses PHP's mail(), which the
// image cannot deliver.
if (getenv('MOODLE_SMTP_HOST')) {
    $CFG->smtphosts = getenv('MOODLE_SMTP_HOST');
    // STARTTLS on the submission port; implicit TLS on 465.
    $CFG->smtpsecure = str_ends_with($CFG->smtphosts, ':465') ? 'ssl' : 'tls';
    $CFG->smtpauthtype = 'LOGIN';
    $CFG->smtpuser = (string) getenv('MOODLE_SMTP_USER');
    $CFG->smtppass = moodle_secret('smtp-password', '');
    $CFG->noreplyaddress = moodle_env('MOODLE_SMTP_FROM');
}

// Language packs baked into the image. The site language is set here, for
// every pod, and so cannot be changed in the admin UI or with cfg.php.
$CFG->langotherroot = '/var/www/langpacks';
$CFG->lang = moodle_env('MOODLE_LANG', 'en');

// MathJax only from where MOODLE_MATHJAX_URL says (the site's own copy);
// without it filters.php disables the filter, which would otherwise load
// MathJax from a global CDN in every learner's browser.
if (getenv('MOODLE_MATHJAX_URL')) {
    $CFG->forced_plugin_settings['filter_mathjaxloader']['httpsurl'] = getenv('MOODLE_MATHJAX_URL');
}

// Cron runs as a Kubernetes CronJob; never from the browser.
$CFG->cronclionly = true;
// Plugins come from the image unless pluginMode is "share".
$CFG->disableupdateautodeploy = moodle_env('MOODLE_PLUGIN_MODE', 'baked') === 'baked';
$CFG->preventexecpath = true;
$CFG->admin = 'admin';

if (defined('MOODLE_CONFIG_ONLY')) {
    // The readiness probe (health.php) and the CI check (check-config.php)
    // read these settings without starting Moodle.
    return;
}
require_once(__DIR__ . '/lib/setup.php');
