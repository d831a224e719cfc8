/* The supervisor's HTTP endpoint (evhttp on its loop): /metrics, /healthz,
 * /readyz and /status at supervisor.http_listen. Private to runner/. */
#ifndef SL_RUNNER_HTTP_H
#define SL_RUNNER_HTTP_H

#include <stddef.h>

#include "runner/http/metrics.h"

typedef struct sl_http sl_http;

struct event_base;

/**
 * Listen on `listen` ("host:port", "[v6]:port") on base, serving m's
 * renderings; cfg's http_max_connections and http_timeout apply.
 * @return the server, or NULL with a message naming the address in err
 *         (bad address, bind failure: the caller exits 78).
 */
sl_http *sl_http_start(struct event_base *base, const sl_config *cfg, sl_metrics *m, const char *listen, char *err,
                       size_t errlen);

/** The address bound, "host:port" with the port the kernel picked for port 0
 *  ("" for NULL). Valid while h lives. */
const char *sl_http_address(const sl_http *h);

/** Close the listener. NULL-safe. */
void sl_http_free(sl_http *h);

#endif
