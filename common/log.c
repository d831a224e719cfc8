/* Structured logging (see log.h): builds each event as one line (JSON or text)
 * in a buffer and emits it with a single write(2) to an O_APPEND file or stderr,
 * so lines from many processes sharing a file or pipe never interleave. */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Process-wide logger state. Defaults make logging safe before sl_log_open. */
static struct {
    int fd;                 /* -1: stderr */
    char *path;             /* file to (re)open, NULL for stderr */
    sl_log_format fmt;
    sl_log_level min;
    sl_kv *ctx;             /* context fields; keys and strings owned */
    size_t nctx;
} lg = {-1, NULL, SL_LOG_TEXT, SL_INFO, NULL, 0};

static pthread_mutex_t lg_mu = PTHREAD_MUTEX_INITIALIZER;

/* ---- line buffer -------------------------------------------------------- */

/* A growable buffer that starts on the stack. If the heap refuses to grow it,
 * the line is truncated rather than lost. */
typedef struct lbuf {
    char *p;
    size_t len, cap;
    int heap;
    int full;
} lbuf;

static void lb_reserve(lbuf *b, size_t extra)
{
    size_t want, ncap;
    char *np;

    if (b->full || b->len + extra + 2 <= b->cap)   /* +2: room for '\n' and NUL */
        return;
    want = b->len + extra + 2;
    ncap = b->cap * 2;
    while (ncap < want)
        ncap *= 2;
    np = b->heap ? realloc(b->p, ncap) : malloc(ncap);
    if (np == NULL) {
        b->full = 1;
        return;
    }
    if (!b->heap)
        memcpy(np, b->p, b->len);
    b->p = np;
    b->cap = ncap;
    b->heap = 1;
}

static void lb_put(lbuf *b, const char *s, size_t n)
{
    lb_reserve(b, n);
    if (b->full && b->len + n + 2 > b->cap)
        n = b->cap - b->len - 2;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void lb_puts(lbuf *b, const char *s) { lb_put(b, s, strlen(s)); }
static void lb_putc(lbuf *b, char c) { lb_put(b, &c, 1); }

static void lb_printf(lbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lb_printf(lbuf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (r > 0)
        lb_put(b, tmp, (size_t)r < sizeof tmp ? (size_t)r : sizeof tmp - 1);
}

/* ---- escaping ----------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are
 * not valid UTF-8 (overlong forms, surrogates and > U+10FFFF are invalid). */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    size_t n;
    unsigned cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* JSON string body: quotes, backslash and control characters escaped; invalid
 * UTF-8 bytes become U+FFFD so every line is valid JSON. */
static void put_json_str(lbuf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);

    lb_putc(b, '"');
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        size_t n;
        switch (c) {
        case '"': lb_puts(b, "\\\""); i++; continue;
        case '\\': lb_puts(b, "\\\\"); i++; continue;
        case '\n': lb_puts(b, "\\n"); i++; continue;
        case '\r': lb_puts(b, "\\r"); i++; continue;
        case '\t': lb_puts(b, "\\t"); i++; continue;
        default: break;
        }
        if (c < 0x20 || c == 0x7F) {
            lb_printf(b, "\\u%04x", c);
            i++;
            continue;
        }
        n = utf8_len(p + i, len - i);
        if (n == 0) {
            lb_puts(b, "\\ufffd");
            i++;
        } else {
            lb_put(b, s + i, n);
            i += n;
        }
    }
    lb_putc(b, '"');
}

/* Text output: control characters and invalid UTF-8 bytes as \xNN (and \n, \t);
 * inside quotes also \" and \\. Keeps every event on one line. */
static void put_text_raw(lbuf *b, const char *s, int quoted)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);

    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        size_t n;
        if (c == '\n') {
            lb_puts(b, "\\n");
            i++;
        } else if (c == '\t') {
            lb_puts(b, "\\t");
            i++;
        } else if (quoted && (c == '"' || c == '\\')) {
            lb_putc(b, '\\');
            lb_putc(b, (char)c);
            i++;
        } else if (c < 0x20 || c == 0x7F || (n = utf8_len(p + i, len - i)) == 0) {
            lb_printf(b, "\\x%02x", c);
            i++;
        } else {
            lb_put(b, s + i, n);
            i += n;
        }
    }
}

/* A text value needs quotes if it is empty or holds spaces, '=', quotes,
 * backslashes or anything outside printable ASCII. */
static int text_needs_quotes(const char *s)
{
    if (*s == '\0')
        return 1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == '=' || *p == '"' || *p == '\\' || *p >= 0x7F)
            return 1;
    return 0;
}

/* Keys in text form: anything that would break key=value parsing becomes '_'. */
static void put_text_key(lbuf *b, const char *k)
{
    for (const unsigned char *p = (const unsigned char *)k; *p; p++)
        lb_putc(b, (*p <= ' ' || *p == '=' || *p == '"' || *p >= 0x7F) ? '_' : (char)*p);
}

/* ---- formatting --------------------------------------------------------- */

static const char *level_lower[] = {"debug", "info", "warn", "error"};
static const char *level_upper[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

static void put_ts(lbuf *b)
{
    struct timespec ts;
    struct tm tm;
    char tmp[40];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%S", &tm);
    lb_puts(b, tmp);
    lb_printf(b, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void put_json_kv(lbuf *b, const sl_kv *kv)
{
    lb_putc(b, ',');
    put_json_str(b, kv->key ? kv->key : "");
    lb_putc(b, ':');
    switch (kv->kind) {
    case SL_KV_INT:
        lb_printf(b, "%lld", kv->i);
        break;
    case SL_KV_DBL:
        if (isfinite(kv->d))
            lb_printf(b, "%.15g", kv->d);
        else
            lb_puts(b, "null");              /* JSON has no NaN/Inf */
        break;
    default:
        if (kv->s == NULL)
            lb_puts(b, "null");
        else
            put_json_str(b, kv->s);
        break;
    }
}

static void put_text_kv(lbuf *b, const sl_kv *kv)
{
    lb_putc(b, ' ');
    put_text_key(b, kv->key ? kv->key : "");
    lb_putc(b, '=');
    switch (kv->kind) {
    case SL_KV_INT:
        lb_printf(b, "%lld", kv->i);
        break;
    case SL_KV_DBL:
        lb_printf(b, "%.15g", kv->d);
        break;
    default:
        if (kv->s == NULL) {
            lb_puts(b, "null");
        } else if (text_needs_quotes(kv->s)) {
            lb_putc(b, '"');
            put_text_raw(b, kv->s, 1);
            lb_putc(b, '"');
        } else {
            lb_puts(b, kv->s);
        }
        break;
    }
}

/* Write all of buf with as few write(2) calls as the kernel allows (one for
 * O_APPEND files and pipe writes up to PIPE_BUF). Errors are dropped: logging
 * must never take the process down. */
static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = write(fd, p, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += r;
        n -= (size_t)r;
    }
}

/* ---- API ---------------------------------------------------------------- */

int sl_log_enabled(sl_log_level lvl)
{
    return lvl >= lg.min;
}

void sl_log_event(sl_log_level lvl, const char *msg, const sl_kv *kv, size_t n)
{
    char stack[2048];
    lbuf b = {stack, 0, sizeof stack, 0, 0};
    int saved_errno = errno;     /* callers often log right before reading errno */
    unsigned li = (unsigned)lvl <= SL_ERROR ? (unsigned)lvl : SL_ERROR;

    if (!sl_log_enabled(lvl))
        return;
    if (msg == NULL)
        msg = "";
    pthread_mutex_lock(&lg_mu);
    if (lg.fmt == SL_LOG_JSON) {
        lb_puts(&b, "{\"ts\":\"");
        put_ts(&b);
        lb_puts(&b, "\",\"level\":\"");
        lb_puts(&b, level_lower[li]);
        lb_puts(&b, "\",\"msg\":");
        put_json_str(&b, msg);
        for (size_t i = 0; i < lg.nctx; i++)
            put_json_kv(&b, &lg.ctx[i]);
        for (size_t i = 0; i < n; i++)
            put_json_kv(&b, &kv[i]);
        lb_putc(&b, '}');
    } else {
        put_ts(&b);
        lb_putc(&b, ' ');
        lb_puts(&b, level_upper[li]);
        lb_putc(&b, ' ');
        put_text_raw(&b, msg, 0);
        for (size_t i = 0; i < lg.nctx; i++)
            put_text_kv(&b, &lg.ctx[i]);
        for (size_t i = 0; i < n; i++)
            put_text_kv(&b, &kv[i]);
    }
    b.p[b.len++] = '\n';     /* lb_reserve always leaves room for this */
    write_all(lg.fd >= 0 ? lg.fd : STDERR_FILENO, b.p, b.len);
    pthread_mutex_unlock(&lg_mu);
    if (b.heap)
        free(b.p);
    errno = saved_errno;
}

void sl_logf(sl_log_level lvl, const char *fmt, ...)
{
    char stack[1024];
    char *msg = stack;
    va_list ap;
    int r;

    if (!sl_log_enabled(lvl))
        return;
    va_start(ap, fmt);
    r = vsnprintf(stack, sizeof stack, fmt, ap);
    va_end(ap);
    if (r < 0)
        return;
    if ((size_t)r >= sizeof stack) {
        char *big = malloc((size_t)r + 1);
        if (big != NULL) {
            va_start(ap, fmt);
            vsnprintf(big, (size_t)r + 1, fmt, ap);
            va_end(ap);
            msg = big;
        }
    }
    sl_log_event(lvl, msg, NULL, 0);
    if (msg != stack)
        free(msg);
}

static int open_log(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
}

int sl_log_open(const char *path, sl_log_format fmt, sl_log_level min)
{
    int fd = -1, err = 0;
    char *copy = NULL;

    if (path != NULL && path[0] != '\0') {
        fd = open_log(path);
        if (fd < 0)
            err = errno;
        else if ((copy = strdup(path)) == NULL)
            err = ENOMEM;
    }
    pthread_mutex_lock(&lg_mu);
    if (lg.fd >= 0)
        close(lg.fd);
    free(lg.path);
    lg.fd = err ? -1 : fd;
    lg.path = err ? NULL : copy;
    lg.fmt = fmt;
    lg.min = min;
    pthread_mutex_unlock(&lg_mu);
    if (err) {
        if (fd >= 0)
            close(fd);
        free(copy);
        errno = err;
        return -1;
    }
    return 0;
}

int sl_log_reopen(void)
{
    int fd, rc = 0;

    pthread_mutex_lock(&lg_mu);
    if (lg.path != NULL) {
        fd = open_log(lg.path);
        if (fd < 0) {
            rc = -1;                /* keep writing to the old file */
        } else {
            close(lg.fd);
            lg.fd = fd;
        }
    }
    pthread_mutex_unlock(&lg_mu);
    return rc;
}

static void free_ctx(void)
{
    for (size_t i = 0; i < lg.nctx; i++) {
        free((char *)lg.ctx[i].key);
        free((char *)lg.ctx[i].s);
    }
    free(lg.ctx);
    lg.ctx = NULL;
    lg.nctx = 0;
}

void sl_log_close(void)
{
    pthread_mutex_lock(&lg_mu);
    if (lg.fd >= 0)
        close(lg.fd);
    lg.fd = -1;
    free(lg.path);
    lg.path = NULL;
    free_ctx();
    pthread_mutex_unlock(&lg_mu);
}

void sl_log_set_context(const sl_kv *kv, size_t n)
{
    sl_kv *copy = NULL;
    size_t i = 0;

    if (n > 0 && (copy = calloc(n, sizeof *copy)) != NULL) {
        for (i = 0; i < n; i++) {
            copy[i] = kv[i];
            copy[i].key = strdup(kv[i].key ? kv[i].key : "");
            copy[i].s = (kv[i].kind == SL_KV_STR && kv[i].s) ? strdup(kv[i].s) : NULL;
            if (copy[i].key == NULL || (kv[i].kind == SL_KV_STR && kv[i].s && !copy[i].s)) {
                free((char *)copy[i].key);   /* out of memory: keep what fits */
                free((char *)copy[i].s);
                break;
            }
        }
    }
    pthread_mutex_lock(&lg_mu);
    free_ctx();
    lg.ctx = copy;
    lg.nctx = copy ? i : 0;
    pthread_mutex_unlock(&lg_mu);
}

int sl_log_parse_level(const char *s, sl_log_level *out)
{
    for (int i = SL_DEBUG; i <= SL_ERROR; i++) {
        if (s != NULL && strcmp(s, level_lower[i]) == 0) {
            *out = (sl_log_level)i;
            return 0;
        }
    }
    return -1;
}

int sl_log_parse_format(const char *s, sl_log_format *out)
{
    if (s != NULL && strcmp(s, "text") == 0)
        *out = SL_LOG_TEXT;
    else if (s != NULL && strcmp(s, "json") == 0)
        *out = SL_LOG_JSON;
    else
        return -1;
    return 0;
}
