"""Print spans and logs to a terminal the moment they start or are made."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO, cast

from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode
from rich.color import ColorSystem
from rich.console import Console
from rich.pretty import pretty_repr
from rich.style import Style

from ..constants import (
    ATTRIBUTES_DISABLE_CONSOLE_KEY,
    ATTRIBUTES_JSON_SCHEMA_KEY,
    ATTRIBUTES_LOG_LEVEL_NUM_KEY,
    ATTRIBUTES_MESSAGE_KEY,
    ATTRIBUTES_NULL_ARGS_KEY,
    ATTRIBUTES_SPAN_TYPE_KEY,
    ATTRIBUTES_TAGS_KEY,
    CODE_FILEPATH,
    CODE_LINENO,
    ERROR_LEVEL,
    INFO_LEVEL,
    LEVEL_NUMBERS,
    NUMBER_TO_LEVEL,
    WARN_LEVEL,
)
from ..errors import handle_internal_errors
from .lifecycle import at_fork_in_child
from .processors import leaves_span_unchanged

if TYPE_CHECKING:
    from opentelemetry.context import Context

    from ..options import ConsoleOptions

__all__ = ['ConsoleSpanProcessor']

_TIMESTAMP_WIDTH = len('00:00:00.000 ')
_STATUS_CODE_KEYS = ('http.response.status_code', 'http.status_code')
_INTERNAL_PREFIXES = ('logfire.', 'code.')
_PRETTY_WIDTH = 100

_TIME = Style(color='green')
_TAGS = Style(color='cyan')
_LOCATION = Style(color='blue')
_WARN = Style(color='yellow')
_ERROR = Style(color='red')
_EXCEPTION = Style(color='red', bold=True)
_DIM = Style(dim=True)

# C0 controls but tab and newline, DEL, and C1 controls (`\x9b` is a one-byte CSI to many terminals): from data,
# any of them could clear the screen, retitle the terminal, or fake a log line (`\r`).
_CONTROL = re.compile('[\x00-\x08\x0b-\x1f\x7f-\x9f]')

_Pieces = list[tuple[str, 'Style | None']]
"""The text of one print, as (text, style) pieces."""


class _Line:
    """A printed span line, which later lines may need to reprint as their context."""

    __slots__ = ('span_id', 'parent', 'depth', 'message', 'tags')

    def __init__(self, span_id: int, parent: _Line | None, message: str, tags: str) -> None:
        self.span_id = span_id
        self.parent = parent
        self.depth = 0 if parent is None else parent.depth + 1
        self.message = message
        self.tags = tags


class ConsoleSpanProcessor(SpanProcessor):
    """Print a line when a span starts and when a log is made, indented to show nesting.

    OpenTelemetry log records are printed through `log_record_made`, nested the same way.

    Args:
        options: What to print and where.
    """

    def __init__(self, options: ConsoleOptions) -> None:
        self._options = options
        self._min_level = LEVEL_NUMBERS[options.min_log_level]
        self._indent = '' if options.span_style == 'simple' else '  '
        self._show_parents = options.span_style == 'show-parents'
        self._blank_timestamp = ' ' * _TIMESTAMP_WIDTH if options.include_timestamps else ''
        # Reentrant: a signal handler that logs can interrupt this thread mid-print. Rebuilt after fork, since
        # another thread may have held it at that moment.
        self._lock = threading.RLock()
        at_fork_in_child(self, _reset_lock_after_fork)
        # Open spans: span id -> the line their children nest under (their own, or an ancestor's when not printed).
        self._open: dict[int, _Line | None] = {}
        self._last_context: _Line | None = None
        self._stream: TextIO | None = None
        self._color_system: ColorSystem | None = None
        self._encoding: str | None = None

    @leaves_span_unchanged
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Print the line of a span that has just started."""
        with handle_internal_errors('console'), self._lock:
            attributes = span.attributes or {}
            if attributes.get(ATTRIBUTES_SPAN_TYPE_KEY) != 'log':
                self._span_started(span, attributes)

    def on_end(self, span: ReadableSpan) -> None:
        """Print a log, or the end of a span when asked to."""
        with handle_internal_errors('console'), self._lock:
            attributes = span.attributes or {}
            if attributes.get(ATTRIBUTES_SPAN_TYPE_KEY) == 'log':
                self._log_made(span, attributes)
            else:
                self._span_ended(span, attributes)

    def _span_started(self, span: Span, attributes: Mapping[str, Any]) -> None:
        context = self._parent_line(span)
        span_id = _span_id(span)
        level = _level(attributes)
        if level < self._min_level or attributes.get(ATTRIBUTES_DISABLE_CONSOLE_KEY):
            # Not printed: its children nest under its closest printed ancestor.
            self._open[span_id] = context
            return
        line = self._open[span_id] = _Line(span_id, context, _message(span, attributes), self._tags(attributes))
        pieces: _Pieces = []
        self._add_context(pieces, context)
        self._add_line(pieces, span.start_time, line, level)
        if self._options.verbose:
            self._add_details(pieces, attributes, level, line.depth)
        self._print(pieces)
        self._last_context = line

    def _log_made(self, span: ReadableSpan, attributes: Mapping[str, Any]) -> None:
        level = _level(attributes)
        if level < self._min_level or attributes.get(ATTRIBUTES_DISABLE_CONSOLE_KEY):
            return
        context = self._parent_line(span)
        line = _Line(_span_id(span), context, _message(span, attributes), self._tags(attributes))
        pieces: _Pieces = []
        self._add_context(pieces, context)
        self._add_line(pieces, span.start_time, line, level)
        if self._options.verbose:
            self._add_details(pieces, attributes, level, line.depth)
        self._add_exceptions(pieces, _exception_events(span), line.depth)
        self._print(pieces)
        self._last_context = context

    def log_record_made(
        self, *, span_id: int, timestamp: int | None, message: str, level: int, attributes: Mapping[str, Any]
    ) -> None:
        """Print an OpenTelemetry log record, nested under the span `span_id` (current when it was made)."""
        with handle_internal_errors('console'), self._lock:
            if level < self._min_level or attributes.get(ATTRIBUTES_DISABLE_CONSOLE_KEY):
                return
            context = self._open.get(span_id) if span_id else None
            line = _Line(0, context, message, self._tags(attributes))
            pieces: _Pieces = []
            self._add_context(pieces, context)
            self._add_line(pieces, timestamp or time.time_ns(), line, level)
            exception = {k: v for k, v in attributes.items() if k.startswith('exception.')}
            if self._options.verbose:
                details = {k: v for k, v in attributes.items() if k not in exception}
                self._add_details(pieces, details, level, line.depth)
            if 'exception.type' in exception or 'exception.message' in exception:
                self._add_exceptions(pieces, [Event('exception', exception)], line.depth)
            self._print(pieces)
            self._last_context = context

    def _span_ended(self, span: ReadableSpan, attributes: Mapping[str, Any]) -> None:
        span_id = _span_id(span)
        line = self._open.pop(span_id, None)
        if line is None or line.span_id != span_id:
            return  # its start was not printed, so neither is its end
        level = _level(attributes)
        exceptions = _exception_events(span) if level >= max(ERROR_LEVEL, self._min_level) else []
        if not (self._options.show_span_end or exceptions):
            return
        failed = level >= ERROR_LEVEL or span.status.status_code is StatusCode.ERROR
        duration = _format_duration((span.end_time or 0) - (span.start_time or 0))
        summary = f'└ {line.message} failed after {duration}' if failed else f'└ {line.message} done in {duration}'
        status = next((attributes[key] for key in _STATUS_CODE_KEYS if key in attributes), None)
        if status is not None:
            summary += f' (status {status})'
        pieces: _Pieces = []
        self._add_context(pieces, line.parent)
        self._add_timestamp(pieces, span.end_time)
        pieces.append((self._indent * line.depth, None))
        pieces.append((summary, _ERROR if failed else _DIM))
        self._add_exceptions(pieces, exceptions, line.depth)
        self._print(pieces)
        self._last_context = line.parent

    def _parent_line(self, span: ReadableSpan) -> _Line | None:
        parent = span.parent
        return None if parent is None else self._open.get(parent.span_id)

    def _tags(self, attributes: Mapping[str, Any]) -> str:
        tags = attributes.get(ATTRIBUTES_TAGS_KEY)
        if not tags or not self._options.include_tags or not isinstance(tags, (tuple, list)):
            return ''
        return f' [{",".join(str(tag) for tag in cast("tuple[Any, ...]", tags))}]'

    def _add_context(self, pieces: _Pieces, context: _Line | None) -> None:
        """Reprint, dimmed, the parents of the next line that the previously printed line did not share."""
        if not self._show_parents:
            return
        missing: list[_Line] = []
        wanted, last = context, self._last_context
        while wanted is not None and (last is None or wanted.depth > last.depth):
            missing.append(wanted)
            wanted = wanted.parent
        while last is not None and (wanted is None or last.depth > wanted.depth):
            last = last.parent
        while wanted is not last:  # both at the same depth: walk up to the shared ancestor
            assert wanted is not None and last is not None
            missing.append(wanted)
            wanted, last = wanted.parent, last.parent
        for line in reversed(missing):
            pieces.append((self._blank_timestamp + self._indent * line.depth, None))
            pieces.append((line.message + line.tags, _DIM))
            pieces.append(('\n', None))

    def _add_timestamp(self, pieces: _Pieces, ns: int | None) -> None:
        if self._options.include_timestamps:
            seconds, remainder = divmod(ns or 0, 1_000_000_000)
            clock = time.strftime('%H:%M:%S', time.localtime(seconds))
            pieces.append((f'{clock}.{remainder // 1_000_000:03d} ', _TIME))

    def _add_line(self, pieces: _Pieces, start_time: int | None, line: _Line, level: int) -> None:
        self._add_timestamp(pieces, start_time)
        indent = self._indent * line.depth
        pieces.append((indent, None))
        message = line.message
        if '\n' in message:
            message = message.replace('\n', '\n' + self._blank_timestamp + indent)
        pieces.append((message, _ERROR if level >= ERROR_LEVEL else _WARN if level >= WARN_LEVEL else None))
        if line.tags:
            pieces.append((line.tags, _TAGS))

    def _add_gutter(self, pieces: _Pieces, depth: int, style: Style) -> None:
        pieces.append(('\n' + self._blank_timestamp + self._indent * depth, None))
        pieces.append(('│ ', style))

    def _add_details(self, pieces: _Pieces, attributes: Mapping[str, Any], level: int, depth: int) -> None:
        filepath, lineno = attributes.get(CODE_FILEPATH), attributes.get(CODE_LINENO)
        self._add_gutter(pieces, depth, _DIM)
        if filepath:
            pieces.append((f'{filepath}:{lineno} ' if lineno else f'{filepath} ', _LOCATION))
        pieces.append((_level_name(level), None))
        json_keys = _json_encoded_keys(attributes)
        null_keys = attributes.get(ATTRIBUTES_NULL_ARGS_KEY) or ()
        user_attributes = [(key, value) for key, value in attributes.items() if not key.startswith(_INTERNAL_PREFIXES)]
        user_attributes += [(str(key), None) for key in cast('tuple[Any, ...]', null_keys)]
        for key, value in user_attributes:
            if key in json_keys and isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            for index, part in enumerate(pretty_repr(value, max_width=_PRETTY_WIDTH).split('\n')):
                self._add_gutter(pieces, depth, _DIM)
                pieces.append((f'{key}={part}' if index == 0 else ' ' * (len(key) + 1) + part, None))

    def _add_exceptions(self, pieces: _Pieces, events: list[Event], depth: int) -> None:
        for event in events:
            attributes = event.attributes or {}
            self._add_gutter(pieces, depth, _ERROR)
            exception_type = attributes.get('exception.type', 'Exception')
            pieces.append((f'{exception_type}: {attributes.get("exception.message", "")}', _EXCEPTION))
            stacktrace = str(attributes.get('exception.stacktrace', '')).rstrip('\n')
            for stack_line in stacktrace.split('\n') if stacktrace else ():
                self._add_gutter(pieces, depth, _ERROR)
                pieces.append((stack_line, None))

    def _print(self, pieces: _Pieces) -> None:
        stream = self._options.output or sys.stdout
        if stream is None:
            return  # no stdout at all, as under pythonw
        if stream is not self._stream:
            self._stream = stream
            self._color_system = _color_system(stream, self._options.colors)
            encoding = getattr(stream, 'encoding', None)
            self._encoding = encoding if isinstance(encoding, str) else None
        color_system = self._color_system
        # Escaped before styling: our own escape sequences come only from `Style.render`.
        if color_system is None:
            text = escape_controls(''.join(text for text, _ in pieces))
        else:
            text = ''.join(
                escape_controls(text)
                if style is None
                else style.render(escape_controls(text), color_system=color_system)
                for text, style in pieces
            )
        if self._encoding is not None:
            # Replace what the stream cannot encode (emoji on an ASCII or cp1252 console) instead of raising.
            text = text.encode(self._encoding, 'replace').decode(self._encoding)
        stream.write(text + '\n')
        stream.flush()


def escape_controls(text: str) -> str:
    r"""Show the control characters of `text` that a terminal would act on as `\xNN`, keeping newlines and tabs."""
    return _CONTROL.sub(_escaped, text) if _CONTROL.search(text) else text


def _escaped(match: re.Match[str]) -> str:
    return f'\\x{ord(match.group()):02x}'


def _color_system(stream: TextIO, colors: str) -> ColorSystem | None:
    if colors == 'never':
        return None
    if colors == 'always':
        return ColorSystem.STANDARD  # only the 16 standard colours are used
    try:
        if not stream.isatty():
            return None
    except ValueError:  # closed stream
        return None
    # rich knows which terminals understand colour, and honours NO_COLOR.
    console = Console(file=stream, force_terminal=True, force_jupyter=False)
    return None if console.no_color or console.color_system is None else ColorSystem.STANDARD


def _span_id(span: ReadableSpan) -> int:
    context = span.get_span_context()
    return 0 if context is None else context.span_id


def _level(attributes: Mapping[str, Any]) -> int:
    level = attributes.get(ATTRIBUTES_LOG_LEVEL_NUM_KEY)
    return level if isinstance(level, int) else INFO_LEVEL


def _level_name(level: int) -> str:
    below = [number for number in NUMBER_TO_LEVEL if number <= level]
    return NUMBER_TO_LEVEL[max(below) if below else min(NUMBER_TO_LEVEL)]


def _message(span: ReadableSpan, attributes: Mapping[str, Any]) -> str:
    message = attributes.get(ATTRIBUTES_MESSAGE_KEY)
    return span.name if message is None else str(message)


def _exception_events(span: ReadableSpan) -> list[Event]:
    return [event for event in span.events if event.name == 'exception']


def _json_encoded_keys(attributes: Mapping[str, Any]) -> set[str]:
    """Return the attributes stored as JSON: those with a non-empty schema in `logfire.json_schema`."""
    schema_text = attributes.get(ATTRIBUTES_JSON_SCHEMA_KEY)
    if not isinstance(schema_text, str):
        return set()
    try:
        schema = json.loads(schema_text)
    except ValueError:
        return set()
    properties: Any = cast('dict[str, Any]', schema).get('properties') if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return set()
    return {key for key, value in cast('dict[str, Any]', properties).items() if value}


def _format_duration(ns: int) -> str:
    if ns < 1_000_000_000:
        return f'{ns / 1_000_000:.1f}ms'
    seconds = ns / 1_000_000_000
    if seconds < 60:
        return f'{seconds:.2f}s'
    minutes, seconds = divmod(seconds, 60)
    return f'{int(minutes)}m{seconds:04.1f}s'


def _reset_lock_after_fork(processor: ConsoleSpanProcessor) -> None:
    processor._lock = threading.RLock()  # pyright: ignore[reportPrivateUsage]
