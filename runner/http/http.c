/* The supervisor's HTTP endpoint (see http.h): evhttp on the supervisor's
 * event_base, GET/HEAD only. Every handler renders from memory (status slots,
 * the last Redis sample): no Redis call and nothing that blocks the loop.
 * Limits: a connection cap, a total deadline per request, and a listener that
 * pauses on accept errors (EMFILE) instead of spinning. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "common/log.h"
#include "common/util.h"
#include "runner/http/http.h"

/* How often open connections are checked against their deadline. */
#define SL_HTTP_SWEEP_MS 100
/* How long the listener pauses after an accept error (EMFILE, ENFILE...). */
#define SL_HTTP_ACCEPT_PAUSE_MS 1000
/* Descriptors kept free for the rest of the supervisor beside 2 per worker
 * (its channel, and a spawn's transient socketpair/memfd): Redis connections,
 * the log file, reloads. */
#define SL_HTTP_FD_RESERVE 32

/* One accepted connection. evhttp owns it; we hold a reference on its
 * bufferevent (made by sl_http_on_bev) so we can see when evhttp freed it (its
 * callbacks are cleared) and can time it out. */
typedef struct sl_http_conn {
    struct bufferevent *bev;
    int64_t deadline_ms; /* monotonic */
} sl_http_conn;

struct sl_http {
    struct event_base *base;
    sl_metrics *m;
    struct evhttp *http;
    struct evconnlistener *lev; /* owned by http */
    sl_http_conn *conns; /* max of them */
    int nconns, max;
    int64_t timeout_ms;
    struct event *sweep; /* persistent, pending while nconns > 0 */
    struct event *resume; /* end of an accept-error pause */
    int full; /* listener disabled: nconns == max */
    int paused; /* listener disabled: accept error */
    long accept_errors; /* accept failures since the last success */
    int accept_errno; /* the first one's errno */
    long timeouts; /* connections closed by the deadline (debug) */
    int reserve_fd; /* /dev/null, given up to drain one connection on EMFILE */
    char address[320]; /* the address bound ("127.0.0.1:40123" when the port was 0) */
};

/* The running endpoint, for the listener's error callback: its argument is
 * the one evhttp_bind_listener set (the evhttp), and there is no other way
 * from the listener back to us. One endpoint per process. */
static sl_http *sl_http_current;

/* Enable the listener unless it is full or paused. */
static void sl_http_listen_update(sl_http *h)
{
    if (h->full || h->paused)
        (void)evconnlistener_disable(h->lev);
    else
        (void)evconnlistener_enable(h->lev);
}

/* Drop connection i: evhttp has freed it, release our reference. */
static void sl_http_conn_drop(sl_http *h, int i)
{
    (void)bufferevent_decref(h->conns[i].bev);
    h->conns[i] = h->conns[--h->nconns];
}

static int sl_http_conn_freed(struct bufferevent *bev)
{
    bufferevent_data_cb r, w;
    bufferevent_event_cb e;
    void *arg;
    bufferevent_getcb(bev, &r, &w, &e, &arg);
    return !r && !w && !e;
}

/* The sweep: release connections evhttp freed, fail those past their
 * deadline (as a read timeout: evhttp then closes them), and resume
 * accepting below the cap. */
static void sl_http_on_sweep(evutil_socket_t fd, short what, void *arg)
{
    sl_http *h = arg;
    int64_t now = sl_now_mono_ms();
    (void)fd;
    (void)what;
    for (int i = 0; i < h->nconns;) {
        sl_http_conn *c = &h->conns[i];
        if (!sl_http_conn_freed(c->bev) && now >= c->deadline_ms) {
            h->timeouts++;
            c->deadline_ms = now + SL_HTTP_SWEEP_MS; /* again next sweep if still open */
            bufferevent_trigger_event(c->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, 0);
        }
        if (sl_http_conn_freed(c->bev))
            sl_http_conn_drop(h, i);
        else
            i++;
    }
    if (h->full && h->nconns < h->max) {
        h->full = 0;
        sl_http_listen_update(h);
    }
    if (h->nconns == 0)
        (void)event_del(h->sweep);
}

/* evhttp's bufferevent factory: called once per accepted connection, before
 * evhttp sets the socket on it. Tracks it and stops accepting at the cap. */
static struct bufferevent *sl_http_on_bev(struct event_base *base, void *arg)
{
    sl_http *h = arg;
    if (h->nconns >= h->max)
        return NULL; /* not reached: the listener stops at the cap */
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        return NULL; /* evhttp makes one itself (untracked): out of memory only */
    if (h->accept_errors > 0) {
        SL_LOG(SL_INFO, "http endpoint accepting again", SL_I("accept_errors", h->accept_errors),
               SL_S("error", strerror(h->accept_errno)));
        h->accept_errors = 0;
    }
    bufferevent_incref(bev);
    h->conns[h->nconns].bev = bev;
    h->conns[h->nconns].deadline_ms = sl_now_mono_ms() + h->timeout_ms;
    if (h->nconns++ == 0) {
        struct timeval tv = {0, SL_HTTP_SWEEP_MS * 1000};
        (void)event_add(h->sweep, &tv);
    }
    if (h->nconns >= h->max) {
        h->full = 1;
        sl_http_listen_update(h); /* the listener stops its accept loop at once */
    }
    return bev;
}

/* accept() failed with something other than EAGAIN/EINTR/ECONNABORTED. With
 * EMFILE/ENFILE the socket stays readable: pause the listener instead of
 * spinning, and log once per episode (the count comes with the recovery). */
static void sl_http_on_accept_error(struct evconnlistener *lev, void *arg)
{
    sl_http *h = sl_http_current;
    int e = EVUTIL_SOCKET_ERROR();
    (void)arg; /* the listener's callback argument: evhttp's, not ours */
    if (!h || h->lev != lev)
        return;
    if (h->accept_errors++ == 0) {
        h->accept_errno = e;
        SL_LOG(SL_WARN, "http endpoint: accept() failed; pausing the listener", SL_S("error", strerror(e)),
               SL_I("pause_ms", SL_HTTP_ACCEPT_PAUSE_MS), SL_I("connections", h->nconns));
    }
    if ((e == EMFILE || e == ENFILE) && h->reserve_fd >= 0) {
        /* Give up the spare descriptor to take one waiting client off the
         * backlog and close it: it is told now instead of hanging. */
        (void)close(h->reserve_fd);
        int fd = accept(evconnlistener_get_fd(lev), NULL, NULL);
        if (fd >= 0)
            (void)close(fd);
        h->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    h->paused = 1;
    sl_http_listen_update(h);
    struct timeval tv = {SL_HTTP_ACCEPT_PAUSE_MS / 1000, (SL_HTTP_ACCEPT_PAUSE_MS % 1000) * 1000};
    (void)evtimer_add(h->resume, &tv);
}

static void sl_http_on_resume(evutil_socket_t fd, short what, void *arg)
{
    sl_http *h = arg;
    (void)fd;
    (void)what;
    h->paused = 0;
    sl_http_listen_update(h);
}

/* evhttp is closing a connection that carried a request: sweep now, so its
 * descriptor is released without waiting for the next tick. */
static void sl_http_on_close(struct evhttp_connection *evcon, void *arg)
{
    sl_http *h = arg;
    (void)evcon;
    event_active(h->sweep, EV_TIMEOUT, 0);
}

/* A request arrived on a connection: its deadline now covers this answer and
 * the next request of a kept-alive connection. */
static void sl_http_request_seen(sl_http *h, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    if (!evcon)
        return;
    evhttp_connection_set_closecb(evcon, sl_http_on_close, h);
    for (int i = 0; i < h->nconns; i++)
        if (h->conns[i].bev == bev)
            h->conns[i].deadline_ms = sl_now_mono_ms() + h->timeout_ms;
}

/* Send code with body (text or JSON) and its content type. */
static void sl_http_reply(struct evhttp_request *req, int code, const char *ctype, const char *body)
{
    struct evbuffer *b = evbuffer_new();
    static const struct {
        int code;
        const char *text;
    } reasons[] = {{200, "OK"},
                   {404, "Not Found"},
                   {405, "Method Not Allowed"},
                   {500, "Internal Server Error"},
                   {503, "Service Unavailable"}};
    const char *reason = "Error";
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].code == code)
            reason = reasons[i].text;
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    evbuffer_add(b, body, strlen(body));
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

static void sl_http_metrics(sl_http *h, struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();
    if (!b || sl_metrics_render(h->m, b) != 0) {
        if (b)
            evbuffer_free(b);
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

/* /healthz and /readyz: 200 with a word, or 503 with the JSON reasons. */
static void sl_http_check(struct evhttp_request *req, char *reasons, const char *ok)
{
    if (!reasons) {
        sl_http_reply(req, 200, "text/plain; charset=utf-8", ok);
        return;
    }
    sl_http_reply(req, 503, "application/json", reasons);
    free(reasons);
}

static void sl_http_on_request(struct evhttp_request *req, void *arg)
{
    sl_http *h = arg;
    sl_http_request_seen(h, req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        sl_http_reply(req, 405, "text/plain; charset=utf-8", "method not allowed\n");
        return;
    }
    if (!path)
        path = "/";
    if (strcmp(path, "/metrics") == 0) {
        sl_http_metrics(h, req);
    } else if (strcmp(path, "/healthz") == 0) {
        sl_http_check(req, sl_status_health(h->m), "ok\n");
    } else if (strcmp(path, "/readyz") == 0) {
        sl_http_check(req, sl_status_ready(h->m), "ready\n");
    } else if (strcmp(path, "/status") == 0) {
        char *json = sl_status_json(h->m);
        if (!json) {
            evhttp_send_error(req, 500, NULL);
            return;
        }
        sl_http_reply(req, 200, "application/json", json);
        free(json);
    } else {
        sl_http_reply(req, 404, "text/plain; charset=utf-8", "not found: try /metrics, /healthz, /readyz, /status\n");
    }
}

/* Descriptors open now with a number below limit (entries of /proc/self/fd;
 * higher ones, inherited, take no room under the limit), or -1. */
static long sl_http_open_fds(long limit)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    long n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (e->d_name[0] != '.' && !*end && fd != dirfd(d) && fd < limit)
            n++;
    }
    (void)closedir(d);
    return n;
}

/* The connection cap: supervisor.http_max_connections, lowered so HTTP can
 * never take the descriptors that spawning workers and Redis need. */
static int sl_http_cap(const sl_config *cfg)
{
    struct rlimit rl;
    long workers = 0, open_now;
    int max = cfg->http_max_connections > 0 ? cfg->http_max_connections : 1;
    for (size_t i = 0; i < cfg->npools; i++)
        workers += cfg->pools[i].workers;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1L << 30 ||
        (open_now = sl_http_open_fds((long)rl.rlim_cur)) < 0)
        return max;
    /* +2: the listener and the spare descriptor */
    long avail = (long)rl.rlim_cur - open_now - 2 - SL_HTTP_FD_RESERVE - 2 * workers;
    if (avail < max) {
        long cap = avail < 1 ? 1 : avail;
        SL_LOG(SL_WARN, "http endpoint: fewer connections than supervisor.http_max_connections (RLIMIT_NOFILE)",
               SL_I("http_max_connections", max), SL_I("cap", cap), SL_I("rlimit_nofile", (long)rl.rlim_cur),
               SL_I("open_fds", open_now), SL_I("workers", workers));
        return (int)cap;
    }
    return max;
}

/* Listen on host:port (first address getaddrinfo gives). NULL with errno. */
static struct evconnlistener *sl_http_listener(struct event_base *base, const char *host, unsigned short port,
                                               char *err, size_t errlen, const char *listen)
{
    struct evutil_addrinfo hints, *ai = NULL;
    char portstr[8];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICSERV;
    (void)snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
    int rc = evutil_getaddrinfo(host, portstr, &hints, &ai);
    if (rc != 0) {
        (void)snprintf(err, errlen, "getaddrinfo(%s) failed: %s", listen, evutil_gai_strerror(rc));
        return NULL;
    }
    errno = 0;
    struct evconnlistener *lev =
        evconnlistener_new_bind(base, NULL, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                128, ai->ai_addr, (int)ai->ai_addrlen);
    int e = errno;
    evutil_freeaddrinfo(ai);
    if (!lev)
        (void)snprintf(err, errlen, "bind(%s) failed: %s", listen, e ? strerror(e) : "cannot listen");
    return lev;
}

/* The address the listener is bound to, as "host:port" / "[v6]:port", into
 * h->address; the configured text when it cannot be read. */
static void sl_http_bound(sl_http *h, const char *listen)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[NI_MAXHOST], port[NI_MAXSERV];
    memset(&ss, 0, sizeof ss); /* getsockname fills it; zeroed so ss_family is never read unset */
    (void)snprintf(h->address, sizeof h->address, "%s", listen);
    if (getsockname(evconnlistener_get_fd(h->lev), (struct sockaddr *)&ss, &len) != 0 ||
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return;
    (void)snprintf(h->address, sizeof h->address, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

const char *sl_http_address(const sl_http *h)
{
    return h ? h->address : "";
}

sl_http *sl_http_start(struct event_base *base, const sl_config *cfg, sl_metrics *m, const char *listen, char *err,
                       size_t errlen)
{
    char host[256];
    unsigned short port;
    if (sl_cfg_parse_listen(listen, host, sizeof host, &port) != 0) {
        (void)snprintf(err, errlen, "supervisor.http_listen: expected host:port, got '%s'", listen);
        return NULL;
    }
    sl_http *h = calloc(1, sizeof *h);
    if (!h)
        goto oom;
    h->base = base;
    h->m = m;
    h->reserve_fd = -1;
    h->max = sl_http_cap(cfg);
    h->timeout_ms = cfg->http_timeout_ms > 0 ? cfg->http_timeout_ms : 5000;
    if (!(h->conns = calloc((size_t)h->max, sizeof *h->conns)) || !(h->http = evhttp_new(base)) ||
        !(h->sweep = event_new(base, -1, EV_PERSIST, sl_http_on_sweep, h)) ||
        !(h->resume = evtimer_new(base, sl_http_on_resume, h)))
        goto oom;
    evhttp_set_allowed_methods(h->http,
                               EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
    /* per read/write; the total per request is enforced by the sweep */
    evhttp_set_timeout(h->http, (int)((h->timeout_ms + 999) / 1000));
    evhttp_set_max_headers_size(h->http, 16384);
    evhttp_set_max_body_size(h->http, 4096);
    evhttp_set_gencb(h->http, sl_http_on_request, h);
    evhttp_set_bevcb(h->http, sl_http_on_bev, h);
    if (!(h->lev = sl_http_listener(base, host, port, err, errlen, listen)))
        goto fail;
    if (!evhttp_bind_listener(h->http, h->lev)) {
        evconnlistener_free(h->lev);
        h->lev = NULL;
        goto oom;
    }
    sl_http_current = h;
    evconnlistener_set_error_cb(h->lev, sl_http_on_accept_error);
    h->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    sl_http_bound(h, listen);
    SL_LOG(SL_INFO, "http endpoint listening", SL_S("listen", h->address),
           SL_S("paths", "/metrics /healthz /readyz /status"), SL_I("max_connections", h->max));
    return h;
oom:
    (void)snprintf(err, errlen, "evhttp_new() failed: out of memory");
fail:
    sl_http_free(h);
    return NULL;
}

void sl_http_free(sl_http *h)
{
    if (!h)
        return;
    if (sl_http_current == h)
        sl_http_current = NULL;
    if (h->http)
        evhttp_free(h->http); /* frees its connections (and the listener): our references remain */
    for (int i = 0; i < h->nconns; i++)
        (void)bufferevent_decref(h->conns[i].bev);
    if (h->sweep)
        event_free(h->sweep);
    if (h->resume)
        event_free(h->resume);
    if (h->reserve_fd >= 0)
        (void)close(h->reserve_fd);
    free(h->conns);
    free(h);
}
