"""Stories about data that must not be lost nor sent twice: SIGTERM, slow collectors, huge values, exit."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT, clean_env, run_python
from .otlp_receiver import OTLPReceiver, ReceivedSpan


@pytest.fixture
def rx() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as receiver:
        yield receiver


def script(body: str, configure: str = 'console=False, inspect_arguments=False') -> str:
    """A program that configures logfire (console off) and then runs `body`."""
    prelude = f'import json, os, signal, sys, time\nimport logfire\nlogfire.configure({configure})\n'
    return prelude + textwrap.dedent(body)


def otel_env(rx: OTLPReceiver, tmp_path: Path, **extra: str) -> dict[str, str]:
    return clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=rx.endpoint,
        LOGFIRE_SEND_TO_LOGFIRE='false',
        LOGFIRE_DATA_DIR=str(tmp_path / 'data'),
        **extra,
    )


def queued_files(tmp_path: Path, signal_name: str = 'traces') -> list[Path]:
    return sorted((tmp_path / 'data' / 'export-queue').glob(f'{signal_name}-*/*.otlp'))


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


# ---- SIGTERM ----------------------------------------------------------------------------------------


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
