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

import time
import weakref
from collections import deque

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter
from typing_extensions import Unpack

from ..errors import handle_internal_errors
from .batch_worker import BatchSettings, BatchWorker
from .lifecycle import claim_sigterm, register_participant
from .processors import leaves_span_unchanged, reads_no_attributes

QUICK_START_SPANS = 10
QUICK_START_DELAY_MILLIS = 100
_OPEN_SPANS_PRUNE_AT = 100_000
MAX_OVERFLOW_SPANS = 100_000
"""Ended spans kept beyond the queue during a burst (about 3 KB each for a simple span), exported after it."""


class BatchExportSpanProcessor(BatchWorker, SpanProcessor):
    """Queue ended spans and export them in batches from a background thread."""

    thread_name = 'logfire-batch-spans'
    drop_reason = 'span queue full'

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_overflow_spans: int = MAX_OVERFLOW_SPANS,
        **settings: Unpack[BatchSettings],
    ) -> None:
        self.max_overflow_spans = max_overflow_spans
        super().__init__(exporter, **settings)
        register_participant(self)

    def _reset_state(self) -> None:
        self._reset_worker()
        self._queue: deque[ReadableSpan] = deque()
        self._overflow: deque[ReadableSpan] = deque()  # when the queue is full; exported after it
        self._open: dict[int, weakref.ReferenceType[Span]] = {}
        self._prune_at = _OPEN_SPANS_PRUNE_AT
        self._exported = 0  # spans handed to the exporter so far, for the quick start
        # Until a span ends in the main thread: then make sure SIGTERM still flushes (a server, or the code that
        # forked this process, may have set its own handler since configure()).
        self._claim_sigterm = True

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

    # ---- exit hooks ----------------------------------------------------------------------------------

    def end_open_spans(self) -> None:
        """End every span that started and has not ended yet (at exit), so it is exported."""
        for ref in list(self._open.values()):
            span = ref()
            if span is not None and span.end_time is None:
                with handle_internal_errors('ending an open span'):
                    span.end()

    # ---- worker thread -------------------------------------------------------------------------------

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

    def _discard_queued(self) -> int:
        left = len(self._queue) + len(self._overflow)
        self._queue.clear()
        self._overflow.clear()
        return left
