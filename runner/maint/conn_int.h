/* Internals of the supervisor's connection shared by conn.c (one server) and
 * conn_cluster.c (the Redis Cluster router over one connection per master).
 * Private to runner/maint/conn*.c. */
#ifndef SL_RUNNER_MAINT_CONN_INT_H
#define SL_RUNNER_MAINT_CONN_INT_H

#include <stdint.h>

#ifndef SL_COMPAT_ASYNC
#define SL_COMPAT_ASYNC 1
#endif
#include "common/hiredis_compat.h"
#include "common/sentinel.h"
#include "common/url.h"
#include "runner/maint/conn.h"

struct event;

/* Period of the timeout check. */
#define SL_MCONN_TICK_MS 100

typedef enum sl_mconn_state {
    SL_MC_DOWN, /* no context; the retry timer reconnects */
    SL_MC_RESOLVING, /* redis+sentinel://: asking a sentinel where the master is */
    SL_MC_CONNECTING, /* TCP/unix connect in progress */
    SL_MC_HANDSHAKE, /* AUTH, SELECT, library check in flight */
    SL_MC_READY, /* commands go out at once */
    SL_MC_CLOSED /* sl_mconn_free in progress */
} sl_mconn_state;

/* One command: queued (waiting for ready) or in flight. */
typedef struct sl_mconn_req {
    struct sl_mconn_req *prev, *next;
    sl_mconn *c;
    /* routing (conn_cluster.c): key slot (-1 none), redirects followed, the
     * node an ASK named (-1 none), and when a TRYAGAIN may be resent */
    int slot, hops, ask;
    int64_t not_before;
    sl_mconn_cb cb;
    void *arg;
    int internal; /* a handshake step: dropped silently with its connection */
    unsigned gen; /* connection generation it was sent on */
    int64_t t0; /* when it was sent (in flight) or queued */
    int argc;
    const char **argv; /* copies, in the same allocation */
    size_t *lens;
} sl_mconn_req;

typedef struct sl_mconn_list {
    sl_mconn_req *head, *tail;
    size_t n;
} sl_mconn_list;

struct sl_mconn {
    struct event_base *base;
    redisAsyncContext *ac;
    sl_mconn_state state;
    unsigned gen; /* bumped per connection attempt */
    char *url; /* holds the password: wiped on free */
    sl_url u;
    char name[512]; /* redacted URL, for logs */
    int64_t connect_timeout_ms, command_timeout_ms, reconnect_min_ms, reconnect_max_ms;
    int64_t conn_t0; /* start of the current connect attempt */
    unsigned failures; /* consecutive failed attempts/drops since last ready */
    int was_ready; /* ever ready: later readies are "restored" */
    struct event *tick, *retry;
    sl_mconn_list inflight; /* in send order: head is the oldest */
    sl_mconn_list queue;
    sl_mconn_ready_fn on_ready;
    void *ready_arg;
    struct sl_mrouter *rt; /* redis+cluster:// only: this connection routes over links, one per master */
    /* redis+sentinel:// only: the sentinel being asked (its context, index in
     * u.hosts, whether AUTH was tried), and the master it named */
    redisAsyncContext *sac;
    int sidx, sasked, sauth;
    sl_sentinel_tally tally; /* what the sentinels asked so far named */
    char master_host[256];
    int master_port;
    char resolve_why[256]; /* what the sentinels said, for the log when none named a master */
};

void sl_mconn_push(sl_mconn_list *l, sl_mconn_req *q);
void sl_mconn_unlink(sl_mconn_list *l, sl_mconn_req *q);
sl_mconn_req *sl_mconn_req_new(sl_mconn *c, sl_mconn_cb cb, void *arg, int argc, const char **argv, const size_t *lens);
void sl_mconn_req_free(sl_mconn_req *q);

/** A connection to one master of parent's cluster: parent's credentials and
 *  timeouts, db 0; on_ready(arg) each time it is ready. NULL when out of memory. */
sl_mconn *sl_mconn_link_new(sl_mconn *parent, const char *host, int port, sl_mconn_ready_fn on_ready, void *arg);

/* The router (conn_cluster.c), for a connection whose URL is redis+cluster://. */
int sl_mrouter_start(sl_mconn *c);
void sl_mrouter_stop(sl_mconn *c);
void sl_mrouter_tick(sl_mconn *c);
int sl_mrouter_call(sl_mconn *c, sl_mconn_mode mode, sl_mconn_cb cb, void *arg, int argc, const char **argv,
                    const size_t *lens);
int sl_mrouter_ready(const sl_mconn *c);
void sl_mrouter_reset(sl_mconn *c, const char *why);
size_t sl_mrouter_inflight(const sl_mconn *c);
void sl_mrouter_timeouts(sl_mconn *c);

#endif
