"""Stories about the disk queue's edges: a coarse clock, claims of other processes, a queue that is not private.

Each was a small bug that the rest of the suite let through (found by `make mutate`).
"""

from __future__ import annotations

import functools
import gzip
import logging
import os
import re
import shutil
import stat
import textwrap
import time
import zlib
from pathlib import Path

import pytest

import logfire
from logfire._internal.exporters import disk_queue, retry
from logfire._internal.exporters.diagnostics import ExportDiagnostics
from logfire._internal.exporters.disk_queue import DiskQueue, queue_directory
from logfire._internal.exporters.otlp import queue_identity
from logfire._internal.exporters.payload import Encoding, Payload, compress, decompress
from logfire._internal.exporters.queue_files import MAX_FILE_BYTES, request_problem
from logfire._internal.exporters.retry import Outcome, SendResult

from .conftest import otel_env, run_python, script
from .otlp_receiver import OTLPReceiver
from .test_export_queue import request_with, span_names
from .test_export_retry_policy import DESTINATION, ScriptedTransport

pytestmark = pytest.mark.skipif(os.name != 'posix', reason='file modes, symlinks and signals as POSIX has them')


def new_queue(data_dir: Path, max_bytes: int = 100_000) -> DiskQueue:
    return DiskQueue(queue_directory(data_dir, 'traces', DESTINATION), max_bytes=max_bytes)


def bodies(queue: DiskQueue) -> list[bytes]:
    """Claim every payload the queue offers (deleting each), oldest first."""
    found: list[bytes] = []
    while (payload := queue.claim_oldest()) is not None:
        found.append(payload.body)
        queue.done(payload)
    return found


def test_payloads_stored_within_one_tick_of_a_coarse_clock_are_all_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, 'time_ns', lambda: 1_700_000_000_000_000_000)  # Windows' clock ticks every 15 ms
    queue = new_queue(tmp_path)
    for i in range(3):
        queue.put(Payload(bytes([i]) * 10, '', items=1))
    monkeypatch.undo()

    assert sorted(bodies(new_queue(tmp_path))) == [bytes([i]) * 10 for i in range(3)]


def test_a_data_dir_whose_parents_do_not_exist_yet_is_created(tmp_path: Path) -> None:
    queue = new_queue(tmp_path / 'not' / 'yet' / 'there')
    queue.put(Payload(b'kept', '', items=1))

    assert bodies(new_queue(tmp_path / 'not' / 'yet' / 'there')) == [b'kept']


def test_a_payload_put_back_for_a_retry_is_found_by_the_next_process(tmp_path: Path) -> None:
    queue = new_queue(tmp_path)
    queue.put(Payload(b'retry me', '', items=1))
    claimed = queue.claim_oldest()
    assert claimed is not None
    queue.release(claimed)  # the backend said "try again later", then the process exited

    assert bodies(new_queue(tmp_path)) == [b'retry me']


def test_a_dropped_count_leaves_out_a_payload_another_process_took_meanwhile(tmp_path: Path) -> None:
    writer = new_queue(tmp_path, max_bytes=300)
    for i in range(3):
        writer.put(Payload(bytes([i]) * 100, '', items=5))
    sender = new_queue(tmp_path, max_bytes=300)
    taken = sender.claim_oldest()  # another process is sending the oldest one
    assert taken is not None and taken.body == bytes([0]) * 100

    # Over the cap, the writer would evict the oldest file it knows of, which is no longer there to drop.
    assert writer.put(Payload(b'n' * 100, '', items=1)) == 0
    sender.done(taken)
    assert bodies(new_queue(tmp_path)) == [bytes([1]) * 100, bytes([2]) * 100, b'n' * 100]


def test_a_claim_held_too_long_or_unreadable_is_put_back(tmp_path: Path) -> None:
    queue = new_queue(tmp_path)
    queue.put(Payload(b'hung', '', items=1))
    queue.put(Payload(b'garbled', '', items=1))
    hung, garbled = sorted(queue.directory.glob('*.otlp'))
    # A process that is still alive (pid 1 always is) claimed one six minutes ago and hangs: it is put back.
    os.rename(hung, f'{hung}.claimed-1')
    six_minutes_ago = time.time() - 360
    os.utime(f'{hung}.claimed-1', (six_minutes_ago, six_minutes_ago))
    os.rename(garbled, f'{garbled}.claimed-x')  # a claim whose pid cannot be read: put back too

    assert bodies(new_queue(tmp_path)) == [b'hung', b'garbled']


CLAIM_OF_ANOTHER_USER = """
import os, tempfile
from pathlib import Path
from logfire._internal.exporters.diagnostics import ExportDiagnostics
from logfire._internal.exporters.disk_queue import DiskQueue, queue_directory
from logfire._internal.exporters.otlp import queue_identity
from logfire._internal.exporters.payload import Encoding, Payload, compress, decompress
from logfire._internal.exporters.queue_files import MAX_FILE_BYTES, request_problem

if os.getuid() == 0:
    os.setuid(65534)  # nobody: pid 1 is alive, and not ours to signal
data = Path(tempfile.mkdtemp())
queue = DiskQueue(queue_directory(data, 'traces', 'http://x/v1/traces'), max_bytes=100_000)
queue.put(Payload(b'in flight', '', items=1))
[path] = queue.directory.glob('*.otlp')
os.rename(path, f'{path}.claimed-1')  # claimed a moment ago by pid 1's user, which is sending it
later = DiskQueue(queue.directory, max_bytes=100_000)
print(later.pending(), later.claim_oldest())
"""


def test_a_fresh_claim_of_a_live_process_of_another_user_is_left_alone() -> None:
    result = run_python(textwrap.dedent(CLAIM_OF_ANOTHER_USER))

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ['0', 'None']


def test_a_queue_that_cannot_be_made_private_warns_once_and_says_why_payloads_are_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queue = new_queue(tmp_path)
    queue.directory.parent.mkdir(parents=True)
    (tmp_path / 'elsewhere').mkdir()
    queue.directory.symlink_to(tmp_path / 'elsewhere')  # another user could point the queue anywhere
    planted = tmp_path / 'elsewhere' / f'{1:020d}-1-1-1.raw.otlp'
    planted.write_bytes(b'planted')

    problems: list[str] = []
    with caplog.at_level(logging.WARNING, logger='logfire'):
        for i in range(3):
            with pytest.raises(OSError) as info:
                queue.put(Payload(bytes([i]), '', items=1))
            problems.append(str(info.value))
        assert (queue.pending(), queue.claim_oldest()) == (0, None)  # nothing is read from behind the symlink

    [warning] = [r.getMessage() for r in caplog.records if 'retry queue' in r.getMessage()]
    assert warning.startswith(f'The retry queue {queue.directory} is not used: {queue.directory} is not a directory')
    assert all(str(queue.directory) in problem for problem in problems)  # the reason given for each drop
    assert list((tmp_path / 'elsewhere').iterdir()) == [planted]


def test_the_disk_copy_of_a_payload_delivered_after_all_is_deleted_even_when_it_filled_the_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retry, 'BACKOFF_INITIAL_SECONDS', 0.001)
    transport = ScriptedTransport()
    first = request_with(('api', 2))
    disk = new_queue(tmp_path, max_bytes=len(first) + 10)
    delivery = retry.Delivery(
        'traces',
        transport,
        disk=disk,
        request_timeout=1,
        diagnostics=ExportDiagnostics(DESTINATION, 'spans', interval=3600, emit=lambda message: None),
    )
    try:
        delivery.submit(Payload(first, '', 2))
        transport.wait_for_send(1)
        disk.put(Payload(b'older' * 5, '', 1))  # written meanwhile: the copy below pushes it out
        delivery.persist_pending()  # at SIGTERM: copy the payload in flight
        assert disk.waiting_items() == 2

        transport.answers.put(SendResult(Outcome.SENT, 'scripted'))  # delivered after all
        delivery.submit(Payload(request_with(('next', 1)), '', 1))
        transport.wait_for_send(1)
        assert transport.sent[-1].items == 1 and transport.sent[-1].path is None  # not the copy
        assert disk.waiting_items() == 0
    finally:
        for _ in range(3):
            transport.answers.put(SendResult(Outcome.SENT))
        delivery.close()


def test_a_file_too_large_to_be_ours_is_set_aside_under_its_own_name_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queue = new_queue(tmp_path)
    queue.put(Payload(b'ours', '', items=1))
    huge = queue.directory / f'{1:020d}-1-1-1.raw.otlp'  # named like ours, sorted first
    huge.write_bytes(b'\0' * (MAX_FILE_BYTES + 1))

    with caplog.at_level(logging.WARNING, logger='logfire'):
        assert bodies(new_queue(tmp_path)) == [b'ours']

    [aside] = [p.name for p in queue.directory.iterdir()]
    assert aside.startswith(f'{huge.name}.rejected-')
    [warning] = [r.getMessage() for r in caplog.records if 'retry queue' in r.getMessage()]
    assert warning.startswith(f'Not sending {huge} from the retry queue: larger than {MAX_FILE_BYTES} bytes')
    assert 'more since the last warning' not in warning  # one file, one warning


FORKED_WORKER = """
pid = os.fork()
logfire.info('from the ' + ('child' if pid == 0 else 'parent'))
if pid:
    os.waitpid(pid, 0)
"""


def test_spans_a_forked_worker_leaves_on_disk_are_delivered_by_the_next_run(
    rx: OTLPReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rx.go_away()
    env = otel_env(rx, tmp_path, LOGFIRE_SHUTDOWN_TIMEOUT_MILLIS='300')
    result = run_python(script(FORKED_WORKER, 'console=False, metrics=False'), env=env)
    assert result.returncode == 0, result.stderr
    assert 'Internal error' not in result.stderr
    rx.come_back()

    monkeypatch.setenv('OTEL_EXPORTER_OTLP_ENDPOINT', rx.endpoint)
    lf = logfire.configure(local=True, console=False, metrics=False, data_dir=tmp_path / 'data')  # the next run
    try:
        rx.wait_for_spans(2)
    finally:
        lf.shutdown(500)
    assert sorted(s.name for s in rx.spans()) == ['from the child', 'from the parent']


def test_a_payload_swapped_for_a_symlink_after_the_scan_is_set_aside_not_followed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queue = new_queue(tmp_path)
    queue.put(Payload(b'ours', '', items=1))
    assert queue.pending() == 1  # scanned
    [path] = queue.directory.glob('*.otlp')
    secret = tmp_path / 'secret'
    secret.write_bytes(b'not for the collector')
    path.unlink()
    path.symlink_to(secret)  # swapped for a symlink between the scan and the claim

    with caplog.at_level(logging.WARNING, logger='logfire'):
        assert queue.claim_oldest() is None

    [aside] = [p.name for p in queue.directory.iterdir()]
    assert aside.startswith(f'{path.name}.rejected-')
    [warning] = [r.getMessage() for r in caplog.records if 'retry queue' in r.getMessage()]
    assert warning.startswith(f'Not sending {path} from the retry queue: a symlink (')
    assert secret.read_bytes() == b'not for the collector'


def test_files_set_aside_are_reported_once_per_interval_then_with_how_many_more(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(disk_queue, 'WARNING_INTERVAL_SECONDS', 0.2)
    queue = new_queue(tmp_path)
    queue.put(Payload(b'ours', '', items=1))
    for name in ('a.otlp', 'b.otlp'):
        (queue.directory / name).write_bytes(b'dropped here by hand')

    with caplog.at_level(logging.WARNING, logger='logfire'):
        queue.rescan()  # warns about one of the two, counts the other
        time.sleep(0.25)
        (queue.directory / 'c.otlp').write_bytes(b'dropped here by hand')
        queue.rescan()

    first, second = [r.getMessage() for r in caplog.records if 'retry queue' in r.getMessage()]
    directory = re.escape(str(queue.directory))
    said = r'from the retry queue: a name this SDK never writes, so it was not written by logfire\. It was renamed to'
    end = r'; delete it once looked at\.'
    assert re.fullmatch(rf'Not sending {directory}/([ab])\.otlp {said} \1\.otlp\.rejected-\d+{end}', first)
    more = r' \(1 more since the last warning\)'
    assert re.fullmatch(rf'Not sending {directory}/c\.otlp {said} c\.otlp\.rejected-\d+{more}{end}', second)
    assert bodies(queue) == [b'ours']


def test_the_disk_copy_of_a_payload_pushed_out_of_a_full_queue_before_its_2xx_costs_nothing_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(retry, 'BACKOFF_INITIAL_SECONDS', 0.001)
    transport = ScriptedTransport()
    first = request_with(('api', 2))
    disk = new_queue(tmp_path, max_bytes=len(first) + 10)
    messages: list[str] = []
    every_problem = ExportDiagnostics(DESTINATION, 'spans', interval=0, emit=messages.append)
    delivery = retry.Delivery('traces', transport, disk=disk, request_timeout=1, diagnostics=every_problem)
    try:
        with caplog.at_level(logging.WARNING, logger='logfire'):
            delivery.submit(Payload(first, '', 2))
            transport.wait_for_send(1)
            delivery.persist_pending()  # at SIGTERM: copy the payload in flight
            assert disk.put(Payload(b'n' * len(first), '', 3)) == 2  # newer spans push the copy out
            transport.answers.put(SendResult(Outcome.SENT, 'scripted'))  # delivered after all
            delivery.submit(Payload(request_with(('next', 1)), '', 1))
            transport.wait_for_send(1)
            transport.answers.put(SendResult(Outcome.SENT, 'scripted'))
            transport.wait_for_send(1)  # then what is left on disk
    finally:
        for _ in range(3):
            transport.answers.put(SendResult(Outcome.SENT))
        delivery.close()

    assert [r.getMessage() for r in caplog.records if 'Internal error' in r.getMessage()] == []
    assert [payload.items for payload in transport.sent] == [2, 1, 3]


def test_payloads_being_sent_count_against_the_disk_budget(tmp_path: Path) -> None:
    queue = new_queue(tmp_path, max_bytes=300)
    queue.put(Payload(b'a' * 100, '', items=1))
    queue.put(Payload(b'b' * 100, '', items=1))
    in_flight = [queue.claim_oldest(), queue.claim_oldest()]  # two senders are sending them
    assert queue.put(Payload(b'c' * 100, '', items=2)) == 0
    assert queue.put(Payload(b'd' * 100, '', items=4)) == 2  # 400 bytes on disk: the oldest unsent one goes

    assert sum(p.stat().st_size for p in queue.directory.iterdir() if not p.name.startswith('.')) == 300
    for payload in in_flight:
        assert payload is not None
        queue.done(payload)
    assert bodies(queue) == [b'd' * 100]


def test_files_the_request_check_refuses_are_set_aside_naming_the_problem(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    check = functools.partial(request_problem, 'traces')
    queue = DiskQueue(queue_directory(tmp_path, 'traces', DESTINATION), max_bytes=100_000, check=check)
    queue.put(Payload(request_with(('api', 1)), '', items=1))
    lying = queue.directory / f'{1:020d}-1-1-7.raw.otlp'  # sorted first; its name says 7 spans, it holds 2
    lying.write_bytes(request_with(('api', 2)))

    with caplog.at_level(logging.WARNING, logger='logfire'):
        assert [span_names(body) for body in bodies(queue)] == [[('api', 'api-scope', 'api 0')]]

    [aside] = [p.name for p in queue.directory.iterdir()]
    assert aside.startswith(f'{lying.name}.rejected-')
    [warning] = [r.getMessage() for r in caplog.records if 'retry queue' in r.getMessage()]
    assert warning.startswith(f'Not sending {lying} from the retry queue: 2 items where its name says 7, so it')


def test_a_queue_directory_deleted_while_running_reads_as_empty_and_is_made_again_private(tmp_path: Path) -> None:
    queue = new_queue(tmp_path)
    queue.put(Payload(b'gone', '', items=1))
    shutil.rmtree(queue.directory.parent)  # someone cleans up data_dir

    queue.rescan()
    assert (queue.pending(), queue.claim_oldest()) == (0, None)

    queue.put(Payload(b'kept', '', items=1))  # the next outage
    assert [stat.S_IMODE(d.stat().st_mode) for d in (queue.directory, queue.directory.parent)] == [0o700, 0o700]
    assert bodies(new_queue(tmp_path)) == [b'kept']


def test_symlinks_found_by_a_scan_are_set_aside_even_dangling(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    queue = new_queue(tmp_path)
    queue.put(Payload(b'ours', '', items=1))
    dangling = queue.directory / f'{1:020d}-1-1-1.raw.otlp'
    dangling.symlink_to(tmp_path / 'nothing-there')

    with caplog.at_level(logging.WARNING, logger='logfire'):
        assert bodies(new_queue(tmp_path)) == [b'ours']

    [aside] = [p for p in queue.directory.iterdir()]
    assert aside.name.startswith(f'{dangling.name}.rejected-') and aside.is_symlink()
    [warning] = [r.getMessage() for r in caplog.records if 'retry queue' in r.getMessage()]
    assert warning.startswith(f'Not sending {dangling} from the retry queue: a symlink or not a regular file, so')


def _with_an_unknown_field(raw: bytes) -> bytes:
    return raw + b'\xf8\x07\x01'  # field 127, a varint: parses, but no OTLP request has it


@pytest.mark.parametrize(
    ('encoding', 'body', 'problem'),
    [
        ('gzip', zlib.compress(request_with(('api', 1))), 'not gzip data as its name says (Error -3'),
        ('deflate', gzip.compress(request_with(('api', 1))), 'not deflate data as its name says (Error -3'),
        ('gzip', gzip.compress(request_with(('api', 1))) + b'junk', 'not gzip data as its name says (truncated, or'),
        ('gzip', gzip.compress(request_with(('api', 1)))[:-12], 'not gzip data as its name says (truncated, or'),
        ('deflate', zlib.compress(b'\0' * (MAX_FILE_BYTES + 1)), f'(inflates beyond {MAX_FILE_BYTES} bytes)'),
        ('gzip', gzip.compress(b'\xff' * 10), 'not an OTLP traces request (DecodeError)'),
        ('raw', _with_an_unknown_field(request_with(('api', 1))), 'an OTLP traces request with fields this SDK'),
    ],
    ids=['zlib-named-gzip', 'gzip-named-deflate', 'trailing-data', 'truncated', 'bomb', 'not-otlp', 'extra'],
)
def test_a_body_that_is_not_what_its_name_says_is_set_aside_naming_the_problem(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, encoding: str, body: bytes, problem: str
) -> None:
    check = functools.partial(request_problem, 'traces')
    queue = DiskQueue(queue_directory(tmp_path, 'traces', DESTINATION), max_bytes=100_000_000, check=check)
    queue.put(Payload(request_with(('api', 1)), '', items=1))  # ours, to show the queue goes on
    odd = queue.directory / f'{1:020d}-1-1-1.{encoding}.otlp'
    odd.write_bytes(body)

    with caplog.at_level(logging.WARNING, logger='logfire'):
        assert bodies(queue) == [request_with(('api', 1))]

    [warning] = [r.getMessage() for r in caplog.records if 'retry queue' in r.getMessage()]
    assert warning.startswith(f'Not sending {odd} from the retry queue: ')
    assert problem in warning


@pytest.mark.parametrize('encoding', ['gzip', 'deflate', ''])
def test_payloads_this_sdk_wrote_pass_the_check_in_every_encoding(tmp_path: Path, encoding: Encoding) -> None:
    check = functools.partial(request_problem, 'traces')
    queue = DiskQueue(queue_directory(tmp_path, 'traces', DESTINATION), max_bytes=100_000, check=check)
    raw = request_with(('api', 3))
    queue.put(Payload(compress(raw, encoding), encoding, items=3))

    payload = queue.claim_oldest()
    assert payload is not None and (payload.encoding, payload.items) == (encoding, 3)
    assert decompress(payload.body, encoding) == raw


def test_a_payload_swapped_for_a_fifo_after_the_scan_is_set_aside_without_blocking(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queue = new_queue(tmp_path)
    queue.put(Payload(b'ours', '', items=1))
    assert queue.pending() == 1  # scanned
    [path] = queue.directory.glob('*.otlp')
    path.unlink()
    os.mkfifo(path)  # a reader that opened it normally would wait forever for a writer

    with caplog.at_level(logging.WARNING, logger='logfire'):
        assert queue.claim_oldest() is None

    [aside] = [p.name for p in queue.directory.iterdir()]
    assert aside.startswith(f'{path.name}.rejected-')
    [warning] = [r.getMessage() for r in caplog.records if 'retry queue' in r.getMessage()]
    assert warning.startswith(f'Not sending {path} from the retry queue: not a regular file, so it')


@pytest.mark.skipif(os.name == 'posix' and os.geteuid() != 0, reason='giving a directory away needs root')
def test_a_queue_directory_owned_by_another_user_is_not_used(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    queue = new_queue(tmp_path)
    queue.put(Payload(b'ours', '', items=1))
    os.chown(queue.directory, 65534, 65534)  # nobody's now: they could read what is queued, or add to it

    later = new_queue(tmp_path)
    with caplog.at_level(logging.WARNING, logger='logfire'):
        with pytest.raises(OSError):
            later.put(Payload(b'more', '', items=1))
        assert later.claim_oldest() is None

    [warning] = [r.getMessage() for r in caplog.records if 'retry queue' in r.getMessage()]
    assert f'is not used: {queue.directory} belongs to another user (uid 65534)' in warning


def test_queue_directories_keep_their_names_so_an_upgrade_finds_what_an_earlier_version_left() -> None:
    collector = queue_identity('http://127.0.0.1:4318/v1/traces', {'User-Agent': 'logfire/1'})
    backend = queue_identity(
        'https://logfire-us.pydantic.dev/v1/logs', {'Authorization': 'pylf_v1_us_abc', 'User-Agent': 'logfire/2'}
    )

    assert queue_directory(Path('d'), 'traces', collector) == Path('d/export-queue/traces-e5b508fc72e6171c')
    assert queue_directory(Path('d'), 'logs', backend) == Path('d/export-queue/logs-26b2376d877eb609')


def test_a_payload_of_several_megabytes_reads_back_whole(tmp_path: Path) -> None:
    body = os.urandom(3 * 1024 * 1024 + 5)  # uncompressed (OTEL_EXPORTER_OTLP_COMPRESSION=none): up to 5 MB
    new_queue(tmp_path, max_bytes=10_000_000).put(Payload(body, '', items=1))

    assert bodies(new_queue(tmp_path, max_bytes=10_000_000)) == [body]
