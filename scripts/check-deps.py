#!/usr/bin/env python3
"""The dependency check of `make test` (docs/architecture.md, "Components").

Reads every #include "..." of the product's C sources (common/, client/,
workers/, runner/, cli/) and fails on

  - an arrow between folders that the table ALLOWED does not list, and
  - any cycle between folders.

A folder is the directory a file is in. include/sluice/ (the public headers)
may be included from anywhere and includes nothing of sluice. Tests, benches
and fuzz targets are not checked: they may reach into any component.

Usage: scripts/check-deps.py [ROOT]     prints the folder graph; exit 1 on a
                                        violation, naming the file and line.
"""
import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
FOLDERS = ["common/json", "common", "client", "workers", "runner", "runner/maint", "runner/http", "cli"]
PUBLIC = "include/sluice"

# folder -> the folders it may include. common/json depends on cJSON and PCRE2
# only; everything above common may use common/json too, as a part of common.
ALLOWED = {
    "common/json": set(),
    "common": {"common/json"},
    "client": {"common", "common/json"},
    "workers": {"common", "common/json"},
    "runner": {"common", "common/json", "runner/maint", "runner/http"},
    "runner/maint": {"common", "common/json"},
    "runner/http": {"common", "common/json", "runner/maint"},  # gauges sample over maint's connection
    "cli": {"runner", "client", "common", "common/json"},
}

# Arrows that exist today and are not allowed: each is a debt with the change
# that removes it. The check accepts exactly these (a new one fails, and one
# that is gone must be deleted here), and leaves them out of the cycle search.
DEBTS = {}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def folder_of(path):
    d = os.path.dirname(path)
    return d if d in FOLDERS or d == PUBLIC else None


def main():
    arrows = {}  # (from, to) -> first (file, line)
    problems = []
    for top in ["common", "client", "workers", "runner", "cli", PUBLIC]:
        for dirpath, _, names in os.walk(os.path.join(ROOT, top)):
            for name in sorted(names):
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.relpath(os.path.join(dirpath, name), ROOT)
                src = folder_of(path)
                if src is None:
                    problems.append(f"{path}: in no known folder (add it to FOLDERS and ALLOWED)")
                    continue
                with open(os.path.join(ROOT, path), encoding="utf-8") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        inc = m.group(1)
                        target = inc if os.path.exists(os.path.join(ROOT, inc)) else \
                            os.path.join("include", inc) if os.path.exists(os.path.join(ROOT, "include", inc)) else None
                        if target is None:
                            if inc.endswith(".c"):
                                continue
                            problems.append(f"{path}:{lineno}: #include \"{inc}\" is no file of the tree "
                                            "(write the path from the root, e.g. \"common/log.h\")")
                            continue
                        dst = folder_of(target)
                        if dst is None or dst == src:
                            continue
                        if src == PUBLIC:
                            problems.append(f"{path}:{lineno}: a public header includes {target}")
                            continue
                        if dst == PUBLIC:
                            continue
                        arrows.setdefault((src, dst), (path, lineno))
    for (src, dst), (path, lineno) in sorted(arrows.items()):
        if dst in ALLOWED.get(src, set()):
            continue
        if (src, dst) in DEBTS:
            continue
        problems.append(f"{path}:{lineno}: {src} -> {dst} is not an allowed arrow "
                        f"({src} may include: {', '.join(sorted(ALLOWED.get(src, ()))) or 'nothing of sluice'})")
    for debt in sorted(DEBTS):
        if debt not in arrows:
            problems.append(f"{debt[0]} -> {debt[1]} is gone: delete it from DEBTS in {os.path.relpath(__file__, ROOT)}")

    graph = {}
    for (src, dst) in arrows:
        if (src, dst) not in DEBTS:
            graph.setdefault(src, set()).add(dst)
    state = {}

    def visit(n, stack):
        state[n] = 1
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                problems.append("cycle between folders: " + " -> ".join(stack[stack.index(m):] + [m]))
            elif m not in state:
                visit(m, stack + [m])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])

    for (src, dst) in sorted(arrows):
        mark = "  (debt: " + DEBTS[(src, dst)] + ")" if (src, dst) in DEBTS else ""
        print(f"  {src} -> {dst}{mark}")
    if problems:
        for p in problems:
            print("check-deps: " + p, file=sys.stderr)
        return 1
    print(f"check-deps: {len(arrows)} arrows between {len(FOLDERS)} folders, all allowed, no cycle"
          f" ({len(DEBTS)} listed debts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
