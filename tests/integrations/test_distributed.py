"""One trace across services: `examples/distributed_services.py` under two real uvicorn servers, both exporting
to one real OTLP receiver. The frontend calls the backend with an instrumented httpx client inside a request."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ..conftest import ROOT, clean_env
from ..otlp_receiver import OTLPReceiver, ReceivedSpan
from ..uvicorn_server import UvicornServer

JOINED_WARNING = 'Joined a trace started by an incoming request'


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as rx:
        yield rx


def service_env(rx: OTLPReceiver, name: str, **extra: str) -> dict[str, str]:
    return clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=rx.endpoint,
        OTEL_SERVICE_NAME=name,
        LOGFIRE_SEND_TO_LOGFIRE='false',
        LOGFIRE_CONSOLE='false',
        OTEL_BSP_SCHEDULE_DELAY='100',
        **extra,
    )


def one(spans: list[ReceivedSpan], service: str, name: str) -> ReceivedSpan:
    [span] = [s for s in spans if s.resource_attributes['service.name'] == service and s.name == name]
    return span


@pytest.mark.parametrize(
    ('setting', 'joins', 'warns'),
    [(None, True, True), ('true', True, False), ('false', False, False)],
    ids=['unset-joins-and-warns-once', 'true-joins-silently', 'false-starts-a-new-trace'],
)
def test_the_backend_server_span_is_a_child_of_the_frontend_client_span(
    receiver: OTLPReceiver, setting: str | None, joins: bool, warns: bool
) -> None:
    examples = ROOT / 'examples'
    backend_extra = {} if setting is None else {'LOGFIRE_DISTRIBUTED_TRACING': setting}
    with UvicornServer(
        'distributed_services:backend', cwd=examples, env=service_env(receiver, 'backend', **backend_extra)
    ) as backend:
        frontend_env = service_env(receiver, 'frontend', BACKEND_URL=backend.url)
        with UvicornServer('distributed_services:frontend', cwd=examples, env=frontend_env) as frontend:
            for _ in range(2):
                assert httpx.get(f'{frontend.url}/', timeout=10).text == 'done'
            spans = receiver.wait_for_spans(2 * 5)  # per call: 2 server spans, the client span, a span, a log
    backend_output, frontend_output = backend.stop(), frontend.stop()

    frontend_roots = [s for s in spans if s.resource_attributes['service.name'] == 'frontend' and s.name == 'GET']
    frontend_roots = [s for s in frontend_roots if s.parent_span_id is None]
    backend_servers = [s for s in spans if s.resource_attributes['service.name'] == 'backend' and s.name == 'GET']
    assert len(frontend_roots) == len(backend_servers) == 2
    for root in frontend_roots:
        in_trace = [s for s in spans if s.trace_id == root.trace_id]
        [client] = [s for s in in_trace if s.span.kind == s.span.SPAN_KIND_CLIENT]
        assert client.attributes['logfire.msg'] == f'GET {backend.url.removeprefix("http://")}/work'
        assert client.parent_span_id == one(in_trace, 'frontend', 'asking the backend').span_id
        if joins:
            [backend_server] = [s for s in backend_servers if s.trace_id == root.trace_id]
            assert backend_server.parent_span_id == client.span_id
            assert one(in_trace, 'backend', 'working on {path}').parent_span_id == backend_server.span_id
        else:
            assert not [s for s in backend_servers if s.trace_id == root.trace_id]
    if not joins:
        assert all(s.parent_span_id is None for s in backend_servers)
    assert backend_output.stderr.count(JOINED_WARNING) == (1 if warns else 0), backend_output.stderr
    assert JOINED_WARNING not in frontend_output.stderr
