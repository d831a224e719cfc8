/* Tests for workers/prio.c: the read order of a pool's queues. Strict queues
 * first in list order, every weighted queue after them once, and the first
 * weighted place dealt exactly by weight over each deal of the deck. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/config.h"
#include "workers/prio.h"

static sl_pool_queue qs[4] = {{"critical", 0}, {"default", 3}, {"urgent", 0}, {"low", 1}};
static sl_pool_cfg pool = {.queues = qs, .nqueues = 4};

Test(prio, strict_queues_come_first_in_list_order_then_every_weighted_one)
{
    sl_prio p;
    sl_prio_init(&p, &pool);
    for (int round = 0; round < 100; round++) {
        int out[SL_POOL_QUEUES_MAX];
        cr_assert_eq(sl_prio_order(&p, out), 4);
        cr_assert_eq(out[0], 0, "critical first");
        cr_assert_eq(out[1], 2, "then urgent, the second strict queue");
        cr_assert((out[2] == 1 && out[3] == 3) || (out[2] == 3 && out[3] == 1), "then default and low once each");
    }
}

Test(prio, each_deal_gives_every_weighted_queue_its_weight_in_first_places)
{
    sl_prio p;
    sl_prio_init(&p, &pool);
    for (int deal = 0; deal < 250; deal++) { /* 4 cycles a deal: 3 default, 1 low */
        int firsts[4] = {0};
        for (int k = 0; k < 4; k++) {
            int out[SL_POOL_QUEUES_MAX];
            sl_prio_order(&p, out);
            firsts[out[2]]++;
        }
        cr_assert_eq(firsts[1], 3, "deal %d: default first %d times", deal, firsts[1]);
        cr_assert_eq(firsts[3], 1, "deal %d: low first %d times", deal, firsts[3]);
    }
}

Test(prio, all_strict_and_one_weighted)
{
    sl_pool_queue s[2] = {{"a", 0}, {"b", 0}}, one[1] = {{"only", 7}};
    sl_pool_cfg ps = {.queues = s, .nqueues = 2}, po = {.queues = one, .nqueues = 1};
    sl_prio p;
    int out[SL_POOL_QUEUES_MAX];
    sl_prio_init(&p, &ps);
    cr_assert_eq(sl_prio_order(&p, out), 2);
    cr_assert(out[0] == 0 && out[1] == 1);
    sl_prio_init(&p, &po);
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(sl_prio_order(&p, out), 1);
        cr_assert_eq(out[0], 0);
    }
}
