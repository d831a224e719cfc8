/* Tests for common/log.c: JSON lines that parse back with their fields, text
 * format, escaping, the level filter, reopen after rotation, the stderr default
 * and whole lines under concurrent writers. Each test logs to its own file. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "tests/support/th.h"

static char *log_path(const char *name)
{
    size_t n = strlen(th_tmpdir()) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", th_tmpdir(), name);
    unlink(p);
    return p;
}

/* The n-th line (0-based) of a file, malloc'd, or NULL. */
static char *nth_line(const char *path, int n)
{
    char *text = th_read_file(path), *line = NULL, *s;
    if (text == NULL)
        return NULL;
    s = text;
    for (int i = 0; i < n && s; i++) {
        s = strchr(s, '\n');
        s = s ? s + 1 : NULL;
    }
    if (s && *s) {
        size_t len = strcspn(s, "\n");
        line = strndup(s, len);
    }
    free(text);
    return line;
}

static int matches(const char *re, const char *s)
{
    regex_t r;
    int ok;
    cr_assert_eq(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
    ok = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return ok;
}

#define TS_RE "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"

Test(log, json_line_parses_with_fields)
{
    char *path = log_path("json.log"), *line;
    cJSON *j;

    cr_assert_eq(sl_log_open(path, SL_LOG_JSON, SL_DEBUG), 0);
    sl_log_set_context((sl_kv[]){SL_S("component", "supervisor"), SL_I("slot", 3)}, 2);
    SL_LOG(SL_WARN, "worker exited", SL_S("pool", "orders"), SL_I("status", -9),
           SL_D("elapsed", 1.25));
    sl_log_close();
    cr_assert_eq(th_count_lines(path), 1);
    line = nth_line(path, 0);
    j = cJSON_Parse(line);
    cr_assert_not_null(j, "not JSON: %s", line);
    cr_assert(matches("^" TS_RE "$", cJSON_GetObjectItem(j, "ts")->valuestring), "%s", line);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "level")->valuestring, "warn");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "msg")->valuestring, "worker exited");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "component")->valuestring, "supervisor");
    cr_assert_eq(cJSON_GetObjectItem(j, "slot")->valuedouble, 3);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "pool")->valuestring, "orders");
    cr_assert_eq(cJSON_GetObjectItem(j, "status")->valuedouble, -9);
    cr_assert_eq(cJSON_GetObjectItem(j, "elapsed")->valuedouble, 1.25);
    /* order: ts, level, msg, context, then the event's fields */
    cr_assert(strstr(line, "\"ts\"") < strstr(line, "\"level\""));
    cr_assert(strstr(line, "\"msg\"") < strstr(line, "\"component\""));
    cr_assert(strstr(line, "\"slot\"") < strstr(line, "\"pool\""));
    cr_assert(matches("^\\{\"ts\":\"" TS_RE "\",\"level\":\"warn\",\"msg\":", line), "%s", line);
    cJSON_Delete(j);
    free(line);
    free(path);
}

Test(log, json_escaping)
{
    char *path = log_path("esc.log"), *line;
    cJSON *j;

    cr_assert_eq(sl_log_open(path, SL_LOG_JSON, SL_INFO), 0);
    SL_LOG(SL_INFO, "quote \" backslash \\ newline \n tab \t bell \a end",
           SL_S("bad", "a\xff\xfe" "b"), SL_S("overlong", "\xc0\xaf"), SL_S("utf8", "h\xc3\xa9llo \xe2\x82\xac"),
           SL_S("surrogate", "\xed\xa0\x80"), SL_S("truncated", "x\xe2\x82"), SL_D("nan", NAN),
           SL_S("null", NULL), SL_S("k\"ey", "v"));
    sl_log_close();
    cr_assert_eq(th_count_lines(path), 1, "one line despite the embedded newline");
    line = nth_line(path, 0);
    j = cJSON_Parse(line);
    cr_assert_not_null(j, "not JSON: %s", line);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "msg")->valuestring,
                     "quote \" backslash \\ newline \n tab \t bell \a end");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "bad")->valuestring, "a\xef\xbf\xbd\xef\xbf\xbd" "b");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "overlong")->valuestring, "\xef\xbf\xbd\xef\xbf\xbd");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "utf8")->valuestring, "h\xc3\xa9llo \xe2\x82\xac");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "surrogate")->valuestring,
                     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "truncated")->valuestring,
                     "x\xef\xbf\xbd\xef\xbf\xbd");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "nan")));
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "null")));
    cr_assert_str_eq(cJSON_GetObjectItem(j, "k\"ey")->valuestring, "v");
    cr_assert(strstr(line, "\\u0007") != NULL, "control characters as \\u00XX: %s", line);
    cJSON_Delete(j);
    free(line);
    free(path);
}

Test(log, text_format)
{
    char *path = log_path("text.log"), *line;

    cr_assert_eq(sl_log_open(path, SL_LOG_TEXT, SL_INFO), 0);
    SL_LOG(SL_INFO, "message", SL_S("key", "value"), SL_S("key2", "value with spaces"));
    sl_log_set_context((sl_kv[]){SL_S("component", "worker")}, 1);
    SL_LOG(SL_ERROR, "two\nlines", SL_S("q", "say \"hi\""), SL_S("empty", ""), SL_I("n", 7),
           SL_S("eq", "a=b"));
    sl_logf(SL_WARN, "formatted %d/%s", 42, "x");
    sl_log_close();
    cr_assert_eq(th_count_lines(path), 3);
    line = nth_line(path, 0);
    cr_assert(matches("^" TS_RE " INFO  message key=value key2=\"value with spaces\"$", line),
              "%s", line);
    free(line);
    line = nth_line(path, 1);
    cr_assert(matches("^" TS_RE " ERROR ", line), "%s", line);
    cr_assert_str_eq(line + 31,
                     "two\\nlines component=worker q=\"say \\\"hi\\\"\" empty=\"\" n=7 eq=\"a=b\"");
    free(line);
    line = nth_line(path, 2);
    cr_assert(matches("^" TS_RE " WARN  formatted 42/x component=worker$", line), "%s", line);
    free(line);
    free(path);
}

Test(log, level_filter_drops_lines)
{
    char *path = log_path("filter.log");
    char *text;

    cr_assert_eq(sl_log_open(path, SL_LOG_JSON, SL_WARN), 0);
    cr_assert_not(sl_log_enabled(SL_DEBUG));
    cr_assert_not(sl_log_enabled(SL_INFO));
    cr_assert(sl_log_enabled(SL_WARN));
    cr_assert(sl_log_enabled(SL_ERROR));
    SL_LOG(SL_DEBUG, "dropped-debug", SL_I("x", 1));
    SL_LOG(SL_INFO, "dropped-info", SL_I("x", 1));
    sl_logf(SL_INFO, "dropped-%s", "printf");
    SL_LOG(SL_WARN, "kept-warn", SL_I("x", 1));
    sl_logf(SL_ERROR, "kept-%s", "error");
    sl_log_close();
    cr_assert_eq(th_count_lines(path), 2);
    text = th_read_file(path);
    cr_assert(strstr(text, "dropped") == NULL, "%s", text);
    cr_assert(strstr(text, "kept-warn") != NULL);
    cr_assert(strstr(text, "kept-error") != NULL);
    free(text);
    free(path);
}

Test(log, reopen_after_rotation)
{
    char *path = log_path("rot.log"), *old = log_path("rot.log.1"), *t;

    cr_assert_eq(sl_log_open(path, SL_LOG_TEXT, SL_INFO), 0);
    sl_logf(SL_INFO, "before rotation");
    cr_assert_eq(rename(path, old), 0);
    sl_logf(SL_INFO, "still old file");
    cr_assert_eq(sl_log_reopen(), 0);
    sl_logf(SL_INFO, "after rotation");
    sl_log_close();
    cr_assert_eq(th_count_lines(old), 2);
    cr_assert_eq(th_count_lines(path), 1);
    t = th_read_file(path);
    cr_assert(strstr(t, "after rotation") != NULL);
    free(t);
    free(old);
    free(path);
}

/* Redirect stderr into a file for the duration of fn. */
static char *capture_stderr(void (*fn)(void))
{
    char *path = log_path("stderr.txt"), *text;
    int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    cr_assert(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    fn();
    dup2(saved, 2);
    close(saved);
    text = th_read_file(path);
    free(path);
    return text;
}

static void log_before_open(void)
{
    sl_log_event(SL_DEBUG, "hidden debug", NULL, 0);
    SL_LOG(SL_INFO, "default goes to stderr", SL_I("n", 1));
}

Test(log, safe_before_open_defaults_to_stderr_text_info)
{
    char *t = capture_stderr(log_before_open);

    cr_assert_not_null(t);
    cr_assert(matches("^" TS_RE " INFO  default goes to stderr n=1\n$", t), "%s", t);
    free(t);
}

static void log_after_failed_open(void)
{
    errno = 0;
    cr_assert_eq(sl_log_open("/nonexistent-dir/x/y.log", SL_LOG_JSON, SL_INFO), -1);
    cr_assert_eq(errno, ENOENT);
    sl_logf(SL_INFO, "fallback");
}

Test(log, failed_open_falls_back_to_stderr)
{
    char *t = capture_stderr(log_after_failed_open);
    cJSON *j = cJSON_Parse(t);

    cr_assert_not_null(j, "%s", t);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "msg")->valuestring, "fallback");
    cJSON_Delete(j);
    free(t);
}

Test(log, parse_level_and_format)
{
    sl_log_level l = SL_ERROR;
    sl_log_format f = SL_LOG_TEXT;

    cr_assert_eq(sl_log_parse_level("debug", &l), 0);
    cr_assert_eq(l, SL_DEBUG);
    cr_assert_eq(sl_log_parse_level("warn", &l), 0);
    cr_assert_eq(l, SL_WARN);
    cr_assert_eq(sl_log_parse_level("WARN", &l), -1);
    cr_assert_eq(sl_log_parse_level("warning", &l), -1);
    cr_assert_eq(sl_log_parse_level(NULL, &l), -1);
    cr_assert_eq(sl_log_parse_format("json", &f), 0);
    cr_assert_eq(f, SL_LOG_JSON);
    cr_assert_eq(sl_log_parse_format("text", &f), 0);
    cr_assert_eq(f, SL_LOG_TEXT);
    cr_assert_eq(sl_log_parse_format("yaml", &f), -1);
}

Test(log, long_message_is_one_intact_line)
{
    char *path = log_path("long.log"), *line;
    size_t n = 200000;
    char *big = malloc(n + 1);
    cJSON *j;

    memset(big, 'x', n);
    big[n] = '\0';
    cr_assert_eq(sl_log_open(path, SL_LOG_JSON, SL_INFO), 0);
    SL_LOG(SL_INFO, "big", SL_S("payload", big));
    sl_logf(SL_INFO, "%s", big);
    sl_log_close();
    cr_assert_eq(th_count_lines(path), 2);
    line = nth_line(path, 0);
    j = cJSON_Parse(line);
    cr_assert_not_null(j);
    cr_assert_eq(strlen(cJSON_GetObjectItem(j, "payload")->valuestring), n);
    cJSON_Delete(j);
    free(line);
    line = nth_line(path, 1);
    j = cJSON_Parse(line);
    cr_assert_eq(strlen(cJSON_GetObjectItem(j, "msg")->valuestring), n);
    cJSON_Delete(j);
    free(line);
    free(big);
    free(path);
}

Test(log, concurrent_processes_never_interleave)
{
    char *path = log_path("multi.log"), *text, *s;
    pid_t pids[4];
    long count = 0;
    char pad[3000];

    memset(pad, 'p', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    cr_assert_eq(sl_log_open(path, SL_LOG_JSON, SL_INFO), 0);
    for (int c = 0; c < 4; c++) {
        pids[c] = fork();
        cr_assert_geq(pids[c], 0);
        if (pids[c] == 0) {
            for (int i = 0; i < 300; i++)
                SL_LOG(SL_INFO, "line", SL_I("child", c), SL_I("i", i), SL_S("pad", pad));
            _exit(0);
        }
    }
    for (int c = 0; c < 4; c++)
        waitpid(pids[c], NULL, 0);
    sl_log_close();
    text = th_read_file(path);
    for (s = strtok(text, "\n"); s != NULL; s = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(s);
        cr_assert_not_null(j, "garbled line %ld", count);
        cr_assert_str_eq(cJSON_GetObjectItem(j, "pad")->valuestring, pad);
        cJSON_Delete(j);
        count++;
    }
    cr_assert_eq(count, 1200);
    free(text);
    free(path);
}
