"""Spans from plain OpenTelemetry tracers (any instrumentation library) read like logfire's own."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import logfire
from logfire.testing import CaptureLogfire, TestExporter, TimeGenerator

SECOND = 1_000_000_000


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


def test_a_plain_otel_span_is_timed_by_the_configured_clock() -> None:
    exporter = TestExporter()
    local = logfire.configure(
        local=True,
        console=False,
        additional_span_processors=[SimpleSpanProcessor(exporter)],
        advanced=logfire.AdvancedOptions(ns_timestamp_generator=TimeGenerator()),
    )
    tracer = local.config.tracer_provider.get_tracer('some.library')
    with pytest.raises(ValueError):
        with tracer.start_as_current_span('outer') as outer:
            outer.add_event('midway')
            tracer.start_span('inner').end()
            tracer.start_span('given', start_time=10 * SECOND).end(end_time=11 * SECOND)
            raise ValueError('boom')
    local.shutdown()
    spans = {span.name: span for span in exporter.exported_spans}
    assert (spans['inner'].start_time, spans['inner'].end_time) == (3 * SECOND, 4 * SECOND)
    assert (spans['given'].start_time, spans['given'].end_time) == (10 * SECOND, 11 * SECOND)
    outer_span = spans['outer']
    assert (outer_span.start_time, outer_span.end_time) == (1 * SECOND, 6 * SECOND)
    assert [(event.name, event.timestamp) for event in outer_span.events] == [
        ('midway', 2 * SECOND),
        ('exception', 5 * SECOND),
    ]
    assert outer_span.status.description == 'ValueError: boom'
