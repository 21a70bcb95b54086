"""A real HTTP server on 127.0.0.1, in a thread, for client stories: it answers with the headers it got.

`/status/<code>` answers that status; anything else answers 200. The body is the request's headers as JSON
(lower-cased names), so a test can see the `traceparent` a client sent.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ['EchoServer']


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def do_GET(self) -> None:
        path = self.path.split('?', 1)[0]
        status = int(path.rsplit('/', 1)[1]) if path.startswith('/status/') else 200
        body = json.dumps({name.lower(): value for name, value in self.headers.items()}).encode()
        self.send_response(status)
        self.send_header('content-type', 'application/json')
        self.send_header('x-reply', 'yes')
        self.send_header('set-cookie', 'session=abc')
        self.send_header('content-length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class EchoServer:
    """`with EchoServer() as server: httpx.get(f'{server.url}/path')`; stops (bounded) on exit."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)

    @property
    def url(self) -> str:
        """The base URL, e.g. `http://127.0.0.1:54321`."""
        return f'http://127.0.0.1:{self._server.server_address[1]}'

    @property
    def host(self) -> str:
        """`127.0.0.1:<port>`, as a client span's message shows it."""
        return f'127.0.0.1:{self._server.server_address[1]}'

    def __enter__(self) -> EchoServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
