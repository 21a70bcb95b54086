"""OTLP exporters: to the Logfire backend (token) and to any endpoint named by the standard OTEL_* variables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from ...version import VERSION

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricExporter
    from opentelemetry.sdk.trace.export import SpanExporter

    from ..config import LogfireConfig

USER_AGENT = f'logfire/{VERSION}'


def _endpoint(base: str, signal: str) -> str:
    return f'{base.rstrip("/")}/v1/{signal}'


def _standard_endpoint(config: LogfireConfig, signal: str) -> str | None:
    settings = config.settings
    exporter_setting = getattr(settings, f'{signal}_exporter')
    if 'none' in {part.strip().lower() for part in exporter_setting.split(',')}:
        return None
    specific: str | None = getattr(settings, f'otlp_{signal}_endpoint')
    if specific:
        return specific
    if settings.otlp_endpoint:
        return _endpoint(settings.otlp_endpoint, signal)
    return None


def _logfire_headers(config: LogfireConfig) -> dict[str, str]:
    assert config.token is not None
    return {'Authorization': config.token, 'User-Agent': USER_AGENT}


def span_exporters(config: LogfireConfig) -> list[SpanExporter]:
    """One exporter per destination that wants traces."""
    exporters: list[SpanExporter] = []
    if config.send_to_logfire and config.base_url and config.settings.traces_exporter != 'none':
        exporters.append(
            OTLPSpanExporter(
                endpoint=_endpoint(config.base_url, 'traces'),
                headers=_logfire_headers(config),
                compression=Compression.Gzip,
            )
        )
    endpoint = _standard_endpoint(config, 'traces')
    if endpoint:
        exporters.append(OTLPSpanExporter(endpoint=endpoint))
    return exporters


def metric_exporters(config: LogfireConfig) -> list[MetricExporter]:
    """One exporter per destination that wants metrics."""
    exporters: list[MetricExporter] = []
    if config.send_to_logfire and config.base_url and config.settings.metrics_exporter != 'none':
        exporters.append(
            OTLPMetricExporter(
                endpoint=_endpoint(config.base_url, 'metrics'),
                headers=_logfire_headers(config),
                compression=Compression.Gzip,
            )
        )
    endpoint = _standard_endpoint(config, 'metrics')
    if endpoint:
        exporters.append(OTLPMetricExporter(endpoint=endpoint))
    return exporters
