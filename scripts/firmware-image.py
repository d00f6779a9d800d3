#!/usr/bin/env python3
"""ELF → the three files a technician flashes or keeps: <out>.elf (with symbols, for probe-rs
and debuggers), <out>.bin (the loadable segments from the lowest address) and <out>.hex (Intel
HEX with extended linear addresses). Reads the ELF's program headers itself."""
import shutil
import struct
import sys

src, out = sys.argv[1], sys.argv[2]
elf = open(src, "rb").read()
assert elf[:4] == b"\x7fELF" and elf[4] == 1, "a 32-bit ELF"
phoff, = struct.unpack_from("<I", elf, 28)
phentsize, phnum = struct.unpack_from("<HH", elf, 42)
segs = []
for i in range(phnum):
    p_type, p_offset, _, p_paddr, p_filesz = struct.unpack_from("<IIIII", elf, phoff + i * phentsize)
    if p_type == 1 and p_filesz:
        segs.append((p_paddr, elf[p_offset:p_offset + p_filesz]))
segs.sort()
base = segs[0][0]
end = max(a + len(d) for a, d in segs)
image = bytearray(b"\xff" * (end - base))
for a, d in segs:
    image[a - base:a - base + len(d)] = d
shutil.copyfile(src, out + ".elf")
open(out + ".bin", "wb").write(image)


def rec(kind, addr, data):
    b = bytes([len(data), addr >> 8 & 0xFF, addr & 0xFF, kind]) + data
    return ":" + (b + bytes([-sum(b) & 0xFF])).hex().upper() + "\n"


lines, upper = [], None
for off in range(0, len(image), 16):
    addr = base + off
    if addr >> 16 != upper:
        upper = addr >> 16
        lines.append(rec(4, 0, struct.pack(">H", upper)))
    lines.append(rec(0, addr & 0xFFFF, bytes(image[off:off + 16])))
lines.append(rec(1, 0, b""))
open(out + ".hex", "w").write("".join(lines))
