/* Tests for common/config.c: defaults, every kind of rejection with its exact
 * key path, environment overrides, path resolution, settings, the JSON round
 * trip, pool fingerprints, the shipped example config and the docs. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/config_schema.h"
#include "common/log.h"
#include "tests/support/th.h"

#define ORIGIN "config/sluice.json"
#define MIN_POOL "{\"name\":\"a\",\"plugins\":[\"x\"]}"

static char err[1024];

static sl_config *load(const char *json)
{
    sl_config *c = sl_cfg_load_string(json, ORIGIN, SL_CFG_NO_ENV, err, sizeof err);
    cr_assert_not_null(c, "unexpected error: %s\nconfig: %s", err, json);
    return c;
}

static sl_config *load_env(const char *json)
{
    sl_config *c = sl_cfg_load_string(json, ORIGIN, SL_CFG_ENV, err, sizeof err);
    cr_assert_not_null(c, "unexpected error: %s", err);
    return c;
}

/* Loading must fail with exactly `want` as the message. */
static void fails_exactly(const char *json, int env, const char *want)
{
    sl_config *c = sl_cfg_load_string(json, ORIGIN, env, err, sizeof err);
    cr_assert_null(c, "should fail: %s", json);
    cr_assert_str_eq(err, want);
}

/* Loading must fail with a message containing `want`. */
static void fails_with(const char *json, const char *want)
{
    sl_config *c = sl_cfg_load_string(json, ORIGIN, SL_CFG_NO_ENV, err, sizeof err);
    cr_assert_null(c, "should fail: %s", json);
    cr_assert(strstr(err, want) != NULL, "error \"%s\" lacks \"%s\"", err, want);
}

/* {"plugin_dir":"/p", <extra>, "pools":[<pools>]} */
static char *doc(const char *extra, const char *pools)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "{\"plugin_dir\":\"/p\",%s%s\"pools\":[%s]}", extra, *extra ? "," : "", pools);
    return buf;
}

Test(config, minimal_config_gets_documented_defaults)
{
    sl_config *c = load(doc("", MIN_POOL));
    const sl_pool_cfg *p = &c->pools[0];

    cr_assert_str_eq(c->origin, ORIGIN);
    cr_assert_str_eq(c->redis_url, "redis://127.0.0.1:6379/0");
    cr_assert_eq(c->connect_timeout_ms, 2000);
    cr_assert_eq(c->command_timeout_ms, 5000);
    cr_assert_eq(c->reconnect_min_ms, 100);
    cr_assert_eq(c->reconnect_max_ms, 5000);
    cr_assert_eq(c->log_format, SL_LOG_TEXT);
    cr_assert_eq(c->log_level, SL_INFO);
    cr_assert_null(c->log_file);
    cr_assert_str_eq(c->plugin_dir, "/p");
    cr_assert_eq(c->shutdown_timeout_ms, 30000);
    cr_assert_eq(c->restart_min_ms, 100);
    cr_assert_eq(c->restart_max_ms, 30000);
    cr_assert_null(c->worker_path);
    cr_assert_eq(c->max_payload_bytes, 1048576);
    cr_assert_eq(c->max_attempts, 25);
    cr_assert_eq(c->max_deliveries, 3);
    cr_assert_eq(c->backoff_base_ms, 1000);
    cr_assert_eq(c->backoff_cap_ms, 3600000);
    cr_assert_eq(c->job_timeout_ms, 300000);
    cr_assert_eq(c->npools, 1);
    cr_assert_str_eq(p->name, "a");
    cr_assert_str_eq(p->queue, "default");
    cr_assert_str_eq(p->group, "a", "group defaults to the pool name");
    cr_assert_eq(p->nplugins, 1);
    cr_assert_str_eq(p->plugins[0], "x");
    cr_assert_eq(p->workers, 1);
    cr_assert_str_eq(p->start_at, "0");
    cr_assert_eq(p->read_count, 256);
    cr_assert_eq(p->prefetch_ms, 5);
    cr_assert_eq(p->block_ms, 2000);
    cr_assert_eq(p->nsettings, 0);
    sl_cfg_free(c);
}

Test(config, every_key_set)
{
    sl_config *c = load("{\"redis\":{\"url\":\"redis://:pw@db:6380/2\",\"connect_timeout\":\"1s\","
                        "\"command_timeout\":\"3s\",\"reconnect_min\":50,\"reconnect_max\":\"2m\"},"
                        "\"log\":{\"format\":\"json\",\"level\":\"debug\",\"file\":\"/var/log/s.log\"},"
                        "\"plugin_dir\":\"/opt/plugins\","
                        "\"supervisor\":{\"shutdown_timeout\":\"10s\",\"restart_backoff_min\":\"250ms\","
                        "\"restart_backoff_max\":\"1h\",\"worker_path\":\"/usr/bin/sluice-worker\"},"
                        "\"jobs\":{\"max_payload_bytes\":65536,\"max_attempts\":5,\"max_deliveries\":2,"
                        "\"backoff_base\":\"1.5s\",\"backoff_cap\":\"10m\",\"timeout\":\"30s\"},"
                        "\"limits\":{\"partner-api\":{\"types\":[\"invoice.send.v1\",\"x.v1\"],\"rate\":100,\"per\":"
                        "\"2s\",\"burst\":20},"
                        "\"per-tenant\":{\"types\":[\"report.nightly.v1\"],\"concurrency\":2,\"key\":\"tenant_id\"}},"
                        "\"pools\":[{\"name\":\"p1\",\"queue\":\"q1\",\"group\":\"g1\",\"plugins\":[\"a\",\"b.so\"],"
                        "\"workers\":0,\"start_at\":\"$\",\"read_count\":100,\"block\":\"500ms\","
                        "\"settings\":{\"s\":\"v\"}}]}");
    cr_assert_str_eq(c->redis_url, "redis://:pw@db:6380/2");
    cr_assert_eq(c->connect_timeout_ms, 1000);
    cr_assert_eq(c->command_timeout_ms, 3000);
    cr_assert_eq(c->reconnect_min_ms, 50);
    cr_assert_eq(c->reconnect_max_ms, 120000);
    cr_assert_eq(c->log_format, SL_LOG_JSON);
    cr_assert_eq(c->log_level, SL_DEBUG);
    cr_assert_str_eq(c->log_file, "/var/log/s.log");
    cr_assert_str_eq(c->plugin_dir, "/opt/plugins");
    cr_assert_eq(c->shutdown_timeout_ms, 10000);
    cr_assert_eq(c->restart_min_ms, 250);
    cr_assert_eq(c->restart_max_ms, 3600000);
    cr_assert_str_eq(c->worker_path, "/usr/bin/sluice-worker");
    cr_assert_eq(c->max_payload_bytes, 65536);
    cr_assert_eq(c->max_attempts, 5);
    cr_assert_eq(c->max_deliveries, 2);
    cr_assert_eq(c->backoff_base_ms, 1500);
    cr_assert_eq(c->backoff_cap_ms, 600000);
    cr_assert_eq(c->job_timeout_ms, 30000);
    cr_assert_str_eq(c->pools[0].queue, "q1");
    cr_assert_str_eq(c->pools[0].group, "g1");
    cr_assert_eq(c->pools[0].nplugins, 2);
    cr_assert_str_eq(c->pools[0].plugins[1], "b.so");
    cr_assert_eq(c->pools[0].workers, 0);
    cr_assert_str_eq(c->pools[0].start_at, "$");
    cr_assert_eq(c->pools[0].read_count, 100);
    cr_assert_eq(c->pools[0].block_ms, 500);
    sl_cfg_free(c);
}

Test(config, rejects_unknown_key)
{
    fails_exactly(doc("\"redis\":{\"urll\":\"redis://h\"}", MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": redis.urll: unknown key");
    fails_exactly(doc("\"plugins_dir\":\"/x\"", MIN_POOL), SL_CFG_NO_ENV, ORIGIN ": plugins_dir: unknown key");
    fails_exactly(doc("", MIN_POOL ","
                                   "{\"name\":\"b\",\"plugins\":[\"x\"],\"nmae\":1}"),
                  SL_CFG_NO_ENV, ORIGIN ": pools[1].nmae: unknown key");
    fails_exactly(doc("\"redis.url\":\"redis://h\"", MIN_POOL), SL_CFG_NO_ENV, ORIGIN ": redis.url: unknown key");
    fails_exactly(doc("\"Redis\":{}", MIN_POOL), SL_CFG_NO_ENV, ORIGIN ": Redis: unknown key");
    fails_exactly(doc("\"jobs\":{\"max_attempts\":3,\"retries\":2}", MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": jobs.retries: unknown key");
}

Test(config, rejects_bad_types_naming_the_path)
{
    fails_exactly(doc("", MIN_POOL ",{\"name\":\"b\",\"plugins\":[\"x\"],\"workers\":\"two\"}"), SL_CFG_NO_ENV,
                  ORIGIN ": pools[1].workers: expected an integer in 0..1024, got \"two\"");
    fails_with(doc("", "{\"name\":\"a\",\"plugins\":[\"x\"],\"workers\":1025}"),
               "pools[0].workers: expected an integer in 0..1024, got 1025");
    fails_with(doc("", "{\"name\":\"a\",\"plugins\":[\"x\"],\"workers\":-1}"),
               "pools[0].workers: expected an integer in 0..1024, got -1");
    fails_with(doc("", "{\"name\":\"a\",\"plugins\":[\"x\"],\"workers\":1.5}"),
               "pools[0].workers: expected an integer in 0..1024, got 1.5");
    fails_with(doc("", "{\"name\":\"a\",\"plugins\":[\"x\"],\"workers\":true}"),
               "pools[0].workers: expected an integer in 0..1024, got true");
    fails_with(doc("\"redis\":5", MIN_POOL), "redis: expected an object");
    fails_with(doc("\"log\":{\"level\":\"loud\"}", MIN_POOL),
               "log.level: expected one of debug|info|warn|error, got \"loud\"");
    fails_with(doc("\"log\":{\"format\":\"xml\"}", MIN_POOL), "log.format: expected one of text|json, got \"xml\"");
    fails_with(doc("\"jobs\":{\"max_attempts\":0}", MIN_POOL),
               "jobs.max_attempts: expected an integer in 1..10000, got 0");
    fails_with(doc("\"jobs\":{\"timeout\":\"soon\"}", MIN_POOL), "jobs.timeout: expected a duration in 1ms..24h");
    fails_with(doc("\"jobs\":{\"timeout\":\"soon\"}", MIN_POOL), "got \"soon\"");
    fails_with(doc("\"jobs\":{\"timeout\":0}", MIN_POOL), "jobs.timeout: expected a duration");
    fails_with(doc("\"jobs\":{\"timeout\":\"25h\"}", MIN_POOL), "jobs.timeout: expected a duration");
    fails_with(doc("\"supervisor\":{\"worker_path\":7}", MIN_POOL),
               "supervisor.worker_path: expected a string or null, got 7");
    fails_with(doc("", "{\"name\":\"a\",\"plugins\":[\"x\"],\"block\":\"3s\"}"),
               "pools[0].block: expected a duration in 1ms..2s");
    fails_with(doc("", "{\"name\":\"a\",\"plugins\":[\"x\"],\"start_at\":\"later\"}"),
               "pools[0].start_at: expected \"0\", \"$\" or a stream id");
    fails_with("[]", ORIGIN ": expected a JSON object at the top level");
}

Test(config, durations_accept_ms_and_strings)
{
    const char *forms[][2] = {{"250", "250"},       {"\"250ms\"", "250"},  {"\"10s\"", "10000"},
                              {"\"2m\"", "120000"}, {"\"1h\"", "3600000"}, {"\"1.5s\"", "1500"}};
    char extra[128];

    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        snprintf(extra, sizeof extra, "\"supervisor\":{\"shutdown_timeout\":%s}", forms[i][0]);
        sl_config *c = load(doc(extra, MIN_POOL));
        cr_assert_eq(c->shutdown_timeout_ms, atoll(forms[i][1]), "%s", forms[i][0]);
        sl_cfg_free(c);
    }
}

Test(config, rejects_missing_required)
{
    fails_exactly("{\"pools\":[" MIN_POOL "]}", SL_CFG_NO_ENV, ORIGIN ": plugin_dir: required key is missing");
    fails_exactly("{\"plugin_dir\":\"/p\"}", SL_CFG_NO_ENV, ORIGIN ": pools: required key is missing");
    fails_exactly(doc("", ""), SL_CFG_NO_ENV, ORIGIN ": pools: expected a non-empty array of pool objects");
    fails_exactly(doc("", "{\"plugins\":[\"x\"]}"), SL_CFG_NO_ENV, ORIGIN ": pools[0].name: required key is missing");
    fails_exactly(doc("", "{\"name\":\"a\"}"), SL_CFG_NO_ENV, ORIGIN ": pools[0].plugins: required key is missing");
    fails_with(doc("", "{\"name\":\"a\",\"plugins\":[]}"), "pools[0].plugins: expected a non-empty array");
    fails_with(doc("", "3"), "pools[0]: expected an object");
    fails_with("{\"plugin_dir\":\"\",\"pools\":[" MIN_POOL "]}", "plugin_dir: must not be empty");
}

Test(config, validates_names_and_plugins)
{
    fails_with(doc("", "{\"name\":\"a b\",\"plugins\":[\"x\"]}"),
               "pools[0].name: expected a name of 1-64 characters from [A-Za-z0-9_.-], got \"a b\"");
    fails_with(doc("", "{\"name\":\"a\",\"queue\":\"q{x}\",\"plugins\":[\"x\"]}"), "pools[0].queue: expected a name");
    fails_with(doc("", "{\"name\":\"a\",\"group\":\"\",\"plugins\":[\"x\"]}"), "pools[0].group: must not be empty");
    fails_with(doc("", "{\"name\":\"a\",\"plugins\":[\"ok\",\"../evil\"]}"),
               "pools[0].plugins[1]: plugin names are file names in plugin_dir and must not "
               "contain '/', got \"../evil\"");
    fails_with(doc("", "{\"name\":\"a\",\"plugins\":[\"..\"]}"), "pools[0].plugins[0]:");
    fails_with(doc("", "{\"name\":\"a\",\"plugins\":[\"x\",\"x\"]}"), "pools[0].plugins[1]: duplicate plugin \"x\"");
    fails_with(doc("", "{\"name\":\"a\",\"plugins\":[3]}"), "pools[0].plugins[0]: expected a plugin file name, got 3");
}

Test(config, rejects_duplicate_pool_names)
{
    fails_exactly(doc("", MIN_POOL ",{\"name\":\"b\",\"plugins\":[\"y\"]}," MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": pools[2].name: duplicate pool name \"a\" (also pools[0])");
}

Test(config, rejects_duplicate_json_keys)
{
    fails_exactly("{\"plugin_dir\":\"/a\",\"plugin_dir\":\"/b\",\"pools\":[" MIN_POOL "]}", SL_CFG_NO_ENV,
                  ORIGIN ": plugin_dir: duplicate key");
    fails_with(doc("", "{\"name\":\"a\",\"plugins\":[\"x\"],\"settings\":{\"k\":1,\"k\":2}}"),
               "pools[0].settings.k: duplicate key");
}

Test(config, redis_url_errors_never_show_the_password)
{
    fails_exactly(doc("\"redis\":{\"url\":\"redis://u:SECRETPW@host:0\"}", MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": redis.url: invalid Redis URL: port must be a number in 1..65535");
    fails_with(doc("\"redis\":{\"url\":\"rediss://u:SECRETPW@host\"}", MIN_POOL),
               "redis.url: invalid Redis URL: TLS (rediss://) is not supported");
    cr_assert(strstr(err, "SECRETPW") == NULL);
    fails_with(doc("\"redis\":{\"url\":\"SECRETPW\"}", MIN_POOL), "redis.url: invalid Redis URL");
    cr_assert(strstr(err, "SECRETPW") == NULL, "%s", err);
    fails_with(doc("\"redis\":{\"url\":\"redis://:SECRETPW@\"}", MIN_POOL), "empty host");
    cr_assert(strstr(err, "SECRETPW") == NULL, "%s", err);

    setenv("SLUICE_REDIS_URL", "redis://:SECRETPW@h:99999", 1);
    fails_exactly(doc("", MIN_POOL), SL_CFG_ENV,
                  "SLUICE_REDIS_URL: invalid Redis URL: port must be a number in 1..65535");
}

Test(config, command_timeout_must_exceed_block)
{
    fails_exactly(doc("\"redis\":{\"command_timeout\":\"2s\"}", MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": redis.command_timeout: must be greater than every pool's block "
                         "(2s <= pools[0].block 2s)");
    fails_with(doc("\"redis\":{\"command_timeout\":1500}", "{\"name\":\"a\",\"plugins\":[\"x\"],\"block\":1000},"
                                                           "{\"name\":\"b\",\"plugins\":[\"x\"],\"block\":\"1.5s\"}"),
               "redis.command_timeout: must be greater than every pool's block "
               "(1500ms <= pools[1].block 1500ms)");
    sl_config *c =
        load(doc("\"redis\":{\"command_timeout\":1500}", "{\"name\":\"a\",\"plugins\":[\"x\"],\"block\":1000}"));
    cr_assert_eq(c->command_timeout_ms, 1500);
    sl_cfg_free(c);
}

Test(config, cross_checks)
{
    fails_with(doc("\"redis\":{\"wait_replicas\":1,\"wait_timeout\":\"5s\"}", MIN_POOL),
               "redis.wait_timeout: must be less than redis.command_timeout (5s >= 5s)");
    fails_with(doc("\"redis\":{\"wait_replicas\":65}", MIN_POOL), "redis.wait_replicas");
    fails_with(doc("\"redis\":{\"reconnect_min\":\"10s\",\"reconnect_max\":\"1s\"}", MIN_POOL),
               "redis.reconnect_max: must not be less than redis.reconnect_min");
    fails_with(doc("\"supervisor\":{\"restart_backoff_min\":\"1m\",\"restart_backoff_max\":\"1s\"}", MIN_POOL),
               "supervisor.restart_backoff_max: must not be less than supervisor.restart_backoff_min");
    fails_with(doc("\"jobs\":{\"backoff_base\":\"2h\",\"backoff_cap\":\"1h\"}", MIN_POOL),
               "jobs.backoff_cap: must not be less than jobs.backoff_base");
}

Test(config, syntax_error_reports_line)
{
    fails_with("{\n  \"plugin_dir\": \"/p\",\n  \"pools\": [,]\n}", ORIGIN ": line 3, column ");
    cr_assert(strstr(err, "invalid JSON") != NULL, "%s", err);
    fails_with("{\"plugin_dir\":\"/p\"} trailing", ORIGIN ": line 1, column ");
    fails_with("", ORIGIN ": line 1");
}

Test(config, settings_are_strings)
{
    sl_config *c = load(doc("", "{\"name\":\"a\",\"plugins\":[\"x\"],\"settings\":{"
                                "\"s\":\"text\",\"i\":3,\"neg\":-42,\"f\":2.5,\"t\":true,"
                                "\"no\":false,\"empty\":\"\"}}"));
    const sl_pool_cfg *p = sl_cfg_pool(c, "a");

    cr_assert_not_null(p);
    cr_assert_eq(p->nsettings, 7);
    cr_assert_str_eq(sl_cfg_setting(p, "s"), "text");
    cr_assert_str_eq(sl_cfg_setting(p, "i"), "3");
    cr_assert_str_eq(sl_cfg_setting(p, "neg"), "-42");
    cr_assert_str_eq(sl_cfg_setting(p, "f"), "2.5");
    cr_assert_str_eq(sl_cfg_setting(p, "t"), "true");
    cr_assert_str_eq(sl_cfg_setting(p, "no"), "false");
    cr_assert_str_eq(sl_cfg_setting(p, "empty"), "");
    cr_assert_null(sl_cfg_setting(p, "missing"));
    cr_assert_null(sl_cfg_pool(c, "zzz"));
    sl_cfg_free(c);

    fails_exactly(doc("", "{\"name\":\"a\",\"plugins\":[\"x\"],\"settings\":{\"nested\":{\"x\":1}}}"), SL_CFG_NO_ENV,
                  ORIGIN ": pools[0].settings.nested: expected a string, number or boolean, got an object");
    fails_with(doc("", "{\"name\":\"a\",\"plugins\":[\"x\"],\"settings\":{\"l\":[1]}}"),
               "pools[0].settings.l: expected a string, number or boolean, got an array");
    fails_with(doc("", "{\"name\":\"a\",\"plugins\":[\"x\"],\"settings\":{\"n\":null}}"),
               "pools[0].settings.n: expected a string, number or boolean, got null");
    fails_with(doc("", "{\"name\":\"a\",\"plugins\":[\"x\"],\"settings\":[]}"),
               "pools[0].settings: expected an object");
}

Test(config, env_overrides_apply_only_with_env_flag)
{
    const char *json = doc("\"log\":{\"level\":\"warn\"}", MIN_POOL);
    char *jcopy = strdup(json);
    sl_config *c;

    setenv("SLUICE_REDIS_URL", "redis://:pw@envhost:7000/3", 1);
    setenv("SLUICE_LOG_LEVEL", "debug", 1);
    setenv("SLUICE_LOG_FORMAT", "json", 1);
    setenv("SLUICE_LOG_FILE", "/tmp/env.log", 1);
    setenv("SLUICE_PLUGIN_DIR", "/env/plugins", 1);
    setenv("SLUICE_WORKER_PATH", "/env/sluice-worker", 1);
    setenv("SLUICE_SHUTDOWN_TIMEOUT", "5s", 1);

    c = load_env(jcopy);
    cr_assert_str_eq(c->redis_url, "redis://:pw@envhost:7000/3");
    cr_assert_eq(c->log_level, SL_DEBUG);
    cr_assert_eq(c->log_format, SL_LOG_JSON);
    cr_assert_str_eq(c->log_file, "/tmp/env.log");
    cr_assert_str_eq(c->plugin_dir, "/env/plugins");
    cr_assert_str_eq(c->worker_path, "/env/sluice-worker");
    cr_assert_eq(c->shutdown_timeout_ms, 5000);
    sl_cfg_free(c);

    c = load(jcopy);
    cr_assert_str_eq(c->redis_url, "redis://127.0.0.1:6379/0");
    cr_assert_eq(c->log_level, SL_WARN);
    cr_assert_eq(c->log_format, SL_LOG_TEXT);
    cr_assert_null(c->log_file);
    cr_assert_str_eq(c->plugin_dir, "/p");
    cr_assert_null(c->worker_path);
    cr_assert_eq(c->shutdown_timeout_ms, 30000);
    sl_cfg_free(c);

    setenv("SLUICE_LOG_LEVEL", "", 1); /* empty means unset */
    c = load_env(jcopy);
    cr_assert_eq(c->log_level, SL_WARN);
    sl_cfg_free(c);
    free(jcopy);
}

Test(config, bad_env_values_name_the_variable)
{
    const char *json = doc("", MIN_POOL);

    setenv("SLUICE_LOG_LEVEL", "loud", 1);
    fails_exactly(json, SL_CFG_ENV, "SLUICE_LOG_LEVEL: expected one of debug|info|warn|error, got \"loud\"");
    unsetenv("SLUICE_LOG_LEVEL");
    setenv("SLUICE_LOG_FORMAT", "xml", 1);
    fails_exactly(json, SL_CFG_ENV, "SLUICE_LOG_FORMAT: expected one of text|json, got \"xml\"");
}

Test(config, bad_shutdown_env)
{
    setenv("SLUICE_SHUTDOWN_TIMEOUT", "soon", 1);
    sl_config *c = sl_cfg_load_string(doc("", MIN_POOL), ORIGIN, SL_CFG_ENV, err, sizeof err);
    cr_assert_null(c);
    const char *want = "SLUICE_SHUTDOWN_TIMEOUT: expected a duration in 0ms..1h";
    cr_assert(strncmp(err, want, strlen(want)) == 0, "%s", err);
    cr_assert(strstr(err, "got \"soon\"") != NULL, "%s", err);
    c = load(doc("", MIN_POOL)); /* ignored without SL_CFG_ENV */
    sl_cfg_free(c);
}

Test(config, env_plugin_dir_satisfies_required_and_resolves_against_cwd)
{
    char cwd[PATH_MAX], want[PATH_MAX + 32];
    sl_config *c;

    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    setenv("SLUICE_PLUGIN_DIR", "./envplugins", 1);
    c = load_env("{\"pools\":[" MIN_POOL "]}");
    snprintf(want, sizeof want, "%s/envplugins", strcmp(cwd, "/") == 0 ? "" : cwd);
    cr_assert_str_eq(c->plugin_dir, want);
    sl_cfg_free(c);
}

Test(config, relative_paths_resolve_against_the_config_folder)
{
    char dir[PATH_MAX], path[PATH_MAX + 32], want[PATH_MAX + 64];
    FILE *f;
    sl_config *c;

    snprintf(dir, sizeof dir, "%s/conf", th_tmpdir());
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/sluice.json", dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("{\"plugin_dir\":\"./plugins/\",\"log\":{\"file\":\"../logs/sluice.log\"},"
          "\"pools\":[" MIN_POOL "]}",
          f);
    fclose(f);
    c = sl_cfg_load_file(path, SL_CFG_NO_ENV, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    cr_assert_str_eq(c->origin, path);
    snprintf(want, sizeof want, "%s/plugins", dir);
    cr_assert_str_eq(c->plugin_dir, want);
    snprintf(want, sizeof want, "%s/../logs/sluice.log", dir);
    cr_assert_str_eq(c->log_file, want);
    sl_cfg_free(c);

    /* relative file name: the folder is made absolute from the cwd */
    cr_assert_eq(chdir(th_tmpdir()), 0);
    c = sl_cfg_load_file("conf/sluice.json", SL_CFG_NO_ENV, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    snprintf(want, sizeof want, "%s/plugins", dir);
    cr_assert_str_eq(c->plugin_dir, want);
    cr_assert_str_eq(c->origin, "conf/sluice.json");
    sl_cfg_free(c);
}

/* Pool settings whose key ends in _file or _dir are paths: a relative string
 * value resolves against the config file's folder, like plugin_dir; an
 * absolute or empty one, and every other setting, is kept as written. */
Test(config, path_settings_resolve_against_the_config_folder)
{
    char dir[PATH_MAX], path[PATH_MAX + 32], want[PATH_MAX + 64];
    FILE *f;
    sl_config *c;
    const sl_pool_cfg *p;

    snprintf(dir, sizeof dir, "%s/conf", th_tmpdir());
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/sluice.json", dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("{\"plugin_dir\":\"/p\",\"pools\":[{\"name\":\"a\",\"plugins\":[\"x\"],\"settings\":{"
          "\"summary_file\":\"./out/s.jsonl\",\"cache_dir\":\"../cache\",\"abs_file\":\"/var/x\","
          "\"empty_file\":\"\",\"count_file\":3,\"profile\":\"rel/x\",\"file\":\"rel/y\"}}]}",
          f);
    fclose(f);
    cr_assert_eq(chdir("/"), 0);
    c = sl_cfg_load_file(path, SL_CFG_NO_ENV, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    p = sl_cfg_pool(c, "a");
    snprintf(want, sizeof want, "%s/out/s.jsonl", dir);
    cr_assert_str_eq(sl_cfg_setting(p, "summary_file"), want);
    snprintf(want, sizeof want, "%s/../cache", dir);
    cr_assert_str_eq(sl_cfg_setting(p, "cache_dir"), want);
    cr_assert_str_eq(sl_cfg_setting(p, "abs_file"), "/var/x");
    cr_assert_str_eq(sl_cfg_setting(p, "empty_file"), "");
    cr_assert_str_eq(sl_cfg_setting(p, "count_file"), "3", "not a string: kept");
    cr_assert_str_eq(sl_cfg_setting(p, "profile"), "rel/x", "ends in neither _file nor _dir");
    cr_assert_str_eq(sl_cfg_setting(p, "file"), "rel/y", "the suffix needs its underscore");
    sl_cfg_free(c);
}

Test(config, load_string_resolves_against_cwd)
{
    char cwd[PATH_MAX], want[PATH_MAX + 32];
    sl_config *c;

    cr_assert_eq(chdir(th_tmpdir()), 0);
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    c = load("{\"plugin_dir\":\"plugins\",\"pools\":[" MIN_POOL "]}");
    snprintf(want, sizeof want, "%s/plugins", cwd);
    cr_assert_str_eq(c->plugin_dir, want);
    sl_cfg_free(c);
}

Test(config, load_file_errors)
{
    sl_config *c = sl_cfg_load_file("/nonexistent/sluice.json", SL_CFG_NO_ENV, err, sizeof err);
    cr_assert_null(c);
    cr_assert_str_eq(err, "/nonexistent/sluice.json: open() failed: No such file or directory");
    cr_assert_null(sl_cfg_load_file("/nonexistent/sluice.json", SL_CFG_NO_ENV, NULL, 0));
}

static const char *full_config =
    "{\"redis\":{\"url\":\"redis://u:p%40ss@db:6380/2\",\"connect_timeout\":\"1s\","
    "\"command_timeout\":\"3s\",\"reconnect_min\":50,\"reconnect_max\":\"2m\"},"
    "\"log\":{\"format\":\"json\",\"level\":\"error\",\"file\":\"/var/log/s.log\"},"
    "\"plugin_dir\":\"/opt/plugins\","
    "\"supervisor\":{\"shutdown_timeout\":0,\"restart_backoff_min\":\"250ms\","
    "\"restart_backoff_max\":\"1h\",\"worker_path\":\"/usr/bin/sluice-worker\"},"
    "\"jobs\":{\"max_payload_bytes\":65536,\"max_attempts\":5,\"max_deliveries\":2,"
    "\"backoff_base\":\"1.5s\",\"backoff_cap\":\"10m\",\"timeout\":\"30s\"},"
    "\"retention\":{\"interval\":\"2s\"},"
    "\"queues\":{\"q1\":{\"retention_max_age\":\"7d\",\"retention_max_len\":1000,\"dlq_maxlen\":5,\"partitions\":8},"
    "\"other\":{\"retention_max_len\":10}},"
    "\"schedules\":[{\"name\":\"nightly\",\"cron\":\"0 3 * * *\",\"tz\":\"Europe/Berlin\",\"queue\":\"q1\","
    "\"type\":\"report.nightly.v1\",\"payload\":{\"kind\":\"daily\",\"n\":[1,2]},\"missed\":\"one\",\"jitter\":\"30s\"}"
    "],"
    "\"limits\":{\"partner-api\":{\"types\":[\"invoice.send.v1\",\"x.v1\"],\"rate\":100,\"per\":\"2s\",\"burst\":20},"
    "\"per-tenant\":{\"types\":[\"report.nightly.v1\"],\"concurrency\":2,\"key\":\"tenant_id\"}},"
    "\"pools\":[{\"name\":\"p1\",\"queue\":\"q1\",\"group\":\"g1\",\"plugins\":[\"a\",\"b.so\"],"
    "\"workers\":0,\"start_at\":\"1700000000000-5\",\"read_count\":100,\"block\":\"500ms\","
    "\"settings\":{\"s\":\"v \\\"q\\\"\",\"n\":1.5,\"b\":true}},"
    "{\"name\":\"p2\",\"plugins\":[\"c\"]}]}";

static void assert_same(const sl_config *a, const sl_config *b)
{
    cr_assert_str_eq(a->redis_url, b->redis_url);
    cr_assert_eq(a->connect_timeout_ms, b->connect_timeout_ms);
    cr_assert_eq(a->command_timeout_ms, b->command_timeout_ms);
    cr_assert_eq(a->reconnect_min_ms, b->reconnect_min_ms);
    cr_assert_eq(a->reconnect_max_ms, b->reconnect_max_ms);
    cr_assert_eq(a->log_format, b->log_format);
    cr_assert_eq(a->log_level, b->log_level);
    cr_assert((a->log_file == NULL) == (b->log_file == NULL));
    if (a->log_file)
        cr_assert_str_eq(a->log_file, b->log_file);
    cr_assert_str_eq(a->plugin_dir, b->plugin_dir);
    cr_assert_eq(a->shutdown_timeout_ms, b->shutdown_timeout_ms);
    cr_assert_eq(a->restart_min_ms, b->restart_min_ms);
    cr_assert_eq(a->restart_max_ms, b->restart_max_ms);
    cr_assert((a->worker_path == NULL) == (b->worker_path == NULL));
    if (a->worker_path)
        cr_assert_str_eq(a->worker_path, b->worker_path);
    cr_assert_eq(a->max_payload_bytes, b->max_payload_bytes);
    cr_assert_eq(a->max_attempts, b->max_attempts);
    cr_assert_eq(a->max_deliveries, b->max_deliveries);
    cr_assert_eq(a->backoff_base_ms, b->backoff_base_ms);
    cr_assert_eq(a->backoff_cap_ms, b->backoff_cap_ms);
    cr_assert_eq(a->job_timeout_ms, b->job_timeout_ms);
    cr_assert_eq(a->retention_interval_ms, b->retention_interval_ms);
    cr_assert_eq(a->nqueues, b->nqueues);
    for (size_t i = 0; i < a->nqueues; i++) {
        cr_assert_str_eq(a->queues[i].name, b->queues[i].name);
        cr_assert_eq(a->queues[i].retention_max_age_ms, b->queues[i].retention_max_age_ms);
        cr_assert_eq(a->queues[i].retention_max_len, b->queues[i].retention_max_len);
        cr_assert_eq(a->queues[i].dlq_maxlen, b->queues[i].dlq_maxlen);
        cr_assert_eq(a->queues[i].partitions, b->queues[i].partitions);
    }
    cr_assert_eq(a->nschedules, b->nschedules);
    for (size_t i = 0; i < a->nschedules; i++) {
        const sl_schedule_cfg *x = &a->schedules[i], *y = &b->schedules[i];
        cr_assert_str_eq(x->name, y->name);
        cr_assert_str_eq(x->cron, y->cron);
        cr_assert_str_eq(x->tz, y->tz);
        cr_assert_str_eq(x->queue, y->queue);
        cr_assert_str_eq(x->type, y->type);
        cr_assert_str_eq(x->payload, y->payload);
        cr_assert_eq(x->missed, y->missed);
        cr_assert_eq(x->jitter_ms, y->jitter_ms);
    }
    cr_assert_eq(a->nlimits, b->nlimits);
    for (size_t i = 0; i < a->nlimits; i++) {
        const sl_limit_cfg *x = &a->limits[i], *y = &b->limits[i];
        cr_assert_str_eq(x->name, y->name);
        cr_assert_eq(x->ntypes, y->ntypes);
        for (size_t j = 0; j < x->ntypes; j++)
            cr_assert_str_eq(x->types[j], y->types[j]);
        cr_assert_eq(x->rate, y->rate);
        cr_assert_eq(x->per_ms, y->per_ms);
        cr_assert_eq(x->burst, y->burst);
        cr_assert_eq(x->concurrency, y->concurrency);
        cr_assert((x->key == NULL) == (y->key == NULL));
        if (x->key)
            cr_assert_str_eq(x->key, y->key);
    }
    cr_assert_eq(a->npools, b->npools);
    for (size_t i = 0; i < a->npools; i++) {
        const sl_pool_cfg *p = &a->pools[i], *q = &b->pools[i];
        cr_assert_str_eq(p->name, q->name);
        cr_assert_str_eq(p->queue, q->queue);
        cr_assert_str_eq(p->group, q->group);
        cr_assert_eq(p->nplugins, q->nplugins);
        for (size_t j = 0; j < p->nplugins; j++)
            cr_assert_str_eq(p->plugins[j], q->plugins[j]);
        cr_assert_eq(p->workers, q->workers);
        cr_assert_str_eq(p->start_at, q->start_at);
        cr_assert_eq(p->read_count, q->read_count);
        cr_assert_eq(p->block_ms, q->block_ms);
        cr_assert_eq(p->nsettings, q->nsettings);
        for (size_t j = 0; j < p->nsettings; j++) {
            cr_assert_str_eq(p->setting_keys[j], q->setting_keys[j]);
            cr_assert_str_eq(p->setting_values[j], q->setting_values[j]);
        }
    }
}

Test(config, to_json_round_trips)
{
    const char *inputs[] = {full_config, doc("", MIN_POOL)};

    for (size_t i = 0; i < 2; i++) {
        char *in = strdup(inputs[i]);
        sl_config *a = load(in), *b;
        char *ja = sl_cfg_to_json(a), *jb;
        cr_assert_not_null(ja);
        cr_assert_null(strchr(ja, '\n'), "one line");
        b = sl_cfg_load_string(ja, "<channel>", SL_CFG_NO_ENV, err, sizeof err);
        cr_assert_not_null(b, "%s\n%s", err, ja);
        assert_same(a, b);
        jb = sl_cfg_to_json(b);
        cr_assert_str_eq(ja, jb);
        free(jb);
        free(ja);
        sl_cfg_free(b);
        sl_cfg_free(a);
        free(in);
    }
}

Test(config, to_json_keeps_the_password_for_the_channel)
{
    sl_config *c = load(full_config);
    char *j = sl_cfg_to_json(c);
    cr_assert(strstr(j, "redis://u:p%40ss@db:6380/2") != NULL, "%s", j);
    free(j);
    sl_cfg_free(c);
}

static char *fp(const char *json, const char *pool)
{
    char *copy = strdup(json);
    sl_config *c = load(copy);
    char *f = sl_cfg_pool_fingerprint(c, sl_cfg_pool(c, pool));
    cr_assert_not_null(f);
    sl_cfg_free(c);
    free(copy);
    return f;
}

Test(config, pool_fingerprint)
{
#define TWO "{\"name\":\"a\",\"plugins\":[\"x\"],\"workers\":%d},{\"name\":\"b\",\"plugins\":[\"%s\"]}"
    char pools[256];
    char *base, *f;

    snprintf(pools, sizeof pools, TWO, 1, "y");
    base = fp(doc("", pools), "a");
    cr_assert(strstr(base, "\"workers\"") == NULL, "workers excluded: %s", base);

    snprintf(pools, sizeof pools, TWO, 7, "y"); /* only worker count differs */
    f = fp(doc("", pools), "a");
    cr_assert_str_eq(f, base);
    free(f);

    snprintf(pools, sizeof pools, TWO, 1, "z"); /* another pool changed */
    f = fp(doc("", pools), "a");
    cr_assert_str_eq(f, base);
    free(f);

    snprintf(pools, sizeof pools, TWO, 1, "y");
    f = fp(doc("\"supervisor\":{\"shutdown_timeout\":\"1s\"}", pools), "a");
    cr_assert_str_eq(f, base, "supervisor-only settings do not restart workers");
    free(f);

    const char *changes[] = {"\"redis\":{\"url\":\"redis://other:6379/0\"}", "\"log\":{\"level\":\"debug\"}",
                             "\"jobs\":{\"max_attempts\":2}", "\"supervisor\":{\"worker_path\":\"/w\"}"};
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        f = fp(doc(changes[i], pools), "a");
        cr_assert_str_neq(f, base, "%s must change the fingerprint", changes[i]);
        free(f);
    }
    f = fp("{\"plugin_dir\":\"/q\",\"pools\":[{\"name\":\"a\",\"plugins\":[\"x\"]}]}", "a");
    cr_assert_str_neq(f, base);
    free(f);
    f = fp(doc("", "{\"name\":\"a\",\"plugins\":[\"x\"],\"settings\":{\"k\":\"v\"}}"), "a");
    cr_assert_str_neq(f, base);
    free(f);
    free(base);
}

Test(config, free_null_is_safe)
{
    sl_cfg_free(NULL);
    cr_assert_null(sl_cfg_to_json(NULL));
    cr_assert_null(sl_cfg_pool(NULL, "a"));
    cr_assert_null(sl_cfg_setting(NULL, "a"));
}

Test(config, shipped_example_loads)
{
    sl_config *c = sl_cfg_load_file(SLUICE_SOURCE_DIR "/config/sluice.json", SL_CFG_NO_ENV, err, sizeof err);
    const sl_pool_cfg *p;

    cr_assert_not_null(c, "%s", err);
    cr_assert_str_eq(c->redis_url, "redis://127.0.0.1:6379/0");
    cr_assert_str_eq(c->plugin_dir, SLUICE_SOURCE_DIR "/config/../build/plugins");
    cr_assert_eq(c->log_format, SL_LOG_TEXT);
    cr_assert_eq(c->log_level, SL_INFO);
    cr_assert_eq(c->shutdown_timeout_ms, 10000);
    p = sl_cfg_pool(c, "orders");
    cr_assert_not_null(p);
    cr_assert_str_eq(p->queue, "orders");
    cr_assert_str_eq(p->group, "orders-svc");
    cr_assert_eq(p->nplugins, 1);
    cr_assert_str_eq(p->plugins[0], "orders");
    cr_assert_eq(p->workers, 2);
    cr_assert_str_eq(sl_cfg_setting(p, "summary_file"), SLUICE_SOURCE_DIR "/config/../.sluice/order-summaries.jsonl");
    cr_assert_str_eq(sl_cfg_setting(p, "summary_queue"), "orders-summary");
    sl_cfg_free(c);
}

/* docs/configuration.md must mention every key the code knows and every env var. */
Test(config, docs_cover_every_key)
{
    /* Driven by the schema tables, so a key added to the code but not to the
     * docs fails here. */
    char *md = th_read_file(SLUICE_SOURCE_DIR "/docs/configuration.md");
    char needle[96];
    size_t sections = 0, top = 0;
    char seen[16][32];

    cr_assert_not_null(md);
    for (size_t i = 0; i < sl_cfg_nmain_keys; i++) {
        const sl_cfg_key *k = &sl_cfg_main_keys[i];
        snprintf(needle, sizeof needle, "`%s`", k->path);
        cr_expect(strstr(md, needle) != NULL, "docs/configuration.md lacks %s", needle);
        if (k->env) {
            snprintf(needle, sizeof needle, "`%s`", k->env);
            cr_expect(strstr(md, needle) != NULL, "docs/configuration.md lacks %s", needle);
        }
        const char *dot = strchr(k->path, '.');
        if (dot == NULL) {
            top++;
            continue;
        }
        size_t len = (size_t)(dot - k->path), j;
        for (j = 0; j < sections; j++)
            if (strlen(seen[j]) == len && strncmp(seen[j], k->path, len) == 0)
                break;
        if (j == sections && sections < 16)
            snprintf(seen[sections++], sizeof seen[0], "%.*s", (int)len, k->path);
    }
    for (size_t i = 0; i < sl_cfg_npool_keys; i++) {
        snprintf(needle, sizeof needle, "`pools[].%s`", sl_cfg_pool_keys[i].path);
        cr_expect(strstr(md, needle) != NULL, "docs/configuration.md lacks %s", needle);
    }
    for (size_t i = 0; i < sl_cfg_nqueue_keys; i++) {
        snprintf(needle, sizeof needle, "`queues.<name>.%s`", sl_cfg_queue_keys[i].path);
        cr_expect(strstr(md, needle) != NULL, "docs/configuration.md lacks %s", needle);
    }
    for (size_t i = 0; i < sl_cfg_nschedule_keys; i++) {
        snprintf(needle, sizeof needle, "`schedules[].%s`", sl_cfg_schedule_keys[i].path);
        cr_expect(strstr(md, needle) != NULL, "docs/configuration.md lacks %s", needle);
    }
    cr_expect(strstr(md, "`schedules[].payload`") != NULL, "docs/configuration.md lacks schedules[].payload");
    for (size_t i = 0; i < sl_cfg_nlimit_keys; i++) {
        snprintf(needle, sizeof needle, "`limits.<name>.%s`", sl_cfg_limit_keys[i].path);
        cr_expect(strstr(md, needle) != NULL, "docs/configuration.md lacks %s", needle);
    }
    cr_expect(strstr(md, "`limits.<name>.types`") != NULL, "docs/configuration.md lacks limits.<name>.types");
    /* and a full dump has exactly the keys of the tables */
    sl_config *c = load(full_config);
    char *j = sl_cfg_to_json(c);
    size_t quoted = 0;
    for (const char *s = j; (s = strstr(s, "\":")) != NULL; s++)
        quoted++;
    /* sections + top-level keys + section keys + 2 pools * pool keys + 3 settings
     * + 2 queues * (name + queue keys) + 1 schedule * (its keys + payload, whose
     * object has 2 keys) */
    cr_assert_eq(quoted,
                 sections + top + (sl_cfg_nmain_keys - top) + 2 * sl_cfg_npool_keys + 3 + 2 * (1 + sl_cfg_nqueue_keys) +
                     sl_cfg_nschedule_keys + 1 + 2 +
                     /* 2 limits: names, types, a rate limit's rate/per/burst/key, a concurrency limit's
                      * concurrency/key */
                     2 + 2 + 4 + 2,
                 "%s", j);
    free(j);
    sl_cfg_free(c);
    free(md);
}

/* The "Complete example" in docs/configuration.md loads and equals the defaults. */
Test(config, docs_complete_example_loads)
{
    char *md = th_read_file(SLUICE_SOURCE_DIR "/docs/configuration.md");
    char *start, *end;
    sl_config *c;

    cr_assert_not_null(md);
    start = strstr(md, "## Complete example");
    cr_assert_not_null(start);
    start = strstr(start, "```json\n");
    cr_assert_not_null(start);
    start += 8;
    end = strstr(start, "```");
    cr_assert_not_null(end);
    *end = '\0';
    c = sl_cfg_load_string(start, "docs", SL_CFG_NO_ENV, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    cr_assert_eq(c->connect_timeout_ms, 2000);
    cr_assert_eq(c->restart_max_ms, 30000);
    cr_assert_eq(c->backoff_cap_ms, 3600000);
    cr_assert_eq(c->job_timeout_ms, 300000);
    cr_assert_eq(c->pools[0].block_ms, 2000);
    cr_assert_str_eq(sl_cfg_setting(&c->pools[0], "summary_queue"), "orders-summary");
    sl_cfg_free(c);
    free(md);
}

/* ---- queues ------------------------------------------------------------- */

Test(config, queues_default_to_no_retention_and_the_global_dlq_cap)
{
    sl_config *c = load(doc("\"jobs\":{\"dlq_maxlen\":77}", MIN_POOL));
    const sl_queue_cfg *q = sl_cfg_queue(c, "default");

    cr_assert_eq(c->nqueues, 0);
    cr_assert_eq(c->retention_interval_ms, 10000);
    cr_assert_not_null(q);
    cr_assert_null(q->name);
    cr_assert_eq(q->retention_max_age_ms, 0);
    cr_assert_eq(q->retention_max_len, 0);
    cr_assert_eq(q->dlq_maxlen, 77);
    cr_assert_eq(q->partitions, 1);
    cr_assert_not(sl_cfg_queue_retains(q));
    cr_assert_eq(sl_cfg_dlq_maxlen(c, "default"), 77);
    cr_assert_eq(sl_cfg_dlq_maxlen(c, NULL), 77);
    sl_cfg_free(c);
    cr_assert_null(sl_cfg_queue(NULL, "x"));
    cr_assert_eq(sl_cfg_dlq_maxlen(NULL, "x"), 0);
}

Test(config, queues_are_parsed_per_name)
{
    sl_config *c = load(doc("\"jobs\":{\"dlq_maxlen\":9},\"retention\":{\"interval\":\"200ms\"},"
                            "\"queues\":{\"orders\":{\"retention_max_age\":\"7d\",\"retention_max_len\":1000000,"
                            "\"dlq_maxlen\":50000},\"mail\":{\"retention_max_len\":5},"
                            "\"audit\":{\"dlq_maxlen\":0},\"empty\":{}}",
                            MIN_POOL));
    const sl_queue_cfg *o = sl_cfg_queue(c, "orders"), *m = sl_cfg_queue(c, "mail");

    cr_assert_eq(c->retention_interval_ms, 200);
    cr_assert_eq(c->nqueues, 4);
    cr_assert_str_eq(o->name, "orders");
    cr_assert_eq(o->retention_max_age_ms, 7LL * 86400000);
    cr_assert_eq(o->retention_max_len, 1000000);
    cr_assert_eq(o->dlq_maxlen, 50000);
    cr_assert(sl_cfg_queue_retains(o));
    cr_assert_str_eq(m->name, "mail");
    cr_assert_eq(m->retention_max_age_ms, 0);
    cr_assert_eq(m->retention_max_len, 5);
    cr_assert_eq(m->dlq_maxlen, 9, "dlq_maxlen inherits jobs.dlq_maxlen");
    cr_assert(sl_cfg_queue_retains(m));
    cr_assert_eq(sl_cfg_dlq_maxlen(c, "orders"), 50000);
    cr_assert_eq(sl_cfg_dlq_maxlen(c, "audit"), 0, "0 = uncapped, not inherited");
    cr_assert_eq(sl_cfg_dlq_maxlen(c, "empty"), 9);
    cr_assert_not(sl_cfg_queue_retains(sl_cfg_queue(c, "empty")));
    cr_assert_eq(sl_cfg_dlq_maxlen(c, "elsewhere"), 9);
    cr_assert_null(sl_cfg_queue(c, "elsewhere")->name);
    sl_cfg_free(c);
}

Test(config, queue_partitions_are_1_to_1024_default_1)
{
    sl_config *c = load(doc("\"queues\":{\"a\":{\"partitions\":4},\"b\":{\"partitions\":1024},\"c\":{}}", MIN_POOL));

    cr_assert_eq(sl_cfg_queue(c, "a")->partitions, 4);
    cr_assert_eq(sl_cfg_queue(c, "b")->partitions, 1024);
    cr_assert_eq(sl_cfg_queue(c, "c")->partitions, 1);
    cr_assert_eq(sl_cfg_queue(c, "elsewhere")->partitions, 1);
    sl_cfg_free(c);
    fails_exactly(doc("\"queues\":{\"orders\":{\"partitions\":0}}", MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": queues.orders.partitions: expected an integer in 1..1024, got 0");
    fails_exactly(doc("\"queues\":{\"orders\":{\"partitions\":1025}}", MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": queues.orders.partitions: expected an integer in 1..1024, got 1025");
    fails_exactly(doc("\"queues\":{\"orders\":{\"partitions\":2.5}}", MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": queues.orders.partitions: expected an integer in 1..1024, got 2.5");
    fails_exactly(doc("\"queues\":{\"orders\":{\"partitions\":\"4\"}}", MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": queues.orders.partitions: expected an integer in 1..1024, got \"4\"");
    fails_exactly(doc("\"queues\":{\"or#ders\":{\"partitions\":4}}", MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": queues.or#ders: expected a queue name of 1-64 characters from [A-Za-z0-9_.-]");
}

Test(config, partition_counts_are_in_every_pool_fingerprint)
{
#define QPOOL "{\"name\":\"a\",\"queue\":\"q\",\"plugins\":[\"x\"]}"
    char *base = fp(doc("", QPOOL), "a"), *f;

    f = fp(doc("\"queues\":{\"q\":{\"partitions\":1}}", QPOOL), "a");
    cr_assert_str_eq(f, base, "1 is the default");
    free(f);
    f = fp(doc("\"queues\":{\"q\":{\"partitions\":4}}", QPOOL), "a");
    cr_assert_str_neq(f, base, "the pool's own queue: which streams its workers read");
    free(f);
    f = fp(doc("\"queues\":{\"other\":{\"partitions\":4}}", QPOOL), "a");
    cr_assert_str_neq(f, base, "another queue: where its handlers enqueue");
    free(f);
    free(base);
#undef QPOOL
}

Test(config, day_durations)
{
    sl_config *c = load(
        doc("\"queues\":{\"a\":{\"retention_max_age\":\"1.5d\"},\"b\":{\"retention_max_age\":3600000}}", MIN_POOL));
    cr_assert_eq(c->queues[0].retention_max_age_ms, 36LL * 3600000);
    cr_assert_eq(c->queues[1].retention_max_age_ms, 3600000);
    sl_cfg_free(c);
    fails_with(doc("\"queues\":{\"a\":{\"retention_max_age\":\"d\"}}", MIN_POOL),
               "queues.a.retention_max_age: expected a duration in 0ms..87600h");
    fails_with(doc("\"queues\":{\"a\":{\"retention_max_age\":\"3651d\"}}", MIN_POOL),
               "queues.a.retention_max_age: expected a duration");
}

Test(config, queues_reject_bad_input_naming_the_path)
{
    fails_exactly(doc("\"queues\":{\"orders\":{\"retention_max_len\":-1}}", MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": queues.orders.retention_max_len: expected an integer in 0..1000000000000, got -1");
    fails_exactly(doc("\"queues\":{\"orders\":{\"retention_max_len\":\"many\"}}", MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": queues.orders.retention_max_len: expected an integer in 0..1000000000000, "
                         "got \"many\"");
    fails_exactly(doc("\"queues\":{\"orders\":{\"dlq_maxlen\":-1}}", MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": queues.orders.dlq_maxlen: expected an integer in 0..1000000000, got -1");
    fails_exactly(doc("\"queues\":{\"orders\":{\"max_len\":1}}", MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": queues.orders.max_len: unknown key");
    fails_exactly(doc("\"queues\":{\"orders\":5}", MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": queues.orders: expected an object, got 5");
    fails_exactly(doc("\"queues\":[]", MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": queues: expected an object keyed by queue name, got an array");
    fails_exactly(doc("\"queues\":{\"bad name\":{}}", MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": queues.bad name: expected a queue name of 1-64 characters from [A-Za-z0-9_.-]");
    fails_exactly(doc("\"queues\":{\"\":{}}", MIN_POOL), SL_CFG_NO_ENV, ORIGIN ": queues: empty queue name");
    fails_exactly(doc("\"queues\":{\"a\":{},\"a\":{}}", MIN_POOL), SL_CFG_NO_ENV, ORIGIN ": queues.a: duplicate key");
    fails_exactly(doc("\"queues\":{\"a\":{\"dlq_maxlen\":1,\"dlq_maxlen\":2}}", MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": queues.a.dlq_maxlen: duplicate key");
    fails_with(doc("\"retention\":{\"interval\":\"50ms\"}", MIN_POOL),
               "retention.interval: expected a duration in 100ms..1h");
    fails_exactly(doc("\"retention\":{\"max_len\":3}", MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": retention.max_len: unknown key");
}

Test(config, queue_dlq_cap_is_in_the_pool_fingerprint_and_retention_is_not)
{
#define QPOOL "{\"name\":\"a\",\"queue\":\"q\",\"plugins\":[\"x\"]}"
    char *base = fp(doc("", QPOOL), "a"), *f;

    f = fp(doc("\"queues\":{\"q\":{\"retention_max_len\":10,\"retention_max_age\":\"1h\"}}", QPOOL), "a");
    cr_assert_str_eq(f, base, "retention is the supervisor's: no worker restart");
    free(f);
    f = fp(doc("\"retention\":{\"interval\":\"1s\"}", QPOOL), "a");
    cr_assert_str_eq(f, base);
    free(f);
    f = fp(doc("\"queues\":{\"other\":{\"dlq_maxlen\":1}}", QPOOL), "a");
    cr_assert_str_eq(f, base, "another queue's cap does not matter");
    free(f);
    f = fp(doc("\"queues\":{\"q\":{\"dlq_maxlen\":100000}}", QPOOL), "a");
    cr_assert_str_eq(f, base, "the same cap as jobs.dlq_maxlen's default");
    free(f);
    f = fp(doc("\"queues\":{\"q\":{\"dlq_maxlen\":1}}", QPOOL), "a");
    cr_assert_str_neq(f, base, "the pool's queue's cap restarts its workers");
    cr_assert(strstr(f, "\"dlq_maxlen\":1}") != NULL, "%s", f);
    free(f);
    free(base);
#undef QPOOL
}

/* Numbers outside long long's range (settings, integer and duration keys) are
 * range-checked as doubles before any conversion: converting 1e300 to an
 * integer is undefined behaviour (UBSan float-cast-overflow in build-asan). */
Test(config, huge_numbers_are_checked_before_conversion)
{
    sl_config *c = load(doc("", "{\"name\":\"a\",\"plugins\":[\"x\"],\"settings\":{"
                                "\"big\":1e300,\"neg\":-1e300,\"edge\":9.3e18,\"small\":42}}"));
    const sl_pool_cfg *p = &c->pools[0];
    cr_assert_str_eq(sl_cfg_setting(p, "big"), "1.0000000000000001e+300");
    cr_assert_str_eq(sl_cfg_setting(p, "neg"), "-1.0000000000000001e+300");
    cr_assert_str_eq(sl_cfg_setting(p, "edge"), "9.3e+18");
    cr_assert_str_eq(sl_cfg_setting(p, "small"), "42");
    sl_cfg_free(c);
    fails_with(doc("", "{\"name\":\"a\",\"plugins\":[\"x\"],\"workers\":1e300}"),
               "pools[0].workers: expected an integer in 0..1024, got 1e+300");
    fails_with(doc("\"jobs\":{\"max_payload_bytes\":-1e300}", MIN_POOL), "jobs.max_payload_bytes: expected an integer");
    fails_with(doc("\"jobs\":{\"timeout\":1e300}", MIN_POOL), "jobs.timeout: expected a duration");
    fails_with(doc("\"jobs\":{\"timeout\":9.3e18}", MIN_POOL), "jobs.timeout: expected a duration");
    fails_with(doc("\"queues\":{\"q\":{\"retention_max_len\":1e300}}", MIN_POOL),
               "queues.q.retention_max_len: expected an integer");
}

/* supervisor.http_listen is checked at load (so `run -t` and `run` agree);
 * an empty SLUICE_HTTP_LISTEN turns the endpoint off like "" in the file. */
Test(config, http_listen_is_checked_and_env_empty_turns_it_off)
{
    fails_exactly(doc("\"supervisor\":{\"http_listen\":\"0.0.0.0\"}", MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": supervisor.http_listen: expected host:port (\"127.0.0.1:9464\", \"[::1]:9464\", "
                         "\":9464\"), got \"0.0.0.0\"");
    fails_with(doc("\"supervisor\":{\"http_listen\":\"h:99999\"}", MIN_POOL), "expected host:port");
    fails_with(doc("\"supervisor\":{\"http_listen\":\"h:\"}", MIN_POOL), "expected host:port");
    sl_config *c = load(doc("\"supervisor\":{\"http_listen\":\"[::1]:0\"}", MIN_POOL));
    cr_assert_str_eq(c->http_listen, "[::1]:0");
    sl_cfg_free(c);

    setenv("SLUICE_HTTP_LISTEN", "0.0.0.0", 1);
    fails_exactly(doc("", MIN_POOL), SL_CFG_ENV,
                  "SLUICE_HTTP_LISTEN: expected host:port (\"127.0.0.1:9464\", \"[::1]:9464\", \":9464\"), "
                  "got \"0.0.0.0\"");
    setenv("SLUICE_HTTP_LISTEN", "", 1);
    c = load_env(doc("\"supervisor\":{\"http_listen\":\"127.0.0.1:9999\"}", MIN_POOL));
    cr_assert_null(c->http_listen, "an empty SLUICE_HTTP_LISTEN must turn HTTP off");
    sl_cfg_free(c);
    unsetenv("SLUICE_HTTP_LISTEN");
}

Test(config, schedules_parse_with_defaults)
{
    sl_config *c = load(doc("\"schedules\":[{\"name\":\"s\",\"cron\":\"@every 10s\",\"queue\":\"q\","
                            "\"type\":\"t.v1\"}]",
                            MIN_POOL));
    cr_assert_eq(c->nschedules, 1);
    cr_assert_str_eq(c->schedules[0].tz, "UTC");
    cr_assert_str_eq(c->schedules[0].payload, "{}");
    cr_assert_eq(c->schedules[0].missed, SL_MISSED_SKIP);
    cr_assert_eq(c->schedules[0].jitter_ms, 0);
    cr_assert_eq(sl_cfg_schedule(c, "s"), &c->schedules[0]);
    cr_assert_null(sl_cfg_schedule(c, "t"));
    sl_cfg_free(c);
    c = load(doc("\"schedules\":[]", MIN_POOL));
    cr_assert_eq(c->nschedules, 0);
    sl_cfg_free(c);
}

Test(config, schedules_reject_bad_entries_naming_the_key)
{
#define SCHED(extra) doc("\"schedules\":[{\"name\":\"s\",\"queue\":\"q\",\"type\":\"t.v1\"," extra "}]", MIN_POOL)
    fails_exactly(SCHED("\"cron\":\"0 24 * * *\""), SL_CFG_NO_ENV,
                  ORIGIN ": schedules[0].cron: hour: 24 is out of 0..23");
    fails_with(SCHED("\"cron\":\"0 3 * * *\",\"tz\":\"Mars/Base\""), ORIGIN ": schedules[0].tz: ");
    fails_with(SCHED("\"cron\":\"0 3 * * *\",\"missed\":\"some\""),
               ORIGIN ": schedules[0].missed: expected \"skip\", \"one\" or \"all\"");
    fails_with(SCHED("\"cron\":\"0 0 30 2 *\""), ORIGIN ": schedules[0].cron: \"0 0 30 2 *\" never fires");
    fails_with(SCHED("\"cron\":\"@every 1s\",\"jitter\":\"2d\""), ORIGIN ": schedules[0].jitter: ");
    fails_with(SCHED("\"cron\":\"@every 1s\",\"when\":1"), ORIGIN ": schedules[0].when: unknown key");
    fails_with(doc("\"schedules\":[{\"name\":\"s\",\"queue\":\"q\",\"type\":\"t.v1\"}]", MIN_POOL),
               ORIGIN ": schedules[0].cron: required key is missing");
    fails_with(
        doc("\"schedules\":[{\"name\":\"s\",\"cron\":\"@daily\",\"queue\":\"q\",\"type\":\"Bad Type\"}]", MIN_POOL),
        ORIGIN ": schedules[0].type: ");
    fails_with(doc("\"schedules\":[{\"name\":\"s\",\"cron\":\"@daily\",\"queue\":\"q\",\"type\":\"t\"},"
                   "{\"name\":\"s\",\"cron\":\"@hourly\",\"queue\":\"q\",\"type\":\"t\"}]",
                   MIN_POOL),
               ORIGIN ": schedules[1].name: duplicate schedule name \"s\" (also schedules[0])");
    fails_with(doc("\"schedules\":{}", MIN_POOL), ORIGIN ": schedules: expected an array");
    fails_with(doc("\"jobs\":{\"max_payload_bytes\":4},\"schedules\":[{\"name\":\"s\",\"cron\":\"@daily\","
                   "\"queue\":\"q\",\"type\":\"t\",\"payload\":{\"long\":1}}]",
                   MIN_POOL),
               ORIGIN ": schedules[0].payload: is 10 bytes, more than jobs.max_payload_bytes (4)");
#undef SCHED
}

Test(config, limits_parse_with_defaults)
{
    sl_config *c = load(doc("\"limits\":{\"api\":{\"types\":[\"a.v1\"],\"rate\":10}}", MIN_POOL));
    cr_assert_eq(c->nlimits, 1);
    cr_assert_str_eq(c->limits[0].name, "api");
    cr_assert_eq(c->limits[0].rate, 10);
    cr_assert_eq(c->limits[0].per_ms, 1000);
    cr_assert_eq(c->limits[0].burst, 1);
    cr_assert_eq(c->limits[0].concurrency, 0);
    cr_assert_null(c->limits[0].key);
    sl_cfg_free(c);
}

Test(config, limits_reject_bad_entries_naming_the_key)
{
    fails_exactly(doc("\"limits\":{\"api\":{\"types\":[\"a.v1\"]}}", MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": limits.api: sets neither rate nor concurrency");
    fails_exactly(doc("\"limits\":{\"api\":{\"rate\":5}}", MIN_POOL), SL_CFG_NO_ENV,
                  ORIGIN ": limits.api.types: required key is missing");
    fails_with(doc("\"limits\":{\"api\":{\"types\":[],\"rate\":5}}", MIN_POOL),
               ORIGIN ": limits.api.types: expected a non-empty array of job types");
    fails_with(doc("\"limits\":{\"api\":{\"types\":[\"Bad\"],\"rate\":5}}", MIN_POOL),
               ORIGIN ": limits.api.types[0]: expected a job type");
    fails_with(doc("\"limits\":{\"api\":{\"types\":[\"a\"],\"rate\":0}}", MIN_POOL),
               ORIGIN ": limits.api.rate: expected an integer in 1..1000000, got 0");
    fails_with(doc("\"limits\":{\"api\":{\"types\":[\"a\"],\"rate\":2000,\"per\":\"1s\"}}", MIN_POOL),
               ORIGIN ": limits.api.rate: 2000 per 1000 ms is more than one job per millisecond");
    char longkey[200];
    snprintf(longkey, sizeof longkey, "\"limits\":{\"api\":{\"types\":[\"a\"],\"concurrency\":2,\"key\":\"%0129d\"}}",
             0);
    fails_with(doc(longkey, MIN_POOL), ORIGIN ": limits.api.key: expected a payload field name");
    fails_with(doc("\"limits\":{\"api\":{\"types\":[\"a\"],\"rate\":5,\"burts\":2}}", MIN_POOL),
               ORIGIN ": limits.api.burts: unknown key");
    fails_with(doc("\"limits\":{\"a\":{\"types\":[\"t\"],\"concurrency\":2},\"b\":{\"types\":[\"t\"],"
                   "\"concurrency\":3}}",
                   MIN_POOL),
               ORIGIN ": limits.b.types: type \"t\" already has a concurrency limit (limits.a)");
    fails_with(doc("\"limits\":[]", MIN_POOL), ORIGIN ": limits: expected an object keyed by limit name");
}

/* ---- pools[].queues (priorities) ----------------------------------------- */

#define QLIST(x) "{\"name\":\"a\",\"plugins\":[\"x\"],\"queues\":[" x "]}"

Test(config, pool_queue_is_a_one_entry_list)
{
    sl_config *c =
        load(doc("", "{\"name\":\"a\",\"queue\":\"q\",\"plugins\":[\"x\"]},{\"name\":\"b\",\"plugins\":[\"x\"]}"));
    cr_assert_eq(c->pools[0].nqueues, 1);
    cr_assert_str_eq(c->pools[0].queues[0].name, "q");
    cr_assert_eq(c->pools[0].queues[0].weight, 1);
    cr_assert_not(c->pools[0].queues_listed);
    cr_assert_str_eq(c->pools[1].queues[0].name, "default");
    sl_cfg_free(c);
}

Test(config, pool_queues_are_parsed_in_order_with_weights)
{
    sl_config *c =
        load(doc("", "{\"name\":\"web\",\"plugins\":[\"x\"],\"queues\":[{\"name\":\"critical\",\"weight\":0},"
                     "{\"name\":\"default\",\"weight\":3},{\"name\":\"low\"}]}"));
    const sl_pool_cfg *p = &c->pools[0];
    cr_assert_eq(p->nqueues, 3);
    cr_assert(p->queues_listed);
    cr_assert_str_eq(p->queue, "critical", "pools[].queue is the list's first");
    cr_assert_str_eq(p->queues[0].name, "critical");
    cr_assert_eq(p->queues[0].weight, 0);
    cr_assert_str_eq(p->queues[1].name, "default");
    cr_assert_eq(p->queues[1].weight, 3);
    cr_assert_str_eq(p->queues[2].name, "low");
    cr_assert_eq(p->queues[2].weight, 1, "weight defaults to 1");
    /* the channel's JSON writes the list back, and loads to the same list */
    char *j = sl_cfg_to_json(c);
    cr_assert(strstr(j, "\"queues\":[{\"name\":\"critical\",\"weight\":0},") != NULL, "%s", j);
    cr_assert(strstr(j, "\"queue\":") == NULL, "%s", j);
    sl_config *b = load(j);
    cr_assert_eq(b->pools[0].nqueues, 3);
    cr_assert_str_eq(b->pools[0].queues[2].name, "low");
    cr_assert_eq(b->pools[0].queues[1].weight, 3);
    free(j);
    sl_cfg_free(b);
    sl_cfg_free(c);
}

Test(config, pool_queues_reject_bad_entries_naming_the_path)
{
    fails_exactly(doc("", "{\"name\":\"a\",\"queue\":\"q\",\"plugins\":[\"x\"],\"queues\":[{\"name\":\"q\"}]}"),
                  SL_CFG_NO_ENV, ORIGIN ": pools[0].queues: give either queue or queues, not both");
    fails_exactly(doc("", QLIST("{\"name\":\"a\"},{\"weight\":2}")), SL_CFG_NO_ENV,
                  ORIGIN ": pools[0].queues[1].name: required key is missing");
    fails_exactly(doc("", QLIST("{\"name\":\"a\"},{\"name\":\"b\",\"weight\":1001}")), SL_CFG_NO_ENV,
                  ORIGIN ": pools[0].queues[1].weight: expected an integer in 0..1000, got 1001");
    fails_exactly(doc("", QLIST("{\"name\":\"a\",\"weight\":-1}")), SL_CFG_NO_ENV,
                  ORIGIN ": pools[0].queues[0].weight: expected an integer in 0..1000, got -1");
    fails_exactly(doc("", QLIST("{\"name\":\"a\",\"weight\":1.5}")), SL_CFG_NO_ENV,
                  ORIGIN ": pools[0].queues[0].weight: expected an integer in 0..1000, got 1.5");
    fails_exactly(doc("", QLIST("{\"name\":\"a\",\"weight\":\"3\"}")), SL_CFG_NO_ENV,
                  ORIGIN ": pools[0].queues[0].weight: expected an integer in 0..1000, got \"3\"");
    fails_exactly(doc("", QLIST("{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"a\",\"weight\":0}")), SL_CFG_NO_ENV,
                  ORIGIN ": pools[0].queues[2].name: duplicate queue \"a\" (also pools[0].queues[0])");
    fails_exactly(doc("", QLIST("{\"name\":\"a\",\"prio\":1}")), SL_CFG_NO_ENV,
                  ORIGIN ": pools[0].queues[0].prio: unknown key");
    fails_exactly(doc("", QLIST("\"a\"")), SL_CFG_NO_ENV, ORIGIN ": pools[0].queues[0]: expected an object, got \"a\"");
    fails_with(doc("", QLIST("{\"name\":\"a b\"}")), "pools[0].queues[0].name: expected a name");
    fails_with(doc("", QLIST("")), "pools[0].queues: expected an array of 1..32 queue objects");
    fails_with(doc("", "{\"name\":\"a\",\"plugins\":[\"x\"],\"queues\":{\"name\":\"a\"}}"),
               "pools[0].queues: expected an array");
}

Test(config, pool_queues_are_in_the_pool_fingerprint)
{
    char *one = fp(doc("", QLIST("{\"name\":\"a\",\"weight\":3},{\"name\":\"b\"}")), "a");
    char *other = fp(doc("", QLIST("{\"name\":\"a\",\"weight\":2},{\"name\":\"b\"}")), "a");
    cr_assert_str_neq(one, other, "a weight change restarts the pool's workers");
    free(other);
    other =
        fp(doc("\"queues\":{\"b\":{\"dlq_maxlen\":7}}", QLIST("{\"name\":\"a\",\"weight\":3},{\"name\":\"b\"}")), "a");
    cr_assert_str_neq(one, other, "so does the cap of a queue after the first");
    free(other);
    free(one);
}
#undef QLIST
