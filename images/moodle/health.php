<?php
// Health endpoint for the Kubernetes probes. ?live=1 answers without the
// database (liveness: PHP and Apache work); otherwise it loads Moodle and
// queries the database (readiness: this pod can serve a page).
if (isset($_GET['live'])) {
    header('Content-Type: text/plain');
    echo "ok\n";
    exit;
}
define('NO_MOODLE_COOKIES', true);
define('NO_UPGRADE_CHECK', true);
require(__DIR__ . '/config.php');
header('Content-Type: text/plain');
$DB->get_field_sql('SELECT 1');
echo "ok\n";
