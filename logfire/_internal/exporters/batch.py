"""The batch span processor: spans leave the request path at once and are exported by a background thread.

Like OpenTelemetry's `BatchSpanProcessor` (and configured by the same `OTEL_BSP_*` variables), plus:
- the first few spans leave after at most 100 ms, so a short script or a first request shows up quickly;
- `force_flush(timeout_millis)` honours its timeout;
- a burst beyond the queue waits in an overflow of up to `MAX_OVERFLOW_SPANS` ended spans, which the worker
  exports after the queue (appending to it is all the application's thread does); only beyond that are new
  spans dropped, with a count in the next warning, never a log line per span;
- at shutdown the worker goes on encoding what is queued for a bounded time (`exit_spill_millis`): what the
  exporter cannot send before exit it keeps on disk; what is still unencoded then is counted as dropped;
- after `os.fork()` the child gets its own thread, lock and queue;
- spans that are still open at exit (say, in a suspended generator) can be ended so they are exported.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from typing import Protocol, runtime_checkable

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter

from ..errors import handle_internal_errors
from .diagnostics import ExportDiagnostics, suppressed
from .lifecycle import at_fork_in_child, claim_sigterm, register_participant
from .processors import leaves_span_unchanged, reads_no_attributes

QUICK_START_SPANS = 10
QUICK_START_DELAY_MILLIS = 100
_OPEN_SPANS_PRUNE_AT = 100_000
MAX_OVERFLOW_SPANS = 100_000
"""Ended spans kept beyond the queue during a burst (about 3 KB each for a simple span), exported after it."""
EXIT_SPILL_MILLIS = 500
"""At most this long (and a quarter of the shutdown timeout) `shutdown()` lets the worker encode what is left."""


@runtime_checkable
class PersistingExporter(Protocol):
    """An exporter that can move what it has not sent yet to durable storage."""

    def persist_pending(self) -> None:
        """Move unsent payloads to the disk queue."""
        ...


class BatchExportSpanProcessor(SpanProcessor):
    """Queue ended spans and export them in batches from a background thread."""

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        schedule_delay_millis: int = 500,
        max_queue_size: int = 2048,
        max_export_batch_size: int = 512,
        shutdown_timeout_millis: int = 3000,
        max_overflow_spans: int = MAX_OVERFLOW_SPANS,
        diagnostics: ExportDiagnostics | None = None,
    ) -> None:
        self.exporter = exporter
        self.schedule_delay_millis = schedule_delay_millis
        self.max_queue_size = max_queue_size
        self.max_export_batch_size = min(max_export_batch_size, max_queue_size)
        self.shutdown_timeout_millis = shutdown_timeout_millis
        self.max_overflow_spans = max_overflow_spans
        self.exit_spill_millis = min(EXIT_SPILL_MILLIS, shutdown_timeout_millis // 4)
        self.diagnostics = diagnostics
        self._shutdown = False
        self._reset_state()
        at_fork_in_child(self, BatchExportSpanProcessor._reset_after_fork)
        register_participant(self)

    def _reset_state(self) -> None:
        # Reentrant: a signal handler that logs can interrupt this thread while it holds the lock.
        self._cond = threading.Condition(threading.RLock())
        self._queue: deque[ReadableSpan] = deque()
        self._overflow: deque[ReadableSpan] = deque()  # when the queue is full; exported after it
        self._open: dict[int, weakref.ReferenceType[Span]] = {}
        self._prune_at = _OPEN_SPANS_PRUNE_AT
        self._thread: threading.Thread | None = None
        self._wake_at = 0.0
        self._exported = 0  # spans handed to the exporter so far, for the quick start
        self._dropped = 0
        self._flush_requested = 0
        self._flush_done = 0
        self._urgent = False
        self._stop_at: float | None = None  # at shutdown: when the worker stops encoding
        # Until a span ends in the main thread: then make sure SIGTERM still flushes (a server, or the code that
        # forked this process, may have set its own handler since configure()).
        self._claim_sigterm = True

    def _reset_after_fork(self) -> None:
        self._reset_state()  # the parent exports what it had queued, and ends its own open spans

    # ---- SpanProcessor -------------------------------------------------------------------------------

    @reads_no_attributes
    @leaves_span_unchanged
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Remember the span as open, to end it at exit if nothing else does."""
        context = span.context
        if context is not None and context.trace_flags.sampled:
            if len(self._open) >= self._prune_at:
                self._prune_open_spans()
            self._open[context.span_id] = weakref.ref(span)

    def on_end(self, span: ReadableSpan) -> None:
        """Queue the span for export; never blocks on the exporter."""
        context = span.context
        if context is None or not context.trace_flags.sampled:
            return
        self._open.pop(context.span_id, None)
        if self._shutdown:
            return
        if self._claim_sigterm:
            self._claim_sigterm = not claim_sigterm()
        queue = self._queue
        if len(queue) >= self.max_queue_size:
            # The worker is awake: a full batch woke it. Ended spans are immutable, so keeping them costs no copy.
            overflow = self._overflow
            if len(overflow) >= self.max_overflow_spans:
                self._dropped += 1  # reported by the worker thread, never from the application's thread
            else:
                overflow.append(span)
            return
        queue.append(span)
        size = len(queue)
        full = size >= self.max_export_batch_size and not self._urgent
        if full or self._exported + size <= QUICK_START_SPANS or self._thread is None:
            with self._cond:
                self._ensure_worker_locked()
                if full:
                    self._urgent = True
                else:
                    self._wake_at = min(self._wake_at, time.monotonic() + QUICK_START_DELAY_MILLIS / 1000)
                self._cond.notify_all()

    def _prune_open_spans(self) -> None:
        for span_id, ref in list(self._open.items()):
            if ref() is None:
                self._open.pop(span_id, None)
        # Spans that never end and stay referenced: prune again only once there are twice as many.
        self._prune_at = max(_OPEN_SPANS_PRUNE_AT, 2 * len(self._open))

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export every queued span and wait for the exporter's delivery, within `timeout_millis` in total."""
        deadline = time.monotonic() + max(0, timeout_millis) / 1000
        with self._cond:
            if self._shutdown:
                return False
            self._flush_requested += 1
            target = self._flush_requested
            self._ensure_worker_locked()
            self._cond.notify_all()
            while self._flush_done < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        remaining_millis = max(0, int((deadline - time.monotonic()) * 1000))
        return self.exporter.force_flush(remaining_millis)

    def shutdown(self) -> None:
        """Hand every queued span to the exporter, then shut it down (it keeps what it could not send)."""
        spill = self.exit_spill_millis / 1000
        with self._cond:
            if self._shutdown:
                return
            self._shutdown = True
            self._stop_at = time.monotonic() + spill
            thread = self._thread
            self._cond.notify_all()
        if thread is not None:
            thread.join(spill + 0.1)
        if thread is None:
            with suppressed():
                self._export_queued()
        # What the worker could not encode in time; what it did encode the exporter sends or keeps on disk.
        left = len(self._queue) + len(self._overflow)
        self._queue.clear()
        self._overflow.clear()
        if left and self.diagnostics is not None:
            self.diagnostics.dropped(left, 'not encoded before exit')
        self._report_dropped()
        self.exporter.shutdown()

    # ---- exit hooks ----------------------------------------------------------------------------------

    def end_open_spans(self) -> None:
        """End every span that started and has not ended yet (at exit), so it is exported."""
        for ref in list(self._open.values()):
            span = ref()
            if span is not None and span.end_time is None:
                with handle_internal_errors('ending an open span'):
                    span.end()

    def flush_for_exit(self, timeout_millis: int) -> None:
        """Flush within `timeout_millis`, then move whatever is still unsent to the disk queue."""
        self.force_flush(timeout_millis)
        if isinstance(self.exporter, PersistingExporter):
            self.exporter.persist_pending()

    # ---- worker thread -------------------------------------------------------------------------------

    def _ensure_worker_locked(self) -> None:
        if self._thread is None and not self._shutdown:
            self._wake_at = time.monotonic() + self.schedule_delay_millis / 1000
            self._thread = threading.Thread(target=self._work, name='logfire-batch-spans', daemon=True)
            self._thread.start()

    def _work(self) -> None:
        with suppressed():  # nothing the exporter does may create spans
            while True:
                with self._cond:
                    while not (self._urgent or self._shutdown or self._flush_requested > self._flush_done):
                        remaining = self._wake_at - time.monotonic()
                        if remaining <= 0:
                            break
                        self._cond.wait(remaining)
                    self._wake_at = time.monotonic() + self.schedule_delay_millis / 1000
                    self._urgent = False
                    flush_target = self._flush_requested
                    stopping = self._shutdown
                self._export_queued()
                self._report_dropped()
                with self._cond:
                    self._flush_done = max(self._flush_done, flush_target)
                    self._cond.notify_all()
                if stopping:
                    return

    def _export_queued(self) -> None:
        queue, overflow, size = self._queue, self._overflow, self.max_export_batch_size
        while queue or overflow:
            stop_at = self._stop_at
            if stop_at is not None and time.monotonic() >= stop_at:
                return
            batch: list[ReadableSpan] = []
            while queue and len(batch) < size:
                batch.append(queue.popleft())
            while overflow and len(batch) < size:
                batch.append(overflow.popleft())
            with handle_internal_errors('span export'):
                self.exporter.export(batch)
            self._exported += len(batch)

    def _report_dropped(self) -> None:
        dropped, self._dropped = self._dropped, 0
        if dropped and self.diagnostics is not None:
            self.diagnostics.dropped(dropped, 'span queue full')
