#!/usr/bin/env python3
"""Where a wasm module's bytes go: code per function, grouped by crate.

Usage: python3 bench/wasm-size.py MODULE.wasm [--top N] [--grep REGEX]

MODULE must keep its name section (build the policy with
`CARGO_PROFILE_RELEASE_STRIP=false`, before wasm-opt, which renames nothing
but may merge functions). Prints the size of every section, then the code
bytes per group (crate, with serde-derived code and core's formatting
apart), then the largest functions. Standard library only, so it runs on
any machine with python3 (no twiggy needed).
"""

import re
import sys
from collections import defaultdict


def leb(data, pos):
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, pos


def sections(data):
    if data[:4] != b"\0asm":
        sys.exit("not a wasm module")
    pos = 8
    while pos < len(data):
        sid = data[pos]
        size, body = leb(data, pos + 1)
        yield sid, data[body:body + size], pos, body + size - pos
        pos = body + size


def name_of_custom(payload):
    n, p = leb(payload, 0)
    return payload[p:p + n].decode("utf-8", "replace"), payload[p + n:]


def function_names(payload):
    names = {}
    pos = 0
    while pos < len(payload):
        sub = payload[pos]
        size, body = leb(payload, pos + 1)
        if sub == 1:
            count, p = leb(payload, body)
            for _ in range(count):
                idx, p = leb(payload, p)
                n, p = leb(payload, p)
                names[idx] = payload[p:p + n].decode("utf-8", "replace")
                p += n
        pos = body + size
    return names


def imported_functions(payload):
    count, p = leb(payload, 0)
    funcs = 0
    for _ in range(count):
        for _ in range(2):
            n, p = leb(payload, p)
            p += n
        kind = payload[p]
        p += 1
        if kind == 0:
            _, p = leb(payload, p)
            funcs += 1
        elif kind == 1:
            p += 1
            flags, p = leb(payload, p)
            _, p = leb(payload, p)
            if flags & 1:
                _, p = leb(payload, p)
        elif kind == 2:
            flags, p = leb(payload, p)
            _, p = leb(payload, p)
            if flags & 1:
                _, p = leb(payload, p)
        elif kind == 3:
            p += 2
        else:
            p += 1
    return funcs


HASH = re.compile(r"::h[0-9a-f]{16}$")
ESCAPES = {"$LT$": "<", "$GT$": ">", "$u20$": " ", "$RF$": "&", "$C$": ",", "$BP$": "*",
           "$u27$": "'", "$u5b$": "[", "$u5d$": "]", "$u7b$": "{", "$u7d$": "}",
           "$u3b$": ";", "$u7e$": "~", "$u21$": "!", "$u22$": '"', "$SP$": "@",
           "$LP$": "(", "$RP$": ")", "$u2b$": "+"}


def demangle(name):
    """Rust's legacy mangling (`_ZN…E`) demangled; v0 (`_R…`) reduced to its
    identifiers; anything else as is."""
    if name.startswith("_ZN") and name.endswith("E"):
        parts, p, body = [], 3, name[3:-1]
        p = 0
        while p < len(body):
            m = re.match(r"\d+", body[p:])
            if not m:
                break
            n = int(m.group(0))
            p += len(m.group(0))
            seg = body[p:p + n]
            p += n
            if re.fullmatch(r"h[0-9a-f]{16}", seg):
                continue
            if seg.startswith("_$"):
                seg = seg[1:]
            for k, v in ESCAPES.items():
                seg = seg.replace(k, v)
            parts.append(seg.replace("..", "::"))
        return "::".join(parts)
    if name.startswith("_R"):
        m = re.search(r"C(?:s[0-9A-Za-z]*_)?(\d+)([A-Za-z_])", name)
        if not m:
            return name
        idents, p = [], m.start(1)
        while p < len(name):
            d = re.match(r"\d+", name[p:])
            if d:
                n = int(d.group(0))
                p += len(d.group(0))
                if name[p:p + 1] == "_":
                    p += 1
                idents.append(name[p:p + n])
                p += n
            elif name[p] in "CsNvtYIEBM" or name[p].isalnum() or name[p] == "_":
                if name[p] == "s":
                    e = name.find("_", p)
                    p = e + 1 if e > 0 else p + 1
                else:
                    p += 1
            else:
                p += 1
        return "::".join(i for i in idents if i)
    return name


def group(name):
    """The group a (demangled) function name counts under."""
    n = HASH.sub("", name)
    if n.startswith("func["):
        return "(unnamed)"
    if "__Visitor" in n or "__Field" in n or "impl serde" in n or "as serde_core::de::" in n \
            or n.startswith("serde_core::") or n.startswith("serde::"):
        owner = "policy" if "kritis_attestation_policy" in n else "other"
        return f"serde-generated ({owner} types) and serde_core"
    if "serde_json" in n.split("::")[0] or "serde_json::de::Deserializer" in n:
        return "serde_json"
    if n.startswith("core::fmt::float") or "float_to_decimal" in n or "flt2dec" in n or "dec2flt" in n:
        return "core: float formatting/parsing"
    if n.startswith("core::fmt") or "as core::fmt::" in n:
        return "core::fmt (Display/Debug impls and machinery)"
    # `<A as B>::f`, `<A>::f`: the crate of A.
    m = re.match(r"^<+&?(?:mut )?(?:\[)?(?:dyn )?([A-Za-z_][A-Za-z0-9_]*)", n)
    if m:
        crate = m.group(1)
    else:
        crate = re.split(r"::|<|\s|\(", n, maxsplit=1)[0]
    if crate in ("kritis_attestation_policy",):
        return "policy"
    if crate in ("alloc", "std", "core", "dlmalloc", "compiler_builtins", "__rust_alloc"):
        return f"{crate}"
    if crate.startswith("_") or crate in ("", "memcpy", "memset", "memmove", "memcmp"):
        return "libc / builtins / glue"
    return crate


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    top = 25
    grep = None
    if "--top" in args:
        top = int(args[args.index("--top") + 1])
    if "--grep" in args:
        grep = args[args.index("--grep") + 1]
    path = args[0]
    data = open(path, "rb").read()
    names = {}
    imports = 0
    code = None
    by_section = []
    ids = {0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory",
           6: "global", 7: "export", 8: "start", 9: "element", 10: "code", 11: "data",
           12: "datacount"}
    for sid, payload, _, total in sections(data):
        label = ids.get(sid, str(sid))
        if sid == 0:
            cname, rest = name_of_custom(payload)
            label = f"custom {cname}"
            if cname == "name":
                names = function_names(rest)
        elif sid == 2:
            imports = imported_functions(payload)
        elif sid == 10:
            code = payload
        by_section.append((label, total))
    print(f"{path}: {len(data)} bytes ({len(data) / 1024:.1f} KiB)\n")
    print("Sections:")
    for label, total in by_section:
        print(f"  {total / 1024:8.1f} KiB  {label}")
    if code is None:
        return
    count, p = leb(code, 0)
    sizes = []
    for i in range(count):
        size, body = leb(code, p)
        sizes.append((demangle(names.get(imports + i, f"func[{imports + i}]")), body + size - p))
        p = body + size
    if not names:
        print("\n(no name section: build with CARGO_PROFILE_RELEASE_STRIP=false)")
    groups = defaultdict(lambda: [0, 0])
    for name, size in sizes:
        g = groups[group(name)]
        g[0] += size
        g[1] += 1
    total = sum(s for _, s in sizes)
    print(f"\nCode: {total / 1024:.1f} KiB in {len(sizes)} functions, by group:")
    for g, (size, n) in sorted(groups.items(), key=lambda kv: -kv[1][0]):
        if size < 1024:
            continue
        print(f"  {size / 1024:8.1f} KiB  {n:5d} fns  {g}")
    print(f"\nLargest {top} functions:")
    for name, size in sorted(sizes, key=lambda x: -x[1])[:top]:
        print(f"  {size / 1024:8.1f} KiB  {HASH.sub('', name)[:160]}")
    if grep:
        sel = [(n, s) for n, s in sizes if re.search(grep, n)]
        print(f"\nFunctions matching {grep!r}: {len(sel)}, {sum(s for _, s in sel) / 1024:.1f} KiB")
        for name, size in sorted(sel, key=lambda x: -x[1])[:top]:
            print(f"  {size / 1024:8.1f} KiB  {HASH.sub('', name)[:160]}")


if __name__ == "__main__":
    main()
