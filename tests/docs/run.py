#!/usr/bin/python3
"""The docs test's extractor and runner: runs every example block of README.md
and docs/*.md against a throwaway Redis and a supervisor on the demo config,
and compares each block's output with the `output` block that follows it.

Marking (fenced blocks, by info string):
  sh, python, js     run (sh with bash -e -o pipefail, python with
                     /usr/bin/python3, js with node and NODE_PATH holding
                     ioredis and node-redis)
  ... norun          e.g. "sh norun": shown, not run (production paths,
                     placeholders, sluice run in the foreground, make demo)
  ... file=NAME      (any block) its text is written to WORK/NAME before the
                     blocks after it run, e.g. "c file=greet.c" for a later
                     "cc ... greet.c"
  output             the output of the block just before it (stdout and stderr
                     together), compared after normalising ids, times, UUIDs,
                     hex trace ids and runs of spaces; a line "..." matches any
                     number of lines, "..." within a line any text
  anything else      (c, json, text, console, ...) not run

Per markdown file: FLUSHALL, start `sluice run -c WORK/config/sluice.json`
(the repo's config/ copied into WORK; the example plugin in WORK/build/plugins),
wait until its workers joined their group, then run the file's blocks in order
in WORK, each after the queues are idle (no lag, nothing pending, nothing due),
stop the supervisor. Exit 0 when every block passed, 1 otherwise.
"""
import argparse
import glob
import os
import re
import signal
import subprocess
import sys
import time

import redis

RUN_LANGS = {"sh": "sh", "python": "python", "js": "js"}
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*(.*)$")


def blocks(path):
    """[(line, info words, text)] of the fenced blocks of a markdown file."""
    out, lines, i = [], open(path, encoding="utf-8").read().split("\n"), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info, start = len(m.group(1)), m.group(2), m.group(3).split(), i + 1
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        # the block and whether only blank lines lie between it and the previous one
        gap = out and all(not lines[k].strip() for k in range(out[-1][3], start - 1))
        out.append((start, info, "\n".join(body) + "\n", i + 1, gap))
        i += 1
    return out


def runnable(info):
    return bool(info) and info[0] in RUN_LANGS and "norun" not in info[1:]


NORMS = [
    (re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"), "<TIME>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<UUID>"),
    (re.compile(r"\b\d{10,16}-\d+\b"), "<ID>"),
    (re.compile(r"\b1\d{12}\b"), "<MS>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<HEX32>"),
    (re.compile(r"\b[0-9a-f]{16}\b"), "<HEX16>"),
    (re.compile(r"[ \t]+"), " "),
]


def normalise(text):
    lines = []
    for line in text.split("\n"):
        for rx, rep in NORMS:
            line = rx.sub(rep, line)
        lines.append(line.strip())
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def output_matches(want, got):
    """want: the output block's text; "..." lines match any lines."""
    rx = ""
    for line in normalise(want):
        if line == "...":
            rx += r"(?:[^\n]*\n)*?"
        else:
            rx += r"[^\n]*".join(re.escape(part) for part in line.split("...")) + r"\n"
    return re.fullmatch(rx, "\n".join(normalise(got)) + "\n") is not None


class Env:
    def __init__(self, a):
        self.a = a
        self.r = redis.Redis.from_url(a.redis_url, decode_responses=True)
        self.env = dict(os.environ)
        # HTTP on a free port: the default 9464 may be taken by a real supervisor
        self.env.update(SLUICE_REDIS_URL=a.redis_url, NODE_PATH=a.node_modules, SLUICE_HTTP_LISTEN="127.0.0.1:0",
                        PATH=os.path.join(a.work, "bin") + ":" + os.path.join(a.work, "build") + ":" +
                        os.environ["PATH"])
        self.sup = None

    def start_supervisor(self, tag):
        self.r.flushall()
        log = open(os.path.join(self.a.work, "supervisor-%s.log" % tag), "w")
        self.sup = subprocess.Popen([os.path.join(self.a.work, "build", "sluice"), "run", "-c",
                                     os.path.join(self.a.work, "config", "sluice.json")],
                                    cwd=self.a.work, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.sup.poll() is not None:
                raise RuntimeError("supervisor exited %d, see %s" % (self.sup.returncode, log.name))
            try:
                groups = self.r.xinfo_groups("sluice:{orders}")
                if any(g["name"] == "orders-svc" and g["consumers"] > 0 for g in groups) and \
                        self.r.hexists("sluice:{:schemas}", "order.placed.v1"):
                    return
            except redis.ResponseError:
                pass
            time.sleep(0.1)
        raise RuntimeError("supervisor not ready after 30 s, see %s" % log.name)

    def stop_supervisor(self):
        if self.sup and self.sup.poll() is None:
            self.sup.send_signal(signal.SIGTERM)
            try:
                self.sup.wait(20)
            except subprocess.TimeoutExpired:
                self.sup.kill()
                self.sup.wait()
        self.sup = None

    def idle(self):
        """No lag or pending entries in groups that have consumers and are not paused, nothing due."""
        now_ms = int(self.r.time()[0]) * 1000
        for key in self.r.scan_iter("sluice:{*}", count=1000):
            kind = self.r.type(key)
            if kind == "zset" and key.endswith(":sched"):
                if self.r.zcount(key, "-inf", now_ms):
                    return False
            if kind != "stream" or ":dlq:" in key or ":stats:" in key:
                continue
            queue = key[len("sluice:{"):key.index("}")]
            for g in self.r.xinfo_groups(key):
                if g["consumers"] == 0 or self.r.exists("sluice:{%s}:paused:%s" % (queue, g["name"])):
                    continue
                if g["pending"] or g.get("lag"):
                    return False
        return True

    def settle(self, seconds=10):
        deadline = time.time() + seconds
        while time.time() < deadline and not self.idle():
            time.sleep(0.05)

    def run(self, lang, text, name):
        path = os.path.join(self.a.work, "block-%s.%s" % (name, {"sh": "sh", "python": "py", "js": "js"}[lang]))
        with open(path, "w") as f:
            f.write(text)
        cmd = {"sh": ["bash", "-e", "-o", "pipefail", path], "python": ["/usr/bin/python3", path],
               "js": ["node", path]}[lang]
        try:
            p = subprocess.run(cmd, cwd=self.a.work, env=self.env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            return p.returncode, p.stdout.decode("utf-8", "replace")
        except subprocess.TimeoutExpired as e:
            return -1, (e.stdout or b"").decode("utf-8", "replace") + "\n(timed out after 60 s)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--redis-url", required=True)
    ap.add_argument("--node-modules", required=True)
    ap.add_argument("--show", action="store_true", help="print every block's output (to write output blocks)")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    files = a.files or ["README.md"] + sorted(glob.glob("docs/*.md", root_dir=a.repo))
    env = Env(a)
    passed = failed = 0
    for f in files:
        bl = blocks(os.path.join(a.repo, f))
        todo = []
        for k, (line, info, text, _end, _gap) in enumerate(bl):
            for w in info[1:]:
                if w.startswith("file="):
                    todo.append((line, "file", text, w[5:]))
            if not runnable(info):
                continue
            want = None
            if k + 1 < len(bl) and bl[k + 1][1][:1] == ["output"] and bl[k + 1][4]:
                want = bl[k + 1][2]
            todo.append((line, info[0], text, want))
        if not any(t[1] != "file" for t in todo):
            continue
        tag = re.sub(r"[^A-Za-z0-9]+", "-", f)
        failed_before = failed
        try:
            env.start_supervisor(tag)
            for line, lang, text, want in todo:
                if lang == "file":
                    with open(os.path.join(a.work, want), "w") as out:
                        out.write(text)
                    continue
                env.settle()
                where = "%s:%d (%s)" % (f, line, lang)
                rc, out = env.run(lang, text, "%s-%d" % (tag, line))
                if a.show:
                    print("--- %s:%d\n%s" % (f, line, out.rstrip()))
                if rc != 0:
                    failed += 1
                    print("FAIL %s: exit %d\n%s" % (where, rc, out.rstrip()))
                elif want is not None and not output_matches(want, out):
                    failed += 1
                    print("FAIL %s: output differs from the output block\n--- shown\n%s\n--- got\n%s" %
                          (where, want.rstrip(), out.rstrip()))
                else:
                    passed += 1
                    print("ok   %s%s" % (where, " (output checked)" if want is not None else ""))
        except RuntimeError as e:
            failed += 1
            print("FAIL %s: %s" % (f, e))
        finally:
            env.stop_supervisor()
        if failed > failed_before:  # the work dir is deleted at the end: show the supervisor's side
            with open(os.path.join(a.work, "supervisor-%s.log" % tag)) as log:
                print("--- the last lines of the supervisor's log for %s\n%s" % (f, "".join(log.readlines()[-15:]).rstrip()))
    print("docs examples: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
