"""Stories about `logfire.instrument_asgi()`: in-process through httpx's ASGI transport, and under real uvicorn."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import re
import sys
import textwrap
import weakref
from collections.abc import AsyncGenerator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from inline_snapshot import snapshot
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

import logfire
from logfire._internal.integrations.asgi import ASGIApp, Message, Receive, Scope, Send
from logfire.testing import CaptureLogfire

from ..conftest import ROOT, clean_env, run_python
from ..otlp_receiver import OTLPReceiver, ReceivedSpan
from ..uvicorn_server import UvicornServer, port_is_free

GUIDE = ROOT.parent / 'shared' / 'reference' / 'asgi-guide.md'
TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'


# ---- apps and drivers -----------------------------------------------------------------------------


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    """A bare ASGI app: `/status/<code>` answers that code, `/boom` raises, anything else logs and says hello."""
    path: str = scope['path']
    if path == '/boom':
        raise ValueError('boom')
    status = int(path.rsplit('/', 1)[1]) if path.startswith('/status/') else 200
    with logfire.span('handling {path}', path=path):
        logfire.info('inside')
        await asyncio.sleep(0)
    headers = [(b'content-type', b'text/plain'), (b'x-reply', b'yes'), (b'set-cookie', b'session=abc')]
    await send({'type': 'http.response.start', 'status': status, 'headers': headers})
    await send({'type': 'http.response.body', 'body': b'hello'})


def get(app: ASGIApp, *paths: str, raise_app_exceptions: bool = True, **kwargs: Any) -> list[httpx.Response]:
    """GET each path in turn from `app`, in-process."""

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url='http://testserver') as client:
            return [await client.get(path, **kwargs) for path in paths]

    return asyncio.run(run())


def server_spans(capfire: CaptureLogfire) -> list[ReadableSpan]:
    return [s for s in capfire.exporter.exported_spans if s.kind is trace.SpanKind.SERVER]


def metric_points(capfire: CaptureLogfire, name: str) -> int:
    for metric in capfire.get_collected_metrics():
        if metric['name'] == name:
            return sum(point['count'] for point in metric['data']['data_points'])
    return 0


class StartRecorder(SpanProcessor):
    """Remembers each span's attributes as they were when it started (what the console's start line sees)."""

    def __init__(self) -> None:
        self.started: list[dict[str, Any]] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.started.append(dict(span.attributes or {}))


@pytest.fixture
def local_logfire() -> Iterator[tuple[logfire.Logfire, StartRecorder]]:
    recorder = StartRecorder()
    instance = logfire.configure(
        local=True, send_to_logfire=False, console=False, additional_span_processors=[recorder], metrics=False
    )
    yield instance, recorder
    instance.shutdown()


# ---- the basic request ------------------------------------------------------------------------------


def test_a_request_is_one_server_span_with_the_user_spans_inside(capfire: CaptureLogfire) -> None:
    app = logfire.instrument_asgi(hello)
    [response] = get(app, '/items?q=1&name=two')
    assert response.text == 'hello'
    assert capfire.exporter.exported_spans_as_dict() == snapshot(
        [
            {
                'name': 'inside',
                'context': {'trace_id': 1, 'span_id': 3, 'is_remote': False},
                'parent': {'trace_id': 1, 'span_id': 2, 'is_remote': False},
                'start_time': 3000000000,
                'end_time': 3000000000,
                'attributes': {
                    'code.filepath': 'test_asgi.py',
                    'code.lineno': 123,
                    'code.function': 'hello',
                    'logfire.msg_template': 'inside',
                    'logfire.msg': 'inside',
                    'logfire.span_type': 'log',
                    'logfire.level_num': 9,
                },
            },
            {
                'name': 'handling {path}',
                'context': {'trace_id': 1, 'span_id': 2, 'is_remote': False},
                'parent': {'trace_id': 1, 'span_id': 1, 'is_remote': False},
                'start_time': 2000000000,
                'end_time': 4000000000,
                'attributes': {
                    'path': '/items',
                    'code.filepath': 'test_asgi.py',
                    'code.lineno': 123,
                    'code.function': 'hello',
                    'logfire.msg_template': 'handling {path}',
                    'logfire.msg': 'handling /items',
                    'logfire.json_schema': '{"type":"object","properties":{"path":{}}}',
                    'logfire.span_type': 'span',
                },
            },
            {
                'name': 'GET',
                'context': {'trace_id': 1, 'span_id': 1, 'is_remote': False},
                'parent': None,
                'start_time': 1000000000,
                'end_time': 5000000000,
                'attributes': {
                    'logfire.msg': "GET /items ? q='1' & name='two'",
                    'logfire.span_type': 'span',
                    'http.scheme': 'http',
                    'http.host': 'testserver:None',
                    'http.flavor': '1.1',
                    'http.target': '/items',
                    'http.url': 'http://testserver/items?q=1&name=two',
                    'http.method': 'GET',
                    'http.server_name': 'testserver',
                    'http.user_agent': f'python-httpx/{httpx.__version__}',
                    'net.peer.ip': '127.0.0.1',
                    'net.peer.port': 123,
                    'http.status_code': 200,
                },
            },
        ]
    )


def test_the_message_is_set_when_the_span_starts(
    capfire: CaptureLogfire, local_logfire: tuple[logfire.Logfire, StartRecorder]
) -> None:
    instance, recorder = local_logfire
    get(instance.instrument_asgi(hello), '/items?q=1&long_parameter_name_here=a%20very%20long%20value%20indeed')
    server_start = next(attributes for attributes in recorder.started if 'http.method' in attributes)
    assert server_start['logfire.msg'] == snapshot("GET /items ? q='1' & long_para…name_here='a very lo…ue indeed'")


def test_status_codes_set_the_level(capfire: CaptureLogfire) -> None:
    get(logfire.instrument_asgi(hello), '/status/200', '/status/404', '/status/503')
    outcome = [
        (attributes['http.status_code'], attributes.get('logfire.level_num'), span.status.status_code)
        for span in server_spans(capfire)
        for attributes in [dict(span.attributes or {})]
    ]
    assert outcome == [(200, None, StatusCode.UNSET), (404, 13, StatusCode.UNSET), (503, 17, StatusCode.ERROR)]


def test_an_unhandled_exception_is_recorded_as_a_500_and_propagates(capfire: CaptureLogfire) -> None:
    app = logfire.instrument_asgi(hello)
    with pytest.raises(ValueError, match='boom'):
        get(app, '/boom')
    [response] = get(app, '/boom', raise_app_exceptions=False)
    assert response.status_code == 500
    span = server_spans(capfire)[0]
    assert span.status.status_code is StatusCode.ERROR
    attributes = dict(span.attributes or {})
    assert (attributes['http.status_code'], attributes['error.type'], attributes['logfire.level_num']) == (
        500,
        'ValueError',
        17,
    )
    assert [event.name for event in span.events] == ['exception']


def test_an_exception_after_the_response_started_keeps_the_status_code_but_is_an_error(
    capfire: CaptureLogfire,
) -> None:
    async def broken_stream(scope: Scope, receive: Receive, send: Send) -> None:
        await send({'type': 'http.response.start', 'status': 200, 'headers': []})
        await send({'type': 'http.response.body', 'body': b'partial', 'more_body': True})
        raise RuntimeError('stream broke')

    with pytest.raises(RuntimeError):
        get(logfire.instrument_asgi(broken_stream), '/')
    [span] = server_spans(capfire)
    attributes = dict(span.attributes or {})
    assert (attributes['http.status_code'], attributes['error.type'], attributes['logfire.level_num']) == (
        200,
        'RuntimeError',
        17,
    )
    assert span.status.status_code is StatusCode.ERROR


def test_an_incoming_traceparent_makes_the_server_span_a_child_of_the_remote_trace(capfire: CaptureLogfire) -> None:
    get(logfire.instrument_asgi(hello), '/', headers={'traceparent': TRACEPARENT})
    [span] = server_spans(capfire)
    assert span.context is not None and span.parent is not None
    assert span.context.trace_id == int('0af7651916cd43dd8448eb211c80319c', 16)
    assert (span.parent.span_id, span.parent.is_remote) == (int('b7ad6b7169203331', 16), True)


def test_metrics_go_to_the_shared_meter_provider(capfire: CaptureLogfire) -> None:
    get(logfire.instrument_asgi(hello), '/', '/status/404')
    names = {metric['name'] for metric in capfire.get_collected_metrics()}
    assert {'http.server.duration', 'http.server.active_requests'} <= names
    assert metric_points(capfire, 'http.server.duration') == 2


# ---- span names ----------------------------------------------------------------------------------


async def user_endpoint(request: Request) -> Response:
    logfire.info('loading user {user_id}', user_id=request.path_params['user_id'])
    return PlainTextResponse('user')


def starlette_app() -> Starlette:
    return Starlette(routes=[Route('/users/{user_id:int}', user_endpoint), Mount('/files', app=hello)])


def test_span_name_is_the_method_plus_the_route_once_the_framework_matched_it(capfire: CaptureLogfire) -> None:
    get(logfire.instrument_asgi(starlette_app()), '/users/42?tab=posts', '/files/a/b.txt', '/nowhere')
    first, mounted, unmatched = server_spans(capfire)
    attributes = dict(first.attributes or {})
    assert (first.name, attributes['http.route']) == ('GET /users/{user_id}', '/users/{user_id}')
    assert attributes['logfire.msg'] == "GET /users/42 ? tab='posts'"
    assert mounted.name == 'GET /files/{path}'
    assert unmatched.name == 'GET'  # no route matched: the path never becomes the name


def test_a_span_name_from_default_span_details_is_never_changed(capfire: CaptureLogfire) -> None:
    app = logfire.instrument_asgi(starlette_app(), default_span_details=lambda scope: ('custom name', {'x': 1}))
    get(app, '/users/42')
    [span] = server_spans(capfire)
    assert span.name == 'custom name'
    assert dict(span.attributes or {})['x'] == 1


def test_an_unknown_method_is_named_http(capfire: CaptureLogfire) -> None:
    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(logfire.instrument_asgi(hello))) as client:
            await client.request('BREW', 'http://testserver/')

    asyncio.run(run())
    assert [s.name for s in server_spans(capfire)] == ['HTTP']


# ---- send / receive spans -------------------------------------------------------------------------


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    body = b''
    while True:
        message = await receive()
        body += message.get('body', b'')
        if not message.get('more_body'):
            break
    logfire.info('echoing')
    await send({'type': 'http.response.start', 'status': 201, 'headers': []})
    await send({'type': 'http.response.body', 'body': body})


def test_send_and_receive_spans_are_off_by_default_and_user_spans_attach_to_the_request(
    capfire: CaptureLogfire,
) -> None:
    asyncio.run(_post(logfire.instrument_asgi(echo)))
    spans = capfire.exporter.exported_spans_as_dict()
    assert [s['name'] for s in spans] == ['echoing', 'POST']
    assert spans[0]['parent'] == spans[1]['context']
    assert spans[1]['attributes']['http.status_code'] == 201


def test_record_send_receive_records_them_at_debug_level(capfire: CaptureLogfire) -> None:
    asyncio.run(_post(logfire.instrument_asgi(echo, record_send_receive=True)))
    spans = capfire.exporter.exported_spans_as_dict()
    assert [(s['name'], s['attributes'].get('logfire.level_num')) for s in spans] == snapshot(
        [
            ('POST http receive', 5),
            ('POST http receive', 5),
            ('echoing', 9),
            ('POST http send', 5),
            ('POST http send', 5),
            ('POST', None),
        ]
    )
    assert spans[-1]['attributes']['http.status_code'] == 201


async def _post(app: ASGIApp) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url='http://testserver') as client:
        response = await client.post('/', content=b'ping')
        assert (response.status_code, response.content) == (201, b'ping')


# ---- excluded URLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize('excluded_urls', ['/health$,/metrics', ['/health$', '/metrics']], ids=['string', 'list'])
def test_excluded_urls_record_nothing_not_even_the_spans_inside(
    capfire: CaptureLogfire, excluded_urls: str | list[str]
) -> None:
    app = logfire.instrument_asgi(hello, excluded_urls=excluded_urls)
    responses = get(app, '/health', '/metrics/x', '/healthz')
    assert [r.text for r in responses] == ['hello'] * 3
    spans = capfire.exporter.exported_spans_as_dict()
    assert [s['attributes'].get('logfire.msg') for s in spans if s['parent'] is None] == ['GET /healthz']
    assert len(spans) == 3  # /healthz only: the anchored pattern does not match it
    assert metric_points(capfire, 'http.server.duration') == 1


@pytest.mark.parametrize('variable', ['OTEL_PYTHON_ASGI_EXCLUDED_URLS', 'OTEL_PYTHON_EXCLUDED_URLS'])
def test_excluded_urls_fall_back_to_the_environment(
    capfire: CaptureLogfire, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, 'health$, /ready')
    get(logfire.instrument_asgi(hello), '/health', '/ready', '/')
    assert [s.attributes and s.attributes['http.target'] for s in server_spans(capfire)] == ['/']


def test_the_asgi_variable_beats_the_generic_one_and_the_kwarg_beats_both(
    capfire: CaptureLogfire, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv('OTEL_PYTHON_ASGI_EXCLUDED_URLS', '/a$')
    monkeypatch.setenv('OTEL_PYTHON_EXCLUDED_URLS', '/b$')
    get(logfire.instrument_asgi(hello), '/a', '/b')
    get(logfire.instrument_asgi(hello, excluded_urls=''), '/a')
    assert [s.attributes and s.attributes['http.target'] for s in server_spans(capfire)] == ['/b', '/a']


# ---- headers -----------------------------------------------------------------------------------------

REQUEST_HEADERS = {'X-Custom': '1', 'Authorization': 'Bearer secret-token'}


def _headers(span: ReadableSpan) -> dict[str, Any]:
    return {k: v for k, v in (span.attributes or {}).items() if '.header.' in k}


def test_capture_headers_records_all_headers_of_this_app_only_without_touching_the_environment(
    capfire: CaptureLogfire,
) -> None:
    environ = dict(os.environ)
    capturing, plain = logfire.instrument_asgi(hello, capture_headers=True), logfire.instrument_asgi(hello)
    get(capturing, '/', headers=REQUEST_HEADERS)
    get(plain, '/', headers=REQUEST_HEADERS)
    assert dict(os.environ) == environ
    first, second = server_spans(capfire)
    headers = _headers(first)
    assert headers['http.request.header.x_custom'] == ('1',)
    assert headers['http.response.header.x_reply'] == ('yes',)
    assert _headers(second) == {}


def test_credential_headers_are_recorded_under_the_standard_names_but_never_in_clear(
    capfire: CaptureLogfire,
) -> None:
    get(logfire.instrument_asgi(hello, capture_headers=True), '/', headers=REQUEST_HEADERS)
    headers = _headers(server_spans(capfire)[0])
    assert 'Bearer secret-token' not in str(headers['http.request.header.authorization'])
    assert 'session=abc' not in str(headers['http.response.header.set_cookie'])


def test_sanitize_fields_go_to_the_middleware_sanitiser(capfire: CaptureLogfire) -> None:
    app = logfire.instrument_asgi(hello, capture_headers=True, http_capture_headers_sanitize_fields=['x-custom'])
    get(app, '/', headers=REQUEST_HEADERS)
    assert _headers(server_spans(capfire)[0])['http.request.header.x_custom'] == ('[REDACTED]',)


def test_explicit_header_lists_and_otel_env_vars_keep_working(
    capfire: CaptureLogfire, monkeypatch: pytest.MonkeyPatch
) -> None:
    get(logfire.instrument_asgi(hello, http_capture_headers_server_request=['x-custom']), '/', headers=REQUEST_HEADERS)
    monkeypatch.setenv('OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE', 'x-reply')
    get(logfire.instrument_asgi(hello), '/', headers=REQUEST_HEADERS)
    first, second = server_spans(capfire)
    assert _headers(first) == {'http.request.header.x_custom': ('1',)}
    assert _headers(second) == {'http.response.header.x_reply': ('yes',)}


# ---- protocols ---------------------------------------------------------------------------------------


def test_lifespan_passes_straight_through(capfire: CaptureLogfire) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncGenerator[None, None]:
        events.append('startup')
        yield
        events.append('shutdown')

    app = logfire.instrument_asgi(Starlette(lifespan=lifespan))
    assert asyncio.run(run_lifespan(app)) == ['lifespan.startup.complete', 'lifespan.shutdown.complete']
    assert events == ['startup', 'shutdown']
    assert capfire.exporter.exported_spans == []


async def run_lifespan(app: ASGIApp) -> list[str]:
    """Drive the ASGI lifespan protocol: startup, then shutdown once startup completed."""
    incoming: asyncio.Queue[Message] = asyncio.Queue()
    incoming.put_nowait({'type': 'lifespan.startup'})
    sent: list[str] = []

    async def send(message: Message) -> None:
        sent.append(message['type'])
        if message['type'] == 'lifespan.startup.complete':
            incoming.put_nowait({'type': 'lifespan.shutdown'})

    await asyncio.wait_for(app({'type': 'lifespan', 'asgi': {'version': '3.0'}}, incoming.get, send), 5)
    return sent


async def websocket_session(app: ASGIApp, path: str, query: str, texts: Sequence[str]) -> list[str]:
    """Connect, send `texts`, and return the texts the app sent back (the app must close the socket)."""
    incoming: asyncio.Queue[Message] = asyncio.Queue()
    incoming.put_nowait({'type': 'websocket.connect'})
    for text in texts:
        incoming.put_nowait({'type': 'websocket.receive', 'text': text})
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        'type': 'websocket',
        'asgi': {'version': '3.0'},
        'scheme': 'ws',
        'http_version': '1.1',
        'path': path,
        'raw_path': path.encode(),
        'root_path': '',
        'query_string': query.encode(),
        'headers': [(b'host', b'testserver')],
        'server': ('testserver', 80),
        'client': ('127.0.0.1', 123),
        'subprotocols': [],
    }
    await asyncio.wait_for(app(scope, incoming.get, send), 5)
    assert [m['type'] for m in sent][0] == 'websocket.accept'
    return [m['text'] for m in sent if m['type'] == 'websocket.send']


async def chat(websocket: WebSocket) -> None:
    await websocket.accept()
    for _ in range(2):
        text = await websocket.receive_text()
        logfire.info('got {text}', text=text)
        await websocket.send_text(text.upper())
    await websocket.close()


@pytest.mark.parametrize('record_send_receive', [False, True])
def test_a_websocket_is_one_span_without_status_code(capfire: CaptureLogfire, record_send_receive: bool) -> None:
    app = logfire.instrument_asgi(
        Starlette(routes=[WebSocketRoute('/ws', chat)]), record_send_receive=record_send_receive
    )
    assert asyncio.run(websocket_session(app, '/ws', 'room=1', ['a', 'b'])) == ['A', 'B']
    spans = capfire.exporter.exported_spans_as_dict()
    server = spans[-1]
    assert (server['name'], server['attributes']['logfire.msg']) == ('WEBSOCKET /ws', "WEBSOCKET /ws ? room='1'")
    assert not any('status_code' in key for s in spans for key in s['attributes'])
    per_message = [s for s in spans if s['name'].endswith((' send', ' receive'))]
    if record_send_receive:
        assert per_message and all(s['attributes']['logfire.level_num'] == 5 for s in per_message)
    else:
        assert [s['name'] for s in spans] == ['got {text}', 'got {text}', 'WEBSOCKET /ws']


def test_a_streaming_response_span_ends_with_the_last_chunk(capfire: CaptureLogfire) -> None:
    recording_after_last_chunk: list[bool] = []

    async def stream(scope: Scope, receive: Receive, send: Send) -> None:
        await send({'type': 'http.response.start', 'status': 200, 'headers': []})
        for chunk in (b'a', b'b'):
            await send({'type': 'http.response.body', 'body': chunk, 'more_body': True})
        await send({'type': 'http.response.body', 'body': b'c'})
        recording_after_last_chunk.append(trace.get_current_span().is_recording())

    [response] = get(logfire.instrument_asgi(stream), '/')
    assert response.content == b'abc'
    assert recording_after_last_chunk == [False]
    assert len(server_spans(capfire)) == 1


# ---- idempotence, nesting, load ----------------------------------------------------------------------


def test_instrumenting_twice_returns_the_same_app(capfire: CaptureLogfire) -> None:
    app = logfire.instrument_asgi(hello)
    assert logfire.instrument_asgi(app) is app
    assert logfire.instrument_asgi(app, capture_headers=True) is app


def test_nested_instrumented_apps_give_one_server_span_per_request(
    capfire: CaptureLogfire, caplog: pytest.LogCaptureFixture
) -> None:
    inner = logfire.instrument_asgi(starlette_app())
    outer = logfire.instrument_asgi(Starlette(routes=[Mount('/api', app=inner)]))
    with caplog.at_level(logging.WARNING):
        responses = get(outer, '/api/users/7', '/api/users/8')
    assert [r.text for r in responses] == ['user', 'user']
    spans = capfire.exporter.exported_spans_as_dict()
    assert [s['name'] for s in spans] == ['loading user {user_id}', 'GET /api/users/{user_id}'] * 2
    assert caplog.records == []


def test_a_separate_in_process_request_made_while_handling_one_gets_its_own_span(capfire: CaptureLogfire) -> None:
    backend = logfire.instrument_asgi(hello)

    async def frontend(scope: Scope, receive: Receive, send: Send) -> None:
        [response] = await asyncio.to_thread(get, backend, '/backend')
        await send({'type': 'http.response.start', 'status': response.status_code, 'headers': []})
        await send({'type': 'http.response.body', 'body': response.content})

    get(logfire.instrument_asgi(frontend), '/frontend')
    messages = [s['attributes'].get('logfire.msg') for s in capfire.exporter.exported_spans_as_dict()]
    assert [m for m in messages if m and m.startswith('GET')] == ['GET /backend', 'GET /frontend']


def test_instrumented_apps_stay_garbage_collectable(capfire: CaptureLogfire) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await hello(scope, receive, send)

    ref = weakref.ref(app)
    wrapped = logfire.instrument_asgi(app)
    get(wrapped, '/')
    del app, wrapped
    gc.collect()
    assert ref() is None


def test_two_hundred_concurrent_requests_give_two_hundred_separate_traces(capfire: CaptureLogfire) -> None:
    app = logfire.instrument_asgi(hello)

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url='http://testserver') as client:
            responses = await asyncio.gather(*(client.get(f'/r{i}') for i in range(200)))
        assert {r.status_code for r in responses} == {200}

    asyncio.run(run())
    spans = capfire.exporter.exported_spans_as_dict()
    servers = {s['context']['span_id']: s for s in spans if s['name'] == 'GET'}
    assert len(servers) == 200
    assert len({s['context']['trace_id'] for s in servers.values()}) == 200
    handling = [s for s in spans if s['name'] == 'handling {path}']
    for span in handling:  # each request's own spans sit in its own trace, under its own server span
        parent = servers[span['parent']['span_id']]
        assert parent['attributes']['http.target'] == span['attributes']['path']


def test_instrumenting_before_configure_warns_once_then_records_after_configure() -> None:
    code = textwrap.dedent(
        """
        import asyncio, json, warnings
        import httpx, logfire
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from logfire.testing import TestExporter

        async def raw(scope, receive, send):
            logfire.info('inside')
            await send({'type': 'http.response.start', 'status': 200, 'headers': []})
            await send({'type': 'http.response.body', 'body': b'ok'})

        async def hit():
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url='http://t') as client:
                assert (await client.get('/')).text == 'ok'

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            app = logfire.instrument_asgi(raw)
            logfire.instrument_asgi(raw)
            asyncio.run(hit())
            asyncio.run(hit())
        exporter = TestExporter()
        processors = [SimpleSpanProcessor(exporter)]
        logfire.configure(send_to_logfire=False, console=False, additional_span_processors=processors)
        asyncio.run(hit())
        print(json.dumps({
            'warnings': [(w.category.__name__, w.filename, str(w.message)) for w in caught],
            'spans': [s.name for s in exporter.exported_spans],
        }))
        """
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output['spans'] == ['inside', 'GET']
    # One warning, at the user's call to the facade, naming it and the fix.
    [(category, filename, message)] = output['warnings']
    assert (category, filename) == ('LogfireNotConfiguredWarning', '<string>')
    assert message.startswith('logfire.instrument_asgi() was called before `logfire.configure()`')
    assert 'Call `logfire.configure()` first' in message


SEMCONV = textwrap.dedent(
    """
    import asyncio, json
    import httpx, logfire
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from logfire.testing import TestExporter

    exporter, reader = TestExporter(), InMemoryMetricReader()
    logfire.configure(
        send_to_logfire=False,
        console=False,
        additional_span_processors=[SimpleSpanProcessor(exporter)],
        metrics=logfire.MetricsOptions(additional_readers=[reader]),
    )

    async def raw(scope, receive, send):
        await send({'type': 'http.response.start', 'status': 404, 'headers': []})
        await send({'type': 'http.response.body', 'body': b''})

    async def boom(scope, receive, send):
        raise ValueError('boom')

    async def hit():
        transport = httpx.ASGITransport(logfire.instrument_asgi(raw))
        async with httpx.AsyncClient(transport=transport, base_url='http://t') as client:
            await client.get('/p?q=1')
        transport = httpx.ASGITransport(logfire.instrument_asgi(boom), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url='http://t') as client:
            await client.get('/boom')

    asyncio.run(hit())
    span, failed = exporter.exported_spans
    data = reader.get_metrics_data()
    metrics = sorted(m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics)
    keys = ['logfire.msg', 'logfire.level_num', 'http.method', 'http.request.method', 'http.target', 'url.path',
            'url.query', 'http.status_code', 'http.response.status_code']
    status = {k: v for k, v in failed.attributes.items() if k.endswith('status_code')}
    print(json.dumps({'attributes': {k: span.attributes.get(k) for k in keys}, 'metrics': metrics, 'failed': status}))
    """
)


@pytest.mark.parametrize('opt_in', ['', 'http', 'http/dup'])
def test_semconv_stability_opt_in_is_honoured_by_message_level_and_metrics(opt_in: str) -> None:
    result = run_python(SEMCONV, env=clean_env(OTEL_SEMCONV_STABILITY_OPT_IN=opt_in))
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    attributes = {k: v for k, v in output['attributes'].items() if v is not None}
    assert (attributes.pop('logfire.msg'), attributes.pop('logfire.level_num')) == ("GET /p ? q='1'", 13)
    old = {'http.method': 'GET', 'http.target': '/p', 'http.status_code': 404}
    new = {'http.request.method': 'GET', 'url.path': '/p', 'url.query': 'q=1', 'http.response.status_code': 404}
    assert attributes == {'': old, 'http': new, 'http/dup': old | new}[opt_in]
    # An app that raised before responding: status code 500 under the same conventions.
    old_status, new_status = {'http.status_code': 500}, {'http.response.status_code': 500}
    assert output['failed'] == {'': old_status, 'http': new_status, 'http/dup': old_status | new_status}[opt_in]
    old_metric, new_metric = 'http.server.duration', 'http.server.request.duration'
    assert (old_metric in output['metrics'], new_metric in output['metrics']) == {
        '': (True, False),
        'http': (False, True),
        'http/dup': (True, True),
    }[opt_in]


# ---- real uvicorn in a subprocess -----------------------------------------------------------------------

SERVER_APP = textwrap.dedent(
    """
    import asyncio
    import logfire

    logfire.configure(service_name='asgi-stories')


    async def raw(scope, receive, send):
        if scope['type'] == 'lifespan':
            while True:
                message = await receive()
                kind = message['type'].split('.')[-1]
                print(f'lifespan {kind}', flush=True)
                await send({'type': f'lifespan.{kind}.complete'})
                if kind == 'shutdown':
                    return
        path = scope['path']
        if path == '/forever':
            return await forever(receive, send)
        with logfire.span('handling {path}', path=path):
            logfire.info('inside')
        await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
        if path == '/stream':
            for chunk in (b'a', b'b'):
                await send({'type': 'http.response.body', 'body': chunk, 'more_body': True})
                await asyncio.sleep(0.01)
        await send({'type': 'http.response.body', 'body': path.encode()})
        logfire.info('after the last chunk')


    async def forever(receive, send):
        await send({'type': 'http.response.start', 'status': 200, 'headers': []})
        disconnected = asyncio.create_task(receive())
        try:
            while not disconnected.done():
                await send({'type': 'http.response.body', 'body': b'tick\\n', 'more_body': True})
                await asyncio.sleep(0.02)
        except OSError:
            pass
        logfire.info('client went away')


    app = logfire.instrument_asgi(raw, OPTIONS)
    """
)


def server_env(rx: OTLPReceiver, **extra: str) -> dict[str, str]:
    return clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=rx.endpoint,
        LOGFIRE_SEND_TO_LOGFIRE='false',
        LOGFIRE_CONSOLE='false',
        OTEL_BSP_SCHEDULE_DELAY='100',
        **extra,
    )


def write_app(tmp_path: Path, options: str = '') -> Path:
    (tmp_path / 'stories.py').write_text(SERVER_APP.replace('OPTIONS', options or '**{}'))
    return tmp_path


def spans_named(spans: Sequence[ReceivedSpan], name: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.name == name]


def guide_program() -> str:
    match = re.search(r'```py title="main.py"\n(.*?)```', GUIDE.read_text(), re.DOTALL)
    assert match, 'the guide has no main.py code block'
    return match.group(1)


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as rx:
        yield rx


def test_the_example_is_the_guide_program_verbatim() -> None:
    assert (ROOT / 'examples' / 'asgi_app.py').read_text() == guide_program()


def test_the_guide_program_runs_unchanged_under_uvicorn(tmp_path: Path, receiver: OTLPReceiver) -> None:
    (tmp_path / 'main.py').write_text(guide_program())
    env = server_env(receiver)
    del env['LOGFIRE_CONSOLE']  # as the guide runs it: console on
    with UvicornServer('main:app', cwd=tmp_path, env=env) as server:
        response = httpx.get(f'{server.url}/?q=1', timeout=5)
        assert (response.status_code, response.text) == (200, 'Hello, world!')
        [span] = receiver.wait_for_spans(1)
    assert (span.name, span.attributes['logfire.msg'], span.attributes['http.status_code']) == (
        'GET',
        "GET / ? q='1'",
        200,
    )
    output = server.stop()
    assert 'Traceback' not in output.stderr, output.stderr
    assert "GET / ? q='1'" in output.stdout


def test_the_guide_program_runs_with_python_main_py_on_port_8000(tmp_path: Path, receiver: OTLPReceiver) -> None:
    if not port_is_free(8000):
        pytest.skip('port 8000 is busy')
    (tmp_path / 'main.py').write_text(guide_program())
    command = [sys.executable, 'main.py']
    with UvicornServer(cwd=tmp_path, env=server_env(receiver), port=8000, command=command) as server:
        assert httpx.get(f'{server.url}/', timeout=5).text == 'Hello, world!'
        [span] = receiver.wait_for_spans(1)
    assert span.attributes['logfire.msg'] == 'GET /'


def test_the_starlette_example_uses_the_middleware_factory(receiver: OTLPReceiver) -> None:
    with UvicornServer('starlette_app:app', cwd=ROOT / 'examples', env=server_env(receiver)) as server:
        assert httpx.get(f'{server.url}/health', timeout=5).text == 'ok'
        assert httpx.get(f'{server.url}/users/42', timeout=5).json() == {'id': 42, 'name': 'user-42'}
        spans = receiver.wait_for_spans(2)
    assert sorted(s.name for s in spans) == ['GET /users/{user_id}', 'loading user {user_id}']


def test_keep_alive_requests_never_nest_and_lifespan_has_no_span(tmp_path: Path, receiver: OTLPReceiver) -> None:
    with UvicornServer('stories:app', cwd=write_app(tmp_path), env=server_env(receiver)) as server:
        with httpx.Client(base_url=server.url, timeout=5) as client:
            assert [client.get(f'/k{i}').text for i in range(3)] == ['/k0', '/k1', '/k2']
        spans = receiver.wait_for_spans(3 * 4)
    output = server.stop()
    servers = spans_named(spans, 'GET')
    assert len(servers) == 3
    assert all(s.parent_span_id is None for s in servers)
    assert len({s.trace_id for s in servers}) == 3
    assert 'lifespan startup' in output.stdout and 'lifespan shutdown' in output.stdout
    assert not [s for s in receiver.spans() if 'lifespan' in s.name]


def test_excluded_urls_from_the_environment_under_uvicorn(tmp_path: Path, receiver: OTLPReceiver) -> None:
    env = server_env(receiver, OTEL_PYTHON_EXCLUDED_URLS='/health$')
    with UvicornServer('stories:app', cwd=write_app(tmp_path), env=env) as server:
        assert httpx.get(f'{server.url}/health', timeout=5).text == '/health'
        assert httpx.get(f'{server.url}/ok', timeout=5).text == '/ok'
        spans = receiver.wait_for_spans(4)
    assert {s.trace_id for s in spans} == {spans_named(spans, 'GET')[0].trace_id}
    assert sorted(s.attributes.get('path', '') for s in spans) == ['', '', '', '/ok']


def test_a_streaming_span_ends_after_the_last_chunk_or_the_client_disconnect(
    tmp_path: Path, receiver: OTLPReceiver
) -> None:
    with UvicornServer('stories:app', cwd=write_app(tmp_path), env=server_env(receiver)) as server:
        assert httpx.get(f'{server.url}/stream', timeout=5).text == 'ab/stream'
        with httpx.stream('GET', f'{server.url}/forever', timeout=5) as response:
            assert next(response.iter_lines()) == 'tick'
        receiver.wait_until(lambda: len(spans_named(receiver.spans(), 'client went away')) == 1, 10, 'disconnect')
        spans = receiver.wait_for_spans(6)
    stream, forever = sorted(spans_named(spans, 'GET'), key=lambda s: s.span.start_time_unix_nano)
    [after] = spans_named(spans, 'after the last chunk')
    assert stream.span.end_time_unix_nano <= after.span.start_time_unix_nano
    assert forever.attributes['http.target'] == '/forever'


def test_a_traceparent_under_uvicorn_joins_the_remote_trace(tmp_path: Path, receiver: OTLPReceiver) -> None:
    env = server_env(receiver, LOGFIRE_DISTRIBUTED_TRACING='true')
    with UvicornServer('stories:app', cwd=write_app(tmp_path), env=env) as server:
        httpx.get(f'{server.url}/t', headers={'traceparent': TRACEPARENT}, timeout=5)
        spans = receiver.wait_for_spans(3)
    [server_span] = spans_named(spans, 'GET')
    assert (server_span.trace_id, server_span.parent_span_id) == (
        '0af7651916cd43dd8448eb211c80319c',
        'b7ad6b7169203331',
    )
    assert {s.trace_id for s in spans} == {server_span.trace_id}


def test_capture_headers_and_metrics_under_uvicorn(tmp_path: Path, receiver: OTLPReceiver) -> None:
    options = "capture_headers=True, http_capture_headers_sanitize_fields=['x-custom']"
    with UvicornServer('stories:app', cwd=write_app(tmp_path, options), env=server_env(receiver)) as server:
        httpx.get(f'{server.url}/h', headers=REQUEST_HEADERS, timeout=5)
        [server_span] = spans_named(receiver.wait_for_spans(3), 'GET')
    server.stop()  # the exit flush sends the metrics
    receiver.wait_until(lambda: any(m.name == 'http.server.duration' for m in receiver.metrics()), 10, 'metrics')
    attributes = server_span.attributes
    assert attributes['http.request.header.x_custom'] == ['[REDACTED]']
    assert attributes['http.response.header.content_type'] == ['text/plain']
    assert 'secret-token' not in str(attributes['http.request.header.authorization'])


def test_the_send_an_app_gets_is_a_coroutine_function(capfire: CaptureLogfire) -> None:
    """Sync-to-async bridges (asgiref's `async_to_sync`, used by Django Channels) check what they wrap."""
    import inspect

    seen: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(inspect.iscoroutinefunction(send))
        await send({'type': 'http.response.start', 'status': 200, 'headers': []})
        await send({'type': 'http.response.body', 'body': b''})

    async def server_send(message: Message) -> None:
        pass

    async def server_receive() -> Message:
        return {'type': 'http.request', 'body': b'', 'more_body': False}

    scope: Scope = {'type': 'http', 'method': 'GET', 'path': '/', 'raw_path': b'/', 'query_string': b'', 'headers': []}
    instrumented = logfire.instrument_asgi(app)

    async def serve() -> None:
        await instrumented(scope, server_receive, server_send)

    asyncio.run(serve())
    assert seen == [True]
    assert [span.name for span in capfire.exporter.exported_spans] == ['GET']
