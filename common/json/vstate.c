/* The validation state's error report and work budget (see internal.h): what
 * validate.c and equal.c both count against and abort with. Calls go one way:
 * validate.c and equal.c call here; equal.c never calls into validate.c. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/json/internal.h"

void sl_schema_fill_error(sl_schema_vstate *st, const char *keyword, const char *fmt, va_list ap)
{
    sl_schema_error *e = st->e;
    if (st->ptr_cut || st->ptr_len >= sizeof e->pointer)
        snprintf(e->pointer, sizeof e->pointer, "%.*s...", (int)(sizeof e->pointer - 4), st->ptr);
    else
        memcpy(e->pointer, st->ptr, st->ptr_len + 1);
    snprintf(e->keyword, sizeof e->keyword, "%s", keyword);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
}

int sl_schema_abort(sl_schema_vstate *st, const char *keyword, const char *fmt, ...)
{
    if (st->e) {
        va_list ap;
        va_start(ap, fmt);
        sl_schema_fill_error(st, keyword, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int sl_schema_over_budget(sl_schema_vstate *st)
{
    return sl_schema_abort(st, "limit",
                           "validation budget exceeded: more than %lu units of work (keyword evaluations, and "
                           "pattern matching at %d PCRE2 match-limit units per unit)",
                           SL_SCHEMA_MAX_STEPS, SL_SCHEMA_PCRE2_UNITS_PER_STEP);
}

int sl_schema_step(sl_schema_vstate *st, unsigned long n)
{
    st->steps += n;
    return st->steps <= SL_SCHEMA_MAX_STEPS ? 0 : sl_schema_over_budget(st);
}
