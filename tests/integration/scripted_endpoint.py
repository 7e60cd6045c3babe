"""A SageMaker-runtime-shaped HTTP server that answers from a script.

Used only to cause endpoint faults that the real local model never produces (throttling,
a 500, a malformed answer): the handler still calls it through the real boto3 client.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int
    body: bytes
    error_type: str | None = None


def ok(values: object) -> Reply:
    return Reply(200, json.dumps(values).encode())


def fault(status: int, code: str, message: str) -> Reply:
    return Reply(status, json.dumps({"__type": code, "message": message}).encode(), code)


@dataclass
class Script:
    replies: list[Reply]
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)

    def next(self) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


@contextmanager
def scripted_endpoint(*replies: Reply) -> Iterator[tuple[str, Script]]:
    script = Script(list(replies))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            script.requests.append((self.path, self.headers.get("Content-Type", ""), body))
            reply = script.next()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            if reply.error_type:
                self.send_header("x-amzn-ErrorType", reply.error_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", script
    finally:
        server.shutdown()
        server.server_close()
