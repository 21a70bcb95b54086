"""How one payload reaches one destination: OTLP/HTTP with `requests`, or OTLP/gRPC with the `grpc` extra.

Each transport turns every answer and every error into a `SendResult`, so the retry policy lives in one
place (`retry.Delivery`) and a transport never raises.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ...exceptions import MissingExtraError
from .payload import Encoding, Payload, Signal, decompress
from .retry import Outcome, SendResult

if TYPE_CHECKING:
    import requests

_RETRYABLE_STATUSES = frozenset({408, 429})


def classify_http(status: int, retry_after: str | None = None, body: str = '') -> SendResult:
    """Map an HTTP answer to what the sender should do with the payload."""
    if 200 <= status < 300:
        return SendResult(Outcome.SENT)
    detail = f'HTTP {status}'
    if status == 413:
        return SendResult(Outcome.TOO_LARGE, detail)
    if status in _RETRYABLE_STATUSES or 500 <= status < 600:
        return SendResult(Outcome.RETRY, detail, parse_retry_after(retry_after))
    snippet = ' '.join(body.split())[:120]
    return SendResult(Outcome.REJECTED, f'{detail}: {snippet}' if snippet else detail)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delay-seconds or an HTTP date; None when absent or invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError, IndexError):
            return None
    return seconds if seconds >= 0 and seconds != float('inf') else None


_FRIENDLY_CAUSES = {
    'ConnectionRefusedError': 'connection refused',
    'ConnectionResetError': 'connection reset',
    'gaierror': 'unknown host',
    'TimeoutError': 'timed out',
    'SSLError': 'TLS error',
}


def _cause(exc: BaseException) -> str:
    """The innermost cause of a connection error, briefly ('connection refused', 'unknown host', ...)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    last = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        last = current
        context = current.__cause__ or current.__context__
        reason = getattr(current, 'reason', None)
        current = context if context is not None else reason if isinstance(reason, BaseException) else None
    name = type(last).__name__
    return _FRIENDLY_CAUSES.get(name, name)


class HttpTransport:
    """POSTs protobuf payloads to an OTLP/HTTP URL through one keep-alive `requests` session."""

    def __init__(self, url: str, headers: Mapping[str, str], encoding: Encoding) -> None:
        # Imported now, in the thread that configures, not first in the sender thread (see `otlp`: fork safety).
        import requests

        self.destination = url
        self.encoding: Encoding = encoding
        self.headers = dict(headers)
        self._requests = requests
        self._session: requests.Session | None = None

    def send(self, payload: Payload, timeout: float) -> SendResult:
        """POST `payload` and classify the answer."""
        requests = self._requests
        session = self._session
        if session is None:
            session = self._session = requests.Session()
        headers = {**self.headers, 'Content-Type': 'application/x-protobuf'}
        if payload.encoding:
            headers['Content-Encoding'] = payload.encoding
        try:
            response = session.post(self.destination, data=payload.body, headers=headers, timeout=timeout)
        except requests.exceptions.Timeout:
            return SendResult(Outcome.RETRY, f'no answer within {timeout:g}s')
        except requests.exceptions.ConnectionError as exc:
            return SendResult(Outcome.RETRY, f'cannot connect: {_cause(exc)}')
        except requests.exceptions.RequestException as exc:  # an invalid URL, say: retrying cannot help
            return SendResult(Outcome.REJECTED, f'{type(exc).__name__}: {exc}')
        return classify_http(response.status_code, response.headers.get('Retry-After'), response.text)

    def reset_after_fork(self) -> None:
        """Drop the parent's session without closing its sockets (the parent still uses them)."""
        self._session = None

    def close(self) -> None:
        """Close pooled connections."""
        session, self._session = self._session, None
        if session is not None:
            session.close()


_GRPC_METHODS: dict[Signal, str] = {
    'traces': '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    'metrics': '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
    'logs': '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
}
_GRPC_RETRYABLE = frozenset(
    {'CANCELLED', 'DEADLINE_EXCEEDED', 'RESOURCE_EXHAUSTED', 'ABORTED', 'OUT_OF_RANGE', 'UNAVAILABLE', 'DATA_LOSS'}
)
GRPC_EXTRA_MESSAGE = (
    "OTEL_EXPORTER_OTLP_PROTOCOL='grpc' needs 'opentelemetry-exporter-otlp-proto-grpc'. "
    "Install it with: pip install 'logfire[grpc]'"
)


def import_grpc() -> Any:
    """Import `grpc`, or raise `MissingExtraError` naming the `grpc` extra."""
    try:
        return importlib.import_module('grpc')
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split('.')[0] != 'grpc':
            raise
        error = MissingExtraError('grpc', 'grpc', exc.name, 'opentelemetry-exporter-otlp-proto-grpc')
        # The default text is about instrument_*() calls; ImportError prints `msg`.
        error.msg = GRPC_EXTRA_MESSAGE
        error.args = (GRPC_EXTRA_MESSAGE,)
        raise error from exc


class GrpcTransport:
    """Sends serialized payloads as OTLP/gRPC unary calls, the bytes passed through unchanged."""

    encoding: Encoding = ''  # gRPC compresses on its own

    def __init__(self, endpoint: str, signal: Signal, headers: Mapping[str, str], *, gzip: bool) -> None:
        self._grpc = import_grpc()
        parts = urlsplit(endpoint if '://' in endpoint else f'http://{endpoint}')
        self.destination = endpoint
        self._target = parts.netloc
        self._secure = parts.scheme == 'https'
        self._method = _GRPC_METHODS[signal]
        self._metadata = tuple((name.lower(), value) for name, value in headers.items())
        self._compression = self._grpc.Compression.Gzip if gzip else None
        self._channel: Any = None
        self._call: Any = None

    def send(self, payload: Payload, timeout: float) -> SendResult:
        """Make one `Export` call and classify its status."""
        grpc = self._grpc
        if self._call is None:
            if self._secure:
                self._channel = grpc.secure_channel(self._target, grpc.ssl_channel_credentials())
            else:
                self._channel = grpc.insecure_channel(self._target)
            self._call = self._channel.unary_unary(self._method)
        body = decompress(payload.body, payload.encoding)
        try:
            self._call(body, timeout=timeout, metadata=self._metadata, compression=self._compression)
        except grpc.RpcError as exc:
            code = exc.code()
            name = getattr(code, 'name', str(code))
            details = exc.details() or ''
            detail = f'gRPC {name}' + (f': {details[:120]}' if details else '')
            if name == 'RESOURCE_EXHAUSTED' and 'larger than max' in details:
                return SendResult(Outcome.TOO_LARGE, detail)
            return SendResult(Outcome.RETRY if name in _GRPC_RETRYABLE else Outcome.REJECTED, detail)
        return SendResult(Outcome.SENT)

    def reset_after_fork(self) -> None:
        """Forget the parent's channel."""
        self._channel = self._call = None

    def close(self) -> None:
        """Close the channel."""
        channel, self._channel, self._call = self._channel, None, None
        if channel is not None:
            channel.close()
