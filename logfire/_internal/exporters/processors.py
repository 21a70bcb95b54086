"""The root span processor: the one processor the SDK calls, which fans out to logfire's chain.

Order: span enrichment and scrubbing first (so nothing downstream sees raw secrets), then the user's
`additional_span_processors`, the console, and the batch processors of the exporters.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol, TypeVar

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor, SynchronousMultiSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status
from opentelemetry.trace import Span as ApiSpan
from opentelemetry.util.types import AttributeValue

from ..errors import handle_internal_errors, report_internal_error
from ..span_storage import FAST_SPAN_CLASS, SDK_SPAN_CLASS, attributes_of, fast_spans_work, set_start_attributes

StartHook = Callable[[Span, Mapping[str, AttributeValue]], None]
"""Mutates a just-started span (through its public setters) before any child processor sees it; given the span's
attributes (a live view), which the root processor reads once for all of them."""
StartScrub = Callable[[Span, Mapping[str, AttributeValue], bool, Any], None]
"""Scrubs a just-started span in place, first of all; given its attributes, whether a child processor reads spans
when they start, and the scrubber that found the attributes clean already (or None)."""
EndTransform = Callable[[ReadableSpan, Mapping[str, AttributeValue]], ReadableSpan]
"""Returns the span to hand on at end: the same object, or a new `ReadableSpan` with changed attributes; given the
span's attributes."""
_F = TypeVar('_F', bound=Callable[..., Any])


class _SpanNotes(threading.local):
    """What logfire's span API and the root processor's hooks tell each other about the spans of this thread."""

    starting: Starting | None = None
    """Set by the API (and the proxy tracer) around `start_span`: what the root processor needs to know about the
    span it starts. Only the span with that very name object takes it, so a span started in between (from a logging
    handler the SDK calls, a signal handler, a processor's `on_start`) neither takes nor loses it; whoever sets it
    restores the previous value afterwards."""
    untouched: Span | None = None
    """The live span of logfire's API whose start scrub was skipped, until something other than logfire's own start
    hooks may have changed it: the root processor clears it before a child processor whose `on_start` might."""
    ending_clean: Any = None
    """Set by the API around `end()` of a log still `untouched` that was given nothing since, and that has no HTTP
    status code: if it is the pipeline's scrubber, which checked it at start, the root processor hands the span on
    without the end transforms (the scrubber would not look again, and the HTTP level has nothing to do)."""


Starting = tuple[str, 'Mapping[str, AttributeValue] | None', Any]
"""What logfire's API tells the root processor about a span it is starting (see `_SpanNotes.starting`), a plain
tuple because one is made per span: the name given to `start_span` (the span whose `name` is this very object is
the one meant); the attributes the API started it without, valid as they are, which the root processor adds before
anything else sees the span (see `span_storage`), or None; and the scrubber that found them clean, if one did, so
the span's start scrub is skipped."""


SPAN_NOTES: Final = _SpanNotes()


class SpanStarter(Protocol):
    """A tracer, or anything with its `start_span` (`proxy.UncheckedTracer`)."""

    def start_span(
        self,
        name: str,
        context: Context | None,
        kind: SpanKind,
        attributes: Any,
        links: Sequence[Link] | None,
        start_time: int | None,
        record_exception: bool,
        set_status_on_exception: bool,
        /,
    ) -> ApiSpan: ...


def start_noted(
    tracer: SpanStarter,
    name: str,
    context: Context | None,
    kind: SpanKind,
    attributes: Mapping[str, AttributeValue],
    links: Sequence[Link] | None,
    start_time: int | None,
    record_exception: bool,
    set_status_on_exception: bool,
    *,
    deferred: bool,
    checked_by: Any,
) -> Any:
    """`tracer.start_span(...)`, telling the root processor about the span (see `_SpanNotes.starting`).

    `deferred`: the span starts without `attributes`, which are valid as they are, and the root processor adds them.
    `checked_by`: the scrubber that found them clean, or None.
    """
    notes = SPAN_NOTES
    previous = notes.starting
    notes.starting = (name, attributes if deferred else None, checked_by)
    try:
        return tracer.start_span(
            name,
            context,
            kind,
            None if deferred else attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
        )
    finally:
        notes.starting = previous


def leaves_span_unchanged(on_start: _F) -> _F:
    """Mark a processor's `on_start` as never changing the span, so logfire's logs skip their end-of-span scrub.

    Only the marked function counts: a subclass that overrides `on_start` is not marked.
    """
    on_start._logfire_leaves_span_unchanged = True  # pyright: ignore[reportFunctionMemberAccess]
    return on_start


def reads_no_attributes(on_start: _F) -> _F:
    """Mark a processor's `on_start` as never reading the span's attributes (it may read its context).

    Only the marked function counts: a subclass that overrides `on_start` is not marked.
    """
    on_start._logfire_reads_no_attributes = True  # pyright: ignore[reportFunctionMemberAccess]
    return on_start


def _may_change_on_start(processor: SpanProcessor) -> bool:
    return _active_on_start(processor, '_logfire_leaves_span_unchanged')


def _reads_on_start(processor: SpanProcessor) -> bool:
    return _active_on_start(processor, '_logfire_reads_no_attributes')


def _active_on_start(processor: SpanProcessor, exempt_mark: str) -> bool:
    """Whether a processor's `on_start` does anything, unless its function carries `exempt_mark`.

    False for the base class's and the SDK's export processors' (which do nothing); True for one set on the instance.
    """
    if 'on_start' in vars(processor):
        return True
    on_start = type(processor).on_start
    if on_start is SpanProcessor.on_start or getattr(on_start, exempt_mark, False):
        return False
    # Looked up rather than imported: a processor of these classes means their module is loaded already.
    export = sys.modules.get('opentelemetry.sdk.trace.export')
    sdk_classes = () if export is None else (export.SimpleSpanProcessor, export.BatchSpanProcessor)
    return all(on_start is not cls.on_start for cls in sdk_classes)


def copy_span(
    span: ReadableSpan,
    *,
    name: str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    events: Sequence[Event] | None = None,
    links: Sequence[Link] | None = None,
    status: Status | None = None,
) -> ReadableSpan:
    """A finished span with its name, attributes, events, links or status replaced (None keeps the span's own)."""
    return ReadableSpan(
        name=name if name is not None else span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes if attributes is not None else span.attributes,
        events=events if events is not None else span.events,
        links=links if links is not None else span.links,
        kind=span.kind,
        status=status if status is not None else span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class RootSpanProcessor(SynchronousMultiSpanProcessor):
    """Runs the start hooks and end transforms, then every child processor, each error contained.

    It is the tracer provider's `active_span_processor` (hence the base class): the SDK calls it directly, with no
    multi-processor in between. `add_span_processor` adds a child.
    """

    def __init__(
        self,
        children: Sequence[SpanProcessor],
        start_hooks: Sequence[StartHook] = (),
        end_transforms: Sequence[EndTransform] = (),
        start_scrub: StartScrub | None = None,
        scrubber: object = None,
    ) -> None:
        super().__init__()
        self.children: tuple[SpanProcessor, ...] = ()
        self.start_scrub = start_scrub
        self.scrubber = scrubber  # whose `ending_clean` note lets a span skip the end transforms
        self.start_hooks = tuple(start_hooks)
        self.end_transforms = tuple(end_transforms)
        # (children, whether one may change a span at start, whether one reads spans at start): one tuple, so that
        # a span starting while another thread adds a child sees a consistent set.
        self._chain: tuple[tuple[SpanProcessor, ...], bool, bool] = ((), False, False)
        self.fast_spans = fast_spans_work()
        for child in children:
            self.add_span_processor(child)

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        """Add a child processor, after the existing ones."""
        with self._lock:
            children, may_change, read_start = self._chain
            children += (span_processor,)
            may_change = may_change or _may_change_on_start(span_processor)
            read_start = read_start or _reads_on_start(span_processor)
            self._chain = (children, may_change, read_start)
            self.children = children

    def add_hooks(self, start_hook: StartHook, end_transform: EndTransform) -> None:
        """Run `start_hook` after the other start hooks and `end_transform` after the other end transforms.

        From the next span on: a span that is starting or ending meanwhile runs the hooks it began with.
        """
        with self._lock:
            self.start_hooks += (start_hook,)
            self.end_transforms += (end_transform,)

    def _on_ending(self, span: Span) -> None:
        pass  # logfire's children get the span at `on_end`, after the transforms

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Prepare the span, then tell every child it started."""
        if type(span) is SDK_SPAN_CLASS and self.fast_spans:
            span.__class__ = FAST_SPAN_CLASS  # a faster `set_attribute`, see `span_storage`
        children, children_may_change, children_read_start = self._chain
        notes = SPAN_NOTES
        starting = notes.starting
        checked_by = None
        if starting is not None and starting[0] is span.name:
            notes.starting = None
            given = starting[1]
            if given is not None:
                try:
                    set_start_attributes(span, given)
                except Exception as exc:
                    report_internal_error('span attributes', exc)
            checked_by = starting[2]
        # A live view: each step sees what the ones before it changed. The span's own dict when it is of the fast
        # class (whose storage the probe checked), as `attributes_of` would find.
        attributes = span._attributes._dict if type(span) is FAST_SPAN_CLASS else attributes_of(span)  # pyright: ignore[reportPrivateUsage]
        scrub = self.start_scrub
        if scrub is not None:
            try:
                scrub(span, attributes, children_read_start, checked_by)
            except Exception as exc:
                report_internal_error('span start scrub', exc)
        for hook in self.start_hooks:
            try:
                hook(span, attributes)
            except Exception as exc:
                report_internal_error('span start hook', exc)
        if children_may_change:
            notes.untouched = None
        for child in children:
            try:
                child.on_start(span, parent_context)
            except Exception as exc:
                report_internal_error(f'{type(child).__name__}.on_start', exc)

    def on_end(self, span: ReadableSpan) -> None:
        """Transform the finished span, then hand it to every child."""
        notes = SPAN_NOTES
        clean = notes.ending_clean
        if clean is not None:
            notes.ending_clean = None  # meant for this span only
        if clean is None or clean is not self.scrubber:
            attributes = attributes_of(span)
            for transform in self.end_transforms:
                try:
                    transformed = transform(span, attributes)
                except Exception as exc:
                    report_internal_error('span end transform', exc)
                    if getattr(transform, '__self__', None) is self.scrubber:
                        return  # unscrubbed, so not handed on: a last resort, the scrubber fails closed itself
                    continue
                if transformed is not span:
                    span = transformed
                    attributes = attributes_of(span)
        for child in self.children:
            try:
                child.on_end(span)
            except Exception as exc:
                report_internal_error(f'{type(child).__name__}.on_end', exc)

    def shutdown(self) -> None:
        """Shut every child down."""
        for child in self.children:
            with handle_internal_errors(f'{type(child).__name__}.shutdown'):
                child.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush every child, all within `timeout_millis` in total; False if any child failed or raised."""
        deadline = time.monotonic() + timeout_millis / 1000
        ok = True
        for child in self.children:
            remaining = max(0, int((deadline - time.monotonic()) * 1000))
            flushed = False  # stays False if the child raises
            with handle_internal_errors(f'{type(child).__name__}.force_flush'):
                flushed = child.force_flush(remaining)
            ok = flushed and ok
        return ok
