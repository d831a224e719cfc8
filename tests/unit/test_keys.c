/* Tests for common/keys.c: every key name it builds, and reading queue and
 * group names back out of key names (SCAN, scheduled entries' targets). Pure
 * functions: no Redis needed. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/keys.h"

Test(keys, builds_every_key_of_a_queue)
{
    char k[SL_KEY_MAX];
    cr_assert_eq(sl_key_stream(k, sizeof k, "q"), 0);
    cr_assert_str_eq(k, "sluice:{q}");
    cr_assert_eq(sl_key_retry(k, sizeof k, "q", "g"), 0);
    cr_assert_str_eq(k, "sluice:{q}:r:g");
    cr_assert_eq(sl_key_sched(k, sizeof k, "q"), 0);
    cr_assert_str_eq(k, "sluice:{q}:sched");
    cr_assert_eq(sl_key_dlq(k, sizeof k, "q", "g"), 0);
    cr_assert_str_eq(k, "sluice:{q}:dlq:g");
    cr_assert_eq(sl_key_fence(k, sizeof k, "q", "g"), 0);
    cr_assert_str_eq(k, "sluice:{q}:fence:g");
    cr_assert_eq(sl_key_done(k, sizeof k, "q", "g", "j1"), 0);
    cr_assert_str_eq(k, "sluice:{q}:done:g:j1");
    cr_assert_eq(sl_key_done(k, sizeof k, "q", "g", ""), 0);
    cr_assert_str_eq(k, "sluice:{q}:done:g:", "the prefix sluice_ack takes");
    cr_assert_eq(sl_key_once(k, sizeof k, "q", "g", "j1", "mail"), 0);
    cr_assert_str_eq(k, "sluice:{q}:once:g:j1:mail");
    cr_assert_eq(sl_key_idem(k, sizeof k, "q", "order-42"), 0);
    cr_assert_str_eq(k, "sluice:{q}:idem:order-42");
    cr_assert_eq(sl_key_paused(k, sizeof k, "q", "g"), 0);
    cr_assert_str_eq(k, "sluice:{q}:paused:g");
    cr_assert_eq(sl_key_stats(k, sizeof k, "q", "g"), 0);
    cr_assert_str_eq(k, "sluice:{q}:stats:g");
    cr_assert_str_eq(SL_KEY_SCHEMAS, "sluice:{:schemas}");
    cr_assert_str_eq(SL_KEY_SCHEMAS_VERSION, "sluice:{:schemas}:version");
}

Test(keys, reports_a_key_that_does_not_fit)
{
    char k[12];
    cr_assert_eq(sl_key_stream(k, sizeof k, "q"), 0);
    cr_assert_eq(sl_key_stream(k, sizeof k, "queue"), -1);
    cr_assert_eq(sl_key_paused(k, sizeof k, "q", "g"), -1);
}

Test(keys, scan_pattern)
{
    char m[32];
    cr_assert_eq(sl_key_match_queues(m, sizeof m, ""), 0);
    cr_assert_str_eq(m, "sluice:{*}");
    cr_assert_eq(sl_key_match_queues(m, sizeof m, ":sched"), 0);
    cr_assert_str_eq(m, "sluice:{*}:sched");
}

static const char *queue_of(const char *key, const char *suffix, char *out)
{
    size_t len = 0;
    const char *q = sl_key_queue_of(key, suffix, &len);
    if (q == NULL)
        return NULL;
    memcpy(out, q, len);
    out[len] = '\0';
    return out;
}

Test(keys, queue_of_a_key)
{
    char q[64];
    cr_assert_str_eq(queue_of("sluice:{orders}", "", q), "orders");
    cr_assert_str_eq(queue_of("sluice:{orders}:sched", ":sched", q), "orders");
    cr_assert_str_eq(queue_of("sluice:{a}", "", q), "a");
    cr_assert_null(queue_of("sluice:{orders}:r:g", "", q), "a further suffix");
    cr_assert_null(queue_of("sluice:{orders}:sched:bad", ":sched", q));
    cr_assert_null(queue_of("sluice:{}", "", q), "empty queue");
    cr_assert_null(queue_of("sluice:{a}b}", "", q), "a '}' inside");
    cr_assert_null(queue_of("sluice:{orders", "", q));
    cr_assert_null(queue_of("other:{orders}", "", q));
    cr_assert_null(queue_of("sluice:{", "", q));
    cr_assert_null(queue_of("", ":sched", q));
}

Test(keys, retry_group_of_a_key)
{
    cr_assert_str_eq(sl_key_retry_group("sluice:{q}:r:g1", "q"), "g1");
    cr_assert_str_eq(sl_key_retry_group("sluice:{q}:r:", "q"), "");
    cr_assert_null(sl_key_retry_group("sluice:{q}", "q"));
    cr_assert_null(sl_key_retry_group("sluice:{q}:dlq:g1", "q"));
    cr_assert_null(sl_key_retry_group("sluice:{q2}:r:g1", "q"));
    cr_assert_null(sl_key_retry_group("sluice:{q}:r:g1", "q2"));
}
