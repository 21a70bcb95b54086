"""The root span processor: the one processor the SDK calls, which fans out to logfire's chain.

Order: span enrichment and scrubbing first (so nothing downstream sees raw secrets), then the user's
`additional_span_processors`, the console, and the batch processors of the exporters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import Link
from opentelemetry.util.types import AttributeValue

from ..errors import handle_internal_errors, report_internal_error

StartHook = Callable[[Span], None]
"""Mutates a just-started span (through its public setters) before any child processor sees it."""
EndTransform = Callable[[ReadableSpan], ReadableSpan]
"""Returns the span to hand on at end: the same object, or a new `ReadableSpan` with changed attributes."""


def copy_span(
    span: ReadableSpan,
    *,
    attributes: Mapping[str, AttributeValue] | None = None,
    events: Sequence[Event] | None = None,
    links: Sequence[Link] | None = None,
) -> ReadableSpan:
    """A finished span with some of its attributes, events or links replaced (None keeps the span's own)."""
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes if attributes is not None else span.attributes,
        events=events if events is not None else span.events,
        links=links if links is not None else span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class RootSpanProcessor(SpanProcessor):
    """Runs the start hooks and end transforms, then every child processor, each error contained."""

    def __init__(
        self,
        children: Sequence[SpanProcessor],
        start_hooks: Sequence[StartHook] = (),
        end_transforms: Sequence[EndTransform] = (),
    ) -> None:
        self.children = tuple(children)
        self.start_hooks = tuple(start_hooks)
        self.end_transforms = tuple(end_transforms)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Prepare the span, then tell every child it started."""
        for hook in self.start_hooks:
            try:
                hook(span)
            except Exception as exc:
                report_internal_error('span start hook', exc)
        for child in self.children:
            try:
                child.on_start(span, parent_context)
            except Exception as exc:
                report_internal_error(f'{type(child).__name__}.on_start', exc)

    def on_end(self, span: ReadableSpan) -> None:
        """Transform the finished span, then hand it to every child."""
        for transform in self.end_transforms:
            try:
                span = transform(span)
            except Exception as exc:
                report_internal_error('span end transform', exc)
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
        """Flush every child, all within `timeout_millis` in total."""
        deadline = time.monotonic() + timeout_millis / 1000
        ok = True
        for child in self.children:
            remaining = max(0, int((deadline - time.monotonic()) * 1000))
            with handle_internal_errors(f'{type(child).__name__}.force_flush'):
                ok = child.force_flush(remaining) and ok
        return ok
