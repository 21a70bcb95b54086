"""Stories about what export says when it gives spans up: every drop is counted, with its reason, in one warning."""

from __future__ import annotations

from pathlib import Path

from .conftest import otel_env, run_python, script
from .otlp_receiver import OTLPReceiver
from .test_export import warnings_in

THREE_SPANS = """
for i in range(3):
    logfire.info('item {i}', i=i)
"""


def test_with_the_disk_queue_off_what_is_unsent_at_exit_is_reported_dropped(rx: OTLPReceiver, tmp_path: Path) -> None:
    rx.respond_with(503)
    env = otel_env(rx, tmp_path, LOGFIRE_RETRY_QUEUE_MAX_BYTES='0', LOGFIRE_SHUTDOWN_TIMEOUT_MILLIS='500')
    result = run_python(script(THREE_SPANS, 'console=False, metrics=False'), env=env)
    assert result.returncode == 0, result.stderr

    assert rx.spans() == []
    assert '3 spans dropped (retry queue full)' in warnings_in(result.stderr)[-1], result.stderr
    assert not (tmp_path / 'data').exists()  # nothing was written: the disk queue is off


def test_a_data_dir_that_cannot_be_written_drops_unsent_spans_and_says_why(rx: OTLPReceiver, tmp_path: Path) -> None:
    rx.respond_with(503)
    not_a_directory = tmp_path / 'data'
    not_a_directory.write_text('a file where the data directory should be')
    env = otel_env(rx, tmp_path, LOGFIRE_SHUTDOWN_TIMEOUT_MILLIS='500')  # LOGFIRE_DATA_DIR is tmp_path / 'data'
    result = run_python(script(THREE_SPANS, 'console=False, metrics=False'), env=env)
    assert result.returncode == 0, result.stderr

    last = warnings_in(result.stderr)[-1]
    assert '3 spans dropped (retry queue not writable)' in last, result.stderr
    assert '[Errno' in last and str(not_a_directory) in last  # the operating system's reason, for the user to fix
