#!/usr/bin/env python3
"""Flash and static RAM of ELF firmware images (from their section headers, via readelf).

flash = .vector_table + .text + .rodata + .data (initial values); RAM = .data + .bss + .uninit.
Prints a Markdown table and exits 1 if an image exceeds the budget (256 KiB flash, 96 KiB RAM
including the stack, which cortex-m-rt places in the rest of RAM: see docs/firmware.md).
"""
import subprocess
import sys

FLASH = {".vector_table", ".text", ".rodata", ".data"}
RAM = {".data", ".bss", ".uninit"}
BUDGET = (256 * 1024, 96 * 1024)

ok = True
print("| application | flash | static RAM |")
print("|---|---|---|")
for path in sys.argv[1:]:
    out = subprocess.run(["readelf", "-S", "-W", path], capture_output=True, text=True, check=True).stdout
    flash = ram = 0
    for line in out.splitlines():
        parts = line.replace("[ ", "[").split()
        if len(parts) > 6 and parts[1].startswith("."):
            name, size = parts[1], int(parts[5], 16)
            flash += size if name in FLASH else 0
            ram += size if name in RAM else 0
    name = path.rsplit("/", 1)[-1].removesuffix(".elf")
    print(f"| {name} | {flash:,} B ({flash / 1024:.1f} KiB) | {ram:,} B ({ram / 1024:.1f} KiB) |")
    ok &= flash <= BUDGET[0] and ram <= BUDGET[1]
sys.exit(0 if ok else 1)
