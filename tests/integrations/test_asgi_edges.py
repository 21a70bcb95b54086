"""Stories about `logfire.instrument_asgi()` at the edges: root paths, mounts the wrapper cannot see, requests that are
not sampled, suppressed or excluded, hooks that name the route, the header caps at their exact limits, and the debug
send/receive spans. Each was found missing by mutation testing (issue #24).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.util.http import ExcludeList
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Match, Mount, Route, Router

import logfire
from logfire._internal.http_spans import MAX_CAPTURED_HEADER_VALUES, MAX_HTTP_VALUE_LENGTH
from logfire._internal.integrations.asgi import ASGIApp, Message, Receive, Scope, Send
from logfire.testing import CaptureLogfire, TestExporter, get_collected_metrics

from .test_asgi import TRACEPARENT, get, hello, metric_points, server_spans

UNSAMPLED_TRACEPARENT = TRACEPARENT[:-2] + '00'


async def endpoint(request: Request) -> Response:
    return PlainTextResponse('ok')


async def raising_endpoint(request: Request) -> Response:
    raise LookupError('no such item')


def routed_app() -> Starlette:
    """Routes at the top, a mounted bare app, and a mount with a path parameter holding a route and a bare app."""
    tenant = Mount('/t/{tenant}', routes=[Route('/items/{item_id}', endpoint), Mount('/files', app=hello)])
    shop = Mount('/shop', routes=[Route('/shop', endpoint)])  # a route named like its mount
    return Starlette(routes=[Route('/users/{user_id:int}', endpoint), Mount('/files', app=hello), tenant, shop])


ROUTED_PATHS = {
    '/users/42': 'GET /users/{user_id}',
    '/files/a/b.txt': 'GET /files/{path}',
    '/t/acme/items/7': 'GET /t/{tenant}/items/{item_id}',
    '/t/acme/files/x.txt': 'GET /t/{tenant}/files/{path}',
    '/shop/shop': 'GET /shop/shop',
}


def request_through(app: ASGIApp, path: str, *, root_path: str = '', method: str = 'GET', body: bytes = b'') -> bytes:
    """Drive one request the way a minimal server does: only the required scope keys, plus `root_path` if given."""
    scope: dict[str, Any] = {
        'type': 'http',
        'asgi': {'version': '3.0'},
        'http_version': '1.1',
        'method': method,
        'scheme': 'http',
        'path': path,
        'raw_path': path.encode(),
        'query_string': b'',
        'headers': [(b'host', b'testserver')],
    }
    if root_path:
        scope['root_path'] = root_path
    incoming: list[Message] = [{'type': 'http.request', 'body': body, 'more_body': False}]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {'type': 'http.disconnect'}

    async def send(message: Message) -> None:
        sent.append(message)

    async def run() -> None:
        await app(scope, receive, send)

    asyncio.run(run())
    return b''.join(message.get('body', b'') for message in sent if message['type'] == 'http.response.body')


class InternalErrors:
    """The internal errors logfire reports during a test (each kind is reported once per process: reset here)."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    def __call__(self) -> list[str]:
        messages = [record.getMessage() for record in self.caplog.records]
        return [message for message in messages if message.startswith('Internal error in logfire')]


@pytest.fixture
def internal_errors(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> InternalErrors:
    monkeypatch.setattr('logfire._internal.errors._reported', set[str]())
    caplog.set_level(logging.WARNING, logger='logfire')
    return InternalErrors(caplog)


def names(capfire: CaptureLogfire) -> list[str]:
    return [span.name for span in server_spans(capfire)]


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


# ---- route templates -----------------------------------------------------------------------------------


def test_an_app_served_under_a_root_path_is_named_from_its_own_routes(capfire: CaptureLogfire) -> None:
    app = logfire.instrument_asgi(routed_app())

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app, root_path='/api')
        async with httpx.AsyncClient(transport=transport, base_url='http://testserver') as client:
            return [(await client.get(f'/api{path}')).status_code for path in ROUTED_PATHS]

    assert asyncio.run(run()) == [200] * len(ROUTED_PATHS)
    assert names(capfire) == list(ROUTED_PATHS.values())
    assert [attributes(span)['http.route'] for span in server_spans(capfire)] == [
        name.removeprefix('GET ') for name in ROUTED_PATHS.values()
    ]


def test_a_server_that_omits_the_optional_root_path_gets_the_same_names(capfire: CaptureLogfire) -> None:
    app = logfire.instrument_asgi(routed_app())
    for path in ROUTED_PATHS:
        assert request_through(app, path) in (b'ok', b'hello')
    assert names(capfire) == list(ROUTED_PATHS.values())


def test_an_app_wrapped_in_a_plain_function_is_named_from_the_mount_it_went_through(
    capfire: CaptureLogfire, internal_errors: InternalErrors
) -> None:
    inner = routed_app()

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        await inner(scope, receive, send)

    get(logfire.instrument_asgi(wrapper), *ROUTED_PATHS)
    # No router is visible from outside the function: a mount's path parameters stay as the request had them.
    assert names(capfire) == [
        'GET /users/{user_id}',
        'GET /files/{path}',
        'GET /t/acme/items/{item_id}',
        'GET /t/acme/files/{path}',
        'GET /shop/shop',
    ]
    assert internal_errors() == []


@pytest.mark.parametrize('root_path', ['', '/api'])
def test_an_endpoint_that_raises_before_responding_still_names_the_span(
    capfire: CaptureLogfire, internal_errors: InternalErrors, root_path: str
) -> None:
    # A bare router has no error middleware to send a 500 page: nothing is sent before the exception.
    app = logfire.instrument_asgi(Router(routes=[Route('/orders/{order_id}', raising_endpoint)]))
    with pytest.raises(LookupError):
        request_through(app, f'{root_path}/orders/9', root_path=root_path)
    [span] = server_spans(capfire)
    assert (span.name, attributes(span)['http.route']) == ('GET /orders/{order_id}', '/orders/{order_id}')
    assert internal_errors() == []


def test_a_route_set_by_a_request_hook_names_the_span(capfire: CaptureLogfire) -> None:
    def hook(span: trace.Span, scope: dict[str, Any]) -> None:
        route = {'/reports/2024': '/reports/{year}', '/odd': 404}.get(scope['path'])
        if route is not None:
            span.set_attribute('http.route', route)

    get(logfire.instrument_asgi(hello, server_request_hook=hook), '/reports/2024', '/odd', '/other')
    assert names(capfire) == ['GET /reports/{year}', 'GET', 'GET']


class HeaderMount(Mount):
    """A mount that also routes on a header: it reads the whole scope, more than the route lookup gives it."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if (b'x-tenant', b'acme') not in scope['headers']:
            return Match.NONE, {}
        return super().matches(scope)


def test_a_mount_that_routes_on_a_header_names_the_span_from_its_template(
    capfire: CaptureLogfire, internal_errors: InternalErrors
) -> None:
    app = logfire.instrument_asgi(Starlette(routes=[HeaderMount('/t', app=hello)]))
    [response] = get(app, '/t/x', headers={'X-Tenant': 'acme'})
    assert response.text == 'hello'
    assert names(capfire) == ['GET /t/{path}']  # a bare app under a mount: the mount's template
    assert internal_errors() == []


class BrokenMount(Mount):
    """A mount whose matching fails when the route lookup asks it again."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if 'app' not in scope:  # the lookup's probe: Starlette put the app in the request's own scope
            raise KeyError('tenant')
        return super().matches(scope)


def test_a_mount_that_fails_on_the_route_lookup_costs_the_name_only_and_is_reported(
    capfire: CaptureLogfire, internal_errors: InternalErrors
) -> None:
    app = logfire.instrument_asgi(Starlette(routes=[BrokenMount('/t', app=hello)]))
    [response] = get(app, '/t/x')
    assert response.text == 'hello'
    assert names(capfire) == ['GET']
    assert internal_errors() == [
        "Internal error in logfire (ASGI span name); telemetry may be incomplete: KeyError('tenant')"
    ]


# ---- requests that are not recorded -------------------------------------------------------------------


async def echo_path(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer with the path, then the request body."""
    message = await receive()
    await send({'type': 'http.response.start', 'status': 201, 'headers': []})
    await send({'type': 'http.response.body', 'body': scope['path'].encode() + b' ' + message.get('body', b'')})


def test_a_request_that_is_not_sampled_is_still_served_in_full(capfire: CaptureLogfire) -> None:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(logfire.instrument_asgi(echo_path))
        async with httpx.AsyncClient(transport=transport, base_url='http://testserver') as client:
            return await client.post('/in', content=b'ping', headers={'traceparent': UNSAMPLED_TRACEPARENT})

    response = asyncio.run(run())
    assert (response.status_code, response.content) == (201, b'/in ping')
    assert capfire.exporter.exported_spans == []


def test_an_excluded_request_still_reads_its_body(capfire: CaptureLogfire) -> None:
    app = logfire.instrument_asgi(echo_path, excluded_urls='/hook')
    assert request_through(app, '/hook', method='POST', body=b'payload') == b'/hook payload'
    assert capfire.exporter.exported_spans == []


class FailingExcludeList(ExcludeList):
    """A user's own exclusion rule that fails on some URL."""

    def url_disabled(self, url: str) -> bool:
        raise ValueError(f'cannot decide {url}')


def test_an_exclusion_rule_that_fails_leaves_the_request_instrumented_and_is_reported(
    capfire: CaptureLogfire, internal_errors: InternalErrors
) -> None:
    [response] = get(logfire.instrument_asgi(hello, excluded_urls=FailingExcludeList([])), '/')
    assert response.text == 'hello'
    assert names(capfire) == ['GET']
    assert internal_errors() == [
        'Internal error in logfire (ASGI request filter); telemetry may be incomplete: '
        "ValueError('cannot decide http://testserver/')"
    ]


# ---- errors ----------------------------------------------------------------------------------------------


class PaymentDeclined(Exception):
    pass


def test_error_type_names_a_non_builtin_exception_with_its_module(capfire: CaptureLogfire) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise PaymentDeclined('card expired')

    with pytest.raises(PaymentDeclined):
        get(logfire.instrument_asgi(app), '/pay')
    [span] = server_spans(capfire)
    assert attributes(span)['error.type'] == f'{__name__}.PaymentDeclined'


# ---- headers ---------------------------------------------------------------------------------------------


def request_headers(span: ReadableSpan) -> dict[str, Any]:
    return {k: v for k, v in attributes(span).items() if k.startswith('http.request.header.')}


def test_headers_exactly_at_the_caps_are_kept_whole_and_not_marked(capfire: CaptureLogfire) -> None:
    # httpx adds host, accept, accept-encoding, connection and user-agent: 5 values of the budget.
    at_the_cap = [(f'x-h{i:02d}', 'v') for i in range(MAX_CAPTURED_HEADER_VALUES - 6)]
    at_the_cap.append(('x-long', 'L' * MAX_HTTP_VALUE_LENGTH))
    get(logfire.instrument_asgi(hello, capture_headers=True), '/', headers=at_the_cap)
    [span] = server_spans(capfire)
    headers = request_headers(span)
    assert sum(len(values) for values in headers.values()) == MAX_CAPTURED_HEADER_VALUES
    assert headers['http.request.header.x_long'] == ('L' * MAX_HTTP_VALUE_LENGTH,)
    assert 'logfire.truncated' not in attributes(span)


def test_one_header_value_too_long_is_cut_and_marked(capfire: CaptureLogfire) -> None:
    get(
        logfire.instrument_asgi(hello, capture_headers=True), '/', headers={'X-Long': 'L' * (MAX_HTTP_VALUE_LENGTH + 1)}
    )
    [span] = server_spans(capfire)
    assert request_headers(span)['http.request.header.x_long'] == ('L' * (MAX_HTTP_VALUE_LENGTH - 1) + '…',)
    assert attributes(span)['logfire.truncated'] is True


def test_an_explicit_header_list_beats_capture_headers(capfire: CaptureLogfire) -> None:
    app = logfire.instrument_asgi(hello, capture_headers=True, http_capture_headers_server_request=['x-custom'])
    get(app, '/', headers={'X-Custom': '1', 'X-Other': '2'})
    [span] = server_spans(capfire)
    assert request_headers(span) == {'http.request.header.x_custom': ('1',)}
    assert attributes(span)['http.response.header.x_reply'] == ('yes',)  # the response list is still all headers


# ---- record_send_receive and a local instance -----------------------------------------------------------


def test_with_send_receive_spans_the_request_span_is_unchanged(capfire: CaptureLogfire) -> None:
    get(logfire.instrument_asgi(hello), '/')
    before = time.time_ns()
    get(logfire.instrument_asgi(hello, record_send_receive=True), '/', headers={'traceparent': TRACEPARENT})
    after = time.time_ns()
    plain, debug = server_spans(capfire)
    assert debug.instrumentation_scope == plain.instrumentation_scope
    assert debug.context is not None and debug.parent is not None
    assert (debug.context.trace_id, debug.parent.span_id) == (int(TRACEPARENT[3:35], 16), int(TRACEPARENT[36:52], 16))
    assert debug.start_time is not None and debug.end_time is not None
    assert before <= debug.start_time <= debug.end_time <= after  # the order of events, not a duration


def test_a_local_instance_records_request_metrics_in_its_own_meter_provider(capfire: CaptureLogfire) -> None:
    reader, exporter = InMemoryMetricReader(), TestExporter()
    local = logfire.configure(
        local=True,
        send_to_logfire=False,
        console=False,
        additional_span_processors=[SimpleSpanProcessor(exporter)],
        metrics=logfire.MetricsOptions(additional_readers=[reader]),
    )
    try:
        get(local.instrument_asgi(hello), '/', '/status/404')
        points = [
            point['count']
            for metric in get_collected_metrics(reader)
            if metric['name'] == 'http.server.duration'
            for point in metric['data']['data_points']
        ]
        assert sum(points) == 2
        assert metric_points(capfire, 'http.server.duration') == 0
    finally:
        local.shutdown()
