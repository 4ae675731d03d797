<?php
// Points Moodle's application and session caches (MUC) at the "cache" Redis
// instance, from config.php's moodle_redis_cache_* settings (environment and
// secrets). Run by `moodle-admin upgrade` before the web pods roll out; the
// cache configuration it writes lives on the shared moodledata, so every
// replica uses the same stores (php.ini keeps it out of OPcache). Idempotent:
// the store is added, or edited when it exists, and the mappings are set.
// Changes made in the admin UI to these two mappings are replaced here.
define('CLI_SCRIPT', true);
require((getenv('MOODLE_CODE_DIR') ?: '/var/www/moodle') . '/config.php');
require_once($CFG->libdir . '/clilib.php');

use core_cache\config_writer;
use core_cache\store;

const STORE = 'redis-cache';

$host = $CFG->moodle_redis_cache_host ?? '';
if ($host === '') {
    cli_error('configure-caches: $CFG->moodle_redis_cache_host is not set (MOODLE_REDIS_CACHE_HOST)');
}
$configuration = [
    // One server: host[:port]; the cache instance listens on 6379.
    'server' => str_contains($host, ':') ? $host : "$host:6379",
    'prefix' => 'muc_',
    'password' => $CFG->moodle_redis_cache_password ?? '',
    'serializer' => 1,   // Redis::SERIALIZER_PHP (igbinary is not in the image)
    'compressor' => 0,   // none
    'connectiontimeout' => 3,
    // TLS with the data tier's CA (config.php), the host name checked.
    'encryption' => ($CFG->moodle_redis_cache_cafile ?? '') !== '',
    'cafile' => $CFG->moodle_redis_cache_cafile ?? '',
    'clustermode' => false,
];

$writer = config_writer::instance();
if (array_key_exists(STORE, $writer->get_all_stores())) {
    $writer->edit_store_instance(STORE, 'redis', $configuration);
    $action = 'updated';
} else {
    $writer->add_store_instance(STORE, 'redis', $configuration);
    $action = 'added';
}
// Redis alone. A second store here would not be a fallback but a chain,
// and set_mode_mappings gives the stores rising sort values while
// core_cache\config::load sorts them falling: the last store listed becomes
// the primary (cache/classes/config_writer.php set_mode_mappings,
// config.php sort_mappings). Listing the file store second made the shared
// NFS file store every application cache's primary, with Redis behind it.
// A definition Redis cannot hold still gets the mode's default store:
// core_cache\helper::get_stores_suitable_for_definition falls back to it.
$writer->set_mode_mappings([
    store::MODE_APPLICATION => [STORE],
    store::MODE_SESSION => [STORE],
    store::MODE_REQUEST => ['default_request'],
]);
cli_writeln("configure-caches: $action store " . STORE . " at {$configuration['server']}; application and session caches use it");
