"""`StructlogProcessor`: a structlog processor that turns each event dict into a logfire log."""

from __future__ import annotations

import sys
from collections.abc import MutableMapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from .errors import report_internal_error
from .log_bridge import ATTRIBUTES_LOGGER_NAME_KEY, LogBridge, level_number_for_name, require, user_attributes
from .stack_info import display_path

if TYPE_CHECKING:
    from .main import Logfire

__all__ = ['StructlogProcessor']

_RESERVED: Final = frozenset(
    {'event', 'level', 'timestamp', 'exc_info', 'logger', 'logger_name', 'pathname', 'lineno', 'func_name'}
)
"""Event dict keys the log is built from (message, level, time, exception, logger, code location): not attributes."""


class StructlogProcessor:
    """A [structlog](https://www.structlog.org) processor that records each event as a logfire log.

    Put it in the processor chain before the renderer. The `event` is the message (and template); the
    level comes from the `level` key (`structlog.processors.add_log_level`) or the method called; the
    other keys become attributes, scrubbed like any; `exc_info` (as `logger.exception()` sets it) records
    an `exception` event; `logger` (from `add_logger_name`) is `logfire.logger_name`; a numeric or ISO-8601
    `timestamp` is the log's time; `pathname`/`lineno`/`func_name` from `CallsiteParameterAdder` are the
    code location, else the first frame outside libraries is. The event dict is returned unchanged.

    Args:
        console_log: Also print the logs on logfire's console; off by default, as structlog prints them already.
        logfire_instance: The `Logfire` to log through; default the global one.

    Raises:
        MissingExtraError: structlog is not installed (`pip install 'logfire[structlog]'`).

    Example:
        ```python
        import structlog

        import logfire

        logfire.configure()
        structlog.configure(processors=[logfire.StructlogProcessor(), structlog.dev.ConsoleRenderer()])

        structlog.get_logger().info('user logged in', user_id=42)
        ```
    """

    def __init__(self, *, console_log: bool = False, logfire_instance: Logfire | None = None) -> None:
        require('structlog', 'structlog', 'logfire.StructlogProcessor()', 'structlog')
        self.console_log = console_log
        base = LogBridge(logfire_instance).logfire
        self._bridge = LogBridge(base.with_settings(console_log=console_log))

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        """Record `event_dict` as a log and return it unchanged, for the next processor."""
        try:
            logger_name = event_dict.get('logger') or event_dict.get('logger_name')
            bridge = self._bridge
            context = bridge.context_for(str(logger_name) if logger_name else None)
            if context is None:
                return event_dict  # the rest of the chain still renders it
            event = event_dict.get('event')
            message = 'structlog event' if event is None else str(event)
            attributes = user_attributes(event_dict, _RESERVED)
            if logger_name:
                attributes[ATTRIBUTES_LOGGER_NAME_KEY] = str(logger_name)
            level = event_dict.get('level')
            bridge.emit(
                level_number_for_name(str(level) if level else method_name),
                message,
                message,
                attributes,
                _exception(event_dict.get('exc_info')),
                _location(event_dict),
                _timestamp(event_dict.get('timestamp')),
                context,
            )
        except Exception as exc:
            report_internal_error('structlog processor', exc)
        return event_dict


def _exception(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple):
        items: tuple[Any, ...] = exc_info  # pyright: ignore[reportUnknownVariableType]
        value = items[1] if len(items) == 3 else None
        return value if isinstance(value, BaseException) else None
    return sys.exc_info()[1] if exc_info else None


def _location(event_dict: MutableMapping[str, Any]) -> tuple[str, int, str] | None:
    pathname, lineno = event_dict.get('pathname'), event_dict.get('lineno')
    if isinstance(pathname, str) and isinstance(lineno, int):
        return display_path(pathname), lineno, str(event_dict.get('func_name', ''))
    return None


def _timestamp(value: Any) -> int | None:
    """The event's time in ns when structlog's `TimeStamper` gave an unambiguous one (a number, or ISO with a zone)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value * 1e9)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace('Z', '+00:00'))
        except ValueError:
            return None
        if parsed.tzinfo is not None:
            return int(parsed.timestamp() * 1e6) * 1000
    return None
