"""redis: OpenTelemetry's redis instrumentation, recording a client span per command into logfire's providers.

It patches the sync and asyncio clients (and pipelines) for the whole process. OpenTelemetry records a command
without its values (`SET ? ?`); with `capture_statement=True` the values are recorded too, each quoted like a
literal (`SET 'user:1' 'Ada'`), so scrubbing removes them all when the command looks secret.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.trace import Span
from typing_extensions import TypedDict, Unpack

if TYPE_CHECKING:
    from . import SharedProviders

__all__ = ['RedisOptions', 'instrument']

RequestHook = Callable[[Span, Any, Any, Any], None]
ResponseHook = Callable[[Span, Any, Any], None]
_MAX_STATEMENT: Final = 1000


class RedisOptions(TypedDict, total=False):
    """Keyword arguments passed on to OpenTelemetry's `RedisInstrumentor` (see `Logfire.instrument_redis`)."""

    request_hook: RequestHook | None
    response_hook: ResponseHook | None


def instrument(
    providers: SharedProviders, /, *, capture_statement: bool = False, **options: Unpack[RedisOptions]
) -> None:
    """Trace every redis command; a second call does nothing."""
    instrumentor = RedisInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        return
    request_hook = options.get('request_hook')
    if capture_statement:
        request_hook = _capturing(request_hook)
    instrumentor.instrument(  # pyright: ignore[reportUnknownMemberType]
        tracer_provider=providers.tracer_provider, request_hook=request_hook, response_hook=options.get('response_hook')
    )


def _capturing(user_hook: RequestHook | None) -> RequestHook:
    def request_hook(span: Span, instance: Any, args: Any, kwargs: Any) -> None:
        if span.is_recording() and args:
            span.set_attribute('db.statement', _statement(args))
        if user_hook is not None:
            user_hook(span, instance, args, kwargs)

    return request_hook


def _statement(args: tuple[Any, ...]) -> str:
    """`SET 'key' 'value'`: the command, then each argument quoted as an SQL literal, cut to a bounded length."""
    parts = [str(args[0])]
    for arg in args[1:]:
        text = arg.decode(errors='replace') if isinstance(arg, bytes) else str(arg)
        parts.append("'" + text.replace("'", "''") + "'")
    statement = ' '.join(parts)
    return statement if len(statement) <= _MAX_STATEMENT else statement[: _MAX_STATEMENT - 1] + '…'
