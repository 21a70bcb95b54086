"""Stories about the bounds export promises: batch size, the `Retry-After` cap, what the disk queue deletes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import logfire
from logfire import Logfire

from .conftest import ROOT, clean_env, otel_env, run_python, script
from .otlp_receiver import OTLPReceiver
from .test_export import TOKEN, Child, names_in, trace_requests


@pytest.fixture
def rx() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as receiver:
        yield receiver


def to_backend(rx: OTLPReceiver, tmp_path: Path) -> Logfire:
    """A local instance sending spans to `rx` as if it were the Logfire backend."""
    return logfire.configure(
        local=True,
        console=False,
        metrics=False,
        data_dir=tmp_path,
        send_to_logfire=True,
        token=TOKEN,
        advanced=logfire.AdvancedOptions(base_url=rx.endpoint),
    )


def queue_files(tmp_path: Path) -> list[Path]:
    """Every payload file of the disk queue, claimed or not."""
    return sorted(p for p in (tmp_path / 'export-queue').glob('*/*.otlp*') if not p.name.startswith('.'))


def leave_a_payload_on_disk(rx: OTLPReceiver, tmp_path: Path) -> Path:
    """Run a program that logs one span while the backend is down, so the span is kept in the disk queue.

    A separate process, which has exited (no send of its own still in flight) when this returns the queue's
    directory.
    """
    rx.go_away()
    env = clean_env(LOGFIRE_BASE_URL=rx.endpoint, LOGFIRE_TOKEN=TOKEN, LOGFIRE_DATA_DIR=str(tmp_path))
    result = run_python(script("logfire.info('kept on disk')", 'console=False, metrics=False'), env=env)
    assert result.returncode == 0, result.stderr
    (payload,) = queue_files(tmp_path)
    rx.come_back()
    return payload.parent


def wait_for_an_empty_queue(tmp_path: Path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while queue_files(tmp_path):
        assert time.monotonic() < deadline, f'the disk queue still holds {queue_files(tmp_path)}'
        time.sleep(0.02)


def test_full_batches_leave_at_once_and_never_exceed_the_max_export_batch_size(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    child = Child(
        script("""
            for i in range(10):
                logfire.info('warm-up')  # past the quick start: from here on, only a full batch leaves early
            assert logfire.force_flush(5000)
            sys.setswitchinterval(30)  # no thread switch until the program waits: all 12 spans are queued then
            for i in range(12):
                logfire.info('item {i}', i=i)
            print('ready', flush=True)
            sys.stdin.readline()
        """),
        otel_env(rx, tmp_path, OTEL_BSP_MAX_EXPORT_BATCH_SIZE='5', OTEL_BSP_SCHEDULE_DELAY='60000'),
    )
    try:
        child.wait_ready()
        rx.wait_until(lambda: len([s for s in rx.spans() if s.name == 'item {i}']) == 12, description='12 items')
    finally:
        _, stderr = child.finish()
    assert child.proc.returncode == 0, stderr

    batches = [names_in(r) for r in trace_requests(rx) if 'item {i}' in names_in(r)]
    assert [len(batch) for batch in batches] == [5, 5, 2]


def test_a_retry_after_of_a_day_is_capped_at_five_minutes(rx: OTLPReceiver, tmp_path: Path) -> None:
    rx.respond_with(429, {'Retry-After': '86400'}, times=1)
    # Once the 429 is handled (its warning logged), the program's monotonic clock jumps five minutes and a
    # second ahead, instead of the test waiting that long.
    code = """
import logging, sys, threading, time
real_monotonic, skipped = time.monotonic, 0.0
time.monotonic = lambda: real_monotonic() + skipped
answered = threading.Event()
class Answered(logging.Handler):
    def emit(self, record):
        answered.set()
logging.getLogger('logfire').addHandler(Answered())
import logfire
logfire.configure(console=False, metrics=False)
logfire.info('asked to wait a day')
assert answered.wait(20)
skipped = 301.0
logfire.info('five minutes later')
sys.stdin.readline()
"""
    env = otel_env(rx, tmp_path)
    child = subprocess.Popen(
        [sys.executable, '-c', code], env=env, cwd=ROOT, stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        spans = rx.wait_for_spans(2, timeout=20)  # sent again once five minutes have passed
        assert sorted(s.name for s in spans) == ['asked to wait a day', 'five minutes later']
        _, stderr = child.communicate('\n', timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, stderr
    assert [r.status for r in trace_requests(rx)][0] == 429


def test_a_rejected_payload_from_the_disk_queue_is_deleted_after_one_send(rx: OTLPReceiver, tmp_path: Path) -> None:
    leave_a_payload_on_disk(rx, tmp_path)
    rx.respond_with(401)  # this token is no longer valid: sending it again cannot help

    lf = to_backend(rx, tmp_path)
    try:
        wait_for_an_empty_queue(tmp_path)
    finally:
        lf.shutdown(500)

    assert [names_in(r) for r in trace_requests(rx)] == [['kept on disk']]
    assert queue_files(tmp_path) == []


def test_a_temp_file_being_written_survives_a_rescan_and_an_abandoned_one_is_removed(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    directory = leave_a_payload_on_disk(rx, tmp_path)
    being_written = directory / '.00000000000000000002-1-1-1.gzip.otlp.tmp'  # another process is writing it
    being_written.write_bytes(b'half a payload')
    abandoned = directory / '.00000000000000000001-1-1-1.gzip.otlp.tmp'  # its writer crashed over an hour ago
    abandoned.write_bytes(b'half a payload')
    an_hour_ago = time.time() - 3660
    os.utime(abandoned, (an_hour_ago, an_hour_ago))

    lf = to_backend(rx, tmp_path)  # scans the queue and delivers what is there
    try:
        wait_for_an_empty_queue(tmp_path)
    finally:
        lf.shutdown(500)

    assert [s.name for s in rx.spans()] == ['kept on disk']
    assert being_written.exists()
    assert not abandoned.exists()


def test_the_first_ten_spans_leave_at_once_and_later_ones_wait_for_the_schedule_delay(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    # One span per line on stdin; with a 60 s schedule delay, only the quick start (or a flush) sends a lone span.
    child = Child(
        script("""
            print('ready', flush=True)
            for line in sys.stdin:
                if line.strip() == 'flush':
                    print(logfire.force_flush(5000), flush=True)
                    break
                logfire.info('span {n}', n=int(line))
        """),
        otel_env(rx, tmp_path, OTEL_BSP_SCHEDULE_DELAY='60000'),
    )
    stdin, stdout = child.proc.stdin, child.proc.stdout
    assert stdin is not None and stdout is not None
    try:
        child.wait_ready()
        for n in range(1, 11):  # each is sent before the next is logged: a quick start per span, not per batch
            stdin.write(f'{n}\n')
            stdin.flush()
            rx.wait_until(lambda: len(rx.spans()) == n, description=f'span {n} without a flush')  # noqa: B023
        stdin.write('11\n')
        stdin.flush()
        time.sleep(1)  # the eleventh is past the quick start: it waits for the 60 s delay (or a flush)
        assert len(rx.spans()) == 10
        stdin.write('flush\n')
        stdin.flush()
        assert stdout.readline().strip() == 'True'
        assert sorted(s.attributes['n'] for s in rx.spans()) == list(range(1, 12))
    finally:
        _, stderr = child.finish()
    assert child.proc.returncode == 0, stderr


def test_during_an_outage_payloads_beyond_the_memory_budget_move_to_disk_before_exit(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    rx.respond_with(503)
    # About 12 MB of spans, past the 8 MB kept in memory per destination: the oldest go to the disk queue now,
    # so a crash (or SIGKILL) before exit cannot lose them.
    child = Child(
        script(
            """
            for i in range(1200):
                logfire.info('big {i}', i=i, blob=os.urandom(5_000).hex())
            logfire.force_flush(5000)
            print('ready', flush=True)
            sys.stdin.readline()
            """,
            'console=False, metrics=False, inspect_arguments=False, scrubbing=False',
        ),
        otel_env(rx, tmp_path),
    )
    try:
        child.wait_ready(timeout=60)

        def on_disk() -> list[Path]:
            return [p for p in (tmp_path / 'data' / 'export-queue').glob('*/*.otlp*') if not p.name.startswith('.')]

        # A payload in flight (a retry) is not counted in memory: the overflow may move to disk when its 503 comes.
        deadline = time.monotonic() + 20
        while not on_disk() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert on_disk(), 'nothing was moved to disk while the process ran'
        assert child.proc.poll() is None  # still running: these files were not written at exit
    finally:
        _, stderr = child.finish(timeout=60)
    assert child.proc.returncode == 0, stderr


def test_spans_open_at_exit_are_ended_and_exported_even_after_the_open_span_list_was_pruned(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    code = script("""
        from opentelemetry import trace
        from logfire._internal.exporters import lifecycle

        (processor,) = lifecycle._each_participant()
        processor._prune_at = 20  # instead of 100,000 spans open at once, to reach the pruning quickly
        tracer = trace.get_tracer('open')
        still_open = [tracer.start_span(f'open {i}') for i in range(10)]  # never ended by the program
        for i in range(30):
            tracer.start_span('forgotten')  # neither ended nor referenced: gone, and pruned
        still_open += [tracer.start_span(f'open {i}') for i in range(10, 15)]  # started after the pruning
    """)
    result = run_python(code, env=otel_env(rx, tmp_path))
    assert result.returncode == 0, result.stderr

    spans = rx.wait_for_spans(15)
    assert sorted(s.name for s in spans if s.name.startswith('open')) == sorted(f'open {i}' for i in range(15))
