"""Build the OpenTelemetry pipeline (tracer and meter providers, processors, exporters) from a config."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from opentelemetry import metrics
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from .exporters.processors import RootSpanProcessor
from .options import default_metric_views
from .pipeline import Pipeline
from .resource import build_resource
from .span_metrics import SpanMetrics
from .span_storage import storage_works

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricExporter
    from opentelemetry.sdk.trace.export import SpanExporter

    from .config import LogfireConfig


def _span_exporters(config: LogfireConfig) -> list[SpanExporter]:
    from .exporters.otlp import span_exporters

    return span_exporters(config)


def _metric_exporters(config: LogfireConfig) -> list[MetricExporter]:
    from .exporters.otlp import metric_exporters

    return metric_exporters(config)


def build_pipeline(config: LogfireConfig, export_processors: Sequence[SpanProcessor] = ()) -> Pipeline:
    """Build the providers and processors for `config`. Heavy modules are imported only when used.

    `export_processors` go where the OTLP batch processors go, after the console and behind tail sampling (for
    tests and benchmarks that need to see what an exporter would get).
    """
    settings = config.settings
    resource = build_resource(config)
    children: list[SpanProcessor] = list(settings.additional_span_processors)
    if config.console is not None:
        from .exporters.console import ConsoleSpanProcessor

        children.append(ConsoleSpanProcessor(config.console))
    export: list[SpanProcessor] = list(export_processors)
    if _wants_export(config):
        from .exporters.otlp import span_processor

        export.extend(span_processor(config, exporter) for exporter in _span_exporters(config))
    if settings.sampling_tail is not None and export:
        from .exporters.tail_sampling import tail_sampling_processor

        tail = tail_sampling_processor(
            export, settings.sampling_tail, shutdown_timeout_millis=settings.shutdown_timeout_millis
        )
        children.append(tail)
    else:
        children.extend(export)
    from .span_hooks import after_scrub_transforms, end_transforms, start_hooks

    # Scrubbing runs first at start (so hooks and `on_start` consumers see scrubbed values), and at end before the
    # transforms that make messages from scrubbed values.
    scrubber = config.scrubber
    root = RootSpanProcessor(
        children,
        start_hooks(config),
        [*end_transforms(config), scrubber.scrub_ended_span, *after_scrub_transforms(config)],
        start_scrub=scrubber.scrub_started_span,
        scrubber=scrubber,
    )
    sampler = ParentBased(TraceIdRatioBased(settings.trace_sample_rate)) if settings.trace_sample_rate < 1 else None
    tracer_provider = TracerProvider(
        resource=resource,
        sampler=sampler,
        id_generator=settings.id_generator,
        shutdown_on_exit=False,
        active_span_processor=root,
    )
    # A span of logfire's API may start without attributes, which the root processor then adds, only if the
    # sampler cannot look at them: ours never does, a custom one named by OTEL_TRACES_SAMPLER might.
    defer_attributes = _is_stock_sampler(tracer_provider.sampler) and storage_works()

    meter_provider: metrics.MeterProvider = NoOpMeterProvider()
    if settings.metrics:
        readers: list[MetricReader] = list(settings.metric_readers)
        if _wants_export(config):
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

            readers.extend(PeriodicExportingMetricReader(exporter) for exporter in _metric_exporters(config))
        views = default_metric_views() if settings.metric_views is None else settings.metric_views
        meter_provider = MeterProvider(metric_readers=readers, resource=resource, shutdown_on_exit=False, views=views)
    span_metrics = SpanMetrics(settings.metrics_collect_in_spans, root.add_hooks)
    return Pipeline(tracer_provider, meter_provider, defer_attributes, span_metrics.wrap)


def _wants_export(config: LogfireConfig) -> bool:
    settings = config.settings
    return config.send_to_logfire or bool(
        settings.otlp_endpoint
        or settings.otlp_traces_endpoint
        or settings.otlp_metrics_endpoint
        or settings.otlp_logs_endpoint
    )


def _is_stock_sampler(sampler: object) -> bool:
    """Whether `sampler` is one of the SDK's own, which decide from the trace id and the parent alone.

    All the samplers `OTEL_TRACES_SAMPLER` can name are, except a custom one loaded from an entry point.
    """
    return type(sampler).__module__ == 'opentelemetry.sdk.trace.sampling'
