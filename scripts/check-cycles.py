#!/usr/bin/env python3
"""The call-cycle check of `make test` (docs/architecture.md, "Components").

scripts/check-deps.py checks the #include arrows between folders; this one
checks the calls between source files. It reads the symbols each object file
of the product defines and uses (`nm`), draws an arrow from a file to every
file whose functions or data it uses, and fails on any cycle of files: a
cycle means two modules that cannot be read, tested or replaced one without
the other (a slot calling back into its pool, a batch calling into the read
loop that runs it).

A module split over several files for size, whose files are one concept,
is listed in MODULES and counts as one node.

Usage: scripts/check-cycles.py BUILD_DIR   (a configured and built CMake dir)
"""
import collections
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
# CMake target of each folder's objects (CMakeLists.txt).
TARGETS = {
    "common": "sluice_objs",
    "client": "sluice_objs",
    "workers": "sluice_worker_core",
    "runner": "sluice_runner_core",
    "cli": "sluice_cli_core",
}
# One concept in several files: the files of each set are one node.
MODULES = [
    # the config loader: parsing (config.c), output (config_json.c), and its sections
    # with their own tables (queues and pool queues, schedules, limits)
    {"common/config.c", "common/config_json.c", "common/config_queues.c", "common/config_schedules.c",
     "common/config_limits.c"},
    # the schema compiler and its $id/$ref registry, which compiles what a $ref names
    {"common/json/compile.c", "common/json/ref.c"},
    # the compatibility checker: keyword rules and the $ref/combinator walk
    {"common/json/compat.c", "common/json/compat_ref.c"},
    # plugins: the loader hands each plugin the host table, whose register call fills the loader's table
    {"workers/loader.c", "workers/host.c"},
    # the blocking connection (one sl_redis, struct in redis_int.h): one server, and the cluster router
    {"common/redis.c", "common/redis_cluster.c"},
    # the supervisor's async connection (one sl_mconn, struct in conn_int.h): one server, and the cluster router
    {"runner/maint/conn.c", "runner/maint/conn_cluster.c"},
]


def sources():
    out = subprocess.check_output(["git", "-C", ROOT, "ls-files", "*.c"], text=True).split()
    for src in out:
        top = src.split("/")[0]
        if top in TARGETS and not src.endswith("/main.c"):
            yield src, TARGETS[top]


def symbols(obj):
    defined, used = set(), set()
    for line in subprocess.check_output(["nm", obj], text=True).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDBRV":
            defined.add(parts[2])
        elif len(parts) == 2 and parts[0] == "U":
            used.add(parts[1])
    return defined, used


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    build = os.path.abspath(sys.argv[1])
    node = {}
    for group in MODULES:
        name = " + ".join(sorted(group))
        for f in group:
            node[f] = name
    owner, uses, missing = {}, {}, []
    for src, target in sources():
        obj = os.path.join(build, "CMakeFiles", target + ".dir", src + ".o")
        if not os.path.exists(obj):
            missing.append(obj)
            continue
        n = node.get(src, src)
        defined, used = symbols(obj)
        for s in defined:
            owner[s] = n
        uses.setdefault(n, set()).update(used)
    if missing:
        for m in missing:
            print(f"check-cycles: no object {m} (build {build} first)", file=sys.stderr)
        return 1
    graph = collections.defaultdict(set)
    for n, used in uses.items():
        for s in used:
            if s in owner and owner[s] != n:
                graph[n].add(owner[s])
    # Tarjan's strongly connected components, iteratively.
    index, low, on, stack, sccs, counter = {}, {}, set(), [], [], [0]
    for start in sorted(uses):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    sccs.append(sorted(comp))
    for comp in sccs:
        print("check-cycles: these files call each other in a cycle: " + ", ".join(comp), file=sys.stderr)
        for a in comp:
            for b in sorted(graph[a] & set(comp)):
                shared = sorted(s for s in uses[a] if owner.get(s) == b)
                print(f"  {a} -> {b}: {', '.join(shared[:6])}{' ...' if len(shared) > 6 else ''}", file=sys.stderr)
    if sccs:
        return 1
    print(f"check-cycles: {len(uses)} modules, {sum(len(v) for v in graph.values())} call arrows, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
