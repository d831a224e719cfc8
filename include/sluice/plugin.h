/* sluice plugin ABI: the only header a handler plugin needs.
 *
 * A plugin is a shared object exporting one entry function, made by
 * SLUICE_PLUGIN(), that returns a const info block. The host checks the block's
 * size and ABI version before it runs any other plugin code (ELF constructors
 * aside: a plugin must not rely on them). Host services reach the plugin as an
 * append-only function table, so a plugin links against nothing of the host and
 * builds with -fvisibility=hidden -Wl,--no-undefined.
 *
 * Compatibility rule: SLUICE_ABI_MAJOR changes only when something is removed or
 * changed; new members are appended to the end of a struct and SLUICE_ABI_MINOR
 * grows. Every struct begins with its size so each side can tell what the other
 * knows.
 */
#ifndef SLUICE_PLUGIN_H
#define SLUICE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_ABI_MAJOR 1
#define SLUICE_ABI_MINOR 0

/** Name of the symbol the loader looks up. */
#define SLUICE_PLUGIN_ENTRY_SYMBOL "sluice_plugin_entry"

#if defined(__GNUC__)
#define SLUICE_EXPORT __attribute__((visibility("default")))
#define SLUICE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SLUICE_EXPORT
#define SLUICE_PRINTF(f, a)
#endif

/** Per-job context, owned by the host. Valid until the handler returns. */
typedef struct sluice_ctx sluice_ctx;
/** Registration context handed to init(). Valid until init() returns. */
typedef struct sluice_plugin_ctx sluice_plugin_ctx;

/** What a handler returns. */
typedef enum sluice_result {
    SLUICE_OK = 0, /**< done: the job is acknowledged */
    SLUICE_RETRY = 1, /**< try again later, after backoff (see sluice_host.retry_after) */
    SLUICE_FAIL = 2 /**< give up now: the job goes to the dead-letter stream */
} sluice_result;

/** Log levels for sluice_host.log. */
typedef enum sluice_log_level {
    SLUICE_LOG_DEBUG = 0,
    SLUICE_LOG_INFO = 1,
    SLUICE_LOG_WARN = 2,
    SLUICE_LOG_ERROR = 3
} sluice_log_level;

/**
 * A job as a handler sees it. Borrowed: every pointer is valid until the
 * handler returns; copy what you keep. Strings are NUL-terminated; the payload
 * is also NUL-terminated, and payload_len excludes the NUL. Absent optional
 * strings are "" (never NULL).
 */
typedef struct sluice_job {
    size_t size; /**< sizeof(sluice_job) as the host built it */
    const char *id; /**< job id, stable across retries and replays */
    const char *type; /**< handler name, e.g. "order.placed.v1" */
    const char *payload; /**< JSON text */
    size_t payload_len; /**< bytes in payload */
    uint32_t attempt; /**< 1-based attempt number */
    uint32_t deliveries; /**< times this stream entry was delivered (>= 1) */
    int64_t enqueued_at_ms; /**< ms since the epoch, 0 if unknown */
    const char *correlation_id; /**< request-wide id */
    const char *causation_id; /**< id of the job that caused this one */
    const char *traceparent; /**< W3C trace context */
    const char *queue; /**< queue name (stream key is sluice:{queue}) */
    const char *group; /**< consumer group */
    const char *stream_id; /**< id of the stream entry being processed */
} sluice_job;

/** Handler function: run one job. Must be safe to run more than once per job
 *  (delivery is at-least-once); use job->id and sluice_host.once for that. */
typedef sluice_result (*sluice_handler_fn)(sluice_ctx *ctx, const sluice_job *job, void *data);

/** Handler options. Zero means "use the configured default". */
typedef struct sluice_handler_def {
    size_t size; /**< sizeof(sluice_handler_def) */
    const char *type; /**< job type, [a-z0-9_.-]{1,128}; copied by the host */
    sluice_handler_fn fn; /**< the handler */
    void *data; /**< passed to fn unchanged */
    uint32_t max_attempts; /**< attempts before the dead-letter stream */
    uint32_t backoff_base_ms; /**< first retry delay (exponential, full jitter) */
    uint32_t backoff_cap_ms; /**< maximum retry delay */
    uint32_t timeout_ms; /**< hard timeout: the supervisor kills the worker */
    const char *schema; /**< JSON Schema (draft-07) text for the payload, or NULL */
    uint32_t flags; /**< SLUICE_HANDLER_* */
} sluice_handler_def;

/** Skip a redelivered job whose id this group already finished (costs a write per job). */
#define SLUICE_HANDLER_DONE_MARKER 0x1u

/** Options for sluice_host.enqueue. Zero/NULL members take defaults. */
typedef struct sluice_enqueue_req {
    size_t size; /**< sizeof(sluice_enqueue_req) */
    const char *queue; /**< NULL: the queue of the running job */
    const char *type; /**< required */
    const char *payload; /**< JSON text; NULL means "{}" */
    size_t payload_len; /**< 0 with a non-NULL payload: strlen(payload) */
    const char *job_id; /**< NULL: the stream entry id */
    uint64_t delay_ms; /**< 0: now */
} sluice_enqueue_req;

/**
 * Host services. Append-only: check `size` before using a member added after
 * ABI 1.0 (offsetof(sluice_host, member) < host->size).
 * Functions taking a sluice_ctx may be called only from the handler thread while
 * the handler runs.
 */
typedef struct sluice_host {
    size_t size;
    uint32_t abi_major;
    uint32_t abi_minor;

    /** Register a handler from init(). Returns 0, or -1 with the reason logged
     *  (bad type name, duplicate type, bad options). */
    int (*register_handler)(sluice_plugin_ctx *pctx, const sluice_handler_def *def);

    /** Log through the host's structured logger; job fields are added. */
    void (*log)(sluice_ctx *ctx, sluice_log_level level, const char *fmt, ...) SLUICE_PRINTF(3, 4);

    /** Record why the job failed (copied; shown in logs and dead-letter entries). */
    void (*set_error)(sluice_ctx *ctx, const char *fmt, ...) SLUICE_PRINTF(2, 3);

    /** With SLUICE_RETRY: ask for this delay instead of the backoff policy. */
    void (*retry_after)(sluice_ctx *ctx, uint64_t delay_ms);

    /** Enqueue a job; correlation_id, causation_id and traceparent of the
     *  running job are propagated. Writes the new job's id to id_out (may be
     *  NULL) if it fits. Returns 0 or -1. */
    int (*enqueue)(sluice_ctx *ctx, const sluice_enqueue_req *req, char *id_out, size_t id_out_len);

    /** Once-per-job guard: returns 1 the first time (key, job id) is seen by
     *  this group, 0 after that, -1 on error. Use it around side effects. */
    int (*once)(sluice_ctx *ctx, const char *key);

    /** Look up a pool setting ("settings" in the config). NULL when absent.
     *  Works from init() (pass the plugin ctx cast with sluice_plugin_ctx_as_ctx)
     *  and from handlers. The string lives as long as the worker. */
    const char *(*config_get)(sluice_ctx *ctx, const char *key);

    /** Non-zero once the worker is asked to stop; long handlers should return
     *  SLUICE_RETRY soon after. */
    int (*should_stop)(sluice_ctx *ctx);

    /** The plugin ctx as a ctx for config_get/log during init(). */
    sluice_ctx *(*plugin_ctx_as_ctx)(sluice_plugin_ctx *pctx);
} sluice_host;

/** The plugin info block, returned by the entry function. */
typedef struct sluice_plugin_info {
    size_t size; /**< sizeof(sluice_plugin_info) */
    uint32_t abi_major; /**< SLUICE_ABI_MAJOR the plugin was built with */
    uint32_t abi_minor; /**< SLUICE_ABI_MINOR the plugin was built with */
    const char *name; /**< plugin name */
    const char *version; /**< plugin version string */
    /** Called once per worker process after load; registers handlers.
     *  Returns 0, or non-zero to refuse to start (the worker exits 78). */
    int (*init)(const sluice_host *host, sluice_plugin_ctx *pctx);
    /** Called once at worker exit; may be NULL. */
    void (*fini)(void);
} sluice_plugin_info;

typedef const sluice_plugin_info *(*sluice_plugin_entry_fn)(void);

/* The entry point has C linkage in C++ too: SLUICE_PLUGIN expands in the
 * plugin's own file, outside this header's extern "C" block, so without this a
 * C++ compiler would export a mangled name the loader cannot find. */
#ifdef __cplusplus
#define SLUICE_EXTERN_C extern "C"
#else
#define SLUICE_EXTERN_C
#endif

/** Define the plugin's entry point. Use once per plugin, at file scope (C or C++). */
#define SLUICE_PLUGIN(name_, version_, init_, fini_)                                                                \
    SLUICE_EXTERN_C SLUICE_EXPORT const sluice_plugin_info *sluice_plugin_entry(void);                              \
    SLUICE_EXTERN_C SLUICE_EXPORT const sluice_plugin_info *sluice_plugin_entry(void)                               \
    {                                                                                                               \
        static const sluice_plugin_info info_ = {                                                                   \
            sizeof(sluice_plugin_info), SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR, (name_), (version_), (init_), (fini_)}; \
        return &info_;                                                                                              \
    }

#ifdef __cplusplus
}
#endif
#endif
