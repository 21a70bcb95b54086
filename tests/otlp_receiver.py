from __future__ import annotations

import gzip
import math
import random
import socket
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Protocol, cast

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.trace.v1.trace_pb2 import Span

__all__ = [
    'ExportRequest',
    'Headers',
    'OTLPReceiver',
    'ReceivedDataPoint',
    'ReceivedLog',
    'ReceivedMetric',
    'ReceivedRequest',
    'ReceivedSpan',
    'Signal',
    'any_value_to_python',
    'attributes_to_dict',
]

Signal = Literal['traces', 'metrics', 'logs']
ExportRequest = ExportTraceServiceRequest | ExportMetricsServiceRequest | ExportLogsServiceRequest

_REQUEST_TYPES: dict[str, tuple[Signal, type[ExportRequest], bytes]] = {
    '/v1/traces': ('traces', ExportTraceServiceRequest, ExportTraceServiceResponse().SerializeToString()),
    '/v1/metrics': ('metrics', ExportMetricsServiceRequest, ExportMetricsServiceResponse().SerializeToString()),
    '/v1/logs': ('logs', ExportLogsServiceRequest, ExportLogsServiceResponse().SerializeToString()),
}
_MAX_BODY = 64 * 1024 * 1024
_MAX_STALL = 30.0
_MAX_WAIT = 120.0


class _Parseable(Protocol):
    def ParseFromString(self, serialized: bytes, /) -> int | None: ...


def any_value_to_python(value: AnyValue) -> Any:
    """Convert an OTLP `AnyValue` into the plain Python value it carries (`None` when unset)."""
    kind = value.WhichOneof('value')
    if kind == 'array_value':
        return [any_value_to_python(item) for item in value.array_value.values]
    if kind == 'kvlist_value':
        return attributes_to_dict(value.kvlist_value.values)
    if kind is None:
        return None
    return getattr(value, kind)


def attributes_to_dict(attributes: Iterable[KeyValue]) -> dict[str, Any]:
    """Convert OTLP `KeyValue`s (attributes, kvlists) into a plain dict."""
    return {kv.key: any_value_to_python(kv.value) for kv in attributes}


class Headers(Mapping[str, str]):
    """Request headers with case-insensitive lookups; iteration yields lower-cased names."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, str] = {}
        for name, value in items:
            key = name.lower()
            self._values[key] = f'{self._values[key]}, {value}' if key in self._values else value

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f'Headers({self._values!r})'


@dataclass(frozen=True)
class ReceivedRequest:
    """One HTTP request the receiver saw, with what it answered (`status=None`: dropped unanswered)."""

    method: str
    path: str
    headers: Headers
    raw_size: int
    body: bytes
    signal: Signal | None
    request: ExportRequest | None
    status: int | None
    received_at: float
    error: str | None = None
    stalled: float = 0.0
    """Seconds the receiver waited before answering (or dropping) the request."""

    @property
    def accepted(self) -> bool:
        return self.status == 200 and self.request is not None


@dataclass(frozen=True)
class ReceivedSpan:
    """A span from an accepted request, with its resource attributes and instrumentation scope name."""

    span: Span
    resource_attributes: dict[str, Any]
    scope_name: str

    @property
    def name(self) -> str:
        return self.span.name

    @property
    def attributes(self) -> dict[str, Any]:
        return attributes_to_dict(self.span.attributes)

    @property
    def trace_id(self) -> str:
        return self.span.trace_id.hex()

    @property
    def span_id(self) -> str:
        return self.span.span_id.hex()

    @property
    def parent_span_id(self) -> str | None:
        return self.span.parent_span_id.hex() or None


@dataclass(frozen=True)
class ReceivedDataPoint:
    """A metric data point: `value` for gauges and sums, `count`/`sum` for histograms and summaries."""

    attributes: dict[str, Any]
    value: int | float | None = None
    count: int | None = None
    sum: float | None = None


@dataclass(frozen=True)
class ReceivedMetric:
    """A metric from an accepted request."""

    metric: Metric
    resource_attributes: dict[str, Any]
    scope_name: str

    @property
    def name(self) -> str:
        return self.metric.name

    @property
    def kind(self) -> str | None:
        return self.metric.WhichOneof('data')

    @property
    def data_points(self) -> list[ReceivedDataPoint]:
        m, kind = self.metric, self.kind
        if kind == 'gauge' or kind == 'sum':
            return [
                ReceivedDataPoint(attributes_to_dict(p.attributes), p.as_int if p.HasField('as_int') else p.as_double)
                for p in (m.gauge.data_points if kind == 'gauge' else m.sum.data_points)
            ]
        if kind == 'histogram' or kind == 'exponential_histogram':
            return [
                ReceivedDataPoint(
                    attributes_to_dict(p.attributes), count=p.count, sum=p.sum if p.HasField('sum') else None
                )
                for p in (m.histogram.data_points if kind == 'histogram' else m.exponential_histogram.data_points)
            ]
        if kind == 'summary':
            return [
                ReceivedDataPoint(attributes_to_dict(p.attributes), count=p.count, sum=p.sum)
                for p in m.summary.data_points
            ]
        return []


@dataclass(frozen=True)
class ReceivedLog:
    """A log record from an accepted request."""

    log_record: LogRecord
    resource_attributes: dict[str, Any]
    scope_name: str

    @property
    def body(self) -> Any:
        return any_value_to_python(self.log_record.body)

    @property
    def severity_text(self) -> str:
        return self.log_record.severity_text

    @property
    def attributes(self) -> dict[str, Any]:
        return attributes_to_dict(self.log_record.attributes)


@dataclass
class _Rule:
    remaining: int | None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict[str, str])
    seconds: float = 0.0

    def use(self) -> _Rule | None:
        """Count one use; return the rule while it still applies."""
        if self.remaining is not None:
            self.remaining -= 1
        return None if self.remaining is not None and self.remaining <= 0 else self


@dataclass(frozen=True)
class _Plan:
    status: int
    headers: dict[str, str]
    stall: float
    wake: threading.Event
    generation: int
    reset: bool = False


@dataclass
class _Chaos:
    rng: random.Random
    fail: float
    slow: float
    reset: float
    slow_seconds: tuple[float, float]


class _ClientError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # come_back() re-binds the same port while old connections sit in TIME_WAIT

    def __init__(self, address: tuple[str, int], receiver: OTLPReceiver) -> None:
        self.receiver = receiver
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # clients hanging up or go_away() are part of the job
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    timeout = 30  # idle keep-alive connections end on their own

    @property
    def _receiver(self) -> OTLPReceiver:
        return cast(_Server, self.server).receiver

    def setup(self) -> None:
        super().setup()
        if not self._receiver._track(self.connection, cast(_Server, self.server)):  # pyright: ignore[reportPrivateUsage]
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._receiver._untrack(self.connection)  # pyright: ignore[reportPrivateUsage]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self._receiver._handle(self)  # pyright: ignore[reportPrivateUsage]

    do_GET = do_PUT = do_DELETE = do_PATCH = do_POST

    def read_body(self) -> bytes:
        if 'Transfer-Encoding' in self.headers:  # OTLP exporters always send Content-Length
            self.close_connection = True
            raise _ClientError(411, 'send the body with a Content-Length, not a Transfer-Encoding')
        length = int(self.headers.get('Content-Length', '0'))
        if not 0 <= length <= _MAX_BODY:
            self.close_connection = True
            raise _ClientError(413, f'Content-Length {length} exceeds {_MAX_BODY} bytes')
        return self.rfile.read(length)

    def respond(self, status: int, headers: Mapping[str, str], body: bytes, content_type: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if not any(name.lower() == 'content-type' for name in headers):
            self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


def _decompress(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    try:
        if encoding == 'gzip':
            return gzip.decompress(body)
        if encoding == 'deflate':
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate without the zlib wrapper
    except (OSError, EOFError, zlib.error) as e:
        raise _ClientError(400, f'cannot decode {encoding} body: {e}') from e
    if encoding in ('', 'identity'):
        return body
    raise _ClientError(415, f'unsupported Content-Encoding {encoding!r}')


def _decode(path: str, headers: Headers, raw: bytes) -> tuple[Signal, ExportRequest, bytes]:
    if path not in _REQUEST_TYPES:
        raise _ClientError(404, f'unknown OTLP path {path!r}; expected one of {sorted(_REQUEST_TYPES)}')
    content_type = headers.get('content-type', 'application/x-protobuf').split(';')[0].strip().lower()
    if content_type != 'application/x-protobuf':
        raise _ClientError(415, f'only application/x-protobuf is supported, got {content_type!r}')
    body = _decompress(raw, headers.get('content-encoding', ''))
    signal, request_type, _ = _REQUEST_TYPES[path]
    message = request_type()
    try:
        cast(_Parseable, message).ParseFromString(body)
    except DecodeError as e:
        raise _ClientError(400, f'cannot parse {request_type.__name__}: {e}') from e
    return signal, message, body


class OTLPReceiver:
    """A real OTLP/HTTP protobuf receiver on 127.0.0.1 for tests.

    Example:
        with OTLPReceiver() as rx:
            exporter = OTLPSpanExporter(endpoint=f'{rx.endpoint}/v1/traces')
            ...
            assert rx.wait_for_spans(1)[0].name == 'hello'
    """

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._requests: list[ReceivedRequest] = []
        self._version = 0
        self._override: _Rule | None = None
        self._stall: _Rule | None = None
        self._chaos: _Chaos | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._wake = threading.Event()
        self._generation = 0
        self._started = False

    # lifecycle

    def __enter__(self) -> OTLPReceiver:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start listening on an OS-chosen free port (or the port given to the constructor)."""
        if self._started:
            raise RuntimeError('OTLPReceiver is already started; call stop() first.')
        self._listen()
        self._started = True

    def stop(self) -> None:
        """Stop serving and close every connection. Safe to call twice."""
        self._close()
        self._started = False

    def go_away(self) -> None:
        """Close the listening socket and open connections, so new connections are refused until `come_back()`."""
        if self._server is None:
            raise RuntimeError('OTLPReceiver is not listening; call start() or come_back() first.')
        self._close()

    def come_back(self) -> None:
        """Listen again on the same port after `go_away()`."""
        if not self._started:
            raise RuntimeError('OTLPReceiver was never started; call start() first.')
        if self._server is not None:
            raise RuntimeError('OTLPReceiver is already listening; call go_away() first.')
        try:
            self._listen()
        except OSError as e:
            raise RuntimeError(
                f'Cannot listen on 127.0.0.1:{self._port} again: {e}. Another process took the port?'
            ) from e

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError('OTLPReceiver has no port yet; call start() first.')
        return self._port

    @property
    def endpoint(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:4318`; exporters need `/v1/traces` etc. appended."""
        return f'http://127.0.0.1:{self.port}'

    def _listen(self) -> None:
        server = _Server(('127.0.0.1', self._port), self)
        self._port = server.server_address[1]
        thread = threading.Thread(
            target=server.serve_forever, kwargs={'poll_interval': 0.05}, name=f'otlp-receiver-{self._port}', daemon=True
        )
        with self._lock:
            self._server, self._thread, self._wake = server, thread, threading.Event()
        thread.start()

    def _close(self) -> None:
        with self._lock:
            server, thread, self._server, self._thread = self._server, self._thread, None, None
            self._generation += 1
            self._wake.set()
            connections = list(self._connections)
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _track(self, connection: socket.socket, server: _Server) -> bool:
        with self._lock:
            if server is not self._server:
                return False
            self._connections.add(connection)
            return True

    def _untrack(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    # behaviour control

    def respond_with(self, status: int, headers: Mapping[str, str] | None = None, times: int | None = None) -> None:
        """Answer the next `times` POSTs (all of them if `None`) with `status` and `headers`, then 200 again.

        `respond_with(200)` restores normal behaviour at once.
        """
        if times is not None and times < 1:
            raise ValueError(f'times must be a positive int or None, got {times!r}')
        with self._lock:
            self._override = None if status == 200 and not headers else _Rule(times, status, dict(headers or {}))

    def stall(self, seconds: float, times: int | None = None) -> None:
        """Sleep `seconds` before answering the next `times` POSTs (all if `None`); `stall(0)` stops stalling.

        The sleep is capped and ends early on `go_away()` or `stop()`, which drop the request unanswered.
        """
        if not 0 <= seconds <= _MAX_STALL:
            raise ValueError(f'stall seconds must be between 0 and {_MAX_STALL}, got {seconds!r}')
        with self._lock:
            self._stall = _Rule(times, seconds=seconds) if seconds else None

    def chaos(
        self,
        seed: int,
        *,
        fail: float = 0.0,
        slow: float = 0.0,
        reset: float = 0.0,
        slow_seconds: tuple[float, float] = (0.5, 2.0),
    ) -> None:
        """Misbehave at random, reproducibly: each POST independently gets one of these, or a normal answer.

        Args:
            seed: Seeds the receiver's own random generator, so that a run can be replayed.
            fail: The probability of answering 500.
            slow: The probability of answering (200, or 500 when it also fails) only after a pause drawn
                uniformly from `slow_seconds`: longer than the client's timeout, the client gives up first.
            reset: The probability of reading the request, then resetting the connection without an answer.

        `chaos(seed)` with no probabilities restores normal behaviour.
        """
        for name, value in (('fail', fail), ('slow', slow), ('reset', reset)):
            if not 0 <= value <= 1:
                raise ValueError(f'{name} must be a probability between 0 and 1, got {value!r}')
        low, high = slow_seconds
        if not 0 <= low <= high <= _MAX_STALL:
            raise ValueError(f'slow_seconds must be (low, high) with 0 <= low <= high <= {_MAX_STALL}')
        chaos = _Chaos(random.Random(seed), fail, slow, reset, slow_seconds) if fail or slow or reset else None
        with self._lock:
            self._chaos = chaos

    def _plan(self) -> _Plan:
        with self._lock:
            override, stall = self._override or _Rule(None), self._stall or _Rule(None)
            self._override = self._override and self._override.use()
            self._stall = self._stall and self._stall.use()
            plan = _Plan(override.status, override.headers, stall.seconds, self._wake, self._generation)
            chaos = self._chaos
            if chaos is None:
                return plan
            rng = chaos.rng
            reset = rng.random() < chaos.reset
            status = 500 if rng.random() < chaos.fail else plan.status
            pause = rng.uniform(*chaos.slow_seconds) if rng.random() < chaos.slow else plan.stall
            return _Plan(status, plan.headers, pause, plan.wake, plan.generation, reset)

    def _handle(self, handler: _Handler) -> None:
        received_at = time.time()
        path = handler.path.split('?', 1)[0]
        headers = Headers(handler.headers.items())
        raw, body, signal, request, error, error_status = b'', b'', None, None, None, 0
        try:
            raw = body = handler.read_body()
            if handler.command != 'POST':
                raise _ClientError(405, f'{handler.command} is not supported; OTLP/HTTP uses POST')
            signal, request, body = _decode(path, headers, raw)
        except _ClientError as e:
            error, error_status = str(e), e.status
        except ValueError as e:
            error, error_status = f'malformed request body framing: {e}', 400
            handler.close_connection = True
        plan = self._plan()
        stalled_at = time.monotonic()
        if plan.stall:
            plan.wake.wait(plan.stall)
        stalled = time.monotonic() - stalled_at if plan.stall else 0.0
        status: int | None = error_status if error_status and plan.status == 200 else plan.status
        with self._lock:
            if plan.generation != self._generation or plan.reset:
                status = None  # go_away()/stop() while stalled, or a reset: drop the request unanswered
            self._requests.append(
                ReceivedRequest(
                    handler.command, path, headers, len(raw), body, signal, request, status, received_at, error, stalled
                )
            )
            self._version += 1
            self._changed.notify_all()
        if status is None:
            handler.close_connection = True
            if plan.reset:  # an RST rather than a FIN: the client sees 'connection reset by peer'
                handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            return
        if status == 200 and signal is not None:
            handler.respond(status, plan.headers, _REQUEST_TYPES[path][2], 'application/x-protobuf')
        else:
            handler.respond(status, plan.headers, (error or '').encode(), 'text/plain; charset=utf-8')

    # recorded data

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request seen so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def accepted_requests(self) -> list[ReceivedRequest]:
        """Requests answered 200 with a decoded body; only these feed `spans()`, `metrics()` and `logs()`."""
        return [r for r in self.requests if r.accepted]

    @property
    def rejected_requests(self) -> list[ReceivedRequest]:
        """Requests answered with an error status, or dropped unanswered."""
        return [r for r in self.requests if not r.accepted]

    def clear(self) -> None:
        """Forget every recorded request."""
        with self._lock:
            self._requests.clear()
            self._version += 1
            self._changed.notify_all()

    def spans(self) -> list[ReceivedSpan]:
        """All spans from accepted requests, flattened."""
        spans: list[ReceivedSpan] = []
        for r in self.accepted_requests:
            if isinstance(r.request, ExportTraceServiceRequest):
                for rs in r.request.resource_spans:
                    resource = attributes_to_dict(rs.resource.attributes)
                    for ss in rs.scope_spans:
                        spans.extend(ReceivedSpan(s, resource, ss.scope.name) for s in ss.spans)
        return spans

    def metrics(self) -> list[ReceivedMetric]:
        """All metrics from accepted requests, flattened."""
        metrics: list[ReceivedMetric] = []
        for r in self.accepted_requests:
            if isinstance(r.request, ExportMetricsServiceRequest):
                for rm in r.request.resource_metrics:
                    resource = attributes_to_dict(rm.resource.attributes)
                    for sm in rm.scope_metrics:
                        metrics.extend(ReceivedMetric(m, resource, sm.scope.name) for m in sm.metrics)
        return metrics

    def logs(self) -> list[ReceivedLog]:
        """All log records from accepted requests, flattened."""
        logs: list[ReceivedLog] = []
        for r in self.accepted_requests:
            if isinstance(r.request, ExportLogsServiceRequest):
                for rl in r.request.resource_logs:
                    resource = attributes_to_dict(rl.resource.attributes)
                    for sl in rl.scope_logs:
                        logs.extend(ReceivedLog(lr, resource, sl.scope.name) for lr in sl.log_records)
        return logs

    # waiting

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0, description: str = 'condition') -> None:
        """Poll `predicate` until it is true; raise `AssertionError` describing what arrived after `timeout` seconds."""
        if not (0 <= timeout <= _MAX_WAIT and math.isfinite(timeout)):
            raise ValueError(f'timeout must be between 0 and {_MAX_WAIT} seconds, got {timeout!r}')
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                seen = self._version
            if predicate():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f'Timed out after {timeout:g}s waiting for {description}. {self.summary()}')
            with self._changed:
                # Wake on every new request, and re-poll regularly for predicates on outside state.
                if self._version == seen:
                    self._changed.wait(timeout=min(remaining, 0.05))

    def wait_for_spans(self, n: int, timeout: float = 10.0) -> list[ReceivedSpan]:
        """Wait until at least `n` spans were accepted and return all of them."""
        self.wait_until(lambda: len(self.spans()) >= n, timeout, f'at least {n} span(s)')
        return self.spans()

    def wait_for_requests(self, n: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        """Wait until at least `n` requests (accepted or not) were recorded and return all of them."""
        self.wait_until(lambda: len(self.requests) >= n, timeout, f'at least {n} request(s)')
        return self.requests

    def summary(self) -> str:
        """Describe what was received, for assertion messages."""
        requests = self.requests
        accepted = sum(r.accepted for r in requests)
        lines = [f'Received {len(requests)} request(s): {accepted} accepted, {len(requests) - accepted} rejected.']
        lines += [f'  {r.method} {r.path} -> {r.status}' + (f' ({r.error})' if r.error else '') for r in requests[-10:]]
        if span_names := [s.name for s in self.spans()]:
            lines.append(f'Span names: {span_names[:20]!r}')
        return '\n'.join(lines)
