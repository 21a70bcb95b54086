"""`@logfire.instrument`: run each call of a function in a span, its arguments as attributes."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry.context import Context

from .attributes import prepare_attributes, tag_values
from .constants import (
    ATTRIBUTES_JSON_SCHEMA_KEY,
    ATTRIBUTES_MESSAGE_KEY,
    ATTRIBUTES_MESSAGE_TEMPLATE_KEY,
    ATTRIBUTES_SPAN_TYPE_KEY,
    ATTRIBUTES_TAGS_KEY,
)
from .errors import report_internal_error
from .formatting import format_message
from .span import LogfireSpan
from .stack_info import code_attributes_for

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer
    from opentelemetry.util.types import AttributeValue

    from .state import LogfireState

F = TypeVar('F', bound=Callable[..., Any])


class InstrumentGeneratorWarning(UserWarning):
    """`@logfire.instrument` was put on a generator function without `allow_generator=True`."""


def instrument_decorator(
    tags: tuple[str, ...],
    state: LogfireState,
    tracer: Tracer,
    msg_template: str | None,
    *,
    span_name: str | None,
    extract_args: bool | Sequence[str],
    record_return: bool,
    allow_generator: bool,
    new_trace: bool = False,
) -> Callable[[F], F]:
    """Build the decorator; everything that depends only on the function is computed once, here."""

    def decorator(func: F) -> F:
        code = getattr(func, '__code__', None)
        qualname = getattr(func, '__qualname__', getattr(func, '__name__', repr(func)))
        template = msg_template or f'Calling {getattr(func, "__module__", "?")}.{qualname}'
        name = span_name or template
        static: dict[str, AttributeValue] = dict(code_attributes_for(code)) if code is not None else {}
        static[ATTRIBUTES_MESSAGE_TEMPLATE_KEY] = template
        static[ATTRIBUTES_SPAN_TYPE_KEY] = 'span'
        if tags:
            static[ATTRIBUTES_TAGS_KEY] = tag_values(tags)
        signature = _signature(func) if extract_args else None
        wanted = None if isinstance(extract_args, bool) else frozenset(extract_args)

        def open_span(args: tuple[Any, ...], kwargs: dict[str, Any]) -> LogfireSpan:
            attributes: dict[str, AttributeValue] = dict(static)
            try:
                values: dict[str, Any] = {}
                if signature is not None:
                    bound = signature.bind(*args, **kwargs)
                    bound.apply_defaults()
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
            context = Context() if new_trace else None
            return LogfireSpan(name, attributes, tracer, state, context=context)

        if (inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func)) and not allow_generator:
            warnings.warn(
                f'@logfire.instrument on the generator function {qualname!r}: its span stays open while the '
                'caller iterates, so spans made by the caller between items nest under it. '
                'Pass allow_generator=True if that is what you want.',
                InstrumentGeneratorWarning,
                stacklevel=3,
            )
        return _wrap(func, open_span, record_return)

    return decorator


def _signature(func: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):
        return None


def _wrap(func: F, open_span: Callable[[tuple[Any, ...], dict[str, Any]], LogfireSpan], record_return: bool) -> F:
    """Wrap `func` in the right kind of wrapper for sync, async, generator and async generator functions."""
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
