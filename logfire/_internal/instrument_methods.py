"""`Logfire.instrument` and the typed `instrument_*` facades: a docstring and a one-line delegate each."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .instrument import instrument_decorator
from .integrations import load

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer
    from typing_extensions import Unpack

    from .integrations.asgi import ASGIApp, ASGIOptions
    from .state import LogfireState


class InstrumentMethods:
    """Mixin of `Logfire` holding `instrument()` (the decorator) and one method per integration."""

    _tags: tuple[str, ...]
    _state: LogfireState
    _tracer: Tracer

    def instrument(
        self,
        msg_template: str | Callable[..., Any] | None = None,
        *,
        span_name: str | None = None,
        extract_args: bool | Sequence[str] = True,
        record_return: bool = False,
        allow_generator: bool = False,
        new_trace: bool = False,
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
            new_trace: Start a new trace for each call instead of nesting under the current span.

        Example:
            ```python
            import logfire

            @logfire.instrument('adding {a} and {b}', record_return=True)
            def add(a: int, b: int) -> int:
                return a + b

            add(1, 2)
            ```
        """
        decorator = instrument_decorator(
            self._tags,
            self._state,
            self._tracer,
            None if callable(msg_template) else msg_template,
            span_name=span_name,
            extract_args=extract_args,
            record_return=record_return,
            allow_generator=allow_generator,
            new_trace=new_trace,
        )
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
