/* Tests for common/util.c: durations, names, bounded formatting, randomness,
 * UUIDs and backoff bounds. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

static int64_t dur(const char *s)
{
    int64_t ms = -12345;
    cr_assert_eq(sl_parse_duration_ms(s, &ms), 0, "\"%s\" should parse", s);
    return ms;
}

Test(util, duration_accepts_ms_and_units)
{
    cr_assert_eq(dur("0"), 0);
    cr_assert_eq(dur("1500"), 1500);
    cr_assert_eq(dur("250ms"), 250);
    cr_assert_eq(dur("10s"), 10000);
    cr_assert_eq(dur("2m"), 120000);
    cr_assert_eq(dur("1h"), 3600000);
    cr_assert_eq(dur("0s"), 0);
    cr_assert_eq(dur("1.5s"), 1500);
    cr_assert_eq(dur("0.1s"), 100);
    cr_assert_eq(dur("0.25m"), 15000);
    cr_assert_eq(dur("1.5h"), 5400000);
    cr_assert_eq(dur("1.9ms"), 1, "sub-millisecond fractions truncate");
    cr_assert_eq(dur("0001s"), 1000);
}

Test(util, duration_rejects_malformed)
{
    const char *bad[] = {"",
                         "-1",
                         "-1s",
                         "1.5",
                         "10x",
                         " 10s",
                         "10s ",
                         "10 s",
                         "s",
                         "ms",
                         ".5s",
                         "1.s",
                         "1e3",
                         "+5",
                         "10S",
                         "10sec",
                         "1d",
                         "5mss",
                         "1..5s",
                         "0x10",
                         "99999999999999999999",
                         "9223372036854775807h",
                         "9223372036854775807"};
    int64_t ms = 77;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(sl_parse_duration_ms(bad[i], &ms), -1, "\"%s\" should be rejected", bad[i]);
    cr_assert_eq(ms, 77, "output untouched on failure");
    cr_assert_eq(sl_parse_duration_ms(NULL, &ms), -1);
}

Test(util, duration_near_limit)
{
    int64_t ms;
    /* 2562047h = 9223369200000 ms: well inside int64 */
    cr_assert_eq(sl_parse_duration_ms("2562047h", &ms), 0);
    cr_assert_eq(ms, 2562047LL * 3600000LL);
}

Test(util, fmt_reports_truncation)
{
    char buf[8];

    cr_assert_eq(sl_fmt(buf, sizeof buf, "%s", "1234567"), 0);
    cr_assert_str_eq(buf, "1234567");
    cr_assert_eq(sl_fmt(buf, sizeof buf, "%s", "12345678"), -1);
    cr_assert_str_eq(buf, "1234567", "truncated but terminated");
    cr_assert_eq(sl_fmt(buf, 0, "x"), -1);
}

/* sl_fmt_ll prints exactly what "%lld" prints, and returns the length. */
Test(util, fmt_ll_matches_printf)
{
    const long long v[] = {0,
                           1,
                           -1,
                           9,
                           10,
                           -10,
                           99,
                           100,
                           4294967296LL,
                           1000000000000000000LL,
                           9223372036854775807LL,
                           -9223372036854775807LL - 1};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char want[32], got[SL_INT_TEXT_SIZE];
        memset(got, 'x', sizeof(got));
        int n = snprintf(want, sizeof(want), "%lld", v[i]);
        cr_assert_eq(sl_fmt_ll(got, v[i]), (size_t)n, "length of %s", want);
        cr_assert_str_eq(got, want);
    }
}

/* sl_copy truncates to the buffer and always terminates. */
Test(util, copy_truncates_and_terminates)
{
    char b[6];
    cr_assert_eq(sl_copy(b, sizeof(b), "abc"), 3);
    cr_assert_str_eq(b, "abc");
    cr_assert_eq(sl_copy(b, sizeof(b), "abcdefgh"), 5);
    cr_assert_str_eq(b, "abcde");
    cr_assert_eq(sl_copy(b, sizeof(b), ""), 0);
    cr_assert_str_eq(b, "");
}

Test(util, valid_type)
{
    cr_assert(sl_valid_type("email.send", 10));
    cr_assert(sl_valid_type("order.placed.v2", 15));
    cr_assert(sl_valid_type("a_b-c.9", 7));
    cr_assert_not(sl_valid_type("", 0));
    cr_assert_not(sl_valid_type("Email", 5), "upper case refused");
    cr_assert_not(sl_valid_type("a b", 3));
    cr_assert_not(sl_valid_type("a/b", 3));
    cr_assert_not(sl_valid_type("a\0b", 3), "embedded NUL refused");
    char t[130];
    memset(t, 'a', sizeof t);
    cr_assert(sl_valid_type(t, 128));
    cr_assert_not(sl_valid_type(t, 129));
}

Test(util, valid_name)
{
    char n[70];

    cr_assert(sl_valid_name("orders"));
    cr_assert(sl_valid_name("Orders-svc_2.x"));
    cr_assert_not(sl_valid_name(""));
    cr_assert_not(sl_valid_name(NULL));
    cr_assert_not(sl_valid_name("a b"));
    cr_assert_not(sl_valid_name("a{b}"), "hash-tag braces refused");
    cr_assert_not(sl_valid_name("a:b"));
    cr_assert_not(sl_valid_name("é"));
    memset(n, 'x', 64);
    n[64] = '\0';
    cr_assert(sl_valid_name(n));
    n[64] = 'x';
    n[65] = '\0';
    cr_assert_not(sl_valid_name(n));
}

Test(util, clocks)
{
    int64_t a = sl_now_mono_ms(), b = sl_now_mono_ms();

    cr_assert_geq(b, a);
    cr_assert_gt(sl_now_wall_ms(), 1577836800000LL, "after 2020-01-01");
    usleep(20000);
    cr_assert_geq(sl_now_mono_ms() - a, 19);
}

Test(util, random_bytes)
{
    unsigned char a[32] = {0}, b[32] = {0}, zero[32] = {0};

    cr_assert_eq(sl_random_bytes(a, sizeof a), 0);
    cr_assert_eq(sl_random_bytes(b, sizeof b), 0);
    cr_assert_neq(memcmp(a, zero, sizeof a), 0);
    cr_assert_neq(memcmp(a, b, sizeof a), 0);
    cr_assert_eq(sl_random_bytes(a, 0), 0);
}

Test(util, rand64_differs_after_fork)
{
    int fds[2];
    uint64_t mine, theirs = 0;
    pid_t pid;
    int st;

    (void)sl_rand64(); /* seed the parent first */
    cr_assert_eq(pipe(fds), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        uint64_t v = sl_rand64();
        _exit(write(fds[1], &v, sizeof v) == sizeof v ? 0 : 1);
    }
    mine = sl_rand64();
    cr_assert_eq(read(fds[0], &theirs, sizeof theirs), (ssize_t)sizeof theirs);
    waitpid(pid, &st, 0);
    close(fds[0]);
    close(fds[1]);
    cr_assert_neq(mine, theirs, "a forked child must not repeat its parent's sequence");
}

Test(util, uuid4_format_and_uniqueness)
{
    char ids[200][37];

    for (int i = 0; i < 200; i++) {
        char *u = ids[i];
        sl_uuid4(u);
        cr_assert_eq(strlen(u), 36);
        for (int j = 0; j < 36; j++) {
            if (j == 8 || j == 13 || j == 18 || j == 23)
                cr_assert_eq(u[j], '-', "%s", u);
            else
                cr_assert(strchr("0123456789abcdef", u[j]) != NULL, "%s", u);
        }
        cr_assert_eq(u[14], '4', "version nibble: %s", u);
        cr_assert(strchr("89ab", u[19]) != NULL, "variant nibble: %s", u);
        for (int k = 0; k < i; k++)
            cr_assert_str_neq(u, ids[k]);
    }
}

Test(util, backoff_bounds)
{
    for (unsigned a = 0; a < 80; a++) {
        int64_t ceiling = a < 20 ? (100LL << a) : 60000;
        if (ceiling > 60000)
            ceiling = 60000;
        for (int i = 0; i < 200; i++) {
            int64_t v = sl_backoff_ms(100, 60000, a, 0);
            cr_assert_geq(v, 0);
            cr_assert_leq(v, ceiling, "attempt %u gave %lld > %lld", a, (long long)v, (long long)ceiling);
        }
    }
}

Test(util, backoff_min_and_jitter)
{
    int64_t lo = INT64_MAX, hi = 0;

    for (int i = 0; i < 2000; i++) {
        int64_t v = sl_backoff_ms(1000, 3600000, 3, 50);
        cr_assert_geq(v, 50);
        cr_assert_leq(v, 8000);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    cr_assert_lt(lo, 1000, "full jitter reaches low values");
    cr_assert_gt(hi, 7000, "and high ones");
    cr_assert_eq(sl_backoff_ms(0, 0, 5, 0), 0);
    cr_assert_eq(sl_backoff_ms(100, 1000, 3, 5000), 5000, "min wins over cap");
    cr_assert_leq(sl_backoff_ms(INT64_MAX, INT64_MAX, 63, 0), INT64_MAX);
    cr_assert_geq(sl_backoff_ms(-5, -5, 1, -5), 0, "negative inputs clamp to 0");
}

Test(util, glob_containing_escapes_glob_characters)
{
    char buf[64];
    sl_glob_containing(buf, sizeof buf, "job-1");
    cr_assert_str_eq(buf, "*job-1*");
    sl_glob_containing(buf, sizeof buf, "a*b?c[d]e\\f");
    cr_assert_str_eq(buf, "*a\\*b\\?c\\[d\\]e\\\\f*");
    sl_glob_containing(buf, 6, "abcdef");
    cr_assert_str_eq(buf, "*ab*", "cut short to fit");
    sl_glob_containing(buf, 2, "x");
    cr_assert_str_eq(buf, "");
}
