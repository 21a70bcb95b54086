"""`loguru_handler()`: a loguru sink that turns each record into a logfire log."""

from __future__ import annotations

import sys
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any

from .errors import report_internal_error
from .log_bridge import (
    ATTRIBUTES_LOGGER_NAME_KEY,
    ATTRIBUTES_LOGGING_ARGS_KEY,
    LogBridge,
    level_number,
    scrub_args,
    scrub_mapping_args,
    user_attributes,
)
from .stack_info import display_path, get_frame

if TYPE_CHECKING:
    from opentelemetry.context import Context

    from .main import Logfire

__all__ = ['loguru_handler']

_NO_RESERVED: frozenset[str] = frozenset()


def loguru_handler(*, logfire_instance: Logfire | None = None) -> dict[str, Any]:
    """A handler for `loguru.logger.configure(handlers=[...])` (or `logger.add(**...)`) that records logfire logs.

    Each record becomes a log in the current span: loguru's level mapped (TRACE -> trace, SUCCESS -> notice,
    others as for `logging`, custom numbers to the nearest), its `{}` template as `logfire.msg_template` (the
    message when the record has no `template`, as in older loguru, and the call's frame cannot be found), the
    formatted message as `logfire.msg`, positional arguments in `logfire.logging_args`, `extra` (`bind()`,
    keyword arguments) as attributes, the exception of `logger.exception()` / `opt(exception=...)` as an
    `exception` event, the module as `logfire.logger_name`, and the record's code location and time. Records
    made before `logfire.configure()`, while instrumentation is suppressed, or by `logfire.*`/`opentelemetry.*`
    modules are written to stderr instead.

    Args:
        logfire_instance: The `Logfire` to log through; default the global one.

    Returns:
        The handler's keyword arguments: `{'sink': ..., 'format': '{message}'}`.

    Raises:
        MissingExtraError: loguru is not installed (`pip install 'logfire[loguru]'`).

    Example:
        ```python
        from loguru import logger

        import logfire

        logfire.configure()
        logger.configure(handlers=[logfire.loguru_handler()])

        logger.info('order {} shipped', 42, carrier='ups')
        ```
    """
    from .log_bridge import require

    loguru = require('loguru', 'loguru', 'logfire.loguru_handler()', 'loguru')
    logger: Any = loguru.logger
    logger_type: type[Any] = type(logger)  # pyright: ignore[reportUnknownVariableType]
    log_method: Any = getattr(logger_type, '_log', None)
    code: CodeType | None = getattr(log_method, '__code__', None)
    return {'sink': _LoguruSink(LogBridge(logfire_instance), code), 'format': '{message}'}


class _LoguruSink:
    """The callable loguru calls with each formatted message; its `.record` is the record dict."""

    def __init__(self, bridge: LogBridge, log_code: CodeType | None) -> None:
        self._bridge = bridge
        self._log_code = log_code

    def __call__(self, message: Any) -> None:
        try:
            record: dict[str, Any] = message.record
            name = record.get('name')
            context = self._bridge.context_for(name)
            if context is None:
                sys.stderr.write(str(message))
                return
            self._emit(record, context)
        except Exception as exc:
            report_internal_error('loguru sink', exc)

    def _emit(self, record: dict[str, Any], context: Context) -> None:
        text = str(record['message'])
        template = record.get('template')
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        frame = self._log_frame()
        if frame is not None:
            frame_locals = frame.f_locals
            if isinstance(found := frame_locals.get('args'), (tuple, list)):
                args = list(found)  # pyright: ignore[reportUnknownArgumentType]
            if isinstance(found := frame_locals.get('kwargs'), dict):
                kwargs = found  # pyright: ignore[reportUnknownVariableType]
            if template is None and isinstance(frame_locals.get('message'), str):
                template = frame_locals['message']
        attributes = user_attributes(record['extra'], _NO_RESERVED)
        attributes[ATTRIBUTES_LOGGER_NAME_KEY] = record.get('name') or ''
        scrubber = self._bridge.scrubber
        if scrubber is not None and template is not None and (args or kwargs):
            # The message was formatted from the values: format it again from scrubbed ones if any needs it.
            masked_args = scrub_args(scrubber, args) if args else None
            masked_kwargs = scrub_mapping_args(scrubber, str(template), kwargs) if kwargs else None
            if masked_args is not None or masked_kwargs is not None:
                args = list(masked_args) if masked_args is not None else args
                try:
                    text = str(template).format(*args, **(masked_kwargs if masked_kwargs is not None else kwargs))
                except Exception:
                    text = str(template)
        if args:
            attributes[ATTRIBUTES_LOGGING_ARGS_KEY] = args
        exception = record.get('exception')
        file = record['file']
        self._bridge.emit(
            level_number(record['level'].no),
            str(template) if template is not None else text,
            text,
            attributes,
            exception.value if exception is not None else None,
            (display_path(file.path), record['line'], record['function']),
            int(record['time'].timestamp() * 1e6) * 1000,
            context,
        )

    def _log_frame(self) -> FrameType | None:
        """Find loguru's `Logger._log` frame up the stack (the sink runs inside it), for the call's positional args."""
        code = self._log_code
        if code is None:
            return None
        frame: FrameType | None = get_frame(2)
        for _ in range(10):
            if frame is None:
                return None
            if frame.f_code is code:
                return frame
            frame = frame.f_back
        return None
