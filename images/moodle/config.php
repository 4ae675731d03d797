<?php
// Moodle configuration for the region stacks. Every value comes from the
// environment (a ConfigMap) or from secrets mounted by Kubernetes; nothing
// here differs between regions or holds a secret.

unset($CFG);
global $CFG;
$CFG = new stdClass();

/** Reads a required environment variable or stops with its name. */
function moodle_env(string $name, ?string $default = null): string {
    $value = getenv($name);
    if ($value === false || $value === '') {
        if ($default !== null) {
            return $default;
        }
        fwrite(STDERR, "config.php: environment variable $name is required\n");
        exit(1);
    }
    return $value;
}

$CFG->dbtype    = 'mysqli';
$CFG->dblibrary = 'native';
$CFG->dbhost    = moodle_env('MOODLE_DB_HOST');
$CFG->dbname    = moodle_env('MOODLE_DB_NAME');
$CFG->dbuser    = moodle_env('MOODLE_DB_USER');
$CFG->dbpass    = moodle_env('MOODLE_DB_PASSWORD');
$CFG->prefix    = 'mdl_';
$CFG->dboptions = [
    'dbpersist'   => false,
    'dbport'      => (int) moodle_env('MOODLE_DB_PORT', '3306'),
    'dbcollation' => 'utf8mb4_unicode_ci',
];

// One wwwroot for every pod; TLS ends at the Istio gateway.
$CFG->wwwroot  = 'https://' . moodle_env('MOODLE_HOSTNAME');
$CFG->sslproxy = true;
$CFG->reverseproxy = false;

// Shared data on the NFS share; per-pod caches never shared.
$CFG->dataroot      = moodle_env('MOODLE_DATAROOT', '/moodledata');
$CFG->localcachedir = moodle_env('MOODLE_LOCALCACHEDIR', '/var/moodle-localcache');
$CFG->localrequestdir = moodle_env('MOODLE_LOCALREQUESTDIR', '/tmp/moodle-request');
$CFG->directorypermissions = 02770;

// File locks on network storage are unreliable: locks live in the database.
$CFG->lock_factory = '\core\lock\db_record_lock_factory';

// Sessions in Redis (the "sessions" instance, which never evicts).
$CFG->session_handler_class = '\core\session\redis';
$CFG->session_redis_host = moodle_env('MOODLE_REDIS_SESSIONS_HOST');
$CFG->session_redis_port = 6379;
$CFG->session_redis_auth = moodle_env('MOODLE_REDIS_SESSIONS_PASSWORD');
$CFG->session_redis_prefix = 'sess_';
$CFG->session_redis_acquire_lock_timeout = 120;
$CFG->session_redis_lock_expire = 7200;
$CFG->session_redis_serializer_use_igbinary = false;

// The application cache (MUC) store is configured in the admin UI against
// the "cache" Redis instance; its host and password are here for that.
$CFG->moodle_redis_cache_host = moodle_env('MOODLE_REDIS_CACHE_HOST');
$CFG->moodle_redis_cache_password = moodle_env('MOODLE_REDIS_CACHE_PASSWORD');

// Language packs baked into the image.
$CFG->langotherroot = '/var/www/langpacks';
$CFG->lang = moodle_env('MOODLE_LANG', 'en');

// Cron runs as a Kubernetes CronJob; never from the browser.
$CFG->cronclionly = true;
// Plugins come from the image unless pluginMode is "share".
$CFG->disableupdateautodeploy = moodle_env('MOODLE_PLUGIN_MODE', 'baked') === 'baked';
$CFG->preventexecpath = true;
$CFG->admin = 'admin';

if (getenv('MOODLE_CONFIG_CHECK') === '1') {
    // Lets CI check this file without a Moodle tree (see .ci/run).
    return;
}
require_once(__DIR__ . '/lib/setup.php');
