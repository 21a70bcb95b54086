"""ASGI: wrap an app in OpenTelemetry's ASGI middleware, recording into logfire's shared providers.

On top of the plain middleware: excluded URLs (string, list or environment) suppress everything made
while handling the request; send/receive spans are off unless asked for (then at debug level); span
names stay low-cardinality (method, plus the route template once the framework has matched one, mount
path parameters included); an unhandled exception gives the span status code 500, and is recorded even
when the framework sent a 5xx page before re-raising it (Starlette does); headers can be captured for this
app only, at most `MAX_CAPTURED_HEADER_VALUES` values per request and per response, each cut to
`MAX_HTTP_VALUE_LENGTH`; and wrapping twice, nesting instrumented apps, or FastAPI's own telemetry (off for
the requests handled here) still gives one server span per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, Literal, cast

import opentelemetry.instrumentation.asgi as otel_asgi  # pyright: ignore[reportMissingTypeStubs]
from asgiref import compatibility
from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.instrumentation.asgi.types import (  # pyright: ignore[reportMissingTypeStubs]
    ClientRequestHook,
    ClientResponseHook,
    ServerRequestHook,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.http import ExcludeList, SanitizeValue, sanitize_method
from opentelemetry.util.types import Attributes
from typing_extensions import TypedDict, Unpack

from ..constants import ATTRIBUTES_LOG_LEVEL_NUM_KEY, DEBUG_LEVEL
from ..errors import report_internal_error
from ..http_spans import (
    HTTP_METHOD,
    HTTP_STATUS_CODE,
    MAX_CAPTURED_HEADER_VALUES,
    MAX_HTTP_VALUE_LENGTH,
    STATUS_KEYS,
    TRUNCATED_KEY,
    cut,
)
from ..proxy import SUPPRESS_INSTRUMENTATION_KEY, current_context
from ..settings import env_str_list
from ..span_storage import attributes_of
from .asgi_routes import route_template, routes_owner

if TYPE_CHECKING:
    from . import SharedProviders

__all__ = ['ASGIApp', 'ASGIOptions', 'LogfireASGIMiddleware', 'MiddlewareOptions', 'instrument', 'middleware']

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
"""An ASGI 3 application (the same shape as `starlette.types.ASGIApp`)."""
SpanDetails = Callable[[Scope], tuple[str, dict[str, Any]]]

EXCLUDED_URLS_ENV: Final = ('OTEL_PYTHON_ASGI_EXCLUDED_URLS', 'OTEL_PYTHON_EXCLUDED_URLS')
_CAPTURE_ALL: Final = ('.*',)
_DEBUG_ATTRIBUTES: Final = {ATTRIBUTES_LOG_LEVEL_NUM_KEY: DEBUG_LEVEL}
INSTRUMENTED_SCOPE_KEY: Final = 'logfire.instrumented'
"""Marks a scope an instrumented layer already handles (its value is the server's `send`); router copies keep it."""
FASTAPI_TELEMETRY_SCOPE_KEY: Final = 'fastapi.telemetry'
"""FastAPI's own per-request telemetry; a scope with this key set (even to None) gets none from FastAPI."""


class MiddlewareOptions(TypedDict, total=False):
    """Keyword arguments passed on to `OpenTelemetryMiddleware` as they are."""

    default_span_details: SpanDetails | None
    server_request_hook: ServerRequestHook
    client_request_hook: ClientRequestHook
    client_response_hook: ClientResponseHook
    http_capture_headers_server_request: list[str] | None
    http_capture_headers_server_response: list[str] | None
    http_capture_headers_sanitize_fields: list[str] | None
    exclude_spans: list[Literal['receive', 'send']] | None


class ASGIOptions(MiddlewareOptions, total=False):
    """Keyword arguments of `Logfire.instrument_asgi`, passed on to `OpenTelemetryMiddleware`."""

    excluded_urls: str | Sequence[str] | ExcludeList | None


def instrument(
    providers: SharedProviders,
    app: ASGIApp,
    /,
    *,
    capture_headers: bool = False,
    record_send_receive: bool = False,
    **options: Unpack[ASGIOptions],
) -> ASGIApp:
    """Return `app` wrapped in the middleware; an app this returned comes back unchanged."""
    if isinstance(app, LogfireASGIMiddleware):
        return app
    excluded = exclude_list(options.pop('excluded_urls', None))
    return middleware(
        providers,
        app,
        excluded=excluded,
        capture_headers=capture_headers,
        record_send_receive=record_send_receive,
        **options,
    )


def middleware(
    providers: SharedProviders,
    app: ASGIApp,
    /,
    *,
    excluded: ExcludeList | None,
    capture_headers: bool = False,
    record_send_receive: bool = False,
    **options: Unpack[MiddlewareOptions],
) -> LogfireASGIMiddleware:
    """Build the middleware around `app`, with excluded URLs already resolved (the framework modules share this)."""
    kwargs: dict[str, Any] = dict(options)
    if capture_headers:
        for key in ('http_capture_headers_server_request', 'http_capture_headers_server_response'):
            kwargs[key] = kwargs.get(key) or list(_CAPTURE_ALL)
    tracer_provider: trace.TracerProvider = providers.tracer_provider
    if record_send_receive:
        tracer_provider = _SendReceiveAtDebug(tracer_provider)
    else:
        kwargs['exclude_spans'] = ['receive', 'send']
    own_names = kwargs.get('default_span_details') is None
    if own_names:
        kwargs['default_span_details'] = span_details
    return LogfireASGIMiddleware(
        app,
        excluded=excluded,
        name_from_route=own_names,
        tracer_provider=tracer_provider,
        meter_provider=providers.meter_provider,
        **kwargs,
    )


def exclude_list(
    value: str | Sequence[str] | ExcludeList | None, env: Sequence[str] = EXCLUDED_URLS_ENV
) -> ExcludeList | None:
    """Normalise `excluded_urls`: comma-separated patterns, a list, or (if None) the environment variables `env`."""
    if isinstance(value, ExcludeList):
        return value
    if value is None:
        value = env_str_list(*env)
        if value is None:
            return None
    items = value.split(',') if isinstance(value, str) else value
    patterns = [pattern.strip() for pattern in items if pattern.strip()]
    return ExcludeList(patterns) if patterns else None


def span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    """The default span name: the method alone (`GET`), or `WEBSOCKET`; the route is added once known."""
    if scope.get('type') == 'websocket':
        return 'WEBSOCKET', {}
    method = sanitize_method(str(scope.get('method', '')).strip())
    return ('HTTP' if method in ('', '_OTHER') else method), {}


class LogfireASGIMiddleware:
    """OpenTelemetry's `OpenTelemetryMiddleware` (as `self.app`), plus the rules of the module docstring.

    Excluded requests are suppressed, nested or lifespan calls passed on, and FastAPI's own telemetry is off for
    the requests it handles.

    Composed rather than subclassed so that FastAPI, which looks for OpenTelemetry's middleware class in its
    middleware stack before starting its own server span, finds it.
    """

    def __init__(self, app: ASGIApp, *, excluded: ExcludeList | None, name_from_route: bool, **kwargs: Any) -> None:
        single = compatibility.guarantee_single_callable(app)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        self.wrapped_app = cast('ASGIApp', single)
        self.excluded = excluded
        otel = otel_asgi.OpenTelemetryMiddleware(_RequestLayer(self.wrapped_app, name_from_route), **kwargs)
        # The middleware hands every captured header to this object: the one place to bound them.
        sanitizer: SanitizeValue = otel.http_capture_headers_sanitize_fields
        otel.http_capture_headers_sanitize_fields = _BoundedHeaders(sanitizer)
        self.app: ASGIApp = otel

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection: one server span for HTTP and websockets, none for anything else."""
        action = self._action(scope, send)
        if action == 'pass':
            return await self.wrapped_app(scope, receive, send)
        if action == 'suppress':
            with _suppressed():
                return await self.wrapped_app(scope, receive, send)
        await self.app(scope, receive, send)

    def _action(self, scope: Scope, send: Send) -> Literal['pass', 'suppress', 'instrument']:
        try:
            if scope['type'] not in ('http', 'websocket') or INSTRUMENTED_SCOPE_KEY in scope:
                return 'pass'
            if current_context().get(SUPPRESS_INSTRUMENTATION_KEY):
                return 'pass'
            # FastAPI (0.165+) starts no span of its own for a scope that has this key.
            scope.setdefault(FASTAPI_TELEMETRY_SCOPE_KEY, None)
            if self.excluded is not None and self.excluded.url_disabled(_full_url(scope)):
                return 'suppress'
            # Marks the request for instrumented apps mounted inside; the value lets the request layer answer
            # past OpenTelemetry's `send`, which ends the span.
            scope[INSTRUMENTED_SCOPE_KEY] = send
        except Exception as exc:
            report_internal_error('ASGI request filter', exc)
        return 'instrument'


class _BoundedHeaders(SanitizeValue):
    """The middleware's header sanitiser, then at most `MAX_CAPTURED_HEADER_VALUES` values, each cut short."""

    def __init__(self, sanitizer: SanitizeValue) -> None:
        self.sanitizer = sanitizer  # every call goes to it: its own state is never used

    def sanitize_header_value(self, header: str, value: str) -> str:
        """Redact `value` if `header` is one to sanitise."""
        return self.sanitizer.sanitize_header_value(header, value)

    def sanitize_header_values(
        self,
        headers: Mapping[str, str | list[str]],
        header_regexes: list[str],
        normalize_function: Callable[[str], str],
    ) -> dict[str, Any]:
        """The captured header attributes, bounded; with `logfire.truncated` when something was cut or dropped."""
        values: dict[str, Any] = self.sanitizer.sanitize_header_values(headers, header_regexes, normalize_function)
        budget = MAX_CAPTURED_HEADER_VALUES
        truncated = False
        for key, items in list(values.items()):
            items = cast('list[str]', items)
            if len(items) > budget:
                items, truncated = items[:budget], True
                if not items:
                    del values[key]
                    continue
            budget -= len(items)
            if any(len(item) > MAX_HTTP_VALUE_LENGTH for item in items):
                items, truncated = [cut(item, MAX_HTTP_VALUE_LENGTH) for item in items], True
            values[key] = items
        if truncated:
            values[TRUNCATED_KEY] = True
        return values


def _full_url(scope: Scope) -> str:
    """The URL the middleware matches excluded URLs against: scheme, host and path, no query string."""
    return str(otel_asgi.get_host_port_url_tuple(scope)[2])  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]


@contextmanager
def _suppressed() -> Generator[None, None, None]:
    token = context_api.attach(context_api.set_value(SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        yield
    finally:
        context_api.detach(token)


class _RequestLayer:
    """Runs inside the server span: names it from the route, and records an unhandled exception on it.

    The name is set when the response starts: the framework has matched its route by then, and the middleware ends
    the span with the response's last message. A 5xx response is the exception: its body goes straight to the
    server, so the span stays open until the app returns. Starlette's `ServerErrorMiddleware` sends its 500 page
    before it re-raises, and the exception it re-raises is recorded on the span.
    """

    def __init__(self, app: ASGIApp, name_from_route: bool) -> None:
        self.app = app
        self.name_from_route = name_from_route
        self.routes: object | None = routes_owner(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        span = trace.get_current_span()
        if not span.is_recording():
            return await self.app(scope, receive, send)
        server_send = scope.get(INSTRUMENTED_SCOPE_KEY)
        base_root_path = str(scope.get('root_path', ''))
        named = not self.name_from_route
        error_response = False

        async def request_send(message: Message) -> None:
            # A coroutine function, as the server's `send` is: sync-to-async bridges (Django Channels) check.
            nonlocal named, error_response
            if not named:
                named = True
                self._name(span, scope, base_root_path)
            kind = message['type']
            if kind == 'http.response.start':
                error_response = message.get('status', 200) >= 500 and callable(server_send)
            elif error_response and kind == 'http.response.body':
                return await server_send(message)  # pyright: ignore[reportOptionalCall]
            await send(message)

        try:
            await self.app(scope, receive, request_send)
        except Exception as exc:
            _record_unhandled(span, scope, exc)
            raise
        finally:
            if not named:
                self._name(span, scope, base_root_path)

    def _name(self, span: trace.Span, scope: Scope, base_root_path: str) -> None:
        """Add the matched route to the span's name (`GET` becomes `GET /users/{id}`) and set `http.route`."""
        if not span.is_recording():
            return
        try:
            route = route_template(scope, self.routes, base_root_path)
            if route is None:
                attribute = _span_attributes(span).get('http.route')  # one someone else set
                route = attribute if isinstance(attribute, str) and attribute else None
            if route:
                span.set_attribute('http.route', route)
                span.update_name(f'{span_details(scope)[0]} {route}')
        except Exception as exc:
            report_internal_error('ASGI span name', exc)


def _span_attributes(span: trace.Span) -> Mapping[str, object]:
    """The attributes of an SDK span so far (the API's `Span` has no getter)."""
    return attributes_of(span) if isinstance(span, ReadableSpan) else {}


def _record_unhandled(span: trace.Span, scope: Scope, exc: Exception) -> None:
    """Give the span `error.type`, and status code 500 if the app raised before responding (the server's answer).

    The middleware records the exception event and the ERROR status, and sets the status code when a response
    starts: a span without one got no response.
    """
    if not span.is_recording():
        return
    try:
        attributes = _span_attributes(span)
        if scope['type'] == 'http' and STATUS_KEYS.isdisjoint(attributes):
            keys = [code for method, code in zip(HTTP_METHOD, HTTP_STATUS_CODE, strict=True) if method in attributes]
            for key in keys or HTTP_STATUS_CODE[:1]:
                span.set_attribute(key, 500)
        kind = type(exc)
        name = kind.__qualname__ if kind.__module__ == 'builtins' else f'{kind.__module__}.{kind.__qualname__}'
        span.set_attribute('error.type', name)
    except Exception as internal:
        report_internal_error('ASGI unhandled exception', internal)


class _SendReceiveAtDebug(trace.TracerProvider):
    """Gives the middleware tracers whose send/receive spans start at debug level."""

    def __init__(self, provider: trace.TracerProvider) -> None:
        self.provider = provider

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> trace.Tracer:
        """Wrap the shared provider's tracer."""
        tracer = self.provider.get_tracer(
            instrumenting_module_name, instrumenting_library_version, schema_url, attributes
        )
        return _SendReceiveTracer(tracer)


class _SendReceiveTracer(trace.Tracer):
    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer

    def start_span(
        self,
        name: str,
        context: context_api.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        return self.tracer.start_span(
            name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
        )

    @contextmanager  # pyright: ignore[reportDeprecated]
    def start_as_current_span(  # pyright: ignore[reportIncompatibleMethodOverride]
        self,
        name: str,
        context: context_api.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace.Span]:
        # The middleware starts only its per-message spans as current spans.
        if name.endswith((' send', ' receive')):
            attributes = {**(attributes or {}), **_DEBUG_ATTRIBUTES}
        with self.tracer.start_as_current_span(
            name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception, end_on_exit
        ) as span:
            yield span
