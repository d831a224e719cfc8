/* The cron parser and fire times (common/cron.c): the table of
 * tests/unit/cron_cases.tsv, whose expected times come from python3-croniter
 * (scripts/gen-cron-cases.py, which also states the DST rule), through zones
 * with and without DST and across their transitions; then the syntax's
 * edges, its errors (each naming the field), @every, and the time zone check. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cron.h"

#define CASES SLUICE_SOURCE_DIR "/tests/unit/cron_cases.tsv"

static int64_t utc_of(const char *iso)
{
    struct tm tm = {0};
    cr_assert(strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm), "bad time %s", iso);
    return (int64_t)timegm(&tm);
}

Test(cron, the_croniter_table)
{
    FILE *f = fopen(CASES, "r");
    cr_assert_not_null(f, "%s", CASES);
    char line[512];
    long n = 0, bad = 0, dst = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *save = NULL, *expr = strtok_r(line, "\t", &save), *zone = strtok_r(NULL, "\t", &save),
             *after = strtok_r(NULL, "\t", &save), *want = strtok_r(NULL, "\t", &save),
             *local = strtok_r(NULL, "\t", &save);
        cr_assert(expr && zone && after && want && local, "a malformed line in %s", CASES);
        sl_cron c;
        char err[256];
        cr_assert_eq(sl_cron_parse(expr, zone, &c, err, sizeof err), 0, "%s: %s", expr, err);
        int64_t next = 0;
        int rc = sl_cron_next(&c, utc_of(after) * 1000, &next);
        if (rc != 0 || next != atoll(want) * 1000) {
            if (bad++ < 10)
                fprintf(stderr, "%s in %s after %s: got %lld, want %s (%s)\n", expr, zone, after,
                        rc ? -1LL : (long long)(next / 1000), want, local);
        }
        n++;
        dst += strcmp(zone, "UTC") && strcmp(zone, "Asia/Tokyo") && strcmp(zone, "Asia/Kolkata") &&
               strcmp(zone, "America/Sao_Paulo");
    }
    fclose(f);
    cr_assert_geq(n, 300, "the table has %ld cases", n);
    cr_assert_geq(dst, 300, "of them %ld in zones with DST", dst);
    cr_assert_eq(bad, 0, "%ld of %ld cases differ from croniter (first ones above)", bad, n);
}

static int64_t next_of(const char *expr, const char *zone, const char *after)
{
    sl_cron c;
    char err[256];
    cr_assert_eq(sl_cron_parse(expr, zone, &c, err, sizeof err), 0, "%s: %s", expr, err);
    int64_t next = 0;
    cr_assert_eq(sl_cron_next(&c, utc_of(after) * 1000, &next), 0, "%s", expr);
    return next / 1000;
}

Test(cron, dst_a_skipped_time_fires_once_after_the_jump_a_repeated_one_once)
{
    /* Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00Z) */
    cr_assert_eq(next_of("30 2 * * *", "Europe/Berlin", "2026-03-29T00:00:00Z"), utc_of("2026-03-29T01:00:00Z"));
    cr_assert_eq(next_of("30 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z"), utc_of("2026-03-30T00:30:00Z"),
                 "once: the next is the day after");
    /* 2026-10-25: 03:00 CEST goes back to 02:00 CET (01:00Z); 02:30 is 00:30Z and 01:30Z */
    cr_assert_eq(next_of("30 2 * * *", "Europe/Berlin", "2026-10-25T00:00:00Z"), utc_of("2026-10-25T00:30:00Z"));
    cr_assert_eq(next_of("30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z"), utc_of("2026-10-26T01:30:00Z"),
                 "not again at 01:30Z");
}

Test(cron, seconds_macros_names_and_day_rules)
{
    cr_assert_eq(next_of("*/10 * * * * *", "UTC", "2026-01-01T00:00:05Z"), utc_of("2026-01-01T00:00:10Z"));
    cr_assert_eq(next_of("@hourly", NULL, "2026-01-01T00:00:00Z"), utc_of("2026-01-01T01:00:00Z"));
    cr_assert_eq(next_of("@WEEKLY", "", "2026-01-01T00:00:00Z"), utc_of("2026-01-04T00:00:00Z"), "a Sunday");
    cr_assert_eq(next_of("0 0 * JAN-mar Sun", "UTC", "2026-03-30T00:00:00Z"), utc_of("2027-01-03T00:00:00Z"));
    cr_assert_eq(next_of("0 0 13 * 5", "UTC", "2026-02-01T00:00:00Z"), utc_of("2026-02-06T00:00:00Z"),
                 "day of month OR day of week");
    cr_assert_eq(next_of("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z"), utc_of("2028-02-29T00:00:00Z"));
    cr_assert_eq(next_of("0 0 * * 7", "UTC", "2026-01-01T00:00:00Z"), utc_of("2026-01-04T00:00:00Z"), "7 is Sunday");
    sl_cron c;
    char err[128];
    int64_t next;
    cr_assert_eq(sl_cron_parse("0 0 30 2 *", NULL, &c, err, sizeof err), 0);
    cr_assert_eq(sl_cron_next(&c, 0, &next), -1, "February 30th never comes");
}

Test(cron, every_ticks_at_multiples_of_its_duration_since_the_epoch)
{
    sl_cron c;
    char err[128];
    int64_t next;
    cr_assert_eq(sl_cron_parse("@every 1s", NULL, &c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl_cron_next(&c, 1234, &next), 0);
    cr_assert_eq(next, 2000);
    cr_assert_eq(sl_cron_next(&c, 2000, &next), 0);
    cr_assert_eq(next, 3000, "strictly after");
    cr_assert_eq(sl_cron_parse("@every 90s", "Europe/Berlin", &c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl_cron_next(&c, 100000, &next), 0);
    cr_assert_eq(next, 180000);
    const char *bad[] = {"@every", "@every 0s", "@every 1500ms", "@every 400d", "@every soon"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(sl_cron_parse(bad[i], NULL, &c, err, sizeof err), -1, "%s", bad[i]);
}

Test(cron, errors_name_the_field_and_the_value)
{
    static const struct {
        const char *expr, *want;
    } bad[] = {
        {"", "0 fields"},
        {"* * * *", "4 fields"},
        {"* * * * * * *", "more than 6 fields"},
        {"60 * * * *", "minute: 60 is out of 0..59"},
        {"0 24 * * *", "hour: 24 is out of 0..23"},
        {"0 0 0 * *", "day of month: 0 is out of 1..31"},
        {"0 0 * 13 *", "month: 13 is out of 1..12"},
        {"0 0 * * 8", "day of week: 8 is out of 0..7"},
        {"0 0 * foo *", "month: \"foo\" is not a number or a name"},
        {"*/0 * * * *", "minute: \"*/0\" has a step out of 1..59"},
        {"5-1 * * * *", "minute: \"5-1\" is a range that ends before it starts"},
        {"1,,2 * * * *", NULL}, /* strtok_r skips empty items: accepted as 1,2 */
        {"a * * * *", "minute: \"a\" is not a number"},
        {"1x * * * *", "minute: \"1x\" is not a value, range or step"},
        {"@sometimes", "is not a macro"},
        {"@hourly extra", "is not a macro"},
        {"61 * * * * *", "second: 61 is out of 0..59"},
        {"99999999999999999999 * * * *", "minute"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sl_cron c;
        char err[256] = "";
        int rc = sl_cron_parse(bad[i].expr, NULL, &c, err, sizeof err);
        if (!bad[i].want) {
            cr_assert_eq(rc, 0, "%s: %s", bad[i].expr, err);
            continue;
        }
        cr_assert_eq(rc, -1, "\"%s\" is refused", bad[i].expr);
        cr_assert(strstr(err, bad[i].want), "\"%s\": %s (want %s)", bad[i].expr, err, bad[i].want);
    }
}

Test(cron, time_zones_come_from_the_system_tzdata)
{
    char err[256];
    cr_assert_eq(sl_tz_check("Europe/Berlin", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl_tz_check("UTC", err, sizeof err), 0);
    cr_assert_eq(sl_tz_check("", err, sizeof err), 0);
    cr_assert_eq(sl_tz_check("Mars/Olympus_Mons", err, sizeof err), -1);
    cr_assert(strstr(err, "unknown time zone Mars/Olympus_Mons"), "%s", err);
    cr_assert_eq(sl_tz_check("../../etc/passwd", err, sizeof err), -1);
    cr_assert_eq(sl_tz_check("/etc/localtime", err, sizeof err), -1);
    cr_assert_eq(sl_tz_check("Europe", err, sizeof err), -1, "a directory is not a zone");
    sl_cron c;
    cr_assert_eq(sl_cron_parse("0 3 * * *", "Europe/Nowhere", &c, err, sizeof err), -1);
    cr_assert(strstr(err, "Europe/Nowhere"), "%s", err);
    cr_assert_eq(sl_tz_offset("Asia/Kolkata", 0), 19800);
    cr_assert_eq(sl_tz_offset("Pacific/Chatham", utc_of("2026-07-01T00:00:00Z")), 45900, "+12:45 in winter");
}
