/* `sluice run`'s privileges and secrets at start (run.h). The supervisor
 * itself switches user, not
 * each worker: workers are spawned (and respawned) by it, so every one of them
 * is born unprivileged, and the supervisor - which parses HTTP requests and
 * holds the Redis password - does not keep root either. */
#include "runner/run.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/journal_name.h"
#include "common/keys.h"
#include "common/partition.h"
#include "common/url.h"
#include "common/util.h"

/* Slot indexes looked at beyond a pool's size: the most workers a pool may
 * have (common/config.c); SIGTTIN can grow a pool further, rarely by much. */
#define PRUNE_SLOTS_MAX 1024

/* Switch to uid/gid for good. Returns 0, or -1 with err set. */
static int switch_ids(const char *user, uid_t uid, gid_t gid, char *err, size_t errlen)
{
    if (initgroups(user, gid) != 0) {
        int e = errno;
        snprintf(err, errlen, "supervisor.user: initgroups(%s, %u) failed: %s", user, (unsigned)gid, strerror(e));
        return -1;
    }
    /* The group first: once the uid is not 0 it can no longer be changed. */
    if (setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) {
        int e = errno;
        snprintf(err, errlen, "supervisor.user: switching to %s (uid %u, gid %u) failed: %s", user, (unsigned)uid,
                 (unsigned)gid, strerror(e));
        return -1;
    }
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 || ru != uid || eu != uid || su != uid ||
        rg != gid || eg != gid || sg != gid) {
        snprintf(err, errlen, "supervisor.user: after switching to %s the process ids are not uid %u / gid %u", user,
                 (unsigned)uid, (unsigned)gid);
        return -1;
    }
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        snprintf(err, errlen, "supervisor.user: after switching to %s the process could become root again", user);
        return -1;
    }
    return 0;
}

static int drop_privileges(const sl_config *cfg, char *err, size_t errlen)
{
    const char *user = cfg->run_user && cfg->run_user[0] ? cfg->run_user : NULL;
    const char *group = cfg->run_group && cfg->run_group[0] ? cfg->run_group : NULL;
    if (!user && !group)
        return 0;
    if (!user) {
        snprintf(err, errlen, "supervisor.group is set without supervisor.user: set both, or neither");
        return -1;
    }
    errno = 0;
    const struct passwd *pw = getpwnam(user);
    if (!pw) {
        int e = errno;
        snprintf(err, errlen, "supervisor.user: no such user '%s'%s%s", user, e ? ": " : "", e ? strerror(e) : "");
        return -1;
    }
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    char home[4096];
    snprintf(home, sizeof home, "%s", pw->pw_dir ? pw->pw_dir : "/"); /* pw is static: the next lookup reuses it */
    if (group) {
        errno = 0;
        const struct group *gr = getgrnam(group);
        if (!gr) {
            int e = errno;
            snprintf(err, errlen, "supervisor.group: no such group '%s'%s%s", group, e ? ": " : "",
                     e ? strerror(e) : "");
            return -1;
        }
        gid = gr->gr_gid;
    }
    if (geteuid() != 0) {
        if (uid == geteuid() && (!group || gid == getegid())) {
            fprintf(stderr,
                    "sluice: warning: supervisor.user '%s' is the user sluice runs as already; nothing to "
                    "switch\n",
                    user);
            return 0;
        }
        snprintf(err, errlen,
                 "supervisor.user '%s'%s%s: sluice run is not running as root (uid %u), so it cannot switch user; "
                 "start it as root, or remove supervisor.user / supervisor.group",
                 user, group ? ", supervisor.group " : "", group ? group : "", (unsigned)geteuid());
        return -1;
    }
    if (switch_ids(user, uid, gid, err, errlen) != 0)
        return -1;
    /* The environment still describes root's session: point HOME and USER at the new user. */
    setenv("HOME", home, 1);
    setenv("USER", user, 1);
    setenv("LOGNAME", user, 1);
    return 0;
}

/* Warn when the config file itself holds a password in redis.url and others
 * may read it (the password may come from $SLUICE_REDIS_URL instead: then the
 * file is fine). */
static void warn_readable_secret(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !(st.st_mode & (S_IRGRP | S_IROTH)))
        return;
    if (st.st_size <= 0 || st.st_size > (16 << 20))
        return;
    size_t len = (size_t)st.st_size;
    char *text = malloc(len);
    FILE *f = text ? fopen(path, "rb") : NULL;
    if (!f || fread(text, 1, len, f) != len) {
        if (f)
            fclose(f);
        free(text);
        return;
    }
    fclose(f);
    cJSON *root = cJSON_ParseWithLength(text, len);
    explicit_bzero(text, len);
    free(text);
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "redis"), "url");
    sl_url u;
    char e[256];
    int secret = cJSON_IsString(url) && sl_url_parse(url->valuestring, &u, e, sizeof e) == 0 && u.password[0];
    if (cJSON_IsString(url)) {
        explicit_bzero(url->valuestring, strlen(url->valuestring));
        sl_url_wipe(&u);
    }
    cJSON_Delete(root);
    if (secret)
        fprintf(stderr,
                "sluice: warning: %s holds the Redis password (redis.url) and is readable by group/others "
                "(mode %04o): chmod 600 it, or move the password to SLUICE_REDIS_URL or -u @FILE\n",
                path, (unsigned)(st.st_mode & 07777));
}

/* Remove this host's journals of slots [workers, PRUNE_SLOTS_MAX) of each pool. */
static void prune_journals(const sl_config *cfg, const char *hostname)
{
    int removed = 0;
    for (size_t i = 0; i < cfg->npools; i++) {
        const sl_pool_cfg *p = &cfg->pools[i];
        char stream[SL_KEY_MAX], consumer[512], part[SL_PARTITION_NAME_MAX];
        for (size_t k = 0; k < p->nqueues; k++) { /* a journal per queue of pools[].queues... */
            const char *queue = p->queues[k].name;
            int nparts = sl_part_count(cfg, queue); /* ...and partition */
            for (int j = 0; j < nparts; j++) {
                if (sl_part_name(part, sizeof part, queue, nparts, j) != 0 ||
                    sl_key_stream(stream, sizeof stream, part) != 0)
                    continue;
                for (int slot = p->workers; slot < PRUNE_SLOTS_MAX; slot++) {
                    /* The name the supervisor gives the slot's consumer (runner/slot.c). */
                    if (sl_fmt(consumer, sizeof consumer, "%s-%s-%d", hostname, p->name, slot) != 0)
                        break;
                    if (sl_journal_remove_stale(cfg->redis_url, stream, p->group, consumer) == 1)
                        removed++;
                }
            }
        }
    }
    if (removed)
        fprintf(stderr, "sluice: removed %d stale ack journal(s) of worker slots beyond their pool's size\n", removed);
}

int sl_run_prepare(const sl_config *cfg, const char *path, const char *hostname, int check, char *err, size_t errlen)
{
    warn_readable_secret(path);
    if (drop_privileges(cfg, err, errlen) != 0)
        return -1;
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* a uid change resets it: set it again */
    if (!check)
        prune_journals(cfg, hostname);
    return 0;
}
