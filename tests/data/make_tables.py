#!/usr/bin/env python3
"""Converts the golden text files into the compact binary tables the tests read.

Usage: make_tables.py GOLDEN_DIR

GOLDEN_DIR holds decode_<alias>.txt, encode_<alias>.txt, encode_<alias>_from_bf16.txt and
encode_<alias>_from_f16.txt for every alias below, and sub-byte/decode_<name>.txt for the MX
formats in SUB_BYTE. The tables are written next to this script; their layout is described in
README.md (same folder).
"""

import argparse
import pathlib
import struct
import sys

ALIASES = ("e5m2", "e4m3fn", "e3m4fn", "e4m3fnuz", "e5m2fnuz", "e4m3b11fnuz", "e4m3", "e3m4")
# MX formats: table stem -> golden name (sub-byte/decode_<name>.txt). Only the decode table.
SUB_BYTE = {"e8m0fnu": "float8_e8m0fnu"}


def read_rows(path, fields):
    """Rows of hex integers; every line must have exactly `fields` leading hex columns."""
    rows = []
    with open(path, encoding="ascii") as f:
        for number, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < fields:
                sys.exit(f"{path}:{number}: expected {fields} columns, got {len(parts)}")
            rows.append(tuple(int(p, 16) for p in parts[:fields]))
    return rows


def check_code(path, value):
    if not 0 <= value <= 0xFF:
        sys.exit(f"{path}: code {value:#x} is not a byte")
    return value


def write_decode(path, out):
    rows = read_rows(path, 2)
    if [code for code, _ in rows] != list(range(256)):
        sys.exit(f"{path}: expected the 256 codes 00..ff in order")
    out.write_bytes(b"".join(struct.pack("<I", bits) for _, bits in rows))


def make_encode(golden, out, alias):
    path = golden / f"encode_{alias}.txt"
    rows = read_rows(path, 3)
    out.write_bytes(b"".join(
        struct.pack("<IBB", x, check_code(path, a), check_code(path, b)) for x, a, b in rows))


def make_from16(golden, out, alias, suffix):
    path = golden / f"encode_{alias}_from_{suffix}.txt"
    rows = read_rows(path, 3)
    if [x for x, _, _ in rows] != list(range(65536)):
        sys.exit(f"{path}: expected the 65536 inputs 0000..ffff in order")
    out.write_bytes(b"".join(
        struct.pack("<BB", check_code(path, a), check_code(path, b)) for _, a, b in rows))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("golden", type=pathlib.Path, help="folder with the golden .txt files")
    args = parser.parse_args()
    out = pathlib.Path(__file__).resolve().parent
    for alias in ALIASES:
        write_decode(args.golden / f"decode_{alias}.txt", out / f"{alias}.decode.bin")
        make_encode(args.golden, out / f"{alias}.encode.bin", alias)
        make_from16(args.golden, out / f"{alias}.from_bf16.bin", alias, "bf16")
        make_from16(args.golden, out / f"{alias}.from_f16.bin", alias, "f16")
    for stem, name in SUB_BYTE.items():
        write_decode(args.golden / "sub-byte" / f"decode_{name}.txt", out / f"{stem}.decode.bin")
    print(f"wrote {4 * len(ALIASES) + len(SUB_BYTE)} tables to {out}")


if __name__ == "__main__":
    main()
