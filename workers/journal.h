/* The ack journal: finished jobs whose acks Redis has not confirmed yet, kept
 * in a small shared file mapping so they outlive the worker (segfault, SIGKILL
 * at a hard timeout) at the cost of memory writes, no syscall per job. The next
 * worker with the same consumer name acks them before it replays its pending
 * entries. That is what lets acks wait for the end of a read batch without a
 * crash re-running the batch's finished jobs. Private to workers/ (acks.c). */
#ifndef SL_WORKER_JOURNAL_H
#define SL_WORKER_JOURNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/codec.h"
#include "common/streamid.h"

/** Room for a stream entry id: SL_STREAMID_MAX (common/streamid.h) rounded up;
 *  the ack journal's records (journal.h) keep this size. */
#define SL_STREAM_ID_MAX 48
_Static_assert(SL_STREAM_ID_MAX >= SL_STREAMID_MAX, "a stream id must fit");

/** Acks held (queued, sent or kept) before the worker sends and reads them all
 *  (acks.h): the journal has a record for each. */
#define SL_ACKS_MAX 256

/** One finished job whose ack is not confirmed. live is written last (release). */
typedef struct sl_journal_rec {
    _Atomic uint32_t live;
    int32_t stream;
    int32_t marker; /* set the done-marker of job_id with the ack */
    char sid[SL_STREAM_ID_MAX];
    char job_id[SL_CODEC_TEXT_MAX + 1];
} sl_journal_rec;

typedef struct sl_journal_file sl_journal_file;

typedef struct sl_journal {
    sl_journal_file *map; /* NULL: no journal (acks then go out before the next job) */
    int fd; /* holds an exclusive flock while mapped */
    char path[256];
    int free_v[SL_ACKS_MAX]; /* free record indexes (a stack) */
    int nfree;
} sl_journal;

/**
 * Map the journal of one consumer: /dev/shm (else $TMPDIR or /tmp)
 * sluice-acks-<hash of the redis url without its password, stream, group,
 * consumer> (sl_journal_name, common/journal_name.h). Only one live
 * process may hold it (flock); when another does, or anything fails, the
 * journal stays off (logged) and the caller keeps acks unbatched.
 * @return 0, or -1 (journal off)
 */
int sl_journal_open(sl_journal *j, const char *redis_url, const char *stream, const char *group, const char *consumer);

/** Record a finished job. Returns its record index, or -1 (off or full: the
 *  caller must not hold the ack back). */
int sl_journal_put(sl_journal *j, int stream, const char *sid, const char *job_id);

/** Forget record ix (its ack was answered). ix < 0 is a no-op. */
void sl_journal_drop(sl_journal *j, int ix);

/** The live record ix (a predecessor's unconfirmed ack), or NULL. For
 *  ix in [0, SL_ACKS_MAX). */
const sl_journal_rec *sl_journal_live(const sl_journal *j, int ix);

/** Unmap and unlock; the file is removed when no record is live. */
void sl_journal_close(sl_journal *j);

#endif
