#!/usr/bin/env python3
"""Generates API traffic from a real OpenAPI description, for the templating benchmark.

    gen.py SPEC.json ID_STYLE OUT_DIR [--seed N] [--calls-per-op N]

Writes OUT_DIR/records.jsonl (API call records, as apitap writes them) and OUT_DIR/truth.json
(the operations the traffic came from). The traffic is meant to look like production:

- every operation is called at least once, and the rest of the calls follow a Zipf law over
  the operations (s = 1), so a few endpoints are hot and many are seen once or twice;
- each path parameter draws from a pool of values with its own Zipf law (s = 1), so some
  values are hot too; half the time a client reuses "its own" value (a user reading their
  own resources), as real clients do;
- values come from what the description says: enum, pattern, format, example; otherwise from
  the parameter's name (names, slugs, branch names, file names, hashes) and the API's id
  style (see specs.json), as that API's real ids look.

Values never contain '/', so each parameter is one path segment, as its template says.
"""

import argparse
import hashlib
import json
import random
import re
import string
import sys
import urllib.parse

METHODS = ["get", "put", "post", "delete", "patch", "head", "options"]

FIRST = """james mary john patricia robert jennifer michael linda william elizabeth david barbara richard susan
joseph jessica thomas sarah charles karen daniel nancy matthew lisa anthony betty mark sandra donald ashley
steven kimberly paul emily andrew donna joshua michelle kenneth carol kevin amanda brian melissa george
deborah timothy stephanie ronald rebecca jason sharon edward laura jeffrey cynthia ryan dorothy jacob amy
gary kathleen nicholas angela eric shirley jonathan emma stephen brenda larry pamela justin nicole scott
anna brandon samantha benjamin katherine samuel christine gregory debra alexander rachel frank carolyn
patrick janet raymond maria jack olivia dennis heather jerry helen tyler catherine aaron diane jose julie
adam victoria nathan joyce henry lauren douglas kelly zachary christina peter ruth kyle joan noah virginia
ethan judith jeremy evelyn walter hannah christian andrea keith megan roger cheryl terry jacqueline austin
martha sean madison gerald teresa carl doris harold sophia dylan abigail arthur kathryn lawrence gloria
jordan ann jesse sara bryan janice billy jean bruce alice gabriel kayla joe julia logan grace alan judy
juan beverly albert denise willie marilyn elijah amber wayne danielle randy brittany vincent diana mason
natalie roy isabella ralph charlotte bobby rose russell alexis bradley kayla philip lori eugene marie""".split()

LAST = """smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez gonzalez
wilson anderson thomas taylor moore jackson martin lee perez thompson white harris sanchez clark ramirez
lewis robinson walker young allen king wright scott torres nguyen hill flores green adams nelson baker hall
rivera campbell mitchell carter roberts gomez phillips evans turner diaz parker cruz edwards collins reyes
stewart morris morales murphy cook rogers gutierrez ortiz morgan cooper peterson bailey reed kelly howard
ramos kim cox ward richardson watson brooks chavez wood james bennett gray mendoza ruiz hughes price
alvarez castillo sanders patel myers long ross foster jimenez""".split()

# Words for slugs (repository, project, team and other names): nature and product-style
# words. Words that are also common API path words (search, auth, billing, metrics, ...)
# are left out: names made of them exist, but no more often than other names.
WORDS = """alpha beta gamma delta nova orbit pixel vector quantum lunar solar stellar cosmic rapid silent
crimson amber azure cobalt copper silver golden iron stone river forest meadow harbor canyon summit
glacier prairie desert island coral maple cedar willow aspen birch oak pine falcon eagle raven otter
badger lynx panther tiger wolf fox bear hawk heron crane swift spark ember blaze frost storm thunder
breeze drift pulse beacon anchor bridge tower castle garden engine rocket vessel
atlas titan apollo hermes athena zeus odin thor loki freya mercury venus mars jupiter saturn neptune
pluto comet meteor nebula galaxy photon proton neutron atom flux wave tide shore coast bay cove ridge
peak valley hollow grove acre plains dune mesa butte toolbox studio lab kit sdk infra widget gizmo
sprocket gadget tinker forge anvil loom quill ink parchment scroll lantern compass sextant prism""".split()

BASE62 = string.ascii_letters + string.digits

STRIPE_PREFIX = {
    "account": "acct_", "charge": "ch_", "customer": "cus_", "invoice": "in_", "invoiceitem": "ii_",
    "subscription": "sub_", "subscription_item": "si_", "price": "price_", "product": "prod_",
    "payment_intent": "pi_", "intent": "pi_", "payment_method": "pm_", "setup_intent": "seti_",
    "refund": "re_", "dispute": "dp_", "transfer": "tr_", "payout": "po_", "coupon": "co_",
    "plan": "plan_", "session": "cs_", "source": "src_", "token": "tok_", "file": "file_",
    "event": "evt_", "webhook_endpoint": "we_", "balance_transaction": "txn_", "quote": "qt_",
    "tax_rate": "txr_", "promotion_code": "promo_", "credit_note": "cn_", "review": "prv_",
    "schedule": "sub_sched_", "topup": "tu_", "card": "card_", "bank_account": "ba_", "person": "person_",
    "application_fee": "fee_", "fee": "fee_", "id": "obj_", "order": "or_", "sku": "sku_",
}


def zipf_weights(n, s=1.0):
    return [1.0 / (i + 1) ** s for i in range(n)]


def resolve(root, v, depth=0):
    while isinstance(v, dict) and "$ref" in v and depth < 10:
        ref = v["$ref"]
        if not ref.startswith("#/"):
            return {}
        cur = root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            cur = cur.get(part, {}) if isinstance(cur, dict) else {}
        v = cur
        depth += 1
    return v if isinstance(v, dict) else {}


def operations(spec):
    base = ""
    servers = spec.get("servers") or []
    if servers and isinstance(servers[0], dict):
        u = servers[0].get("url", "")
        if "://" in u:
            rest = u.split("://", 1)[1]
            base = rest[rest.find("/"):] if "/" in rest else ""
        elif u.startswith("/"):
            base = u
    base = base.rstrip("/")
    seen = set()
    for raw_path, item in (spec.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        # Some descriptions tell operations on one path apart with a fragment
        # (`/web_links/{id}#add_shared_link`); clients never send it.
        path = raw_path.split("#", 1)[0]
        common = item.get("parameters") or []
        for m in METHODS:
            op = item.get(m)
            if not isinstance(op, dict):
                continue
            if (m, path) in seen:
                continue
            seen.add((m, path))
            params = {}
            for p in list(common) + list(op.get("parameters") or []):
                p = resolve(spec, p)
                if p.get("in") == "path" and p.get("name"):
                    params[p["name"]] = p
            yield m.upper(), base + path, params


def host_of(spec, name):
    servers = spec.get("servers") or []
    if servers and isinstance(servers[0], dict):
        u = servers[0].get("url", "")
        if "://" in u:
            h = u.split("://", 1)[1].split("/", 1)[0]
            if h and "{" not in h:
                return h.lower()
    return f"api.{name}.example"


def b62(rng, n):
    return "".join(rng.choice(BASE62) for _ in range(n))


def hexs(rng, n):
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def username(rng):
    f, l = rng.choice(FIRST), rng.choice(LAST)
    style = rng.random()
    if style < 0.25:
        return f
    if style < 0.45:
        return f + str(rng.randint(1, 999))
    if style < 0.6:
        return f"{f}.{l}"
    if style < 0.75:
        return f"{f}_{l}"
    if style < 0.9:
        return f[0] + l
    return f"{f}-{l}"


def slug(rng):
    n = rng.choice([1, 2, 2, 3])
    s = "-".join(rng.choice(WORDS) for _ in range(n))
    if rng.random() < 0.2:
        s += f"-{rng.randint(1, 99)}"
    return s


def from_pattern(pattern, rng):
    """Strings for simple anchored patterns: literals, [classes] and \\d with {n} or {m,n}."""
    p = pattern.strip()
    if p.startswith("^"):
        p = p[1:]
    if p.endswith("$"):
        p = p[:-1]
    out = []
    i = 0
    while i < len(p):
        c = p[i]
        if c == "[":
            j = p.find("]", i)
            if j < 0:
                return None
            cls = p[i + 1:j]
            chars = []
            k = 0
            while k < len(cls):
                if k + 2 < len(cls) and cls[k + 1] == "-":
                    chars += [chr(x) for x in range(ord(cls[k]), ord(cls[k + 2]) + 1)]
                    k += 3
                else:
                    chars.append(cls[k])
                    k += 1
            i = j + 1
        elif c == "\\" and i + 1 < len(p):
            chars = {"d": list(string.digits), "w": list(BASE62 + "_")}.get(p[i + 1])
            if chars is None:
                chars = [p[i + 1]]
            i += 2
        elif c in "()|*+?.":
            return None
        else:
            chars = [c]
            i += 1
        count = 1
        if i < len(p) and p[i] == "{":
            j = p.find("}", i)
            spec = p[i + 1:j]
            if "," in spec:
                lo, hi = spec.split(",")
                count = rng.randint(int(lo or 0), int(hi or int(lo or 0) + 8))
            else:
                count = int(spec)
            i = j + 1
        out.append("".join(rng.choice(chars) for _ in range(count)))
    return "".join(out)


def mutate(example, rng):
    """A value shaped like the example: digits and letters replaced, separators kept (hex
    stays hex, so a UUID or digest example gives UUIDs or digests)."""
    if re.fullmatch(r"[0-9a-fA-F:-]+", example) and any(c.isdigit() for c in example):
        return "".join(rng.choice("0123456789abcdef") if c in string.hexdigits else c for c in example)
    out = []
    for ch in example:
        if ch.isdigit():
            out.append(rng.choice(string.digits))
        elif ch.islower():
            out.append(rng.choice(string.ascii_lowercase))
        elif ch.isupper():
            out.append(rng.choice(string.ascii_uppercase))
        else:
            out.append(ch)
    return "".join(out)


def id_value(style, name, rng):
    if style == "stripe":
        key = re.sub(r"[^a-z_]", "", name.lower())
        prefix = STRIPE_PREFIX.get(key) or STRIPE_PREFIX.get(key.rstrip("s")) or (key[:3] + "_")
        return prefix + b62(rng, rng.choice([14, 14, 24]))
    if style == "hex24":
        return hexs(rng, 24)
    if style == "base62":
        return b62(rng, 22)
    if style == "uuid":
        return str(uuid_from(rng))
    return str(rng.randint(1, 10**7))


def uuid_from(rng):
    h = hexs(rng, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def field_names(spec):
    names = set()
    for sch in ((spec.get("components") or {}).get("schemas") or {}).values():
        for k in (sch.get("properties") or {}) if isinstance(sch, dict) else {}:
            if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", k):
                names.add(k)
    return sorted(names)[:60]


def value_maker(p, spec, style):
    """A function rng -> value for one path parameter, and whether it is an enum."""
    schema = resolve(spec, p.get("schema") or {})
    name = p.get("name", "")
    low = re.sub(r"[^a-z]", "", name.lower())
    enum = schema.get("enum") or p.get("enum")
    if enum:
        vals = [str(v) for v in enum if v is not None and "/" not in str(v)]
        if vals:
            return (lambda rng, vals=vals: rng.choice(vals)), vals
    if low in ("field", "fieldname", "attribute", "property"):
        # A field of the resource: its names are the description's property names, a
        # fixed vocabulary like an enum.
        vals = field_names(spec)
        if vals:
            return (lambda rng, vals=vals: rng.choice(vals)), vals
    typ = schema.get("type") or p.get("type")
    fmt = schema.get("format") or p.get("format") or ""
    pattern = schema.get("pattern") or p.get("pattern")
    example = p.get("example", schema.get("example"))
    if typ in ("integer", "number"):
        return (lambda rng: str(rng.randint(1, 10**7))), None
    if fmt == "uuid":
        return (lambda rng: uuid_from(rng)), None
    if fmt == "date":
        return (lambda rng: f"20{rng.randint(18, 26)}-{rng.randint(1, 12):02}-{rng.randint(1, 28):02}"), None
    if fmt == "date-time":
        return (lambda rng: f"20{rng.randint(18, 26)}-{rng.randint(1, 12):02}-{rng.randint(1, 28):02}T{rng.randint(0, 23):02}:00:00Z"), None
    if fmt == "email" or "email" in low:
        return (lambda rng: f"{username(rng)}@{rng.choice(['example.com', 'mail.test', 'corp.example'])}"), None
    if pattern:
        try:
            rng0 = random.Random(0)
            if from_pattern(pattern, rng0):
                return (lambda rng, pattern=pattern: from_pattern(pattern, rng)), None
        except (ValueError, IndexError):
            pass
    if isinstance(example, (int, float)) and not isinstance(example, bool):
        return (lambda rng: str(rng.randint(1, 10**7))), None
    if isinstance(example, str) and example and "/" not in example and "{" not in example and len(example) < 80:
        return (lambda rng, ex=example: mutate(ex, rng)), None
    if style == "stripe":
        # Stripe's path parameters all take an object's id (`{customer}`, `{id}`, `{file}`).
        return (lambda rng, name=name: id_value(style, name, rng)), None
    # By name.
    if low in ("sha", "commitsha", "hash", "node", "commit", "revision", "sha1") or low.endswith("sha"):
        return (lambda rng: hexs(rng, 40)), None
    if "branch" in low or low in ("ref", "basehead"):
        # A few shared names, then each team's own feature and fix branches.
        def branch(rng):
            r = rng.random()
            if r < 0.3:
                return rng.choice(["main", "master", "develop", "staging", "production"])
            return f"{rng.choice(['feature', 'fix', 'chore', 'release'])}-{slug(rng)}"
        return branch, None
    if low in ("tag", "tagname", "version"):
        return (lambda rng: f"v{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}"), None
    if low in ("path", "file", "filename", "filepath", "asset", "assetname", "name") and ("file" in low or "path" in low or "asset" in low):
        return (lambda rng: f"{slug(rng)}.{rng.choice(['json', 'pdf', 'png', 'md', 'txt', 'csv'])}"), None
    if low.endswith("key") and ("issue" in low or "project" in low):
        return (lambda rng: f"{rng.choice(['PROJ', 'OPS', 'WEB', 'API', 'DATA'])}-{rng.randint(1, 9999)}"), None
    if any(w in low for w in ("username", "owner", "login", "user", "org", "workspace", "team", "member", "assignee",
                               "author", "account", "enterprise", "collaborator", "follower", "target")) and not low.endswith("id"):
        return (lambda rng: username(rng)), None
    id_named = low.endswith("id") or low.endswith("ids") or (name[:2] == "id" and name[2:3].isupper())
    if id_named or low in ("key", "uuid", "guid", "token") or low.endswith("number"):
        if low.endswith("number"):
            return (lambda rng: str(rng.randint(1, 10**5))), None
        return (lambda rng, name=name: id_value(style, name, rng)), None
    if style == "stripe":
        # Stripe's path parameters name the object whose id they take (`{customer}`).
        return (lambda rng, name=name: id_value(style, name, rng)), None
    return (lambda rng: slug(rng)), None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("spec")
    ap.add_argument("id_style")
    ap.add_argument("out")
    ap.add_argument("--name", default="api")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--calls-per-op", type=int, default=20)
    a = ap.parse_args()
    spec = json.load(open(a.spec))
    rng = random.Random(a.seed)
    ops = list(operations(spec))
    if not ops:
        sys.exit("no operations in " + a.spec)
    host = host_of(spec, a.name)
    # Value pools per (operation, parameter), drawn with a Zipf law.
    makers = []
    enums = []
    for method, path, params in ops:
        m = {}
        en = {}
        for pname, p in params.items():
            fn, ev = value_maker(p, spec, a.id_style)
            pool = [fn(rng) for _ in range(2000)]
            m[pname] = (pool, zipf_weights(len(pool)))
            if ev:
                en[pname] = ev
        makers.append(m)
        enums.append(en)
    order = list(range(len(ops)))
    rng.shuffle(order)
    weights = [0.0] * len(ops)
    for rank, i in enumerate(order):
        weights[i] = 1.0 / (rank + 1)
    total = max(2000, min(40000, a.calls_per_op * len(ops)))
    sequence = list(range(len(ops))) + rng.choices(range(len(ops)), weights=weights, k=total - len(ops))
    rng.shuffle(sequence)
    clients = [f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(400)]
    client_w = zipf_weights(len(clients), 0.8)
    seen = {}
    used = [set() for _ in ops]
    ts = 1_795_000_000.0
    with open(f"{a.out}/records.jsonl", "w") as out:
        for n, i in enumerate(sequence):
            method, path, params = ops[i]
            client = rng.choices(range(len(clients)), weights=client_w)[0]
            concrete = path
            combo = {}
            for pname in re.findall(r"\{([^}]+)\}", path):
                pool, w = makers[i].get(pname, ([slug(rng)], [1.0]))
                if rng.random() < 0.5:
                    idx = int(hashlib.sha1(f"{client}/{pname}".encode()).hexdigest(), 16) % len(pool)
                else:
                    idx = rng.choices(range(len(pool)), weights=w)[0]
                v = pool[idx].replace("/", "-")
                if pname in enums[i]:
                    combo[pname] = v
                concrete = concrete.replace("{" + pname + "}", urllib.parse.quote(v, safe="-._~@:!$&'()*+,;="), 1)
            if combo:
                used[i].add(tuple(sorted(combo.items())))
            ts += rng.random() * 0.05
            status = 201 if method == "POST" else (204 if method == "DELETE" else 200)
            rec = {
                "schema_version": 1, "ts": round(ts, 6), "uid": f"C{n:010d}", "orig_h": clients[client], "orig_p": 40000 + n % 20000,
                "resp_h": "10.200.0.1", "resp_p": 80, "trans_depth": 1, "method": method, "host": host, "uri": concrete,
                "path": concrete, "query": None, "version": "1.1", "user_agent": "bench", "status_code": status,
                "status_msg": "OK", "info_code": None, "response_ts": round(ts + 0.01, 6), "latency_ms": round(rng.uniform(2, 80), 3),
                "duration_ms": None, "request_body_len": 0, "response_body_len": rng.randint(100, 5000), "request_len": 200,
                "response_len": 400, "request_content_type": None, "response_content_type": "application/json",
                "response_content_encoding": None, "x_forwarded_for": None, "cookie_names": [], "set_cookie_names": [],
                "auth_scheme": "bearer", "auth_hash": hashlib.sha1(str(client).encode()).hexdigest()[:32], "auth_user": None,
                "auth_jwt": None, "upgrade": None, "anomalies": [], "missed_bytes": 0, "quality": "complete", "vlan": None,
                "tunnel": None,
            }
            out.write(json.dumps(rec, separators=(",", ":")) + "\n")
            seen[i] = seen.get(i, 0) + 1
    truth = {
        "host": host,
        "operations": [
            {"method": ops[i][0], "template": ops[i][1], "calls": seen[i], "enum_values": [dict(c) for c in sorted(used[i])]}
            for i in sorted(seen)
        ],
        "calls": len(sequence),
    }
    json.dump(truth, open(f"{a.out}/truth.json", "w"), indent=1)


if __name__ == "__main__":
    main()
