/* Running the real `sluice` binary from a test: exit code and captured output.
 * stdin is /dev/null or a given text (never a terminal); the environment is the
 * test's, one variable set or unset on request. */
#ifndef TH_RUN_H
#define TH_RUN_H

#include "common/hiredis_compat.h"

/** Output of one run of the sluice binary. */
typedef struct th_run_result {
    int code; /* exit code, -1 if killed */
    char *out, *err;
} th_run_result;

/** Run SLUICE_BIN with the NULL-terminated args (asserts it ends within 30 s). */
th_run_result th_run_argv(const char *const *args);
/** The same with stdin_text on stdin (NULL: /dev/null) and env_kv, "K=V" to
 *  set or "K" to unset a variable of the environment (NULL: none). */
th_run_result th_run_io(const char *const *args, const char *stdin_text, const char *env_kv);
void th_run_free(th_run_result *r);

#define TH_RUN(...) th_run_argv((const char *const[]){__VA_ARGS__, NULL})

/** Redis server time in ms. */
long long th_server_ms(redisContext *c);

/** Run a command that must not fail (asserts); free its reply. */
void th_cmd(redisContext *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
