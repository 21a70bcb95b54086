"""Stories about export over the wire: a real OTLP receiver, real subprocesses, real failures."""

from __future__ import annotations

import json
import select
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from logfire.version import VERSION

from .conftest import ROOT, clean_env, otel_env, run_python, script
from .otlp_receiver import OTLPReceiver, ReceivedRequest, ReceivedSpan, attributes_to_dict

TOKEN = 'pylf_v1_us_test'


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def queued_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / 'data' / 'export-queue').glob('*/*.otlp'))


def span_ids(spans: list[ReceivedSpan]) -> list[str]:
    return [span.span_id for span in spans]


def trace_requests(rx: OTLPReceiver) -> list[ReceivedRequest]:
    return [r for r in rx.requests if r.path == '/v1/traces']


def names_in(request: ReceivedRequest) -> list[str]:
    assert isinstance(request.request, ExportTraceServiceRequest)
    return [s.name for rs in request.request.resource_spans for ss in rs.scope_spans for s in ss.spans]


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if 'Problem exporting' in line]


class Child:
    """A subprocess that says `ready` on stdout, then waits for a line on stdin before it exits."""

    def __init__(self, code: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, '-c', code],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_ready(self, timeout: float = 20) -> None:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, 'the child did not get ready in time'
        assert self.proc.stdout.readline().strip() == 'ready', self.finish()[1]

    def finish(self, timeout: float = 30) -> tuple[str, str]:
        try:
            return self.proc.communicate('\n', timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


# ---- where spans go ---------------------------------------------------------------------------------


def test_spans_and_metrics_reach_the_logfire_backend_with_token_user_agent_and_gzip(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    code = script("""
        with logfire.span('checkout {order}', order=7):
            logfire.info('charged')
        logfire.metric_counter('orders').add(1)
    """)
    env = clean_env(LOGFIRE_BASE_URL=rx.endpoint, LOGFIRE_TOKEN=TOKEN, LOGFIRE_DATA_DIR=str(tmp_path))
    result = run_python(code, env=env)
    assert result.returncode == 0, result.stderr

    assert sorted(s.name for s in rx.spans()) == ['charged', 'checkout {order}']
    assert {m.name for m in rx.metrics()} == {'orders'}
    assert {r.path for r in rx.requests} == {'/v1/traces', '/v1/metrics'}
    for request in rx.requests:
        assert request.headers['authorization'] == TOKEN
        assert request.headers['user-agent'] == f'logfire/{VERSION}'
        assert request.headers['content-encoding'] == 'gzip'
        assert request.headers['content-type'] == 'application/x-protobuf'


def test_standard_otel_endpoint_gets_spans_with_the_standard_headers(rx: OTLPReceiver, tmp_path: Path) -> None:
    code = script("logfire.info('hello')")
    result = run_python(code, env=otel_env(rx, tmp_path, OTEL_EXPORTER_OTLP_HEADERS='x-team=checkout%20squad'))
    assert result.returncode == 0, result.stderr

    assert [s.name for s in rx.spans()] == ['hello']
    (request,) = trace_requests(rx)
    assert request.headers['x-team'] == 'checkout squad'
    assert request.headers['user-agent'] == f'logfire/{VERSION}'
    assert 'authorization' not in request.headers


def test_generic_otel_headers_never_replace_the_logfire_token(rx: OTLPReceiver, tmp_path: Path) -> None:
    env = clean_env(
        LOGFIRE_BASE_URL=rx.endpoint,
        LOGFIRE_TOKEN=TOKEN,
        LOGFIRE_DATA_DIR=str(tmp_path),
        OTEL_EXPORTER_OTLP_HEADERS='Authorization=someone-else,x-extra=1',
    )
    result = run_python(script("logfire.info('hello')"), env=env)
    assert result.returncode == 0, result.stderr

    (request,) = trace_requests(rx)
    assert request.headers['authorization'] == TOKEN
    assert request.headers['x-extra'] == '1'


def test_otel_traces_exporter_none_sends_no_spans(rx: OTLPReceiver, tmp_path: Path) -> None:
    code = script("""
        logfire.info('hello')
        logfire.metric_counter('orders').add(1)
    """)
    result = run_python(code, env=otel_env(rx, tmp_path, OTEL_TRACES_EXPORTER='none'))
    assert result.returncode == 0, result.stderr

    assert trace_requests(rx) == []
    assert {m.name for m in rx.metrics()} == {'orders'}  # the process did export, just not spans


def test_the_exporters_own_http_requests_are_never_traced(rx: OTLPReceiver, tmp_path: Path) -> None:
    # Like an HTTP client instrumentation would: every request made through `requests` creates a span.
    code = script("""
        import requests

        original = requests.Session.send

        def traced_send(self, request, **kwargs):
            logfire.info('outgoing {method}', method=request.method)
            return original(self, request, **kwargs)

        requests.Session.send = traced_send
        for i in range(3):
            logfire.info('work {i}', i=i)
            assert logfire.force_flush(5000)
    """)
    result = run_python(code, env=otel_env(rx, tmp_path))
    assert result.returncode == 0, result.stderr

    assert sorted(s.name for s in rx.spans()) == ['work {i}'] * 3


# ---- batching -----------------------------------------------------------------------------------------


def test_oversized_batches_are_split_and_a_single_huge_span_is_dropped_with_a_warning(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    code = script(
        """
        from opentelemetry import trace

        tracer = trace.get_tracer('big')
        for i in range(8):
            with tracer.start_as_current_span(f'big {i}') as span:
                for k in range(10):
                    span.set_attribute(f'blob {k}', 'x' * 100_000)
        with tracer.start_as_current_span('huge') as span:  # each value fits, all of them do not
            for k in range(55):
                span.set_attribute(f'blob {k}', 'y' * 100_000)
        logfire.info('small')
    """,
        configure='console=False, inspect_arguments=False, scrubbing=False',
    )  # scrubbing megabytes of text is slow, and beside the point
    result = run_python(code, env=otel_env(rx, tmp_path))
    assert result.returncode == 0, result.stderr

    names = sorted(s.name for s in rx.spans())
    assert names == sorted([f'big {i}' for i in range(8)] + ['small'])
    assert all(len(r.body) <= 5 * 1024 * 1024 for r in trace_requests(rx))
    (warning,) = warnings_in(result.stderr)
    assert '1 spans dropped (too large)' in warning
    assert 'an item is larger than the 5 MB request limit' in warning


def test_a_413_answer_splits_the_batch_and_every_span_arrives_once(rx: OTLPReceiver, tmp_path: Path) -> None:
    rx.respond_with(413, times=1)
    code = script("""
        for i in range(8):
            logfire.info('item {i}', i=i)
    """)
    result = run_python(code, env=otel_env(rx, tmp_path))
    assert result.returncode == 0, result.stderr

    spans = rx.spans()
    assert sorted(s.attributes['i'] for s in spans) == list(range(8))
    assert len(set(span_ids(spans))) == 8
    assert trace_requests(rx)[0].status == 413


# ---- delivery when the backend is down, slow or refusing ------------------------------------------


@pytest.mark.parametrize('failure', ['connection refused', 'HTTP 503', 'HTTP 429 with Retry-After'])
def test_backend_down_then_up_every_span_arrives_exactly_once(rx: OTLPReceiver, tmp_path: Path, failure: str) -> None:
    if failure == 'connection refused':
        rx.go_away()
    elif failure == 'HTTP 503':
        rx.respond_with(503)
    else:
        rx.respond_with(429, {'Retry-After': '1'})
    child = Child(
        script("""
            for i in range(30):
                logfire.info('item {i}', i=i)
            print('ready', flush=True)
            sys.stdin.readline()
        """),
        otel_env(rx, tmp_path),
    )
    try:
        child.wait_ready()
        if failure == 'connection refused':
            time.sleep(0.7)
            rx.come_back()
        else:
            rx.wait_for_requests(2, timeout=20)  # it was refused, and tried again
            rx.respond_with(200)
        spans = rx.wait_for_spans(30, timeout=40)  # delivered in the background, before exit
    finally:
        _, stderr = child.finish()
    assert child.proc.returncode == 0, stderr

    spans = rx.spans()
    assert sorted(s.attributes['i'] for s in spans) == list(range(30))
    assert len(set(span_ids(spans))) == 30
    assert len(warnings_in(stderr)) == 1  # one short warning, no traceback
    assert 'Traceback' not in stderr
    assert queued_files(tmp_path) == []


def test_payloads_pending_at_exit_are_delivered_by_the_next_process(rx: OTLPReceiver, tmp_path: Path) -> None:
    rx.go_away()
    first = run_python(
        script("""
            for i in range(20):
                logfire.info('first run {i}', i=i)
        """),
        env=otel_env(rx, tmp_path),
    )
    assert first.returncode == 0, first.stderr
    assert queued_files(tmp_path), 'the unsent spans were not kept on disk'
    first_failure, at_exit = warnings_in(first.stderr)
    assert 'connection refused' in first_failure
    assert '20 spans not sent before exit are kept in' in at_exit

    rx.come_back()
    second = run_python(script("logfire.info('second run')"), env=otel_env(rx, tmp_path))
    assert second.returncode == 0, second.stderr

    spans = rx.spans()
    assert sorted(s.name for s in spans) == ['first run {i}'] * 20 + ['second run']
    assert len(set(span_ids(spans))) == 21
    assert queued_files(tmp_path) == []


def test_an_unauthorized_answer_is_reported_and_dropped_not_retried(rx: OTLPReceiver, tmp_path: Path) -> None:
    rx.respond_with(401)
    code = script("""
        for i in range(5):
            logfire.info('item {i}', i=i)
        print(logfire.force_flush(5000))
        time.sleep(1.5)  # room for any (wrong) retry
    """)
    env = clean_env(LOGFIRE_BASE_URL=rx.endpoint, LOGFIRE_TOKEN=TOKEN, LOGFIRE_DATA_DIR=str(tmp_path / 'data'))
    result = run_python(code, env=env)
    assert result.returncode == 0, result.stderr

    assert result.stdout.split() == ['False']
    sent = [name for request in trace_requests(rx) for name in names_in(request)]
    assert sent == ['item {i}'] * 5  # each span was sent once
    (warning,) = warnings_in(result.stderr)
    assert 'HTTP 401' in warning and '5 spans dropped (rejected)' in warning
    assert queued_files(tmp_path) == []


# ---- exit and flush ---------------------------------------------------------------------------------


@pytest.mark.parametrize('backend', ['closed port', 'stalled'])
def test_exit_with_a_dead_backend_finishes_within_the_shutdown_timeout(
    rx: OTLPReceiver, tmp_path: Path, backend: str
) -> None:
    endpoint = rx.endpoint
    if backend == 'closed port':
        endpoint = f'http://127.0.0.1:{closed_port()}'
    else:
        rx.stall(25)  # accepts the request, never answers in time
    env = clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        LOGFIRE_SEND_TO_LOGFIRE='false',
        LOGFIRE_DATA_DIR=str(tmp_path / 'data'),
        LOGFIRE_SHUTDOWN_TIMEOUT_MILLIS='1000',
    )
    started = time.monotonic()
    result = run_python(script("logfire.info('last words')"), env=env)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr

    assert elapsed < 10, f'exit took {elapsed:.1f}s with a 1s shutdown timeout'  # generous: startup included
    assert queued_files(tmp_path), 'the unsent span was not kept for the next process'


def test_spans_still_open_at_exit_are_ended_and_exported(rx: OTLPReceiver, tmp_path: Path) -> None:
    code = script("""
        def stream():
            with logfire.span('streaming'):
                yield 1
                yield 2

        suspended = stream()
        next(suspended)  # the generator stays suspended inside its span until exit
    """)
    result = run_python(code, env=otel_env(rx, tmp_path))
    assert result.returncode == 0, result.stderr

    assert [s.name for s in rx.spans()] == ['streaming']
    # The generator is closed after the exit hook ended its span: leaving the block again says nothing.
    assert 'ended span' not in result.stderr
    assert result.stderr == ''


def test_lone_surrogates_arrive_as_replacement_characters_and_nothing_is_lost(rx: OTLPReceiver, tmp_path: Path) -> None:
    code = script("""
        try:
            with logfire.span('reading {path}', path='caf\\udce9.txt'):
                raise ValueError('bad byte \\udce9 in name')
        except ValueError:
            pass
        try:
            raise OSError('also \\udce9')
        except OSError:
            logfire.exception('failed on \\udce9 {n}', n=1)
        logfire.info('fine')
        tracer = logfire.DEFAULT_LOGFIRE_INSTANCE.config.tracer_provider.get_tracer('raw')
        tracer.start_span('raw \\udce9', attributes={'parts': ('ok', 'caf\\udce9')}).end()
    """)
    result = run_python(code, env=otel_env(rx, tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''  # no encoder tracebacks

    spans = {s.name: s for s in rx.spans()}
    assert sorted(spans) == ['failed on \ufffd {n}', 'fine', 'raw \ufffd', 'reading {path}']
    assert spans['raw \ufffd'].attributes['parts'] == ['ok', 'caf\ufffd']
    reading = spans['reading {path}']
    assert reading.attributes['path'] == 'caf\ufffd.txt'
    assert reading.attributes['logfire.msg'] == 'reading caf\ufffd.txt'
    assert reading.span.status.message == 'ValueError: bad byte \ufffd in name'
    [event] = [attributes_to_dict(e.attributes) for e in reading.span.events]
    assert event['exception.message'] == 'bad byte \ufffd in name'
    assert 'ValueError: bad byte \ufffd in name' in event['exception.stacktrace']
    [event] = [attributes_to_dict(e.attributes) for e in spans['failed on \ufffd {n}'].span.events]
    assert event['exception.message'] == 'also \ufffd'


def test_sigterm_to_uvicorn_still_delivers_the_span_of_a_served_request(rx: OTLPReceiver, tmp_path: Path) -> None:
    app_dir = tmp_path / 'app'
    app_dir.mkdir()
    (app_dir / 'sigterm_app.py').write_text(
        textwrap.dedent("""
            import logfire

            logfire.configure(console=False)
            for i in range(10):  # past the quick start: from here on spans wait for the 60 s schedule
                logfire.info('startup {i}', i=i)


            async def app(scope, receive, send):
                if scope['type'] == 'lifespan':
                    while True:
                        message = await receive()
                        await send({'type': message['type'] + '.complete'})
                        if message['type'] == 'lifespan.shutdown':
                            return
                with logfire.span('request {path}', path=scope['path']):
                    await send({'type': 'http.response.start', 'status': 200, 'headers': []})
                    await send({'type': 'http.response.body', 'body': b'ok'})
        """)
    )
    port = closed_port()
    env = otel_env(rx, tmp_path, OTEL_BSP_SCHEDULE_DELAY='60000')
    command = [sys.executable, '-m', 'uvicorn', 'sigterm_app:app', '--app-dir', str(app_dir), '--port', str(port)]
    server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        rx.wait_for_spans(10, timeout=20)
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f'http://127.0.0.1:{port}/hello', timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, 'uvicorn did not start'
                time.sleep(0.05)
        assert response.status_code == 200
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=20)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()

    spans = rx.wait_for_spans(11, timeout=10)
    assert 'request {path}' in [s.name for s in spans], output


# ---- fork safety ------------------------------------------------------------------------------------


def test_forked_workers_each_deliver_their_own_spans(rx: OTLPReceiver, tmp_path: Path) -> None:
    code = script("""
        import multiprocessing
        import threading

        logfire.info('parent {pid}', pid=os.getpid())
        stop = threading.Event()

        def churn():  # spans being exported while the forks happen
            while not stop.is_set():
                logfire.info('churn')
                time.sleep(0.001)

        threading.Thread(target=churn, daemon=True).start()
        time.sleep(0.2)
        children = []
        for _ in range(2):
            pid = os.fork()
            if pid == 0:
                logfire.info('forked child {pid}', pid=os.getpid())
                sys.exit(0)
            children.append(pid)
        for pid in children:
            os.waitpid(pid, 0)

        def work():
            logfire.info('multiprocessing child {pid}', pid=os.getpid())

        processes = [multiprocessing.get_context('fork').Process(target=work) for _ in range(2)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(30)
        stop.set()
        print(json.dumps({'forked': children, 'multiprocessing': [p.pid for p in processes]}))
    """)
    result = run_python(code, env=otel_env(rx, tmp_path), timeout=60)
    assert result.returncode == 0, result.stderr
    pids = json.loads(result.stdout.strip().splitlines()[-1])

    by_name: dict[str, set[int]] = {}
    for span in rx.spans():
        by_name.setdefault(span.name, set()).add(span.attributes.get('pid', 0))
    assert by_name['forked child {pid}'] == set(pids['forked'])
    assert by_name['multiprocessing child {pid}'] == set(pids['multiprocessing'])
    assert len(by_name['parent {pid}']) == 1
    spans = rx.spans()
    assert len(set(span_ids(spans))) == len(spans)  # no child re-sent its parent's spans


# ---- diagnostics ------------------------------------------------------------------------------------


def test_a_logging_handler_forwarding_into_logfire_does_not_deadlock_while_export_fails(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    rx.respond_with(503, times=3)
    code = script("""
        import logging

        forwarded = []

        class Forward(logging.Handler):
            def emit(self, record):
                forwarded.append(record.getMessage())
                logfire.info('forwarded: {message}', message=record.getMessage())

        logging.getLogger().addHandler(Forward())
        for i in range(50):
            logfire.info('work {i}', i=i)
            logfire.force_flush(200)
        deadline = time.monotonic() + 20
        while not logfire.force_flush(1000):
            assert time.monotonic() < deadline, 'never recovered'
        logging.getLogger('app').warning('from the app')
        print(json.dumps(forwarded))
    """)
    result = run_python(code, env=otel_env(rx, tmp_path), timeout=60)
    assert result.returncode == 0, result.stderr
    forwarded = json.loads(result.stdout.strip().splitlines()[-1])

    assert any('Problem exporting' in message for message in forwarded)  # the handler did see our warning
    names = [s.name for s in rx.spans()]
    assert names.count('work {i}') == 50
    messages = [s.attributes.get('message', '') for s in rx.spans() if s.name == 'forwarded: {message}']
    assert messages == ['from the app']  # our warning did not re-enter logfire
    assert 'Traceback' not in result.stderr


def test_memory_stays_bounded_while_100k_spans_meet_a_dead_endpoint(tmp_path: Path) -> None:
    code = script(
        """
        from opentelemetry import trace

        def rss():
            with open('/proc/self/statm') as f:
                return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')

        tracer = trace.get_tracer('load')
        for i in range(5_000):
            tracer.start_span('warm-up', attributes={'i': i}).end()
        time.sleep(0.5)
        before = rss()
        for i in range(100_000):
            tracer.start_span('load', attributes={'i': i}).end()
        print(json.dumps({'before': before, 'after': rss()}))
    """,
        configure='console=False, inspect_arguments=False, scrubbing=False',
    )
    env = clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=f'http://127.0.0.1:{closed_port()}',
        LOGFIRE_SEND_TO_LOGFIRE='false',
        LOGFIRE_DATA_DIR=str(tmp_path / 'data'),
        LOGFIRE_RETRY_QUEUE_MAX_BYTES=str(2_000_000),
        LOGFIRE_SHUTDOWN_TIMEOUT_MILLIS='1000',
    )
    result = run_python(code, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    rss = json.loads(result.stdout.strip().splitlines()[-1])

    growth = rss['after'] - rss['before']
    assert growth < 100 * 1024 * 1024, f'RSS grew by {growth / 1e6:.0f} MB'
    assert sum(path.stat().st_size for path in queued_files(tmp_path)) <= 2_000_000
    assert 1 <= len(warnings_in(result.stderr)) <= 3  # rate-limited, with counts
