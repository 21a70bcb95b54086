"""`Logfire`: spans, logs, levels and tags over the shared state; metrics and `instrument*` come from mixins."""

from __future__ import annotations

import sys
from collections.abc import Generator, Sequence
from contextlib import contextmanager
from time import time_ns
from typing import TYPE_CHECKING, Any

from opentelemetry import context as context_api
from opentelemetry.trace import Link, NoOpTracer, SpanKind, Status, StatusCode

from ..version import VERSION
from .attributes import prepare_attributes, tag_values
from .constants import (
    ATTRIBUTES_DISABLE_CONSOLE_KEY,
    ATTRIBUTES_JSON_SCHEMA_KEY,
    ATTRIBUTES_LOG_LEVEL_NUM_KEY,
    ATTRIBUTES_MESSAGE_KEY,
    ATTRIBUTES_MESSAGE_TEMPLATE_KEY,
    ATTRIBUTES_SPAN_TYPE_KEY,
    ATTRIBUTES_TAGS_KEY,
    CODE_FILEPATH,
    CODE_FUNCTION,
    CODE_LINENO,
    ERROR_LEVEL,
    LEVEL_NUMBERS,
    LevelName,
)
from .errors import report_internal_error
from .exporters.processors import SPAN_NOTES, start_noted
from .formatting import format_message, inspect_fstring
from .http_spans import HTTP_STATUS_CODE
from .instrument_db_methods import DatabaseInstrumentMethods
from .instrument_methods import InstrumentMethods
from .levels import level_number_or_warn
from .metric_methods import MetricMethods
from .proxy import SUPPRESS_INSTRUMENTATION_KEY
from .span import LogfireSpan
from .stack_info import get_frame, user_code_location
from .state import GLOBAL_STATE, LogfireState

if TYPE_CHECKING:
    from types import FrameType

    from opentelemetry.context import Context
    from opentelemetry.util.types import AttributeValue

    from .scrubbing import Scrubber


class Logfire(InstrumentMethods, DatabaseInstrumentMethods, MetricMethods):
    """The logfire API: spans, logs, metrics and integrations, over one shared configuration.

    Instances are cheap views: `with_tags()` and `with_settings()` return new ones that share the
    configuration. The module-level functions (`logfire.info`, ...) are methods of
    `DEFAULT_LOGFIRE_INSTANCE`.
    """

    def __init__(
        self,
        state: LogfireState | None = None,
        *,
        tags: Sequence[str] = (),
        console_log: bool = True,
    ) -> None:
        self._state = state if state is not None else GLOBAL_STATE
        self._tags = tuple(tags)
        self._console_log = console_log
        self._tracer = self._state.tracer_provider.get_tracer('logfire', VERSION)
        self._tracer_unchecked = self._tracer.unchecked()  # for the logging bridges, which checked already
        self._meter = self._state.meter_provider.get_meter('logfire', VERSION)

    @property
    def config(self) -> LogfireState:
        """The shared state: proxy providers (`tracer_provider`, `meter_provider`, `logger_provider`), the config."""
        return self._state

    # ---- views -------------------------------------------------------------------------------------

    def with_tags(self, *tags: str) -> Logfire:
        """Return a view of this instance that adds `tags` to every span and log.

        Example:
            ```python
            import logfire

            billing = logfire.with_tags('billing')
            billing.info('invoice sent')
            ```
        """
        return Logfire(self._state, tags=self._tags + tags, console_log=self._console_log)

    def with_settings(self, *, tags: Sequence[str] = (), console_log: bool | None = None) -> Logfire:
        """Return a view with extra tags and/or console printing turned on or off.

        Args:
            tags: Tags added to every span and log made through the view.
            console_log: `False` keeps this view's spans and logs off the console (they are still exported).
        """
        return Logfire(
            self._state,
            tags=self._tags + tuple(tags),
            console_log=self._console_log if console_log is None else console_log,
        )

    # ---- the core ----------------------------------------------------------------------------------

    def _base_attributes(
        self,
        msg_template: str,
        attributes: dict[str, Any],
        tags: Sequence[str] | None,
        frame: FrameType,
        location: tuple[str, int, str] | None = None,
        message: str | None = None,
        prepared: tuple[dict[str, AttributeValue], str | None] | None = None,
    ) -> tuple[str, dict[str, AttributeValue], Scrubber | None]:
        """Format the message and encode attributes.

        `location` and `message`, when given (by the logging bridges), replace the code location found from `frame`
        and the message formatted from the template, and `prepared` what `prepare_attributes(attributes)` would
        return (a dict of the caller's own, which this fills).

        Returns:
            The (possibly inspected) template, the attributes, and the pipeline's scrubber when it has nothing
            to change in them (else None), so its start hook need not look again.
        """
        state = self._state
        if message is None:
            if state.inspect_arguments:
                inspected = inspect_fstring(frame, msg_template)
                if inspected is not None:
                    msg_template, extracted = inspected
                    attributes = {**extracted, **attributes}
            scrubber = state.scrubber
            message = format_message(
                msg_template, scrubber.message_values(msg_template, attributes) if scrubber else attributes
            )
        if prepared is not None:
            otel_attributes, schema = prepared
        elif attributes:
            otel_attributes, schema = prepare_attributes(attributes)
        else:
            otel_attributes, schema = {}, None
        # Only the user's keys can need scrubbing: the `code.*` and `logfire.*` keys added below never do.
        checked_by = state.span_scrubber
        if checked_by is not None and otel_attributes and checked_by.may_change(otel_attributes):
            checked_by = None
        # Assigned one by one, in this order, rather than merged from a dict: a span's attribute order is visible.
        otel_attributes[CODE_FILEPATH], otel_attributes[CODE_LINENO], otel_attributes[CODE_FUNCTION] = (
            location or user_code_location(frame)
        )
        otel_attributes[ATTRIBUTES_MESSAGE_TEMPLATE_KEY] = msg_template
        otel_attributes[ATTRIBUTES_MESSAGE_KEY] = message
        if schema is not None:
            otel_attributes[ATTRIBUTES_JSON_SCHEMA_KEY] = schema
        all_tags = self._tags + tuple(tags) if tags else self._tags
        if all_tags:
            otel_attributes[ATTRIBUTES_TAGS_KEY] = tag_values(all_tags)
        if not self._console_log:
            otel_attributes[ATTRIBUTES_DISABLE_CONSOLE_KEY] = True
        return msg_template, otel_attributes, checked_by

    def _span(
        self,
        msg_template: str,
        attributes: dict[str, Any],
        tags: Sequence[str] | None,
        span_name: str | None,
        level: LevelName | int | None,
        links: Sequence[tuple[Any, Any]] | Sequence[Link],
        frame: FrameType,
    ) -> LogfireSpan:
        if attributes:
            _check_attribute_names(attributes)
        try:
            level_num = level_number_or_warn(level) if level is not None else None
            if level_num is not None and level_num < self._state.min_level:
                return _noop_span(self._state)
            template, otel_attributes, checked_by = self._base_attributes(msg_template, attributes, tags, frame)
            otel_attributes[ATTRIBUTES_SPAN_TYPE_KEY] = 'span'
            if level_num is not None:
                otel_attributes[ATTRIBUTES_LOG_LEVEL_NUM_KEY] = level_num
            return LogfireSpan(
                span_name or template,
                otel_attributes,
                self._tracer,
                self._state,
                _links(links) if links else (),
                checked_by=checked_by,
            )
        except Exception as exc:
            report_internal_error('span', exc)
            return _noop_span(self._state)

    def span(
        self,
        msg_template: str,
        /,
        *,
        _tags: Sequence[str] | None = None,
        _span_name: str | None = None,
        _level: LevelName | int | None = None,
        _links: Sequence[tuple[Any, Any]] | Sequence[Link] = (),
        **attributes: Any,
    ) -> LogfireSpan:
        """Return a span to use as a context manager; it starts when the `with` block is entered.

        Args:
            msg_template: The message, a `str.format` template filled from `attributes`; also the span name.
            _tags: Tags for this span, added to the instance's.
            _span_name: A span name other than the template (keep it low-cardinality).
            _level: The span's level (a name or number).
            _links: Links to other spans, as OTel `Link`s or `(span_context, attributes)` pairs.
            **attributes: Attribute values; names must not start with `_`.

        Returns:
            A `LogfireSpan`, usable with `with` and `async with`.

        Raises:
            ValueError: An attribute name starts with `_` (reserved for options).

        Example:
            ```python
            import logfire

            with logfire.span('processing {order_id}', order_id=42) as span:
                span.set_attribute('items', 3)
            ```
        """
        return self._span(msg_template, attributes, _tags, _span_name, _level, _links, get_frame(1))

    def log(
        self,
        level: LevelName | int,
        msg_template: str,
        attributes: dict[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        exc_info: bool | BaseException | None = False,
        console_log: bool | None = None,
    ) -> None:
        """Record a log at `level`: a zero-duration span with `logfire.span_type='log'`.

        Args:
            level: A level name or number; an unknown name warns and logs at error level.
            msg_template: The message, a `str.format` template filled from `attributes`.
            attributes: Attribute values. Any name is recorded as given, `_foo` included: unlike the keyword
                arguments of `info()` and the other level methods, a dict leaves no room for a misspelled option.
            tags: Tags for this log, added to the instance's.
            exc_info: `True` records the exception being handled; an exception instance records that one.
            console_log: `False` keeps this log off the console (it is still exported).
        """
        if attributes and not all(isinstance(key, str) for key in attributes):  # pyright: ignore[reportUnnecessaryIsInstance]
            attributes = {str(key): value for key, value in attributes.items()}
        target = self if console_log is None else self.with_settings(console_log=console_log)
        target._log(level, msg_template, attributes or {}, tags, exc_info, get_frame(1), check_names=False)

    def _log(
        self,
        level: LevelName | int,
        msg_template: str,
        attributes: dict[str, Any],
        tags: Sequence[str] | None,
        exc_info: bool | BaseException | None,
        frame: FrameType,
        location: tuple[str, int, str] | None = None,
        message: str | None = None,
        timestamp: int | None = None,
        check_names: bool = True,
        prepared: tuple[dict[str, AttributeValue], str | None] | None = None,
        context: Context | None = None,
    ) -> None:
        """Record a log: what `log()` and the level methods do, and the logging bridges with their extra arguments.

        The bridges give the code `location`, the formatted `message`, the record's `timestamp`, the `prepared`
        attributes (see `_base_attributes`) and the current `context` they found instrumentation not suppressed in
        (the span's parent is then looked up there, not in the current context again).
        """
        if attributes and check_names:
            _check_attribute_names(attributes)
        try:
            if type(level) is int:
                level_num = level
            else:
                level_num = LEVEL_NUMBERS.get(level) if isinstance(level, str) else None
                if level_num is None:
                    level_num = level_number_or_warn(level)
            state = self._state
            if level_num < state.min_level:
                return
            template, otel_attributes, checked_by = self._base_attributes(
                msg_template, attributes, tags, frame, location, message, prepared
            )
            otel_attributes[ATTRIBUTES_SPAN_TYPE_KEY] = 'log'
            otel_attributes[ATTRIBUTES_LOG_LEVEL_NUM_KEY] = level_num
            if timestamp is None:
                generator = state.ns_timestamp_generator
                timestamp = generator() if generator else time_ns()  # one instant: a log has zero duration
            notes = SPAN_NOTES
            span = start_noted(
                self._tracer if context is None else self._tracer_unchecked,
                template,
                context,
                _INTERNAL,
                otel_attributes,
                None,
                timestamp,
                True,
                True,
                deferred=state.defer_attributes,
                checked_by=checked_by,
            )
            # Between its start and its end nothing but this method holds the span, so its attributes are still those
            # the scrubber checked unless a child processor's `on_start` could have changed them. A log with an HTTP
            # status code is not noted: the level transform has to see it.
            clean = checked_by is not None and notes.untouched is span and not _has_status_code(otel_attributes)
            notes.untouched = None
            if exc_info:
                exception = exc_info if isinstance(exc_info, BaseException) else _current_exception()
                if exception is not None:
                    span.record_exception(exception, timestamp=timestamp)
                    state.call_exception_callback(exception)
                    clean = False  # an event the end scrub has to see
            if level_num >= ERROR_LEVEL:
                span.set_status(Status(StatusCode.ERROR))
            if clean:
                notes.ending_clean = checked_by
                try:
                    span.end(timestamp)
                finally:
                    notes.ending_clean = None
            else:
                span.end(timestamp)
        except Exception as exc:
            report_internal_error('log', exc)

    def trace(
        self, msg_template: str, /, *, _tags: Sequence[str] | None = None, _exc_info: bool = False, **attributes: Any
    ) -> None:
        """Log at trace level (1). See `info()` for the arguments."""
        self._log(_TRACE, msg_template, attributes, _tags, _exc_info, get_frame(1))

    def debug(
        self, msg_template: str, /, *, _tags: Sequence[str] | None = None, _exc_info: bool = False, **attributes: Any
    ) -> None:
        """Log at debug level (5). See `info()` for the arguments."""
        self._log(_DEBUG, msg_template, attributes, _tags, _exc_info, get_frame(1))

    def info(
        self, msg_template: str, /, *, _tags: Sequence[str] | None = None, _exc_info: bool = False, **attributes: Any
    ) -> None:
        """Log at info level (9).

        Args:
            msg_template: The message, a `str.format` template filled from `attributes`.
            _tags: Tags for this log, added to the instance's.
            _exc_info: Record the exception being handled as an `exception` event.
            **attributes: Attribute values; names must not start with `_`.

        Raises:
            ValueError: An attribute name starts with `_` (reserved for options).

        Example:
            ```python
            import logfire

            logfire.info('hello {name}', name='world')
            ```
        """
        self._log(_INFO, msg_template, attributes, _tags, _exc_info, get_frame(1))

    def notice(
        self, msg_template: str, /, *, _tags: Sequence[str] | None = None, _exc_info: bool = False, **attributes: Any
    ) -> None:
        """Log at notice level (10). See `info()` for the arguments."""
        self._log(_NOTICE, msg_template, attributes, _tags, _exc_info, get_frame(1))

    def warn(
        self, msg_template: str, /, *, _tags: Sequence[str] | None = None, _exc_info: bool = False, **attributes: Any
    ) -> None:
        """Log at warn level (13). See `info()` for the arguments."""
        self._log(_WARN, msg_template, attributes, _tags, _exc_info, get_frame(1))

    def warning(
        self, msg_template: str, /, *, _tags: Sequence[str] | None = None, _exc_info: bool = False, **attributes: Any
    ) -> None:
        """Log at warn level (13); an alias of `warn()`."""
        self._log(_WARN, msg_template, attributes, _tags, _exc_info, get_frame(1))

    def error(
        self, msg_template: str, /, *, _tags: Sequence[str] | None = None, _exc_info: bool = False, **attributes: Any
    ) -> None:
        """Log at error level (17), with OTel status ERROR. See `info()` for the arguments."""
        self._log(_ERROR, msg_template, attributes, _tags, _exc_info, get_frame(1))

    def fatal(
        self, msg_template: str, /, *, _tags: Sequence[str] | None = None, _exc_info: bool = False, **attributes: Any
    ) -> None:
        """Log at fatal level (21), with OTel status ERROR. See `info()` for the arguments."""
        self._log(_FATAL, msg_template, attributes, _tags, _exc_info, get_frame(1))

    def exception(
        self, msg_template: str, /, *, _tags: Sequence[str] | None = None, _exc_info: bool = True, **attributes: Any
    ) -> None:
        """Log at error level with the exception being handled recorded. Call it in an `except` block."""
        self._log(_ERROR, msg_template, attributes, _tags, _exc_info, get_frame(1))

    @contextmanager
    def suppress_instrumentation(self) -> Generator[None, None, None]:
        """Within the block, no spans, logs or instrumentation spans are created.

        Example:
            ```python
            import logfire

            with logfire.suppress_instrumentation():
                logfire.info('not recorded')
            ```
        """
        token = context_api.attach(context_api.set_value(SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            yield
        finally:
            context_api.detach(token)

    # ---- lifecycle ---------------------------------------------------------------------------------

    def force_flush(self, timeout_millis: int = 3000) -> bool:
        """Export everything pending, waiting at most `timeout_millis`; True when all of it was exported."""
        return self._state.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: int = 3000, flush: bool = True) -> bool:
        """Flush (unless `flush=False`) and shut the pipeline down within `timeout_millis`."""
        return self._state.shutdown(timeout_millis, flush=flush)


def _check_attribute_names(attributes: dict[Any, Any]) -> None:
    for key in attributes:
        if isinstance(key, str) and key[:1] == '_':
            raise ValueError(
                f'Attribute names starting with an underscore are reserved for options, got {key!r}. '
                'Rename the attribute.'
            )


def _links(links: Sequence[tuple[Any, Any]] | Sequence[Link]) -> Sequence[Link]:
    return [link if isinstance(link, Link) else Link(link[0], link[1]) for link in links]


def _has_status_code(attributes: dict[str, AttributeValue]) -> bool:
    return HTTP_STATUS_CODE[0] in attributes or HTTP_STATUS_CODE[1] in attributes


def _current_exception() -> BaseException | None:
    return sys.exc_info()[1]


def _noop_span(state: LogfireState) -> LogfireSpan:
    """A span that records nothing (below `min_level`, or after an internal error)."""
    return LogfireSpan('', {}, _NOOP_TRACER, state)


_NOOP_TRACER = NoOpTracer()
# The level methods pass numbers, which `_log` takes without a lookup.
_TRACE = LEVEL_NUMBERS['trace']
_DEBUG = LEVEL_NUMBERS['debug']
_INFO = LEVEL_NUMBERS['info']
_NOTICE = LEVEL_NUMBERS['notice']
_WARN = LEVEL_NUMBERS['warn']
_ERROR = LEVEL_NUMBERS['error']
_FATAL = LEVEL_NUMBERS['fatal']
_INTERNAL = SpanKind.INTERNAL
