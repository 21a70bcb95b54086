"""Stories about the batch span processor's flush and shutdown: what they export, what they answer, how long they wait.

Driven through the processor with a recording exporter: no network. The schedule delay is a minute, so anything
exported past the first few spans (the quick start) was exported because of the flush or the shutdown.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from logfire._internal.exporters.batch import BatchExportSpanProcessor
from logfire._internal.exporters.diagnostics import ExportDiagnostics


class RecordingExporter(SpanExporter):
    """Records every batch, every flush timeout and every call to persist_pending and shutdown."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.flush_timeouts: list[int] = []
        self.persisted = 0
        self.shutdowns = 0
        self.hold = threading.Event()  # set: the next export waits until `release`
        self.release = threading.Event()
        self.held = threading.Event()  # set once an export is waiting for `release`

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.hold.is_set():
            self.held.set()
            assert self.release.wait(10)
        self.batches.append([span.name for span in spans])
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.flush_timeouts.append(timeout_millis)
        return True

    def persist_pending(self) -> None:
        self.persisted += 1

    def shutdown(self) -> None:
        self.shutdowns += 1


def processor_with(
    exporter: RecordingExporter, messages: list[str] | None = None
) -> tuple[TracerProvider, BatchExportSpanProcessor]:
    diagnostics = None
    if messages is not None:
        diagnostics = ExportDiagnostics('http://127.0.0.1:9/v1/traces', 'spans', interval=0, emit=messages.append)
    processor = BatchExportSpanProcessor(
        exporter, schedule_delay_millis=60_000, max_export_batch_size=4, diagnostics=diagnostics
    )
    provider = TracerProvider()
    provider.add_span_processor(processor)
    return provider, processor


def end_spans(provider: TracerProvider, names: Sequence[str]) -> None:
    tracer = provider.get_tracer('flush')
    for name in names:
        tracer.start_span(name).end()


def exported(exporter: RecordingExporter) -> list[str]:
    return [name for batch in exporter.batches for name in batch]


def test_each_force_flush_exports_everything_queued_in_batches_and_gives_the_exporter_the_time_left() -> None:
    exporter = RecordingExporter()
    provider, processor = processor_with(exporter)
    try:
        first = [f'first {i}' for i in range(15)]  # past the quick start
        end_spans(provider, first)
        assert processor.force_flush(2000)
        assert exported(exporter) == first
        assert all(len(batch) <= 4 for batch in exporter.batches)
        assert 1000 < exporter.flush_timeouts[-1] <= 2000  # what is left of the 2 s once the spans are handed over

        end_spans(provider, ['second 0', 'second 1'])
        assert processor.force_flush(2000)
        assert exported(exporter) == [*first, 'second 0', 'second 1']
    finally:
        provider.shutdown()


def test_force_flush_answers_within_its_timeout_true_when_idle_false_when_the_exporter_is_stuck() -> None:
    exporter = RecordingExporter()
    provider, processor = processor_with(exporter)
    try:
        assert processor.force_flush(500)  # nothing to wait for: well within half a second
        exporter.hold.set()
        end_spans(provider, ['stuck'])
        answers: list[bool] = []
        flushing = threading.Thread(target=lambda: answers.append(processor.force_flush(300)))
        flushing.start()
        flushing.join(5)
        assert answers == [False]  # and it did answer, long before the exporter gave up
    finally:
        exporter.release.set()
        provider.shutdown()


def test_shutdown_exports_what_is_queued_then_the_processor_takes_no_more() -> None:
    exporter, messages = RecordingExporter(), list[str]()
    provider, processor = processor_with(exporter, messages)
    names = [f'span {i}' for i in range(15)]
    end_spans(provider, names)
    processor.shutdown()
    assert exported(exporter) == names and messages == []  # encoded within the exit spill time: nothing dropped

    end_spans(provider, ['too late'])
    processor.shutdown()
    assert not processor.force_flush(500)
    assert exported(exporter) == names
    assert exporter.shutdowns == 1


def test_the_exit_flush_flushes_within_its_time_then_asks_the_exporter_to_keep_what_is_unsent() -> None:
    exporter = RecordingExporter()
    provider, processor = processor_with(exporter)
    try:
        names = [f'span {i}' for i in range(15)]
        end_spans(provider, names)
        processor.flush_for_exit(2000)
        assert exported(exporter) == names
        assert len(exporter.flush_timeouts) == 1 and 1000 < exporter.flush_timeouts[0] <= 2000
        assert exporter.persisted == 1
    finally:
        provider.shutdown()


def test_the_first_ten_spans_leave_at_once_then_spans_wait_for_the_schedule_delay_or_a_full_batch() -> None:
    exporter = RecordingExporter()
    provider, _ = processor_with(exporter)
    try:
        for i in range(10):
            end_spans(provider, [f'quick {i}'])
            deadline = time.monotonic() + 5
            while len(exported(exporter)) < i + 1:  # each within about 100 ms, not a minute
                assert time.monotonic() < deadline, f'span {i} was not exported at once'
                time.sleep(0.005)
        end_spans(provider, ['eleventh'])
        time.sleep(0.3)
        assert exported(exporter) == [f'quick {i}' for i in range(10)]  # from here on, the schedule delay
        end_spans(provider, ['twelfth', 'thirteenth', 'fourteenth'])  # a full batch of 4 leaves at once
        deadline = time.monotonic() + 5
        while len(exported(exporter)) < 14:
            assert time.monotonic() < deadline, 'a full batch waited for the schedule delay'
            time.sleep(0.005)
    finally:
        provider.shutdown()


def test_past_the_quick_start_a_span_leaves_after_a_sub_second_schedule_delay_not_before() -> None:
    exporter = RecordingExporter()
    processor = BatchExportSpanProcessor(exporter, schedule_delay_millis=900)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    try:
        end_spans(provider, [f'quick {i}' for i in range(10)])
        assert processor.force_flush(5000)  # the worker has just exported: its next turn is 0.9 s away
        end_spans(provider, ['later'])
        time.sleep(0.3)
        assert 'later' not in exported(exporter)
        deadline = time.monotonic() + 5
        while 'later' not in exported(exporter):
            assert time.monotonic() < deadline, 'the schedule delay passed and the span stayed queued'
            time.sleep(0.01)
    finally:
        provider.shutdown()


def test_shutdown_with_a_stuck_exporter_returns_within_its_bound_and_counts_what_is_left() -> None:
    exporter, messages = RecordingExporter(), list[str]()
    diagnostics = ExportDiagnostics('http://127.0.0.1:9/v1/traces', 'spans', interval=0, emit=messages.append)
    processor = BatchExportSpanProcessor(exporter, shutdown_timeout_millis=400, diagnostics=diagnostics)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    exporter.hold.set()
    try:
        end_spans(provider, ['stuck'])
        assert exporter.held.wait(10)
        end_spans(provider, ['queued'])
        shutting_down = threading.Thread(target=processor.shutdown)
        shutting_down.start()
        shutting_down.join(5)
        assert not shutting_down.is_alive()
    finally:
        exporter.release.set()
    assert exporter.shutdowns == 1
    assert len(messages) == 1 and 'dropped (not encoded before exit)' in messages[0]
