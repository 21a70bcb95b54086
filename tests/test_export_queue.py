"""Stories about the export path's parts: destinations, the disk queue, splitting, retry policy, flush, gRPC."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.sdk.trace import SpanProcessor

import logfire
from logfire._internal.config import build_config
from logfire._internal.exporters.diagnostics import ExportDiagnostics
from logfire._internal.exporters.disk_queue import DiskQueue, queue_directory
from logfire._internal.exporters.otlp import destinations
from logfire._internal.exporters.payload import Payload, split_in_two, split_to_fit
from logfire._internal.exporters.retry import Outcome
from logfire._internal.exporters.transport import classify_http, parse_retry_after
from logfire._internal.settings import load_settings
from logfire.exceptions import MissingExtraError

from .otlp_receiver import OTLPReceiver


@pytest.fixture
def rx() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as receiver:
        yield receiver


def request_with(*groups: tuple[str, int]) -> bytes:
    """A trace request with one resource per (service name, span count) group."""
    request = ExportTraceServiceRequest()
    for service, count in groups:
        resource_spans = ResourceSpans(resource=Resource())
        resource_spans.resource.attributes.add(key='service.name').value.string_value = service
        scope_spans = ScopeSpans(scope=InstrumentationScope(name=f'{service}-scope'))
        for i in range(count):
            scope_spans.spans.append(Span(name=f'{service} {i}', span_id=bytes([0] * 7 + [i]), attributes=[]))
        resource_spans.scope_spans.append(scope_spans)
        request.resource_spans.append(resource_spans)
    return request.SerializeToString()


def span_names(raw: bytes) -> list[tuple[str, str, str]]:
    request = ExportTraceServiceRequest.FromString(raw)
    return [
        (rs.resource.attributes[0].value.string_value, ss.scope.name, span.name)
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]


# ---- where spans go ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('token', 'url'),
    [('pylf_v1_us_abc', 'https://logfire-us.pydantic.dev'), ('pylf_v2_eu_abc', 'https://logfire-eu.pydantic.dev')],
)
def test_the_token_region_picks_the_backend(token: str, url: str) -> None:
    config = build_config(load_settings({'token': token, 'send_to_logfire': True}))

    (traces,) = destinations(config, 'traces')
    assert traces.endpoint == f'{url}/v1/traces'
    assert [d.endpoint for d in destinations(config, 'metrics')] == [f'{url}/v1/metrics']
    assert [d.endpoint for d in destinations(config, 'logs')] == [f'{url}/v1/logs']
    assert traces.headers['Authorization'] == token
    assert traces.compression == 'gzip'


def test_base_url_beats_the_token_region_and_otel_endpoints_add_a_destination() -> None:
    settings = load_settings(
        {
            'token': 'pylf_v1_eu_abc',
            'send_to_logfire': True,
            'base_url': 'http://127.0.0.1:1234/',
            'otlp_endpoint': 'http://collector:4318',
            'otlp_metrics_endpoint': 'http://metrics:9000/custom',
        }
    )
    config = build_config(settings)

    assert [d.endpoint for d in destinations(config, 'traces')] == [
        'http://127.0.0.1:1234/v1/traces',
        'http://collector:4318/v1/traces',
    ]
    assert [d.endpoint for d in destinations(config, 'metrics')][1] == 'http://metrics:9000/custom'


def test_otel_signal_exporter_none_turns_a_signal_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('OTEL_EXPORTER_OTLP_ENDPOINT', 'http://collector:4318')
    monkeypatch.setenv('OTEL_METRICS_EXPORTER', 'none')
    config = build_config(load_settings({}))

    assert [d.endpoint for d in destinations(config, 'traces')] == ['http://collector:4318/v1/traces']
    assert destinations(config, 'metrics') == []


def test_grpc_endpoints_are_used_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('OTEL_EXPORTER_OTLP_ENDPOINT', 'http://collector:4317')
    monkeypatch.setenv('OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc')
    monkeypatch.setenv('OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'x-trace-team=a%2Cb')
    config = build_config(load_settings({}))

    (traces,) = destinations(config, 'traces')
    assert (traces.endpoint, traces.protocol) == ('http://collector:4317', 'grpc')
    assert traces.headers['x-trace-team'] == 'a,b'


def test_grpc_protocol_without_the_extra_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, rx: OTLPReceiver, tmp_path: Path
) -> None:
    monkeypatch.setenv('OTEL_EXPORTER_OTLP_ENDPOINT', rx.endpoint)
    monkeypatch.setenv('OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc')
    monkeypatch.setitem(sys.modules, 'grpc', None)

    with pytest.raises(MissingExtraError) as info:
        logfire.configure(local=True, console=False, data_dir=tmp_path)
    assert isinstance(info.value, ImportError)
    assert "pip install 'logfire[grpc]'" in str(info.value)
    assert 'OTEL_EXPORTER_OTLP_PROTOCOL' in str(info.value)
    assert (info.value.integration, info.value.extra, info.value.missing, info.value.name) == ('grpc',) * 4
    assert info.value.msg == str(info.value)  # what `ImportError` shows in a traceback
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


@pytest.mark.parametrize('variable', ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS'])
def test_header_values_with_equals_signs_reach_the_collector_exactly(
    monkeypatch: pytest.MonkeyPatch, rx: OTLPReceiver, tmp_path: Path, variable: str
) -> None:
    monkeypatch.setenv('OTEL_EXPORTER_OTLP_ENDPOINT', rx.endpoint)
    monkeypatch.setenv(variable, 'authorization=Basic dXNlcjpwYXNz==,x-filter=a=b')
    lf = logfire.configure(local=True, console=False, data_dir=tmp_path, metrics=False)
    try:
        lf.info('hello')
        assert lf.force_flush(5000)
    finally:
        lf.shutdown(1000)

    (request,) = rx.requests
    assert request.headers['authorization'] == 'Basic dXNlcjpwYXNz=='
    assert request.headers['x-filter'] == 'a=b'


class FlushCounter(SpanProcessor):
    """A span processor whose `force_flush` answers `answer` (or raises it), counting the calls."""

    def __init__(self, answer: bool | Exception) -> None:
        self.answer = answer
        self.flushes = 0

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.flushes += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize('failure', [False, RuntimeError('flush broke')], ids=['returns False', 'raises'])
def test_force_flush_reaches_every_processor_when_an_earlier_one_fails(failure: bool | Exception) -> None:
    first, second = FlushCounter(failure), FlushCounter(True)
    lf = logfire.configure(local=True, console=False, metrics=False, additional_span_processors=[first, second])
    try:
        lf.info('hello')
        assert lf.force_flush(1000) is False
        assert (first.flushes, second.flushes) == (1, 1)
    finally:
        lf.shutdown(1000)


def test_a_dead_first_destination_does_not_keep_the_second_from_its_spans(
    monkeypatch: pytest.MonkeyPatch, rx: OTLPReceiver, tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        dead = f'http://127.0.0.1:{sock.getsockname()[1]}'
    monkeypatch.setenv('OTEL_EXPORTER_OTLP_ENDPOINT', rx.endpoint)
    monkeypatch.setenv('OTEL_BSP_SCHEDULE_DELAY', '60000')  # past the quick start, only a flush sends spans
    lf = logfire.configure(
        local=True,
        console=False,
        metrics=False,
        data_dir=tmp_path,
        send_to_logfire=True,
        token='pylf_v1_us_test',
        advanced=logfire.AdvancedOptions(base_url=dead),  # the Logfire backend: the first destination
    )
    try:
        for i in range(10):
            lf.info('warm-up {i}', i=i)  # the quick start sends these
        rx.wait_for_spans(10)
        lf.info('important')
        assert lf.force_flush(5000) is False  # the dead backend did not get it

        assert 'important' in [s.name for s in rx.spans()]  # but the collector did, before force_flush returned
    finally:
        lf.shutdown(500)


# ---- the retry policy -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('status', 'outcome'),
    [
        (200, Outcome.SENT),
        (202, Outcome.SENT),
        (300, Outcome.REJECTED),  # not followed by `requests`, and not a delivery
        (408, Outcome.RETRY),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (502, Outcome.RETRY),
        (503, Outcome.RETRY),
        (504, Outcome.RETRY),
        (413, Outcome.TOO_LARGE),
        (400, Outcome.REJECTED),
        (401, Outcome.REJECTED),
        (403, Outcome.REJECTED),
        (404, Outcome.REJECTED),
        (405, Outcome.REJECTED),
        (415, Outcome.REJECTED),
        (600, Outcome.REJECTED),  # outside 5xx
    ],
)
def test_http_answers_are_sent_retried_split_or_dropped(status: int, outcome: Outcome) -> None:
    assert classify_http(status).outcome is outcome


def test_the_warning_for_an_answer_names_its_status_and_the_start_of_a_refusals_body() -> None:
    assert classify_http(503, body='try later').detail == 'HTTP 503'
    assert classify_http(413, body='too big').detail == 'HTTP 413'
    assert classify_http(401).detail == 'HTTP 401'
    assert classify_http(401, body='  invalid\n  token ').detail == 'HTTP 401: invalid token'
    assert classify_http(400, body='x' * 500).detail == 'HTTP 400: ' + 'x' * 120


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    in_a_minute = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=60), usegmt=True)

    assert parse_retry_after('7') == 7
    assert 50 < (parse_retry_after(in_a_minute) or 0) <= 60
    assert parse_retry_after('soon') is None
    assert parse_retry_after('-1') is None
    assert parse_retry_after(None) is None
    assert classify_http(429, '3').retry_after == 3


# ---- splitting --------------------------------------------------------------------------------------


def test_a_request_splits_in_two_keeping_resources_and_scopes() -> None:
    raw = request_with(('api', 3), ('worker', 2))

    halves = split_in_two('traces', raw)

    assert halves is not None
    assert [count for _, count in halves] == [3, 2]
    assert span_names(halves[0][0]) + span_names(halves[1][0]) == span_names(raw)
    assert split_in_two('traces', request_with(('api', 1))) is None


def test_an_oversized_request_is_split_to_fit_and_single_huge_items_are_dropped() -> None:
    request = ExportTraceServiceRequest.FromString(request_with(('api', 10)))
    spans = request.resource_spans[0].scope_spans[0].spans
    for span in spans:
        span.attributes.add(key='blob').value.string_value = 'x' * 1000
    spans[4].attributes.add(key='huge').value.string_value = 'y' * 5000
    raw = request.SerializeToString()

    parts, dropped = split_to_fit('traces', raw, 10, limit=3000)

    assert dropped == 1
    assert all(len(body) <= 3000 for body, _ in parts)
    assert sum(count for _, count in parts) == 9
    names = [name for body, _ in parts for _, _, name in span_names(body)]
    assert names == [f'api {i}' for i in range(10) if i != 4]
    assert split_to_fit('traces', raw, 10) == ([(raw, 10)], 0)  # under the limit: untouched


# ---- the disk queue ---------------------------------------------------------------------------------


def test_the_disk_queue_drops_the_oldest_payloads_beyond_its_cap(tmp_path: Path) -> None:
    queue = DiskQueue(queue_directory(tmp_path, 'traces', 'http://x/v1/traces'), max_bytes=250)
    dropped = [queue.put(Payload(bytes([i]) * 100, '', items=i + 1)) for i in range(4)]

    assert dropped == [0, 0, 1, 2]  # the payloads of 1 and 2 items went first
    assert queue.waiting_items() == 7
    first = queue.claim_oldest()
    assert first is not None and first.body == bytes([2]) * 100 and first.items == 3
    queue.done(first)
    second = queue.claim_oldest()
    assert second is not None and second.items == 4
    queue.release(second)  # not delivered: back in the queue
    again = queue.claim_oldest()
    assert again is not None and again.items == 4
    queue.done(again)
    assert queue.claim_oldest() is None
    assert not list(queue.directory.glob('*.otlp*'))
    assert (queue.directory.parent / '.gitignore').read_text() == '*\n'


def test_a_payload_is_claimed_by_one_process_only_and_a_dead_claimers_payload_comes_back(tmp_path: Path) -> None:
    directory = queue_directory(tmp_path, 'traces', 'http://x/v1/traces')
    writer = DiskQueue(directory, max_bytes=10_000)
    writer.put(Payload(b'payload', 'gzip', items=5))
    first, second = DiskQueue(directory, max_bytes=10_000), DiskQueue(directory, max_bytes=10_000)

    claimed = first.claim_oldest()
    assert claimed is not None and claimed.encoding == 'gzip' and claimed.body == b'payload'
    assert second.claim_oldest() is None

    # The claimer dies without releasing it: the next scan gives the payload back.
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True)
    assert claimed.path is not None
    claimed.path.rename(claimed.path.with_name(claimed.path.name.rsplit('-', 1)[0] + f'-{dead.stdout.strip()}'))
    second.rescan()
    recovered = second.claim_oldest()
    assert recovered is not None and recovered.body == b'payload' and recovered.items == 5


def test_the_disk_queue_cap_counts_exactly_what_is_on_disk(tmp_path: Path) -> None:
    directory = queue_directory(tmp_path, 'traces', 'http://x/v1/traces')
    queue = DiskQueue(directory, max_bytes=300)
    for _ in range(5):  # delivered payloads stop counting against the cap
        queue.put(Payload(b'd' * 100, '', items=1))
        delivered = queue.claim_oldest()
        assert delivered is not None
        queue.done(delivered)
    queue.put(Payload(b'r' * 100, '', items=1))
    retried = queue.claim_oldest()
    assert retried is not None
    queue.release(retried)  # not delivered: back in the queue, counted once

    assert [queue.put(Payload(bytes([i]) * 100, '', items=2)) for i in range(2)] == [0, 0]  # exactly the cap
    assert queue.put(Payload(b'x' * 300, '', items=4)) == 5  # a payload as large as the cap evicts all three
    assert queue.waiting_items() == 4

    # A later process evicts the files it found by scanning, and counts them.
    later = DiskQueue(directory, max_bytes=300)
    later.rescan()
    assert later.put(Payload(b'y' * 200, '', items=1)) == 4
    assert [path.stat().st_size for path in sorted(directory.glob('*.otlp'))] == [200]


def test_the_disk_queue_finds_payloads_among_files_being_written_and_live_claims(tmp_path: Path) -> None:
    directory = queue_directory(tmp_path, 'traces', 'http://x/v1/traces')
    writer = DiskQueue(directory, max_bytes=100_000)
    for i in range(3):
        writer.put(Payload(bytes([i]) * 10, '', items=1))
    alive = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])
    try:
        for i in range(10):  # written by other processes right now, or not payloads at all
            (directory / f'.{i:020d}-1-1-1.raw.otlp.tmp').write_bytes(b'partial')
            (directory / f'notes-{i}.txt').write_text('not a payload')
        (directory / f'{5:020d}-1-1-1.raw.otlp.claimed-{alive.pid}').write_bytes(b'claimed')
        reader = DiskQueue(directory, max_bytes=100_000)
        reader.rescan()
        taken = writer.claim_oldest()  # after the reader's scan: the reader moves on to the next one
        assert taken is not None and taken.body == bytes([0]) * 10

        bodies = [payload.body for payload in iter(reader.claim_oldest, None)]
        assert bodies == [bytes([i]) * 10 for i in (1, 2)]  # every other payload, but not the live claim
        with pytest.raises(subprocess.TimeoutExpired):
            alive.wait(timeout=0.3)  # the claiming process was only looked at, not signalled
    finally:
        alive.kill()
        alive.wait()


# ---- diagnostics ------------------------------------------------------------------------------------


def test_problems_are_reported_at_most_once_per_interval_with_counts() -> None:
    messages: list[str] = []
    diagnostics = ExportDiagnostics('http://x/v1/traces', 'spans', interval=60, emit=messages.append)

    diagnostics.retried(5, 'HTTP 503')
    for _ in range(10):
        diagnostics.retried(7, 'HTTP 503')
    diagnostics.dropped(3, 'rejected', 'HTTP 400: bad')

    assert messages == ['Problem exporting spans to http://x/v1/traces: HTTP 503 (5 spans queued for retry).']
    diagnostics.report(force=True)
    assert len(messages) == 2
    assert messages[1].startswith('Problem exporting spans to http://x/v1/traces: HTTP 400: bad (70 spans queued')
    assert '3 spans dropped (rejected)' in messages[1]


def test_export_failures_warn_once_through_the_logfire_logger(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, rx: OTLPReceiver, tmp_path: Path
) -> None:
    monkeypatch.setenv('OTEL_EXPORTER_OTLP_ENDPOINT', rx.endpoint)
    rx.respond_with(503)
    lf = logfire.configure(local=True, console=False, data_dir=tmp_path)
    try:
        with caplog.at_level(logging.WARNING, logger='logfire'):
            for i in range(5):
                lf.info('attempt {i}', i=i)
                assert not lf.force_flush(2000)
    finally:
        lf.shutdown(1000)

    warnings = [r for r in caplog.records if r.name == 'logfire' and 'Problem exporting' in r.getMessage()]
    assert len(warnings) == 2  # the first failure, and what is left on disk at shutdown
    assert 'HTTP 503 (1 spans queued for retry)' in warnings[0].getMessage()
    assert '5 spans not sent before exit are kept' in warnings[1].getMessage()
    assert all(r.exc_info is None for r in warnings)


# ---- flush ------------------------------------------------------------------------------------------


def test_force_flush_answers_true_or_false_within_its_timeout(
    monkeypatch: pytest.MonkeyPatch, rx: OTLPReceiver, tmp_path: Path
) -> None:
    monkeypatch.setenv('OTEL_EXPORTER_OTLP_ENDPOINT', rx.endpoint)
    lf = logfire.configure(local=True, console=False, data_dir=tmp_path, metrics=False)
    try:
        lf.info('delivered')
        assert lf.force_flush(5000) is True
        assert [s.name for s in rx.spans()] == ['delivered']

        rx.stall(10)  # accepted, but answered far too late
        lf.info('stuck')
        started = time.monotonic()
        assert lf.force_flush(500) is False
        assert time.monotonic() - started < 3  # generous bound on a 0.5 s timeout
        rx.stall(0)
    finally:
        lf.shutdown(500)


# ---- gRPC -------------------------------------------------------------------------------------------


class _TraceService:
    def __init__(self) -> None:
        self.requests: list[tuple[ExportTraceServiceRequest, dict[str, str]]] = []
        self.received = threading.Event()

    def Export(self, request: ExportTraceServiceRequest, context: Any) -> Any:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        self.requests.append((request, dict(context.invocation_metadata())))
        self.received.set()
        return ExportTraceServiceResponse()


def test_grpc_protocol_delivers_spans_with_the_extra_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    grpc: Any = pytest.importorskip('grpc')
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    service = _TraceService()
    server: Any = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(service, server)  # pyright: ignore[reportUnknownMemberType]
    port = server.add_insecure_port('127.0.0.1:0')
    server.start()
    monkeypatch.setenv('OTEL_EXPORTER_OTLP_ENDPOINT', f'http://127.0.0.1:{port}')
    monkeypatch.setenv('OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc')
    monkeypatch.setenv('OTEL_EXPORTER_OTLP_HEADERS', 'x-team=checkout')
    lf = logfire.configure(local=True, console=False, data_dir=tmp_path, metrics=False)
    try:
        lf.info('over grpc')
        assert lf.force_flush(10_000)
    finally:
        lf.shutdown(1000)
        server.stop(None)

    (request, metadata), *_ = service.requests
    assert [s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans] == ['over grpc']
    assert metadata['x-team'] == 'checkout'


def test_fork_gives_the_child_its_own_sender(rx: OTLPReceiver, tmp_path: Path) -> None:
    # In a subprocess, so the fork happens in a process without pytest's threads.
    code = f"""
import os, sys
import logfire
lf = logfire.configure(local=True, console=False, data_dir={str(tmp_path)!r}, metrics=False)
lf.info('before fork')
assert lf.force_flush(5000)
pid = os.fork()
lf.info('after fork in ' + ('child' if pid == 0 else 'parent'))
ok = lf.force_flush(5000)
if pid == 0:
    os._exit(0 if ok else 1)
_, status = os.waitpid(pid, 0)
assert ok and os.waitstatus_to_exitcode(status) == 0
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(('LOGFIRE_', 'OTEL_', 'PYTEST_'))}
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=rx.endpoint, PYTHONPATH=str(Path(__file__).parent.parent))
    result = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr

    names = sorted(s.name for s in rx.spans())
    assert names == ['after fork in child', 'after fork in parent', 'before fork']


def test_a_request_that_times_out_is_sent_again(
    monkeypatch: pytest.MonkeyPatch, rx: OTLPReceiver, tmp_path: Path
) -> None:
    monkeypatch.setenv('OTEL_EXPORTER_OTLP_ENDPOINT', rx.endpoint)
    monkeypatch.setenv('OTEL_EXPORTER_OTLP_TIMEOUT', '0.3')
    rx.stall(30, times=1)  # the first request gets no answer in time (nor before the wait below gives up)
    lf = logfire.configure(local=True, console=False, data_dir=tmp_path, metrics=False)
    try:
        lf.info('patient')
        rx.wait_until(lambda: any(r.status == 200 for r in rx.requests), timeout=15, description='a retry')
    finally:
        lf.shutdown(500)
        rx.stop()  # ends the stalled request

    assert [s.name for s in rx.spans()] == ['patient']


def test_leftovers_are_queued_per_endpoint_and_credentials() -> None:
    from logfire._internal.exporters.disk_queue import queue_directory
    from logfire._internal.exporters.otlp import queue_identity

    def directory(headers: dict[str, str]) -> Path:
        return queue_directory(Path('d'), 'traces', queue_identity('http://127.0.0.1:1/v1/traces', headers))

    tenant_a = directory({'Authorization': 'pylf_v1_us_a', 'User-Agent': 'logfire/1'})
    assert tenant_a == directory({'authorization': 'pylf_v1_us_a', 'User-Agent': 'logfire/2'})  # upgrades keep it
    assert tenant_a != directory({'Authorization': 'pylf_v1_us_b', 'User-Agent': 'logfire/1'})
    assert directory({'x-tenant': 'A'}) != directory({'x-tenant': 'B'})
