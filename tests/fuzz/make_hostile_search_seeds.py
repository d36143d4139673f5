#!/usr/bin/env python3
"""Hostile seeds for fuzz_search_index, from the seeds make_search_seeds.sh made: the same files
with a metadata field that would have the reader allocate without bound if it trusted it
(2^20 lists, whose IVF-PQ table is lists x codes x 256 floats; 2^31 rows). The safetensors
header is JSON, so no NumPy is needed. Usage: tests/fuzz/make_hostile_search_seeds.py"""
import json
import os
import struct

SEEDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "search_index")


def rewrite(source, name, key, value):
    with open(os.path.join(SEEDS, source), "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    header["__metadata__"][key] = value
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(SEEDS, name), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + blob[8 + n:])


rewrite("ivf-pq.index", "hostile-lists.index", "lists", "1048576")
rewrite("ivf-pq.index", "hostile-rows.index", "rows", "2147483648")
rewrite("flat.index", "hostile-flat-rows.index", "rows", "2147483648")
