"""What the logging bridges share: level mapping, the loop guard, argument scrubbing and the call into `Logfire`.

The stdlib handler, the structlog processor and the loguru sink each turn their library's record into the same
call: `LogBridge.emit()`, which makes a logfire log with a given message, code location and timestamp (never
re-walking the stack nor re-formatting the message). `LogBridge.context_for()` decides which records must not
become logs: before `configure()`, from logfire's or OpenTelemetry's own loggers, while instrumentation is
suppressed (every export thread runs so) and while this thread is already inside a bridge.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

from ..exceptions import MissingExtraError
from .constants import LEVEL_NUMBERS
from .proxy import SUPPRESS_INSTRUMENTATION_KEY, current_context
from .stack_info import get_frame

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.util.types import AttributeValue

    from .main import Logfire
    from .scrubbing import Scrubber

ATTRIBUTES_LOGGING_ARGS_KEY: Final = 'logfire.logging_args'
"""The `%`-style positional arguments of a stdlib (or loguru) log call, as the established SDK names them."""
ATTRIBUTES_LOGGER_NAME_KEY: Final = 'logfire.logger_name'
"""The name of the logger that made the record, as the established SDK names it."""

EXCLUDED_LOGGERS: Final = ('logfire', 'opentelemetry')
"""Loggers (with their children) whose records always go to the fallback: logfire and the OTel SDK report their own
problems there, export failures included, and turning those into spans would feed the failing export."""

# A library level number -> logfire's. The anchors are the stdlib's levels plus loguru's TRACE (5) and SUCCESS (25);
# any other number takes the nearest anchor, the more severe one on a tie.
_ANCHORS: Final = (
    (5, 'trace'),
    (10, 'debug'),
    (20, 'info'),
    (25, 'notice'),
    (30, 'warn'),
    (40, 'error'),
    (50, 'fatal'),
)
LEVELS: Final[dict[int, int]] = {}
"""The level numbers mapped so far (a cache of `level_number`), for a lookup without a call."""


def level_number(levelno: int) -> int:
    """Logfire's level number for a stdlib/loguru level number: DEBUG -> debug ... CRITICAL -> fatal, else the nearest.

    Example:
        >>> level_number(20), level_number(50), level_number(15), level_number(45), level_number(100)
        (9, 21, 9, 21, 21)
    """
    number = LEVELS.get(levelno)
    if number is None:
        name = min(_ANCHORS, key=lambda anchor: (abs(anchor[0] - levelno), -anchor[0]))[1]
        number = LEVEL_NUMBERS[name]
        if len(LEVELS) < 1000:
            LEVELS[levelno] = number
    return number


for _anchor, _ in _ANCHORS:
    level_number(_anchor)


def level_number_for_name(name: str, default: int = LEVEL_NUMBERS['info']) -> int:
    """Logfire's level number for a level name as structlog or the stdlib write it (`'warning'`, `'CRITICAL'`, ...)."""
    lowered = name.lower()
    number = LEVEL_NUMBERS.get(lowered)
    if number is not None:
        return number
    return {'critical': LEVEL_NUMBERS['fatal'], 'exception': LEVEL_NUMBERS['error'], 'msg': default}.get(
        lowered, default
    )


class _Guard(threading.local):
    active = False


_guard: Final = _Guard()


class LogBridge:
    """One bridge's view of a `Logfire` instance: the guard, then the log."""

    __slots__ = ('_log', '_state', 'logfire')

    def __init__(self, logfire: Logfire | None) -> None:
        if logfire is None:
            from .main import Logfire

            logfire = Logfire()  # a view of the global state, as `logfire.DEFAULT_LOGFIRE_INSTANCE` is
        self.logfire = logfire
        self._state = logfire.config
        self._log = logfire._log  # pyright: ignore[reportPrivateUsage]

    def context_for(self, logger_name: str | None) -> Context | None:
        """The current context, for the log of a record from `logger_name`; None if the record must go to the fallback.

        See the module's docstring for which records do.
        """
        if _guard.active or self._state.config is None:
            return None
        if logger_name and logger_name.startswith(EXCLUDED_LOGGERS):
            head = logger_name.partition('.')[0]
            if head in EXCLUDED_LOGGERS:
                return None
        context = current_context()
        return None if context.get(SUPPRESS_INSTRUMENTATION_KEY) else context

    @property
    def scrubber(self) -> Scrubber | None:
        """The pipeline's scrubber when scrubbing is on, for messages the bridge formats itself."""
        return self._state.scrubber

    def emit(
        self,
        level: int,
        template: str,
        message: str,
        attributes: dict[str, Any],
        exception: BaseException | None,
        location: tuple[str, int, str] | None,
        timestamp: int | None,
        context: Context,
        prepared: tuple[dict[str, AttributeValue], str | None] | None = None,
    ) -> None:
        """Record one log in `context` (from `context_for()`); meanwhile this thread's records go to the fallback.

        Records made by processors or the SDK while the log is made cannot loop back into a bridge. Without a
        `location`, the caller's code location is found as `logfire.info()` finds it: the first frame outside logfire
        and libraries. No name in `attributes` starts with `_` (each bridge leaves such names out), and `prepared`,
        when the bridge has it, is what `prepare_attributes(attributes)` would return.
        """
        _guard.active = True
        try:
            self._log(
                level, template, attributes, None, exception, get_frame(1), location, message, timestamp, False,
                prepared, context,
            )  # fmt: skip
        finally:
            _guard.active = False


def user_attributes(items: Mapping[str, Any], reserved: frozenset[str] | set[str]) -> dict[str, Any]:
    """The items that become attributes: not `reserved`, and not named `_...` (reserved for logfire's options)."""
    return {
        key if type(key) is str else str(key): value
        for key, value in items.items()
        if key not in reserved and not str(key).startswith('_')
    }


_NUMBERS: Final = frozenset({int, float, bool})


def scrub_args(scrubber: Scrubber, args: Sequence[Any]) -> tuple[Any, ...] | None:
    """`args` with secret-looking values masked, or None when none is.

    `%`-args end up in the message, which the pipeline's scrubber does not search (it is built from scrubbed values).
    """
    for value in args:
        if value is not None and type(value) not in _NUMBERS:
            break
    else:
        return None  # numbers hold no secrets: the common case needs no dict
    keys = [f'logging_arg_{i}' for i in range(len(args))]
    values = dict(zip(keys, args, strict=True))
    masked = scrubber.message_values(' '.join(keys), values)
    return None if masked is values else tuple(masked[key] for key in keys)


def scrub_mapping_args(scrubber: Scrubber, template: str, args: Mapping[str, Any]) -> dict[str, Any] | None:
    """A `%(name)s` mapping with values of secret keys (or secret-looking values) masked, or None when none is."""
    values = {str(key): value for key, value in args.items()}
    masked = scrubber.message_values(template, values)
    return None if masked is values else masked


def require(module: str, extra: str, call: str, package: str) -> ModuleType:
    """Import the optional library a bridge needs, or raise `MissingExtraError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise MissingExtraError(extra, extra, module, package, call=call) from exc
