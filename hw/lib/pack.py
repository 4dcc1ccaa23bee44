"""Packing numpy tensors into buffer words and back (the host side of every GLB).

A buffer word is a Python int; lane ``l`` of a word of ``bits``-wide lanes occupies bits
``[l*bits, (l+1)*bits)``, signed values in two's complement. Bit ``j`` of a spike word is spike j.
"""
from __future__ import annotations

import numpy as np

__all__ = ["pack_lanes", "pack_biases", "pack_bits", "unpack_bits", "unpack_lanes"]


def pack_lanes(values: np.ndarray, bits: int) -> list[int]:
    """Rows of signed integers ``(rows, lanes)`` -> one int per row."""
    v = np.asarray(values, dtype=np.int64) & ((1 << bits) - 1)
    out = []
    shifts = [l * bits for l in range(v.shape[1])]
    for row in v.tolist():
        word = 0
        for x, s in zip(row, shifts):
            word |= x << s
        out.append(word)
    return out


def pack_biases(values: np.ndarray, bits: int, lanes: int, parts: int, room: int) -> list[int]:
    """Bias words of a weight GLB: ``lanes`` signed ``bits``-bit biases a word, or with ``parts`` > 1
    (one bias wider than the ``room`` bits of a word's top slice) each bias as ``parts`` words of
    ``room`` bits, low part first."""
    if parts == 1:
        return pack_lanes(np.asarray(values).reshape(-1, lanes), bits)
    v = np.asarray(values, dtype=np.int64).reshape(-1) & ((1 << bits) - 1)
    mask = (1 << room) - 1
    return [(int(x) >> (k * room)) & mask for x in v.tolist() for k in range(parts)]


def pack_bits(bits: np.ndarray) -> list[int]:
    """Rows of 0/1 ``(rows, width)`` -> one int per row (bit j = column j)."""
    b = np.asarray(bits, dtype=np.uint8)
    packed = np.packbits(b, axis=1, bitorder="little")
    return [int.from_bytes(r.tobytes(), "little") for r in packed]


def unpack_bits(words, width: int) -> np.ndarray:
    """Ints -> ``(rows, width)`` uint8 bits."""
    nbytes = (width + 7) // 8
    raw = np.frombuffer(b"".join(int(w).to_bytes(nbytes, "little") for w in words), dtype=np.uint8)
    return np.unpackbits(raw.reshape(len(words), nbytes), axis=1, bitorder="little")[:, :width]


def unpack_lanes(words, lanes: int, bits: int) -> np.ndarray:
    """Ints -> ``(rows, lanes)`` signed int64 (two's complement lanes)."""
    mask, sign = (1 << bits) - 1, 1 << (bits - 1)
    out = np.empty((len(words), lanes), dtype=np.int64)
    for r, w in enumerate(words):
        w = int(w)
        for l in range(lanes):
            x = (w >> (l * bits)) & mask
            out[r, l] = x - (1 << bits) if x & sign else x
    return out
