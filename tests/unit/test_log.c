/* Tests for common/log.c: JSON lines that parse back with their fields, text
 * format, escaping, the level filter, reopen after rotation, the stderr default,
 * whole lines under concurrent writers, buffered mode (batches of whole lines,
 * flush points, the signal-time flush) and the hand-written number and time
 * formatting. Each test logs to its own file. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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
    SL_LOG(SL_WARN, "worker exited", SL_S("pool", "orders"), SL_I("status", -9), SL_D("elapsed", 1.25));
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
           SL_S("bad", "a\xff\xfe"
                       "b"),
           SL_S("overlong", "\xc0\xaf"), SL_S("utf8", "h\xc3\xa9llo \xe2\x82\xac"), SL_S("surrogate", "\xed\xa0\x80"),
           SL_S("truncated", "x\xe2\x82"), SL_D("nan", NAN), SL_S("null", NULL), SL_S("k\"ey", "v"));
    sl_log_close();
    cr_assert_eq(th_count_lines(path), 1, "one line despite the embedded newline");
    line = nth_line(path, 0);
    j = cJSON_Parse(line);
    cr_assert_not_null(j, "not JSON: %s", line);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "msg")->valuestring, "quote \" backslash \\ newline \n tab \t bell \a end");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "bad")->valuestring, "a\xef\xbf\xbd\xef\xbf\xbd"
                                                                 "b");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "overlong")->valuestring, "\xef\xbf\xbd\xef\xbf\xbd");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "utf8")->valuestring, "h\xc3\xa9llo \xe2\x82\xac");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "surrogate")->valuestring, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "truncated")->valuestring, "x\xef\xbf\xbd\xef\xbf\xbd");
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
    SL_LOG(SL_ERROR, "two\nlines", SL_S("q", "say \"hi\""), SL_S("empty", ""), SL_I("n", 7), SL_S("eq", "a=b"));
    sl_logf(SL_WARN, "formatted %d/%s", 42, "x");
    sl_log_close();
    cr_assert_eq(th_count_lines(path), 3);
    line = nth_line(path, 0);
    cr_assert(matches("^" TS_RE " INFO  message key=value key2=\"value with spaces\"$", line), "%s", line);
    free(line);
    line = nth_line(path, 1);
    cr_assert(matches("^" TS_RE " ERROR ", line), "%s", line);
    cr_assert_str_eq(line + 31, "two\\nlines component=worker q=\"say \\\"hi\\\"\" empty=\"\" n=7 eq=\"a=b\"");
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

/* ---- buffered mode ------------------------------------------------------ */

static off_t file_size(const char *path)
{
    struct stat st;

    cr_assert_eq(stat(path, &st), 0, "stat(%s) failed: %s", path, strerror(errno));
    return st.st_size;
}

/* Overwrite the timestamp of every line (text: at the start; JSON: the "ts"
 * value) with 'X's, after checking its form, so two runs compare equal. */
static void mask_ts(char *text)
{
    for (char *line = text; *line;) {
        char *ts = strncmp(line, "{\"ts\":\"", 7) == 0 ? line + 7 : line;
        char *end = strchr(line, '\n');
        char tmp[25];

        cr_assert_not_null(end, "unterminated line: %s", line);
        cr_assert_geq(end - ts, 24, "%s", line);
        memcpy(tmp, ts, 24);
        tmp[24] = '\0';
        cr_assert(matches("^" TS_RE "$", tmp), "%s", line);
        memset(ts, 'X', 24);
        line = end + 1;
    }
}

/* The same events for the buffered and unbuffered runs (one is filtered out).
 * With check non-NULL, asserts after each event that nothing reached the file. */
#define SAMPLE_LINES 5
static void log_sample(const char *check)
{
    for (int step = 0; step < 6; step++) {
        switch (step) {
        case 0:
            SL_LOG(SL_INFO, "job completed", SL_S("queue", "orders"), SL_I("attempt", 1), SL_I("neg", -42),
                   SL_D("elapsed", 0.125), SL_S("reason", ""), SL_S("q", "say \"hi\"\n"),
                   SL_S("bad", "a\xff"
                               "b"),
                   SL_S("null", NULL));
            break;
        case 1:
            SL_LOG(SL_WARN, "tab\there \xe2\x82\xac", SL_I("min", LLONG_MIN), SL_I("max", LLONG_MAX), SL_D("nan", NAN),
                   SL_S("k=ey", "a=b"));
            break;
        case 2:
            sl_logf(SL_ERROR, "formatted %d %s", 7, "x");
            break;
        case 3:
            SL_LOG(SL_DEBUG, "dropped by the level filter", SL_I("x", 1));
            break;
        case 4:
            sl_log_event(SL_INFO, "no fields", NULL, 0);
            break;
        default:
            SL_LOG(SL_INFO, "ctl \x01\x7f", SL_I("zero", 0), SL_S("ctl", "\x1f"));
            break;
        }
        if (check != NULL)
            cr_assert_eq(file_size(check), 0, "buffered line written at step %d", step);
    }
}

Test(log, buffered_output_matches_unbuffered)
{
    static const sl_log_format fmts[] = {SL_LOG_TEXT, SL_LOG_JSON};
    const sl_kv ctx[] = {SL_S("component", "worker"), SL_I("pid", 4242)};

    for (size_t f = 0; f < 2; f++) {
        char *plain = log_path("plain.log"), *buffered = log_path("buffered.log"), *a, *b;

        cr_assert_eq(sl_log_open(plain, fmts[f], SL_INFO), 0);
        sl_log_set_context(ctx, 2);
        log_sample(NULL);
        sl_log_close();

        cr_assert_eq(sl_log_open(buffered, fmts[f], SL_INFO), 0);
        sl_log_set_context(ctx, 2);
        sl_log_set_buffered(1);
        log_sample(buffered);
        errno = EBADMSG;
        sl_log_flush();
        cr_assert_eq(errno, EBADMSG, "sl_log_flush preserves errno");
        cr_assert_eq(th_count_lines(buffered), SAMPLE_LINES);
        sl_log_close();

        a = th_read_file(plain);
        b = th_read_file(buffered);
        cr_assert_eq(th_count_lines(plain), SAMPLE_LINES);
        cr_assert_eq(strlen(a), strlen(b), "\n%s\n%s", a, b);
        mask_ts(a);
        mask_ts(b);
        cr_assert_str_eq(b, a);
        free(a);
        free(b);
        free(plain);
        free(buffered);
    }
}

/* Text line i as exactly LINE_LEN bytes: 31 bytes of timestamp and level,
 * a 68-byte message, '\n'. */
#define LINE_LEN 100
static void log_fixed(int i)
{
    sl_logf(SL_INFO, "line %06d %056d", i, 0);
}

/* Lines 0..n-1 of log_fixed, in order and whole. */
static void assert_fixed_lines(const char *text, int n)
{
    char want[32];

    cr_assert_eq(strlen(text), (size_t)n * LINE_LEN);
    for (int i = 0; i < n; i++) {
        const char *line = text + (size_t)i * LINE_LEN;
        snprintf(want, sizeof want, " INFO  line %06d ", i);
        cr_assert(strncmp(line + 24, want, strlen(want)) == 0, "line %d: %.*s", i, LINE_LEN, line);
        cr_assert_eq(line[LINE_LEN - 1], '\n', "line %d", i);
        cr_assert_eq(memchr(line, '\n', LINE_LEN - 1), NULL, "line %d", i);
    }
}

Test(log, buffered_overflow_to_file_writes_64k_of_whole_lines)
{
    char *path = log_path("overflow.log"), *text;
    const off_t batch = (64 * 1024 / LINE_LEN) * LINE_LEN; /* 655 lines */
    off_t size = 0;
    int writes = 0;

    cr_assert_eq(sl_log_open(path, SL_LOG_TEXT, SL_INFO), 0);
    sl_log_set_buffered(1);
    for (int i = 0; i < 2000; i++) {
        off_t now;
        log_fixed(i);
        now = file_size(path);
        if (now != size) {
            cr_assert_eq(now - size, batch, "write %d after line %d: %lld bytes", writes, i, (long long)(now - size));
            cr_assert_eq(i % (batch / LINE_LEN), 0, "written when line %d did not fit", i);
            size = now;
            writes++;
        }
    }
    cr_assert_eq(writes, 3);
    sl_log_flush();
    cr_assert_eq(file_size(path), 2000 * LINE_LEN);
    cr_assert_eq(th_count_lines(path), 2000);
    text = th_read_file(path);
    assert_fixed_lines(text, 2000);
    sl_log_close();
    free(text);
    free(path);
}

Test(log, buffered_overflow_to_pipe_writes_at_most_pipe_buf)
{
    char *fifo = log_path("log.fifo"), chunk[65536];
    const ssize_t batch = (PIPE_BUF / LINE_LEN) * LINE_LEN; /* 40 lines */
    const int n = 1005;
    char *all = malloc((size_t)n * LINE_LEN + 1);
    size_t total = 0;
    int rd, writes = 0;
    ssize_t r;

    cr_assert_eq(PIPE_BUF, 4096);
    cr_assert_eq(mkfifo(fifo, 0600), 0, "mkfifo(%s) failed: %s", fifo, strerror(errno));
    rd = open(fifo, O_RDONLY | O_NONBLOCK); /* a reader first, so the log's open does not block */
    cr_assert_geq(rd, 0);
    cr_assert_eq(sl_log_open(fifo, SL_LOG_TEXT, SL_INFO), 0);
    sl_log_set_buffered(1);
    /* Drain after every line: each read returns exactly one write. */
    for (int i = 0; i < n; i++) {
        log_fixed(i);
        r = read(rd, chunk, sizeof chunk);
        if (r < 0) {
            cr_assert_eq(errno, EAGAIN, "read failed: %s", strerror(errno));
            continue;
        }
        cr_assert_eq(r, batch, "write %d after line %d: %zd bytes", writes, i, r);
        cr_assert_eq(chunk[r - 1], '\n');
        memcpy(all + total, chunk, (size_t)r);
        total += (size_t)r;
        writes++;
    }
    cr_assert_eq(writes, n / (batch / LINE_LEN)); /* 25 full batches */
    sl_log_flush();
    r = read(rd, chunk, sizeof chunk);
    cr_assert_eq(r, (ssize_t)(n % (batch / LINE_LEN)) * LINE_LEN, "the rest: %zd bytes", r);
    cr_assert_eq(chunk[r - 1], '\n');
    memcpy(all + total, chunk, (size_t)r);
    total += (size_t)r;
    all[total] = '\0';
    assert_fixed_lines(all, n);
    sl_log_close();
    close(rd);
    free(all);
    free(fifo);
}

Test(log, buffered_long_line_is_written_whole_in_order)
{
    char *path = log_path("buflong.log"), *line;
    size_t n = 70 * 1024;
    char *big = malloc(n + 1);

    memset(big, 'y', n);
    big[n] = '\0';
    cr_assert_eq(sl_log_open(path, SL_LOG_TEXT, SL_INFO), 0);
    sl_log_set_buffered(1);
    sl_logf(SL_INFO, "before %d", 1);
    sl_logf(SL_INFO, "before %d", 2);
    cr_assert_eq(file_size(path), 0);
    SL_LOG(SL_INFO, "big", SL_S("payload", big));
    cr_assert_eq(th_count_lines(path), 3, "buffered lines, then the long line at once");
    sl_logf(SL_INFO, "after");
    cr_assert_eq(th_count_lines(path), 3, "the next line is buffered again");
    sl_log_flush();
    cr_assert_eq(th_count_lines(path), 4);
    line = nth_line(path, 0);
    cr_assert(matches("^" TS_RE " INFO  before 1$", line), "%s", line);
    free(line);
    line = nth_line(path, 1);
    cr_assert(matches("^" TS_RE " INFO  before 2$", line), "%s", line);
    free(line);
    line = nth_line(path, 2);
    cr_assert_eq(strlen(line), 24 + strlen(" INFO  big payload=") + n);
    cr_assert(matches("^" TS_RE " INFO  big payload=y", line));
    cr_assert_str_eq(line + 24 + strlen(" INFO  big payload="), big);
    free(line);
    line = nth_line(path, 3);
    cr_assert(matches("^" TS_RE " INFO  after$", line), "%s", line);
    free(line);
    sl_log_close();
    free(big);
    free(path);
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

Test(log, buffered_since_ms_is_the_oldest_line)
{
    char *path = log_path("since.log");
    int64_t before, after, since;

    cr_assert_eq(sl_log_open(path, SL_LOG_TEXT, SL_INFO), 0);
    cr_assert_eq(sl_log_buffered_since_ms(), 0);
    sl_logf(SL_INFO, "unbuffered");
    cr_assert_eq(sl_log_buffered_since_ms(), 0, "nothing is buffered when the mode is off");
    sl_log_set_buffered(1);
    cr_assert_eq(sl_log_buffered_since_ms(), 0);
    before = mono_ms();
    sl_logf(SL_INFO, "first");
    after = mono_ms();
    since = sl_log_buffered_since_ms();
    cr_assert(since > 0 && since >= before && since <= after, "%lld not in [%lld, %lld]", (long long)since,
              (long long)before, (long long)after);
    th_sleep_ms(20);
    sl_logf(SL_INFO, "second");
    cr_assert_eq(sl_log_buffered_since_ms(), since, "still the time of the oldest line");
    sl_log_flush();
    cr_assert_eq(sl_log_buffered_since_ms(), 0);
    cr_assert_eq(th_count_lines(path), 3);
    sl_logf(SL_INFO, "third");
    cr_assert_geq(sl_log_buffered_since_ms(), since + 20);
    sl_log_close();
    cr_assert_eq(sl_log_buffered_since_ms(), 0);
    cr_assert_eq(th_count_lines(path), 4);
    free(path);
}

Test(log, close_and_mode_off_flush)
{
    char *path = log_path("closeflush.log"), *path2 = log_path("offflush.log");

    cr_assert_eq(sl_log_open(path, SL_LOG_TEXT, SL_INFO), 0);
    sl_log_set_buffered(1);
    sl_logf(SL_INFO, "a");
    sl_logf(SL_INFO, "b");
    cr_assert_eq(file_size(path), 0);
    sl_log_close();
    cr_assert_eq(th_count_lines(path), 2, "sl_log_close writes what is buffered");

    cr_assert_eq(sl_log_open(path2, SL_LOG_TEXT, SL_INFO), 0);
    cr_assert_eq(sl_log_buffered_since_ms(), 0);
    sl_logf(SL_INFO, "c");
    cr_assert_eq(th_count_lines(path2), 1, "sl_log_close turned buffering off");
    sl_log_set_buffered(1);
    sl_logf(SL_INFO, "d");
    sl_logf(SL_INFO, "e");
    cr_assert_eq(th_count_lines(path2), 1);
    errno = ENOTSUP;
    sl_log_set_buffered(0);
    cr_assert_eq(errno, ENOTSUP);
    cr_assert_eq(th_count_lines(path2), 3, "turning buffering off writes what is buffered");
    sl_logf(SL_INFO, "f");
    cr_assert_eq(th_count_lines(path2), 4, "then each line is written at once");
    sl_log_close();
    free(path2);
    free(path);
}

Test(log, reopen_and_open_flush_to_the_old_file)
{
    char *path = log_path("brot.log"), *old = log_path("brot.log.1"), *other = log_path("other.log");
    char *line;

    cr_assert_eq(sl_log_open(path, SL_LOG_TEXT, SL_INFO), 0);
    sl_log_set_buffered(1);
    sl_logf(SL_INFO, "before rotation");
    cr_assert_eq(rename(path, old), 0);
    sl_logf(SL_INFO, "still old file");
    cr_assert_eq(file_size(old), 0);
    cr_assert_eq(sl_log_reopen(), 0);
    cr_assert_eq(th_count_lines(old), 2, "reopen flushes to the file the lines were logged to");
    cr_assert_eq(file_size(path), 0);
    sl_logf(SL_INFO, "after rotation");
    cr_assert_eq(file_size(path), 0, "still buffered after reopen");
    cr_assert_eq(sl_log_open(other, SL_LOG_TEXT, SL_INFO), 0);
    cr_assert_eq(th_count_lines(path), 1, "open flushes to the previous file");
    cr_assert_eq(th_count_lines(old), 2);
    sl_logf(SL_INFO, "in other");
    cr_assert_eq(file_size(other), 0, "still buffered after open");
    sl_log_close();
    cr_assert_eq(th_count_lines(other), 1);
    line = nth_line(path, 0);
    cr_assert(matches("^" TS_RE " INFO  after rotation$", line), "%s", line);
    free(line);
    free(other);
    free(old);
    free(path);
}

static void flush_and_die(int sig)
{
    sl_log_flush_from_signal();
    signal(sig, SIG_DFL);
    raise(sig);
}

Test(log, fatal_signal_handler_writes_buffered_lines)
{
    char *path = log_path("sig.log"), *line;
    struct rlimit no_core = {0, 0};
    int status;
    pid_t pid;

    cr_assert_eq(sl_log_open(path, SL_LOG_TEXT, SL_INFO), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct sigaction sa = {.sa_handler = flush_and_die};
        struct stat st;
        setrlimit(RLIMIT_CORE, &no_core);
        sigaction(SIGABRT, &sa, NULL);
        sl_log_set_buffered(1);
        sl_logf(SL_INFO, "last words %d", 1);
        sl_logf(SL_INFO, "last words %d", 2);
        if (stat(path, &st) != 0 || st.st_size != 0)
            _exit(3);
        abort();
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %#x", status);
    cr_assert_eq(th_count_lines(path), 2);
    for (int i = 0; i < 2; i++) {
        char re[160];
        snprintf(re, sizeof re, "^" TS_RE " INFO  last words %d$", i + 1);
        line = nth_line(path, i);
        cr_assert(matches(re, line), "%s", line);
        free(line);
    }

    /* Called directly, it empties the buffer: nothing is written twice. */
    sl_log_set_buffered(1);
    sl_logf(SL_INFO, "third");
    cr_assert_eq(th_count_lines(path), 2);
    sl_log_flush_from_signal();
    cr_assert_eq(th_count_lines(path), 3);
    cr_assert_eq(sl_log_buffered_since_ms(), 0);
    sl_log_flush();
    sl_log_close();
    cr_assert_eq(th_count_lines(path), 3);
    free(path);
}

/* ---- formatting fast paths ---------------------------------------------- */

static int64_t real_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Epoch ms of a text line's timestamp. */
static int64_t line_ms(const char *line)
{
    struct tm tm = {0};
    int ms = -1;

    cr_assert(matches("^" TS_RE " ", line), "%s", line);
    cr_assert_eq(sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                        &tm.tm_min, &tm.tm_sec, &ms),
                 7, "%s", line);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

Test(log, timestamps_follow_the_clock_across_seconds)
{
    char *path = log_path("ts.log"), *l1, *l2, *l3;
    int64_t b1, a1, b2, a2, b3, a3, t1, t2, t3;

    cr_assert_eq(sl_log_open(path, SL_LOG_TEXT, SL_INFO), 0);
    sl_log_set_buffered(1); /* lines keep the time they were logged at */
    b1 = real_ms();
    sl_logf(SL_INFO, "one");
    a1 = real_ms();
    b2 = real_ms();
    sl_logf(SL_INFO, "two"); /* most likely the same second: the cached prefix */
    a2 = real_ms();
    while (time(NULL) <= a2 / 1000) /* past the next second boundary */
        th_sleep_ms(10);
    b3 = real_ms();
    sl_logf(SL_INFO, "three");
    a3 = real_ms();
    th_sleep_ms(50);
    sl_log_flush();
    l1 = nth_line(path, 0);
    l2 = nth_line(path, 1);
    l3 = nth_line(path, 2);
    t1 = line_ms(l1);
    t2 = line_ms(l2);
    t3 = line_ms(l3);
    cr_assert(t1 >= b1 && t1 <= a1, "%s not in [%lld, %lld]", l1, (long long)b1, (long long)a1);
    cr_assert(t2 >= b2 && t2 <= a2, "%s not in [%lld, %lld]", l2, (long long)b2, (long long)a2);
    cr_assert(t3 >= b3 && t3 <= a3, "%s not in [%lld, %lld]", l3, (long long)b3, (long long)a3);
    cr_assert_gt(t3 / 1000, t2 / 1000);
    cr_assert(strncmp(l2, l3, 19) != 0, "the seconds prefix changed: %s / %s", l2, l3);
    sl_log_close();
    free(l1);
    free(l2);
    free(l3);
    free(path);
}

Test(log, integers_format_as_printf_lld)
{
    static const long long v[] = {LLONG_MIN,
                                  LLONG_MIN + 1,
                                  -1000000000000000000LL,
                                  -4294967296LL,
                                  -100,
                                  -10,
                                  -9,
                                  -1,
                                  0,
                                  1,
                                  9,
                                  10,
                                  99,
                                  100,
                                  101,
                                  999,
                                  1000,
                                  4294967295LL,
                                  999999999999999999LL,
                                  1000000000000000000LL,
                                  LLONG_MAX - 1,
                                  LLONG_MAX};
    enum { N = sizeof v / sizeof v[0] };
    static const char json_head[] = "\",\"level\":\"info\",\"msg\":\"ints\"";
    char *text_path = log_path("ints.log"), *json_path = log_path("ints.json"), *line;
    char keys[N][8], want_text[1024], want_json[1024];
    size_t tl = 0, jl = 0;
    sl_kv kv[N];

    for (size_t i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "k%zu", i);
        kv[i] = SL_I(keys[i], v[i]);
        tl += (size_t)snprintf(want_text + tl, sizeof want_text - tl, " %s=%lld", keys[i], v[i]);
        jl += (size_t)snprintf(want_json + jl, sizeof want_json - jl, ",\"%s\":%lld", keys[i], v[i]);
    }
    snprintf(want_json + jl, sizeof want_json - jl, "}");

    cr_assert_eq(sl_log_open(text_path, SL_LOG_TEXT, SL_INFO), 0);
    sl_log_set_context((sl_kv[]){SL_I("ctx", LLONG_MIN)}, 1);
    sl_log_event(SL_INFO, "ints", kv, N);
    sl_log_close();
    line = nth_line(text_path, 0);
    cr_assert(matches("^" TS_RE " INFO  ints ctx=-9223372036854775808 ", line), "%s", line);
    cr_assert_str_eq(line + 24 + strlen(" INFO  ints ctx=-9223372036854775808"), want_text);
    free(line);

    cr_assert_eq(sl_log_open(json_path, SL_LOG_JSON, SL_INFO), 0);
    sl_log_event(SL_INFO, "ints", kv, N);
    sl_log_close();
    line = nth_line(json_path, 0);
    cr_assert(matches("^\\{\"ts\":\"" TS_RE "\",", line), "%s", line);
    cr_assert(strncmp(line + 7 + 24, json_head, strlen(json_head)) == 0, "%s", line);
    cr_assert_str_eq(line + 7 + 24 + strlen(json_head), want_json);
    free(line);
    free(json_path);
    free(text_path);
}
