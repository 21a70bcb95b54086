"""`LogfireLoggingHandler`: standard library `logging` records become logfire logs in the current span."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from logging import NOTSET, Handler, LogRecord, StreamHandler
from typing import TYPE_CHECKING, Any, Final

from .attributes import numbers_json, plain_json_list, prepare_attributes
from .errors import report_internal_error
from .log_bridge import (
    ATTRIBUTES_LOGGER_NAME_KEY,
    ATTRIBUTES_LOGGING_ARGS_KEY,
    LEVELS,
    LogBridge,
    level_number,
    scrub_args,
    scrub_mapping_args,
)
from .stack_info import display_path

if TYPE_CHECKING:
    from opentelemetry.util.types import AttributeValue

    from .main import Logfire

__all__ = ['LogfireLoggingHandler']

# What every `LogRecord` holds, plus what formatters add (`message`, `asctime`): the rest came from `extra=`.
_STANDARD: Final = frozenset(LogRecord('', 0, '', 0, '', (), None).__dict__) | {'message', 'asctime'}
_STANDARD_COUNT: Final = len(LogRecord('', 0, '', 0, '', (), None).__dict__)
# What `Filterer.filter` returns when every filter lets a record through: True, or on Python 3.12+ the record (None).
_NO_FILTERS_RESULT: Final = True if sys.version_info < (3, 12) else None


class LogfireLoggingHandler(Handler):
    """A `logging` handler that turns each record into a logfire log in the current span.

    The record's level is mapped (DEBUG -> debug, INFO -> info, WARNING -> warn, ERROR -> error,
    CRITICAL -> fatal, any other number to the nearest); `record.msg` is the message template and the
    `%`-formatted message is `logfire.msg`; positional `%` arguments go in `logfire.logging_args`, a
    `%(name)s` mapping's items and `extra={...}` fields become attributes; `exc_info` records an `exception`
    event; the logger's name is `logfire.logger_name`; `code.*` and the timestamp come from the record.

    Records go to `fallback` instead before `logfire.configure()`, from the `logfire` and `opentelemetry`
    loggers (and their children), while instrumentation is suppressed (as it is while exporting) and while
    this handler is already busy with a record on the same thread: nothing it does can loop back into itself.

    Args:
        level: The handler's level, as for any `logging.Handler`.
        fallback: Where records that do not become logs go. The default writes them to stderr.
        logfire_instance: The `Logfire` to log through (e.g. one made by `with_tags()`); default the global one.

    Example:
        ```python
        import logging

        import logfire

        logfire.configure()
        logging.basicConfig(handlers=[logfire.LogfireLoggingHandler()], level=logging.INFO)

        logging.getLogger('shop').info('order %s shipped', 42, extra={'carrier': 'ups'})
        ```
    """

    def __init__(
        self,
        level: int | str = NOTSET,
        fallback: Handler = StreamHandler(),  # noqa: B008  (the established SDK's signature)
        logfire_instance: Logfire | None = None,
    ) -> None:
        super().__init__(level=level)
        self.fallback = fallback
        self._bridge = LogBridge(logfire_instance)

    def handle(self, record: LogRecord) -> bool:
        """Filter and emit `record`, without the handler's lock: `emit` is thread-safe, and the lock costs every log."""
        if self.filters:
            result: Any = self.filter(record)  # Python 3.12+ may return a replacement record
            if not result:
                return result
            if isinstance(result, LogRecord):
                record = result
        else:
            result = _NO_FILTERS_RESULT or record  # what `self.filter(record)` returns then
        self.emit(record)
        # The record itself on 3.12+, as `Handler.handle` returns it (annotated `bool` there too).
        return result  # pyright: ignore[reportReturnType]

    def emit(self, record: LogRecord) -> None:
        """Turn `record` into a logfire log, or hand it to the fallback (see the class docstring)."""
        bridge = self._bridge
        try:
            name = record.name
            context = bridge.context_for(name)
            if context is None:
                self.fallback.handle(record)
                return
            msg = record.msg
            template = msg if type(msg) is str else str(msg)
            args = record.args
            record_dict = record.__dict__
            prepared: tuple[dict[str, AttributeValue], str | None] | None = None
            attributes: dict[str, Any]
            if len(record_dict) > _STANDARD_COUNT or type(name) is not str:
                attributes = {
                    key: value for key, value in record_dict.items() if key not in _STANDARD and key[:1] != '_'
                }
                attributes[ATTRIBUTES_LOGGER_NAME_KEY] = name
                message = _message(bridge, template, args, attributes) if args else template
            # The usual records, without `extra=`: their attributes are prepared here, as `prepare_attributes` would.
            elif not args:
                attributes = {ATTRIBUTES_LOGGER_NAME_KEY: name}
                message = template
                prepared = attributes, _NAME_SCHEMA
            elif type(args) is tuple and (encoded := numbers_json(args)) is not None:
                # Numbers hold no secrets: the message needs no scrubbing.
                attributes = {ATTRIBUTES_LOGGER_NAME_KEY: name, ATTRIBUTES_LOGGING_ARGS_KEY: encoded}
                prepared = attributes, _NAME_ARGS_SCHEMA
                try:
                    message = template % args
                except Exception:
                    message = template  # as `_format`
            else:
                attributes = {ATTRIBUTES_LOGGER_NAME_KEY: name}
                message = _message(bridge, template, args, attributes)
                prepared = _prepared(name, attributes)
            exc_info = record.exc_info
            levelno = record.levelno
            bridge.emit(
                LEVELS.get(levelno) or level_number(levelno),
                template,
                message,
                attributes,
                exc_info[1] if exc_info else None,
                (display_path(record.pathname), record.lineno, record.funcName),
                int(record.created * 1e9),
                context,
                prepared,
            )
        except Exception as exc:
            report_internal_error('logging handler', exc)


# The `logfire.json_schema` that `prepare_attributes` gives the usual records' attributes, found by asking it.
_NAME_SCHEMA: Final = prepare_attributes({ATTRIBUTES_LOGGER_NAME_KEY: ''})[1]
_NAME_ARGS_SCHEMA: Final = prepare_attributes({ATTRIBUTES_LOGGER_NAME_KEY: '', ATTRIBUTES_LOGGING_ARGS_KEY: []})[1]


def _prepared(name: str, attributes: dict[str, Any]) -> tuple[dict[str, AttributeValue], str | None] | None:
    """`prepare_attributes(attributes)` when they are the logger's name and plain JSON `logfire.logging_args`."""
    args = attributes.get(ATTRIBUTES_LOGGING_ARGS_KEY)
    if len(attributes) != 2 or type(args) is not list:
        return None
    encoded = plain_json_list(args)  # pyright: ignore[reportUnknownArgumentType]
    if encoded is None:
        return None
    return {ATTRIBUTES_LOGGER_NAME_KEY: name, ATTRIBUTES_LOGGING_ARGS_KEY: encoded}, _NAME_ARGS_SCHEMA


def _message(bridge: LogBridge, template: str, args: Any, attributes: dict[str, Any]) -> str:
    """Format `template % args` (scrubbed) and put the arguments in `attributes`, as the established SDK does."""
    scrubber = bridge.scrubber
    if type(args) is tuple:
        positional: tuple[Any, ...] = args  # pyright: ignore[reportUnknownVariableType]
        masked = scrub_args(scrubber, positional) if scrubber is not None else None
        # A list, not the tuple: a list of plain values is encoded as JSON on a fast path, a tuple by the full encoder.
        attributes[ATTRIBUTES_LOGGING_ARGS_KEY] = list(positional if masked is None else masked)
        return _format(template, positional if masked is None else masked)
    if isinstance(args, Mapping):
        # `log('%s', {'a': 1})` passes one mapping as the only positional argument; `%(a)s` makes it named values.
        try:
            message = template % (args,)
        except (TypeError, KeyError, ValueError):
            mapping: Mapping[str, Any] = args  # pyright: ignore[reportUnknownVariableType]
            masked_mapping = scrub_mapping_args(scrubber, template, mapping) if scrubber is not None else None
            for key, value in mapping.items():
                if str(key)[:1] != '_':
                    attributes[str(key)] = value
            return _format(template, mapping if masked_mapping is None else masked_mapping)
        single: tuple[Any, ...] = (args,)  # pyright: ignore[reportUnknownVariableType]
        masked = scrub_args(scrubber, single) if scrubber is not None else None
        attributes[ATTRIBUTES_LOGGING_ARGS_KEY] = list(single if masked is None else masked)
        return message if masked is None else _format(template, masked)
    return _format(template, args)


def _format(template: str, args: Any) -> str:
    """`template % args`, or the template itself when they do not fit (the stdlib would print a traceback)."""
    try:
        return template % args
    except Exception:
        return template
