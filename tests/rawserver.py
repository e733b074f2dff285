"""A raw TCP server on 127.0.0.1 for misbehaving peers an HTTP library cannot play:
accept and never answer, drip one byte at a time, lie about the length."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from types import TracebackType

Handler = Callable[[socket.socket, threading.Event], None]


class RawServer:
    """Runs `handler(conn, stop)` for every connection; `stop` is set on close."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.stop = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            self.handler(conn, self.stop)

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        self._thread.join(2)

    def __enter__(self) -> RawServer:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    conn.settimeout(5)
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def silent(conn: socket.socket, stop: threading.Event) -> None:
    """Accept, read the request, never answer."""
    read_request(conn)
    stop.wait(30)


def drip_headers(conn: socket.socket, stop: threading.Event) -> None:
    """Answer one byte of headers every 0.3 s, forever: each read succeeds, none completes."""
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    while not stop.wait(0.3):
        conn.sendall(b"X")


def drip_body(conn: socket.socket, stop: threading.Event) -> None:
    """Headers at once, then the body one byte every 0.3 s without an end."""
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n\r\n<rss ")
    while not stop.wait(0.3):
        conn.sendall(b" ")


def lying_length(declared: int, sent: int) -> Handler:
    """Declare `declared` bytes in Content-Length, send `sent` bytes, then close."""

    def handler(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
            + f"Content-Length: {declared}\r\nConnection: close\r\n\r\n".encode()
        )
        block = b"x" * 65536
        left = sent
        while left > 0 and not stop.is_set():
            conn.sendall(block[: min(left, len(block))])
            left -= len(block)

    return handler


def redirect_to(location: bytes) -> Handler:
    """Answer 302 with this exact Location (an HTTP library would clean it up)."""

    def handler(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        conn.sendall(
            b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n"
        )

    return handler


def respond(body: bytes, headers: dict[str, str]) -> Handler:
    """A plain 200 with these headers and body (no library in the server's memory path)."""

    def handler(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        conn.sendall(
            f"HTTP/1.1 200 OK\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
        )

    return handler


RESETS = ("connect", "request", "headers", "body")


def reset(at: str) -> Handler:
    """Reset the connection (SO_LINGER 0: an RST, not a FIN) right after the connect, after
    reading the request, in the middle of the headers or in the middle of the body."""

    def handler(conn: socket.socket, stop: threading.Event) -> None:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if at == "connect":
            return
        read_request(conn)
        if at == "headers":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/ht")
        elif at == "body":
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5000\r\n\r\n"
                + b"<html><body><p>" * 50
            )
        if at != "request":
            time.sleep(0.05)  # let the partial answer arrive before the reset

    return handler
