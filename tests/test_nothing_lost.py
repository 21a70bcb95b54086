"""Stories about data that must not be lost nor sent twice: SIGTERM, slow collectors, huge values, exit."""

from __future__ import annotations

import json
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from logfire._internal.exporters.valid_utf8 import MAX_VALUE_CHARS

from .conftest import ROOT, otel_env, run_python, script
from .otlp_receiver import OTLPReceiver, ReceivedSpan


def queued_files(tmp_path: Path, signal_name: str = 'traces') -> list[Path]:
    """The payload files in the disk queue, including any a sender had claimed when its process died."""
    return sorted((tmp_path / 'data' / 'export-queue').glob(f'{signal_name}-*/*.otlp*'))


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if 'Problem exporting' in line]


def names(spans: list[ReceivedSpan]) -> list[str]:
    return sorted(span.name for span in spans)


def start(code: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, '-c', code],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(proc: subprocess.Popen[str], expected: str, timeout: float = 30) -> None:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f'the child did not say {expected!r} in time'
    line = proc.stdout.readline().strip()
    if line != expected:
        proc.kill()
        _, stderr = proc.communicate(timeout=30)
        raise AssertionError(f'expected {expected!r}, got {line!r}; stderr:\n{stderr}')


def finish(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise


def deliver_what_was_kept(rx: OTLPReceiver, tmp_path: Path, first_run: int) -> list[ReceivedSpan]:
    """Heal the collector and run a second process with the same `data_dir`: every span, the first run's included."""
    rx.stall(0)
    rx.respond_with(200)
    second = run_python(script("logfire.info('second run')"), env=otel_env(rx, tmp_path))
    assert second.returncode == 0, second.stderr
    return rx.wait_for_spans(first_run + 1, timeout=30)


# ---- SIGTERM ----------------------------------------------------------------------------------------


@pytest.mark.parametrize('collector', ['answers 500', 'answers 500 slowly'])
def test_sigterm_while_the_collector_fails_keeps_every_unconfirmed_payload_for_the_next_run(
    rx: OTLPReceiver, tmp_path: Path, collector: str
) -> None:
    rx.respond_with(500)
    if collector == 'answers 500 slowly':
        rx.stall(8)  # a request is in flight when the signal lands, and outlives the exit budget
    code = script("""
        for i in range(30):
            logfire.info('first run {i}', i=i)
        time.sleep(0.5)  # the first batch is on the wire (quick start), the rest waits in memory
        print('ready', flush=True)
        time.sleep(60)
    """)
    first = start(code, otel_env(rx, tmp_path, LOGFIRE_SHUTDOWN_TIMEOUT_MILLIS='1000'))
    wait_for_line(first, 'ready')
    time.sleep(0.5)
    first.send_signal(signal.SIGTERM)
    _, stderr = finish(first)
    assert first.returncode == -signal.SIGTERM, stderr
    assert queued_files(tmp_path), stderr
    assert rx.spans() == []  # nothing was confirmed by a 2xx

    spans = deliver_what_was_kept(rx, tmp_path, 30)
    assert names(spans) == sorted(['first run {i}'] * 30 + ['second run']), stderr
    assert sorted(s.attributes['i'] for s in spans if 'i' in s.attributes) == list(range(30))
    assert queued_files(tmp_path) == []


def test_a_second_sigterm_a_moment_later_does_not_cut_the_flush_short(rx: OTLPReceiver, tmp_path: Path) -> None:
    # hypercorn's master sends its workers SIGTERM, then multiprocessing's exit hook sends its daemon children another,
    # within a millisecond. The flush the first one started must still keep every unconfirmed payload.
    rx.respond_with(500)
    rx.stall(1)  # the flush's request is in flight when the second signal lands
    code = script("""
        for i in range(10):
            logfire.info('before SIGTERM {i}', i=i)
        print('ready', flush=True)
        time.sleep(60)
    """)
    first = start(code, otel_env(rx, tmp_path, LOGFIRE_SHUTDOWN_TIMEOUT_MILLIS='2000'))
    wait_for_line(first, 'ready')
    first.send_signal(signal.SIGTERM)
    time.sleep(0.05)
    first.send_signal(signal.SIGTERM)
    _, stderr = finish(first)
    assert first.returncode == -signal.SIGTERM, stderr
    assert queued_files(tmp_path), stderr

    spans = deliver_what_was_kept(rx, tmp_path, 10)
    assert sorted(s.attributes['i'] for s in spans if 'i' in s.attributes) == list(range(10)), stderr


def test_a_sigterm_during_the_exit_flush_lets_it_finish(rx: OTLPReceiver, tmp_path: Path) -> None:
    # The exit hooks flush the spans, then collect and export the metrics one last time; the SIGTERM flush does only
    # the former, so ending the process when it is done would lose the metrics.
    rx.respond_with(500)
    rx.stall(1)  # the exit flush's request is in flight when the signal lands
    code = script("""
        logfire.metric_counter('orders').add(3)
        for i in range(10):
            logfire.info('before exit {i}', i=i)
        print('exiting', flush=True)
    """)
    first = start(code, otel_env(rx, tmp_path, LOGFIRE_SHUTDOWN_TIMEOUT_MILLIS='2000'))
    wait_for_line(first, 'exiting')
    time.sleep(0.3)
    first.send_signal(signal.SIGTERM)
    _, stderr = finish(first)
    assert first.returncode in (0, -signal.SIGTERM), stderr
    assert queued_files(tmp_path), stderr

    spans = deliver_what_was_kept(rx, tmp_path, 10)
    assert sorted(s.attributes['i'] for s in spans if 'i' in s.attributes) == list(range(10)), stderr
    rx.wait_until(lambda: any(m.name == 'orders' for m in rx.metrics()), 10, 'the metrics of the first run')


def test_sigterm_while_a_forked_worker_holds_the_batch_lock_loses_nothing(rx: OTLPReceiver, tmp_path: Path) -> None:
    code = script("""
        import multiprocessing
        from logfire._internal.exporters import lifecycle

        def work():
            logfire.info('child {pid}', pid=os.getpid())
            (processor,) = lifecycle._each_participant()
            with processor._cond:  # as in on_end() or an exit flush, when Pool.terminate() signals the worker
                os.kill(os.getpid(), signal.SIGTERM)
                sum(range(1000))  # the handler runs here, while this thread holds the lock
            time.sleep(60)

        process = multiprocessing.get_context('fork').Process(target=work)
        started = time.monotonic()
        process.start()
        process.join(60)
        print(json.dumps({'exitcode': process.exitcode, 'pid': process.pid, 'took': time.monotonic() - started}))
    """)
    result = run_python(code, env=otel_env(rx, tmp_path), timeout=90)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])

    assert outcome['exitcode'] == -signal.SIGTERM  # it still dies of the signal
    spans = rx.wait_for_spans(1, timeout=30)
    assert [(s.name, s.attributes['pid']) for s in spans] == [('child {pid}', outcome['pid'])]


# ---- a slow collector at exit -----------------------------------------------------------------------


def run_past_the_exit_deadline(rx: OTLPReceiver, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Five logs, whose request is on the wire when the 0.3 s exit budget runs out; the process lives on 2 s more."""
    code = (
        'import atexit, time\n'
        'atexit.register(time.sleep, 2)  # other exit work keeps the process alive until the answer arrives\n'
        + script("""
        for i in range(5):
            logfire.info('slow {i}', i=i)
        time.sleep(0.3)  # the request is on the wire (quick start), waiting for its answer
    """)
    )
    return run_python(code, env=otel_env(rx, tmp_path, LOGFIRE_SHUTDOWN_TIMEOUT_MILLIS='300'))


def test_a_payload_whose_2xx_arrived_after_the_exit_deadline_is_not_sent_again(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    rx.stall(1.5, times=1)  # answers 200, but only after the 0.3 s exit budget
    first = run_past_the_exit_deadline(rx, tmp_path)
    assert first.returncode == 0, first.stderr
    assert names(rx.spans()) == ['slow {i}'] * 5  # the collector did receive them, and said so in time
    assert queued_files(tmp_path) == [], first.stderr
    assert 'Internal error' not in first.stderr  # the late answer is handled after exit began, cleanly

    second = run_python(script("logfire.info('second run')"), env=otel_env(rx, tmp_path))
    assert second.returncode == 0, second.stderr

    rx.wait_for_spans(6, timeout=30)
    time.sleep(0.5)
    assert names(rx.spans()) == ['second run'] + ['slow {i}'] * 5  # nothing was sent twice


def test_a_413_that_arrives_after_the_exit_deadline_leaves_the_payload_for_the_next_run(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    rx.respond_with(413, times=1)
    rx.stall(1.5, times=1)  # "too large", but only after the 0.3 s exit budget: the payload's disk copy must stay
    first = run_past_the_exit_deadline(rx, tmp_path)
    assert first.returncode == 0, first.stderr
    assert rx.spans() == [] and [r.status for r in rx.requests] == [413]
    assert queued_files(tmp_path), first.stderr

    second = run_python(script("logfire.info('second run')"), env=otel_env(rx, tmp_path))
    assert second.returncode == 0, second.stderr

    rx.wait_for_spans(6, timeout=30)
    assert names(rx.spans()) == ['second run'] + ['slow {i}'] * 5
    rx.wait_until(lambda: queued_files(tmp_path) == [], description='an empty disk queue')


# ---- one huge value ---------------------------------------------------------------------------------


def test_one_huge_value_is_cut_and_the_log_still_arrives(rx: OTLPReceiver, tmp_path: Path) -> None:
    code = script(
        """
        logfire.info('big', blob='x' * 10_000_000)
        logfire.info('huge message ' + 'y' * 3_000_000)
        logfire.info('small', blob='z' * 1000)
    """,
        configure='console=False, inspect_arguments=False, scrubbing=False',
    )
    result = run_python(code, env=otel_env(rx, tmp_path))
    assert result.returncode == 0, result.stderr

    spans = {s.name[:20]: s for s in rx.wait_for_spans(3, timeout=30)}
    assert warnings_in(result.stderr) == []
    big = spans['big'].attributes
    assert big['blob'] == 'x' * (MAX_VALUE_CHARS - 1) + '…'
    assert big['logfire.truncated'] is True
    huge = spans['huge message ' + 'y' * 7]
    assert len(huge.name) == MAX_VALUE_CHARS and huge.name.endswith('…')
    assert huge.attributes['logfire.msg'] == huge.name
    assert huge.attributes['logfire.truncated'] is True
    small = spans['small'].attributes
    assert small['blob'] == 'z' * 1000
    assert 'logfire.truncated' not in small


# ---- metrics at exit --------------------------------------------------------------------------------


@pytest.mark.parametrize('collector', ['healthy', 'hung'])
def test_metrics_are_collected_and_exported_once_at_exit(rx: OTLPReceiver, tmp_path: Path, collector: str) -> None:
    extra: dict[str, str] = {}
    if collector == 'hung':
        rx.stall(20)
        extra['LOGFIRE_SHUTDOWN_TIMEOUT_MILLIS'] = '1000'
    code = script("""
        from opentelemetry.metrics import Observation

        calls = []

        def callback(options):
            calls.append(1)
            print('callback', flush=True)
            yield Observation(len(calls))

        logfire.metric_gauge_callback('callback_calls', [callback])
        logfire.metric_counter('orders').add(3)
    """)
    result = run_python(code, env=otel_env(rx, tmp_path, **extra))
    assert result.returncode == 0, result.stderr

    assert result.stdout.split() == ['callback']
    if collector == 'hung':
        (kept,) = queued_files(tmp_path, 'metrics')  # one payload, kept for the next run
        assert kept.name.split('.')[0].endswith('-2')  # of 2 metrics
        return
    requests = [r for r in rx.requests if r.path == '/v1/metrics']
    assert len(requests) == 1
    values = {m.name: [p.value for p in m.data_points] for m in rx.metrics()}
    assert values == {'callback_calls': [1], 'orders': [3]}


# ---- fork -------------------------------------------------------------------------------------------


def test_what_the_export_threads_need_is_imported_by_configure_so_a_fork_cannot_poison_it(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    # A fork() while a thread was inside the first import of the encoder left its import lock held for good in
    # the child: the child's export thread hung on it, and the child's spans were lost (under load, when the
    # first export was still importing when the program forked).
    code = script("""
        modules = [
            'opentelemetry.exporter.otlp.proto.common.trace_encoder',
            'opentelemetry.exporter.otlp.proto.common.metrics_encoder',
            'requests',
        ]
        print(json.dumps([m for m in modules if m not in sys.modules]))
    """)
    result = run_python(code, env=otel_env(rx, tmp_path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


# ---- a burst ----------------------------------------------------------------------------------------

BURST = """
    for i in range({n}):
        with logfire.span('op {{i}}', i=i):
            pass
"""
_DROPPED = re.compile(r'(\d+) spans dropped \(([^)]*)\)')
_KEPT = re.compile(r'(\d+) spans not sent before exit are kept')


def span_ids(rx: OTLPReceiver) -> set[bytes]:
    """The distinct span ids the receiver accepted (a payload sent twice counts once)."""
    return {
        span.span_id
        for r in rx.accepted_requests
        if isinstance(r.request, ExportTraceServiceRequest)
        for rs in r.request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    }


def span_count(rx: OTLPReceiver) -> int:
    """Spans accepted so far, duplicates included: cheap enough to poll."""
    return sum(
        len(ss.spans)
        for r in rx.accepted_requests
        if isinstance(r.request, ExportTraceServiceRequest)
        for rs in r.request.resource_spans
        for ss in rs.scope_spans
    )


def dropped_in(stderr: str) -> dict[str, int]:
    """The spans every warning counted as dropped, by reason."""
    counts: dict[str, int] = {}
    for count, reason in _DROPPED.findall(stderr):
        counts[reason] = counts.get(reason, 0) + int(count)
    return counts


def deliver_burst(rx: OTLPReceiver, tmp_path: Path, n: int, **env: str) -> tuple[int, str]:
    """Run a burst of `n` spans; if some were kept on disk, a second run sends them. The distinct ids, and stderr."""
    first = run_python(script(BURST.format(n=n)), env=otel_env(rx, tmp_path, **env), timeout=120)
    assert first.returncode == 0, first.stderr
    if queued_files(tmp_path):
        second = run_python(script('pass'), env=otel_env(rx, tmp_path))
        assert second.returncode == 0, second.stderr
    rx.wait_until(lambda: span_count(rx) >= n, timeout=30, description=f'{n} spans')
    return len(span_ids(rx)), first.stderr


def test_a_burst_of_10_000_spans_at_exit_is_delivered_whole(rx: OTLPReceiver, tmp_path: Path) -> None:
    # 10,000 spans in a tight loop overflow the 2,048-span queue: the overflow waits in memory for the worker,
    # which sends it (with the default settings, within the exit budget: on this machine, all in the first run).
    delivered, stderr = deliver_burst(rx, tmp_path, 10_000)
    assert delivered == 10_000, stderr
    assert dropped_in(stderr) == {}, stderr
    assert queued_files(tmp_path) == []


def test_a_burst_of_100_000_spans_is_delivered_whole_given_the_time_to_encode_it(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    # Encoding takes tens of microseconds per span: 100,000 need seconds of exit time beyond the loop. What is
    # encoded but not sent before exit waits on disk, and the second run (same data_dir) sends it.
    delivered, stderr = deliver_burst(rx, tmp_path, 100_000, LOGFIRE_SHUTDOWN_TIMEOUT_MILLIS='30000')
    assert delivered == 100_000, stderr
    assert dropped_in(stderr) == {}, stderr
    assert queued_files(tmp_path) == []


def test_a_burst_beyond_the_disk_budget_drops_only_what_does_not_fit_and_counts_it(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    rx.respond_with(500)  # nothing is confirmed: every span goes to the disk queue, capped at 200 kB
    first = run_python(
        script(BURST.format(n=10_000)),
        env=otel_env(rx, tmp_path, LOGFIRE_RETRY_QUEUE_MAX_BYTES='200000'),
        timeout=120,
    )
    assert first.returncode == 0, first.stderr
    dropped = dropped_in(first.stderr)
    assert set(dropped) == {'retry queue full'}, first.stderr  # never 'span queue full': the burst was kept
    (kept,) = [int(k) for k in _KEPT.findall(first.stderr)]
    assert 0 < kept < 10_000 and kept + dropped['retry queue full'] == 10_000, first.stderr

    rx.respond_with(200)
    second = run_python(script('pass'), env=otel_env(rx, tmp_path))
    assert second.returncode == 0, second.stderr
    rx.wait_until(lambda: span_count(rx) >= kept, timeout=30, description=f'{kept} spans')
    assert len(span_ids(rx)) == kept, second.stderr


def test_a_burst_beyond_the_overflow_cap_drops_the_rest_with_a_count(rx: OTLPReceiver, tmp_path: Path) -> None:
    code = script(
        """
    from logfire._internal.exporters import lifecycle

    (processor,) = lifecycle._each_participant()
    processor.max_overflow_spans = 100  # instead of 100,000, to reach the cap quickly
    export = processor.exporter.export
    stalled = []

    def export_after_a_stall(batch):  # the exporter falls behind the burst for a moment, however fast it is
        if not stalled:
            stalled.append(True)
            time.sleep(0.5)
        return export(batch)

    processor.exporter.export = export_after_a_stall
"""
        + BURST.format(n=10_000)
        + '    print(len(processor._overflow), flush=True)\n'
    )
    result = run_python(code, env=otel_env(rx, tmp_path), timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) <= 100  # the overflow never holds more than its cap
    dropped = dropped_in(result.stderr)
    assert set(dropped) == {'span queue full'}, result.stderr
    delivered = 10_000 - dropped['span queue full']
    rx.wait_until(lambda: span_count(rx) >= delivered, timeout=30, description=f'{delivered} spans')
    assert len(span_ids(rx)) == delivered, result.stderr
    assert queued_files(tmp_path) == []
