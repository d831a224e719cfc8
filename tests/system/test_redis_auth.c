/* Connecting to a Redis that needs a password: a missing, wrong or needless
 * password is reported at connect with what to set, not as a raw NOAUTH on the
 * first command. A private redis-server with requirepass. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/redis.h"
#include "run.h"
#include "th.h"

static th_server auth = {.password = "s3cret"}; /* redis-server --requirepass s3cret */

static void start_auth_redis(void)
{
    th_server_start(&auth);
}

static void stop_auth_redis(void)
{
    th_server_kill(&auth);
}

TestSuite(redis_auth, .init = start_auth_redis, .fini = stop_auth_redis, .timeout = 60);

/* Connect once to url; returns 0/-1 and the error text in err. */
static int try_connect(const char *url, char *err, size_t n)
{
    err[0] = '\0';
    sl_redis *r = sl_redis_new(url, NULL, err, n);
    cr_assert_not_null(r, "%s", err);
    int rc = sl_redis_connect(r);
    snprintf(err, n, "%s", sl_redis_errstr(r));
    sl_redis_free(r);
    return rc;
}

Test(redis_auth, a_missing_password_says_what_to_set)
{
    char url[128], err[1024];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", auth.port);
    cr_assert_eq(try_connect(url, err, sizeof err), -1, "connected without a password");
    cr_assert(strstr(err, "127.0.0.1:") && strstr(err, "requires a password (NOAUTH)") &&
                  strstr(err, "redis://:PASSWORD@host:port/db") && strstr(err, "redis.url") &&
                  strstr(err, "SLUICE_REDIS_URL") && strstr(err, "-u @FILE"),
              "%s", err);
    /* the CLI prints the same at once */
    th_run_result r = TH_RUN("stats", "-u", url);
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "requires a password (NOAUTH)") != NULL, "%s", r.err);
    th_run_free(&r);
}

Test(redis_auth, a_wrong_password_is_named_as_such)
{
    char url[128], err[1024];
    snprintf(url, sizeof url, "redis://:nope@127.0.0.1:%d/0", auth.port);
    cr_assert_eq(try_connect(url, err, sizeof err), -1);
    cr_assert(strstr(err, "refused the password (WRONGPASS") && strstr(err, "check the password in redis.url"), "%s",
              err);
    cr_assert(strstr(err, "nope") == NULL, "the password is in the message: %s", err);
    snprintf(url, sizeof url, "redis://someone:s3cret@127.0.0.1:%d/0", auth.port);
    cr_assert_eq(try_connect(url, err, sizeof err), -1);
    cr_assert(strstr(err, "refused the password (WRONGPASS") != NULL, "%s", err);
    cr_assert(strstr(err, "s3cret") == NULL, "the password is in the message: %s", err);
}

Test(redis_auth, the_right_password_connects)
{
    char url[128], err[1024];
    snprintf(url, sizeof url, "redis://:s3cret@127.0.0.1:%d/0", auth.port);
    cr_assert_eq(try_connect(url, err, sizeof err), 0, "%s", err);
    snprintf(url, sizeof url, "redis://:s3cret@127.0.0.1:%d/2", auth.port);
    cr_assert_eq(try_connect(url, err, sizeof err), 0, "%s", err);
}

/* A password for a Redis that has none: say so rather than the raw ERR. */
Test(redis_auth, a_password_for_a_redis_without_one)
{
    char url[300], err[1024];
    const char *base = th_redis_url(); /* the suite's Redis has no password */
    snprintf(url, sizeof url, "redis://:pw@%s", base + strlen("redis://"));
    cr_assert_eq(try_connect(url, err, sizeof err), -1);
    cr_assert(strstr(err, "has no password set, but the URL gives one: remove it") != NULL, "%s", err);
}
