"""A handler on the root logger never feeds logfire's own export back into itself, even with the collector down;
and inside an ASGI app, `logging` calls land under the request span while uvicorn's own loggers stay out."""

from __future__ import annotations

import asyncio
import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.trace import SpanKind

import logfire
from logfire._internal.integrations.asgi import Receive, Scope, Send
from logfire.testing import CaptureLogfire

from .conftest import clean_env, otel_env
from .otlp_receiver import OTLPReceiver
from .test_export import Child, names_in, trace_requests
from .uvicorn_server import UvicornServer

ROOT_HANDLER_PROGRAM = textwrap.dedent("""
    import logging, sys
    import logfire

    logfire.configure(console=False, inspect_arguments=False)
    root = logging.getLogger()
    root.addHandler(logfire.LogfireLoggingHandler())
    root.setLevel(logging.DEBUG)  # every library's debug records reach the handler too

    for i in range(5):
        logging.getLogger('app').info('user log %d', i)
    logfire.force_flush(1500)  # the collector is down: this fails, and logs about it; a retry is queued
    print('ready', flush=True)
    sys.stdin.readline()  # the collector comes back
    print('flushed', flush=True)
""")


def test_a_root_handler_with_the_collector_down_neither_recurses_nor_multiplies_records(
    tmp_path: Path,
) -> None:
    with OTLPReceiver() as rx:
        rx.go_away()
        child = Child(ROOT_HANDLER_PROGRAM, otel_env(rx, tmp_path))
        child.wait_ready(timeout=30)
        rx.come_back()
        rx.wait_for_spans(5, timeout=30)  # the retry delivers the queued batch
        stdout, stderr = child.finish(timeout=60)
        requests = trace_requests(rx)

    assert child.proc.returncode == 0, stderr
    assert 'flushed' in stdout
    accepted = [name for request in requests if request.accepted for name in names_in(request)]
    assert sorted(accepted) == ['user log %d'] * 5  # each user record once, and nothing else
    assert all(set(names_in(request)) == {'user log %d'} for request in requests if request.request is not None)
    assert len([request for request in requests if request.accepted]) == 1
    # What logfire and the HTTP client said while exporting went to the fallback (stderr), a bounded amount.
    assert 1 <= stderr.count('Problem exporting spans') <= 2, stderr
    assert 'Starting new HTTP connection' in stderr
    assert 'user log' not in stderr
    assert len(stderr.splitlines()) < 50, stderr


# ---- inside an ASGI request ---------------------------------------------------------------------------------


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    logging.getLogger('app.views').info('handling %s', scope['path'])
    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
    await send({'type': 'http.response.body', 'body': b'ok'})


@pytest.fixture
def app_logger(capfire: CaptureLogfire) -> Iterator[None]:
    logger = logging.getLogger('app')
    handler = logfire.LogfireLoggingHandler()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield
    logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


def test_a_log_in_an_asgi_handler_lands_under_the_request_span(capfire: CaptureLogfire, app_logger: None) -> None:
    instrumented = logfire.instrument_asgi(app)

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(instrumented)
        async with httpx.AsyncClient(transport=transport, base_url='http://testserver') as client:
            return await client.get('/orders')

    assert asyncio.run(run()).text == 'ok'
    [log] = [span for span in capfire.exporter.exported_spans if span.name == 'handling %s']
    [request] = [span for span in capfire.exporter.exported_spans if span.kind is SpanKind.SERVER]
    assert log.parent is not None and request.context is not None
    assert log.parent.span_id == request.context.span_id
    assert log.attributes is not None and log.attributes['logfire.msg'] == 'handling /orders'


UVICORN_APP = textwrap.dedent("""
    import logging
    import logfire

    logfire.configure(send_to_logfire=False, inspect_arguments=False)
    logging.basicConfig(handlers=[logfire.LogfireLoggingHandler()], level=logging.INFO)


    async def app(scope, receive, send):
        if scope['type'] != 'http':
            return
        logging.getLogger('app').info('handled %s', scope['path'])
        await send({'type': 'http.response.start', 'status': 200, 'headers': []})
        await send({'type': 'http.response.body', 'body': b'ok'})


    app = logfire.instrument_asgi(app)
""")


def test_under_uvicorn_app_logs_are_captured_and_uvicorn_s_own_loggers_are_not(tmp_path: Path) -> None:
    (tmp_path / 'main.py').write_text(UVICORN_APP)
    with UvicornServer('main:app', cwd=tmp_path, env=clean_env()) as server:
        assert httpx.get(f'{server.url}/orders', timeout=10).status_code == 200
    output = server.output
    assert output is not None
    console = [line for line in output.stdout.splitlines() if line[:2].isdigit()]  # logfire's console lines
    assert any(line.rstrip().endswith('handled /orders') for line in console), output.stdout
    assert not any('HTTP/1.1' in line or 'Uvicorn running' in line for line in console), output.stdout
    # uvicorn's access log still goes where uvicorn sends it.
    assert 'GET /orders HTTP/1.1' in output.stdout + output.stderr
