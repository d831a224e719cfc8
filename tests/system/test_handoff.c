/* Scale-down hand-off: a worker stopped by a resize gives its prefetched,
 * unstarted entries back so that a live worker of the group takes them over at
 * once, not after a whole lease. Real supervisor, workers and redis-server. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/acct.h"
#include "support/fx.h"

TestSuite(handoff, .init = fx_suite_init, .fini = fx_suite_fini, .timeout = 300);

static void p_slow(int i, char *buf, size_t n, void *arg)
{
    (void)arg;
    snprintf(buf, n, "{\"n\":%d,\"sleep_ms\":100}", i);
}

/* Replace the first "from" in the file with "to". */
static void edit_file(const char *path, const char *from, const char *to)
{
    char *text = th_read_file(path);
    cr_assert(text, "cannot read %s", path);
    char *at = strstr(text, from);
    cr_assert(at, "%s has no %s", path, from);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    fclose(f);
    free(text);
}

/* Two workers with a deep prefetch of 100 ms jobs and a 1 h lease; SIGHUP
 * with workers 1. The removed worker's unstarted entries must be run by the
 * other one long before the lease ends, each exactly once. The waits below
 * (2 min) only bound a hang: an entry stranded until its lease lapsed would
 * take the hour, so no machine speed decides the outcome. */
Test(handoff, resize_hands_prefetched_entries_to_a_live_worker)
{
    const int n = 40;
    fx_run r;
    fx_setup(&r, "h1",
             &(fx_cfg){.queue = "h1", .workers = 2, .read_count = 20, .prefetch = "10s", .jobs = "\"lease\":\"1h\""});
    acct_ledger *a = fx_ledger = acct_new("h1", "h1", r.record);
    th_sup_start(&r.sup);
    fx_wait_consumers(fx_rc, &r, "h1", 2);
    fx_xadd(fx_rc, "h1", "test.acct", n, p_slow, NULL, a, NULL);
    fx_wait_records(&r, 4, 20000);
    edit_file(r.sup.cfg, "\"workers\":2", "\"workers\":1");
    cr_assert_eq(kill(r.sup.pid, SIGHUP), 0);
    th_sup_wait_workers(&r.sup, 1, 20000);
    cr_assert_geq(th_sup_log_count(&r.sup, "released unstarted prefetched entries", NULL), 1,
                  "the removed worker held no unstarted entry: the scenario tested nothing (see %s)", r.sup.log);
    /* One worker runs the rest in about 4 s; a lease is an hour. */
    fx_wait_records(&r, n, 120000);
    acct_counts k;
    cr_assert(acct_wait_settled(a, fx_rc, 120000, &k), "not settled: pending=%ld lost=%ld", k.pending, k.lost);
    acct_print("handoff (resize 2 -> 1)", &k);
    cr_assert_eq(k.completed, n);
    cr_assert_eq(k.duplicates, 0);
    cr_assert_eq(k.dead, 0);
    cr_assert_eq(k.lost, 0);
    th_sup_term(&r.sup, 15000);
}
