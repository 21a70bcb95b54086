"""Stories about how a configured process ends: SIGTERM flushes within its bound, then the signal does its job."""

from __future__ import annotations

import select
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import otel_env, script
from .otlp_receiver import OTLPReceiver
from .test_export import Child


@pytest.fixture
def rx() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as receiver:
        yield receiver


def terminate(child: Child, timeout: float = 15) -> tuple[str, str]:
    """Send SIGTERM and wait (at most `timeout` seconds) for the child to end."""
    child.proc.send_signal(signal.SIGTERM)
    return child.finish(timeout)


def with_own_handler(handler: str, name: str) -> str:
    """A program whose SIGTERM handler `name` (defined in `handler`) is installed before `configure()`, which ends
    11 spans, the last past the quick start (so it waits for the 60 s schedule, not sent before SIGTERM), then waits."""
    return f"""
import signal, sys, time
{handler}
signal.signal(signal.SIGTERM, {name})
import logfire
logfire.configure(console=False, inspect_arguments=False)
for i in range(10):
    logfire.info('startup {{i}}', i=i)
assert logfire.force_flush(5000)  # past the quick start: later spans wait for the 60 s schedule
logfire.info('finished before SIGTERM')
print('ready', flush=True)
time.sleep(30)
"""


def test_sigterm_flushes_the_finished_spans_of_a_plain_script_and_still_kills_it(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    child = Child(
        script("""
            logfire.configure(console=False, inspect_arguments=False)  # configured twice: still one handler
            for i in range(10):
                logfire.info('startup {i}', i=i)
            assert logfire.force_flush(5000)  # past the quick start: later spans wait for the 60 s schedule
            logfire.info('finished before SIGTERM')
            print('ready', flush=True)
            time.sleep(30)
            print('still running after SIGTERM', flush=True)
        """),
        otel_env(rx, tmp_path, OTEL_BSP_SCHEDULE_DELAY='60000'),
    )
    child.wait_ready()
    stdout, stderr = terminate(child)

    assert child.proc.returncode == -signal.SIGTERM, stderr
    assert 'still running' not in stdout
    assert 'finished before SIGTERM' in [s.name for s in rx.wait_for_spans(11, timeout=5)]


def test_a_sigterm_handler_installed_before_configure_still_runs_after_the_flush(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    code = with_own_handler(
        """
def cleanup(signum, frame):
    print('cleaning up', flush=True)
    sys.exit(3)
""",
        'cleanup',
    )
    child = Child(code, otel_env(rx, tmp_path, OTEL_BSP_SCHEDULE_DELAY='60000'))
    child.wait_ready()
    stdout, stderr = terminate(child)

    assert child.proc.returncode == 3, stderr
    assert stdout.strip() == 'cleaning up'
    assert 'finished before SIGTERM' in [s.name for s in rx.wait_for_spans(11, timeout=5)]


def test_the_programs_own_handler_gets_the_signal_at_once_while_the_spans_leave(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    # A graceful shutdown that takes long, which the supervisor then cuts short with SIGKILL (a grace period):
    # the spans must not wait for it to end.
    code = with_own_handler(
        """
def graceful(signum, frame):
    print(f'graceful shutdown: signal {signum}, frame {frame is not None}', flush=True)
    time.sleep(30)
""",
        'graceful',
    )
    child = Child(code, otel_env(rx, tmp_path, OTEL_BSP_SCHEDULE_DELAY='60000'))
    child.wait_ready()
    child.proc.send_signal(signal.SIGTERM)
    try:
        assert child.proc.stdout is not None
        ready, _, _ = select.select([child.proc.stdout], [], [], 20)
        assert ready, 'the program did not get the signal in time'
        assert child.proc.stdout.readline().strip() == f'graceful shutdown: signal {int(signal.SIGTERM)}, frame True'
        assert 'finished before SIGTERM' in [s.name for s in rx.wait_for_spans(11, timeout=10)]
        assert child.proc.poll() is None  # still in its graceful shutdown: the SIGTERM flush sent them
    finally:
        child.proc.kill()
        child.finish()


def test_a_program_that_restores_the_default_action_and_raises_sigterm_again_still_flushes_its_last_spans(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    # As uvicorn does under gunicorn: its handler only starts a graceful shutdown; the last requests end after it,
    # then it puts back the action it found (the default) and raises the signal again.
    code = """
import signal, threading, time
import logfire

logfire.configure(console=False, inspect_arguments=False)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
for i in range(10):
    logfire.info('startup {i}', i=i)
assert logfire.force_flush(5000)  # past the quick start: later spans wait for the 60 s schedule
print('ready', flush=True)
stop.wait(30)
time.sleep(0.3)  # the flush the signal started has found nothing to send by now
logfire.info('last request')
signal.signal(signal.SIGTERM, signal.SIG_DFL)
signal.raise_signal(signal.SIGTERM)
time.sleep(30)
print('still running', flush=True)
"""
    child = Child(code, otel_env(rx, tmp_path, OTEL_BSP_SCHEDULE_DELAY='60000'))
    child.wait_ready()
    stdout, stderr = terminate(child)

    assert child.proc.returncode == -signal.SIGTERM, stderr
    assert 'still running' not in stdout
    assert 'last request' in [s.name for s in rx.wait_for_spans(11, timeout=5)]


def test_a_hanging_exporter_cannot_keep_a_process_alive_past_the_shutdown_timeout_after_sigterm(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    code = """
import threading, time
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
import logfire

class Hanging(SpanExporter):
    def export(self, spans):
        threading.Event().wait()  # never returns

logfire.configure(console=False, inspect_arguments=False, additional_span_processors=[SimpleSpanProcessor(Hanging())])
with logfire.span('open at SIGTERM'):  # ending it at SIGTERM hands it to the hanging exporter
    print('ready', flush=True)
    time.sleep(30)
"""
    child = Child(code, otel_env(rx, tmp_path, LOGFIRE_SHUTDOWN_TIMEOUT_MILLIS='1000'))
    child.wait_ready()
    started = time.monotonic()
    _, stderr = terminate(child)
    elapsed = time.monotonic() - started

    assert child.proc.returncode == -signal.SIGTERM, stderr
    # The documented bound: the shutdown timeout (1 s) plus a small margin; generous for a loaded machine.
    assert elapsed < 4, f'the process took {elapsed:.1f}s to die after SIGTERM'


def test_a_process_that_ignores_sigterm_keeps_ignoring_it_after_configure(rx: OTLPReceiver, tmp_path: Path) -> None:
    code = """
import signal, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
import logfire
logfire.configure(console=False, inspect_arguments=False)
logfire.info('configured')
print('ready', flush=True)
sys.stdin.readline()
print('still here', flush=True)
"""
    child = Child(code, otel_env(rx, tmp_path))
    child.wait_ready()
    stdout, stderr = terminate(child)  # then a line on stdin: the child says it is still here and exits

    assert child.proc.returncode == 0, stderr
    assert stdout.strip() == 'still here'
    assert [s.name for s in rx.spans()] == ['configured']


@pytest.mark.parametrize(
    'failure',
    [
        pytest.param('no thread', id='no thread can start for the flush: the process dies at once'),
        pytest.param('no reset', id='the default action cannot be set back: the process still ends'),
    ],
)
def test_sigterm_ends_the_process_even_when_the_flush_cannot_end_it_the_usual_way(
    rx: OTLPReceiver, tmp_path: Path, failure: str
) -> None:
    sabotage = {
        # An overloaded server being stopped may be out of threads.
        'no thread': 'lifecycle._start = lambda work: (_ for _ in ()).throw(RuntimeError("cannot start new thread"))',
        # Say a static build without dlopen: the flush thread cannot set the default action back from outside the
        # main thread.
        'no reset': 'lifecycle._reset_to_default = lambda: False',
    }[failure]
    child = Child(
        script(f"""
            from logfire._internal.exporters import lifecycle

            logfire.info('before SIGTERM')
            {sabotage}
            print('ready', flush=True)
            time.sleep(30)
            print('still running after SIGTERM', flush=True)
        """),
        otel_env(rx, tmp_path),
    )
    child.wait_ready()
    stdout, stderr = terminate(child)

    assert 'still running' not in stdout
    if failure == 'no thread':
        assert child.proc.returncode == -signal.SIGTERM, stderr
    else:
        assert child.proc.returncode == 128 + signal.SIGTERM, stderr  # as a shell reports a death by SIGTERM
        assert 'before SIGTERM' in [s.name for s in rx.wait_for_spans(1, timeout=5)]
