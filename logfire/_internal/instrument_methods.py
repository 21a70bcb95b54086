"""Typed `instrument_*` facades: a docstring and a one-line delegate to the integration registry each."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from .integrations import load

if TYPE_CHECKING:
    from fastapi import FastAPI
    from typing_extensions import Unpack

    from .integrations.asgi import ASGIApp, ASGIOptions, MiddlewareOptions
    from .integrations.fastapi import RequestAttributesMapper
    from .integrations.starlette import AppT

    FastAPIT = TypeVar('FastAPIT', bound='FastAPI')


class InstrumentMethods:
    """Mixin of `Logfire` holding one method per integration."""

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
        return load('asgi').instrument(
            self, app, capture_headers=capture_headers, record_send_receive=record_send_receive, **kwargs
        )

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
        return load('fastapi').instrument(
            self,
            app,
            capture_headers=capture_headers,
            request_attributes_mapper=request_attributes_mapper,
            excluded_urls=excluded_urls,
            record_send_receive=record_send_receive,
            extra_spans=extra_spans,
            **kwargs,
        )

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
        return load('starlette').instrument(
            self, app, capture_headers=capture_headers, record_send_receive=record_send_receive, **kwargs
        )
