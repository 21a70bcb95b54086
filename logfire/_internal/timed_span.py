"""Spans of plain OpenTelemetry tracers timed by `AdvancedOptions(ns_timestamp_generator=...)`, as logfire's own are."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanContext, Status, StatusCode
from opentelemetry.util.types import AnyValue, Attributes


class TimedSpan(trace.Span):
    """A span that takes the times its caller leaves out (end, events, exceptions) from a clock.

    Only made when a clock is configured (tests, mostly): otherwise the SDK's span is handed out as it is.
    Anything else (the SDK span's `name`, `attributes`, ...) is read from the span it wraps.
    """

    __slots__ = ('_clock', '_record_exception', '_set_status_on_exception', '_span')

    def __init__(
        self, span: trace.Span, clock: Callable[[], int], record_exception: bool, set_status_on_exception: bool
    ) -> None:
        self._span = span
        self._clock = clock
        self._record_exception = record_exception
        self._set_status_on_exception = set_status_on_exception

    def __getattr__(self, name: str) -> Any:
        return getattr(self._span, name)

    def end(self, end_time: int | None = None) -> None:
        """End the span, at the clock's time unless `end_time` is given."""
        self._span.end(self._clock() if end_time is None else end_time)

    def get_span_context(self) -> SpanContext:
        """The wrapped span's context."""
        return self._span.get_span_context()

    def set_attributes(self, attributes: Mapping[str, AnyValue]) -> None:
        """Set attributes on the wrapped span."""
        self._span.set_attributes(attributes)

    def set_attribute(self, key: str, value: AnyValue) -> None:
        """Set one attribute on the wrapped span."""
        self._span.set_attribute(key, value)

    def add_event(self, name: str, attributes: Attributes = None, timestamp: int | None = None) -> None:
        """Add an event, at the clock's time unless `timestamp` is given."""
        self._span.add_event(name, attributes, self._clock() if timestamp is None else timestamp)

    def add_link(self, context: SpanContext, attributes: Attributes = None) -> None:
        """Add a link to the wrapped span."""
        self._span.add_link(context, attributes)

    def update_name(self, name: str) -> None:
        """Rename the wrapped span."""
        self._span.update_name(name)

    def is_recording(self) -> bool:
        """Whether the wrapped span records."""
        return self._span.is_recording()

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        """Set the wrapped span's status."""
        self._span.set_status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """Record an exception event, at the clock's time unless `timestamp` is given."""
        self._span.record_exception(exception, attributes, self._clock() if timestamp is None else timestamp, escaped)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc_val: BaseException | None, exc_tb: TracebackType | None
    ) -> None:
        if exc_val is not None and self.is_recording():
            # What the SDK span's own __exit__ does, with the clock's times.
            if self._record_exception:
                self.record_exception(exc_val, escaped=True)
            if self._set_status_on_exception:
                self.set_status(Status(StatusCode.ERROR, f'{type(exc_val).__name__}: {exc_val}'))
        self.end()

    def __repr__(self) -> str:
        return f'TimedSpan({self._span!r})'
