"""Stories about attacker-sized requests: what a client sends is cut to documented lengths, each cut marked."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import logfire
from logfire._internal.http_spans import (
    MAX_CAPTURED_HEADER_VALUES,
    MAX_HTTP_MESSAGE_LENGTH,
    MAX_HTTP_VALUE_LENGTH,
)
from logfire.testing import CaptureLogfire

from ..conftest import clean_env, run_python
from ..otlp_receiver import OTLPReceiver
from .test_asgi import get, hello, server_spans

LONG_PATH = '/' + 'p' * 10_000
LONG_QUERY = '&'.join(f'k{i}=v{i}' for i in range(2_000))  # httpx refuses URLs over 64 KiB
URL_KEYS = ('http.target', 'http.url', 'http.user_agent', 'http.host', 'http.server_name')


def headers_of(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if '.header.' in k}


def test_a_huge_path_query_and_user_agent_are_cut_in_the_message_and_the_attributes(capfire: CaptureLogfire) -> None:
    get(logfire.instrument_asgi(hello), f'{LONG_PATH}?{LONG_QUERY}', headers={'User-Agent': 'u' * 10_000})
    [span] = server_spans(capfire)
    attributes: dict[str, Any] = dict(span.attributes or {})

    message = attributes['logfire.msg']
    assert len(message) == MAX_HTTP_MESSAGE_LENGTH and message.startswith('GET /ppp') and message.endswith('…')
    for key in ('http.target', 'http.url', 'http.user_agent'):
        assert len(attributes[key]) == MAX_HTTP_VALUE_LENGTH and attributes[key].endswith('…'), key
    assert attributes['logfire.truncated'] is True


def test_a_span_name_made_from_the_path_is_cut_too(capfire: CaptureLogfire) -> None:
    app = logfire.instrument_asgi(hello, default_span_details=lambda scope: (f'GET {scope["path"]}', {}))
    get(app, LONG_PATH)
    [span] = server_spans(capfire)
    assert len(span.name) == MAX_HTTP_MESSAGE_LENGTH and span.name.endswith('…')
    assert (span.attributes or {})['logfire.truncated'] is True


def test_an_ordinary_request_is_not_marked(capfire: CaptureLogfire) -> None:
    get(logfire.instrument_asgi(hello, capture_headers=True), '/items?page=2', headers={'X-Custom': '1'})
    [span] = server_spans(capfire)
    attributes: dict[str, Any] = dict(span.attributes or {})
    assert attributes['logfire.msg'] == "GET /items ? page='2'"
    assert 'logfire.truncated' not in attributes


def test_captured_headers_are_capped_in_number_and_each_value_cut(capfire: CaptureLogfire) -> None:
    many = [(f'x-h{i:03d}', f'{i}') for i in range(200)] + [('x-big', 'b' * 10_000)]
    app = logfire.instrument_asgi(hello, capture_headers=True)
    get(app, '/', headers=[('x-big-first', 'b' * 10_000), *many])
    [span] = server_spans(capfire)
    attributes: dict[str, Any] = dict(span.attributes or {})
    request_headers = {k: v for k, v in headers_of(attributes).items() if k.startswith('http.request.')}

    assert sum(len(v) for v in request_headers.values()) == MAX_CAPTURED_HEADER_VALUES
    assert request_headers['http.request.header.x_big_first'] == ('b' * (MAX_HTTP_VALUE_LENGTH - 1) + '…',)
    assert 'http.request.header.x_big' not in request_headers  # past the cap: dropped
    assert attributes['http.response.header.x_reply'] == ('yes',)  # the response has its own budget
    assert attributes['logfire.truncated'] is True


STABLE_SEMCONV = """
    import asyncio, json
    import httpx, logfire
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from logfire.testing import TestExporter

    exporter = TestExporter()
    logfire.configure(send_to_logfire=False, console=False, additional_span_processors=[SimpleSpanProcessor(exporter)])

    async def raw(scope, receive, send):
        await send({'type': 'http.response.start', 'status': 200, 'headers': []})
        await send({'type': 'http.response.body', 'body': b''})

    async def hit():
        transport = httpx.ASGITransport(logfire.instrument_asgi(raw))
        async with httpx.AsyncClient(transport=transport, base_url='http://t') as client:
            await client.get('/p?x=' + 'q' * 3000, headers={'User-Agent': 'u' * 3000})

    asyncio.run(hit())
    [span] = exporter.exported_spans
    print(json.dumps(dict(span.attributes)))
"""


@pytest.mark.parametrize('opt_in', ['http', 'http/dup'])
def test_the_stable_http_conventions_are_bounded_too(opt_in: str) -> None:
    result = run_python(textwrap.dedent(STABLE_SEMCONV), env=clean_env(OTEL_SEMCONV_STABILITY_OPT_IN=opt_in))
    assert result.returncode == 0, result.stderr
    attributes = json.loads(result.stdout)
    assert attributes['logfire.msg'] == "GET /p ? x='qqqqqqqqq…qqqqqqqqq'"  # each query part is shortened anyway
    for key in ('url.query', 'user_agent.original'):
        assert len(attributes[key]) == MAX_HTTP_VALUE_LENGTH and attributes[key].endswith('…'), key
    assert attributes['logfire.truncated'] is True


SERVER = """
    import logfire

    logfire.configure(service_name='limits')


    async def raw(scope, receive, send):
        if scope['type'] != 'http':
            return
        await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
        await send({'type': 'http.response.body', 'body': b'ok'})


    app = logfire.instrument_asgi(raw, capture_headers=True)
"""


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as rx:
        yield rx


def test_a_request_with_a_megabyte_of_headers_under_uvicorn_is_bounded(tmp_path: Path, receiver: OTLPReceiver) -> None:
    from ..uvicorn_server import UvicornServer

    (tmp_path / 'limits.py').write_text(textwrap.dedent(SERVER))
    env = clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        LOGFIRE_SEND_TO_LOGFIRE='false',
        LOGFIRE_CONSOLE='false',
        OTEL_BSP_SCHEDULE_DELAY='100',
    )
    # h11 refuses a header block over 16 KiB by default; the server is told to take 4 MiB, so logfire sees it all.
    uvicorn_args = ['--http', 'h11', '--h11-max-incomplete-event-size', str(4 * 1024 * 1024)]
    headers = [(f'x-filler-{i:03d}', 'f' * 4_000) for i in range(250)]  # 1 MB
    headers += [('user-agent', 'u' * 20_000), ('host', 'h' * 20_000)]
    assert sum(len(k) + len(v) for k, v in headers) > 1_000_000
    with UvicornServer('limits:app', cwd=tmp_path, env=env, uvicorn_args=uvicorn_args) as server:
        response = httpx.get(f'{server.url}{LONG_PATH}?{LONG_QUERY}', headers=headers, timeout=10)
        assert response.text == 'ok'
        [span] = receiver.wait_for_spans(1)

    attributes = span.attributes
    assert len(span.name) <= MAX_HTTP_MESSAGE_LENGTH
    assert len(attributes['logfire.msg']) == MAX_HTTP_MESSAGE_LENGTH
    for key in URL_KEYS:
        assert len(attributes[key]) <= MAX_HTTP_VALUE_LENGTH, key
    captured = headers_of(attributes)
    assert sum(len(v) for k, v in captured.items() if k.startswith('http.request.')) == MAX_CAPTURED_HEADER_VALUES
    assert all(len(value) <= MAX_HTTP_VALUE_LENGTH for values in captured.values() for value in values)
    assert attributes['logfire.truncated'] is True
    assert len(str(attributes)) < 200_000  # about 64 values of 2 KiB, not a megabyte
