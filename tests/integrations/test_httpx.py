"""Stories about `logfire.instrument_httpx()`: real clients against a real server on 127.0.0.1.

One client at a time runs in this process; instrumenting every client patches httpx for the whole process, so
those stories run in a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Span, SpanContext, SpanKind

import logfire
from logfire.testing import CaptureLogfire

from ..conftest import run_python
from ..echo_server import EchoServer


@pytest.fixture
def server() -> Iterator[EchoServer]:
    with EchoServer() as echo:
        yield echo


def ctx(span: ReadableSpan) -> SpanContext:
    assert span.context is not None
    return span.context


def client_spans(capfire: CaptureLogfire) -> list[ReadableSpan]:
    return [s for s in capfire.exporter.exported_spans if s.kind is SpanKind.CLIENT]


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def test_a_request_is_one_client_span_inside_the_current_span(capfire: CaptureLogfire, server: EchoServer) -> None:
    with httpx.Client() as client:
        logfire.instrument_httpx(client)
        with logfire.span('checkout'):
            response = client.get(f'{server.url}/items/7?page=2')
    assert response.status_code == 200
    [span] = client_spans(capfire)
    [outer] = [s for s in capfire.exporter.exported_spans if s.name == 'checkout']
    assert span.name == 'GET'
    assert span.parent is not None and outer.context is not None
    assert (ctx(span).trace_id, span.parent.span_id) == (ctx(outer).trace_id, ctx(outer).span_id)
    assert {k: v for k, v in attributes(span).items() if k.startswith(('http.', 'logfire.'))} == {
        'http.method': 'GET',
        'http.url': f'{server.url}/items/7?page=2',
        'http.status_code': 200,
        'logfire.msg': f"GET {server.host}/items/7 ? page='2'",
        'logfire.span_type': 'span',
    }


def test_the_request_carries_a_traceparent_naming_the_client_span(capfire: CaptureLogfire, server: EchoServer) -> None:
    with httpx.Client() as client:
        logfire.instrument_httpx(client)
        received = client.get(server.url).json()
    [span] = client_spans(capfire)
    assert received['traceparent'] == f'00-{ctx(span).trace_id:032x}-{ctx(span).span_id:016x}-01'


def test_status_codes_set_the_level_5xx_error_4xx_warn(capfire: CaptureLogfire, server: EchoServer) -> None:
    with httpx.Client() as client:
        logfire.instrument_httpx(client)
        for code in (200, 404, 503):
            client.get(f'{server.url}/status/{code}')
    levels = [attributes(s).get('logfire.level_num') for s in client_spans(capfire)]
    assert levels == [None, 13, 17]


def test_query_values_that_look_secret_are_scrubbed_in_url_and_message(
    capfire: CaptureLogfire, server: EchoServer
) -> None:
    with httpx.Client() as client:
        logfire.instrument_httpx(client)
        client.get(f'{server.url}/search?api_key=hunter2&q=shoes')
    [span] = client_spans(capfire)
    assert 'hunter2' not in json.dumps(attributes(span))
    assert "q='shoes'" in attributes(span)['logfire.msg']
    assert attributes(span)['http.url'].endswith('&q=shoes')


def test_capture_headers_records_headers_and_redacts_credentials(capfire: CaptureLogfire, server: EchoServer) -> None:
    with httpx.Client() as client:
        logfire.instrument_httpx(client, capture_headers=True)
        client.get(server.url, headers={'Authorization': 'Bearer secret-token', 'X-Custom': 'yes'})
    [span] = client_spans(capfire)
    captured = attributes(span)
    assert captured['http.request.header.x_custom'] == ('yes',)
    assert captured['http.response.header.x_reply'] == ('yes',)
    assert 'secret-token' not in str(captured['http.request.header.authorization'])
    assert 'session=abc' not in str(captured['http.response.header.set_cookie'])


def test_instrumenting_a_client_twice_gives_one_span_per_request(capfire: CaptureLogfire, server: EchoServer) -> None:
    with httpx.Client() as client:
        logfire.instrument_httpx(client)
        logfire.instrument_httpx(client, capture_headers=True)
        client.get(server.url)
    [span] = client_spans(capfire)
    assert 'http.request.header.host' not in attributes(span)  # the second call changed nothing


def test_an_async_client_runs_sync_and_async_hooks_and_captures_headers(
    capfire: CaptureLogfire, server: EchoServer
) -> None:
    seen: list[str] = []

    async def on_request(span: Span, request: Any) -> None:
        seen.append('async request hook')

    def on_response(span: Span, request: Any, response: Any) -> None:
        seen.append(f'sync response hook {response.status_code}')

    async def run() -> None:
        async with httpx.AsyncClient() as client:
            logfire.instrument_httpx(client, capture_headers=True, request_hook=on_request, response_hook=on_response)
            with logfire.span('outer'):
                await client.get(f'{server.url}/status/404')

    asyncio.run(run())
    [span] = client_spans(capfire)
    assert seen == ['async request hook', 'sync response hook 404']
    assert attributes(span)['logfire.level_num'] == 13
    assert attributes(span)['http.response.header.x_reply'] == ('yes',)


EVERY_CLIENT = textwrap.dedent(
    """
    import asyncio, json
    import httpx
    import logfire
    from logfire.testing import TestExporter
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from tests.echo_server import EchoServer

    exporter = TestExporter()
    logfire.configure(send_to_logfire=False, console=False, additional_span_processors=[SimpleSpanProcessor(exporter)])
    early = httpx.Client()  # created before instrumenting: traced all the same
    alone = httpx.Client()
    logfire.instrument_httpx(alone)  # one client first, then every client: still one span
    logfire.instrument_httpx()
    logfire.instrument_httpx(capture_headers=True)  # a no-op
    late = httpx.Client()
    logfire.instrument_httpx(late)  # a no-op: every client is traced already


    async def get_async(url):
        async with httpx.AsyncClient() as client:
            return (await client.get(url)).json()


    with EchoServer() as server:
        with logfire.span('outer'):
            headers = [c.get(server.url).json() for c in (early, alone, late)]
            headers.append(httpx.get(server.url).json())
            headers.append(asyncio.run(get_async(server.url)))
    spans = [s for s in exporter.exported_spans if s.name == 'GET']
    print(json.dumps({
        'spans': len(spans),
        'messages': sorted({s.attributes['logfire.msg'].split(' ')[0] for s in spans}),
        'captured': sorted(k for s in spans for k in s.attributes if k.startswith('http.request.header')),
        'traceparents': [f'{s.context.span_id:016x}' in h['traceparent'] for s, h in zip(spans, headers)],
        'one_trace': len({s.context.trace_id for s in exporter.exported_spans}) == 1,
    }))
    """
)


def test_every_client_sync_and_async_is_traced_once_however_often_instrumented() -> None:
    result = run_python(EVERY_CLIENT)
    assert result.returncode == 0, result.stderr
    assert 'already instrumented' not in result.stderr
    assert json.loads(result.stdout) == {
        'spans': 5,
        'messages': ['GET'],
        'captured': [],
        'traceparents': [True] * 5,
        'one_trace': True,
    }
