"""Stories about the on-disk retry queue as other local users and stray files see it: private, sends only its own."""

from __future__ import annotations

import gzip
import os
import stat
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import clean_env, run_python
from .otlp_receiver import OTLPReceiver

pytestmark = pytest.mark.skipif(os.name != 'posix', reason='file modes and symlinks as POSIX has them')

WRITE_WITH_COLLECTOR_DOWN = """
    import os
    os.umask({umask})
    import logfire
    logfire.configure(console=False, inspect_arguments=False)
    for i in range(3):
        logfire.info('kept {{i}}', i=i)
"""


@pytest.fixture
def rx() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as receiver:
        yield receiver


def env_for(rx: OTLPReceiver, data: Path, **extra: str) -> dict[str, str]:
    return clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=rx.endpoint, LOGFIRE_SEND_TO_LOGFIRE='false', LOGFIRE_DATA_DIR=str(data), **extra
    )


def write_with_collector_down(rx: OTLPReceiver, data: Path, umask: int = 0) -> str:
    rx.go_away()
    result = run_python(
        textwrap.dedent(WRITE_WITH_COLLECTOR_DOWN.format(umask=umask)),
        env=env_for(rx, data, LOGFIRE_SHUTDOWN_TIMEOUT_MILLIS='500'),
    )
    assert result.returncode == 0, result.stderr
    rx.come_back()
    return result.stderr


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def queue_dirs(data: Path) -> list[Path]:
    return sorted(p for p in (data / 'export-queue').iterdir() if p.is_dir())


def retry_queue_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if 'retry queue' in line and 'Problem exporting' not in line]


def test_the_queue_is_created_private_even_with_a_permissive_umask(rx: OTLPReceiver, tmp_path: Path) -> None:
    data = tmp_path / 'data'
    write_with_collector_down(rx, data, umask=0)

    root = data / 'export-queue'
    files = [p for d in queue_dirs(data) for p in d.iterdir()]
    assert [p.name for p in files if p.name.endswith('.otlp')], 'nothing was queued'
    assert mode(data) == 0o700  # data_dir, created by logfire
    assert mode(root) == 0o700
    assert {mode(d) for d in queue_dirs(data)} == {0o700}
    assert {mode(f) for f in [*files, root / '.gitignore']} == {0o600}


def test_a_wider_existing_queue_directory_is_tightened(rx: OTLPReceiver, tmp_path: Path) -> None:
    data = tmp_path / 'data'
    write_with_collector_down(rx, data)
    for directory in [data / 'export-queue', *queue_dirs(data)]:
        os.chmod(directory, 0o777)  # as an older version, or a careless umask, left it

    result = run_python("import logfire; logfire.configure(console=False); logfire.info('x')", env=env_for(rx, data))

    assert result.returncode == 0, result.stderr
    assert {mode(d) for d in [data / 'export-queue', *queue_dirs(data)]} == {0o700}
    assert sorted(s.name for s in rx.spans()) == ['kept {i}'] * 3 + ['x']


def test_a_queue_directory_that_cannot_be_made_private_is_not_used_with_one_warning(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    data = tmp_path / 'data'
    write_with_collector_down(rx, data)
    [queue] = queue_dirs(data)
    elsewhere = tmp_path / 'elsewhere'
    queue.rename(elsewhere)
    queue.symlink_to(elsewhere)  # another user could point the queue anywhere

    result = run_python("import logfire; logfire.configure(console=False); logfire.info('x')", env=env_for(rx, data))

    assert result.returncode == 0, result.stderr
    [warning] = retry_queue_warnings(result.stderr)
    assert f'The retry queue {queue} is not used' in warning
    assert [s.name for s in rx.spans()] == ['x']  # the queued spans behind the symlink were not sent
    assert queue.is_symlink()


def test_files_logfire_did_not_write_are_moved_aside_never_sent(rx: OTLPReceiver, tmp_path: Path) -> None:
    data = tmp_path / 'data'
    write_with_collector_down(rx, data)
    [queue] = queue_dirs(data)
    [ours] = [p for p in queue.iterdir() if p.name.endswith('.otlp')]
    secret = tmp_path / 'secret'
    secret.write_bytes(ours.read_bytes())  # a real request, reachable only through a symlink
    foreign = {
        '00000000000000000001-1-1-1.gzip.otlp': gzip.compress(b'not a request'),
        '00000000000000000002-1-1-7.gzip.otlp': ours.read_bytes(),  # its name claims 7 spans, it holds 3
        '00000000000000000003-1-1-1.raw.otlp': b'\x0a\x03\xff\xff\xff' * 3,
        'notes.otlp': ours.read_bytes(),  # a name logfire never writes
    }
    for name, body in foreign.items():
        (queue / name).write_bytes(body)
    (queue / '00000000000000000004-1-1-3.gzip.otlp').symlink_to(secret)

    result = run_python("import logfire; logfire.configure(console=False); logfire.info('x')", env=env_for(rx, data))

    assert result.returncode == 0, result.stderr
    assert sorted(s.name for s in rx.spans()) == ['kept {i}'] * 3 + ['x']  # ours, once; nothing foreign
    assert all(r.accepted for r in rx.requests)
    left = sorted(p.name.split('.rejected-')[0] for p in queue.iterdir() if '.rejected-' in p.name)
    assert left == sorted([*foreign, '00000000000000000004-1-1-3.gzip.otlp'])  # set aside, none deleted
    assert not [p for p in queue.iterdir() if p.name.endswith('.otlp')]
    [warning] = retry_queue_warnings(result.stderr)  # rate-limited: one, naming the first
    assert f'Not sending {queue}' in warning and 'so it was not written by logfire' in warning
    assert secret.exists()  # the symlink's target is left alone
