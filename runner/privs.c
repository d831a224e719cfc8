/* `sluice run`'s privileges (privs.h). The supervisor itself switches user, not
 * each worker: workers are spawned (and respawned) by it, so every one of them
 * is born unprivileged, and the supervisor - which parses HTTP requests and
 * holds the Redis password - does not keep root either. */
#include "runner/privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int sl_privs_setup_run(const sl_config *cfg, char *err, size_t errlen)
{
    const char *user = cfg->run_user && cfg->run_user[0] ? cfg->run_user : NULL;
    const char *group = cfg->run_group && cfg->run_group[0] ? cfg->run_group : NULL;
    if (!user && !group) return 0;
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
            snprintf(err, errlen, "supervisor.group: no such group '%s'%s%s", group, e ? ": " : "", e ? strerror(e) : "");
            return -1;
        }
        gid = gr->gr_gid;
    }
    if (geteuid() != 0) {
        if (uid == geteuid() && (!group || gid == getegid())) {
            fprintf(stderr, "sluice: warning: supervisor.user '%s' is the user sluice runs as already; nothing to "
                            "switch\n", user);
            return 0;
        }
        snprintf(err, errlen,
                 "supervisor.user '%s'%s%s: sluice run is not running as root (uid %u), so it cannot switch user; "
                 "start it as root, or remove supervisor.user / supervisor.group",
                 user, group ? ", supervisor.group " : "", group ? group : "", (unsigned)geteuid());
        return -1;
    }
    if (switch_ids(user, uid, gid, err, errlen) != 0) return -1;
    /* The environment still describes root's session: point HOME and USER at the new user. */
    setenv("HOME", home, 1);
    setenv("USER", user, 1);
    setenv("LOGNAME", user, 1);
    return 0;
}
