/* The supervisor's HTTP endpoint (see http.h): evhttp on the supervisor's
 * event_base, GET/HEAD only. Every handler renders from memory (status slots,
 * the last Redis sample): no Redis call and nothing that blocks the loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "common/log.h"
#include "runner/http.h"

struct sl_http {
    sl_sup *sup;
    sl_metrics *m;
    struct evhttp *http;
};

/* Send code with body (text or JSON) and its content type. */
static void sl_http_reply(struct evhttp_request *req, int code, const char *ctype, const char *body)
{
    struct evbuffer *b = evbuffer_new();
    static const struct {
        int code;
        const char *text;
    } reasons[] = {{200, "OK"}, {404, "Not Found"}, {405, "Method Not Allowed"}, {500, "Internal Server Error"},
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

/* Split "host:port" / "[v6]:port" into host and port. 0 or -1. */
static int sl_http_parse(const char *listen, char *host, size_t n, unsigned short *port)
{
    const char *colon = strrchr(listen, ':');
    const char *h = listen;
    size_t hl;
    if (!colon || !colon[1])
        return -1;
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || *end || p < 0 || p > 65535)
        return -1;
    hl = (size_t)(colon - listen);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0) {
        h = "0.0.0.0";
        hl = strlen(h);
    }
    if (hl >= n)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (unsigned short)p;
    return 0;
}

sl_http *sl_http_start(sl_sup *sup, sl_metrics *m, const char *listen, char *err, size_t errlen)
{
    char host[256];
    unsigned short port;
    if (sl_http_parse(listen, host, sizeof host, &port) != 0) {
        (void)snprintf(err, errlen, "supervisor.http_listen: expected host:port, got '%s'", listen);
        return NULL;
    }
    sl_http *h = calloc(1, sizeof *h);
    if (!h || !(h->http = evhttp_new(sup->base))) {
        (void)snprintf(err, errlen, "evhttp_new() failed: out of memory");
        free(h);
        return NULL;
    }
    h->sup = sup;
    h->m = m;
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE);
    evhttp_set_timeout(h->http, 10);
    evhttp_set_max_headers_size(h->http, 16384);
    evhttp_set_max_body_size(h->http, 4096);
    evhttp_set_gencb(h->http, sl_http_on_request, h);
    errno = 0;
    if (!evhttp_bind_socket_with_handle(h->http, host, port)) {
        int e = errno;
        (void)snprintf(err, errlen, "bind(%s) failed: %s", listen, e ? strerror(e) : "cannot listen");
        sl_http_free(h);
        return NULL;
    }
    SL_LOG(SL_INFO, "http endpoint listening", SL_S("listen", listen),
           SL_S("paths", "/metrics /healthz /readyz /status"));
    return h;
}

void sl_http_free(sl_http *h)
{
    if (!h)
        return;
    if (h->http)
        evhttp_free(h->http);
    free(h);
}
