#!/usr/bin/env python3
"""Generates `schema.rs`, the protobuf schema table behind `protobuf.rs`.

Reads the Kubernetes `generated.proto` files (field numbers and wire types) and the Go
`types.go` files beside them (the JSON name, `omitempty`, `,inline` and pointer-ness of each
field, which the .proto files do not carry), for the API groups listed in GROUPS below, and writes
one Rust table: every kind (a type with `metadata`, and meta/v1's types) and the messages it reaches.

Usage (both checkouts at the tag matching the k8s-openapi feature, e.g. v0.33.9 for v1_33):

    python3 apiserver/src/protobuf/gen_schema.py \\
        --api /path/to/kubernetes/api --apimachinery /path/to/kubernetes/apimachinery \\
        --out apiserver/src/protobuf/schema.rs --source v0.33.9

Those are github.com/kubernetes/api and github.com/kubernetes/apimachinery (the staging copies
under kubernetes/kubernetes' staging/src/k8s.io work too). The output is passed through rustfmt
when it is on PATH. Standard library only.
"""

import argparse
import os
import re
import subprocess
import sys

# (directory under --api, API group, version): every group whose kinds are decoded.
GROUPS = [
    ("core/v1", "", "v1"),
    ("apps/v1", "apps", "v1"),
    ("batch/v1", "batch", "v1"),
    ("networking/v1", "networking.k8s.io", "v1"),
    ("discovery/v1", "discovery.k8s.io", "v1"),
    ("policy/v1", "policy", "v1"),
    ("rbac/v1", "rbac.authorization.k8s.io", "v1"),
    ("autoscaling/v1", "autoscaling", "v1"),
    ("autoscaling/v2", "autoscaling", "v2"),
    ("scheduling/v1", "scheduling.k8s.io", "v1"),
    ("coordination/v1", "coordination.k8s.io", "v1"),
    ("storage/v1", "storage.k8s.io", "v1"),
    ("events/v1", "events.k8s.io", "v1"),
    ("authentication/v1", "authentication.k8s.io", "v1"),
    ("certificates/v1", "certificates.k8s.io", "v1"),
    ("node/v1", "node.k8s.io", "v1"),
    ("admissionregistration/v1", "admissionregistration.k8s.io", "v1"),
    ("authorization/v1", "authorization.k8s.io", "v1"),
]

META = "k8s.io.apimachinery.pkg.apis.meta.v1"

# Messages with their own JSON form, decoded by hand in protobuf.rs (fully-qualified name ->
# `Type` variant). Any other message outside the packages read is an error.
SPECIAL = {
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "Quantity",
    f"{META}.Time": "Time",
    f"{META}.MicroTime": "MicroTime",
    f"{META}.FieldsV1": "RawJson",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "RawExtension",
}

SCALARS = {"string": "Str", "bytes": "Bytes", "bool": "Bool", "int32": "I32", "int64": "I64"}


def strip_block_comments(text):
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def parse_proto(path):
    """Returns (package, [(message, list_wrapper, [(label, type, name, number)])])."""
    text = strip_block_comments(open(path, encoding="utf-8").read())
    package = re.search(r"^package\s+([\w.]+);", text, re.M).group(1)
    messages = []
    comments = []
    current = None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("//"):
            comments.append(s)
            continue
        if current is None:
            m = re.match(r"message\s+(\w+)\s*\{$", s)
            if m:
                nullable = any("+protobuf.nullable=true" in c for c in comments)
                current = (m.group(1), nullable, [])
            elif s:
                comments = []
            continue
        if s == "}":
            messages.append(current)
            current = None
            comments = []
            continue
        m = re.match(r"(optional|repeated|required)\s+([\w.]+)\s+(\w+)\s*=\s*(\d+);$", s)
        if m:
            current[2].append((m.group(1), m.group(2), m.group(3), int(m.group(4))))
            continue
        m = re.match(r"map<\s*(\w+)\s*,\s*([\w.]+)\s*>\s+(\w+)\s*=\s*(\d+);$", s)
        if m:
            if m.group(1) != "string":
                sys.exit(f"{path}: map key {m.group(1)} is not string")
            current[2].append(("map", m.group(2), m.group(3), int(m.group(4))))
            continue
        if s and not s.startswith("//"):
            sys.exit(f"{path}: cannot parse line in message {current[0]}: {s}")
    return package, messages


FIELD = re.compile(r"^\t(?P<decl>[^`/]+?)\s*`(?P<tags>[^`]*)`")


def parse_go(directory):
    """Returns {struct: {field number: (json name, omit_zero, inline)}} for a Go package."""
    structs = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".go") or name.endswith("_test.go") or name.startswith("zz_"):
            continue
        if name == "generated.pb.go":
            continue
        current = None
        for line in open(os.path.join(directory, name), encoding="utf-8"):
            m = re.match(r"^type\s+(\w+)\s+struct\s*\{", line)
            if m:
                current = structs.setdefault(m.group(1), {})
                continue
            if line.startswith("}"):
                current = None
                continue
            if current is None:
                continue
            m = FIELD.match(line)
            if not m:
                continue
            pb = re.search(r'protobuf:"([^"]*)"', m.group("tags"))
            if not pb or pb.group(1) == "-":
                continue
            js = re.search(r'json:"([^"]*)"', m.group("tags"))
            js_parts = js.group(1).split(",") if js else [""]
            decl = m.group("decl").split()
            go_type = decl[-1]
            number = int(pb.group(1).split(",")[1])
            opts = js_parts[1:]
            inline = "inline" in opts
            pointer = go_type.startswith("*")
            omit_zero = not pointer and ("omitempty" in opts or "omitzero" in opts)
            current[number] = (js_parts[0], omit_zero, inline)
    return structs


def screaming(name):
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    return s.upper()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--api", required=True, help="checkout of k8s.io/api")
    ap.add_argument("--apimachinery", required=True, help="checkout of k8s.io/apimachinery")
    ap.add_argument("--out", required=True, help="the schema.rs to write")
    ap.add_argument("--source", default="", help="version named in the header, e.g. v0.33.9")
    args = ap.parse_args()

    # (dir, package prefix, apiVersion) for every package read, meta/v1 last.
    packages = []
    for d, group, version in GROUPS:
        api_version = f"{group}/{version}" if group else version
        packages.append((os.path.join(args.api, d), d.replace("/", "_").upper(), api_version))
    packages.append(
        (os.path.join(args.apimachinery, "pkg/apis/meta/v1"), "META_V1", "meta.k8s.io/v1")
    )

    parsed = []  # (prefix, apiVersion, package, messages, go structs)
    statics = {}  # fully-qualified message -> static name
    for d, prefix, api_version in packages:
        package, messages = parse_proto(os.path.join(d, "generated.proto"))
        go = parse_go(d)
        parsed.append((prefix, api_version, package, messages, go))
        for name, _, _ in messages:
            fq = f"{package}.{name}"
            if fq not in SPECIAL:
                statics[fq] = f"{prefix}_{screaming(name)}"

    warnings = []
    entries = {}  # fully-qualified message -> (static, name, list wrapper, rows, referenced)
    order = []
    tables = []  # (apiVersion, [(kind, static)])
    roots = []
    for prefix, api_version, package, messages, go in parsed:
        kinds = []
        for name, nullable, fields in messages:
            fq = f"{package}.{name}"
            if fq not in statics:
                continue
            static = statics[fq]
            # Kinds: the meta/v1 types (options, Status) and every type with metadata.
            if prefix == "META_V1" or any(f[2] == "metadata" for f in fields):
                kinds.append((name, static))
                roots.append(fq)
            go_fields = go.get(name)
            if go_fields is None and fields:
                warnings.append(f"{fq}: no Go struct, zero values kept")
                go_fields = {}
            list_wrapper = nullable and len(fields) == 1 and fields[0][0] == "repeated"
            rows = []
            refs = []
            for label, ty, fname, number in sorted(fields, key=lambda f: f[3]):
                if ty in SCALARS:
                    rust_ty = f"T::{SCALARS[ty]}"
                else:
                    full = ty[1:] if ty.startswith(".") else f"{package}.{ty}"
                    if full in SPECIAL:
                        rust_ty = f"T::{SPECIAL[full]}"
                    elif full in statics:
                        rust_ty = f"T::Msg(&{statics[full]})"
                        refs.append(full)
                    else:
                        sys.exit(f"{fq}.{fname}: type {ty} is neither read nor special")
                json_name, omit_zero, inline = go_fields.get(number, (fname, False, False))
                if number not in go_fields and go_fields:
                    warnings.append(f"{fq}.{fname}: no Go field {number}, zero values kept")
                if inline:
                    if not rust_ty.startswith("T::Msg(") or label != "optional":
                        sys.exit(f"{fq}.{fname}: inline field is not a message")
                    json_name = ""
                elif json_name == "":
                    json_name = fname
                elif json_name != fname:
                    warnings.append(f"{fq}.{fname}: JSON name {json_name} differs, JSON used")
                card = {"optional": "ONE", "required": "ONE", "repeated": "REP", "map": "MAP"}
                # Go's omitempty drops zero scalars only; structs (IntOrString, Quantity) stay.
                omit_zero = omit_zero and ty in SCALARS and label == "optional"
                flags = "INLINE" if inline else ("OMIT_ZERO" if omit_zero else "0")
                rows.append(
                    f'    f({number}, "{json_name}", {card[label]}, {rust_ty}, {flags}),'
                )
            entries[fq] = (static, name, list_wrapper, rows, refs)
            order.append(fq)
        kinds.sort()
        tables.append((api_version, kinds))

    # Only the messages some kind reaches.
    reachable = set()
    stack = list(roots)
    while stack:
        fq = stack.pop()
        if fq not in reachable:
            reachable.add(fq)
            stack.extend(entries[fq][4])
    out = []
    nfields = 0
    for fq in order:
        if fq not in reachable:
            continue
        static, name, list_wrapper, rows, _ = entries[fq]
        nfields += len(rows)
        body = "\n".join(rows)
        sep = f"\n{body}\n" if rows else ""
        out.append(
            f"static {static}: Message = Message {{\n"
            f'    name: "{name}",\n'
            f"    list: {'true' if list_wrapper else 'false'},\n"
            f"    fields: &[{sep}],\n"
            f"}};"
        )
    table_text = []
    for api_version, kinds in tables:
        rows = "\n".join(f'        ("{k}", &{s}),' for k, s in kinds)
        table_text.append(f'    (\n        "{api_version}",\n        &[\n{rows}\n        ],\n    ),')

    header = f"""//! The generated protobuf schema: every message of the Kubernetes API groups decoded.
//!
//! Generated by `gen_schema.py` (beside this file) from k8s.io/api and k8s.io/apimachinery
//! {args.source or "generated.proto and types.go"}: do not edit by hand, regenerate instead.
//! {len(out)} messages, {nfields} fields.

use super::{{Field, Message, Type as T, INLINE, MAP, ONE, OMIT_ZERO, REP}};

const fn f(number: u32, json: &'static str, card: u8, ty: T, flags: u8) -> Field {{
    Field {{ number, json, card, ty, flags }}
}}

/// Every `apiVersion` decoded, with its kinds (types with `metadata`) sorted by name (`meta.k8s.io/v1` last: the
/// fallback for options and `Status` sent under any group's version).
pub(super) static KINDS: &[(&str, &[(&str, &Message)])] = &[
"""
    text = header + "\n".join(table_text) + "\n];\n\n" + "\n\n".join(out) + "\n"
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write(text)
    try:
        subprocess.run(["rustfmt", "--edition", "2024", args.out], check=True)
    except FileNotFoundError:
        warnings.append("rustfmt not found: output left unformatted")
    for w in warnings:
        print("warning:", w, file=sys.stderr)
    print(f"wrote {args.out}: {len(out)} messages, {nfields} fields", file=sys.stderr)


if __name__ == "__main__":
    main()
