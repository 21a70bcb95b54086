"""A burst of spans while the exporter is busy: the queue, then the overflow, then drops that are counted.

Driven through the batch span processor with an exporter that holds the first batch until the test lets it go: no
network, and nothing depends on timing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

from logfire._internal.exporters.batch import BatchExportSpanProcessor
from logfire._internal.exporters.diagnostics import ExportDiagnostics


class HeldExporter(SpanExporter):
    """Holds its first export until `release` is set; records every batch."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.first_export = threading.Event()
        self.release = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.batches.append([span.name for span in spans])
        self.first_export.set()
        assert self.release.wait(10)
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def test_a_burst_fills_the_queue_then_the_overflow_and_only_then_drops_with_a_count() -> None:
    exporter, messages = HeldExporter(), list[str]()
    diagnostics = ExportDiagnostics('http://127.0.0.1:9/v1/traces', 'spans', interval=0, emit=messages.append)
    processor = BatchExportSpanProcessor(
        exporter, schedule_delay_millis=60_000, max_queue_size=2, max_overflow_spans=2, diagnostics=diagnostics
    )
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer('burst')
    try:
        tracer.start_span('first').end()
        assert exporter.first_export.wait(10)  # the worker is inside the exporter, holding 'first'
        for i in range(6):
            tracer.start_span(f'burst {i}').end()  # 2 fill the queue, 2 the overflow, 2 are dropped
        exporter.release.set()
        assert processor.force_flush(10_000)
    finally:
        provider.shutdown()
    assert exporter.batches == [['first'], ['burst 0', 'burst 1'], ['burst 2', 'burst 3']]
    assert messages == ['Problem exporting spans to http://127.0.0.1:9/v1/traces (2 spans dropped (span queue full)).']


class RecordOnly(Sampler):
    """Records every span (processors see it start and end) without sampling it."""

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        return SamplingResult(Decision.RECORD_ONLY)

    def get_description(self) -> str:
        return 'RecordOnly'


def flushed_batches(
    provider: TracerProvider, exporter: HeldExporter, processor: BatchExportSpanProcessor
) -> list[list[str]]:
    exporter.release.set()
    try:
        assert processor.force_flush(10_000)
    finally:
        provider.shutdown()
    return exporter.batches


def test_a_recorded_but_unsampled_span_is_not_exported() -> None:
    exporter = HeldExporter()
    processor = BatchExportSpanProcessor(exporter, schedule_delay_millis=60_000)
    provider = TracerProvider(sampler=RecordOnly())
    provider.add_span_processor(processor)
    provider.get_tracer('test').start_span('recorded only').end()
    assert flushed_batches(provider, exporter, processor) == []


def test_a_span_that_started_before_the_processor_was_added_is_exported_when_it_ends() -> None:
    exporter = HeldExporter()
    processor = BatchExportSpanProcessor(exporter, schedule_delay_millis=60_000)
    provider = TracerProvider()
    span = provider.get_tracer('test').start_span('started earlier')
    provider.add_span_processor(processor)
    span.end()
    assert flushed_batches(provider, exporter, processor) == [['started earlier']]


def test_spans_still_queued_when_the_exit_spill_time_runs_out_are_counted_as_dropped() -> None:
    exporter, messages = HeldExporter(), list[str]()
    diagnostics = ExportDiagnostics('http://127.0.0.1:9/v1/traces', 'spans', interval=0, emit=messages.append)
    processor = BatchExportSpanProcessor(
        exporter,
        schedule_delay_millis=60_000,
        max_queue_size=2,
        shutdown_timeout_millis=400,  # the worker gets a quarter of it to encode what is left
        diagnostics=diagnostics,
    )
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer('exit')
    try:
        tracer.start_span('first').end()
        assert exporter.first_export.wait(10)  # the exporter hangs on 'first'
        for i in range(3):
            tracer.start_span(f'late {i}').end()  # two in the queue, one in the overflow
        processor.shutdown()
    finally:
        exporter.release.set()
    assert messages == [
        'Problem exporting spans to http://127.0.0.1:9/v1/traces (3 spans dropped (not encoded before exit)).'
    ]
