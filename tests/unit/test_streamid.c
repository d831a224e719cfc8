/* Tests for common/streamid.c: parsing complete and incomplete stream ids,
 * formatting, ordering, the ms part and the predecessor, with the edges of
 * 64-bit parts. Pure functions: no Redis needed. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "common/streamid.h"

#define MAX_U64 "18446744073709551615"

static sl_streamid id_of(const char *s)
{
    sl_streamid id = {7, 7};
    cr_assert_eq(sl_streamid_parse_incomplete(s, &id), 0, "\"%s\" should parse", s);
    return id;
}

Test(streamid, parses_complete_ids)
{
    sl_streamid id;
    cr_assert_eq(sl_streamid_parse("1700000000000-3", &id), 0);
    cr_assert_eq(id.ms, 1700000000000ULL);
    cr_assert_eq(id.seq, 3);
    cr_assert_eq(sl_streamid_parse("0-0", &id), 0);
    cr_assert(id.ms == 0 && id.seq == 0);
    cr_assert_eq(sl_streamid_parse(MAX_U64 "-" MAX_U64, &id), 0);
    cr_assert(id.ms == UINT64_MAX && id.seq == UINT64_MAX);
    cr_assert_eq(sl_streamid_parse("007-010", &id), 0, "leading zeros, as strtoull takes them");
    cr_assert(id.ms == 7 && id.seq == 10);
    cr_assert_eq(sl_streamid_parse("0000000000000000000000001-0", &id), 0, "more than 20 digits, value fits");
    cr_assert_eq(id.ms, 1);
}

Test(streamid, complete_parse_needs_the_seq)
{
    sl_streamid id = {7, 7};
    cr_expect_eq(sl_streamid_parse("1700000000000", &id), -1, "missing seq");
    cr_expect_eq(sl_streamid_parse("0", &id), -1);
    cr_assert(id.ms == 7 && id.seq == 7, "output untouched on failure");
}

Test(streamid, incomplete_parse_takes_bare_ms)
{
    sl_streamid id = id_of("1700000000000");
    cr_assert(id.ms == 1700000000000ULL && id.seq == 0);
    id = id_of("5-6");
    cr_assert(id.ms == 5 && id.seq == 6);
    id = id_of(MAX_U64);
    cr_assert(id.ms == UINT64_MAX && id.seq == 0);
}

Test(streamid, rejects_malformed)
{
    const char *bad[] = {"",
                         "-",
                         "-1",
                         "1-",
                         "-1-2",
                         "1--2",
                         "1-2-3",
                         "+1-2",
                         "1-+2",
                         "1-\xef\xbc\x92",
                         " 1-2",
                         "1-2 ",
                         "1 -2",
                         "1- 2",
                         "1-\t2",
                         "\n1",
                         "1x",
                         "1-2x",
                         "0x10-0",
                         "1.5-0",
                         "a-b",
                         "$",
                         "*",
                         "1-*",
                         "18446744073709551616-0",
                         "0-18446744073709551616",
                         "99999999999999999999999-0",
                         MAX_U64 "0-0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sl_streamid id = {7, 7};
        cr_expect_eq(sl_streamid_parse(bad[i], &id), -1, "\"%s\" should be rejected", bad[i]);
        cr_expect_eq(sl_streamid_parse_incomplete(bad[i], &id), -1, "\"%s\" should be rejected (incomplete)", bad[i]);
        cr_expect(id.ms == 7 && id.seq == 7, "\"%s\": output untouched", bad[i]);
    }
    sl_streamid id;
    cr_assert_eq(sl_streamid_parse(NULL, &id), -1);
    cr_assert_eq(sl_streamid_parse_incomplete(NULL, &id), -1);
}

Test(streamid, formats_round_trip)
{
    char buf[SL_STREAMID_MAX];
    cr_assert_eq(sl_streamid_fmt(buf, sizeof buf, (sl_streamid){UINT64_MAX, UINT64_MAX}), 0, "the longest fits");
    cr_assert_str_eq(buf, MAX_U64 "-" MAX_U64);
    cr_assert_eq(strlen(buf) + 1, SL_STREAMID_MAX);
    cr_assert_eq(sl_streamid_fmt(buf, sizeof buf, id_of("007-010")), 0);
    cr_assert_str_eq(buf, "7-10", "canonical: no leading zeros");
    cr_assert_eq(sl_streamid_fmt(buf, sizeof buf, id_of("42")), 0);
    cr_assert_str_eq(buf, "42-0");
    char small[4];
    cr_assert_eq(sl_streamid_fmt(small, sizeof small, (sl_streamid){12, 3}), -1, "does not fit");
}

Test(streamid, orders_by_ms_then_seq)
{
    cr_assert_lt(sl_streamid_cmp((sl_streamid){1, 9}, (sl_streamid){2, 0}), 0);
    cr_assert_gt(sl_streamid_cmp((sl_streamid){2, 0}, (sl_streamid){1, UINT64_MAX}), 0);
    cr_assert_lt(sl_streamid_cmp((sl_streamid){5, 1}, (sl_streamid){5, 2}), 0);
    cr_assert_eq(sl_streamid_cmp((sl_streamid){5, 2}, (sl_streamid){5, 2}), 0);
    cr_assert_gt(sl_streamid_cmp((sl_streamid){UINT64_MAX, 0}, (sl_streamid){UINT64_MAX - 1, UINT64_MAX}), 0);

    /* As numbers, not as text. */
    cr_assert_lt(sl_streamid_cmp_text("9-0", "10-0"), 0);
    cr_assert_lt(sl_streamid_cmp_text("1-9", "1-10"), 0);
    cr_assert_eq(sl_streamid_cmp_text("007-1", "7-1"), 0);
    cr_assert_eq(sl_streamid_cmp_text("7", "7-0"), 0, "an incomplete id is seq 0");
    cr_assert_lt(sl_streamid_cmp_text("7", "7-1"), 0);
    cr_assert_gt(sl_streamid_cmp_text(MAX_U64 "-" MAX_U64, MAX_U64 "-18446744073709551614"), 0);
    /* Malformed text is 0-0. */
    cr_assert_eq(sl_streamid_cmp_text("junk", "0-0"), 0);
    cr_assert_eq(sl_streamid_cmp_text("", NULL), 0);
    cr_assert_lt(sl_streamid_cmp_text("18446744073709551616-0", "0-1"), 0, "overflow is malformed");
    cr_assert_gt(sl_streamid_cmp_text("0-1", " 5-0"), 0);
}

Test(streamid, ms_part)
{
    cr_assert_eq(sl_streamid_ms("1700000000000-3"), 1700000000000LL);
    cr_assert_eq(sl_streamid_ms("1700000000000"), 1700000000000LL);
    cr_assert_eq(sl_streamid_ms("0-0"), 0);
    cr_assert_eq(sl_streamid_ms("9223372036854775807-" MAX_U64), INT64_MAX);
    cr_assert_eq(sl_streamid_ms("9223372036854775808-0"), -1, "beyond INT64_MAX");
    cr_assert_eq(sl_streamid_ms(MAX_U64), -1);
    cr_assert_eq(sl_streamid_ms("+5"), -1);
    cr_assert_eq(sl_streamid_ms("5-"), -1);
    cr_assert_eq(sl_streamid_ms(""), -1);
    cr_assert_eq(sl_streamid_ms(NULL), -1);
}

Test(streamid, predecessor)
{
    sl_streamid id = {5, 3};
    cr_assert_eq(sl_streamid_prev(&id), 0);
    cr_assert(id.ms == 5 && id.seq == 2);
    id = (sl_streamid){5, 0};
    cr_assert_eq(sl_streamid_prev(&id), 0);
    cr_assert(id.ms == 4 && id.seq == UINT64_MAX);
    id = (sl_streamid){0, 1};
    cr_assert_eq(sl_streamid_prev(&id), 0);
    cr_assert(id.ms == 0 && id.seq == 0);
    cr_assert_eq(sl_streamid_prev(&id), -1, "0-0 has none");
    cr_assert(id.ms == 0 && id.seq == 0, "untouched");
    id = (sl_streamid){UINT64_MAX, 0};
    cr_assert_eq(sl_streamid_prev(&id), 0);
    cr_assert(id.ms == UINT64_MAX - 1 && id.seq == UINT64_MAX);
}
