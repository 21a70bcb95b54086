from __future__ import annotations

import http.client
import socket
import zlib
from collections.abc import Iterator, Mapping

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.otlp_receiver import OTLPReceiver


@pytest.fixture
def rx() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as receiver:
        yield receiver


def _export_spans_with(exporter: OTLPSpanExporter, *names: str) -> None:
    provider = TracerProvider(resource=Resource.create({'service.name': 'receiver-test'}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer('tests.otlp')
    for name in names:
        with tracer.start_as_current_span(name, attributes={'name': name}):
            pass
    provider.shutdown()


def _finished_spans(*names: str) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    for name in names:
        provider.get_tracer('tests.otlp').start_span(name).end()
    provider.shutdown()
    return list(memory.get_finished_spans())


def _post(
    rx: OTLPReceiver, path: str, body: bytes, headers: Mapping[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage]:
    connection = http.client.HTTPConnection('127.0.0.1', rx.port, timeout=5)
    try:
        connection.request('POST', path, body, {'Content-Type': 'application/x-protobuf', **(headers or {})})
        response = connection.getresponse()
        response.read()
        return response.status, response.headers
    finally:
        connection.close()


def _trace_request(name: str) -> bytes:
    span = Span(name=name, trace_id=b'\x01' * 16, span_id=b'\x02' * 8)
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
    ).SerializeToString()


def test_spans_from_the_otel_exporter_arrive_decoded_with_resource_scope_and_attributes(rx: OTLPReceiver) -> None:
    provider = TracerProvider(resource=Resource.create({'service.name': 'receiver-test'}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f'{rx.endpoint}/v1/traces', timeout=5)))
    tracer = provider.get_tracer('tests.otlp')
    attributes = {'s': 'text', 'b': True, 'i': 42, 'f': 1.5, 'strings': ('a', 'b'), 'ints': (1, 2)}
    with tracer.start_as_current_span('parent'):
        with tracer.start_as_current_span('child', attributes=attributes):
            pass
    provider.shutdown()

    child, parent = rx.wait_for_spans(2)
    assert (child.name, parent.name) == ('child', 'parent')
    assert child.attributes == {'s': 'text', 'b': True, 'i': 42, 'f': 1.5, 'strings': ['a', 'b'], 'ints': [1, 2]}
    assert child.parent_span_id == parent.span_id
    assert child.trace_id == parent.trace_id
    assert parent.parent_span_id is None
    assert child.resource_attributes['service.name'] == 'receiver-test'
    assert child.scope_name == 'tests.otlp'
    request = rx.requests[0]
    assert (request.path, request.signal, request.status) == ('/v1/traces', 'traces', 200)
    assert request.raw_size == len(request.body) > 0


def test_gzip_compressed_export_is_decoded(rx: OTLPReceiver) -> None:
    exporter = OTLPSpanExporter(endpoint=f'{rx.endpoint}/v1/traces', timeout=5, compression=Compression.Gzip)
    _export_spans_with(exporter, 'zipped')

    assert [s.name for s in rx.wait_for_spans(1)] == ['zipped']
    request = rx.requests[0]
    assert request.headers['Content-Encoding'] == 'gzip'


def test_custom_headers_are_recorded_with_case_insensitive_lookup(rx: OTLPReceiver) -> None:
    exporter = OTLPSpanExporter(
        endpoint=f'{rx.endpoint}/v1/traces', timeout=5, headers={'Authorization': 'Bearer t0ken', 'X-Team': 'obs'}
    )
    _export_spans_with(exporter, 'with-headers')

    rx.wait_for_spans(1)
    headers = rx.requests[0].headers
    assert headers['authorization'] == 'Bearer t0ken'
    assert headers['X-TEAM'] == 'obs'
    assert 'x-team' in headers
    assert headers.get('content-type') == 'application/x-protobuf'


def test_503_once_then_a_manual_retry_succeeds_and_only_the_accepted_batch_counts(rx: OTLPReceiver) -> None:
    rx.respond_with(503, times=1)
    # The first backoff (about 1s) exceeds the 0.5s timeout, so the exporter gives up without retrying itself.
    exporter = OTLPSpanExporter(endpoint=f'{rx.endpoint}/v1/traces', timeout=0.5)
    spans = _finished_spans('retried')
    try:
        assert exporter.export(spans) is SpanExportResult.FAILURE
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()

    assert [r.status for r in rx.requests] == [503, 200]
    assert [r.status for r in rx.rejected_requests] == [503]
    assert rx.rejected_requests[0].request is not None  # rejected bodies are still decoded for inspection
    assert [s.name for s in rx.spans()] == ['retried']


def test_retry_after_header_is_sent_and_the_exporter_honours_it(rx: OTLPReceiver) -> None:
    rx.respond_with(429, headers={'Retry-After': '0'}, times=1)
    exporter = OTLPSpanExporter(endpoint=f'{rx.endpoint}/v1/traces', timeout=5)
    try:
        assert exporter.export(_finished_spans('throttled')) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()

    assert [r.status for r in rx.requests] == [429, 200]
    rx.respond_with(429, headers={'Retry-After': '7'})
    status, headers = _post(rx, '/v1/traces', _trace_request('manual'))
    assert (status, headers['retry-after']) == (429, '7')


def test_respond_with_persists_until_reset(rx: OTLPReceiver) -> None:
    rx.respond_with(401)
    assert [_post(rx, '/v1/traces', _trace_request(str(i)))[0] for i in range(2)] == [401, 401]
    rx.respond_with(200)
    assert _post(rx, '/v1/traces', _trace_request('ok'))[0] == 200
    assert [s.name for s in rx.spans()] == ['ok']


def _outcome(rx: OTLPReceiver, name: str) -> int | str:
    try:
        return _post(rx, '/v1/traces', _trace_request(name))[0]
    except ConnectionResetError:
        return 'reset'


def test_chaos_misbehaves_at_random_the_same_way_for_the_same_seed() -> None:
    runs: list[list[int | str]] = []
    for _ in range(2):
        with OTLPReceiver() as rx:
            rx.chaos(7, fail=0.4, reset=0.3, slow=0.1, slow_seconds=(0.05, 0.1))
            runs.append([_outcome(rx, str(i)) for i in range(20)])
            assert [r.stalled > 0 for r in rx.requests].count(True) > 0
            rx.chaos(7)  # healthy again
            assert _outcome(rx, 'ok') == 200
    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 500, 'reset'}


def test_bad_requests_are_rejected_and_counted_separately(rx: OTLPReceiver) -> None:
    assert _post(rx, '/v1/nope', b'')[0] == 404
    assert _post(rx, '/v1/traces', b'\xff\xff\xff')[0] == 400
    assert _post(rx, '/v1/traces', b'x', {'Content-Encoding': 'gzip'})[0] == 400
    assert _post(rx, '/v1/traces', b'{}', {'Content-Type': 'application/json'})[0] == 415

    assert [r.status for r in rx.rejected_requests] == [404, 400, 400, 415]
    assert rx.accepted_requests == []
    assert all(r.error for r in rx.requests)


def test_deflate_logs_posted_by_hand_decode_nested_any_values(rx: OTLPReceiver) -> None:
    nested = AnyValue(
        kvlist_value=KeyValueList(
            values=[
                KeyValue(key='list', value=AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1)]))),
                KeyValue(key='raw', value=AnyValue(bytes_value=b'\x00')),
                KeyValue(key='unset', value=AnyValue()),
            ]
        )
    )
    record = LogRecord(
        severity_text='WARN', body=nested, attributes=[KeyValue(key='d', value=AnyValue(double_value=2.5))]
    )
    body = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=[record])])]
    ).SerializeToString()

    assert _post(rx, '/v1/logs', zlib.compress(body), {'Content-Encoding': 'deflate'})[0] == 200
    [log] = rx.logs()
    assert log.body == {'list': [1], 'raw': b'\x00', 'unset': None}
    assert (log.severity_text, log.attributes) == ('WARN', {'d': 2.5})


def test_metrics_from_the_otel_exporter_arrive_with_data_points(rx: OTLPReceiver) -> None:
    exporter = OTLPMetricExporter(endpoint=f'{rx.endpoint}/v1/metrics', timeout=5)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
    provider = MeterProvider(metric_readers=[reader])
    provider.get_meter('tests.otlp').create_counter('jobs').add(3, {'queue': 'default'})
    provider.shutdown()

    rx.wait_until(lambda: bool(rx.metrics()), timeout=5, description='a metrics export')
    [metric] = [m for m in rx.metrics() if m.name == 'jobs']
    assert (metric.kind, metric.scope_name) == ('sum', 'tests.otlp')
    [point] = metric.data_points
    assert (point.attributes, point.value) == ({'queue': 'default'}, 3)


def test_go_away_refuses_connections_and_come_back_serves_on_the_same_port(rx: OTLPReceiver) -> None:
    port = rx.port
    rx.go_away()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(('127.0.0.1', port), timeout=2).close()

    rx.come_back()
    assert rx.port == port
    assert _post(rx, '/v1/traces', _trace_request('back'))[0] == 200
    assert [s.name for s in rx.spans()] == ['back']


def test_go_away_closes_kept_alive_connections(rx: OTLPReceiver) -> None:
    connection = http.client.HTTPConnection('127.0.0.1', rx.port, timeout=5)
    try:
        connection.request('POST', '/v1/traces', _trace_request('first'))
        connection.getresponse().read()
        rx.go_away()
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            connection.request('POST', '/v1/traces', _trace_request('second'))
            connection.getresponse().read()
    finally:
        connection.close()
    assert [s.name for s in rx.spans()] == ['first']


def test_a_stalled_request_times_out_the_client_while_the_next_one_is_served(rx: OTLPReceiver) -> None:
    rx.stall(5, times=1)
    with pytest.raises(TimeoutError):
        connection = http.client.HTTPConnection('127.0.0.1', rx.port, timeout=0.2)
        try:
            connection.request('POST', '/v1/traces', _trace_request('slow'))
            connection.getresponse()
        finally:
            connection.close()
    assert _post(rx, '/v1/traces', _trace_request('fast'))[0] == 200
    assert 'fast' in [s.name for s in rx.spans()]


def test_wait_for_spans_gives_up_with_a_description_of_what_arrived(rx: OTLPReceiver) -> None:
    rx.respond_with(503)
    assert _post(rx, '/v1/traces', _trace_request('refused'))[0] == 503

    with pytest.raises(AssertionError, match=r'(?s)at least 1 span.*1 rejected.*/v1/traces -> 503'):
        rx.wait_for_spans(1, timeout=0.1)


def test_invalid_controls_fail_fast(rx: OTLPReceiver) -> None:
    with pytest.raises(ValueError, match='stall seconds'):
        rx.stall(3600)
    with pytest.raises(ValueError, match='times'):
        rx.respond_with(503, times=0)
    with pytest.raises(ValueError, match='timeout'):
        rx.wait_until(lambda: True, timeout=float('inf'))
