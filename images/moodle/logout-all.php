<?php
// Logs every user out: deletes every key of the sessions store (the
// session_redis_prefix) on every master of the sessions Redis Cluster.
// Moodle's own admin/cli/kill_all_sessions.php misses most sessions in
// cluster mode: its handler passes the key pattern where phpredis's
// RedisCluster::scan expects the node (lib/classes/session/redis.php
// get_all_sessions; phpredis cluster.md "Directed node commands"), so it
// scans one node, unfiltered. Run as `moodle-admin logout-all`
// (docs/data-tier-failures.md, "Log everyone out").
define('CLI_SCRIPT', true);
require((getenv('MOODLE_CODE_DIR') ?: '/var/www/moodle') . '/config.php');
require_once($CFG->libdir . '/clilib.php');

$seeds = array_values(array_filter(array_map('trim', explode(',', $CFG->session_redis_host ?? ''))));
$prefix = $CFG->session_redis_prefix ?? '';
if (count($seeds) < 2 || $prefix === '') {
    cli_error('logout-all: $CFG->session_redis_host must list the cluster\'s seeds (two or more) and session_redis_prefix must be set');
}
$context = !empty($CFG->session_redis_encrypt) ? $CFG->session_redis_encrypt : null;
try {
    $cluster = new RedisCluster(null, $seeds, 3, 3, false, $CFG->session_redis_auth ?? null, $context);
} catch (RedisClusterException $e) {
    cli_error('logout-all: cannot reach the sessions cluster: ' . $e->getMessage());
}
$cluster->setOption(Redis::OPT_SCAN, Redis::SCAN_RETRY);

// sweep deletes the prefix's keys on each master and returns how many.
$sweep = function () use ($cluster, $prefix): array {
    $deleted = 0;
    $masters = $cluster->_masters();
    foreach ($masters as $master) {
        $it = null;
        while (($keys = $cluster->scan($it, $master, $prefix . '*', 1000)) !== false) {
            foreach ($keys as $key) {
                // One key at a time: keys of different slots cannot share a command.
                $deleted += (int) $cluster->unlink($key);
            }
        }
    }
    return [$deleted, count($masters)];
};
[$deleted, $masters] = $sweep();
// A request running meanwhile may have written its session again: a second
// pass, then nothing may be left.
[$again] = $sweep();
$left = 0;
foreach ($cluster->_masters() as $master) {
    $it = null;
    while (($keys = $cluster->scan($it, $master, $prefix . '*', 1000)) !== false) {
        $left += count($keys);
    }
}
if ($left > 0) {
    cli_error("logout-all: $left session keys are still there (users are logging in again: put the site in maintenance first)");
}
cli_writeln('logout-all: deleted ' . ($deleted + $again) . " session keys on $masters masters; every user must log in again");
