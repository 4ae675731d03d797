<?php
// Filters that make learners' browsers fetch from third parties. Moodle's
// MathJax filter is on after installation and loads MathJax from a global
// CDN (cdn.jsdelivr.net, filter/mathjaxloader/settings.php) on every page
// with text: each learner's address and the page they read go to that CDN,
// outside the stack's residency boundary. Without MOODLE_MATHJAX_URL the
// filter is disabled here (site-wide, "Disabled", so no course turns it
// back on); with it, the filter is on and config.php forces that URL (a
// copy the site serves itself). Run by `moodle-admin upgrade`; idempotent.
define('CLI_SCRIPT', true);
require((getenv('MOODLE_CODE_DIR') ?: '/var/www/moodle') . '/config.php');
require_once($CFG->libdir . '/clilib.php');
require_once($CFG->libdir . '/filterlib.php');

$url = (string) getenv('MOODLE_MATHJAX_URL');
$state = $url === '' ? TEXTFILTER_DISABLED : TEXTFILTER_ON;
filter_set_global_state('mathjaxloader', $state);
$states = filter_get_global_states();
$now = $states['mathjaxloader']->active ?? null;
if ((int) $now !== $state) {
    cli_error("filters: mathjaxloader is $now after setting it to $state");
}
echo $url === '' ? "filters: MathJax disabled (no MOODLE_MATHJAX_URL)\n" : "filters: MathJax on, from $url\n";
