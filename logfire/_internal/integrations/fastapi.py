"""FastAPI: the Starlette integration, plus the endpoint's arguments on the request span.

FastAPI 0.165+ traces requests itself once a global tracer provider exists. An instrumented app keeps one server
span per request: FastAPI starts none for a request logfire's middleware handles, because the middleware is
OpenTelemetry's own `OpenTelemetryMiddleware` (which FastAPI looks for in its stack) and marks the scope.

The arguments come from FastAPI's `solve_dependencies`, wrapped once per process in `fastapi.routing` (as the
established SDK does): the wrapper does nothing for requests of apps that were not instrumented.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import fastapi
import fastapi.routing

# What the extra installs, imported here too: the ASGI module may already be loaded when it goes missing.
import opentelemetry.instrumentation.asgi  # noqa: F401  # pyright: ignore[reportMissingTypeStubs, reportUnusedImport]
from opentelemetry import trace
from starlette.requests import HTTPConnection
from typing_extensions import Unpack

from ..attributes import prepare_attributes
from ..constants import ATTRIBUTES_JSON_SCHEMA_KEY
from ..errors import report_internal_error
from ..stack_info import code_attributes_for
from .asgi import ASGIApp, MiddlewareOptions, Receive, Scope, Send, exclude_list, middleware
from .asgi_routes import leaf_template
from .starlette import add_to_stack

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from . import SharedProviders

    SpanMaker = Callable[..., AbstractContextManager[Any]]
    """`Logfire.span`: what the extra spans are made with."""

__all__ = ['EXCLUDED_URLS_ENV', 'RequestAttributesMapper', 'instrument']

EXCLUDED_URLS_ENV: Final = ('OTEL_PYTHON_FASTAPI_EXCLUDED_URLS', 'OTEL_PYTHON_EXCLUDED_URLS')
RequestAttributesMapper = Callable[[HTTPConnection, dict[str, Any]], 'dict[str, Any] | None']
"""Gets the request (or websocket) and `{'values': ..., 'errors': ...}`; returns the attributes to record."""

_ARGUMENT_KEYS: Final = {'values': 'fastapi.arguments.values', 'errors': 'fastapi.arguments.errors'}


@dataclass(frozen=True)
class _Settings:
    span: SpanMaker
    request_attributes_mapper: RequestAttributesMapper | None
    extra_spans: bool


class _Request:
    """The settings of the app handling the current request, and the request once FastAPI has built it."""

    __slots__ = ('connection', 'settings')

    def __init__(self, settings: _Settings) -> None:
        self.settings = settings
        self.connection: HTTPConnection | None = None


_current: ContextVar[_Request | None] = ContextVar('logfire_fastapi', default=None)


def instrument(
    providers: SharedProviders,
    span: SpanMaker,
    app: fastapi.FastAPI,
    /,
    *,
    capture_headers: bool = False,
    request_attributes_mapper: RequestAttributesMapper | None = None,
    excluded_urls: str | list[str] | None = None,
    record_send_receive: bool = False,
    extra_spans: bool = False,
    **options: Unpack[MiddlewareOptions],
) -> fastapi.FastAPI:
    """Instrument `app` in place and return it."""
    excluded = exclude_list(excluded_urls, EXCLUDED_URLS_ENV)
    settings = _Settings(span, request_attributes_mapper, extra_spans)
    _wrap_fastapi_once()

    def factory(inner: ASGIApp) -> ASGIApp:
        instrumented = middleware(
            providers,
            inner,
            excluded=excluded,
            capture_headers=capture_headers,
            record_send_receive=record_send_receive,
            **options,
        )
        return _SettingsLayer(instrumented, settings)

    return add_to_stack(app, factory)


class _SettingsLayer:
    """Makes the app's settings current while it handles a request (`.app` is the middleware, as FastAPI reads)."""

    def __init__(self, app: ASGIApp, settings: _Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _current.set(_Request(self.settings))
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(token)


_original_solve_dependencies: Callable[..., Awaitable[Any]] | None = None
_original_run_endpoint_function: Callable[..., Awaitable[Any]] | None = None


def _wrap_fastapi_once() -> None:
    global _original_solve_dependencies, _original_run_endpoint_function
    if _original_solve_dependencies is None:
        _original_solve_dependencies = fastapi.routing.solve_dependencies  # pyright: ignore[reportPrivateImportUsage]
        fastapi.routing.solve_dependencies = _solve_dependencies  # pyright: ignore[reportPrivateImportUsage]
    if _original_run_endpoint_function is None:
        _original_run_endpoint_function = fastapi.routing.run_endpoint_function
        fastapi.routing.run_endpoint_function = _run_endpoint_function


async def _solve_dependencies(*, request: HTTPConnection, **kwargs: Any) -> Any:
    assert _original_solve_dependencies is not None
    current = _current.get()
    if current is None:
        return await _original_solve_dependencies(request=request, **kwargs)
    current.connection = request
    settings = current.settings
    if settings.extra_spans:
        with settings.span('FastAPI arguments'):
            result = await _original_solve_dependencies(request=request, **kwargs)
    else:
        result = await _original_solve_dependencies(request=request, **kwargs)
    _record_arguments(settings, request, result)
    return result


async def _run_endpoint_function(*, dependant: Any, values: dict[str, Any], is_coroutine: bool) -> Any:
    assert _original_run_endpoint_function is not None
    current = _current.get()
    if current is None or not current.settings.extra_spans or current.connection is None:
        return await _original_run_endpoint_function(dependant=dependant, values=values, is_coroutine=is_coroutine)
    function = dependant.call
    scope = current.connection.scope
    attributes: dict[str, Any] = {
        'method': str(scope.get('method', 'WEBSOCKET')),
        'http.route': leaf_template(scope, scope.get('route')) or '',
        'code.function': getattr(function, '__qualname__', repr(function)),
    }
    with current.settings.span('{method} {http.route} ({code.function})', **attributes) as span:
        code = getattr(inspect.unwrap(function), '__code__', None)
        if code is not None:  # the endpoint's definition, not the frame that called it
            # the qualified name from the function: a code object has it only from Python 3.11
            span.set_attributes({**code_attributes_for(code), 'code.function': attributes['code.function']})
        return await _original_run_endpoint_function(dependant=dependant, values=values, is_coroutine=is_coroutine)


def _record_arguments(settings: _Settings, request: HTTPConnection, result: Any) -> None:
    """Put the parsed arguments and validation errors on the request span, through the user's mapper if any."""
    try:
        span = trace.get_current_span()
        if not span.is_recording():
            return
        values: dict[str, Any] = getattr(result, 'values', None) or {}
        errors: list[Any] = getattr(result, 'errors', None) or []
        attributes: dict[str, Any] | None
        if settings.request_attributes_mapper is None:
            attributes = {'values': values, 'errors': errors}
        else:  # copies: the mapper may change what it gets, and FastAPI still needs them
            attributes = settings.request_attributes_mapper(request, {'values': dict(values), 'errors': list(errors)})
        if not attributes:
            return
        renamed = {_ARGUMENT_KEYS.get(key, key): value for key, value in attributes.items()}
        prepared, schema = prepare_attributes(renamed)
        if schema is not None:
            prepared[ATTRIBUTES_JSON_SCHEMA_KEY] = schema
        span.set_attributes(prepared)
    except Exception as exc:
        report_internal_error('FastAPI arguments', exc)
