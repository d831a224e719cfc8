/* Configuration: config/sluice.json (cJSON) plus SLUICE_* environment overrides.
 * Loading validates everything; an unknown key or a bad value fails with a
 * message naming the key path ("pools[1].workers: ..."). */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/** Most queues one pool reads (pools[].queues). */
#define SL_POOL_QUEUES_MAX 32
/** Highest pools[].queues[].weight. */
#define SL_POOL_WEIGHT_MAX 1000

/** One queue a pool reads: an entry of pools[].queues (docs/limits.md, "Priorities"). */
typedef struct sl_pool_queue {
    char *name; /* pools[].queues[].name, required, unique in the list */
    int weight; /* pools[].queues[].weight: 0 strict (before the others, in list order),
                   1..1000 weighted random order; default 1 */
} sl_pool_queue;

/** A pool: N workers of one group on one or more queues running the handlers of some plugins. */
typedef struct sl_pool_cfg {
    char *name; /* pools[].name, unique, [A-Za-z0-9_.-]{1,64} */
    char *queue; /* pools[].queue, default "default"; with pools[].queues, its first queue */
    sl_pool_queue *queues; /* pools[].queues, or the one entry {queue, 1}: never empty once loaded */
    size_t nqueues;
    int queues_listed; /* 1: given as pools[].queues (the JSON output writes it back so) */
    char *group; /* pools[].group, default = name */
    char **plugins; /* pools[].plugins: file names in plugin_dir ("orders" or "orders.so") */
    size_t nplugins;
    int workers; /* pools[].workers, 0..1024, default 1 */
    char *
        start_at; /* pools[].start_at: where a new group starts: "0" (all history, default), "$" (new only), or a stream id */
    int read_count; /* pools[].read_count: most entries per XREADGROUP, 1..1000, default 256 */
    int64_t prefetch_ms; /* pools[].prefetch: read about this much work at once (0 = always read_count), default 5 ms */
    int64_t block_ms; /* pools[].block: XREADGROUP BLOCK, 1..2000 ms, default 2000 */
    char **setting_keys; /* pools[].settings: string map for plugins (config_get) */
    char **setting_values;
    size_t nsettings;
} sl_pool_cfg;

/** Per-queue settings: the entry queues.<name>. A queue without an entry gets
 *  sl_config.queue_defaults (see sl_cfg_queue). */
typedef struct sl_queue_cfg {
    char *name; /* the key of queues.<name>; NULL in queue_defaults */
    int64_t
        retention_max_age_ms; /* retention_max_age: the supervisor trims entries older than this (0 = keep by age forever, default) */
    int64_t
        retention_max_len; /* retention_max_len: ... and keeps at most this many (0 = no bound, default); never undelivered/unacked ones */
    int64_t
        dlq_maxlen; /* dlq_maxlen: approximate cap of each DLQ of the queue, 0 = uncapped; default jobs.dlq_maxlen */
    int partitions; /* partitions: 1..1024, default 1; N > 1: streams sluice:{Q#0}..{Q#N-1} (common/partition.h) */
} sl_queue_cfg;

/** What a schedule does with the ticks it missed while no supervisor ran it
 *  (schedules[].missed; docs/scheduling.md). */
typedef enum sl_missed { SL_MISSED_SKIP, SL_MISSED_ONE, SL_MISSED_ALL } sl_missed;

/** A schedule: schedules[] (docs/scheduling.md). Every supervisor whose config
 *  has it runs it; each tick is enqueued once however many do. */
typedef struct sl_schedule_cfg {
    char *name; /* name, unique, [A-Za-z0-9_.-]{1,64} */
    char *cron; /* cron, required: a cron expression or macro (common/cron.h) */
    char *tz; /* tz, an IANA zone of the system's tzdata, default "UTC" */
    char *queue; /* queue, required */
    char *type; /* type, required: the job's event type */
    char *payload; /* payload: any JSON value, kept as compact text; default {} */
    char *missed_name; /* missed: "skip" (default), "one" or "all" */
    sl_missed missed; /* missed, parsed */
    int64_t jitter_ms; /* jitter: each tick's job is due at a random time up to this after the tick, default 0 */
} sl_schedule_cfg;

/** Most limits a config may have (limits.<name>). */
#define SL_LIMITS_MAX 16

/** A rate and/or concurrency limit: limits.<name> (docs/limits.md). Global
 *  across every worker and host: enforced by server-side functions. */
typedef struct sl_limit_cfg {
    char *name; /* the key of limits.<name>, [A-Za-z0-9_.-]{1,64} */
    char **types; /* types: the job types it limits, at least one */
    size_t ntypes;
    int rate; /* rate: jobs per `per`, 0 = no rate limit */
    int64_t per_ms; /* per: the rate's period, default 1s */
    int burst; /* burst: jobs that may start at once above the steady rate, default 1 */
    int concurrency; /* concurrency: jobs running at once, 0 = no concurrency limit */
    char *key; /* key: a top-level payload field; each value has its own bucket; NULL = one bucket */
} sl_limit_cfg;

typedef struct sl_config {
    char *origin; /* file path or "<string>", for messages */
    /* redis */
    char *redis_url; /* redis.url, default redis://127.0.0.1:6379/0; env SLUICE_REDIS_URL */
    int64_t connect_timeout_ms; /* redis.connect_timeout, default 2s */
    int64_t command_timeout_ms; /* redis.command_timeout, default 5s (must exceed every pool's block) */
    int64_t reconnect_min_ms; /* redis.reconnect_min, default 100ms */
    int64_t reconnect_max_ms; /* redis.reconnect_max, default 5s */
    int wait_replicas; /* redis.wait_replicas, default 0: enqueues, acks and settles WAIT for this many replicas */
    int64_t wait_timeout_ms; /* redis.wait_timeout, default 1s: how long WAIT waits (then it is an error) */
    /* log */
    int log_format; /* log.format: "text" | "json" (sl_log_format), default text; env SLUICE_LOG_FORMAT */
    int log_level; /* log.level: debug|info|warn|error (sl_log_level), default info; env SLUICE_LOG_LEVEL */
    char *log_file; /* log.file, default NULL = stderr; env SLUICE_LOG_FILE */
    int log_jobs; /* log.jobs: one info line per job outcome (true, default) or only failures/retries; env SLUICE_LOG_JOBS */
    /* plugins */
    char *
        plugin_dir; /* plugin_dir, required; relative paths are relative to the config file's folder; env SLUICE_PLUGIN_DIR */
    char *
        schemas_dir; /* schemas_dir: TYPE.json schemas the supervisor registers at start-up and reload; null = <config file's folder>/schemas; env SLUICE_SCHEMAS_DIR */
    /* supervisor */
    int64_t shutdown_timeout_ms; /* supervisor.shutdown_timeout, default 30s */
    int64_t restart_min_ms; /* supervisor.restart_backoff_min, default 100ms */
    int64_t restart_max_ms; /* supervisor.restart_backoff_max, default 30s */
    char *
        worker_path; /* supervisor.worker_path, default: sluice-worker beside the sluice binary; env SLUICE_WORKER_PATH */
    /* job defaults */
    int64_t max_payload_bytes; /* jobs.max_payload_bytes, default 1048576 */
    int max_attempts; /* jobs.max_attempts, default 25 */
    int max_deliveries; /* jobs.max_deliveries, default 3 */
    int64_t backoff_base_ms; /* jobs.backoff_base, default 1s */
    int64_t backoff_cap_ms; /* jobs.backoff_cap, default 1h */
    int64_t job_timeout_ms; /* jobs.timeout, default 5m */
    int64_t lease_ms; /* jobs.lease: idle time after which live consumers reclaim a pending entry, default 30s */
    int64_t dlq_maxlen; /* jobs.dlq_maxlen: approximate cap of each dead-letter stream, 0 = uncapped, default 100000 */
    int64_t done_ttl_ms; /* jobs.done_ttl: how long done-markers are kept, default 7 days */
    int64_t
        cancel_grace_ms; /* jobs.cancel_grace: a cancelled running job's time to stop before its worker is killed, default 5s */
    int64_t
        promote_interval_ms; /* supervisor.promote_interval: how often due retries/delayed jobs are moved, default 100ms */
    char *
        http_listen; /* supervisor.http_listen: host:port of /metrics, /healthz, /readyz, /status; null or "" = off; default 127.0.0.1:9464; env SLUICE_HTTP_LISTEN */
    char *
        run_user; /* supervisor.user: when started as root, `sluice run` becomes this user before any plugin loads; null = stay */
    char *run_group; /* supervisor.group: with supervisor.user, the group (default: the user's primary group) */
    int http_max_connections; /* supervisor.http_max_connections: open HTTP connections at most (fewer when RLIMIT_NOFILE is low), default 64 */
    int64_t
        http_timeout_ms; /* supervisor.http_timeout: total time one HTTP request may take (reading it and writing the answer), default 5s */
    int64_t
        stats_interval_ms; /* supervisor.stats_interval: how often queue/group gauges are sampled and sluice:{Q}:stats:G is written, default 5s */
    int64_t
        stall_after_ms; /* health.stall_after: /healthz fails when a backlog exists but nothing was consumed for this long, default 5m */
    int64_t
        redis_error_after_ms; /* health.redis_error_after, default 30s: a pool whose workers had only Redis errors this long is not ready, alert redis_errors */
    int64_t
        alert_backlog; /* alerts.backlog: lag + pending of a group above this raises an alert, 0 = off, default 10000 */
    int64_t
        alert_oldest_pending_ms; /* alerts.oldest_pending: oldest pending entry older than this raises an alert, 0 = off, default 10m */
    int64_t
        alert_dlq_growth; /* alerts.dlq_growth: more dead letters than this within alerts.window raises an alert, 0 = off, default 100 */
    int64_t alert_window_ms; /* alerts.window: the window of alerts.dlq_growth, default 5m */
    int64_t
        retention_interval_ms; /* retention.interval: how often the supervisor trims queues with a retention policy, default 10s */
    /* queues */
    sl_queue_cfg *queues; /* queues: object keyed by queue name, optional; in file order */
    size_t nqueues;
    sl_queue_cfg queue_defaults; /* what a queue without an entry gets (name NULL) */
    /* schedules */
    sl_schedule_cfg *schedules; /* schedules: array, optional; in file order */
    size_t nschedules;
    /* limits */
    sl_limit_cfg *limits; /* limits: object keyed by name, optional; in file order */
    size_t nlimits;
    /* pools */
    sl_pool_cfg *pools; /* pools: array, at least one */
    size_t npools;
} sl_config;

/** Environment handling for the loaders. */
enum { SL_CFG_ENV = 1, SL_CFG_NO_ENV = 0 };

/**
 * Load and validate a config file. Relative plugin_dir is resolved against the
 * file's directory (made absolute). With SL_CFG_ENV, SLUICE_* overrides apply.
 * @return a config, or NULL with a one-line message naming the file and key path
 *         in err (e.g. "config/sluice.json: pools[0].workers: expected an integer 0..1024").
 */
sl_config *sl_cfg_load_file(const char *path, int env, char *err, size_t errlen);

/** Same for JSON text (origin names it in messages; relative plugin_dir resolves
 *  against the current directory). */
sl_config *sl_cfg_load_string(const char *json, const char *origin, int env, char *err, size_t errlen);

/** The resolved config as compact one-line JSON (same schema; loads back with
 *  sl_cfg_load_string to an equal config). Includes the password: for the
 *  supervisor->worker channel only, never for logs. Caller frees with free(). */
char *sl_cfg_to_json(const sl_config *cfg);

/** JSON of one pool plus every setting a worker of that pool depends on
 *  (including its queue's dlq_maxlen; not retention, which only the supervisor
 *  uses); two configs whose fingerprints for a pool are equal run that pool
 *  identically (worker count excluded). Caller frees. */
char *sl_cfg_pool_fingerprint(const sl_config *cfg, const sl_pool_cfg *pool);

/**
 * Split a listen address "host:port", "[v6]:port" or ":port" (host 0.0.0.0)
 * into host (brackets removed) and port 0..65535. The one check of
 * supervisor.http_listen: the loader and the HTTP endpoint both use it.
 * @return 0, or -1 when malformed (or host does not fit in n bytes).
 */
int sl_cfg_parse_listen(const char *listen, char *host, size_t n, unsigned short *port);

/** cfg->limits[i] as compact JSON, its keys as in the config (caller frees);
 *  NULL when out of memory or i is out of range. */
char *sl_cfg_limit_to_json(const sl_config *cfg, size_t i);
/** Find a schedule by name, NULL if absent. */
const sl_schedule_cfg *sl_cfg_schedule(const sl_config *cfg, const char *name);
/** Find a pool by name, NULL if absent. */
const sl_pool_cfg *sl_cfg_pool(const sl_config *cfg, const char *name);
/** The settings of queue name: its queues.<name> entry, or &cfg->queue_defaults
 *  when it has none. NULL only when cfg is NULL. Valid while cfg lives. */
const sl_queue_cfg *sl_cfg_queue(const sl_config *cfg, const char *name);
/** The cap of queue's dead-letter streams (XADD MAXLEN ~), 0 = uncapped:
 *  queues.<queue>.dlq_maxlen, else jobs.dlq_maxlen. 0 when cfg is NULL. */
int64_t sl_cfg_dlq_maxlen(const sl_config *cfg, const char *queue);
/** 1 when q has a retention policy (a maximum age or length). */
int sl_cfg_queue_retains(const sl_queue_cfg *q);
/** Find a pool setting, NULL if absent. */
const char *sl_cfg_setting(const sl_pool_cfg *pool, const char *key);

void sl_cfg_free(sl_config *cfg);

#endif
