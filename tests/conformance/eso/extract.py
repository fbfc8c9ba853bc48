#!/usr/bin/env python3
"""Writes the property paths of External Secrets Operator's generated CRDs, one per line.

Usage: extract.py CRD.yaml... > eso-v2.9.0-crd-paths.txt

Each line is `Kind version path type [enum=a|b] [required=a,b]` for every schema node under
`.spec` and `.status` of every served version: `path` is `.spec.a.b`, `[]` for the items of an
array, `{}` for the values of a map (additionalProperties); `type` is the node's OpenAPI type,
`int-or-string` for `x-kubernetes-int-or-string`, with `+unknown` appended for
`x-kubernetes-preserve-unknown-fields` (`any` when the node has no type).
"""
import sys

import yaml


def walk(node, path, out):
    t = node.get("type")
    if node.get("x-kubernetes-int-or-string"):
        t = "int-or-string"
    if node.get("x-kubernetes-preserve-unknown-fields"):
        t = (t or "any") + "+unknown"
    line = [path, t or "any"]
    if node.get("enum"):
        line.append("enum=" + "|".join(str(e) for e in node["enum"]))
    if node.get("required"):
        line.append("required=" + ",".join(node["required"]))
    out.append(" ".join(line))
    for k, v in sorted((node.get("properties") or {}).items()):
        walk(v, f"{path}.{k}", out)
    if isinstance(node.get("items"), dict):
        walk(node["items"], path + "[]", out)
    ap = node.get("additionalProperties")
    if isinstance(ap, dict):
        walk(ap, path + "{}", out)


def main():
    for f in sys.argv[1:]:
        with open(f) as fh:
            crd = yaml.safe_load(fh)
        kind = crd["spec"]["names"]["kind"]
        for v in crd["spec"]["versions"]:
            if not v.get("served"):
                continue
            schema = v["schema"]["openAPIV3Schema"]
            out = []
            for top in ("spec", "status"):
                if top in schema.get("properties", {}):
                    walk(schema["properties"][top], "." + top, out)
            for line in out:
                print(kind, v["name"], line)


if __name__ == "__main__":
    main()
