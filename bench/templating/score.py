#!/usr/bin/env python3
"""Scores the templates an inventory recovered against the operations the traffic came from.

    score.py TRUTH.json INVENTORY.json [--verbose]

INVENTORY.json is `apitap inventory list --all --format json`. Templates are compared with
parameter names erased (`/users/{user_id}` and `/users/{username}` are the same template),
per method. An operation counts as recovered exactly when its template is in the inventory,
or, for an operation whose path parameter takes a fixed set of values (an enum, or a
resource's field names), when every value the traffic used came back as its own literal
endpoint (a small fixed set is rightly kept literal). An
inventory endpoint is spurious when no operation has its template (or one of those
enum expansions). Prints one JSON line: operations, recovered, recovery, endpoints,
spurious, spurious_rate; with --verbose, the misses and spurious endpoints on stderr.
"""

import json
import re
import sys


def norm(template):
    """Parameter names erased. A segment holding more than one parameter, or a parameter
    with text around it (`{base}...{head}`), is one value to a router that splits on `/`:
    it becomes `{}`, keeping a file extension it ends with (`{name}-issues-{id}.zip` is
    `{}.zip`, as its values all end in `.zip`)."""
    out = []
    for s in (s for s in template.split("/") if s):
        if "{" in s:
            t = re.sub(r"\{[^}]*\}", "{}", s)
            if t != "{}":
                ext = re.search(r"\}[^{}]*?(\.[A-Za-z0-9]+)$", t)
                t = "{}" + ext.group(1) if ext else "{}"
            s = t
        out.append(s)
    return "/" + "/".join(out)


def expansions(op):
    """The op's template with its fixed-set parameters replaced by the values used together."""
    out = []
    for combo in op.get("enum_values") or []:
        t = op["template"]
        for n, v in combo.items():
            t = t.replace("{" + n + "}", v)
        out.append(norm(t))
    return out


def main():
    truth = json.load(open(sys.argv[1]))
    inv = json.load(open(sys.argv[2]))
    verbose = "--verbose" in sys.argv
    host = truth["host"]
    got = {(e["method"], norm(e["path"])) for e in inv if e["host"] == host}
    others = [e for e in inv if e["host"] != host]
    ops = truth["operations"]
    known = set()
    recovered = 0
    misses = []
    for op in ops:
        key = (op["method"], norm(op["template"]))
        known.add(key)
        exp = [(op["method"], t) for t in expansions(op)]
        known.update(exp)
        if key in got or (exp and all(e in got for e in exp)):
            recovered += 1
        else:
            misses.append((op["calls"], op["method"], op["template"]))
    spurious = sorted(g for g in got if g not in known)
    endpoints = len(got) + len(others)
    result = {
        "operations": len(ops),
        "recovered": recovered,
        "recovery": round(recovered / len(ops), 4) if ops else 0.0,
        "endpoints": endpoints,
        "spurious": len(spurious) + len(others),
        "spurious_rate": round((len(spurious) + len(others)) / endpoints, 4) if endpoints else 0.0,
    }
    print(json.dumps(result))
    if verbose:
        for calls, m, t in sorted(misses, reverse=True)[:40]:
            print(f"  miss  {m:6} {t}  ({calls} calls)", file=sys.stderr)
        for m, t in spurious[:40]:
            print(f"  extra {m:6} {t}", file=sys.stderr)


if __name__ == "__main__":
    main()
