/* The JSON Schema validator (common/json/) beyond the official suite: exact
 * error pointers, keywords and messages, compile errors, formats, PCRE2
 * options, the bounds against hostile schemas and payloads, sharing one schema
 * between threads, and a realistic order.placed.v1 event schema. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json/schema.h"

static sl_schema *compile_ok(const char *json)
{
    char err[512];
    sl_schema *s = sl_schema_compile(json, strlen(json), err, sizeof err);
    cr_assert_not_null(s, "compile %s: %s", json, err);
    return s;
}

/* Compile must fail with a message containing each of the parts (NULL-ended). */
static void compile_fails(const char *json, const char *part, const char *part2)
{
    char err[512];
    sl_schema *s = sl_schema_compile(json, strlen(json), err, sizeof err);
    cr_assert_null(s, "compiled: %s", json);
    cr_assert(strstr(err, part), "message \"%s\" lacks \"%s\"", err, part);
    cr_assert(!part2 || strstr(err, part2), "message \"%s\" lacks \"%s\"", err, part2);
    cr_assert(!strchr(err, '\n'), "message is not one line: %s", err);
}

static int validate(const sl_schema *s, const char *json, sl_schema_error *e)
{
    memset(e, 0, sizeof *e);
    return sl_schema_validate(s, json, strlen(json), e);
}

/* Validate and check the result and, unless valid, pointer and keyword. */
static void expect(const sl_schema *s, const char *json, int want, const char *pointer, const char *keyword)
{
    sl_schema_error e;
    int got = validate(s, json, &e);
    cr_assert_eq(got, want, "%.200s: got %d (%s %s: %s), want %d", json, got, e.pointer, e.keyword, e.message, want);
    if (want == 1)
        return;
    cr_assert_str_eq(e.pointer, pointer, "%.200s: pointer \"%s\" (%s: %s)", json, e.pointer, e.keyword, e.message);
    cr_assert_str_eq(e.keyword, keyword, "%.200s: keyword \"%s\" (%s)", json, e.keyword, e.message);
    cr_assert(e.message[0], "no message");
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A growable string for building large inputs. */
typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const char *s)
{
    size_t l = strlen(s);
    if (b->n + l + 1 > b->cap) {
        b->cap = (b->n + l + 1) * 2;
        b->p = realloc(b->p, b->cap);
        cr_assert_not_null(b->p);
    }
    memcpy(b->p + b->n, s, l + 1);
    b->n += l;
}

/* ---- error reports ---- */

Test(schema, nested_violation_pointer_keyword_message)
{
    sl_schema *s = compile_ok("{\"type\":\"object\",\"properties\":{\"items\":{\"type\":\"array\",\"items\":"
                              "{\"type\":\"object\",\"properties\":{\"qty\":{\"type\":\"number\",\"minimum\":3}}}}}}");
    sl_schema_error e;
    cr_assert_eq(validate(s, "{\"items\":[{\"qty\":3},{\"qty\":4},{\"qty\":2.5}]}", &e), 0);
    cr_assert_str_eq(e.pointer, "/items/2/qty");
    cr_assert_str_eq(e.keyword, "minimum");
    cr_assert_str_eq(e.message, "2.5 is less than the minimum 3");
    expect(s, "{\"items\":[{\"qty\":3},{\"qty\":4}]}", 1, NULL, NULL);
    expect(s, "{\"items\":{}}", 0, "/items", "type");
    expect(s, "[]", 0, "", "type");
    sl_schema_free(s);
}

Test(schema, pointer_escapes_and_first_violation_order)
{
    sl_schema *s = compile_ok("{\"properties\":{\"a/b~c\":{\"maximum\":1}},\"additionalProperties\":false,"
                              "\"required\":[\"a/b~c\"]}");
    expect(s, "{\"a/b~c\":2}", 0, "/a~1b~0c", "maximum");
    expect(s, "{\"a/b~c\":1,\"zz\":0}", 0, "/zz", "additionalProperties");
    expect(s, "{}", 0, "", "required");
    sl_schema_error e;
    validate(s, "{}", &e);
    cr_assert_str_eq(e.message, "required property \"a/b~c\" is missing");
    sl_schema_free(s);
}

Test(schema, combinator_and_array_keywords_report_where)
{
    sl_schema *s = compile_ok("{\"items\":[{\"type\":\"string\"}],\"additionalItems\":false}");
    expect(s, "[\"a\",1]", 0, "/1", "additionalItems");
    sl_schema_free(s);
    s = compile_ok("{\"uniqueItems\":true}");
    expect(s, "[1,{\"a\":[1,2]},3,{\"a\":[1.0,2]}]", 0, "/3", "uniqueItems");
    sl_schema_free(s);
    s = compile_ok("{\"properties\":{\"p\":{\"anyOf\":[{\"type\":\"string\"},{\"minimum\":10}]}}}");
    expect(s, "{\"p\":5}", 0, "/p", "anyOf");
    expect(s, "{\"p\":11}", 1, NULL, NULL);
    sl_schema_free(s);
    s = compile_ok("{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":2}]}");
    expect(s, "3", 0, "", "oneOf");
    sl_schema_free(s);
    s = compile_ok("{\"propertyNames\":{\"maxLength\":3}}");
    expect(s, "{\"abcd\":1}", 0, "/abcd", "propertyNames");
    sl_schema_free(s);
    s = compile_ok("{\"if\":{\"properties\":{\"k\":{\"const\":\"a\"}}},\"then\":{\"required\":[\"x\"]},"
                   "\"else\":{\"properties\":{\"x\":{\"type\":\"string\"}}}}");
    expect(s, "{\"k\":\"a\"}", 0, "", "required");
    expect(s, "{\"k\":\"b\",\"x\":1}", 0, "/x", "type");
    sl_schema_free(s);
    s = compile_ok("{\"dependencies\":{\"card\":[\"billing\"]}}");
    expect(s, "{\"card\":1}", 0, "", "dependencies");
    sl_schema_free(s);
}

/* ---- keyword semantics ---- */

Test(schema, numbers_integers_and_multiple_of)
{
    sl_schema *s = compile_ok("{\"type\":\"integer\"}");
    expect(s, "1.0", 1, NULL, NULL);
    expect(s, "-0", 1, NULL, NULL);
    expect(s, "1.5", 0, "", "type");
    sl_schema_free(s);
    s = compile_ok("{\"multipleOf\":0.0001}");
    expect(s, "0.0075", 1, NULL, NULL);
    expect(s, "0.00751", 0, "", "multipleOf");
    expect(s, "12345.6789", 1, NULL, NULL);
    sl_schema_free(s);
    s = compile_ok("{\"multipleOf\":0.123456789}");
    expect(s, "1e308", 0, "", "multipleOf"); /* the quotient overflows: not a multiple, no crash */
    sl_schema_free(s);
    s = compile_ok("{\"multipleOf\":3}");
    expect(s, "1e20", 0, "", "multipleOf"); /* exact fmod beyond 2^52 */
    expect(s, "3e20", 1, NULL, NULL);
    sl_schema_free(s);
    s = compile_ok("{\"exclusiveMinimum\":0,\"exclusiveMaximum\":1}");
    expect(s, "0", 0, "", "exclusiveMinimum");
    expect(s, "1", 0, "", "exclusiveMaximum");
    expect(s, "0.5", 1, NULL, NULL);
    sl_schema_free(s);
}

Test(schema, string_length_counts_code_points)
{
    sl_schema *s = compile_ok("{\"maxLength\":5,\"minLength\":3}");
    expect(s, "\"h\\u00e9llo\"", 1, NULL, NULL); /* 5 code points, 6 bytes */
    expect(s, "\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"", 1, NULL, NULL); /* 3 code points, 9 bytes */
    expect(s, "\"\xf0\x9f\x92\xa9\xf0\x9f\x92\xa9\"", 0, "", "minLength"); /* 2 astral code points */
    expect(s, "\"abcdef\"", 0, "", "maxLength");
    sl_schema_free(s);
}

Test(schema, deep_equality_for_enum_and_const)
{
    sl_schema *s = compile_ok("{\"const\":{\"a\":[1,{\"b\":null}],\"c\":\"x\"}}");
    expect(s, "{\"c\":\"x\",\"a\":[1.0,{\"b\":null}]}", 1, NULL, NULL);
    expect(s, "{\"c\":\"x\",\"a\":[1,{\"b\":false}]}", 0, "", "const");
    expect(s, "{\"c\":\"x\",\"a\":[1,{\"b\":null}],\"d\":1}", 0, "", "const");
    sl_schema_free(s);
    s = compile_ok("{\"enum\":[false,0,\"0\"]}");
    expect(s, "0.0", 1, NULL, NULL);
    expect(s, "false", 1, NULL, NULL);
    expect(s, "null", 0, "", "enum");
    sl_schema_free(s);
}

Test(schema, formats)
{
    sl_schema *s = compile_ok("{\"format\":\"date-time\"}");
    expect(s, "\"2024-02-29T12:00:00.5+01:00\"", 1, NULL, NULL);
    expect(s, "\"1998-12-31T23:59:60Z\"", 1, NULL, NULL);
    expect(s, "\"1998-12-31T15:59:60-08:00\"", 1, NULL, NULL); /* 23:59:60 UTC */
    expect(s, "\"1998-12-31T23:58:60Z\"", 0, "", "format");
    expect(s, "\"2023-02-29T12:00:00Z\"", 0, "", "format");
    expect(s, "\"2024-01-01 12:00:00Z\"", 0, "", "format");
    expect(s, "\"2024-01-01T12:00:00\"", 0, "", "format");
    expect(s, "42", 1, NULL, NULL); /* formats apply to strings only */
    sl_schema_free(s);
    s = compile_ok("{\"format\":\"email\"}");
    expect(s, "\"joe.bloggs@example.com\"", 1, NULL, NULL);
    expect(s, "\"\\\"joe bloggs\\\"@example.com\"", 1, NULL, NULL);
    expect(s, "\"joe@[127.0.0.1]\"", 1, NULL, NULL);
    expect(s, "\"joe@[IPv6:::1]\"", 1, NULL, NULL);
    expect(s, "\"joe..bloggs@example.com\"", 0, "", "format");
    expect(s, "\".joe@example.com\"", 0, "", "format");
    expect(s, "\"joe@invalid=domain.com\"", 0, "", "format");
    expect(s, "\"joe@[127.0.0.300]\"", 0, "", "format");
    sl_schema_free(s);
    s = compile_ok("{\"format\":\"uuid\"}");
    expect(s, "\"2EB8AA08-AA98-11EA-B4AA-73B441D16380\"", 1, NULL, NULL);
    expect(s, "\"2eb8aa08-aa98-11ea-b4aa-73b441d1638\"", 0, "", "format");
    expect(s, "\"2eb8aa08aa9811eab4aa73b441d16380\"", 0, "", "format");
    sl_schema_free(s);
    s = compile_ok("{\"format\":\"ipv4\"}");
    expect(s, "\"192.168.0.1\"", 1, NULL, NULL);
    expect(s, "\"087.10.0.1\"", 0, "", "format");
    expect(s, "\"1.2.3.4 \"", 0, "", "format");
    sl_schema_free(s);
    s = compile_ok("{\"format\":\"hostname\"}"); /* annotation only */
    expect(s, "\"-not a host-\"", 1, NULL, NULL);
    sl_schema_free(s);
}

Test(schema, patterns_use_pcre2_with_ecma_leaning_options)
{
    sl_schema *s = compile_ok("{\"pattern\":\"^abc$\"}");
    expect(s, "\"abc\"", 1, NULL, NULL);
    expect(s, "\"abc\\n\"", 0, "", "pattern"); /* "$" is end-only, as in ECMA-262 */
    sl_schema_free(s);
    s = compile_ok("{\"pattern\":\"^\\\\u00e9\\\\u{1F4A9}$\"}"); /* ECMA-262 \\u escapes */
    expect(s, "\"\\u00e9\\ud83d\\udca9\"", 1, NULL, NULL);
    sl_schema_free(s);
    s = compile_ok("{\"pattern\":\"^[^](a)?\\\\1.$\"}"); /* [^] is any; unset \\1 is empty */
    expect(s, "\"xy\"", 1, NULL, NULL);
    expect(s, "\"x\\r\"", 0, "", "pattern"); /* "." does not match CR */
    sl_schema_free(s);
    s = compile_ok("{\"pattern\":\"b+\"}"); /* unanchored search */
    expect(s, "\"abbbc\"", 1, NULL, NULL);
    sl_schema_free(s);
    s = compile_ok("{\"patternProperties\":{\"^x-\":{\"type\":\"string\"}},\"additionalProperties\":false}");
    expect(s, "{\"x-a\":\"1\"}", 1, NULL, NULL);
    expect(s, "{\"x-a\":1}", 0, "/x-a", "type");
    expect(s, "{\"y\":\"1\"}", 0, "/y", "additionalProperties");
    sl_schema_free(s);
}

Test(schema, refs_by_pointer_id_and_anchor)
{
    sl_schema *s =
        compile_ok("{\"$id\":\"http://example.com/root.json\",\"definitions\":{"
                   "\"A\":{\"$id\":\"#foo\",\"type\":\"integer\"},"
                   "\"B\":{\"$id\":\"other.json\",\"definitions\":{\"X\":{\"$id\":\"#bar\",\"type\":\"string\"}}},"
                   "\"s~/%\":{\"minimum\":5}},"
                   "\"properties\":{\"a\":{\"$ref\":\"#foo\"},\"b\":{\"$ref\":\"other.json#bar\"},"
                   "\"c\":{\"$ref\":\"#/definitions/s~0~1%25\"},\"d\":{\"$ref\":\"http://example.com/other.json\"},"
                   "\"e\":{\"$ref\":\"#/definitions/A\",\"type\":\"string\"}}}");
    expect(s, "{\"a\":1,\"b\":\"x\",\"c\":6,\"d\":{},\"e\":3}", 1, NULL, NULL);
    expect(s, "{\"a\":\"1\"}", 0, "/a", "type");
    expect(s, "{\"b\":1}", 0, "/b", "type");
    expect(s, "{\"c\":4}", 0, "/c", "minimum");
    expect(s, "{\"e\":\"x\"}", 0, "/e", "type"); /* "$ref" siblings are ignored */
    sl_schema_free(s);
    /* The built-in draft-07 meta-schema checks schemas. */
    s = compile_ok("{\"$ref\":\"http://json-schema.org/draft-07/schema#\"}");
    expect(s, "{\"type\":\"string\",\"minLength\":2}", 1, NULL, NULL);
    expect(s, "{\"properties\":{\"a\":{\"minLength\":-1}}}", 0, "/properties/a/minLength", "minimum");
    sl_schema_free(s);
}

Test(schema, remote_ref_compiles_but_cannot_validate)
{
    sl_schema *s = compile_ok("{\"properties\":{\"a\":{\"$ref\":\"http://example.com/x.json#/y\"}}}");
    expect(s, "{\"b\":1}", 1, NULL, NULL); /* not reached */
    sl_schema_error e;
    cr_assert_eq(validate(s, "{\"a\":1}", &e), -1);
    cr_assert_str_eq(e.keyword, "$ref");
    cr_assert_str_eq(e.pointer, "/a");
    cr_assert(strstr(e.message, "http://example.com/x.json#/y"), "%s", e.message);
    sl_schema_free(s);
}

Test(schema, boolean_schemas_anywhere)
{
    sl_schema *s = compile_ok("false");
    expect(s, "null", 0, "", "false");
    sl_schema_free(s);
    s = compile_ok("{\"properties\":{\"a\":false,\"b\":true},\"items\":false}");
    expect(s, "{\"a\":1}", 0, "/a", "false");
    expect(s, "{\"b\":1}", 1, NULL, NULL);
    expect(s, "[1]", 0, "/0", "false");
    expect(s, "[]", 1, NULL, NULL);
    sl_schema_free(s);
}

/* ---- compile errors ---- */

Test(schema, compile_errors_name_the_problem)
{
    compile_fails("{\"type\":", "not valid JSON", "offset");
    compile_fails("42", "object or a boolean", NULL);
    compile_fails("{\"type\":5}", "\"type\" must be a string or an array", "/type");
    compile_fails("{\"type\":\"strin\"}", "unknown type", NULL);
    compile_fails("{\"properties\":{\"a\":3}}", "not a schema", "/properties/a");
    compile_fails("{\"minLength\":-1}", "non-negative integer", "/minLength");
    compile_fails("{\"maxItems\":1.5}", "non-negative integer", NULL);
    compile_fails("{\"multipleOf\":0}", "greater than 0", NULL);
    compile_fails("{\"allOf\":[]}", "non-empty array", "/allOf");
    compile_fails("{\"required\":[\"a\",1]}", "array of strings", "/required");
    compile_fails("{\"enum\":3}", "must be an array", NULL);
    compile_fails("{\"uniqueItems\":1}", "boolean", NULL);
    compile_fails("{\"items\":[{},3]}", "not a schema", "/items/1");
    compile_fails("{\"dependencies\":{\"a\":[1]}}", "array of strings", "/dependencies/a");
    compile_fails("{\"pattern\":\"(abc\"}", "missing closing parenthesis", "at offset 4");
    compile_fails("{\"patternProperties\":{\"a[\":{}}}", "invalid regular expression", "offset 2");
    compile_fails("{\"pattern\":\"a{2,1}\"}", "invalid regular expression", "offset");
    compile_fails("{\"properties\":{\"x\":{\"$ref\":\"#/definitions/missing\"}}}", "no such target",
                  "/properties/x/$ref");
    compile_fails("{\"$ref\":\"#nowhere\"}", "no such target", NULL);
    compile_fails("{\"$ref\":5}", "must be a string", NULL);
    char err[8];
    cr_assert_null(sl_schema_compile("{\"type\":5}", 10, err, sizeof err)); /* short err buffer */
    cr_assert_eq(strlen(err), sizeof err - 1);
    cr_assert_null(sl_schema_compile("{", 1, NULL, 0));
    sl_schema_free(NULL);
}

/* cJSON keeps every member of a repeated name; a schema compiler that reads
 * each occurrence in turn once overflowed a heap array (issue 10, item 1).
 * Every object of the document is checked, keyword or not, at any depth. */
Test(schema, duplicate_members_are_refused_at_every_level)
{
    compile_fails("{\"properties\":{\"a\":{},\"b\":{}},\"properties\":{\"c\":{}}}",
                  "duplicate member \"properties\" at /", NULL);
    compile_fails("{\"patternProperties\":{\"^a\":{},\"^b\":{}},\"patternProperties\":{\"^c\":{}}}",
                  "duplicate member \"patternProperties\" at /", NULL);
    compile_fails("{\"dependencies\":{\"a\":[\"b\"],\"c\":{}},\"dependencies\":{\"d\":[]}}",
                  "duplicate member \"dependencies\" at /", NULL);
    compile_fails("{\"anyOf\":[{}],\"anyOf\":[{},{}]}", "duplicate member \"anyOf\" at /", NULL);
    compile_fails("{\"pattern\":\"a\",\"pattern\":\"b\"}", "duplicate member \"pattern\" at /", NULL);
    compile_fails("{\"properties\":{\"a\":{\"type\":\"string\",\"type\":\"integer\"}}}",
                  "duplicate member \"type\" at /properties/a", NULL);
    compile_fails("{\"properties\":{\"x\":{},\"y\":{},\"x\":{}}}", "duplicate member \"x\" at /properties", NULL);
    compile_fails("{\"items\":[{},{\"not\":{\"a/b\":1,\"a/b\":2}}]}", "duplicate member \"a/b\" at /items/1/not", NULL);
    /* not a subschema position: still one object of the document */
    compile_fails("{\"enum\":[1,{\"k\":1,\"k\":2}]}", "duplicate member \"k\" at /enum/1", NULL);
    compile_fails("{\"definitions\":{\"d~\":{\"const\":{\"z\":0,\"z\":0}}}}",
                  "duplicate member \"z\" at /definitions/d~0/const", NULL);
    /* a large object: found by sorting, not by comparing every pair */
    buf b = {0};
    put(&b, "{\"properties\":{");
    char m[48];
    for (int i = 0; i < 20000; i++) {
        snprintf(m, sizeof m, "%s\"p%d\":{}", i ? "," : "", i);
        put(&b, m);
    }
    put(&b, ",\"p7\":{}}}");
    compile_fails(b.p, "duplicate member \"p7\" at /properties", NULL);
    free(b.p);
    /* the same name in different objects is fine */
    sl_schema_free(compile_ok("{\"properties\":{\"type\":{\"type\":\"object\",\"properties\":{\"type\":{}}}}}"));
}

Test(schema, instance_errors)
{
    sl_schema *s = compile_ok("{}");
    sl_schema_error e;
    cr_assert_eq(validate(s, "{\"a\":", &e), -1);
    cr_assert_str_eq(e.keyword, "json");
    cr_assert(strstr(e.message, "offset"), "%s", e.message);
    cr_assert_eq(sl_schema_validate(s, "\"\xff\"", 3, &e), -1);
    cr_assert_str_eq(e.keyword, "json");
    cr_assert_eq(sl_schema_validate(s, "1", 1, NULL), 1);
    cr_assert_eq(sl_schema_validate(s, "x", 1, NULL), -1);
    cJSON *x = cJSON_Parse("[1,2]");
    cr_assert_eq(sl_schema_validate_cjson(s, x, &e), 1);
    cJSON_Delete(x);
    sl_schema_free(s);
}

/* ---- hostile schemas and payloads ---- */

Test(schema, ref_loops_hit_the_depth_limit)
{
    const char *loops[] = {
        "{\"$ref\":\"#\"}",
        "{\"definitions\":{\"a\":{\"$ref\":\"#/definitions/b\"},\"b\":{\"$ref\":\"#/definitions/a\"}},"
        "\"$ref\":\"#/definitions/a\"}",
        "{\"allOf\":[{\"$ref\":\"#\"}]}",
        "{\"anyOf\":[{\"not\":{\"$ref\":\"#\"}}]}",
    };
    for (size_t i = 0; i < sizeof loops / sizeof loops[0]; i++) {
        sl_schema *s = compile_ok(loops[i]);
        sl_schema_error e;
        cr_assert_eq(validate(s, "{\"a\":1}", &e), -1, "%s", loops[i]);
        cr_assert_str_eq(e.keyword, "limit");
        sl_schema_free(s);
    }
    /* A recursive schema that descends the instance is fine. */
    sl_schema *s = compile_ok("{\"type\":\"object\",\"properties\":{\"next\":{\"$ref\":\"#\"}}}");
    expect(s, "{\"next\":{\"next\":{\"next\":{}}}}", 1, NULL, NULL);
    expect(s, "{\"next\":{\"next\":{\"next\":1}}}", 0, "/next/next/next", "type");
    sl_schema_free(s);
}

Test(schema, deep_schemas_are_bounded)
{
    /* 600 nested "not"s: deeper than the compile bound. */
    buf b = {0};
    for (int i = 0; i < 600; i++)
        put(&b, "{\"not\":");
    put(&b, "{}");
    for (int i = 0; i < 600; i++)
        put(&b, "}");
    compile_fails(b.p, "nested deeper than", NULL);
    /* 200 nested "allOf"s compile, but exceed the subschema depth at one value. */
    b.n = 0;
    for (int i = 0; i < 200; i++)
        put(&b, "{\"allOf\":[");
    put(&b, "{}");
    for (int i = 0; i < 200; i++)
        put(&b, "]}");
    sl_schema *s = compile_ok(b.p);
    sl_schema_error e;
    cr_assert_eq(validate(s, "1", &e), -1);
    cr_assert_str_eq(e.keyword, "limit");
    sl_schema_free(s);
    free(b.p);
}

Test(schema, catastrophic_backtracking_hits_the_pcre2_limit)
{
    sl_schema *s = compile_ok("{\"properties\":{\"p\":{\"pattern\":\"(a+)+$\"}}}");
    buf b = {0};
    put(&b, "{\"p\":\"");
    for (int i = 0; i < 5000; i++)
        put(&b, "a");
    put(&b, "!\"}");
    sl_schema_error e;
    double t0 = now_s();
    cr_assert_eq(validate(s, b.p, &e), -1);
    double dt = now_s() - t0;
    cr_assert_str_eq(e.keyword, "limit");
    cr_assert_str_eq(e.pointer, "/p");
    cr_assert(strstr(e.message, "PCRE2"), "%s", e.message);
    cr_assert_lt(dt, 2.0, "took %.2fs", dt);
    expect(s, "{\"p\":\"aaa\"}", 1, NULL, NULL);
    sl_schema_free(s);
    free(b.p);
}

Test(schema, unique_items_on_10k_elements_is_fast)
{
    sl_schema *s = compile_ok("{\"uniqueItems\":true}");
    buf b = {0};
    char item[64];
    put(&b, "[");
    for (int i = 0; i < 10000; i++) {
        snprintf(item, sizeof item, "%s{\"id\":%d,\"tags\":[\"t\",%d]}", i ? "," : "", i, i % 7);
        put(&b, item);
    }
    put(&b, "]");
    double t0 = now_s();
    expect(s, b.p, 1, NULL, NULL);
    b.p[--b.n] = '\0';
    put(&b, ",{\"tags\":[\"t\",2],\"id\":9}]"); /* equals item 9, keys reordered */
    expect(s, b.p, 0, "/10000", "uniqueItems");
    double dt = now_s() - t0;
    cr_assert_lt(dt, 2.0, "took %.2fs", dt);
    sl_schema_error e;
    validate(s, b.p, &e);
    cr_assert_str_eq(e.message, "item 10000 equals item 9");
    b.n = 0;
    put(&b, "[");
    for (int i = 0; i < 10000; i++)
        put(&b, i ? ",1" : "1"); /* all equal: one hash bucket */
    put(&b, "]");
    expect(s, b.p, 0, "/1", "uniqueItems");
    sl_schema_free(s);
    free(b.p);
}

Test(schema, deeply_nested_instance_hits_the_limit)
{
    sl_schema *s = compile_ok("{}");
    buf b = {0};
    for (int i = 0; i < 300; i++)
        put(&b, "[");
    for (int i = 0; i < 300; i++)
        put(&b, "]");
    sl_schema_error e;
    cr_assert_eq(validate(s, b.p, &e), -1);
    cr_assert_str_eq(e.keyword, "limit");
    cr_assert(strstr(e.message, "nested"), "%s", e.message);
    b.n = 0;
    for (int i = 0; i < 200; i++)
        put(&b, "{\"a\":");
    put(&b, "1");
    for (int i = 0; i < 200; i++)
        put(&b, "}");
    expect(s, b.p, 1, NULL, NULL);
    sl_schema_free(s);
    /* Beyond the JSON checker's own nesting bound the answer is still "limit". */
    b.n = 0;
    for (int i = 0; i < 1100; i++)
        put(&b, "[");
    s = compile_ok("true");
    cr_assert_eq(validate(s, b.p, &e), -1);
    cr_assert_str_eq(e.keyword, "limit");
    sl_schema_free(s);
    free(b.p);
}

Test(schema, step_budget_stops_exponential_schemas)
{
    /* Each level doubles the work: 2^40 evaluations without a budget. */
    buf b = {0};
    put(&b, "{\"definitions\":{\"l0\":{\"type\":\"string\"}");
    char def[160];
    for (int i = 1; i <= 40; i++) {
        snprintf(def, sizeof def,
                 ",\"l%d\":{\"anyOf\":[{\"$ref\":\"#/definitions/l%d\"},{\"$ref\":\"#/definitions/l%d\"}]}", i, i - 1,
                 i - 1);
        put(&b, def);
    }
    put(&b, "},\"$ref\":\"#/definitions/l40\"}");
    sl_schema *s = compile_ok(b.p);
    sl_schema_error e;
    double t0 = now_s();
    cr_assert_eq(validate(s, "1", &e), -1);
    cr_assert_lt(now_s() - t0, 5.0);
    cr_assert_str_eq(e.keyword, "limit");
    cr_assert(strstr(e.message, "budget"), "%s", e.message);
    expect(s, "\"ok\"", 1, NULL, NULL); /* the first branch succeeds at once */
    sl_schema_free(s);
    free(b.p);
}

/* The reproducer of issue 10, item 2: 40,000 strings that each cost a
 * backtracking pattern most of its per-match limit, in an anyOf whose second
 * branch accepts them. One validation has one budget, regex work included, so
 * this stops early with "validation budget exceeded" instead of running for
 * minutes (the suite's timeout fails it if it does not stop). */
static char *redos_array(int n)
{
    buf b = {0};
    put(&b, "[");
    for (int i = 0; i < n; i++)
        put(&b, i ? ",\"aaaaaaaaaaaaaaaaaa!\"" : "\"aaaaaaaaaaaaaaaaaa!\"");
    put(&b, "]");
    return b.p;
}

Test(schema, regex_work_counts_against_one_validation_budget, .timeout = 60)
{
    sl_schema *s = compile_ok("{\"type\":\"array\",\"items\":{\"anyOf\":[{\"type\":\"string\",\"pattern\":\"^(a+)+$\"},"
                              "{\"type\":\"string\"}]}}");
    char *p = redos_array(40000);
    sl_schema_error e;
    cr_assert_eq(validate(s, p, &e), -1, "%s %s: %s", e.pointer, e.keyword, e.message);
    cr_assert_str_eq(e.keyword, "limit");
    cr_assert(strstr(e.message, "validation budget exceeded"), "%s", e.message);
    cr_assert_neq(strcmp(e.pointer, "/39999"), 0, "stopped early, not at the last item: %s", e.pointer);
    /* the form: the pattern straight in the item schema's anyOf */
    sl_schema *s2 = compile_ok("{\"items\":{\"anyOf\":[{\"pattern\":\"^(a+)+$\"},{\"type\":\"string\"}]}}");
    cr_assert_eq(validate(s2, p, &e), -1);
    cr_assert(strstr(e.message, "validation budget exceeded"), "%s", e.message);
    /* a few such strings fit in the budget and validate */
    free(p);
    p = redos_array(3);
    expect(s, p, 1, NULL, NULL);
    free(p);
    sl_schema_free(s2);
    sl_schema_free(s);
}

/* Cheap matches cost little of the budget: a large payload of ordinary
 * patterned strings still validates. */
Test(schema, many_cheap_pattern_matches_fit_the_budget, .timeout = 60)
{
    sl_schema *s = compile_ok("{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
                              "\"sku\":{\"type\":\"string\",\"pattern\":\"^[A-Z]{2}-[0-9]+$\"},"
                              "\"tag\":{\"type\":\"string\",\"pattern\":\"^[a-z]+(-[a-z]+)*$\"}},"
                              "\"patternProperties\":{\"^x-\":{\"type\":\"string\"}}}}");
    buf b = {0};
    put(&b, "[");
    for (int i = 0; i < 40000; i++)
        put(&b, i ? ",{\"sku\":\"AB-12345\",\"tag\":\"red-big-box\",\"x-a\":\"1\"}"
                  : "{\"sku\":\"AB-12345\",\"tag\":\"red-big-box\",\"x-a\":\"1\"}");
    put(&b, "]");
    expect(s, b.p, 1, NULL, NULL);
    free(b.p);
    sl_schema_free(s);
}

/* ---- sharing ---- */

typedef struct shared {
    const sl_schema *s;
    int bad;
} shared;

static void *hammer(void *arg)
{
    shared *sh = arg;
    for (int i = 0; i < 2000; i++) {
        sl_schema_error e;
        const char *good = "{\"id\":\"x1\",\"n\":[1,2,3]}", *bad = "{\"id\":\"!\",\"n\":[1,2,2]}";
        if (sl_schema_validate(sh->s, good, strlen(good), &e) != 1)
            sh->bad++;
        if (sl_schema_validate(sh->s, bad, strlen(bad), &e) != 0 || strcmp(e.pointer, "/id"))
            sh->bad++;
    }
    return NULL;
}

Test(schema, one_schema_shared_by_threads)
{
    sl_schema *s = compile_ok("{\"properties\":{\"id\":{\"pattern\":\"^[a-z][0-9]$\"},"
                              "\"n\":{\"uniqueItems\":true}}}");
    pthread_t t[4];
    shared sh[4];
    for (int i = 0; i < 4; i++) {
        sh[i] = (shared){s, 0};
        cr_assert_eq(pthread_create(&t[i], NULL, hammer, &sh[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(sh[i].bad, 0);
    }
    sl_schema_free(s);
}

/* ---- a realistic event schema ---- */

static const char order_schema[] =
    "{\"$schema\":\"http://json-schema.org/draft-07/schema#\","
    "\"$id\":\"https://schemas.example.com/order.placed.v1.json\",\"title\":\"order.placed.v1\","
    "\"type\":\"object\",\"additionalProperties\":false,"
    "\"required\":[\"order_id\",\"placed_at\",\"customer\",\"items\",\"total\"],"
    "\"properties\":{"
    "\"order_id\":{\"type\":\"string\",\"format\":\"uuid\"},"
    "\"placed_at\":{\"type\":\"string\",\"format\":\"date-time\"},"
    "\"customer\":{\"type\":\"object\",\"required\":[\"id\",\"email\"],\"properties\":{"
    "\"id\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":64},"
    "\"email\":{\"type\":\"string\",\"format\":\"email\"},"
    "\"ip\":{\"type\":\"string\",\"format\":\"ipv4\"}}},"
    "\"items\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":100,\"items\":{\"$ref\":\"#/definitions/line\"}},"
    "\"total\":{\"$ref\":\"#/definitions/money\"},"
    "\"coupon\":{\"type\":[\"string\",\"null\"],\"pattern\":\"^[A-Z0-9]{4,12}$\"}},"
    "\"definitions\":{"
    "\"money\":{\"type\":\"object\",\"required\":[\"amount\",\"currency\"],\"additionalProperties\":false,"
    "\"properties\":{\"amount\":{\"type\":\"number\",\"minimum\":0,\"multipleOf\":0.01},"
    "\"currency\":{\"type\":\"string\",\"pattern\":\"^[A-Z]{3}$\"}}},"
    "\"line\":{\"type\":\"object\",\"required\":[\"sku\",\"qty\",\"price\"],\"properties\":{"
    "\"sku\":{\"type\":\"string\",\"pattern\":\"^[A-Z]{3}-[0-9]{4}$\"},"
    "\"qty\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":999},"
    "\"price\":{\"$ref\":\"#/definitions/money\"}}}}}";

#define GOOD_ITEMS                                                                        \
    "[{\"sku\":\"ABC-0001\",\"qty\":2,\"price\":{\"amount\":9.99,\"currency\":\"EUR\"}}," \
    "{\"sku\":\"XYZ-0042\",\"qty\":1,\"price\":{\"amount\":0.1,\"currency\":\"EUR\"}}]"
#define ORDER(id, at, customer, items, total, extra) \
    "{\"order_id\":" id ",\"placed_at\":" at ",\"customer\":" customer ",\"items\":" items ",\"total\":" total extra "}"
#define OK_ID "\"6f1c2b1e-8a4d-4c1e-9b8e-2f7d1a3c5e90\""
#define OK_AT "\"2024-05-01T10:15:00.123Z\""
#define OK_CUST "{\"id\":\"c-17\",\"email\":\"ana@example.com\",\"ip\":\"10.0.0.7\"}"
#define OK_TOTAL "{\"amount\":20.08,\"currency\":\"EUR\"}"

Test(schema, order_placed_v1)
{
    sl_schema *s = compile_ok(order_schema);
    expect(s, ORDER(OK_ID, OK_AT, OK_CUST, GOOD_ITEMS, OK_TOTAL, ""), 1, NULL, NULL);
    expect(s, ORDER(OK_ID, OK_AT, OK_CUST, GOOD_ITEMS, OK_TOTAL, ",\"coupon\":null"), 1, NULL, NULL);
    expect(s, ORDER(OK_ID, OK_AT, OK_CUST, GOOD_ITEMS, OK_TOTAL, ",\"coupon\":\"SPRING24\""), 1, NULL, NULL);

    expect(s, ORDER("\"nope\"", OK_AT, OK_CUST, GOOD_ITEMS, OK_TOTAL, ""), 0, "/order_id", "format");
    expect(s, ORDER(OK_ID, "\"2024-13-01T00:00:00Z\"", OK_CUST, GOOD_ITEMS, OK_TOTAL, ""), 0, "/placed_at", "format");
    expect(s, ORDER(OK_ID, OK_AT, "{\"id\":\"c\",\"email\":\"not-an-email\"}", GOOD_ITEMS, OK_TOTAL, ""), 0,
           "/customer/email", "format");
    expect(s, ORDER(OK_ID, OK_AT, "{\"id\":\"c\"}", GOOD_ITEMS, OK_TOTAL, ""), 0, "/customer", "required");
    expect(s, ORDER(OK_ID, OK_AT, "{\"id\":\"c\",\"email\":\"a@b.c\",\"ip\":\"300.1.1.1\"}", GOOD_ITEMS, OK_TOTAL, ""),
           0, "/customer/ip", "format");
    expect(s, ORDER(OK_ID, OK_AT, OK_CUST, "[]", OK_TOTAL, ""), 0, "/items", "minItems");
    expect(s,
           ORDER(OK_ID, OK_AT, OK_CUST,
                 "[{\"sku\":\"ABC-0001\",\"qty\":2,\"price\":{\"amount\":1,\"currency\":\"EUR\"}},"
                 "{\"sku\":\"ABC-0002\",\"qty\":1.5,\"price\":{\"amount\":1,\"currency\":\"EUR\"}}]",
                 OK_TOTAL, ""),
           0, "/items/1/qty", "type");
    expect(s,
           ORDER(OK_ID, OK_AT, OK_CUST,
                 "[{\"sku\":\"ABC-0001\",\"qty\":0,\"price\":{\"amount\":1,\"currency\":\"EUR\"}}]", OK_TOTAL, ""),
           0, "/items/0/qty", "minimum");
    expect(s,
           ORDER(OK_ID, OK_AT, OK_CUST, "[{\"sku\":\"abc-1\",\"qty\":1,\"price\":{\"amount\":1,\"currency\":\"EUR\"}}]",
                 OK_TOTAL, ""),
           0, "/items/0/sku", "pattern");
    expect(s,
           ORDER(OK_ID, OK_AT, OK_CUST,
                 "[{\"sku\":\"ABC-0001\",\"qty\":1,\"price\":{\"amount\":1.005,\"currency\":\"EUR\"}}]", OK_TOTAL, ""),
           0, "/items/0/price/amount", "multipleOf");
    expect(s, ORDER(OK_ID, OK_AT, OK_CUST, GOOD_ITEMS, "{\"amount\":20.08,\"currency\":\"euro\"}", ""), 0,
           "/total/currency", "pattern");
    expect(s, ORDER(OK_ID, OK_AT, OK_CUST, GOOD_ITEMS, "{\"amount\":-1,\"currency\":\"EUR\"}", ""), 0, "/total/amount",
           "minimum");
    expect(s, ORDER(OK_ID, OK_AT, OK_CUST, GOOD_ITEMS, OK_TOTAL, ",\"note\":\"hi\""), 0, "/note",
           "additionalProperties");
    expect(s, ORDER(OK_ID, OK_AT, OK_CUST, GOOD_ITEMS, OK_TOTAL, ",\"coupon\":5"), 0, "/coupon", "type");
    expect(s, "{\"order_id\":" OK_ID "}", 0, "", "required");
    sl_schema_free(s);
}
