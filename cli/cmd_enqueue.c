/* `sluice enqueue`: add one job from the command line, or one job per stdin line,
 * through the producer API (include/sluice/client.h), now or delayed, with an
 * optional idempotency key, validated against the registered schema of its type.
 * Arguments are checked with the codec's rules before connecting, so a bad
 * argument is a usage error (2). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "common/codec.h"
#include "common/log.h"
#include "common/util.h"
#include "sluice/client.h"

#define MAX_PAYLOAD (1024 * 1024) /* the client's default, passed explicitly */
#define CHUNK_JOBS 1000 /* stdin lines per sluice_enqueue_batch call */
#define CHUNK_BYTES (8u * 1024 * 1024)

static const char usage_text[] =
    "usage: sluice enqueue [-u URL] [--id ID] [--correlation-id ID] [--causation-id ID]\n"
    "                      [--delay DURATION | --at TIME] [--key KEY [--key-ttl DURATION] [--unique]]\n"
    "                      [--partition-key KEY] [--wait-replicas N [--wait-timeout DURATION]]\n"
    "                      [--skip-schema] [-q] QUEUE TYPE [JSON | -]\n"
    "\n"
    "Add a job of type TYPE to queue QUEUE (stream sluice:{QUEUE}). JSON is the payload\n"
    "(default {}). With \"-\", every stdin line is the payload of one job (blank lines are\n"
    "skipped), sent in pipelined batches of up to 1000; the options apply to every line.\n"
    "\n"
    "  -u, --url URL            Redis URL; default $SLUICE_REDIS_URL, else\n"
    "                           redis://127.0.0.1:6379/0\n"
    "      --id ID              job id (default: the stream entry id; for a delayed job\n"
    "                           or a partitioned queue, a new UUID); not with \"-\"\n"
    "      --correlation-id ID  correlation id (default: a new UUID per job)\n"
    "      --causation-id ID    id of the job or event that caused this one\n"
    "      --delay DURATION     run the job after DURATION: 250ms, 30s, 5m, 1.5h\n"
    "                           (a bare number is milliseconds)\n"
    "      --at TIME            run the job at TIME: RFC 3339 (2026-11-26T10:00:00Z,\n"
    "                           2026-11-26T11:00:00.250+01:00) or @EPOCH_SECONDS\n"
    "                           (@1795687543); a past time runs it at once\n"
    "      --key KEY            idempotency key, [A-Za-z0-9_.:-]{1,200}: the first enqueue\n"
    "                           with KEY on QUEUE adds the job, later ones within the TTL\n"
    "                           add nothing and print the first job's id; not with \"-\"\n"
    "      --idempotency-key KEY  the same as --key\n"
    "      --key-ttl DURATION   how long KEY is remembered (whole seconds; default 24h)\n"
    "      --unique             unique until done: KEY is released as soon as the job\n"
    "                           completes, is dead-lettered or cancelled (not only at\n"
    "                           the TTL); until then a second enqueue is a duplicate\n"
    "      --partition-key KEY  of a partitioned queue (queues.<Q>.partitions), the\n"
    "                           partition: jobs with the same KEY go to the same one\n"
    "                           (--key, when given, decides instead); default: spread\n"
    "      --wait-replicas N    succeed only once N replicas confirmed the jobs (WAIT;\n"
    "                           redis.wait_replicas); fewer in time is an error: the jobs\n"
    "                           are on the master, not confirmed. Default\n"
    "                           $SLUICE_REDIS_WAIT_REPLICAS, else 0\n"
    "      --wait-timeout DURATION  how long WAIT waits (default\n"
    "                           $SLUICE_REDIS_WAIT_TIMEOUT, else 1s)\n"
    "      --skip-schema        do not validate payloads against the schema registered\n"
    "                           for TYPE (`sluice schema show TYPE`)\n"
    "  -q, --quiet              do not print job ids\n"
    "  -h, --help               print this help\n"
    "\n"
    "A partitioned queue's count is read from sluice:{QUEUE}:partitions; each job goes\n"
    "to one partition sluice:{QUEUE#I} (docs/enqueue.md, \"Partitioned queues\").\n"
    "Delayed jobs wait in sluice:{QUEUE}:sched until due by the Redis server's clock;\n"
    "the supervisor (`sluice run`) then moves them to the queue.\n"
    "\n"
    "Prints each job id on stdout; with \"-\", also \"enqueued N jobs\" on stderr. When\n"
    "--key was already used, prints the first job's id and \"duplicate: ...\" on stderr,\n"
    "and exits 0. A payload that violates the schema registered for TYPE is refused\n"
    "with the JSON pointer and keyword of the first violation (exit 1). A stdin line\n"
    "that is not valid JSON or violates the schema stops the command: every line\n"
    "before it has been enqueued, none from it on. Put \"--\" before a payload that\n"
    "starts with '-'. Exit status: 0 done, 1 failure, 2 usage error.\n"
    "\n"
    "Examples:\n"
    "  sluice enqueue orders order.placed.v1 \\\n"
    "      '{\"order_id\":\"A-1\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"tea\",\"qty\":1,\"unit_price\":4.5}]}'\n"
    "  sluice enqueue --delay 10m mail email.reminder '{\"user\":42}'\n"
    "  sluice enqueue --at 2026-12-24T18:00:00Z mail email.greeting '{\"user\":42}'\n"
    "  sluice enqueue --key order-A-2 --key-ttl 168h orders order.placed.v1 \\\n"
    "      '{\"order_id\":\"A-2\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"mug\",\"qty\":2,\"unit_price\":6}]}'\n"
    "  sluice enqueue --delay 30s orders order.recheck.v1 - < payloads.jsonl\n";

/* Latest --at time accepted: 9999-12-31T23:59:59.999Z, the codec's limit. */
#define AT_MAX_MS ((uint64_t)SL_CODEC_ENQUEUED_AT_MAX)

/* The command line, parsed. */
typedef struct enqueue_args {
    const char *url; /* NULL: $SLUICE_REDIS_URL, else the default */
    const char *queue;
    const char *type;
    const char *payload; /* NULL with from_stdin */
    int from_stdin;
    int quiet;
    int skip_schema;
    int wait_replicas; /* 0: the client's default ($SLUICE_REDIS_WAIT_REPLICAS) */
    uint32_t wait_timeout_ms; /* 0: the client's default */
    sluice_enqueue_opts opts; /* delay_ms, at_ms, idempotency_* set from the options */
} enqueue_args;

/* The stdin lines of the chunk being built: one buffer, offsets into it. */
typedef struct line_chunk {
    char *buf;
    size_t used, cap;
    size_t off[CHUNK_JOBS], len[CHUNK_JOBS];
    long line_no[CHUNK_JOBS];
    size_t n;
} line_chunk;

/* Print "what 'arg'" (arg may be NULL) as a usage error; returns exit code 2.
 * arg is cut at '=' (a mistyped --url=... must not print a password) and at 64 bytes. */
static int usage_error(const char *what, const char *arg)
{
    if (arg != NULL)
        fprintf(stderr, "sluice enqueue: %s '%.*s' (see `sluice enqueue --help`)\n", what,
                (int)strcspn(arg, "=") < 64 ? (int)strcspn(arg, "=") : 64, arg);
    else
        fprintf(stderr, "sluice enqueue: %s (see `sluice enqueue --help`)\n", what);
    return 2;
}

/* Print "invalid OPT "ARG" (expected WHAT)" as a usage error; returns 2. */
static int bad_value(const char *opt, const char *arg, const char *expected)
{
    char q[SL_JSON_QUOTE_SIZE];

    sl_json_quote(q, sizeof q, arg, strlen(arg));
    fprintf(stderr, "sluice enqueue: invalid %s %s (expected %s)\n", opt, q, expected);
    return 2;
}

/* Parse an --at value: what sl_cli_parse_time takes ("@<epoch seconds>" or an
 * RFC 3339 date-time), within what the envelope's enqueued_at allows. */
static int parse_at(const char *s, uint64_t *out_ms)
{
    int64_t ms;
    if (sl_cli_parse_time(s, &ms) != 0 || ms < 0 || (uint64_t)ms > AT_MAX_MS)
        return -1;
    *out_ms = (uint64_t)ms;
    return 0;
}

/* Idempotency keys: [A-Za-z0-9_.:-]{1,SLUICE_IDEMPOTENCY_KEY_MAX}, the rule the
 * client API applies (checked here too so a bad key is a usage error). */
static int valid_key(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-");
    return n > 0 && s[n] == '\0' && n <= SLUICE_IDEMPOTENCY_KEY_MAX;
}

/* Turn the --delay, --at, --key and --key-ttl values into a->opts. 0, or exit code 2. */
static int parse_delivery(enqueue_args *a, const char *delay, const char *at, const char *key, const char *key_ttl)
{
    if (a->opts.unique && key == NULL)
        return usage_error("--unique needs --key", NULL);
    int64_t ms;

    if (delay != NULL && at != NULL)
        return usage_error("--delay and --at cannot be used together", NULL);
    if (delay != NULL) {
        if (sl_parse_duration_ms(delay, &ms) != 0 || (uint64_t)ms > AT_MAX_MS)
            return bad_value("--delay", delay, "a duration like 250ms, 30s, 5m or 1.5h");
        a->opts.delay_ms = (uint64_t)ms;
    }
    if (at != NULL && parse_at(at, &a->opts.at_ms) != 0)
        return bad_value("--at", at, "an RFC 3339 time like 2026-11-26T10:00:00Z or @EPOCH_SECONDS, in 1970..9999");
    if (key_ttl != NULL && key == NULL)
        return usage_error("--key-ttl needs --key", NULL);
    if (key != NULL) {
        if (a->from_stdin)
            return usage_error("--key names one job; it cannot be used with \"-\"", NULL);
        if (!valid_key(key))
            return bad_value("--key", key, "1 to 200 of [A-Za-z0-9_.:-]");
        a->opts.idempotency_key = key;
    }
    if (key_ttl != NULL) {
        if (sl_parse_duration_ms(key_ttl, &ms) != 0 || ms < 1000 || ms % 1000 != 0 || ms / 1000 > (int64_t)UINT32_MAX)
            return bad_value("--key-ttl", key_ttl, "whole seconds like 3600s, 90m or 24h, at least 1s");
        a->opts.idempotency_ttl_s = (uint32_t)(ms / 1000);
    }
    return 0;
}

/* Parse argv; returns -1 to go on, else the exit code (help or usage error). */
static int parse_args(int argc, char **argv, enqueue_args *a)
{
    enum {
        OPT_ID = 256,
        OPT_CORRELATION,
        OPT_CAUSATION,
        OPT_DELAY,
        OPT_AT,
        OPT_KEY,
        OPT_KEY_TTL,
        OPT_SKIP_SCHEMA,
        OPT_PARTITION_KEY,
        OPT_WAIT_REPLICAS,
        OPT_WAIT_TIMEOUT,
        OPT_UNIQUE
    };
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"id", required_argument, NULL, OPT_ID},
        {"correlation-id", required_argument, NULL, OPT_CORRELATION},
        {"causation-id", required_argument, NULL, OPT_CAUSATION},
        {"delay", required_argument, NULL, OPT_DELAY},
        {"at", required_argument, NULL, OPT_AT},
        {"key", required_argument, NULL, OPT_KEY},
        {"idempotency-key", required_argument, NULL, OPT_KEY},
        {"key-ttl", required_argument, NULL, OPT_KEY_TTL},
        {"unique", no_argument, NULL, OPT_UNIQUE},
        {"partition-key", required_argument, NULL, OPT_PARTITION_KEY},
        {"skip-schema", no_argument, NULL, OPT_SKIP_SCHEMA},
        {"wait-replicas", required_argument, NULL, OPT_WAIT_REPLICAS},
        {"wait-timeout", required_argument, NULL, OPT_WAIT_TIMEOUT},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *delay = NULL, *at = NULL, *key = NULL, *key_ttl = NULL;
    int ch;

    memset(a, 0, sizeof *a);
    a->opts.size = sizeof a->opts;
    optind = 0; /* full getopt reset: main may have parsed before */
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":u:qh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            a->url = optarg;
            break;
        case OPT_ID:
            a->opts.job_id = optarg;
            break;
        case OPT_CORRELATION:
            a->opts.correlation_id = optarg;
            break;
        case OPT_CAUSATION:
            a->opts.causation_id = optarg;
            break;
        case OPT_DELAY:
            delay = optarg;
            break;
        case OPT_UNIQUE:
            a->opts.unique = 1;
            break;
        case OPT_AT:
            at = optarg;
            break;
        case OPT_KEY:
            key = optarg;
            break;
        case OPT_KEY_TTL:
            key_ttl = optarg;
            break;
        case OPT_PARTITION_KEY:
            if (optarg[0] == '\0')
                return bad_value("--partition-key", optarg, "a non-empty string");
            a->opts.partition_key = optarg;
            break;
        case OPT_SKIP_SCHEMA:
            a->skip_schema = 1;
            break;
        case OPT_WAIT_REPLICAS: {
            char *end = NULL;
            long n = strtol(optarg, &end, 10);
            if (!*optarg || *end || n < 1 || n > 64)
                return bad_value("--wait-replicas", optarg, "an integer in 1..64");
            a->wait_replicas = (int)n;
            break;
        }
        case OPT_WAIT_TIMEOUT: {
            int64_t ms = 0;
            if (sl_parse_duration_ms(optarg, &ms) != 0 || ms < 1 || ms > 600000)
                return bad_value("--wait-timeout", optarg, "a duration like 500ms or 2s, at most 10m");
            a->wait_timeout_ms = (uint32_t)ms;
            break;
        }
        case 'q':
            a->quiet = 1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case ':':
            return usage_error("missing value for option", argv[optind - 1]);
        default:
            return usage_error("unknown option", argv[optind - 1]);
        }
    }
    if (argc - optind < 2)
        return usage_error("missing QUEUE and TYPE", NULL);
    if (argc - optind > 3)
        return usage_error("unexpected argument", argv[optind + 3]);
    a->queue = argv[optind];
    a->type = argv[optind + 1];
    a->payload = argc - optind == 3 ? argv[optind + 2] : "{}";
    if (strcmp(a->payload, "-") == 0) {
        a->payload = NULL;
        a->from_stdin = 1;
        if (a->opts.job_id != NULL)
            return usage_error("--id names one job; it cannot be used with \"-\"", NULL);
    }
    if (parse_delivery(a, delay, at, key, key_ttl) != 0)
        return 2;
    return -1;
}

/* Check everything but stdin lines before connecting. 0, or exit code 2. */
static int check_args(const enqueue_args *a)
{
    char q[SL_JSON_QUOTE_SIZE];
    char msg[512];
    sl_job job = {
        .type = a->type,
        .payload = a->payload,
        .id = a->opts.job_id,
        .correlation_id = a->opts.correlation_id,
        .causation_id = a->opts.causation_id,
    };

    if (!sl_valid_name(a->queue)) {
        sl_json_quote(q, sizeof q, a->queue, strlen(a->queue));
        fprintf(stderr, "sluice enqueue: invalid queue name %s (expected [A-Za-z0-9_.-]{1,64})\n", q);
        return 2;
    }
    if (!sl_valid_type(a->type, strlen(a->type))) {
        sl_json_quote(q, sizeof q, a->type, strlen(a->type));
        fprintf(stderr, "sluice enqueue: invalid type %s (expected [a-z0-9_.-]{1,128})\n", q);
        return 2;
    }
    if (sl_codec_check_job(&job, MAX_PAYLOAD, msg, sizeof msg) != SL_CODEC_OK) {
        fprintf(stderr, "sluice enqueue: %s\n", msg);
        return 2;
    }
    return 0;
}

static int print_id(const char *id)
{
    return puts(id) < 0 ? -1 : 0;
}

static int send_chunk(sluice_client *c, const enqueue_args *a, line_chunk *ch, sluice_job_spec *specs,
                      char (*ids)[SLUICE_ID_MAX], long *total);

/* The batch refused a line before sending anything (a schema violation):
 * send the lines before it, then report it by line number. Returns -1. */
static int refused_line(sluice_client *c, const enqueue_args *a, line_chunk *ch, sluice_job_spec *specs,
                        char (*ids)[SLUICE_ID_MAX], long *total)
{
    size_t bad = (size_t)sluice_enqueue_batch_refused_index(c);
    const char *msg = sluice_client_error(c), *rest = strstr(msg, "]: ");
    char why[1200];

    if (strncmp(msg, "jobs[", 5) == 0 && rest != NULL)
        msg = rest + 3;
    snprintf(why, sizeof why, "stdin line %ld: %s", ch->line_no[bad], msg);
    ch->n = bad;
    if (send_chunk(c, a, ch, specs, ids, total) == 0)
        fprintf(stderr, "sluice enqueue: %s\n", why);
    return -1;
}

/* Send the chunk's lines; print their ids. Adds the confirmed count to *total.
 * Returns 0, or -1 after printing the error. */
static int send_chunk(sluice_client *c, const enqueue_args *a, line_chunk *ch, sluice_job_spec *specs,
                      char (*ids)[SLUICE_ID_MAX], long *total)
{
    long got;

    if (ch->n == 0)
        return 0;
    for (size_t i = 0; i < ch->n; i++)
        specs[i] = (sluice_job_spec){a->type, ch->buf + ch->off[i], ch->len[i], &a->opts};
    got = sluice_enqueue_batch(c, a->queue, specs, ch->n, ids);
    if (got < 0 && sluice_enqueue_batch_refused_index(c) >= 0)
        return refused_line(c, a, ch, specs, ids, total);
    if (got > 0)
        *total += got;
    for (size_t i = 0; got > 0 && !a->quiet && i < ch->n; i++) {
        if (ids[i][0] != '\0' && print_id(ids[i]) != 0) {
            fprintf(stderr, "sluice enqueue: writing job ids to stdout failed: %s\n", strerror(errno));
            return -1;
        }
    }
    if (got != (long)ch->n) {
        fprintf(stderr, "sluice enqueue: sending stdin lines %ld..%ld failed: %s\n", ch->line_no[0],
                ch->line_no[ch->n - 1], sluice_client_error(c));
        return -1;
    }
    ch->n = 0;
    ch->used = 0;
    return 0;
}

/* Add a line to the chunk (copied). -1 if out of memory. */
static int chunk_add(line_chunk *ch, const char *line, size_t len, long line_no)
{
    if (ch->used + len + 1 > ch->cap) {
        size_t cap = ch->cap ? ch->cap : 64 * 1024;
        while (cap < ch->used + len + 1)
            cap *= 2;
        char *p = realloc(ch->buf, cap);
        if (p == NULL)
            return -1;
        ch->buf = p;
        ch->cap = cap;
    }
    memcpy(ch->buf + ch->used, line, len);
    ch->buf[ch->used + len] = '\0';
    ch->off[ch->n] = ch->used;
    ch->len[ch->n] = len;
    ch->line_no[ch->n] = line_no;
    ch->n++;
    ch->used += len + 1;
    return 0;
}

static int blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

/* Read payloads from stdin, one per line. Returns the exit code. */
static int enqueue_stdin(sluice_client *c, const enqueue_args *a)
{
    line_chunk *ch = calloc(1, sizeof *ch);
    sluice_job_spec *specs = malloc(CHUNK_JOBS * sizeof *specs);
    char(*ids)[SLUICE_ID_MAX] = malloc(CHUNK_JOBS * sizeof *ids);
    char *line = NULL;
    size_t linecap = 0;
    ssize_t got;
    long line_no = 0, total = 0;
    int rc = 1;

    if (ch == NULL || specs == NULL || ids == NULL) {
        fprintf(stderr, "sluice enqueue: out of memory\n");
        goto done;
    }
    while ((got = getline(&line, &linecap, stdin)) >= 0) {
        size_t len = (size_t)got;
        char msg[512];
        sl_job job = {.type = a->type};

        line_no++;
        if (len > 0 && line[len - 1] == '\n')
            len--;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (blank(line, len))
            continue;
        job.payload = line;
        job.payload_len = len;
        if (sl_codec_check_job(&job, MAX_PAYLOAD, msg, sizeof msg) != SL_CODEC_OK) {
            /* Everything before this line goes out; nothing from it on. */
            if (send_chunk(c, a, ch, specs, ids, &total) == 0)
                fprintf(stderr, "sluice enqueue: stdin line %ld: %s\n", line_no, msg);
            goto done;
        }
        if (chunk_add(ch, line, len, line_no) != 0) {
            fprintf(stderr, "sluice enqueue: out of memory at stdin line %ld\n", line_no);
            goto done;
        }
        if ((ch->n == CHUNK_JOBS || ch->used >= CHUNK_BYTES) && send_chunk(c, a, ch, specs, ids, &total) != 0)
            goto done;
    }
    if (ferror(stdin)) {
        fprintf(stderr, "sluice enqueue: reading stdin failed at line %ld: %s\n", line_no + 1, strerror(errno));
        goto done;
    }
    if (send_chunk(c, a, ch, specs, ids, &total) != 0)
        goto done;
    rc = 0;

done:
    fprintf(stderr, "sluice enqueue: enqueued %ld job%s\n", total, total == 1 ? "" : "s");
    free(line);
    free(ids);
    free(specs);
    if (ch != NULL)
        free(ch->buf);
    free(ch);
    return rc;
}

int sl_cmd_enqueue(int argc, char **argv)
{
    enqueue_args a;
    sluice_client_opts copts = {.size = sizeof copts, .max_payload_bytes = MAX_PAYLOAD};
    sluice_client *c = NULL;
    char err[512];
    char id[SLUICE_ID_MAX];
    int rc = parse_args(argc, argv, &a);

    if (rc >= 0)
        return rc;
    rc = check_args(&a);
    if (rc != 0)
        return rc;
    signal(SIGPIPE, SIG_IGN); /* a closed stdout shows up as a write error */
    /* stderr carries this command's own messages; library notices such as
     * "loaded redis function library" (first delayed/keyed job) stay quiet. */
    sl_log_open(NULL, SL_LOG_TEXT, SL_WARN);
    rc = 1;
    copts.skip_schema = a.skip_schema;
    copts.wait_replicas = a.wait_replicas;
    copts.wait_timeout_ms = a.wait_timeout_ms;
    c = sluice_client_new(a.url, &copts, err, sizeof err);
    if (c == NULL) {
        fprintf(stderr, "sluice enqueue: %s\n", err);
        goto done;
    }
    if (a.from_stdin) {
        rc = enqueue_stdin(c, &a);
    } else if (sluice_enqueue(c, a.queue, a.type, a.payload, 0, &a.opts, id, sizeof id) != 0) {
        fprintf(stderr, "sluice enqueue: %s\n", sluice_client_error(c));
    } else {
        /* A duplicate is a success: the job exists, under the first id. */
        if (sluice_enqueue_last_was_duplicate(c))
            fprintf(stderr, "sluice enqueue: duplicate: key '%s' was already used by job %s%s; nothing enqueued\n",
                    a.opts.idempotency_key, id, a.opts.unique ? ", which is not done yet" : "");
        if (!a.quiet && print_id(id) != 0)
            fprintf(stderr, "sluice enqueue: writing the job id failed: %s\n", strerror(errno));
        else
            rc = 0;
    }
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "sluice enqueue: writing to stdout failed: %s\n", strerror(errno));
        rc = 1;
    }

done:
    sluice_client_free(c);
    return rc;
}
