/* Redis stream ids: "ms-seq", two unsigned 64-bit decimals (the entry's
 * millisecond time and a sequence number within it). The one place C code
 * parses, formats and orders them; the Lua side has its own set at the top of
 * common/functions.lua (Lua numbers cannot hold 64-bit parts).
 *
 * Syntax accepted: ASCII digits only (leading zeros allowed, as strtoull takes
 * them), each part at most 18446744073709551615. No sign, no space, no empty
 * part. "Incomplete" ids, bare "ms" with seq 0, are what XRANGE and the CLI
 * accept as well. */
#ifndef SL_STREAMID_H
#define SL_STREAMID_H

#include <stddef.h>
#include <stdint.h>

/** A parsed stream id. */
typedef struct sl_streamid {
    uint64_t ms, seq;
} sl_streamid;

/** Room for the longest id, "18446744073709551615-18446744073709551615", and its NUL. */
#define SL_STREAMID_MAX 42

/** Parse a complete id "ms-seq". @return 0 and *out, or -1 (malformed or a
 *  part overflows; *out untouched). */
int sl_streamid_parse(const char *s, sl_streamid *out);

/** Parse "ms-seq" or an incomplete id "ms" (seq 0). @return 0 and *out, or -1
 *  (*out untouched). NULL is malformed. */
int sl_streamid_parse_incomplete(const char *s, sl_streamid *out);

/** "ms-seq" into buf. @return 0, or -1 when it does not fit in n. */
int sl_streamid_fmt(char *buf, size_t n, sl_streamid id);

/** Order of two ids: <0, 0, >0. */
int sl_streamid_cmp(sl_streamid a, sl_streamid b);

/** Order of two id texts, each complete or incomplete; a malformed one
 *  compares as 0-0. <0, 0, >0. */
int sl_streamid_cmp_text(const char *a, const char *b);

/** The ms part of a complete or incomplete id ("1700000000000-3" ->
 *  1700000000000), or -1 when malformed or beyond INT64_MAX. */
int64_t sl_streamid_ms(const char *s);

/** The largest id below *id, into *id ("5-0" -> "4-18446744073709551615").
 *  @return 0, or -1 for 0-0, which has none (*id untouched). */
int sl_streamid_prev(sl_streamid *id);

#endif
