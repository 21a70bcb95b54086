"""One ASGI request, in process: `logfire.instrument_asgi` against OpenTelemetry's own middleware.

Both wrap the same hello-world app and record one server span per request (the baseline drops its send/receive
spans with `exclude_spans`, as ours does by default) into the same kind of in-memory processor, with an SDK
`MeterProvider` for the request metrics on both sides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

import logfire

from .harness import CheckFailed, InMemoryProcessor, Mode, Result, Side, both, interleave

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
App = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

_SCOPE: dict[str, Any] = {
    'type': 'http',
    'asgi': {'version': '3.0', 'spec_version': '2.3'},
    'http_version': '1.1',
    'method': 'GET',
    'scheme': 'http',
    'path': '/',
    'raw_path': b'/',
    'query_string': b'',
    'root_path': '',
    'headers': [(b'host', b'127.0.0.1:8000'), (b'user-agent', b'benchmark'), (b'accept', b'*/*')],
    'client': ('127.0.0.1', 50000),
    'server': ('127.0.0.1', 8000),
}
_REQUEST: dict[str, Any] = {'type': 'http.request', 'body': b'', 'more_body': False}


async def hello_app(
    scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
) -> None:
    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
    await send({'type': 'http.response.body', 'body': b'Hello, world!'})


async def _receive() -> Message:
    return _REQUEST


async def _send(message: Message) -> None:
    pass


def _driver(app: App, loop: asyncio.AbstractEventLoop, path: str = '/') -> Callable[[int], None]:
    scope = {**_SCOPE, 'path': path, 'raw_path': path.encode()}

    async def requests(n: int) -> None:
        for _ in range(n):
            await app(dict(scope), _receive, _send)  # a fresh scope per request, as a server gives

    return lambda n: loop.run_until_complete(requests(n))


def _expect_ok(spans: Sequence[ReadableSpan]) -> None:
    for span in spans:
        attributes = span.attributes or {}
        status = attributes.get('http.status_code', attributes.get('http.response.status_code'))
        if status != 200:
            raise CheckFailed(f'span {span.name!r} has no HTTP status 200: {dict(attributes)}')


def asgi_case(mode: Mode) -> Result:
    result = Result(
        name='asgi_request',
        ours='one ASGI request through instrument_asgi (hello-world app)',
        baseline='OpenTelemetryMiddleware, send/receive spans dropped',
    )
    if not hasattr(logfire.Logfire, 'instrument_asgi'):
        result.status = 'pending'
        result.note = 'logfire.instrument_asgi does not exist yet'
        return result
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware  # pyright: ignore[reportMissingTypeStubs]

    ours_processor = InMemoryProcessor()
    lf = logfire.configure(
        local=True, console=False, send_to_logfire=False, additional_span_processors=[ours_processor]
    )
    ours_app: App = lf.instrument_asgi(hello_app)
    baseline_processor = InMemoryProcessor()
    provider = TracerProvider()
    provider.add_span_processor(baseline_processor)
    baseline_app: App = OpenTelemetryMiddleware(
        hello_app, tracer_provider=provider, meter_provider=MeterProvider(), exclude_spans=['send', 'receive']
    )
    loop = asyncio.new_event_loop()
    try:
        ours = Side(_driver(ours_app, loop), ours_processor, 1, both(_expect_ok, _expect_logfire_message))
        baseline = Side(_driver(baseline_app, loop), baseline_processor, 1, _expect_ok)
        interleave(ours, baseline, mode, result)
    finally:
        loop.close()
    return result


def _expect_logfire_message(spans: Sequence[ReadableSpan]) -> None:
    """Our request spans went through logfire's pipeline: the start hook gave them a `logfire.msg`."""
    for span in spans:
        if 'logfire.msg' not in (span.attributes or {}):
            raise CheckFailed(f'request span {span.name!r} lacks logfire.msg')
