<?php
// CI check of config.php without a Moodle tree: loads it with a complete
// environment and asserts the settings the region stacks depend on.
define('MOODLE_CONFIG_ONLY', true);
foreach ([
    'MOODLE_DB_HOST' => 'mysql.data.svc.cluster.local', 'MOODLE_DB_NAME' => 'moodle',
    'MOODLE_DB_USER' => 'moodle', 'MOODLE_HOSTNAME' => 'learn.example.com',
    'MOODLE_REDIS_SESSIONS_HOST' => 'redis-sessions-leader.data.svc.cluster.local:6379,redis-sessions-follower.data.svc.cluster.local:6379',
    'MOODLE_DB_READONLY_PORT' => '3307', 'MOODLE_DB_SSL' => 'require', 'MOODLE_DATA_TLS_DIR' => '/etc/moodle/data-tls',
    'MOODLE_REDIS_CACHE_HOST' => 'redis-cache.data.svc.cluster.local',
    'MOODLE_LANG' => 'de',
] as $k => $v) {
    putenv("$k=$v");
}
// The passwords are files of the pod's secrets volume, not variables.
$secrets = sys_get_temp_dir() . '/moodle-secrets-' . getmypid();
@mkdir($secrets, 0700);
foreach (['db-password' => 'pw', 'redis-sessions-password' => 'a', 'redis-cache-password' => 'b'] as $f => $v) {
    file_put_contents("$secrets/$f", $v);
}
putenv("MOODLE_SECRETS_DIR=$secrets");
require __DIR__ . '/config.php';
$checks = [
    'wwwroot'        => $CFG->wwwroot === 'https://learn.example.com',
    'sslproxy'       => $CFG->sslproxy === true,
    'dataroot'       => $CFG->dataroot === '/moodledata',
    'localcachedir'  => $CFG->localcachedir === '/var/moodle-localcache',
    'lock_factory'   => $CFG->lock_factory === '\core\lock\db_record_lock_factory',
    'session'        => $CFG->session_handler_class === '\core\session\redis',
    'lock timeout'   => $CFG->session_redis_acquire_lock_timeout === 120,
    'lock expire'    => $CFG->session_redis_lock_expire === 7200,
    'collation'      => $CFG->dboptions['dbcollation'] === 'utf8mb4_unicode_ci',
    'lang'           => $CFG->lang === 'de',
    'cron cli only'  => $CFG->cronclionly === true,
    'db type'        => $CFG->dbtype === 'mysqli',
    'client address' => $CFG->getremoteaddrconf === 3 && $CFG->reverseproxy === false,
    'no smtp unset'  => !isset($CFG->smtphosts),
    'db tls'         => ($CFG->dboptions['ssl'] ?? '') === 'require',
    'read replica'   => ($CFG->dboptions['readonly']['instance'][0] ?? null) === ['dbhost' => 'mysql.data.svc.cluster.local', 'dbport' => 3307],
    'sessions seeds' => count(array_filter(explode(',', $CFG->session_redis_host))) >= 2,
    'sessions tls'   => ($CFG->session_redis_encrypt['local_cert'] ?? '') === '/etc/moodle/data-tls/tls.crt',
    'cache tls'      => $CFG->moodle_redis_cache_cafile === '/etc/moodle/data-tls/ca.crt',
    'db password from its file'       => $CFG->dbpass === 'pw',
    'sessions password from its file' => $CFG->session_redis_auth === 'a',
    'cache password from its file'    => $CFG->moodle_redis_cache_password === 'b',
];
$failed = array_keys(array_filter($checks, fn($ok) => !$ok));
if ($failed) {
    fwrite(STDERR, 'config.php check failed: ' . implode(', ', $failed) . "\n");
    exit(1);
}
echo count($checks) . " passed, 0 failed\n";
