#!/usr/bin/env python3
"""Where a bare-metal image's .text goes, by engine source file and function.

    ./costs.py [ELF [N]]    (default: the device step's release ELF; N functions listed too)

LTO inlines most of the engine into a few large symbols, so `nm --size-sort` says little. This
charges every instruction to the innermost frame of its inline chain (from the debug line
tables, through llvm-symbolizer) that lies in the engine, httparse or the program itself, and
anything else to the core/compiler-builtins file it came from. Needs llvm-objdump and
llvm-symbolizer (Debian's llvm). An instruction's size is the gap to the next one, capped at
4 bytes, so literal pools and padding are not counted.
"""
import collections
import re
import subprocess
import sys

OWN = ("/engine/src/", "httparse", "/src/bin/", "/bare-metal/src/")


def instruction_sizes(elf):
    listing = subprocess.run(
        ["llvm-objdump", "-d", "--no-show-raw-insn", elf], capture_output=True, text=True, check=True
    ).stdout
    addrs = sorted(int(m.group(1), 16) for m in re.finditer(r"^\s*([0-9a-f]+):\s", listing, re.M))
    return {a: min(b - a, 4) for a, b in zip(addrs, addrs[1:] + [addrs[-1] + 2])}


def inline_chains(elf, addrs):
    """One list of (function, file) frames per address, innermost first."""
    out = subprocess.run(
        ["llvm-symbolizer", "--inlining", "--obj", elf],
        input="\n".join(hex(a) for a in addrs),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for block in out.strip("\n").split("\n\n"):
        lines = block.splitlines()
        yield [(lines[i], lines[i + 1].split(":")[0]) for i in range(0, len(lines) - 1, 2)]


def owner(frames):
    for function, path in frames:
        if any(mark in path for mark in OWN):
            name = path.split("/engine/src/")[-1] if "/engine/src/" in path else path.split("/")[-1]
            return name, function
    function, path = frames[0] if frames else ("?", "?")
    return "[other] " + path.split("/library/")[-1], function


def main():
    elf = sys.argv[1] if len(sys.argv) > 1 else "target/thumbv7em-none-eabihf/release/device-step"
    functions = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    sizes = instruction_sizes(elf)
    by_file, by_function = collections.Counter(), collections.Counter()
    for addr, frames in zip(sizes, inline_chains(elf, list(sizes))):
        name, function = owner(frames)
        by_file[name] += sizes[addr]
        by_function[(name, function)] += sizes[addr]
    print(f"{sum(by_file.values()):7d} bytes of instructions in {elf}")
    for name, n in by_file.most_common(40):
        print(f"{n:7d} {name}")
    if functions:
        print()
        for (name, function), n in by_function.most_common(functions):
            print(f"{n:7d} {name} {function[:110]}")


if __name__ == "__main__":
    main()
