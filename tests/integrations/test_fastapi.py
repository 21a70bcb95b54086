"""Stories about `logfire.instrument_fastapi()`, and FastAPI apps under `instrument_asgi`, in every form."""

from __future__ import annotations

import asyncio
import json
import logging
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, BackgroundTasks, FastAPI, HTTPException, WebSocket
from fastapi.responses import StreamingResponse
from inline_snapshot import snapshot
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection

import logfire
from logfire._internal.integrations.asgi import ASGIApp
from logfire.testing import CaptureLogfire

from ..otlp_receiver import OTLPReceiver
from ..uvicorn_server import UvicornServer
from .test_asgi import get, run_lifespan, server_env, server_spans, websocket_session


def _native_telemetry() -> bool:
    import importlib.util

    return importlib.util.find_spec('fastapi.telemetry') is not None


NATIVE = _native_telemetry()

# ---- the app, and the ways to instrument it ------------------------------------------------------------


def build(middleware: list[Middleware] | None = None) -> FastAPI:
    app = FastAPI(middleware=middleware)
    users = APIRouter(prefix='/users')

    @users.get('/{user_id}')
    async def user(user_id: int, password: str = '', verbose: bool = False) -> dict[str, Any]:
        logfire.info('loading user {user_id}', user_id=user_id)
        return {'id': user_id}

    @users.get('/{user_id}/sync')
    def user_sync(user_id: int) -> dict[str, Any]:
        return {'id': user_id}

    app.include_router(users, prefix='/api')

    @app.get('/boom')
    async def boom() -> None:
        raise ValueError('boom')

    @app.get('/missing')
    async def missing() -> None:
        raise HTTPException(404, 'no such thing')

    @app.get('/later')
    async def later(tasks: BackgroundTasks) -> str:
        tasks.add_task(logfire.info, 'background work')
        return 'queued'

    @app.get('/stream')
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for chunk in (b'a', b'b'):
                yield chunk
            logfire.info('after the last chunk')

        return StreamingResponse(chunks())

    @app.websocket('/ws')
    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(text.upper())
        await websocket.close()

    tenant = FastAPI()

    @tenant.get('/items/{item_id}')
    async def item(item_id: int) -> dict[str, Any]:
        return {'id': item_id}

    app.mount('/t/{tenant}', tenant)
    return app


FORMS: dict[str, Callable[[], ASGIApp]] = {
    'instrument_fastapi': lambda: logfire.instrument_fastapi(build()),
    'instrument_asgi': lambda: logfire.instrument_asgi(build()),
    'Middleware': lambda: build([Middleware(logfire.instrument_asgi)]),
    'combined': lambda: logfire.instrument_asgi(
        logfire.instrument_fastapi(build([Middleware(logfire.instrument_asgi)]))
    ),
}


@pytest.fixture(params=sorted(FORMS))
def instrumented(request: pytest.FixtureRequest) -> ASGIApp:
    return FORMS[request.param]()


@pytest.fixture
def otel_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[list[logging.LogRecord]]:
    with caplog.at_level(logging.WARNING, logger='opentelemetry'):
        yield caplog.records


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def scopes(capfire: CaptureLogfire) -> set[str]:
    return {s.instrumentation_scope.name for s in capfire.exporter.exported_spans if s.instrumentation_scope}


# ---- one server span per request ------------------------------------------------------------------------


@pytest.mark.skipif(not NATIVE, reason='this FastAPI has no built-in telemetry')
def test_fastapi_traces_itself_when_not_instrumented(capfire: CaptureLogfire) -> None:
    get(build(), '/api/users/1')
    assert 'fastapi' in scopes(capfire)  # what the other stories turn off


def test_each_form_gives_one_server_span_and_fastapi_records_none(
    capfire: CaptureLogfire, instrumented: ASGIApp
) -> None:
    [response] = get(instrumented, '/api/users/3?verbose=true')
    assert response.json() == {'id': 3}
    [span] = server_spans(capfire)
    assert (span.name, attributes(span)['http.route']) == ('GET /api/users/{user_id}', '/api/users/{user_id}')
    assert attributes(span)['logfire.msg'] == "GET /api/users/3 ? verbose='true'"
    assert 'fastapi' not in scopes(capfire)
    [log] = [s for s in capfire.exporter.exported_spans if s.name == 'loading user {user_id}']
    assert log.parent is not None and span.context is not None and log.parent.span_id == span.context.span_id


def test_mounted_apps_and_routers_give_route_templates(capfire: CaptureLogfire, instrumented: ASGIApp) -> None:
    get(instrumented, '/t/acme/items/2', '/api/users/5/sync')
    assert [(s.name, attributes(s)['http.target']) for s in server_spans(capfire)] == [
        ('GET /t/{tenant}/items/{item_id}', '/t/acme/items/2'),
        ('GET /api/users/{user_id}/sync', '/api/users/5/sync'),
    ]


def test_an_unhandled_exception_is_recorded_on_the_request_span_without_otel_warnings(
    capfire: CaptureLogfire, instrumented: ASGIApp, otel_warnings: list[logging.LogRecord]
) -> None:
    with pytest.raises(ValueError, match='boom'):
        get(instrumented, '/boom')
    [span] = server_spans(capfire)
    assert span.status.status_code is StatusCode.ERROR
    assert (attributes(span)['http.status_code'], attributes(span)['error.type']) == (500, 'ValueError')
    assert attributes(span)['logfire.level_num'] == 17
    [event] = span.events
    assert event.name == 'exception'
    assert event.attributes is not None and 'ValueError: boom' in str(event.attributes['exception.stacktrace'])
    assert otel_warnings == []


def test_a_handled_http_exception_is_a_warning_not_an_error(capfire: CaptureLogfire, instrumented: ASGIApp) -> None:
    [response] = get(instrumented, '/missing')
    assert response.status_code == 404
    [span] = server_spans(capfire)
    assert (attributes(span)['http.status_code'], attributes(span)['logfire.level_num']) == (404, 13)
    assert span.status.status_code is StatusCode.UNSET and span.events == ()


def test_a_websocket_is_one_span(capfire: CaptureLogfire, instrumented: ASGIApp) -> None:
    assert asyncio.run(websocket_session(instrumented, '/ws', '', ['hi'])) == ['HI']
    assert [s.name for s in server_spans(capfire)] == ['WEBSOCKET /ws']
    assert 'fastapi' not in scopes(capfire)


def test_a_streaming_response_is_one_span(capfire: CaptureLogfire, instrumented: ASGIApp) -> None:
    [response] = get(instrumented, '/stream')
    assert response.content == b'ab'
    [span] = server_spans(capfire)
    assert (span.name, attributes(span)['http.status_code']) == ('GET /stream', 200)
    assert 'fastapi' not in scopes(capfire)


def test_background_tasks_stay_in_the_request_trace(capfire: CaptureLogfire, instrumented: ASGIApp) -> None:
    [response] = get(instrumented, '/later')
    assert response.json() == 'queued'
    [span] = server_spans(capfire)
    [work] = [s for s in capfire.exporter.exported_spans if s.name == 'background work']
    assert work.context is not None and span.context is not None and work.context.trace_id == span.context.trace_id


def test_lifespan_passes_straight_through(capfire: CaptureLogfire, instrumented: ASGIApp) -> None:
    assert asyncio.run(run_lifespan(instrumented)) == ['lifespan.startup.complete', 'lifespan.shutdown.complete']
    assert capfire.exporter.exported_spans == []


def test_instrumenting_twice_or_after_the_app_served_requests_gives_one_span(capfire: CaptureLogfire) -> None:
    app = build()
    assert logfire.instrument_fastapi(app) is app
    assert logfire.instrument_fastapi(app, extra_spans=True) is app
    get(app, '/api/users/1')
    assert [s.name for s in capfire.exporter.exported_spans] == ['loading user {user_id}', 'GET /api/users/{user_id}']


# ---- the endpoint's arguments -----------------------------------------------------------------------------


def test_the_parsed_arguments_are_on_the_request_span_and_scrubbed(capfire: CaptureLogfire) -> None:
    get(logfire.instrument_fastapi(build()), '/api/users/3?password=hunter2&verbose=1')
    [span] = server_spans(capfire)
    values = json.loads(attributes(span)['fastapi.arguments.values'])
    assert values == snapshot({'user_id': 3, 'password': "[Scrubbed due to 'password']", 'verbose': True})
    assert json.loads(attributes(span)['fastapi.arguments.errors']) == []
    assert 'hunter2' not in str(span.attributes)


def test_validation_errors_are_recorded_and_the_422_span_is_a_warning(capfire: CaptureLogfire) -> None:
    [response] = get(logfire.instrument_fastapi(build()), '/api/users/abc')
    assert response.status_code == 422
    [span] = server_spans(capfire)
    assert (attributes(span)['http.status_code'], attributes(span)['logfire.level_num']) == (422, 13)
    [error] = json.loads(attributes(span)['fastapi.arguments.errors'])
    assert (error['type'], error['loc']) == ('int_parsing', ['path', 'user_id'])


def test_request_attributes_mapper_changes_or_drops_the_arguments(capfire: CaptureLogfire) -> None:
    def mapper(request: HTTPConnection, attributes: dict[str, Any]) -> dict[str, Any] | None:
        if request.url.path.endswith('/sync'):
            return None
        return {'values': {'user_id': attributes['values']['user_id']}, 'user.kind': 'human'}

    get(logfire.instrument_fastapi(build(), request_attributes_mapper=mapper), '/api/users/3', '/api/users/4/sync')
    mapped, dropped = server_spans(capfire)
    assert json.loads(attributes(mapped)['fastapi.arguments.values']) == {'user_id': 3}
    assert attributes(mapped)['user.kind'] == 'human'
    assert 'fastapi.arguments.errors' not in attributes(mapped)
    assert not any(key.startswith('fastapi.') for key in attributes(dropped))


def test_extra_spans_add_argument_parsing_and_endpoint_spans(capfire: CaptureLogfire) -> None:
    get(logfire.instrument_fastapi(build(), extra_spans=True), '/api/users/3', '/api/users/4/sync')
    spans = capfire.exporter.exported_spans_as_dict()
    assert [(s['name'], s['attributes']['logfire.msg']) for s in spans] == snapshot(
        [
            ('FastAPI arguments', 'FastAPI arguments'),
            ('loading user {user_id}', 'loading user 3'),
            ('{method} {http.route} ({code.function})', 'GET /api/users/{user_id} (build.<locals>.user)'),
            ('GET /api/users/{user_id}', 'GET /api/users/3'),
            ('FastAPI arguments', 'FastAPI arguments'),
            ('{method} {http.route} ({code.function})', 'GET /api/users/{user_id}/sync (build.<locals>.user_sync)'),
            ('GET /api/users/{user_id}/sync', 'GET /api/users/4/sync'),
        ]
    )
    raw = capfire.exporter.exported_spans[2].attributes or {}  # exported_spans_as_dict() keeps only `user`
    assert raw['code.function'] == 'build.<locals>.user'  # the endpoint, where it is defined
    assert spans[2]['attributes']['code.filepath'] == 'test_fastapi.py'
    server = spans[3]['context']['span_id']
    assert [s['parent']['span_id'] for s in spans[:3]] == [server, spans[2]['context']['span_id'], server]


# ---- excluded URLs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize('excluded_urls', ['/api/,/boom', ['/api/', '/boom']], ids=['string', 'list'])
def test_excluded_urls_record_nothing_not_even_fastapi_spans(
    capfire: CaptureLogfire, excluded_urls: str | list[str]
) -> None:
    get(logfire.instrument_fastapi(build(), excluded_urls=excluded_urls), '/api/users/1', '/t/a/items/1')
    assert [s.name for s in capfire.exporter.exported_spans] == ['GET /t/{tenant}/items/{item_id}']


def test_excluded_urls_come_from_the_fastapi_then_the_generic_variable(
    capfire: CaptureLogfire, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv('OTEL_PYTHON_EXCLUDED_URLS', '/t/')
    get(logfire.instrument_fastapi(build()), '/t/a/items/1', '/api/users/1/sync')
    monkeypatch.setenv('OTEL_PYTHON_FASTAPI_EXCLUDED_URLS', '/api/')
    get(logfire.instrument_fastapi(build()), '/t/a/items/1', '/api/users/1/sync')
    get(logfire.instrument_fastapi(build(), excluded_urls=''), '/api/users/1/sync')
    assert [s.name for s in server_spans(capfire)] == [
        'GET /api/users/{user_id}/sync',
        'GET /t/{tenant}/items/{item_id}',
        'GET /api/users/{user_id}/sync',
    ]


# ---- under uvicorn ----------------------------------------------------------------------------------------

SERVER_APP = textwrap.dedent(
    """
    from fastapi import FastAPI
    import logfire

    logfire.configure(service_name='fastapi-stories')
    app = FastAPI()


    @app.get('/users/{user_id}')
    async def user(user_id: int):
        logfire.info('loading user {user_id}', user_id=user_id)
        return {'id': user_id}


    @app.get('/boom')
    async def boom():
        raise ValueError('boom')


    FORM
    """
)
UVICORN_FORMS = {
    'instrument_fastapi': 'logfire.instrument_fastapi(app)',
    'instrument_asgi': 'app = logfire.instrument_asgi(app)',
    'none': '',
}


@pytest.mark.parametrize('form', sorted(UVICORN_FORMS))
def test_under_uvicorn_one_server_span_per_request_and_the_exception_on_it(tmp_path: Path, form: str) -> None:
    (tmp_path / 'stories.py').write_text(SERVER_APP.replace('FORM', UVICORN_FORMS[form]))
    with OTLPReceiver() as receiver:
        with UvicornServer('stories:app', cwd=tmp_path, env=server_env(receiver)) as server:
            assert httpx.get(f'{server.url}/users/7', timeout=5).json() == {'id': 7}
            assert httpx.get(f'{server.url}/boom', timeout=5).status_code == 500
            receiver.wait_until(lambda: len([s for s in receiver.spans() if s.span.kind == 2]) >= 2, 10, 'requests')
        output = server.stop()
        spans = receiver.spans()
    servers = sorted((s for s in spans if s.span.kind == 2), key=lambda s: s.name)  # SPAN_KIND_SERVER
    assert 'ended span' not in output.stderr
    if form == 'none':  # FastAPI's own span (0.165+), or none at all
        assert len(servers) == (2 if NATIVE else 0)
        return
    assert [s.name for s in servers] == ['GET /boom', 'GET /users/{user_id}']
    assert servers[0].attributes['error.type'] == 'ValueError'
    assert [event.name for event in servers[0].span.events] == ['exception']
    assert {s.trace_id for s in spans if s.name == 'loading user {user_id}'} == {servers[1].trace_id}
