"""A loopback HTTP relay that loses answers on purpose: the fault of a process killed after it did
the work and before its answer left (tests/test_proxy_retries.py, tests/test_discovery_service.py).

Each connection carries one request to `target` (sent with `Connection: close`). When `drop(request
line)` says so, the target's whole answer is read (the work is done, committed) and the client's
connection is then closed unanswered; otherwise the answer is passed on. When `lose(request line)`
says so, the request never reaches the target: the connection closes unanswered (a process killed
before it committed anything).
"""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Callable


def read_message(sock: socket.socket) -> bytes:
    """One HTTP message (head, and a body by its Content-Length) from `sock`; b"" when it closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def nth_line_with(marker: bytes, n: int = 1) -> Callable[[bytes], bool]:
    """A fault for AnswerDropper: true for the `n`-th request line holding `marker`, and no other."""
    seen = itertools.count(1)
    return lambda line: marker in line and next(seen) == n


def _closing(request: bytes) -> bytes:
    head, _, body = request.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body


class AnswerDropper:
    """Listens on a loopback port (`port`); `requests` holds every request line it took, in order."""

    def __init__(
        self,
        target: int,
        drop: Callable[[bytes], bool] = lambda line: False,
        lose: Callable[[bytes], bool] = lambda line: False,
    ) -> None:
        self.target = target
        self.drop = drop
        self.lose = lose
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            request = read_message(conn)
            if not request:
                return
            line = request.split(b"\r\n", 1)[0]
            self.requests.append(line)
            if self.lose(line):
                return
            dropped = self.drop(line)
            with socket.create_connection(("127.0.0.1", self.target)) as upstream:
                upstream.sendall(_closing(request))
                answer = b""
                while chunk := upstream.recv(65536):  # the target closes after its answer
                    answer += chunk
            if not dropped:
                conn.sendall(answer)

    def close(self) -> None:
        self.listener.close()
