#!/usr/bin/env python3
"""Import cycles in a Rust crate, from its `use crate::…` and `crate::…::` paths.

Usage: scripts/import-cycles.py [SRC_DIR] (default daemon/src). Each file is a node named by
its module path (`sinks::influxdb::v1`); an edge a → b means a file of a names a path in b
(resolved to the longest module path that exists). Prints every strongly connected component
of more than one file (an import cycle), largest first, and the five largest files by lines.
Exit status 1 when there is a cycle.
"""
import os
import re
import sys


def modules(src):
    """Module path → file."""
    out = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, src)[:-3].split(os.sep)
            if rel == ["main"] or rel[0] == "bin":
                continue  # binaries are their own crates (they use the library by name)
            if rel == ["lib"]:
                out["lib"] = path
                continue
            if rel[-1] in ("mod", "lib", "main"):
                rel = rel[:-1]
            if rel and rel[-1] == "tests":
                continue  # test modules may import anything
            out["::".join(rel)] = path
    return out


def code(path):
    """The file without comments and without its `#[cfg(test)] mod tests { … }` block."""
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"//[^\n]*", "", text)
    i = text.find("#[cfg(test)]\nmod tests")
    return text[:i] if i >= 0 else text


def edges(mods):
    names = set(mods)
    graph = {m: set() for m in mods}
    pat = re.compile(r"crate::((?:[A-Za-z_][A-Za-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*)")
    group = re.compile(r"use crate::((?:[a-z_][a-z0-9_]*::)*)\{([^;]*)\}")
    for m, path in mods.items():
        text = code(path)
        paths = [p for p in pat.findall(text)]
        for base, inner in group.findall(text):
            for item in re.split(r"[,\s{}]+", inner):
                if item and item != "self":
                    paths.append(base + item.split("::")[0])
        for p in paths:
            parts = p.split("::")
            for n in range(len(parts), 0, -1):
                target = "::".join(parts[:n])
                if target in names:
                    if target != m and not m.startswith(target + "::") and not target.startswith(m + "::"):
                        graph[m].add(target)
                    break
    return graph


def sccs(graph):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "daemon/src"
    mods = modules(src)
    cycles = sorted((c for c in sccs(edges(mods)) if len(c) > 1), key=len, reverse=True)
    for c in cycles:
        print(f"cycle of {len(c)} files: " + ", ".join(sorted(c)))
    if not cycles:
        print("no import cycles")
    sizes = sorted(((sum(1 for _ in open(p, encoding='utf-8')), m) for m, p in mods.items()), reverse=True)
    print("largest files: " + ", ".join(f"{m} {n}" for n, m in sizes[:5]))
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
