#!/usr/bin/env python3
"""The seeds of fuzz_npy: small float32 .npy files as NumPy writes them (format 1.0 and 2.0, an
empty matrix), written byte by byte (no NumPy needed). Usage: tests/fuzz/make_npy_seeds.py"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "npy")


def npy(name, rows, dim, major=1):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, dim)
    preamble = 10 if major == 1 else 12
    while (preamble + len(header) + 1) % 64:
        header += " "
    header += "\n"
    length = struct.pack("<H", len(header)) if major == 1 else struct.pack("<I", len(header))
    data = struct.pack("<%df" % (rows * dim), *[i * 0.5 - 1 for i in range(rows * dim)])
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(b"\x93NUMPY" + bytes([major, 0]) + length + header.encode() + data)


os.makedirs(OUT, exist_ok=True)
npy("3x4.npy", 3, 4)
npy("2x5-v2.npy", 2, 5, 2)
npy("0x8.npy", 0, 8)
