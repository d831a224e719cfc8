/* `sluice schema`: the schema registry from the command line: list, show,
 * register (refused when not compatible with the registered schema), check two
 * files for compatibility (no Redis needed) and validate a payload against a
 * registered schema. Registry and rules: docs/schemas-registry.md. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "common/registry.h"
#include "common/util.h"

#define MAX_INPUT (1024 * 1024) /* largest schema or payload read */

static const char usage_text[] =
    "usage: sluice schema list [-u URL] [--json]\n"
    "       sluice schema show [-u URL] TYPE\n"
    "       sluice schema register [-u URL] TYPE FILE|-\n"
    "       sluice schema check OLD_FILE NEW_FILE\n"
    "       sluice schema validate [-u URL] TYPE JSON|-\n"
    "\n"
    "The schema registry: one JSON Schema (draft-07) per event type, stored in Redis\n"
    "(hash sluice:{:schemas}, type -> schema) so producers in any language can fetch it.\n"
    "\n"
    "  list       every registered type with its size, $id and title (--json: as JSON)\n"
    "  show       print the schema registered for TYPE\n"
    "  register   register FILE (\"-\": stdin) as the schema of TYPE; refused (exit 1) when\n"
    "             a schema is registered and FILE is not compatible with it; registering\n"
    "             the same schema again changes nothing\n"
    "  check      whether NEW_FILE can replace OLD_FILE under additive-only evolution:\n"
    "             prints \"compatible\" (exit 0) or one line per breaking change (exit 1)\n"
    "  validate   validate the payload JSON (\"-\": stdin) against TYPE's schema: prints\n"
    "             \"valid\" (exit 0) or where and why it is invalid (exit 1)\n"
    "\n"
    "  -u, --url URL   Redis URL; default $SLUICE_REDIS_URL, else redis://127.0.0.1:6379/0\n"
    "      --json      (list) print a JSON array\n"
    "  -h, --help      print this help (also after a subcommand)\n"
    "\n"
    "Compatible: added optional properties, widened types, enums and ranges, removed\n"
    "required fields. Breaking: a removed property, a narrowed or changed type, a new\n"
    "required field, a narrowed enum or range (minimum, maximum, lengths, item counts),\n"
    "a new or changed pattern/const/format, additionalProperties set to false, and any\n"
    "change that cannot be proven compatible ($ref targets, oneOf, not, if/then/else).\n"
    "Exit status: 0 done, 1 failure, refused or invalid, 2 usage error.\n";

typedef struct schema_args {
    const char *sub;
    const char *url;
    int json;
    char **pos; /* positional arguments after the subcommand */
    int npos;
} schema_args;

static int usage_error(const char *what, const char *arg)
{
    if (arg != NULL) /* cut at '=' so a mistyped --url=... never prints a password */
        fprintf(stderr, "sluice schema: %s '%.*s' (see `sluice schema --help`)\n", what,
                (int)strcspn(arg, "=") < 64 ? (int)strcspn(arg, "=") : 64, arg);
    else
        fprintf(stderr, "sluice schema: %s (see `sluice schema --help`)\n", what);
    return 2;
}

/* Parse argv (argv[0] == "schema"). -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, schema_args *a)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    memset(a, 0, sizeof *a);
    if (argc < 2)
        return usage_error("missing subcommand", NULL);
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    a->sub = argv[1];
    optind = 0; /* full getopt reset: main may have parsed before */
    opterr = 0;
    while ((ch = getopt_long(argc - 1, argv + 1, ":u:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            a->url = optarg;
            break;
        case 'j':
            a->json = 1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case ':':
            return usage_error("missing value for option", argv[optind]);
        default:
            return usage_error("unknown option", argv[optind]);
        }
    }
    a->pos = argv + 1 + optind;
    a->npos = argc - 1 - optind;
    return -1;
}

/* Read a file ("-": stdin) of at most MAX_INPUT bytes, NUL-terminated. NULL after printing why. */
static char *read_input(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *buf;
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "sluice schema: open(%s) failed: %s\n", path, strerror(errno));
        return NULL;
    }
    buf = malloc(MAX_INPUT + 1);
    n = buf != NULL ? fread(buf, 1, MAX_INPUT + 1, f) : 0;
    if (buf == NULL || ferror(f) || n > MAX_INPUT) {
        fprintf(stderr, "sluice schema: reading %s failed: %s\n", path,
                buf == NULL ? "out of memory"
                : ferror(f) ? strerror(errno)
                            : "larger than 1 MiB");
        free(buf);
        buf = NULL;
    } else {
        buf[n] = '\0';
        *len = n;
    }
    if (f != stdin)
        fclose(f);
    return buf;
}

static int check_type_arg(const char *type)
{
    if (sl_valid_type(type, strlen(type)))
        return 0;
    return usage_error("invalid type (expected [a-z0-9_.-]{1,128})", type);
}

/* Print a scalar as JSON (strings escaped). */
static void print_scalar(const cJSON *v)
{
    char *text = cJSON_PrintUnformatted(v);
    fputs(text != NULL ? text : "null", stdout);
    free(text);
}

/* Print v indented by two spaces per level (cJSON_Print indents with tabs). */
static void print_pretty(const cJSON *v, int depth)
{
    const cJSON *it;
    int obj = cJSON_IsObject(v);

    if (!obj && !cJSON_IsArray(v)) {
        print_scalar(v);
        return;
    }
    if (v->child == NULL) {
        fputs(obj ? "{}" : "[]", stdout);
        return;
    }
    putchar(obj ? '{' : '[');
    cJSON_ArrayForEach(it, v)
    {
        printf("\n%*s", (depth + 1) * 2, "");
        if (obj) {
            cJSON *key = cJSON_CreateString(it->string);
            print_scalar(key);
            cJSON_Delete(key);
            fputs(": ", stdout);
        }
        print_pretty(it, depth + 1);
        if (it->next != NULL)
            putchar(',');
    }
    printf("\n%*s%c", depth * 2, "", obj ? '}' : ']');
}

/* A string member of a schema document, or "". */
static const char *member(const cJSON *doc, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int cmd_list(sl_redis *r, const schema_args *a)
{
    sl_registry_entry *v;
    size_t n, width = 4;
    char err[512];
    cJSON *out = a->json ? cJSON_CreateArray() : NULL;

    if (sl_registry_list(r, &v, &n, err, sizeof err) != 0) {
        fprintf(stderr, "sluice schema list: %s\n", err);
        cJSON_Delete(out);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        width = strlen(v[i].type) > width ? strlen(v[i].type) : width;
    if (!a->json)
        printf("%-*s %8s  %s\n", (int)width, "TYPE", "SIZE", "ID / TITLE");
    for (size_t i = 0; i < n; i++) {
        cJSON *doc = cJSON_ParseWithLength(v[i].json, v[i].len);
        const char *id = member(doc, "$id"), *title = member(doc, "title");
        if (out != NULL) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "type", v[i].type);
            cJSON_AddNumberToObject(o, "size", (double)v[i].len);
            cJSON_AddStringToObject(o, "id", id);
            cJSON_AddStringToObject(o, "title", title);
            cJSON_AddItemToArray(out, o);
        } else {
            printf("%-*s %8zu  %s%s%s\n", (int)width, v[i].type, v[i].len, id, id[0] && title[0] ? " / " : "", title);
        }
        cJSON_Delete(doc);
    }
    if (out != NULL) {
        print_pretty(out, 0);
        putchar('\n');
        cJSON_Delete(out);
    }
    sl_registry_entries_free(v, n);
    return 0;
}

static int cmd_show(sl_redis *r, const char *type)
{
    char err[512], *text = NULL;
    size_t len = 0;
    cJSON *doc;
    int rc = sl_registry_get(r, type, &text, &len, err, sizeof err);

    if (rc <= 0) {
        if (rc < 0)
            fprintf(stderr, "sluice schema show: %s\n", err);
        else
            fprintf(stderr, "sluice schema show: no schema registered for type %s\n", type);
        return 1;
    }
    doc = cJSON_ParseWithLength(text, len);
    if (doc != NULL) {
        print_pretty(doc, 0);
        putchar('\n');
    } else {
        puts(text); /* not JSON (written by hand?): as stored */
    }
    cJSON_Delete(doc);
    free(text);
    return 0;
}

static void print_changes(FILE *out, const sl_compat_report *rep, const char *indent)
{
    char line[700];

    for (size_t i = 0; i < rep->n; i++)
        fprintf(out, "%s%s\n", indent, sl_compat_format(&rep->changes[i], line, sizeof line));
    if (rep->truncated)
        fprintf(out, "%s... more (only the first %d are listed)\n", indent, SL_COMPAT_MAX_CHANGES);
}

static int cmd_register(sl_redis *r, const char *type, const char *file)
{
    sl_compat_report rep = {0};
    char err[4096];
    size_t len = 0;
    char *text = read_input(file, &len);
    sl_reg_outcome o;

    if (text == NULL)
        return 1;
    o = sl_registry_put(r, type, text, len, &rep, err, sizeof err);
    free(text);
    switch (o) {
    case SL_REG_ADDED:
        printf("registered %s (new)\n", type);
        break;
    case SL_REG_UPDATED:
        printf("registered %s (compatible with the previous schema)\n", type);
        break;
    case SL_REG_UNCHANGED:
        printf("%s unchanged (the same schema is registered)\n", type);
        break;
    case SL_REG_INCOMPATIBLE:
        if (rep.n == 0) {
            fprintf(stderr, "sluice schema register: refused: %s\n", err);
        } else {
            fprintf(stderr, "sluice schema register: refused: %s is not compatible with the registered schema of %s:\n",
                    file, type);
            print_changes(stderr, &rep, "  ");
        }
        break;
    default:
        fprintf(stderr, "sluice schema register: %s: %s\n", file, err);
        break;
    }
    sl_compat_report_free(&rep);
    return o == SL_REG_ADDED || o == SL_REG_UPDATED || o == SL_REG_UNCHANGED ? 0 : 1;
}

static int cmd_check(const char *old_file, const char *new_file)
{
    sl_compat_report rep = {0};
    size_t olen = 0, nlen = 0;
    char err[512];
    char *old_text = read_input(old_file, &olen);
    char *new_text = old_text != NULL ? read_input(new_file, &nlen) : NULL;
    int rc = 1;

    if (new_text != NULL) {
        switch (sl_compat_check(old_text, olen, new_text, nlen, &rep, err, sizeof err)) {
        case 1:
            puts("compatible");
            rc = 0;
            break;
        case 0:
            print_changes(stdout, &rep, "");
            break;
        default:
            fprintf(stderr, "sluice schema check: %s\n", err);
        }
    }
    sl_compat_report_free(&rep);
    free(new_text);
    free(old_text);
    return rc;
}

static int cmd_validate(sl_redis *r, const char *type, const char *arg)
{
    int from_stdin = strcmp(arg, "-") == 0;
    size_t len = strlen(arg);
    char *text = from_stdin ? read_input("-", &len) : NULL;
    sl_registry_cache *cache = sl_registry_cache_new(r);
    sl_schema_error e;
    int rc = -1;

    if (cache != NULL && (text != NULL || !from_stdin))
        rc = sl_registry_validate(cache, type, from_stdin ? text : arg, len, &e);
    switch (rc) {
    case 1:
        puts("valid");
        break;
    case 0:
        printf("invalid at %s: %s (%s)\n", sl_compat_where(e.pointer), e.keyword, e.message);
        break;
    case 2:
        fprintf(stderr, "sluice schema validate: no schema registered for type %s\n", type);
        break;
    default:
        if (cache == NULL)
            fprintf(stderr, "sluice schema validate: out of memory\n");
        else if (text != NULL || !from_stdin)
            fprintf(stderr, "sluice schema validate: cannot validate: %s (%s)\n", e.message, e.keyword);
    }
    sl_registry_cache_free(cache);
    free(text);
    return rc == 1 ? 0 : 1;
}

int sl_cmd_schema(int argc, char **argv)
{
    static const struct {
        const char *name;
        int min, max;
    } subs[] = {
        {"list", 0, 0}, {"show", 1, 1}, {"register", 2, 2}, {"check", 2, 2}, {"validate", 2, 2},
    };
    schema_args a;
    sl_redis *r;
    size_t s;
    int rc = parse_args(argc, argv, &a);

    if (rc >= 0)
        return rc;
    for (s = 0; s < sizeof subs / sizeof subs[0]; s++)
        if (strcmp(a.sub, subs[s].name) == 0)
            break;
    if (s == sizeof subs / sizeof subs[0])
        return usage_error("unknown subcommand", a.sub);
    if (a.npos < subs[s].min)
        return usage_error("missing argument for", a.sub);
    if (a.npos > subs[s].max)
        return usage_error("unexpected argument", a.pos[subs[s].max]);
    if (a.json && strcmp(a.sub, "list") != 0)
        return usage_error("--json is for list only, not", a.sub);
    if (strcmp(a.sub, "check") == 0)
        return cmd_check(a.pos[0], a.pos[1]);
    if (strcmp(a.sub, "list") != 0 && check_type_arg(a.pos[0]) != 0)
        return 2;
    r = sl_cli_connect("schema", a.url); /* the log to stderr at warn, as every command */
    if (r == NULL)
        return 1;
    if (strcmp(a.sub, "list") == 0)
        rc = cmd_list(r, &a);
    else if (strcmp(a.sub, "show") == 0)
        rc = cmd_show(r, a.pos[0]);
    else if (strcmp(a.sub, "register") == 0)
        rc = cmd_register(r, a.pos[0], a.pos[1]);
    else
        rc = cmd_validate(r, a.pos[0], a.pos[1]);
    sl_redis_free(r);
    return rc;
}
