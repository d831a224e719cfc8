/* Oversize payloads: an entry larger than jobs.max_payload_bytes is
 * dead-lettered "oversize" with only an excerpt of its payload (so Redis does
 * not hold it twice), and the dead letter says how long the payload was. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/acct.h"
#include "support/fx.h"

#define EXCERPT 4096 /* SL_DLQ_PAYLOAD_EXCERPT */

TestSuite(oversize, .init = fx_suite_init, .fini = fx_suite_fini, .timeout = 90);

Test(oversize, dead_letter_keeps_an_excerpt)
{
    const size_t big = 3u << 20; /* 3 MiB against a 1 MiB limit */
    fx_run r;
    fx_setup(&r, "o1", &(fx_cfg){.queue = "o1", .workers = 1, .jobs = "\"max_payload_bytes\":1048576"});
    acct_ledger *a = fx_ledger = acct_new("o1", "o1", r.record);
    th_sup_start(&r.sup);
    fx_wait_consumers(fx_rc, &r, "o1", 1);
    char *payload = malloc(big + 1);
    cr_assert(payload);
    memset(payload, 'x', big);
    payload[0] = '"', payload[big - 1] = '"', payload[big] = '\0';
    redisReply *x = redisCommand(fx_rc, "XADD sluice:{o1} * type test.acct payload %b", payload, big);
    cr_assert(x && x->type == REDIS_REPLY_STRING);
    acct_add(a, x->str);
    freeReplyObject(x);
    /* a small job after it still runs */
    fx_xadd(fx_rc, "o1", "test.acct", 1, NULL, NULL, a, NULL);
    acct_counts k;
    cr_assert(acct_wait_settled(a, fx_rc, 30000, &k), "not settled (see %s)", r.sup.log);
    cr_assert_eq(k.completed, 1);
    cr_assert_eq(k.by_reason[ACCT_oversize], 1);
    redisReply *d = redisCommand(fx_rc, "XRANGE sluice:{o1}:dlq:o1 - +");
    cr_assert(d && d->type == REDIS_REPLY_ARRAY && d->elements == 1);
    const redisReply *f = d->element[0]->element[1];
    const redisReply *p = th_field(f, "payload"), *t = th_field(f, "payload_truncated");
    cr_assert(p, "the dead letter has no payload field");
    cr_assert_eq(p->len, EXCERPT, "payload of %zu bytes in the dead letter, want an excerpt of %d", p->len, EXCERPT);
    cr_assert(memcmp(p->str, payload, EXCERPT) == 0, "the excerpt is not the payload's start");
    cr_assert(t, "no payload_truncated field");
    cr_assert_eq(strtoll(t->str, NULL, 10), (long long)big);
    cr_assert_str_eq(th_field(f, "reason")->str, "oversize");
    freeReplyObject(d);
    /* Redis holds the payload once: the DLQ is small next to the work stream. */
    long long dlq_mem = th_int(fx_rc, "MEMORY USAGE sluice:{o1}:dlq:o1");
    cr_assert_lt(dlq_mem, (long long)big / 8, "the DLQ takes %lld bytes for a %zu byte payload", dlq_mem, big);
    free(payload);
    th_sup_term(&r.sup, 15000);
}
