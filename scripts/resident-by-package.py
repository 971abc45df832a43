#!/usr/bin/env python3
"""resident-by-package.py PID BINARY [N] — which packages of a Go binary are resident.

Reads /proc/PID/maps and /proc/PID/pagemap (root needed for the present bits), takes the
pages of BINARY's mappings that are resident, maps each to the symbols overlapping it
(`go tool nm -size -sort address BINARY`, shared out by bytes) and prints the resident KB
per module or package, largest first (N rows, default 25). Pages that hold no symbol (most
of the function tables, .rodata between symbols) are "(no symbol)".

docs/serve.md ("Idle RSS: what the 18 MB are") uses it on an idle `hotpath serve`:
    hotpath serve --addr 127.0.0.1:29180 --admin-addr 127.0.0.1:29181 &
    curl -s 127.0.0.1:29180/time; scripts/resident-by-package.py $! ./hotpath
Needs python3 and go. Reads only; starts nothing.
"""
import bisect
import collections
import os
import re
import struct
import subprocess
import sys

# Modules reported as one row each (everything under them summed).
MODULES = ["google.golang.org/grpc", "google.golang.org/protobuf", "google.golang.org/genproto",
           "github.com/valyala", "github.com/lesismal", "github.com/prometheus", "golang.org/x/net",
           "github.com/spf13", "github.com/hotpath-dev/hotpath", "github.com/klauspost",
           "github.com/google", "github.com/molecule-man/go-brrr"]


def package(symbol):
    if symbol.startswith("go:func."):
        return "(go:func.* tables)"
    name = re.sub(r"^(type:|go:|runtime\.gcbits|\*)", "", symbol)
    m = re.match(r"^([\w./-]*?)\.[^/]*$", name)
    pkg = m.group(1) if m else name
    for mod in MODULES:
        if pkg.startswith(mod):
            return mod
    return pkg


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: resident-by-package.py PID BINARY [N]")
    pid, binary = sys.argv[1], sys.argv[2]
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    exe = os.path.realpath(binary)
    maps = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            p = line.split()
            if len(p) >= 6 and os.path.realpath(p[5]) == exe:
                lo, hi = (int(x, 16) for x in p[0].split("-"))
                maps.append((lo, hi))
    if not maps:
        sys.exit(f"resident-by-package: {binary} is not mapped by process {pid}")
    resident = []
    with open(f"/proc/{pid}/pagemap", "rb") as pm:
        for lo, hi in maps:
            n = (hi - lo) // 4096
            pm.seek(lo // 4096 * 8)
            data = pm.read(n * 8)
            for i in range(n):
                (v,) = struct.unpack_from("<Q", data, i * 8)
                if v >> 63 & 1:
                    resident.append(lo + i * 4096)
    nm = subprocess.run(["go", "tool", "nm", "-size", "-sort", "address", binary],
                        capture_output=True, text=True, check=True).stdout
    syms = []
    for line in nm.splitlines():
        p = line.split(None, 3)
        if len(p) == 4:
            syms.append((int(p[0], 16), int(p[1]), p[3]))
    addrs = [s[0] for s in syms]
    kb = collections.Counter()
    for page in resident:
        covered = collections.Counter()
        i = max(bisect.bisect_right(addrs, page) - 1, 0)
        while i < len(syms) and syms[i][0] < page + 4096:
            start, size, name = syms[i]
            lo, hi = max(start, page), min(start + max(size, 1), page + 4096)
            if hi > lo:
                covered[package(name)] += hi - lo
            i += 1
        total = sum(covered.values())
        if total == 0:
            kb["(no symbol)"] += 4
            continue
        for k, v in covered.items():
            kb[k] += 4 * v / total
    print(f"resident KB in {binary}'s mappings: {len(resident) * 4}")
    for k, v in kb.most_common(rows):
        print(f"{v:8.0f} KB  {k}")


if __name__ == "__main__":
    main()
