"""Content-Encoding decoders (gzip, deflate, br) whose output per step is bounded.

httpx's own decoders inflate each network chunk in one call: 300 bytes of brotli become
200 MB in memory before any size cap can look at them. These decoders hand out at most
`STEP` bytes at a time, so the fetcher's cap stops a decompression bomb at the cap.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

import brotli

STEP = 64 * 1024
ACCEPT_ENCODING = "gzip, deflate, br"


class DecodeError(Exception):
    """The body does not decode with the Content-Encoding it declares."""


def _zlib(chunks: Iterable[bytes], wbits: int | None) -> Iterator[bytes]:
    d: zlib._Decompress | None = None if wbits is None else zlib.decompressobj(wbits)
    for chunk in chunks:
        if d is None:  # deflate: zlib-wrapped as the RFC says, or raw as some servers send
            d = zlib.decompressobj()
            try:
                first = d.decompress(chunk[:2])
            except zlib.error:
                d = zlib.decompressobj(-zlib.MAX_WBITS)
            else:
                assert not first
                chunk = chunk[2:]
        data = chunk
        while True:
            try:
                out = d.decompress(data, STEP)
            except zlib.error as exc:
                raise DecodeError(str(exc)) from None
            data = d.unconsumed_tail
            if out:
                yield out
            if d.eof or (not data and len(out) < STEP):
                break
        if d.eof:
            return


def _brotli(chunks: Iterable[bytes]) -> Iterator[bytes]:
    d = brotli.Decompressor()
    try:
        for chunk in chunks:
            if d.is_finished():
                return
            out = d.process(chunk, output_buffer_limit=STEP)
            if out:
                yield out
            while not d.can_accept_more_data():
                out = d.process(b"", output_buffer_limit=STEP)
                if out:
                    yield out
    except brotli.error as exc:
        raise DecodeError(str(exc)) from None


def decode_body(chunks: Iterable[bytes], content_encoding: str | None) -> Iterator[bytes]:
    """The decoded body, in pieces of at most about STEP bytes; raise DecodeError."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    body: Iterable[bytes] = chunks
    for coding in reversed(codings):  # the last coding applied is undone first
        if coding in ("identity", ""):
            continue
        if coding in ("gzip", "x-gzip"):
            body = _zlib(body, zlib.MAX_WBITS | 16)
        elif coding == "deflate":
            body = _zlib(body, None)
        elif coding == "br":
            body = _brotli(body)
        else:
            raise DecodeError(f"unsupported Content-Encoding {coding!r}")
    yield from body
