/* Shared helpers for the libFuzzer harnesses in tests/fuzz/: NUL-terminated
 * copies of the input and the two-document split used by the schema targets.
 * Every copy is its own exact-size allocation so ASan sees any over-read. */
#ifndef SL_FUZZ_H
#define SL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A harness's own invariant failed: print it and abort, so libFuzzer saves the input. */
#define FUZZ_ASSERT(cond, ...)                                     \
    do {                                                           \
        if (!(cond)) {                                             \
            fprintf(stderr, "fuzz invariant failed: %s: ", #cond); \
            fprintf(stderr, __VA_ARGS__);                          \
            fputc('\n', stderr);                                   \
            abort();                                               \
        }                                                          \
    } while (0)

/* data[0..n) copied into a fresh n+1 byte buffer with a NUL at [n]. Aborts on OOM
 * (libFuzzer's -rss_limit_mb reports real exhaustion separately). */
static inline char *fuzz_strndup(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL)
        abort();
    if (n > 0)
        memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

/* Split data into two documents: at the first NUL byte if there is one, else at
 * the first newline; with neither, the second document is empty. The seeds use
 * the newline form (compact JSON on each line); the fuzzer may find the NUL one. */
static inline void fuzz_split(const uint8_t *data, size_t size, size_t *alen, const uint8_t **b, size_t *blen)
{
    const uint8_t *cut = memchr(data, '\0', size);
    if (cut == NULL)
        cut = memchr(data, '\n', size);
    if (cut == NULL) {
        *alen = size;
        *b = data + size;
        *blen = 0;
        return;
    }
    *alen = (size_t)(cut - data);
    *b = cut + 1;
    *blen = size - *alen - 1;
}

#endif
