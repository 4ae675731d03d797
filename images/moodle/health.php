<?php
// Health endpoint for the Kubernetes probes. It never starts Moodle, so it
// never redirects (the kubelet asks with the pod's address as Host, and
// counts any 3xx as success) and it answers the same in maintenance mode
// (readiness must not take every pod out at once: users then get Moodle's
// maintenance page, not the gateway's 503).
//   ?live=1  liveness and startup: Apache and PHP answer.
//   (none)   readiness: this pod can serve: its config loads, moodledata and
//            the local cache are mounted and writable, and the database
//            answers with Moodle's schema in place.
header('Content-Type: text/plain');
header('Cache-Control: no-store');
if (isset($_GET['live'])) {
    echo "ok\n";
    exit;
}

define('MOODLE_CONFIG_ONLY', true);
require(__DIR__ . '/config.php');

/** Answers 503 with the reason (also logged, for kubectl logs). */
function unready(string $why): void {
    error_log("health.php: not ready: $why");
    http_response_code(503);
    echo "not ready: $why\n";
    exit;
}

foreach (['dataroot' => $CFG->dataroot, 'localcachedir' => $CFG->localcachedir] as $name => $dir) {
    if (!is_dir($dir) || !is_writable($dir)) {
        unready("$name $dir is not a writable directory");
    }
}

mysqli_report(MYSQLI_REPORT_OFF);
$db = mysqli_init();
$db->options(MYSQLI_OPT_CONNECT_TIMEOUT, 3);
$port = (int) ($CFG->dboptions['dbport'] ?? 3306);
// TLS as Moodle's own driver connects (the data tier's users require it).
$flags = 0;
if (!empty($CFG->dboptions['ssl'])) {
    $flags = MYSQLI_CLIENT_SSL;
    if ($CFG->dboptions['ssl'] === 'verify-full') {
        $flags |= MYSQLI_CLIENT_SSL_VERIFY_SERVER_CERT;
    }
}
if (!@$db->real_connect($CFG->dbhost, $CFG->dbuser, $CFG->dbpass, $CFG->dbname, $port, null, $flags)) {
    unready('database: ' . mysqli_connect_error());
}
$result = $db->query('SELECT 1 FROM ' . $CFG->prefix . 'config LIMIT 1');
if ($result === false) {
    unready('database: ' . $db->error);
}
$db->close();
echo "ok\n";
