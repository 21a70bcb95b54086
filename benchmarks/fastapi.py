"""One FastAPI request, in process: `logfire.instrument_fastapi` against OpenTelemetry's `FastAPIInstrumentor`.

Both instrument the same kind of app (one endpoint with a path parameter, returning JSON) and record one server
span per request (send/receive spans dropped on both sides) into the same kind of in-memory processor, with an SDK
`MeterProvider` for the request metrics on both sides. Ours also records the endpoint's parsed arguments.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

import logfire

from .asgi import App, _driver, _expect_logfire_message, _expect_ok
from .harness import CheckFailed, InMemoryProcessor, Mode, Result, Side, both, interleave

_PATH = '/users/42'


def _app() -> Any:
    from fastapi import FastAPI

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get('/users/{user_id}')
    async def user(user_id: int) -> dict[str, int]:  # pyright: ignore[reportUnusedFunction]
        return {'id': user_id}

    return app


def _expect_route(spans: Sequence[ReadableSpan]) -> None:
    for span in spans:
        if (span.attributes or {}).get('http.route') != '/users/{user_id}':
            raise CheckFailed(f'span {span.name!r} has no route: {dict(span.attributes or {})}')


def fastapi_case(mode: Mode) -> Result:
    result = Result(
        name='fastapi_request',
        ours='one FastAPI request through instrument_fastapi (path parameter, JSON reply)',
        baseline='FastAPIInstrumentor.instrument_app, send/receive spans dropped',
    )
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor  # pyright: ignore[reportMissingTypeStubs]

    ours_processor = InMemoryProcessor()
    lf = logfire.configure(
        local=True, console=False, send_to_logfire=False, additional_span_processors=[ours_processor]
    )
    ours_app: App = lf.instrument_fastapi(_app())
    baseline_processor = InMemoryProcessor()
    provider = TracerProvider()
    provider.add_span_processor(baseline_processor)
    baseline_app: App = _app()
    FastAPIInstrumentor.instrument_app(  # pyright: ignore[reportUnknownMemberType]
        baseline_app, tracer_provider=provider, meter_provider=MeterProvider(), exclude_spans=['send', 'receive']
    )
    loop = asyncio.new_event_loop()
    try:
        ours_check = both(_expect_ok, _expect_logfire_message, _expect_route)
        ours = Side(_driver(ours_app, loop, _PATH), ours_processor, 1, ours_check)
        baseline = Side(_driver(baseline_app, loop, _PATH), baseline_processor, 1, both(_expect_ok, _expect_route))
        interleave(ours, baseline, mode, result)
    finally:
        loop.close()
    return result
