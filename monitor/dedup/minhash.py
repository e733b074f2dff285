"""MinHash signatures exactly as datasketch 2's `MinHash(num_perm, seed)` makes them (its
default "affine32" scheme: SHA-1 of each item, the MurmurHash3 finalizer, then `a * h + b`
modulo 2^32; `tests/test_dedup_minhash.py` checks the values against datasketch).

Written out because importing datasketch imports all of its LSH classes and with them
scipy: 0.8 s of CPU and 61 MB in the extraction processes, for this formula. The
permutations are drawn once per (num_perm, seed), where datasketch draws them again for
every signature."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import cache

import numpy as np

_EMPTY = 0xFFFFFFFF  # datasketch's "no value yet", the signature of an empty set
_FMIX32 = (
    np.uint32(16),
    np.uint32(0x85EBCA6B),
    np.uint32(13),
    np.uint32(0xC2B2AE35),
    np.uint32(16),
)


@cache
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine permutations `a * h + b` (odd `a`), drawn from `seed`."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def signature(items: Iterable[bytes], num_perm: int, seed: int) -> tuple[int, ...]:
    """The MinHash signature of a set of byte strings (`num_perm` 32-bit values)."""
    # The first 4 bytes of each SHA-1, little-endian: datasketch's sha1_hash32.
    digests = b"".join(hashlib.sha1(item).digest()[:4] for item in items)
    if not digests:
        return (_EMPTY,) * num_perm
    hv = np.frombuffer(digests, dtype="<u4").astype(np.uint32).reshape(-1, 1)
    s1, m1, s2, m2, s3 = _FMIX32  # MurmurHash3's finalizer, wrapping modulo 2^32
    hv = hv ^ (hv >> s1)
    hv = hv * m1
    hv = hv ^ (hv >> s2)
    hv = hv * m2
    hv = hv ^ (hv >> s3)
    a, b = permutations(num_perm, seed)
    return tuple((hv * a + b).min(axis=0).tolist())
