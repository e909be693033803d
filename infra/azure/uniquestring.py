"""ARM's ``uniqueString()`` template function, bit for bit, so the SDK path can name resources exactly
as a bicep deployment of the generated templates would.

The function (Microsoft's MIT-licensed ARM expression engine, ``Azure.Deployments.Expression`` /
``Microsoft.PowerPlatform.ResourceStack``; undocumented, but pinned by the outputs real deployments
return - see tests/unit/test_names.py for the published vectors it reproduces):

1. the arguments are joined with ``-`` and encoded as UTF-8;
2. the bytes go through a 64-bit MurmurHash variant (two 32-bit lanes, 8-byte blocks, seed 0), with
   Microsoft's own constants - NOT MurmurHash64A (which Microsoft DSC's ``uniqueString`` uses, giving
   different strings);
3. the 64-bit result is written as 13 characters of lowercase RFC 4648 base32 (``a-z2-7``), taken
   5 bits at a time from the most significant end (the 13th character holds the last 4 bits, shifted
   left by one).

Case-sensitive, like ARM: ``uniqueString('A') != uniqueString('a')``.
"""
from __future__ import annotations

_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF
_C1 = 0x239B961B  # 597399067
_C2 = 0xAB0E9789  # 2869860233
_H1_ADD = 0x561CCD1B  # 1444728091
_H2_ADD = 0x0BCAA747  # 197830471
_FMIX1 = 0x85EBCA6B  # MurmurHash3's finalizer constants
_FMIX2 = 0xC2B2AE35
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
LENGTH = 13


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _MASK32


def _mul(a: int, b: int) -> int:
    return (a * b) & _MASK32


def _lane1(k: int) -> int:
    return _mul(_rotl(_mul(k, _C1), 15), _C2)


def _lane2(k: int) -> int:
    return _mul(_rotl(_mul(k, _C2), 17), _C1)


def _fmix(h: int) -> int:
    h = _mul(h ^ (h >> 16), _FMIX1)
    h = _mul(h ^ (h >> 13), _FMIX2)
    return h ^ (h >> 16)


def murmur64(data: bytes) -> int:
    """The 64-bit hash ``uniqueString`` encodes (unsigned)."""
    n = len(data)
    h1 = h2 = 0
    full = n - n % 8
    for i in range(0, full, 8):
        h1 = _rotl(h1 ^ _lane1(int.from_bytes(data[i:i + 4], "little")), 19)
        h1 = (_mul((h1 + h2) & _MASK32, 5) + _H1_ADD) & _MASK32
        h2 = _rotl(h2 ^ _lane2(int.from_bytes(data[i + 4:i + 8], "little")), 13)
        h2 = (_mul((h2 + h1) & _MASK32, 5) + _H2_ADD) & _MASK32
    tail = data[full:]
    if tail:  # 1-7 bytes: the first 4 feed lane 1, the rest lane 2 (little-endian, zero-padded)
        h1 ^= _lane1(int.from_bytes(tail[:4], "little"))
        if len(tail) > 4:
            h2 ^= _lane2(int.from_bytes(tail[4:], "little"))
    h1 ^= n & _MASK32
    h2 ^= n & _MASK32
    h1 = (h1 + h2) & _MASK32
    h2 = (h2 + h1) & _MASK32
    h1, h2 = _fmix(h1), _fmix(h2)
    h1 = (h1 + h2) & _MASK32
    h2 = (h2 + h1) & _MASK32
    return (h2 << 32) | h1


def base32_13(value: int) -> str:
    """13 base32 characters, most significant 5 bits first (65 bits: the last is padding)."""
    out = []
    for _ in range(LENGTH):
        out.append(_BASE32[value >> 59])
        value = (value << 5) & _MASK64
    return "".join(out)


def unique_string(*values: str) -> str:
    """``uniqueString(values...)``: at least one string, as ARM requires."""
    if not values:
        raise ValueError("uniqueString needs at least one value")
    if not all(isinstance(v, str) for v in values):
        raise TypeError("uniqueString takes strings only")
    return base32_13(murmur64("-".join(values).encode("utf-8")))
