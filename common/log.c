/* Structured logging (see log.h): builds each event as one line (JSON or text)
 * in a buffer and emits it with a single write(2) to an O_APPEND file or stderr,
 * so lines from many processes sharing a file or pipe never interleave. In
 * buffered mode (workers) whole lines are gathered and written in batches. */
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Process-wide logger state. Defaults make logging safe before sl_log_open.
 * Everything is guarded by lg_mu except what sl_log_flush_from_signal reads. */
static struct {
    volatile sig_atomic_t fd; /* -1: stderr; also read by sl_log_flush_from_signal */
    char *path; /* file to (re)open, NULL for stderr */
    sl_log_format fmt;
    sl_log_level min;
    sl_kv *ctx; /* context fields; keys and strings owned */
    size_t nctx;
    int buffered; /* sl_log_set_buffered: lines go to lg_buf */
    size_t cap; /* bytes of lg_buf in use: PIPE_BUF, or all for a regular file */
    int64_t since_ms; /* CLOCK_MONOTONIC ms of the oldest buffered line */
    int ts_ok; /* ts_text holds the prefix of second ts_sec */
    time_t ts_sec;
    size_t ts_len;
    char ts_text[40]; /* "YYYY-MM-DDTHH:MM:SS" */
} lg = {.fd = -1, .fmt = SL_LOG_TEXT, .min = SL_INFO, .cap = PIPE_BUF};

static pthread_mutex_t lg_mu = PTHREAD_MUTEX_INITIALIZER;

/* Buffered lines: lg_blen bytes of whole lines. lg_blen is atomic so that the
 * signal-time flush sees only lines that were copied in completely. */
static char lg_buf[64 * 1024];
static atomic_size_t lg_blen;

/* ---- line buffer -------------------------------------------------------- */

/* A growable buffer that starts on the stack. If the heap refuses to grow it,
 * the line is truncated rather than lost. */
typedef struct lbuf {
    char *p;
    size_t len, cap;
    int heap;
    int full;
} lbuf;

/* Grow b for extra more bytes (the rare path of lb_put, kept out of line). */
__attribute__((noinline)) static void lb_reserve(lbuf *b, size_t extra)
{
    size_t want, ncap;
    char *np;

    if (b->full || b->len + extra + 2 <= b->cap) /* +2: room for '\n' and NUL */
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
    if (b->len + n + 2 > b->cap) {
        lb_reserve(b, n);
        if (b->full && b->len + n + 2 > b->cap)
            n = b->cap - b->len - 2;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void lb_puts(lbuf *b, const char *s)
{
    lb_put(b, s, strlen(s));
}

static void lb_putc(lbuf *b, char c)
{
    if (b->len + 3 > b->cap) {
        lb_reserve(b, 1);
        if (b->len + 3 > b->cap)
            return; /* full: truncated */
    }
    b->p[b->len++] = c;
}

/* Integer fields of every job line: sl_fmt_ll, not vsnprintf (hot path). */
static void lb_put_int(lbuf *b, long long v)
{
    char tmp[SL_INT_TEXT_SIZE];

    lb_put(b, tmp, sl_fmt_ll(tmp, v));
}

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
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* JSON string body: quotes, backslash and control characters escaped; invalid
 * UTF-8 bytes become U+FFFD so every line is valid JSON. Bytes that need no
 * escape are copied in runs (s[run..i)), not one by one. */
static void put_json_str(lbuf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), run = 0, i = 0, n;

    lb_putc(b, '"');
    while (i < len) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80 && (n = utf8_len(p + i, len - i)) != 0) {
            i += n;
            continue;
        }
        lb_put(b, s + run, i - run);
        switch (c) {
        case '"':
            lb_puts(b, "\\\"");
            break;
        case '\\':
            lb_puts(b, "\\\\");
            break;
        case '\n':
            lb_puts(b, "\\n");
            break;
        case '\r':
            lb_puts(b, "\\r");
            break;
        case '\t':
            lb_puts(b, "\\t");
            break;
        default:
            if (c < 0x20 || c == 0x7F)
                lb_printf(b, "\\u%04x", c);
            else
                lb_puts(b, "\\ufffd"); /* not valid UTF-8 */
            break;
        }
        run = ++i;
    }
    lb_put(b, s + run, i - run);
    lb_putc(b, '"');
}

/* Text output: control characters and invalid UTF-8 bytes as \xNN (and \n, \t);
 * inside quotes also \" and \\. Keeps every event on one line. Bytes that need
 * no escape are copied in runs (s[run..i)), not one by one. */
static void put_text_raw(lbuf *b, const char *s, int quoted)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), run = 0, i = 0, n;

    while (i < len) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x7F && !(quoted && (c == '"' || c == '\\'))) {
            i++;
            continue;
        }
        if (c >= 0x80 && (n = utf8_len(p + i, len - i)) != 0) {
            i += n;
            continue;
        }
        lb_put(b, s + run, i - run);
        if (c == '\n') {
            lb_puts(b, "\\n");
        } else if (c == '\t') {
            lb_puts(b, "\\t");
        } else if (c == '"' || c == '\\') { /* only when quoted */
            lb_putc(b, '\\');
            lb_putc(b, (char)c);
        } else {
            lb_printf(b, "\\x%02x", c); /* control or not valid UTF-8 */
        }
        run = ++i;
    }
    lb_put(b, s + run, i - run);
}

/* Byte classes of the text format, one lookup per byte on the hot path.
 * TX_KEY: replaced by '_' in a key (space, controls, '=', '"', 0x7F and up).
 * TX_QUOTE: makes a value quoted (the same, plus '\\'). NUL is in neither. */
enum { TX_KEY = 1, TX_QUOTE = 2, TX_BOTH = TX_KEY | TX_QUOTE };
#define TX_ROW16                                                                                                \
    TX_BOTH, TX_BOTH, TX_BOTH, TX_BOTH, TX_BOTH, TX_BOTH, TX_BOTH, TX_BOTH, TX_BOTH, TX_BOTH, TX_BOTH, TX_BOTH, \
        TX_BOTH, TX_BOTH, TX_BOTH, TX_BOTH
static const unsigned char text_class[256] = {
    /* 0x00 */ 0,
    TX_BOTH,
    TX_BOTH,
    TX_BOTH,
    TX_BOTH,
    TX_BOTH,
    TX_BOTH,
    TX_BOTH,
    TX_BOTH,
    TX_BOTH,
    TX_BOTH,
    TX_BOTH,
    TX_BOTH,
    TX_BOTH,
    TX_BOTH,
    TX_BOTH,
    /* 0x10 */ TX_ROW16,
    /* 0x20 */ TX_BOTH,
    0,
    TX_BOTH,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    /* 0x30 */ 0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    TX_BOTH,
    0,
    0,
    /* 0x40 */ 0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    /* 0x50 */ 0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    TX_QUOTE,
    0,
    0,
    0,
    /* 0x60 */ 0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    /* 0x70 */ 0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    TX_BOTH,
    /* 0x80 */ TX_ROW16,
    TX_ROW16,
    TX_ROW16,
    TX_ROW16,
    /* 0xC0 */ TX_ROW16,
    TX_ROW16,
    TX_ROW16,
    TX_ROW16,
};
#undef TX_ROW16

/* A text value needs quotes if it is empty or holds spaces, '=', quotes,
 * backslashes or anything outside printable ASCII. When it needs none, *len is
 * set to strlen(s). */
static int text_needs_quotes(const char *s, size_t *len)
{
    const unsigned char *p = (const unsigned char *)s;

    for (; *p; p++)
        if (text_class[*p] & TX_QUOTE)
            return 1;
    *len = (size_t)((const char *)p - s);
    return *len == 0;
}

/* Keys in text form: anything that would break key=value parsing becomes '_'. */
static void put_text_key(lbuf *b, const char *k)
{
    const unsigned char *p = (const unsigned char *)k, *run = p;

    for (; *p; p++) {
        if (text_class[*p] & TX_KEY) {
            lb_put(b, (const char *)run, (size_t)(p - run));
            lb_putc(b, '_');
            run = p + 1;
        }
    }
    lb_put(b, (const char *)run, (size_t)(p - run));
}

/* ---- formatting --------------------------------------------------------- */

static const char *level_lower[] = {"debug", "info", "warn", "error"};
static const char *level_upper[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

/* The event's time, "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC). The part up to the
 * seconds is formatted only when the second changes (gmtime_r + strftime cost
 * ~80 ns, the ".mmmZ" through vsnprintf another ~45); called with lg_mu held,
 * which guards the cache. */
static void put_ts(lbuf *b)
{
    struct timespec ts;
    long ms;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (!lg.ts_ok || ts.tv_sec != lg.ts_sec) {
        struct tm tm = {0};
        gmtime_r(&ts.tv_sec, &tm);
        lg.ts_len = strftime(lg.ts_text, sizeof lg.ts_text, "%Y-%m-%dT%H:%M:%S", &tm);
        lg.ts_sec = ts.tv_sec;
        lg.ts_ok = 1;
    }
    lb_put(b, lg.ts_text, lg.ts_len);
    ms = ts.tv_nsec / 1000000; /* 0..999: as "%03ld" */
    lb_put(b, (const char[]){'.', (char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10), 'Z'}, 5);
}

static void put_json_kv(lbuf *b, const sl_kv *kv)
{
    lb_putc(b, ',');
    put_json_str(b, kv->key ? kv->key : "");
    lb_putc(b, ':');
    switch (kv->kind) {
    case SL_KV_INT:
        lb_put_int(b, kv->i);
        break;
    case SL_KV_DBL:
        if (isfinite(kv->d))
            lb_printf(b, "%.15g", kv->d);
        else
            lb_puts(b, "null"); /* JSON has no NaN/Inf */
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
    size_t len;

    lb_putc(b, ' ');
    put_text_key(b, kv->key ? kv->key : "");
    lb_putc(b, '=');
    switch (kv->kind) {
    case SL_KV_INT:
        lb_put_int(b, kv->i);
        break;
    case SL_KV_DBL:
        lb_printf(b, "%.15g", kv->d);
        break;
    default:
        if (kv->s == NULL) {
            lb_puts(b, "null");
        } else if (text_needs_quotes(kv->s, &len)) {
            lb_putc(b, '"');
            put_text_raw(b, kv->s, 1);
            lb_putc(b, '"');
        } else {
            lb_put(b, kv->s, len);
        }
        break;
    }
}

/* ---- output ------------------------------------------------------------ */

/* Write all of buf with as few write(2) calls as the kernel allows (one for
 * O_APPEND files and pipe writes up to PIPE_BUF). Errors are dropped: logging
 * must never take the process down. Async-signal-safe. */
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

static int out_fd(void)
{
    return lg.fd >= 0 ? lg.fd : STDERR_FILENO;
}

/* Size buffered batches for the current output: at most PIPE_BUF to a pipe or
 * terminal (writes up to that size are atomic, so processes sharing it never
 * interleave), the whole buffer to a regular file (O_APPEND makes any write
 * atomic there). Called with lg_mu held when the output or the mode changes. */
static void set_cap_locked(void)
{
    struct stat st;
    int saved_errno = errno;

    lg.cap = fstat(out_fd(), &st) == 0 && S_ISREG(st.st_mode) ? sizeof lg_buf : PIPE_BUF;
    errno = saved_errno;
}

/* Write the buffered lines with one write(2). Called with lg_mu held. */
static void flush_locked(void)
{
    size_t n = atomic_load_explicit(&lg_blen, memory_order_relaxed);
    int saved_errno = errno;

    if (n == 0)
        return;
    write_all(out_fd(), lg_buf, n);
    atomic_store_explicit(&lg_blen, 0, memory_order_relaxed);
    errno = saved_errno;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    int64_t ms;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return ms > 0 ? ms : 1; /* 0 means "nothing buffered" */
}

/* Emit one finished line (p[n-1] is '\n'): written at once, or in buffered
 * mode appended to lg_buf. What is buffered is written first if the line would
 * not fit, so every write ends on a line boundary; a line longer than the
 * buffer is then written on its own. Called with lg_mu held. */
static void emit_locked(const char *p, size_t n)
{
    size_t used;

    if (!lg.buffered) {
        write_all(out_fd(), p, n);
        return;
    }
    used = atomic_load_explicit(&lg_blen, memory_order_relaxed);
    if (used + n > lg.cap) {
        flush_locked();
        used = 0;
    }
    if (n > lg.cap) {
        write_all(out_fd(), p, n);
        return;
    }
    if (used == 0)
        lg.since_ms = monotonic_ms();
    memcpy(lg_buf + used, p, n);
    /* release: a signal-time flush that sees the new length sees the bytes */
    atomic_store_explicit(&lg_blen, used + n, memory_order_release);
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
    int saved_errno = errno; /* callers often log right before reading errno */
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
    b.p[b.len++] = '\n'; /* lb_reserve always leaves room for this */
    emit_locked(b.p, b.len);
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
    flush_locked(); /* buffered lines belong to the old output */
    if (lg.fd >= 0)
        close(lg.fd);
    free(lg.path);
    lg.fd = err ? -1 : fd;
    lg.path = err ? NULL : copy;
    lg.fmt = fmt;
    lg.min = min;
    if (lg.buffered)
        set_cap_locked();
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
    flush_locked(); /* to the file the lines were logged to */
    if (lg.path != NULL) {
        fd = open_log(lg.path);
        if (fd < 0) {
            rc = -1; /* keep writing to the old file */
        } else {
            close(lg.fd);
            lg.fd = fd;
        }
    }
    if (lg.buffered)
        set_cap_locked();
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
    flush_locked();
    lg.buffered = 0; /* later lines go straight to stderr */
    if (lg.fd >= 0)
        close(lg.fd);
    lg.fd = -1;
    free(lg.path);
    lg.path = NULL;
    free_ctx();
    pthread_mutex_unlock(&lg_mu);
}

void sl_log_set_buffered(int on)
{
    pthread_mutex_lock(&lg_mu);
    if (on && !lg.buffered)
        set_cap_locked();
    if (!on)
        flush_locked();
    lg.buffered = on != 0;
    pthread_mutex_unlock(&lg_mu);
}

void sl_log_flush(void)
{
    pthread_mutex_lock(&lg_mu);
    flush_locked();
    pthread_mutex_unlock(&lg_mu);
}

int64_t sl_log_buffered_since_ms(void)
{
    int64_t t;

    pthread_mutex_lock(&lg_mu);
    t = atomic_load_explicit(&lg_blen, memory_order_relaxed) > 0 ? lg.since_ms : 0;
    pthread_mutex_unlock(&lg_mu);
    return t;
}

/* No lock (the interrupted code may hold it), no allocation: read the length
 * published by emit_locked, write that many bytes, and mark them written unless
 * a line was appended meanwhile. Races with a concurrent append or flush are
 * accepted (see log.h): the process is about to die. */
void sl_log_flush_from_signal(void)
{
    int saved_errno = errno, fd = lg.fd;
    size_t n = atomic_load_explicit(&lg_blen, memory_order_acquire);

    if (n > 0) {
        write_all(fd >= 0 ? fd : STDERR_FILENO, lg_buf, n);
        atomic_compare_exchange_strong(&lg_blen, &n, 0);
    }
    errno = saved_errno;
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
                free((char *)copy[i].key); /* out of memory: keep what fits */
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
