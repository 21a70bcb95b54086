"""Telemetry never hangs the program: signal handlers that log, and forks while another thread logs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from .conftest import clean_env, run_python
from .otlp_receiver import OTLPReceiver

SIGNAL_SCRIPT = textwrap.dedent(
    """
    import faulthandler, io, signal, sys
    import logfire

    class Sink(io.TextIOBase):
        def write(self, s):
            for _ in range(200):  # bytecode run while the console lock is held
                pass
            return len(s)

    console = logfire.ConsoleOptions(output=Sink(), colors='never') if sys.argv[1] == 'console' else False
    logfire.configure(send_to_logfire=False, console=console)
    signal.signal(signal.SIGALRM, lambda *_: logfire.info('tick from a signal handler'))
    signal.setitimer(signal.ITIMER_REAL, 0.002, 0.002)
    faulthandler.dump_traceback_later(30, exit=True)  # a hang fails the test with a traceback, not a timeout
    for i in range(30000):
        logfire.info('loop {i}', i=i)
    signal.setitimer(signal.ITIMER_REAL, 0)
    print('finished')
    """
)


@pytest.mark.parametrize('mode', ['console', 'export'])
def test_a_signal_handler_that_logs_never_deadlocks(tmp_path: Path, mode: str) -> None:
    (tmp_path / 'script.py').write_text(SIGNAL_SCRIPT)
    code = f"import sys; sys.argv = ['script', {mode!r}]; exec(open('script.py').read())"
    with OTLPReceiver() as receiver:
        env = clean_env(
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f'{receiver.endpoint}/v1/traces', LOGFIRE_INSPECT_ARGUMENTS='0'
        )
        result = run_python(code, env=env, cwd=tmp_path, timeout=90)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'finished'


FORK_SCRIPT = textwrap.dedent(
    """
    import io, os, threading, time
    import logfire

    logfire.configure(send_to_logfire=False, console=logfire.ConsoleOptions(output=io.StringIO(), colors='never'))
    stop = False

    def spam():
        while not stop:
            logfire.info('background')

    threading.Thread(target=spam, daemon=True).start()
    hung = 0
    for i in range(30):
        pid = os.fork()
        if pid == 0:
            logfire.info('child {i}', i=i)
            os._exit(0)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if os.waitpid(pid, os.WNOHANG)[0]:
                break
            time.sleep(0.005)
        else:
            hung += 1
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    stop = True
    print(f'hung {hung}')
    """
)


def test_forked_children_log_while_another_thread_was_printing(tmp_path: Path) -> None:
    result = run_python(FORK_SCRIPT, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'hung 0'
