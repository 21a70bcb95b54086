"""Typed `instrument_*` facades: a docstring and a one-line delegate to the integration registry each."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .integrations import load

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .integrations.asgi import ASGIApp, ASGIOptions


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
