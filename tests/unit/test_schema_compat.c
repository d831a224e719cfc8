/* Schema compatibility (common/json/compat.c): every kind of breaking change
 * detected with its JSON pointer, every compatible change accepted, and what
 * cannot be proven ($ref targets, oneOf, not, ...) reported as unverifiable.
 * Schemas are written with ' for " to keep them readable. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "common/json/compat.h"

TestSuite(compat, .timeout = 30);

/* s with every ' turned into " (in a static buffer per slot). */
static const char *dq(const char *s, int slot)
{
    static char bufs[2][8192];
    char *b = bufs[slot];
    size_t n = strlen(s);

    cr_assert_lt(n, sizeof bufs[0]);
    for (size_t i = 0; i <= n; i++)
        b[i] = s[i] == '\'' ? '"' : s[i];
    return b;
}

static sl_compat_report rep;

static int check(const char *old, const char *new_)
{
    char err[512] = "";
    const char *o = dq(old, 0), *n = dq(new_, 1);
    int rc;

    sl_compat_report_free(&rep);
    rc = sl_compat_check(o, strlen(o), n, strlen(n), &rep, err, sizeof err);
    cr_assert_neq(rc, -1, "check failed: %s\nold %s\nnew %s", err, o, n);
    cr_assert_eq(rc == 1, rep.n == 0);
    return rc;
}

/* All changes, one per line, for failure messages. */
static const char *dump(void)
{
    static char out[8192];
    char line[700];
    out[0] = '\0';
    for (size_t i = 0; i < rep.n; i++) {
        strncat(out, sl_compat_format(&rep.changes[i], line, sizeof line), sizeof out - strlen(out) - 2);
        strcat(out, "\n");
    }
    return out;
}

/* NEW breaks OLD with a change at pointer whose formatted line contains part. */
static void breaks(const char *old, const char *new_, const char *pointer, const char *part)
{
    char line[700];

    cr_assert_eq(check(old, new_), 0, "not reported as breaking:\nold %s\nnew %s", old, new_);
    for (size_t i = 0; i < rep.n; i++)
        if (strcmp(rep.changes[i].pointer, pointer) == 0 &&
            strstr(sl_compat_format(&rep.changes[i], line, sizeof line), dq(part, 0)) != NULL)
            return;
    cr_assert_fail("no change at \"%s\" containing \"%s\"; got:\n%s", pointer, dq(part, 0), dump());
}

static void compatible(const char *old, const char *new_)
{
    cr_assert_eq(check(old, new_), 1, "reported as breaking:\nold %s\nnew %s\n%s", old, new_, dump());
}

static void fini(void)
{
    sl_compat_report_free(&rep);
}

TestSuite(compat_kinds, .fini = fini, .timeout = 30);

Test(compat_kinds, removed_property)
{
    breaks("{'properties':{'a':{},'b':{'type':'string'}}}", "{'properties':{'a':{}}}", "/properties/b",
           "property removed");
}

Test(compat_kinds, retyped_property)
{
    breaks("{'properties':{'qty':{'type':['integer','string']}}}", "{'properties':{'qty':{'type':['integer']}}}",
           "/properties/qty", "/properties/qty: type narrowed from ['integer','string'] to ['integer']");
    breaks("{'properties':{'qty':{'type':'string'}}}", "{'properties':{'qty':{'type':'integer'}}}", "/properties/qty",
           "type changed from ['string'] to ['integer']");
    breaks("{'properties':{'n':{'type':'number'}}}", "{'properties':{'n':{'type':'integer'}}}", "/properties/n",
           "type narrowed");
    breaks("{'properties':{'n':{}}}", "{'properties':{'n':{'type':'string'}}}", "/properties/n",
           "type narrowed from any to ['string']");
    breaks("{'type':'object'}", "false", "", "(root): schema changed to false");
}

Test(compat_kinds, new_required_field)
{
    breaks("{'required':['a'],'properties':{'a':{},'customer':{}}}",
           "{'required':['a','customer'],'properties':{'a':{},'customer':{}}}", "/properties/customer",
           "new required field 'customer'");
}

Test(compat_kinds, narrowed_enum_and_const)
{
    breaks("{'enum':['a','b','c']}", "{'enum':['a','b']}", "", "(root): enum narrowed: 'c' removed");
    breaks("{'properties':{'s':{'type':'string'}}}", "{'properties':{'s':{'type':'string','enum':['x']}}}",
           "/properties/s", "enum added");
    breaks("{}", "{'const':1}", "", "const added: 1");
    breaks("{'const':1}", "{'const':2}", "", "const changed from 1 to 2");
    breaks("{'const':'a'}", "{'enum':['b']}", "", "does not include the old const");
}

Test(compat_kinds, narrowed_ranges)
{
    breaks("{'minimum':1}", "{'minimum':2}", "", "minimum raised from 1 to 2");
    breaks("{'type':'number'}", "{'type':'number','minimum':0}", "", "minimum added: 0");
    breaks("{'exclusiveMinimum':0}", "{'exclusiveMinimum':0.5}", "", "exclusiveMinimum raised from 0 to 0.5");
    breaks("{'minimum':0}", "{'exclusiveMinimum':0}", "", "lower bound narrowed from minimum 0 to exclusiveMinimum 0");
    breaks("{'maximum':10}", "{'maximum':9.5}", "", "maximum lowered from 10 to 9.5");
    breaks("{'exclusiveMaximum':10}", "{'exclusiveMaximum':9}", "", "exclusiveMaximum lowered");
    breaks("{'minLength':1}", "{'minLength':2}", "", "minLength raised from 1 to 2");
    breaks("{'maxLength':64}", "{'maxLength':32}", "", "maxLength lowered from 64 to 32");
    breaks("{'minItems':1}", "{'minItems':2}", "", "minItems raised");
    breaks("{'type':'array'}", "{'type':'array','maxItems':5}", "", "maxItems added: 5");
    breaks("{'minProperties':0}", "{'minProperties':1}", "", "minProperties raised");
    breaks("{'maxProperties':3}", "{'maxProperties':2}", "", "maxProperties lowered");
    breaks("{'multipleOf':2}", "{'multipleOf':4}", "", "multipleOf changed from 2 to 4");
    breaks("{}", "{'multipleOf':0.01}", "", "multipleOf added");
    breaks("{'pattern':'^[A-Z]{3}$'}", "{'pattern':'^[A-Z]{2}$'}", "",
           "pattern changed from '^[A-Z]{3}$' to '^[A-Z]{2}$'");
    breaks("{'type':'string'}", "{'type':'string','pattern':'^a'}", "", "pattern added");
    breaks("{'type':'string'}", "{'type':'string','format':'email'}", "", "format added: email");
    breaks("{'type':'array'}", "{'type':'array','uniqueItems':true}", "", "uniqueItems added");
}

Test(compat_kinds, closed_object)
{
    breaks("{'properties':{'a':{}}}", "{'properties':{'a':{}},'additionalProperties':false}", "/additionalProperties",
           "additionalProperties changed from true to false");
    breaks("{'additionalProperties':true}", "{'additionalProperties':false}", "/additionalProperties",
           "from true to false");
    breaks("{}", "{'additionalProperties':{'type':'string'}}", "/additionalProperties", "type narrowed");
}

Test(compat_kinds, items_narrowed_recursively)
{
    const char *old = "{'properties':{'items':{'type':'array','items':{'type':'object','required':['sku'],"
                      "'properties':{'sku':{'type':'string'},'qty':{'type':'integer','minimum':1}}}}}}";
    const char *new_ = "{'properties':{'items':{'type':'array','items':{'type':'object','required':['sku','qty'],"
                       "'properties':{'sku':{'type':'string','maxLength':8},'qty':{'type':'integer','minimum':2}}}}}}";
    breaks(old, new_, "/properties/items/items/properties/qty", "minimum raised from 1 to 2");
    breaks(old, new_, "/properties/items/items/properties/sku", "maxLength added: 8");
    breaks(old, new_, "/properties/items/items/properties/qty", "new required field 'qty'");
    cr_assert_eq(rep.n, 3, "%s", dump());
    breaks("{'items':{'type':'integer'}}", "{'items':[{'type':'integer'},{'type':'integer','maximum':3}]}", "/items/1",
           "maximum added: 3");
    breaks("{'items':[{},{}]}", "{'items':[{}],'additionalItems':false}", "/additionalItems",
           "schema changed to false");
    breaks("{'type':'array'}", "{'type':'array','contains':{'const':1}}", "/contains", "contains added");
}

Test(compat_kinds, dependencies_added)
{
    breaks("{}", "{'dependencies':{'a':['b']}}", "/dependencies/a", "dependency added");
    breaks("{'dependencies':{'a':['b']}}", "{'dependencies':{'a':['b','c']}}", "/dependencies/a",
           "'a' now also requires 'c'");
}

Test(compat_kinds, every_change_listed_with_its_pointer)
{
    cr_assert_eq(check("{'required':['a'],'properties':{'a':{'type':'string'},'b':{'enum':[1,2]},'c':{}}}",
                       "{'required':['a','b'],'properties':{'a':{'type':'integer'},'b':{'enum':[1]}},"
                       "'additionalProperties':false}"),
                 0);
    cr_assert_eq(rep.n, 5, "%s", dump());
    breaks("{'properties':{'a':{'type':'string'},'c':{}}}", "{'properties':{'a':{'type':'integer'}}}", "/properties/c",
           "property removed");
}

TestSuite(compat_ok, .fini = fini, .timeout = 30);

Test(compat_ok, additive_changes)
{
    compatible("{'properties':{'a':{'type':'string'}}}",
               "{'properties':{'a':{'type':'string'},'b':{'type':'integer'}}}");
    compatible("{'type':'integer'}", "{'type':'number'}");
    compatible("{'type':'string'}", "{'type':['string','null']}");
    compatible("{'type':'string'}", "{}");
    compatible("{'enum':['a']}", "{'enum':['a','b']}");
    compatible("{'enum':['a']}", "{}");
    compatible("{'const':'a'}", "{'enum':['a','b']}");
    compatible("{'minimum':1,'maximum':5}", "{'minimum':0,'maximum':6}");
    compatible("{'exclusiveMinimum':0}", "{'minimum':0}");
    compatible("{'minLength':2,'maxLength':3}", "{'minLength':1}");
    compatible("{'minItems':2,'maxItems':3,'uniqueItems':true}", "{}");
    compatible("{'multipleOf':4}", "{'multipleOf':2}");
    compatible("{'required':['a','b'],'properties':{'a':{},'b':{}}}",
               "{'required':['a'],'properties':{'a':{},'b':{}}}");
    compatible("{'additionalProperties':false}", "{'additionalProperties':true}");
    compatible("{'additionalProperties':false,'properties':{'a':{}}}", "{'properties':{'a':{},'b':{'type':'string'}}}");
    compatible("{'type':'string','pattern':'^a'}", "{'type':'string'}");
    compatible("{'type':'integer','pattern':'^a'}", "{'type':'integer','pattern':'^b'}"); /* pattern is for strings */
    compatible("false", "{'type':'string'}");
    compatible("{'type':'string'}", "true");
    compatible("{'title':'a','description':'x','properties':{'a':{'type':'string'}}}",
               "{'title':'b','$comment':'y','examples':[1],'properties':{'a':{'type':'string','description':'z'}}}");
    compatible("{'dependencies':{'a':['b','c']}}", "{'dependencies':{'a':['b']}}");
    compatible("{'items':{'type':'integer','minimum':1}}", "{'items':{'type':'number'}}");
    compatible("{'oneOf':[{'type':'string'},{'type':'integer'}]}", "{'oneOf':[{'type':'string'},{'type':'integer'}]}");
}

Test(compat_ok, anyof_allof_branches)
{
    compatible("{'anyOf':[{'type':'string'},{'type':'integer'}]}",
               "{'anyOf':[{'type':'integer'},{'type':'string'},{'type':'null'}]}");
    compatible("{'allOf':[{'minimum':1},{'maximum':5}]}", "{'allOf':[{'minimum':0}]}");
}

Test(compat_ok, refs_are_followed)
{
    const char *old =
        "{'definitions':{'money':{'type':'object','properties':{'amount':{'type':'number','minimum':0}}}},"
        "'properties':{'total':{'$ref':'#/definitions/money'}}}";
    compatible(old, "{'definitions':{'m':{'type':'object','properties':{'amount':{'type':'number'}}}},"
                    "'properties':{'total':{'$ref':'#/definitions/m'}}}");
    breaks(old,
           "{'definitions':{'money':{'type':'object','properties':{'amount':{'type':'number','minimum':1}}}},"
           "'properties':{'total':{'$ref':'#/definitions/money'}}}",
           "/properties/total/properties/amount", "minimum raised from 0 to 1");
    /* a recursive schema terminates */
    compatible("{'type':'object','properties':{'kids':{'type':'array','items':{'$ref':'#'}}}}",
               "{'type':'object','properties':{'kids':{'type':'array','items':{'$ref':'#'}},'name':{}}}");
}

TestSuite(compat_unverifiable, .fini = fini, .timeout = 30);

Test(compat_unverifiable, ref_changes)
{
    breaks("{'properties':{'a':{'type':'string'}}}", "{'properties':{'a':{'$ref':'http://example.com/a.json'}}}",
           "/properties/a", "unverifiable change at /properties/a ($ref http://example.com/a.json)");
    cr_assert(rep.changes[0].unverifiable);
    compatible("{'properties':{'a':{'$ref':'http://example.com/a.json'}}}",
               "{'properties':{'a':{'$ref':'http://example.com/a.json'}}}");
}

Test(compat_unverifiable, combinator_edits)
{
    breaks("{'oneOf':[{'type':'string'},{'type':'integer'}]}", "{'oneOf':[{'type':'string'},{'type':'number'}]}",
           "/oneOf", "unverifiable change at /oneOf (oneOf added or changed)");
    breaks("{}", "{'not':{'type':'null'}}", "/not", "unverifiable change at /not");
    breaks("{'if':{'required':['a']},'then':{'required':['b']}}", "{'if':{'required':['a']},'then':{'required':['c']}}",
           "/if", "unverifiable change at /if (if/then/else added or changed)");
    breaks("{'anyOf':[{'type':'string'},{'type':'integer'}]}", "{'anyOf':[{'type':'string'}]}", "/anyOf/1",
           "unverifiable change at /anyOf/1");
    breaks("{}", "{'allOf':[{'type':'string'}]}", "/allOf", "unverifiable change at /allOf (allOf added)");
    breaks("{}", "{'patternProperties':{'^x_':{'type':'string'}}}", "/patternProperties/^x_", "unverifiable change");
    cr_assert(rep.changes[0].unverifiable);
}

Test(compat, not_a_schema)
{
    sl_compat_report r = {0};
    char err[512];
    cr_assert_eq(sl_compat_check("{", 1, "{}", 2, &r, err, sizeof err), -1);
    cr_assert(strstr(err, "old schema does not compile"), "%s", err);
    cr_assert_eq(sl_compat_check("{}", 2, "{\"type\":5}", 10, &r, err, sizeof err), -1);
    cr_assert(strstr(err, "new schema does not compile"), "%s", err);
    sl_compat_report_free(&r);
}

Test(compat, example_schema_evolution)
{
    /* config/schemas/order.placed.v1.json evolving: a new optional field is fine,
     * requiring it is not */
    const char *v1 = "{'type':'object','required':['order_id','currency','items'],'properties':{"
                     "'order_id':{'type':'string'},'currency':{'type':'string','pattern':'^[A-Z]{3}$'},"
                     "'items':{'type':'array','minItems':1,'items':{'type':'object','properties':{"
                     "'qty':{'type':'integer','minimum':1}}}}}}";
    const char *v1b = "{'type':'object','required':['order_id','currency','items'],'properties':{"
                      "'order_id':{'type':'string'},'currency':{'type':'string','pattern':'^[A-Z]{3}$'},"
                      "'coupon':{'type':'string'},"
                      "'items':{'type':'array','minItems':1,'items':{'type':'object','properties':{"
                      "'qty':{'type':'integer','minimum':1}}}}}}";
    const char *v1c = "{'type':'object','required':['order_id','currency','items','coupon'],'properties':{"
                      "'order_id':{'type':'string'},'currency':{'type':'string','pattern':'^[A-Z]{3}$'},"
                      "'coupon':{'type':'string'},"
                      "'items':{'type':'array','minItems':1,'items':{'type':'object','properties':{"
                      "'qty':{'type':'integer','minimum':1}}}}}}";
    cr_assert_eq(check(v1, v1b), 1, "%s", dump());
    cr_assert_eq(check(v1b, v1c), 0);
    cr_assert_eq(rep.n, 1, "%s", dump());
    cr_assert_str_eq(rep.changes[0].pointer, "/properties/coupon");
    sl_compat_report_free(&rep);
}

/* A document with a repeated member name is refused before any comparison,
 * whichever side holds it (issue 10, item 1: it once overflowed a heap array). */
Test(compat, duplicate_members_are_refused)
{
    const char *dup = "{\"properties\":{\"a\":{},\"b\":{}},\"properties\":{\"c\":{}}}", *ok = "{}";
    char err[512] = "";
    sl_compat_report r = {0};

    cr_assert_eq(sl_compat_check(dup, strlen(dup), dup, strlen(dup), &r, err, sizeof err), -1);
    cr_assert(strstr(err, "duplicate member \"properties\" at /"), "%s", err);
    err[0] = '\0';
    cr_assert_eq(sl_compat_check(ok, strlen(ok), dup, strlen(dup), &r, err, sizeof err), -1);
    cr_assert(strstr(err, "new schema") && strstr(err, "duplicate"), "%s", err);
    sl_compat_report_free(&r);
}
