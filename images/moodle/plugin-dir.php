<?php
// Prints where a plugin lives in a Moodle tree, from its frankenstyle name:
//   php plugin-dir.php /var/www/moodle block_completion_progress
//   -> blocks/completion_progress
// The type-to-directory map is Moodle's own: lib/components.json for the
// plugin types and every plugin's db/subplugins.json for subplugin types
// (what core_component::get_plugin_types() reads). Used by the Dockerfile
// to place baked plugins.
if ($argc !== 3 || !preg_match('/^([a-z][a-z0-9]*)_([a-z][a-z0-9_]*)$/', $argv[2], $m)) {
    fwrite(STDERR, "usage: php plugin-dir.php MOODLE_DIR type_name (e.g. block_completion_progress)\n");
    exit(2);
}
[, $type, $name] = $m;
$root = rtrim($argv[1], '/');

/** Reads the plugin types of one components.json or subplugins.json. */
function plugin_types(string $file): array {
    $json = json_decode((string) file_get_contents($file), true);
    if (!is_array($json)) {
        fwrite(STDERR, "plugin-dir.php: $file is not valid JSON\n");
        exit(1);
    }
    // Moodle 4.5 subplugins.json files may use "subplugintypes" (relative to
    // the plugin) beside the older "plugintypes" (relative to the root).
    $types = $json['plugintypes'] ?? [];
    foreach ($json['subplugintypes'] ?? [] as $t => $dir) {
        $types[$t] ??= substr(dirname($file, 2), strlen($GLOBALS['root']) + 1) . '/' . $dir;
    }
    return $types;
}

$types = plugin_types("$root/lib/components.json");
$it = new RecursiveIteratorIterator(new RecursiveDirectoryIterator($root, FilesystemIterator::SKIP_DOTS));
foreach ($it as $file) {
    if ($file->getFilename() === 'subplugins.json' && basename($file->getPath()) === 'db') {
        $types += plugin_types($file->getPathname());
    }
}
if (!isset($types[$type])) {
    fwrite(STDERR, "plugin-dir.php: $type is not a plugin type of this Moodle (lib/components.json, db/subplugins.json)\n");
    exit(1);
}
echo $types[$type] . '/' . $name . "\n";
