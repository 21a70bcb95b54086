"""A minimal OTLP/HTTP trace receiver that counts spans, run as its own process by the export benchmark.

It runs apart from the exporters it measures, so decoding requests never competes with them for the GIL.
`POST /v1/traces` counts the spans of a (gzip- or deflate-compressed) request; `GET /count` returns the total.
Other signals (`/v1/metrics`, `/v1/logs`) are answered 200 and not counted.
It prints its port on the first line of stdout.

    python benchmarks/receiver.py
"""

from __future__ import annotations

import gzip
import os
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

_RESPONSE = ExportTraceServiceResponse().SerializeToString()
_lock = threading.Lock()
_count = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def do_POST(self) -> None:
        global _count
        body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        if self.path != '/v1/traces':
            self._reply(_RESPONSE, 'application/x-protobuf')  # the empty response of every OTLP signal
            return
        encoding = (self.headers.get('Content-Encoding') or '').lower()
        if encoding == 'gzip':
            body = gzip.decompress(body)
        elif encoding == 'deflate':
            body = zlib.decompress(body)
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans = sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)
        with _lock:
            _count += spans
        self._reply(_RESPONSE, 'application/x-protobuf')

    def do_GET(self) -> None:
        with _lock:
            count = _count
        self._reply(str(count).encode(), 'text/plain')

    def _reply(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    server.serve_forever()


def _exit_with_parent() -> None:
    sys.stdin.read()  # returns when the parent closes our stdin, or dies
    os._exit(0)


if __name__ == '__main__':
    main()
