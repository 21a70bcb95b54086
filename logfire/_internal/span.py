"""`LogfireSpan`: a context manager over an OpenTelemetry span, with logfire's attributes and levels."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.trace import Link, Status, StatusCode
from opentelemetry.util import types as otel_types

from .attributes import prepare_attributes, tag_values
from .constants import (
    ATTRIBUTES_JSON_SCHEMA_KEY,
    ATTRIBUTES_LOG_LEVEL_NUM_KEY,
    ATTRIBUTES_MESSAGE_KEY,
    ATTRIBUTES_MESSAGE_TEMPLATE_KEY,
    ATTRIBUTES_TAGS_KEY,
    ERROR_LEVEL,
    LEVEL_NUMBERS,
    LevelName,
)
from .errors import handle_internal_errors
from .exporters.processors import SPAN_NOTES, start_noted

if TYPE_CHECKING:
    from .scrubbing import Scrubber
    from .state import LogfireState

_INTERNAL = trace.SpanKind.INTERNAL


class LogfireSpan:
    """A span made by `logfire.span()`. The OpenTelemetry span starts when the `with` block is entered.

    An exception escaping the block is recorded (ERROR status, level error, an `exception` event) and
    propagates unchanged.
    """

    __slots__ = (
        '_attributes',
        '_checked_by',
        '_context',
        '_links',
        '_name',
        '_plain',
        '_span',
        '_state',
        '_token',
        '_tracer',
    )

    def __init__(
        self,
        name: str,
        attributes: dict[str, otel_types.AttributeValue],
        tracer: trace.Tracer,
        state: LogfireState,
        links: Sequence[Link] = (),
        *,
        checked_by: Scrubber | None = None,
        context: context_api.Context | None = None,
    ) -> None:
        self._name = name
        self._attributes = attributes
        self._tracer = tracer
        self._state = state
        self._links = links
        self._span: trace.Span | None = None
        self._token: object = None
        # The scrubber that found `attributes` clean, if one did; its start hook then skips them.
        self._checked_by = checked_by
        # Whether `attributes` are still only what logfire's API made valid (see `span_storage`).
        self._plain = True
        # None: the current context is the parent; an empty Context starts a new trace.
        self._context = context

    def __enter__(self) -> LogfireSpan:
        if self._span is None:
            generator = self._state.ns_timestamp_generator
            start_time = generator() if generator else None
            # Attributes set before the block (`set_attribute`, `tags`, `message`) may be anything: those go
            # through the SDK's validation.
            try:
                span = start_noted(
                    self._tracer,
                    self._name,
                    self._context,
                    _INTERNAL,
                    self._attributes,
                    self._links,
                    start_time,
                    False,
                    False,
                    deferred=self._state.defer_attributes and self._plain,
                    checked_by=self._checked_by,
                )
            finally:
                # The block's code can change the span, so its end scrub always runs: nothing more to note.
                SPAN_NOTES.untouched = None
            self._span = span
            self._token = context_api.attach(trace.set_span_in_context(span))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc_value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        span = self._span
        if span is None or self._token is None:
            return
        token, self._token = self._token, None
        context_api.detach(token)  # pyright: ignore[reportArgumentType]  # OTel logs (never raises) a bad detach
        if exc_value is not None and span.is_recording():
            with handle_internal_errors('span exception'):
                self._record_error(span, exc_value, escaped=True)
        if span.is_recording():  # else already ended, e.g. at exit while a generator was suspended in the block
            generator = self._state.ns_timestamp_generator
            span.end(generator() if generator else None)

    async def __aenter__(self) -> LogfireSpan:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc_value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc_value, traceback)

    def _record_error(self, span: trace.Span, exc: BaseException, *, escaped: bool) -> None:
        span.set_attribute(ATTRIBUTES_LOG_LEVEL_NUM_KEY, ERROR_LEVEL)
        span.set_status(Status(StatusCode.ERROR, f'{type(exc).__name__}: {exc}'))
        generator = self._state.ns_timestamp_generator
        span.record_exception(exc, escaped=escaped, timestamp=generator() if generator else None)
        self._state.call_exception_callback(exc)

    @property
    def name(self) -> str:
        """The span's name (by default its message template)."""
        return self._name

    @name.setter
    def name(self, name: str) -> None:
        self._name = name
        if self._span is not None:
            self._span.update_name(name)

    @property
    def context(self) -> trace.SpanContext | None:
        """The OpenTelemetry span context once the span has started (else None), e.g. to link other spans to it."""
        return None if self._span is None else self._span.get_span_context()

    def add_link(self, context: trace.SpanContext, attributes: otel_types.Attributes = None) -> None:
        """Link this span to another span, before or after it starts.

        Args:
            context: The other span's context, e.g. `other.context`.
            attributes: Attributes of the link.
        """
        if self._span is None:
            self._links = [*self._links, Link(context, attributes)]
        else:
            self._span.add_link(context, attributes)

    @property
    def message_template(self) -> str | None:
        """The message template (`logfire.msg_template`)."""
        value = self._get(ATTRIBUTES_MESSAGE_TEMPLATE_KEY, None)
        return None if value is None else str(value)

    @property
    def message(self) -> str:
        """The formatted message (`logfire.msg`)."""
        return str(self._get(ATTRIBUTES_MESSAGE_KEY, self._name))

    @message.setter
    def message(self, message: str) -> None:
        self._set(ATTRIBUTES_MESSAGE_KEY, message)

    @property
    def tags(self) -> tuple[str, ...]:
        """The span's tags (`logfire.tags`)."""
        value = self._get(ATTRIBUTES_TAGS_KEY, ())
        return tuple(str(tag) for tag in cast('Sequence[object]', value)) if isinstance(value, (list, tuple)) else ()

    @tags.setter
    def tags(self, tags: Sequence[str] | str) -> None:
        self._set(ATTRIBUTES_TAGS_KEY, tag_values(tags))

    def _get(self, key: str, default: Any) -> Any:
        return self._attributes.get(key, default)

    def _set(self, key: str, value: otel_types.AttributeValue) -> None:
        self._attributes[key] = value
        self._checked_by = None
        self._plain = False
        if self._span is not None:
            self._span.set_attribute(key, value)

    def set_attribute(self, key: str, value: Any) -> None:
        """Set one attribute; non-primitive values are stored as JSON with their type in `logfire.json_schema`."""
        self.set_attributes({key: value})

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        """Set several attributes at once, encoded as `set_attribute` does."""
        with handle_internal_errors('set_attributes'):
            if not all(type(key) is str for key in attributes):
                attributes = {str(key): value for key, value in attributes.items()}  # as `log()` does
            encoded, schema = prepare_attributes(attributes)
            for key, value in encoded.items():
                self._set(key, value)
            if schema is not None:
                self._set(
                    ATTRIBUTES_JSON_SCHEMA_KEY, _merge_schemas(self._get(ATTRIBUTES_JSON_SCHEMA_KEY, None), schema)
                )

    def record_exception(
        self,
        exception: BaseException,
        attributes: otel_types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """Record an exception as an `exception` event on this span (the span must have started)."""
        if self._span is None:
            return
        generator = self._state.ns_timestamp_generator
        if timestamp is None and generator is not None:
            timestamp = generator()
        self._span.record_exception(exception, attributes=attributes, timestamp=timestamp, escaped=escaped)

    def add_event(self, name: str, attributes: otel_types.Attributes = None, timestamp: int | None = None) -> None:
        """Add an event to this span, as OpenTelemetry's `Span.add_event` does (the span must have started)."""
        if self._span is None:
            return
        generator = self._state.ns_timestamp_generator
        if timestamp is None and generator is not None:
            timestamp = generator()
        self._span.add_event(name, attributes=attributes, timestamp=timestamp)

    def set_level(self, level: LevelName | int) -> None:
        """Set the span's level; error and above also set OTel's ERROR status."""
        number = level if isinstance(level, int) else LEVEL_NUMBERS.get(str(level).lower())
        if number is None:
            warnings.warn(
                f'Unknown level {level!r}; using error. Accepted: {", ".join(LEVEL_NUMBERS)}, or a number.',
                UserWarning,
                stacklevel=2,
            )
            number = ERROR_LEVEL
        self._set(ATTRIBUTES_LOG_LEVEL_NUM_KEY, number)
        if number >= ERROR_LEVEL and self._span is not None:
            self._span.set_status(Status(StatusCode.ERROR))

    def is_recording(self) -> bool:
        """Whether the span has started, has not ended and is being recorded (not sampled out)."""
        return self._span is not None and self._span.is_recording()

    def end(self, end_time: int | None = None) -> None:
        """End the span without leaving a `with` block (for spans started with `__enter__`)."""
        if self._span is not None:
            if self._token is not None:
                token, self._token = self._token, None
                context_api.detach(token)  # pyright: ignore[reportArgumentType]
            if self._span.is_recording():
                self._span.end(end_time)

    def get_span_context(self) -> trace.SpanContext | None:
        """The OpenTelemetry span context, once the span has started."""
        return None if self._span is None else self._span.get_span_context()


def _merge_schemas(existing: Any, new: str) -> str:
    if not isinstance(existing, str):
        return new
    try:
        old_schema = json.loads(existing)
        new_schema = json.loads(new)
        old_schema.setdefault('properties', {}).update(new_schema.get('properties', {}))
        return json.dumps(old_schema, separators=(',', ':'))
    except (ValueError, AttributeError):
        return new
