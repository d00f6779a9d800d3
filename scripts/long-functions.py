#!/usr/bin/env python3
"""The longest functions of a Rust source tree (outside `#[cfg(test)]` modules and tests/).

Usage: scripts/long-functions.py [SRC_DIR] [N] [--max LINES]  (default daemon/src, 10). With
--max, exit status 1 when a function is longer (tests/run checks the daemon at 120). A function runs from
its `fn` line to the line where its braces balance (braces in strings and char literals
not counted); lines are counted as written.
"""
import os
import re
import sys


def functions(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    out = []
    i = 0
    in_tests = False
    while i < len(lines):
        line = lines[i]
        if re.match(r"\s*#\[cfg\(test\)\]", line):
            in_tests = True
        m = re.match(r"\s*(pub(\([a-z]+\))?\s+)?(async\s+)?(const\s+)?fn\s+([A-Za-z0-9_]+)", line)
        if m and not in_tests:
            depth, started, j = 0, False, i
            while j < len(lines):
                code = re.sub(r'"(\\.|[^"\\])*"|\'(\\.|[^\'\\])\'|//.*', "", lines[j])
                depth += code.count("{") - code.count("}")
                started = started or "{" in code
                if started and depth <= 0:
                    break
                if not started and code.rstrip().endswith(";"):
                    break
                j += 1
            if started:
                out.append((j - i + 1, m.group(5), path, i + 1))
            i = j + 1
            continue
        i += 1
    return out


def main():
    args = sys.argv[1:]
    limit = None
    if "--max" in args:
        i = args.index("--max")
        limit = int(args[i + 1])
        del args[i : i + 2]
    src = args[0] if args else "daemon/src"
    n = int(args[1]) if len(args) > 1 else 10
    found = []
    for root, _, files in os.walk(src):
        for f in files:
            if f.endswith(".rs") and f != "tests.rs":
                found.extend(functions(os.path.join(root, f)))
    for length, name, path, line in sorted(found, reverse=True)[:n]:
        print(f"{length:5} {name} ({path}:{line})")
    if limit is not None:
        over = [f for f in found if f[0] > limit]
        for length, name, path, line in sorted(over, reverse=True):
            print(f"longer than {limit} lines: {name} ({path}:{line}), {length}", file=sys.stderr)
        return 1 if over else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
