"""MinHash signatures: the values datasketch's MinHash gives, without importing it."""

from __future__ import annotations

import random

from datasketch import MinHash

from monitor.dedup.features import minhash
from monitor.dedup.minhash import signature


def _datasketch(items: set[bytes], num_perm: int, seed: int) -> tuple[int, ...]:
    sketch = MinHash(num_perm=num_perm, seed=seed)
    if items:
        sketch.update_batch(sorted(items))
    return tuple(int(v) for v in sketch.hashvalues)


def test_signatures_are_datasketchs() -> None:
    rng = random.Random(7)
    words = [f"w{i}".encode() for i in range(500)] + ["深度求索".encode(), b"", b"\xff\x00"]
    for size in (0, 1, 2, 5, 40, 400):
        items = set(rng.sample(words, size))
        for num_perm, seed in ((64, 1), (128, 1), (16, 42)):
            assert signature(items, num_perm, seed) == _datasketch(items, num_perm, seed)


def test_features_signature_is_datasketchs() -> None:
    items = {b"the quick brown fox jumps", b"quick brown fox jumps over"}
    assert minhash(items, 64) == _datasketch(items, 64, 1)
    assert minhash(set(), 64) == _datasketch(set(), 64, 1)
