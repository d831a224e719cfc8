/* The worker's ack journal (workers/journal.c): records outlive the process
 * that wrote them, the file goes away once empty, and a file another user could
 * have planted (a symlink, a group/world-writable file) is never used. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
