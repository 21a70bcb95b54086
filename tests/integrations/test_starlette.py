"""Stories about `logfire.instrument_starlette()`, and Starlette apps under `instrument_asgi`, in every form."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

import logfire
from logfire._internal.integrations.asgi import ASGIApp
from logfire.testing import CaptureLogfire

from ..otlp_receiver import OTLPReceiver
from ..uvicorn_server import UvicornServer
from .test_asgi import get, server_env, server_spans

# ---- the app, and the ways to instrument it ------------------------------------------------------------


async def item(request: Request) -> Response:
    logfire.info('item {item_id}', item_id=request.path_params['item_id'])
    return PlainTextResponse('item')


async def boom(request: Request) -> Response:
    raise ValueError('boom')


async def missing(request: Request) -> Response:
    raise HTTPException(404, 'no such thing')


def build(middleware: list[Middleware] | None = None) -> Starlette:
    items = [Route('/items/{item_id:int}', item)]
    tenant = Starlette(routes=[Mount('/shop', routes=items)])
    return Starlette(
        routes=[
            Route('/boom', boom),
            Route('/missing', missing),
            Mount('/t/{tenant}', app=tenant),
            Mount('/v1', routes=items),
        ],
        middleware=middleware,
    )


def starlette_form() -> ASGIApp:
    return logfire.instrument_starlette(build())


def wrapped_form() -> ASGIApp:
    return logfire.instrument_asgi(build())


def middleware_form() -> ASGIApp:
    return build([Middleware(logfire.instrument_asgi)])


def combined_form() -> ASGIApp:
    return logfire.instrument_asgi(logfire.instrument_starlette(build([Middleware(logfire.instrument_asgi)])))


FORMS: dict[str, Callable[[], ASGIApp]] = {
    'instrument_starlette': starlette_form,
    'instrument_asgi': wrapped_form,
    'Middleware': middleware_form,
    'combined': combined_form,
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


# ---- stories --------------------------------------------------------------------------------------------


def test_each_form_gives_one_server_span_named_from_the_route(capfire: CaptureLogfire, instrumented: ASGIApp) -> None:
    [response] = get(instrumented, '/v1/items/7?x=1')
    assert response.text == 'item'
    [span] = server_spans(capfire)
    assert (span.name, attributes(span)['http.route']) == ('GET /v1/items/{item_id}', '/v1/items/{item_id}')
    assert attributes(span)['logfire.msg'] == "GET /v1/items/7 ? x='1'"
    [log] = [s for s in capfire.exporter.exported_spans if s.name == 'item {item_id}']
    assert log.parent is not None and span.context is not None and log.parent.span_id == span.context.span_id


def test_mount_path_parameters_stay_templates_in_the_name_and_route(
    capfire: CaptureLogfire, instrumented: ASGIApp
) -> None:
    get(instrumented, '/t/acme/shop/items/2')
    [span] = server_spans(capfire)
    assert span.name == 'GET /t/{tenant}/shop/items/{item_id}'
    assert attributes(span)['http.route'] == '/t/{tenant}/shop/items/{item_id}'
    assert (attributes(span)['http.target'], attributes(span)['logfire.msg']) == (
        '/t/acme/shop/items/2',
        'GET /t/acme/shop/items/2',
    )


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


def test_the_client_still_gets_the_500_page(capfire: CaptureLogfire, instrumented: ASGIApp) -> None:
    [response] = get(instrumented, '/boom', raise_app_exceptions=False)
    assert (response.status_code, response.text) == (500, 'Internal Server Error')


def test_a_handled_http_exception_is_a_warning_not_an_error(capfire: CaptureLogfire, instrumented: ASGIApp) -> None:
    [response] = get(instrumented, '/missing')
    assert response.status_code == 404
    [span] = server_spans(capfire)
    assert (attributes(span)['http.status_code'], attributes(span)['logfire.level_num']) == (404, 13)
    assert span.status.status_code is StatusCode.UNSET
    assert 'error.type' not in attributes(span) and span.events == ()


def test_instrumenting_twice_or_after_the_app_served_requests_gives_one_span(capfire: CaptureLogfire) -> None:
    app = build()
    get(app, '/v1/items/1')  # builds the middleware stack before it is instrumented
    assert logfire.instrument_starlette(app) is app
    assert logfire.instrument_starlette(app, capture_headers=True) is app
    get(app, '/v1/items/2')
    assert [s.name for s in server_spans(capfire)] == ['GET /v1/items/{item_id}']


@pytest.mark.parametrize('variable', ['OTEL_PYTHON_STARLETTE_EXCLUDED_URLS', 'OTEL_PYTHON_EXCLUDED_URLS'])
def test_excluded_urls_fall_back_to_the_starlette_then_the_generic_variable(
    capfire: CaptureLogfire, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, '/v1/')
    monkeypatch.setenv('OTEL_PYTHON_ASGI_EXCLUDED_URLS', '/t/')  # instrument_asgi's variable: not read here
    get(logfire.instrument_starlette(build()), '/v1/items/1', '/t/a/shop/items/1')
    assert [s.name for s in capfire.exporter.exported_spans] == [
        'item {item_id}',
        'GET /t/{tenant}/shop/items/{item_id}',
    ]


def test_excluded_urls_argument_takes_a_list_and_beats_the_environment(
    capfire: CaptureLogfire, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv('OTEL_PYTHON_STARLETTE_EXCLUDED_URLS', '/t/')
    get(logfire.instrument_starlette(build(), excluded_urls=['/v1/', '/missing$']), '/v1/items/1', '/t/a/shop/items/1')
    assert [s.name for s in server_spans(capfire)] == ['GET /t/{tenant}/shop/items/{item_id}']


# ---- under uvicorn ----------------------------------------------------------------------------------------

SERVER_APP = textwrap.dedent(
    """
    import logfire
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    logfire.configure(service_name='starlette-stories')


    async def item(request):
        logfire.info('item {item_id}', item_id=request.path_params['item_id'])
        return PlainTextResponse('item')


    async def boom(request):
        raise ValueError('boom')


    tenant = Starlette(routes=[Route('/items/{item_id:int}', item)])
    app = Starlette(routes=[Route('/boom', boom), Mount('/t/{tenant}', app=tenant)])
    logfire.instrument_starlette(app)
    """
)


def test_under_uvicorn_the_exception_and_the_mount_template_reach_the_receiver(tmp_path: Path) -> None:
    (tmp_path / 'stories.py').write_text(SERVER_APP)
    with OTLPReceiver() as receiver:
        with UvicornServer('stories:app', cwd=tmp_path, env=server_env(receiver)) as server:
            assert httpx.get(f'{server.url}/t/acme/items/2', timeout=5).text == 'item'
            assert httpx.get(f'{server.url}/boom', timeout=5).status_code == 500
            spans = receiver.wait_for_spans(3)
        output = server.stop()
    names = sorted(s.name for s in spans)
    assert names == ['GET /boom', 'GET /t/{tenant}/items/{item_id}', 'item {item_id}']
    [failed] = [s for s in spans if s.name == 'GET /boom']
    assert failed.attributes['error.type'] == 'ValueError'
    assert [event.name for event in failed.span.events] == ['exception']
    assert 'ended span' not in output.stderr
