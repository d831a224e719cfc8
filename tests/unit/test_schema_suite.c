/* The official JSON Schema Test Suite (Debian package json-schema-test-suite,
 * tests/draft7) against common/json/: every file and case, pass counts per
 * keyword file on stderr, and tests/schema_known_failures.txt checked both ways
 * (every failure listed, every listed case still failing). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/json/schema.h"

#define SUITE_DIR "/usr/share/json-schema-test-suite/tests/draft7"
#define KNOWN_FILE SLUICE_SOURCE_DIR "/tests/schema_known_failures.txt"

/* The optional format files the validator asserts (others are annotations). */
static const char *const format_files[] = {"date-time", "email", "uuid", "ipv4"};

typedef struct known {
    char *file, *group, *test, *reason;
    int hit;
} known;

typedef struct run {
    known *k;
    size_t nk;
    size_t passed, failed, expected;
} run;

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n + 65536 > cap) {
            char *b = realloc(buf, cap = n + 65536 + cap);
            cr_assert_not_null(b);
            buf = b;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

/* Load "file | group | test | reason" lines; '#' starts a comment line. */
static void load_known(run *r)
{
    size_t len;
    char *text = slurp(KNOWN_FILE, &len);
    cr_assert_not_null(text, "cannot read %s", KNOWN_FILE);
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line = trim(line);
        if (!*line || *line == '#')
            continue;
        char *f[4] = {0};
        int n = 0;
        for (char *p = line; n < 4; n++) {
            f[n] = p;
            char *bar = n < 3 ? strstr(p, " | ") : NULL;
            if (!bar)
                break;
            *bar = '\0';
            p = bar + 3;
        }
        cr_assert(n == 3 && f[3] && *trim(f[3]), "%s: malformed line (want \"file | group | test | reason\"): %s",
                  KNOWN_FILE, line);
        r->k = realloc(r->k, (r->nk + 1) * sizeof *r->k);
        cr_assert_not_null(r->k);
        r->k[r->nk++] = (known){strdup(trim(f[0])), strdup(trim(f[1])), strdup(trim(f[2])), strdup(trim(f[3])), 0};
    }
    free(text);
}

static known *find_known(run *r, const char *file, const char *group, const char *test)
{
    for (size_t i = 0; i < r->nk; i++)
        if (!strcmp(r->k[i].file, file) && !strcmp(r->k[i].group, group) && !strcmp(r->k[i].test, test))
            return &r->k[i];
    return NULL;
}

/* Record one case's outcome; why is the failure reason (NULL when it passed). */
static void outcome(run *r, size_t *fpass, size_t *fexp, const char *file, const char *group, const char *test,
                    const char *why)
{
    known *k = find_known(r, file, group, test);
    if (!why) {
        r->passed++, (*fpass)++;
        if (k)
            fprintf(stderr, "  STALE known failure now passes: %s | %s | %s\n", file, group, test);
        return;
    }
    if (k) {
        k->hit = 1;
        r->expected++, (*fexp)++;
        return;
    }
    r->failed++;
    fprintf(stderr, "  FAIL %s | %s | %s | %s\n", file, group, test, why);
}

static void run_file(run *r, const char *path, const char *name)
{
    size_t len, total = 0, fpass = 0, fexp = 0;
    char *text = slurp(path, &len);
    cr_assert_not_null(text, "cannot read %s", path);
    cJSON *doc = cJSON_ParseWithLength(text, len);
    cr_assert(cJSON_IsArray(doc), "%s is not a JSON array", path);
    const cJSON *g, *t;
    cJSON_ArrayForEach(g, doc)
    {
        const char *gdesc = cJSON_GetStringValue(cJSON_GetObjectItem(g, "description"));
        char *stext = cJSON_PrintUnformatted(cJSON_GetObjectItem(g, "schema"));
        char err[512];
        sl_schema *s = sl_schema_compile(stext, strlen(stext), err, sizeof err);
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(g, "tests"))
        {
            const char *tdesc = cJSON_GetStringValue(cJSON_GetObjectItem(t, "description"));
            int want = cJSON_IsTrue(cJSON_GetObjectItem(t, "valid"));
            char why[900];
            const char *reason = NULL;
            total++;
            if (!s) {
                snprintf(why, sizeof why, "compile failed: %s", err);
                reason = why;
            } else {
                /* cJSON keeps numbers as doubles: printing round-trips every double
                 * exactly, but integers beyond 2^53 were already rounded at parse. */
                char *dtext = cJSON_PrintUnformatted(cJSON_GetObjectItem(t, "data"));
                sl_schema_error e = {0};
                int got = sl_schema_validate(s, dtext, strlen(dtext), &e);
                if (got < 0)
                    snprintf(why, sizeof why, "could not validate: %s: %s", e.keyword, e.message);
                else if (got && !want)
                    snprintf(why, sizeof why, "expected invalid, got valid");
                else if (!got && want)
                    snprintf(why, sizeof why, "expected valid, got invalid at \"%s\" (%s: %s)", e.pointer, e.keyword,
                             e.message);
                reason = got < 0 || got != want ? why : NULL;
                free(dtext);
            }
            outcome(r, &fpass, &fexp, name, gdesc, tdesc, reason);
        }
        sl_schema_free(s);
        free(stext);
    }
    fprintf(stderr, "  %-44s %3zu/%-3zu%s", name, fpass, total, fexp ? "" : "\n");
    if (fexp)
        fprintf(stderr, "  (%zu expected failure%s)\n", fexp, fexp == 1 ? "" : "s");
    cJSON_Delete(doc);
    free(text);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run every *.json in SUITE_DIR/sub, sorted. */
static void run_dir(run *r, const char *sub)
{
    char dir[512], path[1024], name[512];
    snprintf(dir, sizeof dir, "%s%s%s", SUITE_DIR, *sub ? "/" : "", sub);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open %s", dir);
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l > 5 && !strcmp(de->d_name + l - 5, ".json")) {
            names = realloc(names, (n + 1) * sizeof *names);
            names[n++] = strdup(de->d_name);
        }
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(name, sizeof name, "%s%s%s", sub, *sub ? "/" : "", names[i]);
        run_file(r, path, name);
        free(names[i]);
    }
    free(names);
}

Test(schema_suite, draft7, .timeout = 120)
{
    struct stat sb;
    cr_assert(stat(SUITE_DIR, &sb) == 0 && S_ISDIR(sb.st_mode),
              "%s is missing: install the Debian package json-schema-test-suite", SUITE_DIR);
    run r = {0};
    load_known(&r);
    fprintf(stderr, "JSON Schema Test Suite, draft7 (%s):\n", SUITE_DIR);
    run_dir(&r, "");
    run_dir(&r, "optional");
    for (size_t i = 0; i < sizeof format_files / sizeof format_files[0]; i++) {
        char path[512], name[128];
        snprintf(name, sizeof name, "optional/format/%s.json", format_files[i]);
        snprintf(path, sizeof path, "%s/%s", SUITE_DIR, name);
        if (stat(path, &sb) == 0)
            run_file(&r, path, name);
        else
            fprintf(stderr, "  %-44s not in this version of the suite\n", name);
    }
    size_t stale = 0;
    for (size_t i = 0; i < r.nk; i++) {
        if (!r.k[i].hit) {
            stale++;
            fprintf(stderr, "  STALE %s | %s | %s (listed as failing, but it passes or is gone)\n", r.k[i].file,
                    r.k[i].group, r.k[i].test);
        }
    }
    fprintf(stderr, "draft7: %zu passed, %zu failed, %zu expected failures\n", r.passed, r.failed, r.expected);
    if (r.expected) {
        fprintf(stderr, "expected failures (%s):\n", KNOWN_FILE);
        for (size_t i = 0; i < r.nk; i++)
            if (r.k[i].hit)
                fprintf(stderr, "  %s | %s | %s | %s\n", r.k[i].file, r.k[i].group, r.k[i].test, r.k[i].reason);
    }
    for (size_t i = 0; i < r.nk; i++) {
        free(r.k[i].file);
        free(r.k[i].group);
        free(r.k[i].test);
        free(r.k[i].reason);
    }
    free(r.k);
    cr_expect_eq(r.failed, 0, "%zu suite cases fail and are not in %s (listed above as FAIL)", r.failed, KNOWN_FILE);
    cr_expect_eq(stale, 0, "%zu entries of %s no longer fail (listed above as STALE): remove them", stale, KNOWN_FILE);
}
