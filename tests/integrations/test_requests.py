"""Stories about `logfire.instrument_requests()`: it patches `requests` for the whole process, so each story runs
in a subprocess, with a real server on 127.0.0.1."""

from __future__ import annotations

import json
import textwrap

from ..conftest import clean_env, run_python

SCRIPT = textwrap.dedent(
    """
    import json
    import requests
    import logfire
    from logfire.testing import TestExporter
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from tests.echo_server import EchoServer

    exporter = TestExporter()
    logfire.configure(send_to_logfire=False, console=False, additional_span_processors=[SimpleSpanProcessor(exporter)])
    logfire.instrument_requests(OPTIONS)
    logfire.instrument_requests()  # a no-op

    with EchoServer() as server:
        with logfire.span('outer'):
            echoed = [requests.get(f'{server.url}{path}', timeout=5).json() for path in PATHS]
    spans = [s for s in exporter.exported_spans if s.name == 'GET']
    [outer] = [s for s in exporter.exported_spans if s.name == 'outer']
    print(json.dumps({
        'messages': [s.attributes['logfire.msg'].replace(server.host, 'HOST') for s in spans],
        'levels': [s.attributes.get('logfire.level_num') for s in spans],
        'status': [s.attributes['http.status_code'] for s in spans],
        'parents': [s.parent.span_id == outer.context.span_id for s in spans],
        'traceparents': [f'{s.context.span_id:016x}' in e.get('traceparent', '') for s, e in zip(spans, echoed)],
        'urls': [s.attributes['http.url'].replace(server.url, 'URL') for s in spans],
    }))
    """
)


def run(paths: list[str], options: str = '', **env: str) -> dict[str, list[object]]:
    code = SCRIPT.replace('OPTIONS', options).replace('PATHS', repr(paths))
    result = run_python(code, env=clean_env(**env))
    assert result.returncode == 0, result.stderr
    assert 'already instrumented' not in result.stderr
    return json.loads(result.stdout)


def test_each_request_is_one_client_span_with_message_level_and_traceparent() -> None:
    summary = run(['/items?page=2&api_key=hunter2', '/status/404', '/status/500'])
    assert summary == {
        'messages': [
            "GET HOST/items ? page='2' & api_key=\"[Scrubbed due to 'api_key']\"",
            'GET HOST/status/404',
            'GET HOST/status/500',
        ],
        'levels': [None, 13, 17],
        'status': [200, 404, 500],
        'parents': [True, True, True],
        'traceparents': [True, True, True],
        'urls': ["URL/items?page=2&api_key=[Scrubbed due to 'api_key']", 'URL/status/404', 'URL/status/500'],
    }


def test_excluded_urls_are_not_traced_and_carry_no_traceparent() -> None:
    summary = run(['/health', '/ok'], options="excluded_urls='/health$'")
    assert summary['urls'] == ['URL/ok']


def test_excluded_urls_fall_back_to_the_environment() -> None:
    summary = run(['/health', '/ok'], OTEL_PYTHON_REQUESTS_EXCLUDED_URLS='/health$')
    assert summary['urls'] == ['URL/ok']
