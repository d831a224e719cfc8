/* Tests for common/url.c: Redis URL parsing, rejection messages, redaction, and
 * the rule that no error or redacted string ever holds the password. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "common/url.h"

static sl_url parse_ok(const char *s)
{
    sl_url u;
    char err[256] = "";
    cr_assert_eq(sl_url_parse(s, &u, err, sizeof err), 0, "%s: %s", s, err);
    cr_assert_str_eq(err, "", "no message on success");
    return u;
}

static void parse_fails(const char *s, const char *want)
{
    sl_url u;
    char err[256] = "";
    cr_assert_eq(sl_url_parse(s, &u, err, sizeof err), -1, "%s should be rejected", s);
    cr_assert(strstr(err, want) != NULL, "%s: error \"%s\" lacks \"%s\"", s, err, want);
    cr_assert_str_eq(u.password, "", "password wiped on failure");
}

Test(url, parses_host_port_db)
{
    sl_url u = parse_ok("redis://127.0.0.1:6380/3");
    cr_assert_eq(u.is_unix, 0);
    cr_assert_str_eq(u.host, "127.0.0.1");
    cr_assert_eq(u.port, 6380);
    cr_assert_eq(u.db, 3);
    cr_assert_str_eq(u.user, "");
    cr_assert_str_eq(u.password, "");
}

Test(url, defaults)
{
    sl_url u = parse_ok("redis://localhost");
    cr_assert_str_eq(u.host, "localhost");
    cr_assert_eq(u.port, 6379);
    cr_assert_eq(u.db, 0);
    u = parse_ok("redis://redis.internal/");
    cr_assert_eq(u.db, 0);
    u = parse_ok("REDIS://h:1/2147483647");
    cr_assert_eq(u.port, 1);
    cr_assert_eq(u.db, 2147483647);
    u = parse_ok("redis://h?db=5");
    cr_assert_eq(u.db, 5);
}

Test(url, user_and_password_are_percent_decoded)
{
    sl_url u = parse_ok("redis://alice:s3cr%40t%2Fx@cache:6390/1");
    cr_assert_str_eq(u.user, "alice");
    cr_assert_str_eq(u.password, "s3cr@t/x");
    cr_assert_str_eq(u.host, "cache");
    cr_assert_eq(u.port, 6390);
    cr_assert_eq(u.db, 1);

    u = parse_ok("redis://us%65r:@h");
    cr_assert_str_eq(u.user, "user");
    cr_assert_str_eq(u.password, "");
}

Test(url, password_only)
{
    sl_url u = parse_ok("redis://:hunter2@h");
    cr_assert_str_eq(u.user, "");
    cr_assert_str_eq(u.password, "hunter2");
    cr_assert_str_eq(u.host, "h");
}

Test(url, unescaped_at_and_slash_in_password)
{
    /* the last '@' ends the userinfo */
    sl_url u = parse_ok("redis://bob:p@ss/w:rd@h:7000/2");
    cr_assert_str_eq(u.user, "bob");
    cr_assert_str_eq(u.password, "p@ss/w:rd");
    cr_assert_str_eq(u.host, "h");
    cr_assert_eq(u.port, 7000);
    cr_assert_eq(u.db, 2);
}

Test(url, ipv6)
{
    sl_url u = parse_ok("redis://[::1]:6380/4");
    cr_assert_str_eq(u.host, "::1");
    cr_assert_eq(u.port, 6380);
    cr_assert_eq(u.db, 4);
    u = parse_ok("redis://:pw@[2001:db8::5]");
    cr_assert_str_eq(u.host, "2001:db8::5");
    cr_assert_eq(u.port, 6379);
    cr_assert_str_eq(u.password, "pw");
    parse_fails("redis://[::1", "missing ']'");
    parse_fails("redis://[]:6379", "empty host");
    parse_fails("redis://[::1]x", "unexpected character");
}

Test(url, unix_sockets)
{
    sl_url u = parse_ok("unix:///var/run/redis/redis.sock");
    cr_assert_eq(u.is_unix, 1);
    cr_assert_str_eq(u.path, "/var/run/redis/redis.sock");
    cr_assert_eq(u.db, 0);
    u = parse_ok("unix:///tmp/r.sock?db=7");
    cr_assert_str_eq(u.path, "/tmp/r.sock");
    cr_assert_eq(u.db, 7);
    u = parse_ok("unix://:pw@/tmp/r.sock");
    cr_assert_str_eq(u.password, "pw");
    cr_assert_str_eq(u.path, "/tmp/r.sock");
    parse_fails("unix://tmp/r.sock", "must be absolute");
    parse_fails("unix:///tmp/r.sock?db=x", "db must be a number");
    parse_fails("unix:///tmp/r.sock?timeout=1", "unsupported URL parameter");
}

Test(url, rejects_bad_input)
{
    char longhost[400], longpath[200];

    parse_fails("rediss://h:6379", "TLS (rediss://) is not supported");
    parse_fails("http://h", "unsupported scheme \"http\"");
    parse_fails("localhost:6379", "expected redis://");
    parse_fails("", "empty URL");
    parse_fails(NULL, "empty URL");
    parse_fails("redis://", "empty host");
    parse_fails("redis://:6379", "empty host");
    parse_fails("redis://h:0", "port must be a number in 1..65535");
    parse_fails("redis://h:65536", "port must be a number in 1..65535");
    parse_fails("redis://h:", "port must be");
    parse_fails("redis://h:63a9", "port must be");
    parse_fails("redis://h:-1", "port must be");
    parse_fails("redis://h/x", "database must be a number");
    parse_fails("redis://h/-1", "database must be a number");
    parse_fails("redis://h/2147483648", "database must be a number");
    parse_fails("redis://h h", "invalid character in host");
    parse_fails("redis://user@h", "credentials must be");
    parse_fails("redis://u:%zz@h", "bad percent-encoding in the password");
    parse_fails("redis://u:%4@h", "bad percent-encoding in the password");
    parse_fails("redis://u%00:p@h", "bad percent-encoding in the user name");

    memset(longhost, 'a', sizeof longhost);
    memcpy(longhost, "redis://", 8);
    longhost[8 + 256] = '\0';
    parse_fails(longhost, "host name too long");
    memset(longpath, 'p', sizeof longpath);
    memcpy(longpath, "unix:///", 8);
    longpath[150] = '\0';
    parse_fails(longpath, "socket path too long");
}

Test(url, long_credentials)
{
    char s[700], err[256];
    sl_url u;

    snprintf(s, sizeof s, "redis://u:%0300d@h", 0);
    cr_assert_eq(sl_url_parse(s, &u, err, sizeof err), -1);
    cr_assert(strstr(err, "password too long (max 255 bytes)") != NULL, "%s", err);
    snprintf(s, sizeof s, "redis://%0200d:p@h", 0);
    cr_assert_eq(sl_url_parse(s, &u, err, sizeof err), -1);
    cr_assert(strstr(err, "user name too long") != NULL, "%s", err);
    snprintf(s, sizeof s, "redis://u:%0255d@h", 0); /* exactly the maximum */
    cr_assert_eq(sl_url_parse(s, &u, err, sizeof err), 0, "%s", err);
    cr_assert_eq(strlen(u.password), 255);
}

Test(url, errors_never_contain_the_password)
{
    const char *cases[] = {
        "redis://u:TOPSECRET@[::1", "redis://u:TOPSECRET@host:99999",
        "redis://:TOPSECRET@",      "redis://:TOPSECRET/x@host:abc",
        "redis://TOPSECRET@host",   "redis://u:TOPSECRET%zz@h",
        "redis://u:TOPSECRET@h/db", "redis://u:TOPSECRET@h?pass=1",
        "rediss://u:TOPSECRET@h",   "http://u:TOPSECRET@h",
        "redis://u:TOPSECRET@h h",  "unix://:TOPSECRET@tmp/x",
        "redis:/u:TOPSECRET@h",     "TOPSECRET",
        "redis//:TOPSECRET@h:1",    "redis://:TOPSECRET:6379",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sl_url u;
        char err[512] = "";
        int rc = sl_url_parse(cases[i], &u, err, sizeof err);
        if (strcmp(cases[i], "TOPSECRET") != 0)
            cr_expect_eq(rc, -1, "%s", cases[i]);
        cr_expect(strstr(err, "TOPSECRET") == NULL, "%s leaked: %s", cases[i], err);
        cr_expect(strstr(err, "SECRET") == NULL, "%s leaked: %s", cases[i], err);
    }
}

static const char *redact(const char *s)
{
    static char buf[256];
    sl_url_redact(s, buf, sizeof buf);
    return buf;
}

Test(url, redact)
{
    cr_assert_str_eq(redact("redis://u:pw@h:1/0"), "redis://u:***@h:1/0");
    cr_assert_str_eq(redact("redis://:pw@h"), "redis://:***@h");
    cr_assert_str_eq(redact("redis://h:6379/0"), "redis://h:6379/0");
    cr_assert_str_eq(redact("redis://u:p@ss@host"), "redis://u:***@host");
    cr_assert_str_eq(redact("redis://secretonly@h"), "redis://***@h");
    cr_assert_str_eq(redact("u:secret@host"), "u:***@host");
    cr_assert_str_eq(redact("rediss://u:pw@[::1]:1"), "rediss://u:***@[::1]:1");
    cr_assert_str_eq(redact("unix://:pw@/tmp/s"), "unix://:***@/tmp/s");
    cr_assert_str_eq(redact("unix:///tmp/s?db=1"), "unix:///tmp/s?db=1");
    cr_assert_str_eq(redact(""), "");
    cr_assert_str_eq(redact(NULL), "");
}

Test(url, redact_small_buffers_never_leak)
{
    const char *s = "redis://user:TOPSECRET@h:6379/0";
    char buf[64];

    for (size_t n = 1; n <= sizeof buf; n++) {
        memset(buf, 'Z', sizeof buf);
        sl_url_redact(s, buf, n);
        cr_assert_lt(strlen(buf), n);
        cr_assert(strstr(buf, "SECRET") == NULL && strstr(buf, "TOP") == NULL, "%s", buf);
    }
}

Test(url, wipe)
{
    sl_url u = parse_ok("redis://:hunter2@h");
    sl_url_wipe(&u);
    for (size_t i = 0; i < sizeof u.password; i++)
        cr_assert_eq(u.password[i], 0);
    sl_url_wipe(NULL);
}

Test(url, cluster_seeds)
{
    sl_url u = parse_ok("redis+cluster://a:7000,b,[::1]:7002");
    cr_assert_eq(u.kind, SL_URL_CLUSTER);
    cr_assert_eq(u.nhosts, 3);
    cr_assert_str_eq(u.hosts[0].host, "a");
    cr_assert_eq(u.hosts[0].port, 7000);
    cr_assert_str_eq(u.hosts[1].host, "b");
    cr_assert_eq(u.hosts[1].port, 6379, "default port");
    cr_assert_str_eq(u.hosts[2].host, "::1");
    cr_assert_eq(u.hosts[2].port, 7002);
    cr_assert_str_eq(u.host, "a", "host is the first seed");
    cr_assert_eq(u.port, 7000);
    cr_assert_eq(u.db, 0);

    u = parse_ok("REDIS+CLUSTER://alice:pw@h:1/0");
    cr_assert_str_eq(u.user, "alice");
    cr_assert_str_eq(u.password, "pw");
    cr_assert_eq(u.nhosts, 1);
    u = parse_ok("redis://h:1");
    cr_assert_eq(u.kind, SL_URL_SINGLE);
    cr_assert_eq(u.nhosts, 0);

    parse_fails("redis+cluster://h:7000/3", "a Redis Cluster has only database 0");
    parse_fails("redis+cluster://h:7000?db=1", "cannot name db 1");
    parse_fails("redis+cluster://h:7000,", "empty host");
    parse_fails("redis+cluster://,h", "empty host");
    parse_fails("redis+cluster://h:0,g", "port must be");
    parse_fails("redis+cluster://h:1,g:x", "port must be");
    parse_fails("redis+cluster://h:1/0/x", "database must be a number");
    parse_fails("redis://h,g", "invalid character in host name");
}

Test(url, cluster_host_count_is_bounded)
{
    char s[400];
    size_t n = (size_t)snprintf(s, sizeof s, "redis+cluster://h0");
    for (int i = 1; i < SL_URL_MAX_HOSTS; i++)
        n += (size_t)snprintf(s + n, sizeof s - n, ",h%d", i);
    cr_assert_eq(parse_ok(s).nhosts, SL_URL_MAX_HOSTS);
    snprintf(s + n, sizeof s - n, ",one-more");
    parse_fails(s, "too many hosts (max 16)");
}

Test(url, sentinel)
{
    sl_url u = parse_ok("redis+sentinel://s1,s2:26380/mymaster");
    cr_assert_eq(u.kind, SL_URL_SENTINEL);
    cr_assert_eq(u.nhosts, 2);
    cr_assert_str_eq(u.hosts[0].host, "s1");
    cr_assert_eq(u.hosts[0].port, 26379, "a sentinel's default port");
    cr_assert_eq(u.hosts[1].port, 26380);
    cr_assert_str_eq(u.master, "mymaster");
    cr_assert_eq(u.db, 0);

    u = parse_ok("redis+sentinel://:pw@s1:26379/my%2Dmaster/5");
    cr_assert_str_eq(u.master, "my-master");
    cr_assert_eq(u.db, 5);
    cr_assert_str_eq(u.password, "pw");
    u = parse_ok("redis+sentinel://s1/m?db=2");
    cr_assert_eq(u.db, 2);

    parse_fails("redis+sentinel://s1:26379", "names the master after the sentinels");
    parse_fails("redis+sentinel://s1:26379/", "names the master");
    parse_fails("redis+sentinel://s1:26379//3", "names the master");
    parse_fails("redis+sentinel://s1/m/x", "database must be a number");
    parse_fails("redis+sentinel://s1/m%20x", "space or a control character");
    parse_fails("redis+sentinel://s1/m%zz", "bad master name");
    parse_fails("redis+sentinel://s1/m/1/2", "database must be a number");
    parse_fails("redis+other://h", "unsupported scheme \"redis+other\"");
}

Test(url, new_forms_never_leak_the_password)
{
    const char *cases[] = {
        "redis+cluster://u:TOPSECRET@h:1/4",   "redis+cluster://u:TOPSECRET@h:1,",
        "redis+cluster://u:TOPSECRET@h:x",     "redis+sentinel://u:TOPSECRET@s1",
        "redis+sentinel://u:TOPSECRET@s1/m/x", "redis+sentinel://:TOPSECRET@s1/%zz",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sl_url u;
        char err[512] = "";
        cr_expect_eq(sl_url_parse(cases[i], &u, err, sizeof err), -1, "%s", cases[i]);
        cr_expect(strstr(err, "SECRET") == NULL, "%s leaked: %s", cases[i], err);
    }
    cr_assert_str_eq(redact("redis+cluster://u:pw@a:1,b:2"), "redis+cluster://u:***@a:1,b:2");
    cr_assert_str_eq(redact("redis+sentinel://:pw@s1,s2/m/1"), "redis+sentinel://:***@s1,s2/m/1");
}
