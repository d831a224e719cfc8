#!/usr/bin/env python3
"""Write the seed corpora of tests/fuzz/ (corpus/<target>/).

Sources: Debian's json-schema-test-suite (draft7: every case's schema with up to
two of its instances, for schema/json/compat), the inputs of the tests (URLs
and traceparents quoted in tests/*/test_*.c, the config documents
tests/unit/test_config.c builds, config/sluice.json, config/schemas/),
hand-written hostile envelopes, and the reproducers of issue 10. File names
are a hash of the content, so a re-run is idempotent; run it from anywhere:
tests/fuzz/make-seeds.py.
The issue-10 reproducers are seeds named issue10-* (tests/fuzz/README.md).
"""
import glob
import hashlib
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SUITE = "/usr/share/json-schema-test-suite/tests/draft7"
# Keeps the corpus small (a few hundred files) but covering every keyword file.
TESTS_PER_CASE = 2


def compact(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def put(kind, target, data, name=None):
    """Write data (str or bytes) to kind/target/<name or hash>."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    d = os.path.join(HERE, kind, target)
    os.makedirs(d, exist_ok=True)
    fname = name or hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, fname), "wb") as f:
        f.write(data)


def c_literals(text):
    """The C string literals of text, escapes decoded (adjacent ones not joined)."""
    out = []
    for m in re.finditer(r'"((?:[^"\\\n]|\\.)*)"', text):
        out.append(c_unescape(m.group(1)))
    return out


def c_unescape(s):
    simple = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            e = s[i + 1]
            if e == "x":
                m = re.match(r"[0-9a-fA-F]{1,2}", s[i + 2:])
                out.append(chr(int(m.group(0), 16)))
                i += 2 + len(m.group(0))
                continue
            out.append(simple.get(e, e))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


# ---- schema, compat, json: the official suite ----

def suite_seeds():
    files = sorted(glob.glob(os.path.join(SUITE, "*.json")))
    if not files:
        sys.exit("make-seeds: %s is missing: apt-get install json-schema-test-suite" % SUITE)
    for path in files:
        with open(path) as f:
            cases = json.load(f)
        prev = None
        for case in cases:
            schema = compact(case["schema"])
            # one valid and one invalid instance where the case has both
            tests = sorted(case["tests"], key=lambda t: not t["valid"])
            picked = [tests[0]] + [t for t in tests if t["valid"] != tests[0]["valid"]][:1]
            for t in picked[:TESTS_PER_CASE]:
                put("corpus", "schema", schema + "\n" + compact(t["data"]))
                put("corpus", "json", compact(t["data"]))
            if prev is None:  # one pretty-printed schema per file, for the whitespace paths
                put("corpus", "json", json.dumps(case["schema"], indent=1))
            if prev is not None:
                put("corpus", "compat", prev + "\n" + schema)
            prev = schema


def repo_schemas():
    for path in sorted(glob.glob(os.path.join(ROOT, "config", "schemas", "*.json"))):
        with open(path) as f:
            doc = json.load(f)
        s = compact(doc)
        put("corpus", "schema", s + "\n{}")
        put("corpus", "compat", s + "\n" + s)
        # a narrowing and a widening change of the same schema
        if isinstance(doc, dict):
            wide = dict(doc)
            wide.pop("required", None)
            put("corpus", "compat", s + "\n" + compact(wide))
            put("corpus", "compat", compact(wide) + "\n" + s)
    hand = [
        ('{"type":"object","properties":{"a":{"type":"integer"}}}',
         '{"type":"object","properties":{"a":{"type":["integer","string"]}}}'),
        ('{"type":"object","properties":{"a":{"type":["integer","string"]}}}',
         '{"type":"object","properties":{"a":{"type":"integer"}}}'),
        ('{"type":"object","required":["a"]}', '{"type":"object","required":["a","b"]}'),
        ('{"enum":[1,2]}', '{"enum":[1,2,3]}'),
        ('{"oneOf":[{"type":"string"}]}', '{"oneOf":[{"type":"integer"}]}'),
        ('{"$ref":"#/definitions/x","definitions":{"x":{"type":"string"}}}',
         '{"$ref":"#/definitions/x","definitions":{"x":{"type":"integer"}}}'),
        ('{"additionalProperties":false,"properties":{"a":{}}}', '{"properties":{"a":{}}}'),
        ('{"maximum":10,"minLength":2}', '{"maximum":5,"minLength":3}'),
        # found by fuzz_compat: a $ref cycle is "unverifiable" even against itself
        ('{"$ref":"#"}', '{"$ref":"#"}'),
    ]
    for a, b in hand:
        put("corpus", "compat", a + "\n" + b)


# ---- json: hostile payloads ----

def json_seeds():
    for s in ['{}', '[]', '""', '0', '-0.5e+10', 'true', 'null', '"\\ud83d\\ude00"',
              '"\\ud83d"', '"\\ude00"', '"\\u0000"', '01', '1.', '.5', '[1,]', '{"a":1,}',
              '{"a" 1}', '[' * 1000 + ']' * 1000, '[' * 1001 + ']' * 1001,
              '1' + '0' * 400, '1.' + '0' * 100 + '1', '"' + 'a' * 300 + '"',
              ' \t\r\n{"k":[true,false,null,{"x":"y"}]} \n', '{"a":1}{"b":2}', '"\t"']:
        put("corpus", "json", s)
    for b in [b'"\xff"', b'"\xc0\x80"', b'"\xed\xa0\x80"', b'"\xf4\x90\x80\x80"', b'"\xe2\x82"',
              b'{"a":"\x00"}', b'\xef\xbb\xbf{}']:
        put("corpus", "json", b)


# ---- codec: envelopes, "name=value" lines (NUL mode: leading NUL) ----

def codec_seeds():
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    lines = [
        ["type=order.placed.v1", 'payload={"id":1}'],
        ["type=a", 'payload={}', "id=job-1", "attempt=3", "enqueued_at=1700000000000",
         "correlation_id=c-1", "causation_id=x-1", "traceparent=" + tp],
        ['payload={}'],                                  # missing type
        ["type=Bad Type!", 'payload={}'],
        ["type=" + "a" * 129, 'payload={}'],
        ["type=a", "type=b", 'payload={}'],              # duplicate field
        ["type=a", "attempt=0"], ["type=a", "attempt=1000001"], ["type=a", "attempt=-1"],
        ["type=a", "attempt=99999999999999999999999"], ["type=a", "attempt= 2"],
        ["type=a", "enqueued_at=253402300800000"], ["type=a", "enqueued_at=-5"],
        ["type=a", "id="], ["type=a", "id=" + "x" * 129], ["type=a", "id=has space"],
        ["type=a", "traceparent=" + "t" * 129], ["type=a", "correlation_id=\x7f"],
        ["type=a", "payload="], ["type=a", "payload=nope"], ["type=a", "payload={\"a\":1"],
        ["type=a", "payload=" + "[" * 1001 + "]" * 1001],
        ["type=a", "payload=" + json.dumps({"k": "x" * 2000})],   # oversize (limit 1024)
        ["type=a", "payload=" + json.dumps({"k": "x" * 1010})],   # just under / over
        ["type=a", "unknown=1", "other"],
        ["type=a", 'payload="\\ud800"'],
    ]
    for fields in lines:
        put("corpus", "codec", "\n".join(fields))
    # binary and NUL-separated entries (values may hold newlines and any byte)
    put("corpus", "codec", b"\0type\0a\0payload\0{\n\"a\":\n1}\0")
    put("corpus", "codec", b"\0type\0a\xff\0payload\0{}\0")
    put("corpus", "codec", b"\0type\0a\0payload\0\"\xc3\x28\"\0")
    put("corpus", "codec", b"\0type\0a\0id\0\x01\x02\0")
    put("corpus", "codec", b"type=a\npayload=\"\xe2\x82\xac\"")


# ---- url and trace: literals of the unit tests ----

def url_seeds():
    seen = set()
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "*", "test_*.c"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            for lit in c_literals(f.read()):
                if re.match(r"^(redis|rediss|unix|http)s?:?/", lit) and not re.search(r"%[-0-9.]*[dszu\[]", lit):
                    seen.add(lit)
    for s in sorted(seen):
        put("corpus", "url", s)
    for s in ["redis://:PW@host:6379/0", "redis://alice:p%40ss%2Fw0rd@cache:6390/1",
              "redis://u:a:b@c@h", "redis://:x@", "unix://:pw@/run/redis.sock?db=2",
              "unix:///tmp/r.sock?db=1&db=2", "redis://[::1]:6380/4?db=5", "redis://h:0",
              "redis://h:65536", "redis://h/2147483648", "REDIS://H", "rediss://h", "ftp://h",
              "redis://" + "h" * 300, "redis://:" + "p" * 300 + "@h", "redis://%zz:p@h",
              "redis://:%00@h", "redis//:TOPSECRET@h", "no scheme @ at all"]:
        put("corpus", "url", s)


def cron_seeds():
    """The expressions and zones of the croniter table, and hostile ones."""
    seen = set()
    with open(os.path.join(ROOT, "tests", "unit", "cron_cases.tsv"), encoding="utf-8") as f:
        for line in f:
            if not line.startswith("#"):
                expr, zone, after = line.split("\t")[:3]
                seen.add((expr, zone))
    for expr, zone in sorted(seen)[::7]:
        put("corpus", "cron", expr + "\n" + zone + "\n1792886400")
    for s in ["0 0 30 2 *", "0 0 29 2 1", "* * * * * *\nEurope/Berlin\n1792890000", "@every 1s",
              "@every 366d", "@every 99999999999999999999s", "1-59/1,2,3,4,5 * * * * *", ",,,,",
              "*/" + "9" * 50 + " * * * *", "* " * 200, "0 0 * * *\n../../etc/passwd",
              "0 0 * * *\nEurope/Berlin\n-99999999999999", "@hourly\nPacific/Chatham\n1775397600",
              "0 2 * * *\nAmerica/St_Johns\n1772949600"]:
        put("corpus", "cron", s)


def trace_seeds():
    seen = set()
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "*", "test_*.c"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            for lit in c_literals(f.read()):
                if re.match(r"^[0-9a-fA-F]{2}-[0-9a-fA-F]", lit):
                    seen.add(lit)
    for s in sorted(seen):
        put("corpus", "trace", s)
    good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    for s in [good, "01" + good[2:] + "-extra", "ff" + good[2:], good[:-1], good + "0",
              "00-" + "0" * 32 + good[35:], good.upper(), "", "00"]:
        put("corpus", "trace", s)


# ---- config: config/sluice.json and the documents test_config.c builds ----

def config_seeds():
    with open(os.path.join(ROOT, "config", "sluice.json")) as f:
        put("corpus", "config", f.read())
    with open(os.path.join(ROOT, "tests", "unit", "test_config.c")) as f:
        src = f.read()
    macros = {"MIN_POOL": None, "ORIGIN": None}
    for name in macros:
        m = re.search(r"#define %s (\"(?:[^\"\\\n]|\\.)*\")" % name, src)
        macros[name] = c_unescape(m.group(1)[1:-1]) if m else ""
    # doc(EXTRA, POOLS) as in test_config.c: {"plugin_dir":"/p",EXTRA,"pools":[POOLS]}
    tok = re.compile(r'\s*(?:("(?:[^"\\\n]|\\.)*")|([A-Z_]+)|(,)|(\)))')
    for m in re.finditer(r"\bdoc\(", src):
        i, args, cur, ok = m.end(), [], "", False
        while True:
            t = tok.match(src, i)
            if not t:
                break
            i = t.end()
            if t.group(1):
                cur += c_unescape(t.group(1)[1:-1])
            elif t.group(2):
                if t.group(2) not in macros:
                    break
                cur += macros[t.group(2)]
            elif t.group(3):
                args.append(cur)
                cur = ""
            else:
                args.append(cur)
                ok = True
                break
        if ok and len(args) == 2:
            extra, pools = args
            put("corpus", "config", '{"plugin_dir":"/p",%s%s"pools":[%s]}'
                % (extra, "," if extra else "", pools))
    minimal = '{"plugin_dir":"/p","pools":[{"name":"a","plugins":["x"]}]}'
    put("corpus", "config", minimal)
    put("corpus", "config", '{"plugin_dir":"/p","pools":[{"name":"a","plugins":["x"],'
        '"settings":{"n":12345678901,"m":-1e18,"f":2.5,"b":true,"s":"v"}}]}')


# ---- issue 10 reproducers ----

def repro_seeds():
    dup = '{"properties":{"a":{},"b":{}},"properties":{"c":{}}}'
    dup_pat = '{"patternProperties":{"a":{},"b":{}},"patternProperties":{"c":{}}}'
    # item 1: duplicate keyword (heap overflow in compile_props / compile_patprops)
    put("corpus", "schema", dup + "\n{}", "issue10-dup-properties")
    put("corpus", "schema", dup_pat + "\n{}", "issue10-dup-patternProperties")
    put("corpus", "compat", dup + "\n" + dup, "issue10-dup-properties")
    # item 1, found by fuzz_compat: a repeated property name makes a schema
    # "incompatible with itself" (the two "a" members are compared crosswise)
    put("corpus", "compat", '{"properties":{"a":{"type":"string","minLength":1},"a":{"type":"string"}}}',
        "issue10-dup-member-self-compat")
    # item 2: ReDoS across an array; the issue's payload had 40,000 strings (840 KB),
    # 2,000 keep the seed at 42 KB and still take half a minute before the fix
    redos = '{"anyOf":[{"type":"string","pattern":"^(a+)+$"},{"type":"string"}]}'
    arr_schema = '{"type":"array","items":' + redos + '}'
    put("corpus", "schema", arr_schema + "\n" + compact(["a" * 18 + "!"] * 2000),
        "issue10-redos-array")
    # item 7: a settings number out of long long range (UB before the range check)
    put("corpus", "config", '{"plugin_dir":"/p","pools":[{"name":"a","plugins":["x"],'
        '"settings":{"n":1e300}}]}', "issue10-settings-1e300")
    put("corpus", "config", '{"plugin_dir":"/p","pools":[{"name":"a","plugins":["x"],'
        '"settings":{"n":1e30,"m":-1e18,"b":true,"s":"v"}}]}', "issue10-settings-1e30")
    # item 6: a URL with a password (must parse, redact, never be echoed)
    put("corpus", "url", "redis://:PW@host:6379/0", "issue10-password")
    put("corpus", "url", "redis://user:hunter2-long-secret@127.0.0.1:6379/0", "issue10-user-password")
    # item 5: oversize and hostile envelopes
    put("corpus", "codec", "type=a\npayload=" + compact({"k": "x" * 4000}), "issue10-oversize")
    put("corpus", "codec", b"\0type\0a\0payload\0{}\0payload\0{}\0type\0\xff\xfe\0",
        "issue10-hostile-duplicates")
    put("corpus", "codec", "type=a\nattempt=18446744073709551616\nenqueued_at=9" + "9" * 30,
        "issue10-hostile-numbers")


if __name__ == "__main__":
    suite_seeds()
    repo_schemas()
    json_seeds()
    codec_seeds()
    url_seeds()
    cron_seeds()
    trace_seeds()
    config_seeds()
    repro_seeds()
    for kind in ("corpus", "repro"):
        for d in sorted(glob.glob(os.path.join(HERE, kind, "*"))):
            files = os.listdir(d)
            size = sum(os.path.getsize(os.path.join(d, f)) for f in files)
            print("%s/%s: %d files, %d bytes" % (kind, os.path.basename(d), len(files), size))
