/* Example plugin "orders": handler "order.placed.v1" validates an order, computes
 * its item count and total, publishes "order.summarized.v1" to the queue named
 * by the pool setting "summary_queue" and appends a JSON line to the file named
 * by "summary_file" (each when set). Invalid orders fail with a precise reason.
 *
 *   {"order_id":"A-1001","customer":"c-42","currency":"EUR",
 *    "items":[{"sku":"X","qty":2,"unit_price":9.5}]}
 *
 * Build: cc -shared -fPIC -fvisibility=hidden -Wl,--no-undefined -I include \
 *           -o orders.so examples/plugins/orders.c
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sluice/plugin.h>

/* ---- A small strict JSON reader ----------------------------------------
 * Plugins link nothing but libc (they are built with --no-undefined and must
 * not depend on the host's symbols, so the host's cJSON is out of reach, and
 * bundling a JSON library would be heavier than this plugin). This reader
 * checks full RFC 8259 syntax for what it walks and hands out raw slices:
 * string contents are returned still escaped, which is exactly what we need
 * to copy them into JSON output again. */

#define MAX_DEPTH 32
#define MAX_TEXT 128 /* longest order_id / customer / sku we accept */

typedef struct jr {
    const char *p, *end;
    int depth;
    char err[200];
} jr;

/* A raw slice of the input. */
typedef struct slice {
    const char *s;
    size_t n;
} slice;

static int jr_fail(jr *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int jr_fail(jr *r, const char *fmt, ...)
{
    if (!r->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, sizeof(r->err), fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void jr_ws(jr *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

/* Consume c (after whitespace) or fail. */
static int jr_expect(jr *r, char c, const char *what)
{
    jr_ws(r);
    if (r->p >= r->end || *r->p != c)
        return jr_fail(r, "expected %s", what);
    r->p++;
    return 0;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A string; out receives the contents between the quotes, still escaped. */
static int jr_string(jr *r, slice *out)
{
    if (jr_expect(r, '"', "a string") != 0)
        return -1;
    const char *start = r->p;
    while (r->p < r->end && *r->p != '"') {
        unsigned char c = (unsigned char)*r->p;
        if (c < 0x20)
            return jr_fail(r, "control character in a string");
        if (c == '\\') {
            if (++r->p >= r->end)
                break;
            if (*r->p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (r->p + i >= r->end || !is_hex(r->p[i]))
                        return jr_fail(r, "bad \\u escape");
                r->p += 4;
            } else if (!strchr("\"\\/bfnrt", *r->p)) {
                return jr_fail(r, "bad escape '\\%c'", *r->p);
            }
        }
        r->p++;
    }
    if (r->p >= r->end)
        return jr_fail(r, "unterminated string");
    out->s = start;
    out->n = (size_t)(r->p - start);
    r->p++;
    return 0;
}

/* A number with JSON's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int jr_number(jr *r, slice *out)
{
    jr_ws(r);
    const char *s = r->p, *p = r->p;
    if (p < r->end && *p == '-')
        p++;
    if (p >= r->end || *p < '0' || *p > '9')
        return jr_fail(r, "expected a number");
    if (*p == '0')
        p++;
    else
        while (p < r->end && *p >= '0' && *p <= '9')
            p++;
    if (p < r->end && *p == '.') {
        if (++p >= r->end || *p < '0' || *p > '9')
            return jr_fail(r, "bad number: digits expected after '.'");
        while (p < r->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < r->end && (*p == 'e' || *p == 'E')) {
        if (++p < r->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= r->end || *p < '0' || *p > '9')
            return jr_fail(r, "bad number: digits expected in the exponent");
        while (p < r->end && *p >= '0' && *p <= '9')
            p++;
    }
    out->s = s;
    out->n = (size_t)(p - s);
    r->p = p;
    return 0;
}

static int jr_literal(jr *r, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n) != 0)
        return jr_fail(r, "unexpected character");
    r->p += n;
    return 0;
}

/* Iterate an object: call with *first = 1 after '{' was consumed. Returns 1
 * with the key read and positioned at its value, 0 after the closing '}', -1
 * on error. Trailing and leading commas are errors, as JSON wants. */
static int jr_next_key(jr *r, int *first, slice *key)
{
    jr_ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return 0;
    }
    if (!*first && jr_expect(r, ',', "',' or '}'") != 0)
        return -1;
    *first = 0;
    if (jr_string(r, key) != 0 || jr_expect(r, ':', "':'") != 0)
        return -1;
    return 1;
}

/* The first non-blank character ahead, or 0 at the end. */
static char jr_peek(jr *r)
{
    jr_ws(r);
    return r->p < r->end ? *r->p : 0;
}

/* The same for arrays (after '['): 1 when a value follows, 0 at ']', -1. */
static int jr_next_item(jr *r, int *first)
{
    jr_ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return 0;
    }
    if (!*first && jr_expect(r, ',', "',' or ']'") != 0)
        return -1;
    *first = 0;
    return 1;
}

/* Skip any value (checking it). */
static int jr_skip(jr *r)
{
    slice s;
    int first = 1, k;
    jr_ws(r);
    if (r->p >= r->end)
        return jr_fail(r, "unexpected end of text");
    switch (*r->p) {
    case '"':
        return jr_string(r, &s);
    case 't':
        return jr_literal(r, "true");
    case 'f':
        return jr_literal(r, "false");
    case 'n':
        return jr_literal(r, "null");
    case '{':
    case '[': {
        int obj = *r->p == '{';
        if (++r->depth > MAX_DEPTH)
            return jr_fail(r, "nesting deeper than %d", MAX_DEPTH);
        r->p++;
        while ((k = obj ? jr_next_key(r, &first, &s) : jr_next_item(r, &first)) == 1)
            if (jr_skip(r) != 0)
                return -1;
        r->depth--;
        return k;
    }
    default:
        return jr_number(r, &s);
    }
}

/* ---- The order ----------------------------------------------------------- */

#define PRICE_SCALE 10000 /* prices are fixed-point with 4 decimals: no float rounding in totals */

typedef struct order {
    slice id, customer, currency;
    int lines;
    long long units;
    long long total; /* in 1/PRICE_SCALE of the currency unit */
} order;

static int slice_eq(slice s, const char *lit)
{
    return s.n == strlen(lit) && memcmp(s.s, lit, s.n) == 0;
}

/* A non-negative decimal price (no exponent, at most 4 decimals) in 1/10000. */
static int parse_price(jr *r, int idx, slice num, long long *out)
{
    long long v = 0;
    size_t i = 0, frac = 0;
    if (num.n && num.s[0] == '-')
        return jr_fail(r, "items[%d].unit_price must not be negative, got %.*s", idx, (int)num.n, num.s);
    for (; i < num.n && num.s[i] != '.'; i++) {
        if (num.s[i] < '0' || num.s[i] > '9' || i >= 12)
            return jr_fail(r, "items[%d].unit_price must be a plain decimal below 10^12, got %.*s", idx, (int)num.n,
                           num.s);
        v = v * 10 + (num.s[i] - '0');
    }
    if (i < num.n) {
        for (i++; i < num.n; i++, frac++) {
            if (num.s[i] < '0' || num.s[i] > '9' || frac >= 4)
                return jr_fail(r, "items[%d].unit_price must have at most 4 decimals, got %.*s", idx, (int)num.n,
                               num.s);
            v = v * 10 + (num.s[i] - '0');
        }
    }
    for (; frac < 4; frac++)
        v *= 10;
    *out = v;
    return 0;
}

/* One element of "items": {"sku": string, "qty": int > 0, "unit_price": number >= 0}. */
static int parse_item(jr *r, order *o, int idx)
{
    slice key, v, sku = {0};
    long long qty = -1, price = -1;
    int first = 1, k;
    if (jr_peek(r) != '{')
        return jr_fail(r, "items[%d] must be an object", idx);
    r->p++;
    while ((k = jr_next_key(r, &first, &key)) == 1) {
        char c = jr_peek(r);
        int num = c == '-' || (c >= '0' && c <= '9');
        if (slice_eq(key, "sku")) {
            if (sku.s)
                return jr_fail(r, "items[%d]: duplicate key \"sku\"", idx);
            if (c != '"')
                return jr_fail(r, "items[%d].sku must be a string", idx);
            if (jr_string(r, &sku) != 0)
                return -1;
        } else if (slice_eq(key, "qty")) {
            if (qty >= 0)
                return jr_fail(r, "items[%d]: duplicate key \"qty\"", idx);
            if (!num || jr_number(r, &v) != 0)
                return jr_fail(r, "items[%d].qty must be a number", idx);
            qty = 0;
            for (size_t i = 0; i < v.n; i++) {
                if (v.s[i] < '0' || v.s[i] > '9' || i >= 6)
                    return jr_fail(r, "items[%d].qty must be an integer 1..999999, got %.*s", idx, (int)v.n, v.s);
                qty = qty * 10 + (v.s[i] - '0');
            }
            if (qty == 0)
                return jr_fail(r, "items[%d].qty must be positive, got 0", idx);
        } else if (slice_eq(key, "unit_price")) {
            if (price >= 0)
                return jr_fail(r, "items[%d]: duplicate key \"unit_price\"", idx);
            if (!num || jr_number(r, &v) != 0)
                return jr_fail(r, "items[%d].unit_price must be a number", idx);
            if (parse_price(r, idx, v, &price) != 0)
                return -1;
        } else if (jr_skip(r) != 0) { /* unknown keys are allowed: newer producers may add some */
            return -1;
        }
    }
    if (k < 0)
        return -1;
    if (!sku.s || sku.n == 0 || sku.n > MAX_TEXT)
        return jr_fail(r, "items[%d].sku is missing or not 1..%d characters", idx, MAX_TEXT);
    if (qty < 0)
        return jr_fail(r, "items[%d].qty is missing", idx);
    if (price < 0)
        return jr_fail(r, "items[%d].unit_price is missing", idx);
    if (price > (INT64_MAX - o->total) / qty)
        return jr_fail(r, "order total is too large");
    o->total += qty * price;
    o->units += qty;
    o->lines++;
    return 0;
}

static int is_currency(slice c)
{
    if (c.n != 3)
        return 0;
    for (int i = 0; i < 3; i++)
        if (c.s[i] < 'A' || c.s[i] > 'Z')
            return 0;
    return 1;
}

/* Parse and validate an order. Returns 0, or -1 with the problem in err. */
static int parse_order(const char *text, size_t len, order *o, char *err, size_t errlen)
{
    jr r = {.p = text, .end = text + len};
    slice key;
    int first = 1, k, have_items = 0;
    memset(o, 0, sizeof(*o));
    if (jr_peek(&r) != '{') {
        jr_fail(&r, "the payload must be a JSON object");
        goto fail;
    }
    r.p++;
    while ((k = jr_next_key(&r, &first, &key)) == 1) {
        slice *dst = slice_eq(key, "order_id")   ? &o->id
                     : slice_eq(key, "customer") ? &o->customer
                     : slice_eq(key, "currency") ? &o->currency
                                                 : NULL;
        if (dst || slice_eq(key, "items")) {
            if ((dst && dst->s) || (!dst && have_items++)) {
                jr_fail(&r, "duplicate key \"%.*s\"", (int)key.n, key.s);
                goto fail;
            }
            char want = dst ? '"' : '[';
            if (jr_peek(&r) != want) {
                jr_fail(&r, "%.*s must be %s", (int)key.n, key.s, dst ? "a string" : "an array");
                goto fail;
            }
        }
        if (dst) {
            if (jr_string(&r, dst) != 0)
                goto fail;
        } else if (slice_eq(key, "items")) {
            int ifirst = 1, ik, idx = 0;
            r.p++; /* '[' */
            while ((ik = jr_next_item(&r, &ifirst)) == 1)
                if (parse_item(&r, o, idx++) != 0)
                    goto fail;
            if (ik < 0)
                goto fail;
        } else if (jr_skip(&r) != 0) { /* unknown keys are allowed */
            goto fail;
        }
    }
    if (k < 0)
        goto fail;
    if (jr_peek(&r) != 0) {
        jr_fail(&r, "unexpected text after the order object");
        goto fail;
    }
    if (!o->id.s || o->id.n == 0 || o->id.n > MAX_TEXT)
        jr_fail(&r, "order_id is missing or not 1..%d characters", MAX_TEXT);
    else if (o->customer.n > MAX_TEXT)
        jr_fail(&r, "customer is longer than %d characters", MAX_TEXT);
    else if (!o->currency.s)
        jr_fail(&r, "currency is missing");
    else if (!is_currency(o->currency))
        jr_fail(&r, "currency must be 3 uppercase letters (ISO 4217), got \"%.*s\"",
                (int)(o->currency.n > 16 ? 16 : o->currency.n), o->currency.s);
    else if (!have_items)
        jr_fail(&r, "items is missing");
    else if (o->lines == 0)
        jr_fail(&r, "items must not be empty");
    if (!r.err[0])
        return 0;
    snprintf(err, errlen, "%s", r.err);
    return -1;
fail:
    snprintf(err, errlen, "%s (at offset %ld)", r.err[0] ? r.err : "invalid JSON", (long)(r.p - text));
    return -1;
}

/* ---- The handler --------------------------------------------------------- */

static const sluice_host *host;

/* "19.5" -> "19.50": total with 2 to 4 decimals. */
static void format_total(long long v, char *buf, size_t n)
{
    long long whole = v / PRICE_SCALE, frac = v % PRICE_SCALE;
    int digits = 4;
    while (digits > 2 && frac % 10 == 0)
        frac /= 10, digits--;
    snprintf(buf, n, "%lld.%0*lld", whole, digits, frac);
}

/* Append one line with a single O_APPEND write (atomic among workers). */
static int append_line(const char *path, const char *line, size_t len, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "open(%s) failed: %s", path, strerror(errno));
        return -1;
    }
    ssize_t w = write(fd, line, len);
    int e = errno;
    close(fd);
    if (w != (ssize_t)len) {
        snprintf(err, errlen, "write(%s) failed: %s", path, w < 0 ? strerror(e) : "short write");
        return -1;
    }
    return 0;
}

static sluice_result order_placed(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)data;
    order o;
    char err[256], total[32], summary[1024];
    if (parse_order(job->payload, job->payload_len, &o, err, sizeof(err)) != 0) {
        host->set_error(ctx, "invalid order: %s", err);
        return SLUICE_FAIL; /* retrying cannot fix the payload */
    }
    format_total(o.total, total, sizeof(total));
    int n = snprintf(summary, sizeof(summary),
                     "{\"order_id\":\"%.*s\",\"items\":%lld,\"lines\":%d,\"total\":%s,"
                     "\"currency\":\"%.3s\"}",
                     (int)o.id.n, o.id.s, o.units, o.lines, total, o.currency.s);

    /* The summary job gets a job id derived from this one, so a redelivery
     * re-publishes the same job id and consumers that keep done-markers
     * (SLUICE_HANDLER_DONE_MARKER) skip the duplicate. Enqueue failures are
     * retried: nothing was recorded yet. */
    const char *queue = host->config_get(ctx, "summary_queue");
    if (queue) {
        char id[160];
        snprintf(id, sizeof(id), "%.120s.summary", job->id);
        sluice_enqueue_req req = {.size = sizeof(req),
                                  .queue = queue,
                                  .type = "order.summarized.v1",
                                  .payload = summary,
                                  .payload_len = (size_t)n,
                                  .job_id = id};
        if (host->enqueue(ctx, &req, NULL, 0) != 0) {
            host->set_error(ctx, "order %.*s: publishing the summary to queue %s failed", (int)o.id.n, o.id.s, queue);
            return SLUICE_RETRY;
        }
    }
    /* The file line is a plain side effect: once() makes a redelivered job
     * skip it. */
    const char *file = host->config_get(ctx, "summary_file");
    if (file) {
        int first = host->once(ctx, "summary");
        if (first < 0) {
            host->set_error(ctx, "order %.*s: once-marker unavailable", (int)o.id.n, o.id.s);
            return SLUICE_RETRY;
        }
        if (first == 0) {
            host->log(ctx, SLUICE_LOG_INFO, "order %.*s: summary already written, skipping", (int)o.id.n, o.id.s);
        } else {
            char line[1100];
            int ln = snprintf(line, sizeof(line), "%s\n", summary);
            if (append_line(file, line, (size_t)ln, err, sizeof(err)) != 0) {
                host->set_error(ctx, "order %.*s: %s", (int)o.id.n, o.id.s, err);
                return SLUICE_FAIL; /* the once-marker is set: a retry would skip the line */
            }
        }
    }
    host->log(ctx, SLUICE_LOG_INFO, "order %.*s: %d lines, %lld items, total %s %.3s", (int)o.id.n, o.id.s, o.lines,
              o.units, total, o.currency.s);
    return SLUICE_OK;
}

static int orders_init(const sluice_host *h, sluice_plugin_ctx *pctx)
{
    if (h->size < offsetof(sluice_host, plugin_ctx_as_ctx) + sizeof(h->plugin_ctx_as_ctx))
        return -1;
    host = h;
    sluice_handler_def def = {
        .size = sizeof(def), .type = "order.placed.v1", .fn = order_placed, .max_attempts = 5, .timeout_ms = 10000};
    return host->register_handler(pctx, &def);
}

SLUICE_PLUGIN("orders", "1.0.0", orders_init, NULL)
