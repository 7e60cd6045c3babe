"""The listening socket, bound before any HTTP server starts.

Binding first makes a taken port one clear line before any worker starts, and tells the caller the real
port when it asked for any (port 0). This module imports nothing heavy: gunicorn's master must not load
onnxruntime (see ``gunicorn_app.preflight``).
"""

from __future__ import annotations

import errno
import socket


class PortInUseError(OSError):
    """The requested host:port is already taken."""


def port_in_use(host: str, port: int) -> PortInUseError:
    return PortInUseError(errno.EADDRINUSE, f"port {port} on {host} is already in use (choose another with --port)")


def bind_listener(host: str, port: int, backlog: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: any free port); ``PortInUseError`` when it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart may follow a stop at once
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise port_in_use(host, port) from None
        raise
    return sock


def listener_url(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"
