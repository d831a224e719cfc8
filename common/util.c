/* Small shared helpers (see util.h): clocks, duration parsing, bounded formatting,
 * name checks, randomness (getrandom + a per-process PRNG), UUIDs and backoff. */
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- clocks ------------------------------------------------------------- */

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sl_now_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}
int64_t sl_now_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

/* ---- durations ---------------------------------------------------------- */

/* Accepts "1500", "250ms", "10s", "1.5s", "2m", "1h". Integer arithmetic only, so
 * "0.1s" is exactly 100 ms; sub-millisecond fractions are truncated. No sign, no
 * spaces, no exponent: config values should read exactly as they are meant. */
int sl_parse_duration_ms(const char *s, int64_t *out_ms)
{
    const int64_t max = INT64_MAX / 1000; /* generous bound that keeps math exact */
    int64_t whole = 0, frac = 0, frac_div = 1, mult;
    const char *p = s;
    int ndigits = 0, has_frac = 0;

    if (s == NULL || out_ms == NULL)
        return -1;
    for (; *p >= '0' && *p <= '9'; p++, ndigits++) {
        if (whole > (max - 9) / 10)
            return -1;
        whole = whole * 10 + (*p - '0');
    }
    if (*p == '.') {
        has_frac = 1;
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return -1;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (frac_div < 1000000000) { /* keep 9 digits, ignore the rest */
                frac = frac * 10 + (*p - '0');
                frac_div *= 10;
            }
        }
    }
    if (ndigits == 0)
        return -1;
    if (*p == '\0') {
        if (has_frac) /* bare numbers are whole milliseconds */
            return -1;
        *out_ms = whole;
        return 0;
    }
    if (strcmp(p, "ms") == 0)
        mult = 1;
    else if (strcmp(p, "s") == 0)
        mult = 1000;
    else if (strcmp(p, "m") == 0)
        mult = 60 * 1000;
    else if (strcmp(p, "h") == 0)
        mult = 3600 * 1000;
    else
        return -1;
    if (whole > max / mult)
        return -1;
    *out_ms = whole * mult + frac * mult / frac_div;
    return 0;
}

/* ---- strings and names -------------------------------------------------- */

int sl_fmt(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    int r;

    if (buf == NULL || n == 0)
        return -1;
    va_start(ap, fmt);
    r = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return (r < 0 || (size_t)r >= n) ? -1 : 0;
}

int sl_valid_type(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > 128)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

int sl_valid_name(const char *s)
{
    size_t i;

    if (s == NULL)
        return 0;
    for (i = 0; s[i] != '\0'; i++) {
        char c = s[i];
        if (i >= 64)
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return 0;
    }
    return i > 0;
}

/* ---- randomness --------------------------------------------------------- */

int sl_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    size_t got = 0;
    int fd = -1;

    while (got < n) {
        ssize_t r = getrandom(p + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break; /* ENOSYS etc.: fall back below */
        }
        got += (size_t)r;
    }
    if (got == n)
        return 0;
    fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    return got == n ? 0 : -1;
}

/* Per-thread PRNG (xoshiro256**, 256 bits of state) for ids and jitter: job
 * ids (UUID v4), trace and span ids, backoff jitter. These need uniqueness and
 * spread, not secrecy, so one getrandom(2) seeds each thread of each process
 * and nothing draws from the kernel per id (it was one syscall per enqueued
 * job). Never use it for secrets. A forked child re-seeds: pthread_atfork bumps
 * a generation that every thread compares with the one it was seeded in, so a
 * child never repeats its parent's sequence (and no getpid() per call). */
static _Thread_local uint64_t rng_s[4];
static _Thread_local unsigned rng_seeded_gen; /* 0: never seeded */
static atomic_uint rng_gen = 1;
static pthread_once_t rng_once = PTHREAD_ONCE_INIT;

static void rng_after_fork(void)
{
    atomic_fetch_add_explicit(&rng_gen, 1, memory_order_relaxed);
}

static void rng_register(void)
{
    (void)pthread_atfork(NULL, NULL, rng_after_fork);
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static void rng_seed(unsigned gen)
{
    if (sl_random_bytes(rng_s, sizeof(rng_s)) != 0 || (rng_s[0] | rng_s[1] | rng_s[2] | rng_s[3]) == 0) {
        /* No kernel randomness: clocks, pid and the state's address, spread out. */
        uint64_t x = (uint64_t)sl_now_wall_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)sl_now_mono_ms() ^
                     (uint64_t)(uintptr_t)rng_s;
        for (int i = 0; i < 4; i++)
            rng_s[i] = splitmix64(&x);
    }
    rng_seeded_gen = gen;
}

uint64_t sl_rand64(void)
{
    unsigned gen = atomic_load_explicit(&rng_gen, memory_order_relaxed);
    if (rng_seeded_gen != gen) {
        (void)pthread_once(&rng_once, rng_register);
        gen = atomic_load_explicit(&rng_gen, memory_order_relaxed);
        rng_seed(gen);
    }
    uint64_t *s = rng_s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

size_t sl_copy(char *dst, size_t n, const char *src)
{
    size_t len = strnlen(src, n - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
    return len;
}

size_t sl_fmt_ll(char out[SL_INT_TEXT_SIZE], long long v)
{
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    char tmp[SL_INT_TEXT_SIZE];
    char *p = tmp + sizeof(tmp);
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    size_t n = (size_t)(tmp + sizeof(tmp) - p);
    memcpy(out, p, n);
    out[n] = '\0';
    return n;
}

void sl_uuid4(char out[37])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    int o = 0;
    uint64_t a = sl_rand64(), c = sl_rand64(); /* 122 random bits: unique, not secret */

    memcpy(b, &a, 8);
    memcpy(b + 8, &c, 8);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 0x0f];
    }
    out[o] = '\0';
}

/* ---- backoff ------------------------------------------------------------ */

int64_t sl_backoff_ms(int64_t base_ms, int64_t cap_ms, unsigned attempt, int64_t min_ms)
{
    int64_t ceiling, r;

    if (base_ms < 0)
        base_ms = 0;
    if (cap_ms < 0)
        cap_ms = 0;
    if (min_ms < 0)
        min_ms = 0;
    /* ceiling = min(cap, base * 2^attempt) without overflowing */
    if (attempt >= 62 || base_ms > (cap_ms >> attempt))
        ceiling = cap_ms;
    else
        ceiling = base_ms << attempt;
    if (ceiling > cap_ms)
        ceiling = cap_ms;
    r = ceiling >= INT64_MAX ? (int64_t)(sl_rand64() >> 1) : (int64_t)(sl_rand64() % (uint64_t)(ceiling + 1));
    return r < min_ms ? min_ms : r;
}

void sl_glob_containing(char *buf, size_t n, const char *s)
{
    size_t k = 0;
    if (n < 3) {
        if (n)
            buf[0] = '\0';
        return;
    }
    buf[k++] = '*';
    for (; *s && k + 3 < n; s++) {
        if (strchr("*?[]\\", *s))
            buf[k++] = '\\';
        buf[k++] = *s;
    }
    buf[k++] = '*';
    buf[k] = '\0';
}
