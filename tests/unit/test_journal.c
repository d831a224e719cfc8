/* The worker's ack journal (workers/journal.c): records outlive the process
 * that wrote them, the file goes away once empty, and a file another user could
 * have planted (a symlink, a group/world-writable file) is never used. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/journal_name.h"
#include "support/th.h"
#include "workers/journal.h"

static const char *url(void)
{
    static char u[64];
    snprintf(u, sizeof u, "redis://test-journal-%d/0", (int)getpid());
    return u;
}

Test(journal, records_outlive_the_writer_and_the_file_goes_when_empty)
{
    sl_journal j;
    cr_assert_eq(sl_journal_open(&j, url(), "sluice:{q}", "g", "c1"), 0);
    int ix = sl_journal_put(&j, 0, "1-1", "job-1");
    cr_assert(ix >= 0);
    char path[sizeof j.path];
    snprintf(path, sizeof path, "%s", j.path);
    sl_journal_close(&j); /* a live record: the file stays, as after a crash */
    cr_assert_eq(access(path, F_OK), 0, "journal kept while a record is live");

    cr_assert_eq(sl_journal_open(&j, url(), "sluice:{q}", "g", "c1"), 0, "the successor maps it");
    const sl_journal_rec *r = sl_journal_live(&j, ix);
    cr_assert_not_null(r, "the predecessor's record is visible");
    cr_assert_str_eq(r->sid, "1-1");
    cr_assert_str_eq(r->job_id, "job-1");
    sl_journal_drop(&j, ix);
    sl_journal_close(&j);
    cr_assert_neq(access(path, F_OK), 0, "an empty journal is removed");
}

Test(journal, a_second_live_holder_is_refused)
{
    sl_journal a, b;
    cr_assert_eq(sl_journal_open(&a, url(), "sluice:{q}", "g", "c2"), 0);
    cr_assert_eq(sl_journal_open(&b, url(), "sluice:{q}", "g", "c2"), -1, "flock held by the first");
    sl_journal_close(&a);
}

Test(journal, planted_files_are_never_used)
{
    sl_journal j;
    cr_assert_eq(sl_journal_open(&j, url(), "sluice:{q}", "g", "c3"), 0);
    char path[sizeof j.path];
    snprintf(path, sizeof path, "%s", j.path);
    sl_journal_close(&j);
    cr_assert_neq(access(path, F_OK), 0);

    char target[512];
    snprintf(target, sizeof target, "%s/planted", th_tmpdir());
    FILE *f = fopen(target, "w");
    fclose(f);
    cr_assert_eq(symlink(target, path), 0);
    cr_assert_eq(sl_journal_open(&j, url(), "sluice:{q}", "g", "c3"), -1, "a symlink is refused");
    unlink(path);

    f = fopen(path, "w");
    fclose(f);
    chmod(path, 0666);
    cr_assert_eq(sl_journal_open(&j, url(), "sluice:{q}", "g", "c3"), -1, "a world-writable file is refused");
    unlink(path);
}

/* The file name is a hash of the URL without its password: a journal's name
 * tells nothing about the password, and a changed password keeps the journal. */
Test(journal, the_name_does_not_depend_on_the_password)
{
    char a[128], b[128], plain[128];
    snprintf(a, sizeof a, "redis://:s3cret@test-journal-%d/0", (int)getpid());
    snprintf(b, sizeof b, "redis://:other@test-journal-%d/0", (int)getpid());
    snprintf(plain, sizeof plain, "redis://test-journal-%d/0", (int)getpid());
    sl_journal j, k, m;
    cr_assert_eq(sl_journal_open(&j, a, "sluice:{q}", "g", "c4"), 0);
    int ix = sl_journal_put(&j, 0, "1-1", "job-1");
    cr_assert_geq(ix, 0);
    sl_journal_close(&j); /* a live record keeps the file */
    cr_assert_eq(sl_journal_open(&k, b, "sluice:{q}", "g", "c4"), 0);
    cr_assert_str_eq(k.path, j.path, "another password, the same journal");
    cr_assert_not_null(sl_journal_live(&k, ix), "the record is found under the new password");
    sl_journal_drop(&k, ix);
    sl_journal_close(&k);
    cr_assert_eq(sl_journal_open(&m, plain, "sluice:{q}", "g", "c4"), 0);
    cr_assert_str_neq(m.path, j.path, "with no password at all the URL differs");
    sl_journal_close(&m);
}

/* A stale journal (left by a worker that died) is removed; one a live worker
 * holds, one that is not ours and a missing one stay as they are. */
Test(journal, remove_stale_removes_only_unlocked_journals_of_ours)
{
    sl_journal j[3];
    char paths[3][256], consumer[32];
    for (int i = 0; i < 3; i++) {
        snprintf(consumer, sizeof consumer, "stale-%d", i);
        cr_assert_eq(sl_journal_open(&j[i], url(), "sluice:{q}", "g", consumer), 0);
        cr_assert_geq(sl_journal_put(&j[i], 0, "1-1", "job-1"), 0);
        snprintf(paths[i], sizeof paths[i], "%s", j[i].path);
        sl_journal_close(&j[i]); /* left behind, as by a crashed worker */
    }
    sl_journal held;
    cr_assert_eq(sl_journal_open(&held, url(), "sluice:{q}", "g", "stale-1"), 0); /* a live worker again */
    if (geteuid() == 0)
        cr_assert_eq(chown(paths[2], 65534, 65534), 0);

    cr_assert_eq(sl_journal_remove_stale(url(), "sluice:{q}", "g", "stale-0"), 1);
    cr_assert_neq(access(paths[0], F_OK), 0, "the stale journal is removed");
    cr_assert_eq(sl_journal_remove_stale(url(), "sluice:{q}", "g", "stale-0"), 0, "nothing left");
    cr_assert_eq(sl_journal_remove_stale(url(), "sluice:{q}", "g", "stale-1"), -1);
    cr_assert_eq(access(paths[1], F_OK), 0, "a journal a live worker holds is kept");
    if (geteuid() == 0) {
        cr_assert_eq(sl_journal_remove_stale(url(), "sluice:{q}", "g", "stale-2"), -1);
        cr_assert_eq(access(paths[2], F_OK), 0, "a file of another user is kept");
    }
    sl_journal_close(&held);
    for (int i = 0; i < 3; i++)
        unlink(paths[i]);
}

static const char *ident(const char *url)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    sl_journal_identity(url, buf[k], sizeof buf[k]);
    return buf[k];
}

Test(journal, the_identity_is_the_deployment_not_a_node)
{
    /* one server: the URL as written (the names journals always had), password hidden */
    cr_assert_str_eq(ident("redis://:pw@h:1/2"), "redis://:***@h:1/2");
    /* a cluster: its seeds, in any order */
    cr_assert_str_eq(ident("redis+cluster://b:2,a:1,a:3"), ident("redis+cluster://a:3,a:1,b:2"));
    cr_assert_str_eq(ident("redis+cluster://u:pw@b:2,a:1"), "cluster:u@a:1,b:2");
    cr_assert_str_neq(ident("redis+cluster://a:1"), ident("redis+cluster://a:2"));
    /* Sentinel: the master's name and db, whichever sentinels are listed */
    cr_assert_str_eq(ident("redis+sentinel://s1,s2/mymaster/3"), ident("redis+sentinel://:pw@s9:26380/mymaster/3"));
    cr_assert_str_eq(ident("redis+sentinel://s1/mymaster"), "sentinel:@mymaster/0");
    cr_assert_str_neq(ident("redis+sentinel://s1/mymaster/1"), ident("redis+sentinel://s1/mymaster/2"));
    cr_assert_str_neq(ident("redis+sentinel://s1/a"), ident("redis+sentinel://s1/b"));
    cr_assert(strstr(ident("redis+sentinel://u:TOPSECRET@s1/m"), "SECRET") == NULL);

    char p1[512], p2[512];
    cr_assert_eq(sl_journal_name(p1, sizeof p1, "redis+sentinel://s1:1,s2:2/m", "sluice:{q}", "g", "c"), 0);
    cr_assert_eq(sl_journal_name(p2, sizeof p2, "redis+sentinel://s3:3/m", "sluice:{q}", "g", "c"), 0);
    cr_assert_str_eq(p1, p2, "a failover or new sentinels keep the journal");
}
