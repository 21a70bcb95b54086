"""Outgoing HTTP and thread pools: what tracing them costs.

- `httpx_request`: one GET to a local server through an `httpx.Client` traced by `logfire.instrument_httpx`,
  against a client traced by OpenTelemetry's own `HTTPXClientInstrumentor.instrument_client`; the same server,
  one span per request on each side, in the same kind of in-memory processor.
- `executor_submit`: `ThreadPoolExecutor.submit` of a task that makes one span, from inside a span, with
  logfire's context-carrying `submit` against Python's own; the batch waits for its tasks. The row's budget is
  the extra microseconds per submit (ours minus baseline), not a ratio.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

import logfire
from logfire._internal.executor_context import ORIGINAL_SUBMIT, carry_context_into_thread_pools

from .harness import CheckFailed, InMemoryProcessor, Mode, Result, Side, interleave


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    wbufsize = -1  # one write per response: headers and body apart would meet Nagle and delayed ACKs
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header('content-length', '2')
        self.end_headers()
        self.wfile.write(b'ok')

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _check_client_spans(need_message: bool) -> Callable[[Sequence[ReadableSpan]], None]:
    def check(spans: Sequence[ReadableSpan]) -> None:
        for span in spans:
            attributes = span.attributes or {}
            if span.kind is not trace.SpanKind.CLIENT or attributes.get('http.status_code') != 200:
                raise CheckFailed(f'span {span.name!r} is not a client span with status 200: {dict(attributes)}')
            if need_message and 'logfire.msg' not in attributes:
                raise CheckFailed(f'client span {span.name!r} lacks logfire.msg')

    return check


def httpx_case(mode: Mode) -> Result:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    result = Result(
        name='httpx_request',
        ours='one GET to a local server, client traced by instrument_httpx(client)',
        baseline='the same, client traced by HTTPXClientInstrumentor.instrument_client',
    )
    server = ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
    thread.start()
    url = f'http://127.0.0.1:{server.server_address[1]}/items?page=2'
    ours_processor, baseline_processor = InMemoryProcessor(), InMemoryProcessor()
    lf = logfire.configure(
        local=True, console=False, send_to_logfire=False, additional_span_processors=[ours_processor]
    )
    provider = TracerProvider()
    provider.add_span_processor(baseline_processor)
    with httpx.Client() as ours_client, httpx.Client() as baseline_client:
        lf.instrument_httpx(ours_client)
        HTTPXClientInstrumentor.instrument_client(
            baseline_client, tracer_provider=provider, meter_provider=MeterProvider()
        )

        def driver(client: httpx.Client) -> Callable[[int], None]:
            def requests(n: int) -> None:
                for _ in range(n):
                    client.get(url)

            return requests

        try:
            ours = Side(driver(ours_client), ours_processor, 1, _check_client_spans(True))
            baseline = Side(driver(baseline_client), baseline_processor, 1, _check_client_spans(False))
            interleave(ours, baseline, mode, result)
        finally:
            server.shutdown()
            server.server_close()
            lf.shutdown()
    return result


_PARENT = trace.SpanContext(
    0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, is_remote=False, trace_flags=trace.TraceFlags(1)
)  # sampled, so that its children are recorded


def _check_parents(carried: bool) -> Callable[[Sequence[ReadableSpan]], None]:
    def check(spans: Sequence[ReadableSpan]) -> None:
        for span in spans:
            parent = span.parent.span_id if span.parent is not None else None
            if (parent == _PARENT.span_id) is not carried:
                raise CheckFailed(f'task span parent {parent} (context carried: {carried})')

    return check


def executor_case(mode: Mode) -> Result:
    result = Result(
        name='executor_submit',
        ours="ThreadPoolExecutor.submit of a one-span task, inside a span, with logfire's context-carrying submit",
        baseline="the same with Python's own submit (the task's span starts a new trace)",
    )
    carry_context_into_thread_pools(True)
    processors = InMemoryProcessor(), InMemoryProcessor()
    tracers: list[trace.Tracer] = []
    for processor in processors:
        provider = TracerProvider()
        provider.add_span_processor(processor)
        tracers.append(provider.get_tracer('bench'))
    pool = ThreadPoolExecutor(max_workers=1)

    def driver(submit: Callable[..., Any], tracer: trace.Tracer) -> Callable[[int], None]:
        def task() -> None:
            tracer.start_span('task').end()

        def submits(n: int) -> None:
            token = context_api.attach(trace.set_span_in_context(trace.NonRecordingSpan(_PARENT)))
            try:
                futures = [submit(pool, task) for _ in range(n)]
            finally:
                context_api.detach(token)
            wait(futures, timeout=60)

        return submits

    try:
        ours = Side(driver(ThreadPoolExecutor.submit, tracers[0]), processors[0], 1, _check_parents(True))
        baseline = Side(driver(ORIGINAL_SUBMIT, tracers[1]), processors[1], 1, _check_parents(False))
        interleave(ours, baseline, mode, result)
    finally:
        pool.shutdown(wait=True)
    return result
