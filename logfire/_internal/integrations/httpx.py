"""httpx: OpenTelemetry's httpx instrumentation, recording client spans into logfire's shared providers.

Every client (`HTTPXClientInstrumentor().instrument()`), or one `httpx.Client`/`AsyncClient`
(`instrument_client`). Each request is a client span that injects `traceparent` into the outgoing headers;
`http_spans` gives it its message and level, and scrubbing cleans its URL and captured headers.

Instrumenting twice never gives two spans: all clients twice is a no-op, and so is one client twice, or a
client once every client is traced. (A client instrumented on its own keeps its one span if every client
is instrumented later: its transport holds the unpatched method.)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import httpx
from opentelemetry.instrumentation.httpx import (
    AsyncRequestHook,
    AsyncResponseHook,
    HTTPXClientInstrumentor,
    RequestHook,
    RequestInfo,
    ResponseHook,
    ResponseInfo,
)
from opentelemetry.trace import Span
from opentelemetry.util.http import normalise_request_header_name, normalise_response_header_name
from typing_extensions import TypedDict, Unpack

from ..errors import handle_internal_errors

if TYPE_CHECKING:
    from . import SharedProviders

__all__ = ['HTTPXOptions', 'instrument']

Hook = Callable[..., Any]


class HTTPXOptions(TypedDict, total=False):
    """Keyword arguments passed on to OpenTelemetry's `HTTPXClientInstrumentor` (see `Logfire.instrument_httpx`)."""

    request_hook: RequestHook | AsyncRequestHook
    response_hook: ResponseHook | AsyncResponseHook
    async_request_hook: AsyncRequestHook
    async_response_hook: AsyncResponseHook


def instrument(
    providers: SharedProviders,
    client: httpx.Client | httpx.AsyncClient | None,
    /,
    *,
    capture_headers: bool = False,
    **options: Unpack[HTTPXOptions],
) -> None:
    """Trace every httpx client, or only `client`; a second call for the same target does nothing."""
    instrumentor = HTTPXClientInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        return  # every client is traced already: instrumenting one more would nest a second span
    shared: dict[str, Any] = {
        'tracer_provider': providers.tracer_provider,
        'meter_provider': providers.meter_provider,
    }
    request_hooks = [_capture_request_headers] if capture_headers else []
    response_hooks = [_capture_response_headers] if capture_headers else []
    if client is None:
        instrumentor.instrument(
            **shared,
            request_hook=_combine([*request_hooks, options.get('request_hook')], is_async=False),
            response_hook=_combine([*response_hooks, options.get('response_hook')], is_async=False),
            async_request_hook=_combine([*request_hooks, options.get('async_request_hook')], is_async=True),
            async_response_hook=_combine([*response_hooks, options.get('async_response_hook')], is_async=True),
        )
        return
    if getattr(client, _INSTRUMENTED, False):
        return
    is_async = isinstance(client, httpx.AsyncClient)
    prefix = 'async_' if is_async else ''
    request_hook = options.get(f'{prefix}request_hook') or options.get('request_hook')
    response_hook = options.get(f'{prefix}response_hook') or options.get('response_hook')
    HTTPXClientInstrumentor.instrument_client(
        client,
        **shared,
        request_hook=_combine([*request_hooks, request_hook], is_async=is_async),
        response_hook=_combine([*response_hooks, response_hook], is_async=is_async),
    )


_INSTRUMENTED: Final = '_is_instrumented_by_opentelemetry'
"""The flag `instrument_client` sets on a client it has instrumented."""


def _combine(hooks: list[Hook | None], *, is_async: bool) -> Hook | None:
    """One hook calling each of `hooks` in turn: a coroutine function for async clients, awaiting async hooks."""
    present = [hook for hook in hooks if hook is not None]
    if not present:
        return None
    if not is_async:
        if len(present) == 1:
            return present[0]

        def sync_hook(*args: Any) -> None:
            for hook in present:
                hook(*args)

        return sync_hook

    async def async_hook(*args: Any) -> None:
        for hook in present:
            result = hook(*args)
            if inspect.isawaitable(result):
                await result

    return async_hook


def _capture_request_headers(span: Span, request: RequestInfo) -> None:
    _set_headers(span, request.headers, normalise_request_header_name)


def _capture_response_headers(span: Span, request: RequestInfo, response: ResponseInfo) -> None:
    _set_headers(span, response.headers, normalise_response_header_name)


def _set_headers(span: Span, headers: httpx.Headers | None, name: Callable[[str], str]) -> None:
    """Record each header as `http.{request,response}.header.<name>`, a list of values as OTel records them."""
    if headers is None or not span.is_recording():
        return
    with handle_internal_errors('httpx header capture'):
        span.set_attributes({name(key): headers.get_list(key) for key in headers.keys()})
