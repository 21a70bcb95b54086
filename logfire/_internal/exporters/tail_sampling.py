"""Tail sampling: the export processors see a trace only once it is decided, and only if it is kept.

A span processor between the console and the batch processors, keyed by trace id. A trace's spans are
buffered until the trace is decided; the decision is sticky: a kept trace's buffered spans go to the export
processors at once and its later spans pass straight through, a dropped trace's spans are discarded. Spans
reach this processor scrubbed (the root processor scrubs first), so no secret waits here unscrubbed.

When a trace is decided:
- kept as soon as the rule's answer for one of its spans (at start and at end) beats the trace's draw, a
  number in [0, 1) fixed by its trace id; `level_or_duration()`'s background rate is decided by the draw
  alone, when the trace's first span starts, so a background-kept trace never waits here;
- otherwise dropped when its local root span ends, or when a bound is hit (below), or when it has waited
  `MAX_TRACE_AGE_SECONDS` (checked when a new trace starts; `level_or_duration()` keeps it then if that
  age reaches its duration threshold), or at `force_flush()`, `shutdown()` and exit, whose open spans are
  ended first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanContext, StatusCode

from ..constants import ATTRIBUTES_LOG_LEVEL_NUM_KEY, ERROR_LEVEL, INFO_LEVEL
from ..errors import handle_internal_errors, report_internal_error
from ..sampling import LevelOrDuration, TailCallback, TailSamplingSpanInfo
from ..span_storage import attributes_of
from .diagnostics import WARNING_INTERVAL_SECONDS, warn
from .lifecycle import at_fork_in_child, register_participant
from .processors import leaves_span_unchanged, reads_no_attributes

MAX_TRACE_SPANS: Final = 2_000
"""The most ended spans one undecided trace may buffer (its open spans are only referenced, as the program does)."""
MAX_TRACE_BYTES: Final = 4 * 1024 * 1024
"""The most bytes one undecided trace may buffer (estimated: names, attribute and event values, 512 per span)."""
MAX_TOTAL_SPANS: Final = 20_000
"""The most ended spans all undecided traces together may buffer."""
MAX_TOTAL_BYTES: Final = 32 * 1024 * 1024
"""The most bytes (estimated) all undecided traces together may buffer."""
MAX_TRACE_AGE_SECONDS: Final = 60.0
"""How long a trace may stay undecided, from its first span's start (by the spans' timestamps)."""
MAX_DECISIONS: Final = 10_000
"""How many decided traces are remembered, so that their later spans follow the decision."""
SPAN_OVERHEAD_BYTES: Final = 512
"""The fixed part of a buffered span's estimated size."""

_NS = 1_000_000_000
_MASK64 = (1 << 64) - 1


def trace_draw(trace_id: int) -> float:
    """A number in [0, 1) fixed by the trace id, independent of the id bits head sampling compares."""
    x = ((trace_id >> 64) ^ trace_id) & _MASK64
    # splitmix64's finaliser: small or sequential ids spread over the whole range.
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (x ^ (x >> 31)) / 2**64


def estimated_size(attributes: Mapping[str, Any], span: ReadableSpan) -> int:
    """A rough size of an ended span: its name, 48 bytes per attribute, the lengths of string and tuple values."""
    size = len(span.name) + 48 * len(attributes)
    size += sum([len(v) for v in attributes.values() if v.__class__ is str or v.__class__ is tuple])
    for event in span.events:
        size += 64 + len(event.name) + estimated_size(event.attributes or {}, span) - len(span.name)
    return size


class _Trace:
    """An undecided trace: its buffered spans and their cost."""

    __slots__ = ('bytes', 'draw', 'ended', 'open', 'spans', 'start_ns', 'trace_id')

    def __init__(self, trace_id: int, start_ns: int, draw: float) -> None:
        self.trace_id = trace_id
        self.start_ns = start_ns
        self.draw = draw
        self.open: dict[int, Span] = {}
        self.ended: list[ReadableSpan] = []
        self.spans = 0
        self.bytes = 0


_Decision = bool  # True: kept, False: dropped


class TailSamplingProcessor(SpanProcessor):
    """Buffer each trace's spans until it is decided, then hand a kept trace's spans to `children`."""

    def __init__(
        self, children: Sequence[SpanProcessor], rule: TailCallback, *, shutdown_timeout_millis: int = 3000
    ) -> None:
        self.children = tuple(children)
        # Those whose `on_start` does something (the batch processors', which note open spans to end them at exit).
        self._start_children = tuple(c for c in self.children if type(c).on_start is not SpanProcessor.on_start)
        self.rule = rule
        self.shutdown_timeout_millis = shutdown_timeout_millis
        fast = rule if isinstance(rule, LevelOrDuration) else None
        self._level: int | None = None if fast is None else fast.level_number
        self._duration_ns: float | None = (
            None if fast is None or fast.duration_threshold is None else fast.duration_threshold * _NS
        )
        self._background = 0.0 if fast is None else fast.background_rate
        self._callback = fast is None
        self._max_age_ns = int(MAX_TRACE_AGE_SECONDS * _NS)
        self._reset_state()
        at_fork_in_child(self, TailSamplingProcessor._reset_state)
        register_participant(self)

    def _reset_state(self) -> None:
        # Reentrant: a signal handler that logs can interrupt this thread while it holds the lock.
        self._lock = threading.RLock()
        self._traces: dict[int, _Trace | _Decision] = {}
        self._pending: dict[int, _Trace] = {}  # the undecided ones, oldest first
        self._forget_at = 2 * MAX_DECISIONS  # the size of `_traces` at which old decisions are forgotten
        self.buffered_spans = 0
        """Spans buffered now, over all undecided traces."""
        self.buffered_bytes = 0
        """Estimated bytes buffered now, over all undecided traces."""
        self.max_buffered_spans = 0
        """The most spans ever buffered at once."""
        self.max_buffered_bytes = 0
        """The most estimated bytes ever buffered at once."""
        self.decided_early: dict[str, int] = {}
        """Traces dropped before their root ended, by reason, since the last warning."""
        self._last_warning: float | None = None

    # ---- SpanProcessor -------------------------------------------------------------------------------

    @reads_no_attributes
    @leaves_span_unchanged
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Pass the span on if its trace is kept, forget it if dropped, else note it as open."""
        context = span.context
        if context is None:
            return
        state = self._traces.get(context.trace_id)
        if type(state) is _Trace:
            duration_ns = self._duration_ns
            if duration_ns is None or (span.start_time or 0) - state.start_ns < duration_ns:
                # No lock: one dict store. Should the trace be decided meanwhile, the span's end follows the decision.
                state.open[context.span_id] = span
                return
            self._buffer_start(span, context, parent_context, None)
        elif state is True:
            for child in self._start_children:
                try:
                    child.on_start(span, parent_context)
                except Exception as exc:
                    report_internal_error(f'{type(child).__name__}.on_start', exc)
        elif state is None:
            self._buffer_start(span, context, parent_context, None)

    def on_end(self, span: ReadableSpan) -> None:
        """Pass the span on if its trace is kept, forget it if dropped, else buffer it and maybe decide."""
        context = span.context
        if context is None:
            return
        state = self._traces.get(context.trace_id)
        if state is True:
            for child in self.children:
                try:
                    child.on_end(span)
                except Exception as exc:
                    report_internal_error(f'{type(child).__name__}.on_end', exc)
        elif state is not False:
            self._buffer_end(span, context, None)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Decide every undecided trace now, then flush the export processors within `timeout_millis`."""
        self._decide_all()
        deadline = time.monotonic() + timeout_millis / 1000
        ok = True
        for child in self.children:
            remaining = max(0, int((deadline - time.monotonic()) * 1000))
            with handle_internal_errors(f'{type(child).__name__}.force_flush'):
                ok = child.force_flush(remaining) and ok
        return ok

    def shutdown(self) -> None:
        """Decide every undecided trace, then shut the export processors down."""
        self._decide_all()
        for child in self.children:
            with handle_internal_errors(f'{type(child).__name__}.shutdown'):
                child.shutdown()

    # ---- exit hooks (see `lifecycle`) ----------------------------------------------------------------

    def end_open_spans(self) -> None:
        """At exit: end the open spans of undecided traces (a root's end decides its trace), then decide the rest."""
        with self._lock:
            spans = [span for trace in self._pending.values() for span in trace.open.values()]
        for span in spans:
            if span.end_time is None:
                with handle_internal_errors('ending an open span'):
                    span.end()
        self._decide_all()

    def flush_for_exit(self, timeout_millis: int) -> None:
        """Nothing: the export processors flush themselves; undecided traces are decided by `end_open_spans`."""

    # ---- buffering -----------------------------------------------------------------------------------

    def _answer(self, span: ReadableSpan, context: Context | None, event: str, trace: _Trace) -> float:
        """The custom rule's probability for this event, 1.0 if it fails (the trace is kept rather than lost)."""
        end = span.end_time if event == 'end' else span.start_time
        duration = max(0, (end or trace.start_ns) - trace.start_ns) / _NS
        info = TailSamplingSpanInfo(span, context, 'end' if event == 'end' else 'start', duration)
        try:
            return float(self.rule(info))
        except Exception as exc:
            report_internal_error('the tail sampling callable', exc)
            return 1.0

    def _buffer_start(
        self, span: Span, context: SpanContext, parent_context: Context | None, answer: float | None
    ) -> None:
        start_ns = span.start_time or 0
        flush: _Trace | None = None
        with self._lock:
            trace = self._traces.get(context.trace_id)
            if trace is None:
                trace = self._new_trace_locked(context.trace_id, start_ns)
            if type(trace) is not _Trace:
                passed = trace is True
            else:
                duration_ns = self._duration_ns
                passed = (answer is not None and answer > trace.draw) or (
                    duration_ns is not None and start_ns - trace.start_ns >= duration_ns
                )
                if passed:
                    flush = self._decide_locked(trace, True)
                else:
                    trace.open[context.span_id] = span
                    return
        if flush is not None:
            self._hand_on(flush)
        if passed:  # kept: as it started (by the background rate), or by this very span
            for child in self._start_children:
                try:
                    child.on_start(span, parent_context)
                except Exception as exc:
                    report_internal_error(f'{type(child).__name__}.on_start', exc)
        if self.decided_early:
            self._maybe_warn()

    def _buffer_end(self, span: ReadableSpan, context: SpanContext, answer: float | None) -> None:  # noqa: C901
        # The steps of `_keeps_at_end`, `_fits_locked` and `_grow_locked` are inline: this runs for nearly every
        # span of an undecided trace.
        attributes = attributes_of(span)
        flush: _Trace | None = None
        with self._lock:
            trace = self._traces.get(context.trace_id)
            if trace is None:
                trace = self._new_trace_locked(context.trace_id, span.start_time or span.end_time or 0)
            if type(trace) is not _Trace:
                passed = trace is True
            else:
                trace.open.pop(context.span_id, None)
                if answer is not None:
                    passed = answer > trace.draw
                else:
                    passed = False
                    level = self._level
                    if level is not None:
                        number: Any = attributes.get(ATTRIBUTES_LOG_LEVEL_NUM_KEY)
                        if number.__class__ is not int:
                            number = ERROR_LEVEL if span.status.status_code is StatusCode.ERROR else INFO_LEVEL
                        passed = number >= level
                    duration_ns = self._duration_ns
                    if not passed and duration_ns is not None:
                        passed = (span.end_time or 0) - trace.start_ns >= duration_ns
                if passed:
                    trace.ended.append(span)  # handed on with the others, below
                    passed = False
                    flush = self._decide_locked(trace, True)
                else:
                    grown = SPAN_OVERHEAD_BYTES + estimated_size(attributes, span)
                    if (
                        trace.spans < MAX_TRACE_SPANS
                        and trace.bytes + grown <= MAX_TRACE_BYTES
                        and self.buffered_spans < MAX_TOTAL_SPANS
                        and self.buffered_bytes + grown <= MAX_TOTAL_BYTES
                    ) or self._make_room_locked(trace, 1, grown):
                        trace.ended.append(span)
                        trace.spans += 1
                        trace.bytes += grown
                        total_spans = self.buffered_spans = self.buffered_spans + 1
                        total_bytes = self.buffered_bytes = self.buffered_bytes + grown
                        if total_spans > self.max_buffered_spans:
                            self.max_buffered_spans = total_spans
                        if total_bytes > self.max_buffered_bytes:
                            self.max_buffered_bytes = total_bytes
                        parent = span.parent
                        if parent is None or parent.is_remote:
                            self._decide_locked(trace, False)
        if flush is not None:
            self._hand_on(flush)
        if passed:
            for child in self.children:
                try:
                    child.on_end(span)
                except Exception as exc:
                    report_internal_error(f'{type(child).__name__}.on_end', exc)
        if self.decided_early:
            self._maybe_warn()

    def _new_trace_locked(self, trace_id: int, start_ns: int) -> _Trace | _Decision:
        """Start tracking a trace not seen yet (or forgotten): undecided, or kept at once by the background rate."""
        if self._pending:
            self._expire_old_locked(start_ns)
        background = self._background
        draw = trace_draw(trace_id) if background or self._callback else 1.0
        if draw < background:
            self._remember_locked(trace_id, True)
            return True
        trace = _Trace(trace_id, start_ns, draw)
        self._traces[trace_id] = trace
        self._pending[trace_id] = trace
        return trace

    # ---- deciding ------------------------------------------------------------------------------------

    def _decide_locked(self, trace: _Trace, keep: bool, reason: str | None = None) -> _Trace | None:
        """Record the decision and release the trace's buffer; returns the trace if its spans are to be handed on."""
        trace_id = trace.trace_id
        del self._pending[trace_id]
        self.buffered_spans -= trace.spans
        self.buffered_bytes -= trace.bytes
        traces = self._traces
        traces[trace_id] = keep
        if len(traces) > self._forget_at:
            self._forget_decisions_locked()
        if reason is not None and not keep:
            self.decided_early[reason] = self.decided_early.get(reason, 0) + 1
        return trace if keep else None

    def _remember_locked(self, trace_id: int, keep: bool) -> None:
        self._traces[trace_id] = keep
        if len(self._traces) > self._forget_at:
            self._forget_decisions_locked()

    def _forget_decisions_locked(self) -> None:
        """Forget the oldest decisions (in the order their traces started), keeping the `MAX_DECISIONS` newest.

        In batches, so that deciding a trace costs no bookkeeping of its own.
        """
        traces = self._traces
        excess = len(traces) - len(self._pending) - MAX_DECISIONS
        victims: list[int] = []
        for trace_id, state in traces.items():
            if len(victims) >= excess:
                break
            if type(state) is not _Trace:
                victims.append(trace_id)
        for trace_id in victims:
            del traces[trace_id]
        self._forget_at = len(traces) + MAX_DECISIONS

    def _make_room_locked(self, trace: _Trace, spans: int, size: int) -> bool:
        """Make room for a span of `trace` within the bounds; False if that dropped `trace` itself.

        A trace still undecided here has not qualified for keeping (its rule's answers never beat its draw), so a
        bound drops it, as its root's end would have; the total bounds drop the oldest traces first.
        """
        if trace.spans + spans > MAX_TRACE_SPANS:
            self._decide_locked(trace, False, f'over {MAX_TRACE_SPANS:,} spans in one trace')
            return False
        if trace.bytes + size > MAX_TRACE_BYTES:
            self._decide_locked(trace, False, f'over {MAX_TRACE_BYTES:,} bytes in one trace')
            return False
        pending = self._pending
        while self.buffered_spans + spans > MAX_TOTAL_SPANS and pending:
            self._decide_locked(next(iter(pending.values())), False, f'over {MAX_TOTAL_SPANS:,} spans buffered')
        while self.buffered_bytes + size > MAX_TOTAL_BYTES and pending:
            self._decide_locked(next(iter(pending.values())), False, f'over {MAX_TOTAL_BYTES:,} bytes buffered')
        return trace.trace_id in pending

    def _expire_old_locked(self, now_ns: int) -> None:
        pending = self._pending
        while pending:
            oldest = next(iter(pending.values()))
            age = now_ns - oldest.start_ns
            if age < self._max_age_ns:
                return
            duration_ns = self._duration_ns
            if duration_ns is not None and age >= duration_ns:
                flush = self._decide_locked(oldest, True)
                if flush is not None:
                    self._hand_on(flush)  # under the lock: rare, and the export processors never call back
            else:
                self._decide_locked(oldest, False, f'undecided after {MAX_TRACE_AGE_SECONDS:g} seconds')

    def _decide_all(self) -> None:
        with self._lock:
            for trace in list(self._pending.values()):
                self._decide_locked(trace, False)

    def _hand_on(self, trace: _Trace) -> None:
        """Give a kept trace's buffered spans to the export processors: open ones as started, the rest as ended."""
        open_spans = list(trace.open.values())
        for child in self.children:
            try:
                if open_spans and child in self._start_children:
                    for span in open_spans:
                        child.on_start(span, None)
                for ended in trace.ended:
                    child.on_end(ended)
            except Exception as exc:
                report_internal_error(f'{type(child).__name__} (tail sampling)', exc)
        trace.open.clear()
        trace.ended.clear()

    def _maybe_warn(self) -> None:
        if not self.decided_early:
            return
        now = time.monotonic()
        with self._lock:
            last = self._last_warning
            if not self.decided_early or (last is not None and now - last < WARNING_INTERVAL_SECONDS):
                return
            counts, self.decided_early = self.decided_early, {}
            self._last_warning = now
        since = '' if last is None else f' in the last {now - last:.0f}s'
        parts = [f'{count} ({reason})' for reason, count in sorted(counts.items())]
        warn(
            f'Tail sampling dropped traces before they could be decided{since}: {", ".join(parts)}. '
            'Their spans were not exported; see the Sampling page of the docs for the bounds.'
        )


class CallbackTailSamplingProcessor(TailSamplingProcessor):
    """Tail sampling by a custom `tail` callable, asked at each start and end of an undecided trace's spans.

    Its `on_start` is not marked as reading nothing: the callable is given the span as it starts.
    """

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Pass the span on if its trace is kept, forget it if dropped, else ask the rule and buffer it."""
        context = span.context
        if context is None:
            return
        state = self._traces.get(context.trace_id)
        if state is True or state is False:
            super().on_start(span, parent_context)
            return
        trace = state if state is not None else self._peek_new(context.trace_id, span.start_time or 0)
        answer = self._answer(span, parent_context, 'start', trace)
        self._buffer_start(span, context, parent_context, answer)

    def on_end(self, span: ReadableSpan) -> None:
        """Pass the span on if its trace is kept, forget it if dropped, else ask the rule, buffer it, maybe decide."""
        context = span.context
        if context is None:
            return
        state = self._traces.get(context.trace_id)
        if state is True or state is False:
            super().on_end(span)
            return
        trace = state if state is not None else self._peek_new(context.trace_id, span.start_time or 0)
        answer = self._answer(span, None, 'end', trace)
        self._buffer_end(span, context, answer)

    def _peek_new(self, trace_id: int, start_ns: int) -> _Trace:
        """A stand-in for a trace not seen yet, for the rule's first answer (duration 0)."""
        return _Trace(trace_id, start_ns, trace_draw(trace_id))


def tail_sampling_processor(
    children: Sequence[SpanProcessor], rule: TailCallback, *, shutdown_timeout_millis: int
) -> TailSamplingProcessor:
    """The processor for `rule`: `level_or_duration()`'s applied inline, any other callable asked per span."""
    cls = TailSamplingProcessor if isinstance(rule, LevelOrDuration) else CallbackTailSamplingProcessor
    return cls(children, rule, shutdown_timeout_millis=shutdown_timeout_millis)
