"""Running the app with uvicorn: bind the socket before announcing, and answer protocol errors in JSON.

uvicorn answers a request it cannot parse (a bad `Content-Length`, a malformed request line or header)
itself, before the app sees it, with a plain-text 400. `JsonErrorH11Protocol` gives that answer the
error body every other failure has. Imports uvicorn: use it only where the server runs.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from model2vec.serve.errors import error_body


class JsonErrorH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with its 400 for unparseable requests as OpenAI-shaped JSON."""

    def send_400_response(self, msg: str) -> None:
        """Answer an unparseable request with a JSON 400 (code `invalid_http_request`) and close."""
        body = json.dumps(error_body(400, msg, None, "invalid_http_request")).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"connection", b"close"),
        ]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body)):
            self.transport.write(self.conn.send(event))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind a TCP socket to `host:port` (not yet listening), so a busy port fails before anything starts.

    :param host: A name or address (IPv4 or IPv6).
    :param port: 0 to 65535; 0 lets the system pick a free port (read it from `getsockname()`).
    :return: The bound socket; uvicorn listens on it.
    :raises OSError: "cannot listen on HOST:PORT: REASON" when the host does not resolve or the bind fails
        (port in use, no permission).
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            # As uvicorn does: a restart may rebind while old connections sit in TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
        except OSError:
            sock.close()
            raise
    except OSError as error:
        raise OSError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return sock


def uvicorn_server(app: Any, log_level: str = "info", access_log: bool = False) -> uvicorn.Server:
    """Build a uvicorn server for `app` with JSON protocol errors; run it with `.run(sockets=[sock])`.

    :param app: The ASGI app (`create_app(...)`).
    :param log_level: uvicorn's log level.
    :param access_log: Log every request.
    :return: The server, not started.
    """
    config = uvicorn.Config(app, log_level=log_level, access_log=access_log, http=JsonErrorH11Protocol)
    return uvicorn.Server(config)
