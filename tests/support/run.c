/* Running the real sluice binary from a test (see run.h). */
#include "run.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "th.h"

th_run_result th_run_io(const char *const *args, const char *stdin_text, const char *env_kv)
{
    static int seq;
    char in_path[512] = "/dev/null", out_path[512], err_path[512];
    char *argv[40];
    int n = 0;
    th_run_result res = {0};

    seq++;
    if (stdin_text) {
        snprintf(in_path, sizeof in_path, "%s/run-%d-%d.in", th_tmpdir(), (int)getpid(), seq);
        FILE *f = fopen(in_path, "w");
        cr_assert_not_null(f, "fopen(%s) failed: %s", in_path, strerror(errno));
        fputs(stdin_text, f);
        fclose(f);
    }
    snprintf(out_path, sizeof out_path, "%s/run-%d-%d.out", th_tmpdir(), (int)getpid(), seq);
    snprintf(err_path, sizeof err_path, "%s/run-%d-%d.err", th_tmpdir(), (int)getpid(), seq);
    argv[n++] = SLUICE_BIN;
    for (int i = 0; args[i] && n < 39; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int in = open(in_path, O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || err < 0)
            _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        if (env_kv) {
            if (strchr(env_kv, '='))
                putenv((char *)env_kv);
            else
                unsetenv(env_kv);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    cr_assert(th_wait_exit(pid, 30000, &status), "sluice %s did not finish", args[0]);
    res.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    res.out = th_read_file(out_path);
    res.err = th_read_file(err_path);
    cr_assert(res.out && res.err);
    return res;
}

th_run_result th_run_argv(const char *const *args)
{
    return th_run_io(args, NULL, NULL);
}

void th_run_free(th_run_result *r)
{
    free(r->out);
    free(r->err);
}

long long th_server_ms(redisContext *c)
{
    redisReply *r = redisCommand(c, "TIME");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2, "TIME failed");
    long long ms = atoll(r->element[0]->str) * 1000 + atoll(r->element[1]->str) / 1000;
    freeReplyObject(r);
    return ms;
}

void th_cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert(r && r->type != REDIS_REPLY_ERROR, "%s: %s", fmt, r ? r->str : c->errstr);
    freeReplyObject(r);
}
