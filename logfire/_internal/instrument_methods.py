"""`Logfire.instrument` and the typed `instrument_*` facades: a docstring and a one-line delegate each."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .instrument import InstrumentSettings, instrument_decorator
from .integrations import load

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI
    from opentelemetry.trace import Tracer
    from typing_extensions import Unpack

    from .constants import LevelName
    from .integrations.asgi import ASGIApp, ASGIOptions, MiddlewareOptions
    from .integrations.fastapi import RequestAttributesMapper
    from .integrations.httpx import HTTPXOptions
    from .integrations.requests import RequestsOptions
    from .integrations.starlette import AppT
    from .state import LogfireState

    FastAPIT = TypeVar('FastAPIT', bound='FastAPI')


class InstrumentMethods:
    """Mixin of `Logfire` holding `instrument()` (the decorator) and one method per integration."""

    _tags: tuple[str, ...]
    _state: LogfireState
    _tracer: Tracer
    span: Callable[..., Any]  # `Logfire.span`, which the FastAPI integration makes its extra spans with

    def instrument(
        self,
        msg_template: str | Callable[..., Any] | None = None,
        *,
        span_name: str | None = None,
        extract_args: bool | Sequence[str] = True,
        record_return: bool = False,
        allow_generator: bool = False,
        new_trace: bool = False,
        level: LevelName | int | None = None,
    ) -> Any:
        """Decorate a function so each call runs in a span; usable bare (`@logfire.instrument`) or called.

        Args:
            msg_template: The span's message template (default `Calling {module}.{qualname}`); it may use
                the function's argument names.
            span_name: The span name (default: the template).
            extract_args: Record the arguments as attributes: `True` for all, or a list of names.
            record_return: Record the return value as the `return` attribute.
            allow_generator: Silence the warning for generator functions (their span stays open while
                the caller iterates, which can misattribute nested spans).
            new_trace: Start a new trace for each call instead of nesting under the current span; the new
                span carries a link to the span it was started from.
            level: The span's level (a name or number); below `min_level`, calls make no span.

        Example:
            ```python
            import logfire

            @logfire.instrument('adding {a} and {b}', record_return=True)
            def add(a: int, b: int) -> int:
                return a + b

            add(1, 2)
            ```
        """
        settings = InstrumentSettings(
            tags=self._tags,
            msg_template=None if callable(msg_template) else msg_template,
            span_name=span_name,
            extract_args=extract_args,
            record_return=record_return,
            allow_generator=allow_generator,
            new_trace=new_trace,
            level=level,
        )
        decorator = instrument_decorator(settings, self._state, self._tracer)
        return decorator(msg_template) if callable(msg_template) else decorator

    def instrument_asgi(
        self,
        app: ASGIApp,
        *,
        capture_headers: bool = False,
        record_send_receive: bool = False,
        **kwargs: Unpack[ASGIOptions],
    ) -> ASGIApp:
        """Wrap an ASGI app so that each request (and each websocket connection) is traced as one server span.

        The app is wrapped in OpenTelemetry's `OpenTelemetryMiddleware`, using logfire's shared tracer and
        meter providers: it records into whatever `logfire.configure()` set up, even if called before it.
        Also usable as a Starlette middleware factory: `Middleware(logfire.instrument_asgi)`.

        Args:
            app: The ASGI application. An app this method returned is returned unchanged.
            capture_headers: Record all request and response headers, for this app only, as
                `http.request.header.<name>` and `http.response.header.<name>`. Credential headers are
                redacted by scrubbing before they leave the process.
            record_send_receive: Also record a debug-level span for each ASGI `send`/`receive` message.
                Off by default: spans made while handling the request attach to the request span.
            **kwargs: Passed on to `OpenTelemetryMiddleware`: `excluded_urls` (comma-separated regular
                expressions or a list, each searched in the full URL; default from
                `OTEL_PYTHON_ASGI_EXCLUDED_URLS`, then `OTEL_PYTHON_EXCLUDED_URLS`; an excluded request records
                nothing, not even the spans and logs made while handling it), `default_span_details`,
                `server_request_hook`, `client_request_hook`, `client_response_hook`,
                `http_capture_headers_server_request`, `http_capture_headers_server_response`,
                `http_capture_headers_sanitize_fields` and `exclude_spans`.

        Returns:
            The instrumented app.

        Raises:
            MissingExtraError: `opentelemetry-instrumentation-asgi` is not installed
                (`pip install 'logfire[asgi]'`).

        Example:
            ```python
            import logfire


            async def app(scope, receive, send):
                await send({'type': 'http.response.start', 'status': 204, 'headers': []})
                await send({'type': 'http.response.body', 'body': b''})


            logfire.configure()
            app = logfire.instrument_asgi(app, excluded_urls='/health$')
            ```
        """
        instrumented = load('asgi').instrument(
            self._state, app, capture_headers=capture_headers, record_send_receive=record_send_receive, **kwargs
        )
        self._state.warn_if_not_configured('logfire.instrument_asgi()')
        return instrumented

    def instrument_fastapi(
        self,
        app: FastAPIT,
        *,
        capture_headers: bool = False,
        request_attributes_mapper: RequestAttributesMapper | None = None,
        excluded_urls: str | list[str] | None = None,
        record_send_receive: bool = False,
        extra_spans: bool = False,
        **kwargs: Unpack[MiddlewareOptions],
    ) -> FastAPIT:
        """Trace each request to a FastAPI app as one server span, with the endpoint's arguments on it.

        The app is changed in place (and returned): logfire's ASGI middleware goes first among its middleware,
        so an unhandled exception is recorded on the request span (`error.type`, an `exception` event, level
        error) before the 500 page is sent. The span is named from the route template (`GET /users/{user_id}`)
        through routers and mounts. FastAPI's own telemetry (FastAPI 0.165+) records nothing for these requests,
        so there is one server span per request, also when the app is wrapped by `instrument_asgi` too.

        Args:
            app: The FastAPI app. Instrumenting the same app again changes nothing.
            capture_headers: Record all request and response headers as `http.request.header.<name>` and
                `http.response.header.<name>` (credentials are scrubbed).
            request_attributes_mapper: Called with the request (or websocket) and
                `{'values': <parsed arguments>, 'errors': <validation errors>}`; returns the attributes to record
                instead (`values` and `errors` become `fastapi.arguments.values` / `fastapi.arguments.errors`),
                or None to record none.
            excluded_urls: Comma-separated regular expressions or a list, each searched in the full URL; an
                excluded request records nothing, not even the spans made while handling it. Default from
                `OTEL_PYTHON_FASTAPI_EXCLUDED_URLS`, then `OTEL_PYTHON_EXCLUDED_URLS`.
            record_send_receive: Also record a debug-level span for each ASGI `send`/`receive` message.
            extra_spans: Also record a `FastAPI arguments` span around argument parsing and a span around the
                endpoint call.
            **kwargs: Passed on to OpenTelemetry's `OpenTelemetryMiddleware`, as for `instrument_asgi`.

        Returns:
            The same app, instrumented.

        Raises:
            MissingExtraError: `opentelemetry-instrumentation-asgi` is not installed
                (`pip install 'logfire[fastapi]'`).

        Example:
            ```python
            from fastapi import FastAPI

            import logfire

            app = FastAPI()


            @app.get('/users/{user_id}')
            async def user(user_id: int) -> dict[str, int]:
                return {'id': user_id}


            logfire.configure()
            logfire.instrument_fastapi(app, excluded_urls='/health$')
            ```
        """
        instrumented = load('fastapi').instrument(
            self._state,
            self.span,
            app,
            capture_headers=capture_headers,
            request_attributes_mapper=request_attributes_mapper,
            excluded_urls=excluded_urls,
            record_send_receive=record_send_receive,
            extra_spans=extra_spans,
            **kwargs,
        )
        self._state.warn_if_not_configured('logfire.instrument_fastapi()')
        return instrumented

    def instrument_starlette(
        self,
        app: AppT,
        *,
        capture_headers: bool = False,
        record_send_receive: bool = False,
        **kwargs: Unpack[ASGIOptions],
    ) -> AppT:
        """Trace each request to a Starlette app as one server span.

        The app is changed in place (and returned): logfire's ASGI middleware goes first among its middleware,
        so an unhandled exception is recorded on the request span before the 500 page is sent. The span is
        named from the route template, through mounts (`GET /t/{tenant}/items/{item_id}`).

        Args:
            app: The Starlette app. Instrumenting the same app again changes nothing.
            capture_headers: Record all request and response headers (credentials are scrubbed).
            record_send_receive: Also record a debug-level span for each ASGI `send`/`receive` message.
            **kwargs: As for `instrument_asgi`; `excluded_urls` defaults to
                `OTEL_PYTHON_STARLETTE_EXCLUDED_URLS`, then `OTEL_PYTHON_EXCLUDED_URLS`.

        Returns:
            The same app, instrumented.

        Raises:
            MissingExtraError: `opentelemetry-instrumentation-asgi` is not installed
                (`pip install 'logfire[starlette]'`).

        Example:
            ```python
            from starlette.applications import Starlette

            import logfire

            app = Starlette()
            logfire.configure()
            logfire.instrument_starlette(app)
            ```
        """
        instrumented = load('starlette').instrument(
            self._state, app, capture_headers=capture_headers, record_send_receive=record_send_receive, **kwargs
        )
        self._state.warn_if_not_configured('logfire.instrument_starlette()')
        return instrumented

    def instrument_httpx(
        self,
        client: httpx.Client | httpx.AsyncClient | None = None,
        *,
        capture_headers: bool = False,
        **kwargs: Unpack[HTTPXOptions],
    ) -> None:
        """Trace outgoing httpx requests: each is one client span, and carries the trace to the server.

        Uses OpenTelemetry's `HTTPXClientInstrumentor` with logfire's shared providers (so it works before
        `configure()` too). Each span's message reads like `GET example.com/path ? q='1'`; a 5xx response is
        logged at error level, a 4xx at warn. The `traceparent` header is added to each request, so an
        instrumented server joins the caller's trace (see the distributed tracing guide).

        Args:
            client: One `httpx.Client` or `httpx.AsyncClient` to trace; `None` traces every client, including
                ones created earlier. Calling again for the same client, or after every client is traced,
                does nothing (never a second span).
            capture_headers: Record request and response headers as `http.request.header.<name>` and
                `http.response.header.<name>`. Credential headers are redacted by scrubbing.
            **kwargs: Passed on to the instrumentor: `request_hook` and `response_hook` (sync hooks for
                `Client`; for one `AsyncClient` they may be async), `async_request_hook` and
                `async_response_hook` (for `AsyncClient`).

        Raises:
            MissingExtraError: `opentelemetry-instrumentation-httpx` is not installed
                (`pip install 'logfire[httpx]'`).

        Example:
            ```python
            import httpx

            import logfire

            logfire.configure()
            client = httpx.Client()
            logfire.instrument_httpx(client)  # or logfire.instrument_httpx() for every client
            ```
        """
        load('httpx').instrument(self._state, client, capture_headers=capture_headers, **kwargs)
        self._state.warn_if_not_configured('logfire.instrument_httpx()')

    def instrument_requests(self, *, excluded_urls: str | None = None, **kwargs: Unpack[RequestsOptions]) -> None:
        """Trace outgoing `requests` calls: each is one client span, and carries the trace to the server.

        Uses OpenTelemetry's `RequestsInstrumentor` with logfire's shared providers, for every session in
        the process. Messages, levels and the injected `traceparent` are as for `instrument_httpx`. A second
        call does nothing.

        Args:
            excluded_urls: Comma-separated regular expressions; a request whose URL matches one is not traced.
                Default: `OTEL_PYTHON_REQUESTS_EXCLUDED_URLS`, then `OTEL_PYTHON_EXCLUDED_URLS`.
            **kwargs: Passed on to the instrumentor: `request_hook`, `response_hook` and
                `duration_histogram_boundaries`.

        Raises:
            MissingExtraError: `opentelemetry-instrumentation-requests` is not installed
                (`pip install 'logfire[requests]'`).

        Example:
            ```python
            import logfire

            logfire.configure()
            logfire.instrument_requests(excluded_urls='/health$')
            ```
        """
        load('requests').instrument(self._state, excluded_urls=excluded_urls, **kwargs)
        self._state.warn_if_not_configured('logfire.instrument_requests()')
