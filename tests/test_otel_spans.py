"""Spans from plain OpenTelemetry tracers (any instrumentation library) read like logfire's own."""

from __future__ import annotations

from opentelemetry import trace

from logfire.testing import CaptureLogfire


def attributes_by_name(capfire: CaptureLogfire) -> dict[str, dict[str, object]]:
    return {span['name']: span['attributes'] for span in capfire.exporter.exported_spans_as_dict()}


def test_a_plain_otel_span_gets_its_name_as_message(capfire: CaptureLogfire) -> None:
    with trace.get_tracer('some.library').start_as_current_span('do thing', attributes={'n': 1}):
        pass
    assert attributes_by_name(capfire) == {'do thing': {'n': 1, 'logfire.msg': 'do thing', 'logfire.span_type': 'span'}}


def test_a_message_given_by_the_instrumentation_is_kept(capfire: CaptureLogfire) -> None:
    tracer = trace.get_tracer('some.library')
    tracer.start_span('custom', attributes={'logfire.msg': 'its own', 'logfire.span_type': 'log'}).end()
    tracer.start_span('typed', attributes={'logfire.span_type': 'pending_span'}).end()
    got = attributes_by_name(capfire)
    assert got['custom'] == {'logfire.msg': 'its own', 'logfire.span_type': 'log'}
    assert got['typed'] == {'logfire.span_type': 'pending_span', 'logfire.msg': 'typed'}


def test_database_and_http_client_spans_keep_their_own_messages(capfire: CaptureLogfire) -> None:
    tracer = trace.get_tracer('some.library')
    tracer.start_span('SELECT', attributes={'db.system': 'postgresql', 'db.statement': 'SELECT 1'}).end()
    tracer.start_span('GET', attributes={'http.method': 'GET', 'http.url': 'https://example.com/a?b=1'}).end()
    got = attributes_by_name(capfire)
    assert got['SELECT']['logfire.msg'] == 'SELECT 1'
    assert got['GET']['logfire.msg'] == "GET example.com/a ? b='1'"
