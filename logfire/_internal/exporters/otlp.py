"""OTLP export: to the Logfire backend (with a token) and to any endpoint named by the standard `OTEL_*` variables.

Every destination gets the same guarantees: serialization and batching off the request path, retries with
backoff in the background, a bounded disk queue in `data_dir` that outlives the process, a bounded exit,
and one short warning per interval when something goes wrong (see `retry`, `disk_queue`, `batch`).

This module is imported when export is configured, so what the export threads need is imported here, never
first inside one of them: a `fork()` while another thread is importing a module leaves that module's import
lock held for good in the child, whose export thread then hangs or fails on it and loses its spans.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ...version import VERSION
from ..errors import handle_internal_errors
from .batch import BatchExportSpanProcessor
from .diagnostics import ExportDiagnostics, warn
from .disk_queue import DiskQueue, queue_directory
from .payload import UNITS, Encoding, Signal
from .queue_files import request_problem
from .retry import Delivery, DeliveryExporter, Transport
from .span_encoder import serialize_spans

if TYPE_CHECKING:
    from ..config import LogfireConfig

USER_AGENT = f'logfire/{VERSION}'
_CREDENTIAL_HEADERS = frozenset({'authorization', 'x-api-key'})
_warned_cleartext: set[str] = set()


@dataclass(frozen=True)
class Destination:
    """Where one signal goes, and how."""

    signal: Signal
    endpoint: str
    """A URL for OTLP/HTTP, a `host:port` (or URL) for OTLP/gRPC."""
    headers: Mapping[str, str]
    protocol: Literal['http/protobuf', 'grpc']
    compression: Encoding


def _endpoint(base: str, signal: str) -> str:
    return f'{base.rstrip("/")}/v1/{signal}'


def _exporter_disabled(config: LogfireConfig, signal: Signal) -> bool:
    value: str = getattr(config.settings, f'{signal}_exporter')
    return 'none' in {part.strip().lower() for part in value.split(',')}


def _merge_headers(*layers: Mapping[str, str]) -> dict[str, str]:
    """Merge header mappings case-insensitively; later layers win."""
    merged: dict[str, tuple[str, str]] = {}
    for layer in layers:
        for name, value in layer.items():
            merged[name.lower()] = (name, value)
    return dict(merged.values())


def _user_headers(config: LogfireConfig, signal: Signal) -> dict[str, str]:
    settings = config.settings
    specific: dict[str, str] = getattr(settings, f'otlp_{signal}_headers')
    return {name: unquote(value) for name, value in (specific or settings.otlp_headers).items()}


def destinations(config: LogfireConfig, signal: Signal) -> list[Destination]:
    """Every destination that wants `signal`: the Logfire backend first, then the standard OTLP endpoint."""
    if _exporter_disabled(config, signal):
        return []
    settings = config.settings
    user_headers = _user_headers(config, signal)
    found: list[Destination] = []
    if config.send_to_logfire and config.base_url and config.token:
        # The generic OTEL headers may add to ours, but never replace the token or the user agent.
        headers = _merge_headers(user_headers, {'Authorization': config.token, 'User-Agent': USER_AGENT})
        found.append(Destination(signal, _endpoint(config.base_url, signal), headers, 'http/protobuf', 'gzip'))
    specific: str | None = getattr(settings, f'otlp_{signal}_endpoint')
    protocol = settings.otlp_protocol
    endpoint = specific
    if not endpoint and settings.otlp_endpoint:
        endpoint = settings.otlp_endpoint if protocol == 'grpc' else _endpoint(settings.otlp_endpoint, signal)
    if endpoint:
        compression: Encoding = '' if settings.otlp_compression == 'none' else settings.otlp_compression
        headers = _merge_headers({'User-Agent': USER_AGENT}, user_headers)
        found.append(Destination(signal, endpoint, headers, protocol, compression))
    for destination in found:
        _warn_if_credentials_in_clear(destination)
    return found


def _warn_if_credentials_in_clear(destination: Destination) -> None:
    """Warn, once per host and process, when a credential would travel unencrypted beyond this machine."""
    if _CREDENTIAL_HEADERS.isdisjoint(name.lower() for name in destination.headers):
        return
    endpoint = destination.endpoint
    parts = urlsplit(endpoint if '://' in endpoint else f'http://{endpoint}')  # gRPC: a bare host:port is insecure
    host = f'{parts.scheme}://{parts.netloc}'
    if parts.scheme == 'https' or host in _warned_cleartext or _is_loopback(parts.hostname or ''):
        return
    _warned_cleartext.add(host)
    names = sorted(name for name in destination.headers if name.lower() in _CREDENTIAL_HEADERS)
    warn(
        f'The {" and ".join(names)} header for {host} is sent over plain {parts.scheme}, so anyone on the network '
        'path can read the credential. Use an https:// URL, or a collector on this machine.'
    )


def _is_loopback(host: str) -> bool:
    if host == 'localhost' or host.endswith('.localhost'):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_delivery(config: LogfireConfig, destination: Destination) -> Delivery:
    """The background sender (with its disk queue and diagnostics) for one destination."""
    settings = config.settings
    signal = destination.signal
    transport: Transport
    if destination.protocol == 'grpc':
        from .transport import GrpcTransport

        transport = GrpcTransport(
            destination.endpoint, signal, destination.headers, gzip=destination.compression == 'gzip'
        )
    else:
        from .transport import HttpTransport

        transport = HttpTransport(destination.endpoint, destination.headers, destination.compression)
    disk = None
    if settings.retry_queue_max_bytes > 0:
        directory = queue_directory(
            settings.data_dir, signal, queue_identity(destination.endpoint, destination.headers)
        )
        check = functools.partial(request_problem, signal)  # a file in the queue is sent only if it is ours
        disk = DiskQueue(directory, settings.retry_queue_max_bytes, destination.endpoint, check)
    timeout = settings.otlp_timeout
    if signal == 'traces' and settings.bsp_export_timeout_millis > 0:
        timeout = min(timeout, settings.bsp_export_timeout_millis / 1000)
    diagnostics = ExportDiagnostics(destination.endpoint, UNITS[signal])
    return Delivery(signal, transport, disk=disk, request_timeout=timeout, diagnostics=diagnostics)


def queue_identity(endpoint: str, headers: Mapping[str, str]) -> str:
    """The identity of a disk queue: the endpoint plus the credentials its payloads may be re-sent with.

    So one tenant's leftovers never go out under another's token or headers. The User-Agent is left out, so
    leftovers from before an upgrade are still sent.
    """
    kept = sorted((k.lower(), v) for k, v in headers.items() if k.lower() != 'user-agent')
    return endpoint + ''.join(f'\n{k}: {v}' for k, v in kept)


class QueueingSpanExporter(DeliveryExporter, SpanExporter):
    """Serializes span batches and hands them to a `Delivery`; `export()` never waits for the network."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Serialize `spans` and queue them for delivery."""
        with handle_internal_errors('span export'):
            self.delivery.submit_serialized(serialize_spans(spans), len(spans))
            return SpanExportResult.SUCCESS
        return SpanExportResult.FAILURE


class QueueingMetricExporter(MetricExporter):
    """Serializes metrics and hands them to a `Delivery`."""

    def __init__(self, delivery: Delivery) -> None:
        super().__init__()
        self.delivery = delivery

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        """Serialize `metrics_data` and queue it for delivery."""
        with handle_internal_errors('metric export'):
            request = encode_metrics(metrics_data)
            items = sum(len(sm.metrics) for rm in request.resource_metrics for sm in rm.scope_metrics)
            self.delivery.submit_serialized(request.SerializeToString(), items)
            return MetricExportResult.SUCCESS
        return MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Wait until everything queued so far is delivered."""
        return self.delivery.flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Send what can be sent within the time left, then keep the rest on disk."""
        # The periodic reader passes the time it has left as `timeout` (milliseconds).
        remaining = kwargs.get('timeout', timeout_millis)
        self.delivery.close(remaining if isinstance(remaining, (int, float)) else 0)


def span_exporters(config: LogfireConfig) -> list[SpanExporter]:
    """One exporter per destination that wants traces."""
    return [QueueingSpanExporter(build_delivery(config, d)) for d in destinations(config, 'traces')]


def span_processor(config: LogfireConfig, exporter: SpanExporter) -> BatchExportSpanProcessor:
    """The batch processor that feeds `exporter`, configured by the `OTEL_BSP_*` settings."""
    settings = config.settings
    delivery = exporter.delivery if isinstance(exporter, QueueingSpanExporter) else None
    return BatchExportSpanProcessor(
        exporter,
        schedule_delay_millis=settings.bsp_schedule_delay_millis,
        max_queue_size=settings.bsp_max_queue_size,
        max_export_batch_size=settings.bsp_max_export_batch_size,
        shutdown_timeout_millis=settings.shutdown_timeout_millis,
        diagnostics=delivery.diagnostics if delivery is not None else None,
    )


def metric_exporters(config: LogfireConfig) -> list[MetricExporter]:
    """One exporter per destination that wants metrics."""
    return [QueueingMetricExporter(build_delivery(config, d)) for d in destinations(config, 'metrics')]
