#!/usr/bin/env bash
# Fetches the OpenAPI descriptions listed in specs.json from their npm packages (pinned
# versions), extracts them to bench/data/templating/specs/NAME.json and checks each
# file's sha256 against specs.json. Needs npm and python3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=$here/../data/templating
mkdir -p "$data/pkgs" "$data/specs"
python3 - "$here/specs.json" > "$data/pkgs/list" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for name, p in d["packages"].items():
    print("pkg", name, p["version"])
for s in d["specs"]:
    print("spec", s["name"], s["package"], s["file"], s.get("sha256", "-"))
PY
while read -r kind a b c d; do
  if [ "$kind" = pkg ]; then
    tgz=$data/pkgs/$(echo "$a" | tr -d '@' | tr '/' '-')-$b.tgz
    if [ ! -f "$tgz" ]; then
      (cd "$data/pkgs" && npm pack "$a@$b" --silent > /dev/null 2>&1) || { echo "npm pack $a@$b failed" >&2; exit 1; }
    fi
  else
    name=$a pkg=$b file=$c want=$d
    out=$data/specs/$name.json
    ver=$(awk -v p="$pkg" '$1 == "pkg" && $2 == p {print $3}' "$data/pkgs/list")
    tgz=$data/pkgs/$(echo "$pkg" | tr -d '@' | tr '/' '-')-$ver.tgz
    [ -f "$out" ] || tar xzf "$tgz" -O "package/$file" > "$out"
    got=$(sha256sum "$out" | cut -d' ' -f1)
    if [ "$want" != "-" ] && [ "$got" != "$want" ]; then
      echo "$name: sha256 $got, expected $want" >&2
      exit 1
    fi
    echo "$name $got"
  fi
done < "$data/pkgs/list"
