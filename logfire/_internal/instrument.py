"""`@logfire.instrument`: run each call of a function in a span, its arguments as attributes."""

from __future__ import annotations

import contextlib
import functools
import inspect
import warnings
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from opentelemetry import trace
from opentelemetry.context import Context

from ..version import VERSION
from .attributes import prepare_attributes, tag_values
from .constants import (
    ATTRIBUTES_JSON_SCHEMA_KEY,
    ATTRIBUTES_LOG_LEVEL_NUM_KEY,
    ATTRIBUTES_MESSAGE_KEY,
    ATTRIBUTES_MESSAGE_TEMPLATE_KEY,
    ATTRIBUTES_SPAN_TYPE_KEY,
    ATTRIBUTES_TAGS_KEY,
    LevelName,
)
from .errors import report_internal_error
from .formatting import format_message
from .levels import level_number_or_warn
from .span import LogfireSpan
from .stack_info import code_attributes_for, warn_at_caller
from .state import GLOBAL_STATE

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer
    from opentelemetry.util.types import AttributeValue

    from .state import LogfireState

F = TypeVar('F', bound=Callable[..., Any])


class InstrumentGeneratorWarning(UserWarning):
    """`@logfire.instrument` was put on a generator function without `allow_generator=True`."""


class InstrumentSettings(NamedTuple):
    """What `@logfire.instrument(...)` was given: all a pickled instrumented function needs to rebuild its spans."""

    tags: tuple[str, ...]
    msg_template: str | None
    span_name: str | None
    extract_args: bool | Sequence[str]
    record_return: bool
    allow_generator: bool
    new_trace: bool
    level: LevelName | int | None


def instrument_decorator(settings: InstrumentSettings, state: LogfireState, tracer: Tracer) -> Callable[[F], F]:
    """Build the decorator; everything that depends only on the function is computed once, per function."""

    def decorator(func: F) -> F:
        opener = SpanOpener(func, settings, state, tracer)
        if getattr(func, '__code__', None) in _CONTEXT_MANAGER_CODES:
            warn_at_caller(
                f'@logfire.instrument on the context manager {opener.qualname!r} times only the call that creates '
                'it, not the `with` block. Put @logfire.instrument below @contextmanager (applied first) instead.',
                UserWarning,
            )
        if (inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func)) and not settings.allow_generator:
            warn_at_caller(
                f'@logfire.instrument on the generator function {opener.qualname!r}: its span stays open while the '
                'caller iterates, so spans made by the caller between items nest under it. '
                'Pass allow_generator=True if that is what you want.',
                InstrumentGeneratorWarning,
            )
        return _wrap(func, opener, settings.record_return)

    return decorator


class SpanOpener:
    """Opens the span of one call of an instrumented function.

    It pickles as the function and its settings, not as the state it records into (which holds locks): an
    instrumented function pickled by value (cloudpickle, as process pools, Ray and Dask do) records, once
    unpickled, into the logfire configuration of the process that calls it.
    """

    def __init__(self, func: Callable[..., Any], settings: InstrumentSettings, state: LogfireState, tracer: Tracer):
        self.func = func
        self.settings = settings
        self.state = state
        self.tracer = tracer
        code = getattr(func, '__code__', None)
        self.qualname: str = getattr(func, '__qualname__', getattr(func, '__name__', repr(func)))
        self.template = settings.msg_template or f'Calling {getattr(func, "__module__", "?")}.{self.qualname}'
        self.name = settings.span_name or self.template
        static: dict[str, AttributeValue] = dict(code_attributes_for(code)) if code is not None else {}
        static[ATTRIBUTES_MESSAGE_TEMPLATE_KEY] = self.template
        static[ATTRIBUTES_SPAN_TYPE_KEY] = 'span'
        if settings.tags:
            static[ATTRIBUTES_TAGS_KEY] = tag_values(settings.tags)
        self.level_num = None if settings.level is None else level_number_or_warn(settings.level)
        if self.level_num is not None:
            static[ATTRIBUTES_LOG_LEVEL_NUM_KEY] = self.level_num
        self.static = static
        extract_args = settings.extract_args
        self.signature = _signature(func) if extract_args else None
        self.wanted = None if isinstance(extract_args, bool) else frozenset(extract_args)
        if self.wanted is not None and self.signature is not None:
            missing = sorted(self.wanted.difference(self.signature.parameters))
            if missing:
                warn_at_caller(
                    f'@logfire.instrument(extract_args=...) names {", ".join(map(repr, missing))}, which '
                    f'{self.qualname!r} does not take; no attribute is recorded for '
                    f'{"them" if len(missing) > 1 else "it"}. Check the spelling against the signature.',
                    UserWarning,
                )

    def __reduce__(self) -> tuple[Any, ...]:
        return _unpickled_opener, (self.func, self.settings)

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> LogfireSpan:
        state = self.state
        if self.level_num is not None and self.level_num < state.min_level:
            return LogfireSpan('', {}, _NOOP_TRACER, state)
        attributes: dict[str, AttributeValue] = dict(self.static)
        template = self.template
        try:
            values: dict[str, Any] = {}
            if self.signature is not None:
                bound = self.signature.bind(*args, **kwargs)
                bound.apply_defaults()
                wanted = self.wanted
                values = {k: v for k, v in bound.arguments.items() if wanted is None or k in wanted}
            scrubber = state.scrubber
            message_values = scrubber.message_values(template, values) if scrubber else values
            attributes[ATTRIBUTES_MESSAGE_KEY] = format_message(template, message_values)
            if values:
                encoded, schema = prepare_attributes(values)
                attributes.update(encoded)
                if schema is not None:
                    attributes[ATTRIBUTES_JSON_SCHEMA_KEY] = schema
        except Exception as exc:
            report_internal_error('instrument', exc)
        if not self.settings.new_trace:
            return LogfireSpan(self.name, attributes, self.tracer, state)
        # A new trace, linked back to the span it was started from, so the two can still be found from each other.
        parent = trace.get_current_span().get_span_context()
        links = [trace.Link(parent)] if parent.is_valid else []
        return LogfireSpan(self.name, attributes, self.tracer, state, links, context=Context())


def _unpickled_opener(func: Callable[..., Any], settings: InstrumentSettings) -> SpanOpener:
    with warnings.catch_warnings():  # they were given where the function was decorated
        warnings.simplefilter('ignore')
        return SpanOpener(func, settings, GLOBAL_STATE, GLOBAL_STATE.tracer_provider.get_tracer('logfire', VERSION))


def _context_manager_codes() -> frozenset[Any]:
    """The code objects of the functions `@contextmanager` and `@asynccontextmanager` return."""

    def gen() -> Generator[None]:
        yield  # pragma: no cover

    async def agen() -> AsyncGenerator[None]:
        yield  # pragma: no cover

    made: tuple[object, ...] = (contextlib.contextmanager(gen), contextlib.asynccontextmanager(agen))
    return frozenset(code for code in (getattr(f, '__code__', None) for f in made) if code is not None)


_CONTEXT_MANAGER_CODES: frozenset[Any] = _context_manager_codes()
_NOOP_TRACER = trace.NoOpTracer()


def _signature(func: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):
        return None


def _wrap(func: F, open_span: Callable[[tuple[Any, ...], dict[str, Any]], LogfireSpan], record_return: bool) -> F:
    """Wrap `func` in the right kind of wrapper for sync, async, generator and async generator functions.

    `functools.wraps` keeps the name and qualname, so a module-level instrumented function pickles by reference.
    """
    if inspect.isasyncgenfunction(func):

        @functools.wraps(func)
        async def async_gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            with open_span(args, kwargs):
                async for item in func(*args, **kwargs):
                    yield item

        return async_gen_wrapper  # type: ignore[return-value]

    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            with open_span(args, kwargs):
                return (yield from func(*args, **kwargs))  # pyright: ignore[reportUnknownVariableType]

        return gen_wrapper  # type: ignore[return-value]

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            with open_span(args, kwargs) as span:
                result = await func(*args, **kwargs)
                if record_return:
                    span.set_attribute('return', result)
                return result

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with open_span(args, kwargs) as span:
            result = func(*args, **kwargs)
            if record_return:
                span.set_attribute('return', result)
            return result

    return wrapper  # type: ignore[return-value]
