"""Stories about flushes and exit copies that meet the sender mid-way: a backoff, a request in flight, a disk write.

Driven through `Delivery` with a scripted transport (see test_export_retry_policy): no network, and every wait is
for an event the test scripts, never for a backoff to pass.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from logfire._internal.exporters import retry
from logfire._internal.exporters.disk_queue import DiskQueue, queue_directory
from logfire._internal.exporters.payload import Payload, decompress
from logfire._internal.exporters.retry import Delivery, Outcome, SendResult

from .test_export_queue import request_with, span_names
from .test_export_retry_policy import DESTINATION, ScriptedTransport, diagnostics, reporting_delivery


def wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f'timed out waiting for {what}'
        time.sleep(0.005)


def flush_meeting(delivery: Delivery, transport: ScriptedTransport, *answers: SendResult) -> bool:
    """`delivery.flush(5000)`, the transport giving each of `answers` once the flush has begun and asked for it."""
    result: list[bool] = []
    flushing = threading.Thread(target=lambda: result.append(delivery.flush(5000)))
    flushing.start()
    wait_for(lambda: delivery._flushing, 'the flush to begin')  # pyright: ignore[reportPrivateUsage]
    for answer in answers:
        transport.wait_for_send(1)
        transport.answers.put(answer)
    flushing.join(10)
    return result[0]


def test_after_a_flush_a_failing_destination_is_retried_only_after_its_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, 'BACKOFF_INITIAL_SECONDS', 60.0)  # the first retry would come a minute later
    messages: list[str] = []
    delivery, transport = reporting_delivery(None, messages)
    transport.answers.put(SendResult(Outcome.SENT))
    delivery.submit(Payload(b'first', '', 1))
    assert delivery.flush(5000)  # a flush ignores any backoff while it lasts, and only while it lasts

    transport.answers.put(SendResult(Outcome.RETRY, 'HTTP 503'))
    delivery.submit(Payload(b'second', '', 1))
    wait_for(lambda: messages, 'the 503 to be reported')
    time.sleep(0.3)  # a sender that forgot the backoff would be asking again by now
    assert [payload.body for payload in transport.sent] == [b'first', b'second']
    delivery.close()


def test_a_flush_during_a_backoff_sends_a_payload_waiting_on_disk_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retry, 'BACKOFF_INITIAL_SECONDS', 60.0)
    disk = DiskQueue(queue_directory(tmp_path, 'traces', DESTINATION), max_bytes=10_000_000)
    disk.store(Payload(request_with(('api', 2)), '', 2))  # left by an earlier run
    messages: list[str] = []
    delivery, transport = reporting_delivery(disk, messages)
    transport.answers.put(SendResult(Outcome.RETRY, 'HTTP 503'))
    wait_for(lambda: messages, 'the 503 to be reported')  # back on disk, a minute of backoff ahead: nothing in memory

    transport.answers.put(SendResult(Outcome.SENT))
    assert delivery.flush(900)  # well under a second is plenty for a destination that answers at once
    assert len(transport.sent) == 2 and disk.waiting_items() == 0
    assert list(disk.directory.iterdir()) == []  # delivered: its file is gone
    delivery.close()


def test_a_request_still_in_flight_at_close_leaves_a_copy_for_the_next_process_and_says_where(tmp_path: Path) -> None:
    disk = DiskQueue(queue_directory(tmp_path, 'traces', DESTINATION), max_bytes=10_000_000)
    messages: list[str] = []
    delivery, transport = reporting_delivery(disk, messages)
    delivery.submit(Payload(request_with(('api', 3)), '', 3))
    transport.wait_for_send(1)
    delivery.close()  # what a metric exporter's shutdown does at exit: no persist_pending() before
    assert disk.waiting_items() == 3
    assert messages == [
        f'Problem exporting spans to {DESTINATION}: 3 spans not sent before exit are kept in {disk.directory} '
        'for the next run.'
    ]
    transport.answers.put(SendResult(Outcome.RETRY, 'never answered in time'))


class GatedClaims(DiskQueue):
    """A disk queue whose reads wait until the test lets them go on."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory, max_bytes=10_000_000)
        self.claiming = threading.Event()
        self.may_claim = threading.Event()
        self.claimed = threading.Event()

    def claim_oldest(self) -> Payload | None:
        self.claiming.set()
        assert self.may_claim.wait(10)
        payload = super().claim_oldest()
        self.claimed.set()
        return payload


def test_a_payload_read_from_disk_just_as_the_exporter_closes_is_left_for_the_next_process(tmp_path: Path) -> None:
    directory = queue_directory(tmp_path, 'traces', DESTINATION)
    DiskQueue(directory, max_bytes=10_000_000).store(Payload(request_with(('api', 2)), '', 2))  # an earlier run's
    disk = GatedClaims(directory)
    transport = ScriptedTransport()
    delivery = Delivery('traces', transport, disk=disk, request_timeout=1, diagnostics=diagnostics())
    assert disk.claiming.wait(10)  # the sender is reading it
    delivery.close()
    disk.may_claim.set()
    assert disk.claimed.wait(10)
    wait_for(lambda: disk.pending() == 1, 'the payload to be put back, unclaimed')
    assert transport.sent == []


class SlowDisk(DiskQueue):
    """A disk queue whose writes wait until the test has let the request in flight finish."""

    def __init__(self, directory: Path, max_bytes: int = 10_000_000) -> None:
        super().__init__(directory, max_bytes=max_bytes)
        self.writing = threading.Event()
        self.may_finish = threading.Event()

    def store(self, payload: Payload) -> tuple[str | None, int]:
        self.writing.set()
        assert self.may_finish.wait(10)
        return super().store(payload)


@pytest.mark.parametrize(
    ('outcome', 'copy_kept', 'max_bytes'),
    [
        (Outcome.SENT, False, 10_000_000),
        (Outcome.REJECTED, False, 10_000_000),
        (Outcome.RETRY, True, 10_000_000),
        (Outcome.TOO_LARGE, True, 10_000_000),
        (Outcome.SENT, False, 10),  # the disk queue has no room for the copy: nothing to delete afterwards
    ],
    ids=['sent', 'rejected', 'retry', 'too-large-splits', 'sent-no-room-on-disk'],
)
def test_an_answer_that_arrives_while_its_exit_copy_is_written_decides_whether_the_copy_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outcome: Outcome, copy_kept: bool, max_bytes: int
) -> None:
    monkeypatch.setattr(retry, 'BACKOFF_INITIAL_SECONDS', 0.001)
    disk = SlowDisk(queue_directory(tmp_path, 'traces', DESTINATION), max_bytes)
    transport = ScriptedTransport()
    delivery = Delivery('traces', transport, disk=disk, request_timeout=1, diagnostics=diagnostics())
    delivery.submit(Payload(request_with(('api', 2)), '', 2))
    transport.wait_for_send(1)
    persisting = threading.Thread(target=delivery.persist_pending)  # at exit or SIGTERM: copy the one in flight
    persisting.start()
    assert disk.writing.wait(10)

    transport.answers.put(SendResult(outcome, 'scripted'))  # the answer comes while the copy is being written
    delivery.submit(Payload(request_with(('next', 1)), '', 1))
    transport.wait_for_send(1)  # the next payload is in flight: the first one's answer has been handled
    assert span_names(transport.sent[-1].body) == [('next', 'next-scope', 'next 0')]  # no halves: the copy has them
    disk.may_finish.set()
    persisting.join(10)
    assert not persisting.is_alive()
    assert disk.waiting_items() == (2 if copy_kept else 0)
    transport.answers.put(SendResult(Outcome.SENT))
    delivery.close()


def test_after_a_sigterm_flush_the_memory_budget_is_the_same() -> None:
    messages: list[str] = []
    delivery, transport = reporting_delivery(None, messages, memory_max_bytes=200)
    delivery.persist_pending()  # nothing pending yet
    delivery.submit(Payload(b'1' * 100, '', 1))
    transport.wait_for_send(1)  # in flight: outside the budget
    for items in (2, 3):
        delivery.submit(Payload(str(items).encode() * 100, '', items))  # 200 bytes in all: exactly the budget
    for _ in range(3):
        transport.answers.put(SendResult(Outcome.SENT))
    assert delivery.flush(5000)
    assert [payload.items for payload in transport.sent] == [1, 2, 3] and messages == []
    delivery.close()


@pytest.mark.parametrize(
    ('answer', 'spans', 'sent', 'message'),
    [
        (SendResult(Outcome.REJECTED, 'HTTP 401: bad token'), 2, 1, 'HTTP 401: bad token (2 spans dropped (rejected))'),
        (SendResult(Outcome.TOO_LARGE, 'HTTP 413'), 1, 1, 'HTTP 413 (1 spans dropped (too large))'),
        (SendResult(Outcome.TOO_LARGE, 'HTTP 413'), 2, 3, None),  # split in two: both halves sent, nothing dropped
    ],
    ids=['rejected', 'too-large-single-span', 'too-large-splits'],
)
def test_what_the_destination_refuses_for_good_is_counted_with_its_reason(
    answer: SendResult, spans: int, sent: int, message: str | None
) -> None:
    messages: list[str] = []
    delivery, transport = reporting_delivery(None, messages)
    delivery.submit(Payload(request_with(('api', spans)), '', spans))
    halves = [SendResult(Outcome.SENT)] * (sent - 1)
    assert flush_meeting(delivery, transport, answer, *halves) is (message is None)  # a flush that meets a drop says so
    assert len(transport.sent) == sent
    assert messages == ([f'Problem exporting spans to {DESTINATION}: {message}.'] if message else [])
    delivery.close()


def test_a_compressed_payload_answered_413_is_sent_again_as_two_compressed_halves() -> None:
    delivery, transport = reporting_delivery(None, [])
    transport.encoding = 'gzip'
    transport.answers.put(SendResult(Outcome.TOO_LARGE, 'HTTP 413'))
    for _ in range(2):
        transport.answers.put(SendResult(Outcome.SENT))
    delivery.submit_serialized(request_with(('api', 4)), 4)
    delivery.flush(5000)  # False: the 413 counts as a failed attempt
    assert delivery.flush(5000)
    halves = [span_names(decompress(payload.body, payload.encoding)) for payload in transport.sent[1:]]
    assert [payload.encoding for payload in transport.sent] == ['gzip'] * 3
    assert halves == [
        [('api', 'api-scope', f'api {i}') for i in (0, 1)],
        [('api', 'api-scope', f'api {i}') for i in (2, 3)],
    ]
    delivery.close()


@pytest.mark.parametrize('second', [Outcome.REJECTED, Outcome.RETRY])
def test_every_flush_that_meets_a_failure_answers_false(second: Outcome) -> None:
    delivery, transport = reporting_delivery(None, [])
    delivery.submit(Payload(b'first', '', 1))
    assert not flush_meeting(delivery, transport, SendResult(Outcome.REJECTED))  # refused for good
    delivery.submit(Payload(b'second', '', 1))
    assert not flush_meeting(delivery, transport, SendResult(second))  # news too, not hidden by the first failure
    for _ in range(2):
        transport.answers.put(SendResult(Outcome.SENT))
    delivery.close()


def test_consecutive_failures_double_the_backoff_and_a_retry_after_replaces_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def uniform(low: float, high: float) -> float:
        return high  # no jitter

    monkeypatch.setattr(retry.random, 'uniform', uniform)
    delivery, transport = reporting_delivery(None, [])
    delivery.submit(Payload(b'payload', '', 1))
    waits: list[float] = []
    for answer in [SendResult(Outcome.RETRY, 'HTTP 503')] * 4 + [SendResult(Outcome.RETRY, 'HTTP 429', 12.5)]:
        assert not flush_meeting(delivery, transport, answer)  # a flush sends at once, whatever the backoff
        waits.append(delivery._next_attempt - time.monotonic())  # pyright: ignore[reportPrivateUsage]
    assert [round(wait) for wait in waits] == [0, 1, 2, 4, 12]  # 0.5, 1, 2, 4, then what the server asked
    assert 3.5 < waits[3] <= 4 and 12 < waits[4] <= 12.5
    transport.answers.put(SendResult(Outcome.SENT))
    delivery.close()


def test_a_payload_that_failed_counts_against_the_memory_budget_again() -> None:
    messages: list[str] = []
    delivery, transport = reporting_delivery(None, messages, memory_max_bytes=200)
    delivery.submit(Payload(b'1' * 100, '', 1))
    transport.wait_for_send(1)
    delivery.submit(Payload(b'2' * 100, '', 2))  # 100 bytes waiting
    transport.answers.put(SendResult(Outcome.RETRY, 'HTTP 503'))
    wait_for(lambda: messages, 'the 503 to be reported')  # the first is back in memory: 200 bytes, the budget
    delivery.submit(Payload(b'3' * 100, '', 3))  # over it: the oldest goes
    for _ in range(2):
        transport.answers.put(SendResult(Outcome.SENT))
    assert delivery.flush(5000)
    assert [payload.items for payload in transport.sent] == [1, 2, 3]
    assert [
        message.startswith(f'Problem exporting spans to {DESTINATION} (1 spans dropped (retry queue full)')
        for message in messages
    ] == [False, True]
    delivery.close()


def test_a_flush_waits_for_what_a_sigterm_flush_moved_to_disk_meanwhile(tmp_path: Path) -> None:
    disk = GatedClaims(queue_directory(tmp_path, 'traces', DESTINATION))
    transport = ScriptedTransport()
    delivery = Delivery('traces', transport, disk=disk, request_timeout=1, diagnostics=diagnostics())
    delivery.submit(Payload(b'first', '', 1))
    transport.wait_for_send(1)
    delivery.submit(Payload(b'second', '', 1))
    result: list[bool] = []
    flushing = threading.Thread(target=lambda: result.append(delivery.flush(5000)))
    flushing.start()
    wait_for(lambda: delivery._flushing, 'the flush to begin')  # pyright: ignore[reportPrivateUsage]
    delivery.persist_pending()  # 'second' moves to disk: still to be sent, by this process if it goes on
    transport.answers.put(SendResult(Outcome.SENT))  # for 'first'
    assert disk.claiming.wait(10)  # the sender reads 'second' back from disk...
    flushing.join(0.3)
    assert flushing.is_alive()  # ...and the flush waits for it
    disk.may_claim.set()
    transport.answers.put(SendResult(Outcome.SENT))
    flushing.join(10)
    assert result == [True] and [payload.body for payload in transport.sent] == [b'first', b'second']
    delivery.close()


class SecondClaimGated(GatedClaims):
    """Reads the first payload at once; the next read waits until the test lets it go on."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.reads = 0

    def claim_oldest(self) -> Payload | None:
        self.reads += 1
        return DiskQueue.claim_oldest(self) if self.reads == 1 else super().claim_oldest()


def test_a_payload_queued_while_the_sender_looks_at_the_disk_is_sent(tmp_path: Path) -> None:
    directory = queue_directory(tmp_path, 'traces', DESTINATION)
    DiskQueue(directory, max_bytes=10_000_000).store(Payload(request_with(('api', 1)), '', 1))  # an earlier run's
    disk = SecondClaimGated(directory)
    transport = ScriptedTransport()
    delivery = Delivery('traces', transport, disk=disk, request_timeout=1, diagnostics=diagnostics())
    transport.wait_for_send(1)
    transport.answers.put(SendResult(Outcome.SENT))
    assert disk.claiming.wait(10)  # the disk is empty now: the sender is finding that out
    delivery.submit(Payload(b'meanwhile', '', 1))
    disk.may_claim.set()
    transport.answers.put(SendResult(Outcome.SENT))
    assert delivery.flush(5000)
    assert [payload.body for payload in transport.sent][1:] == [b'meanwhile']
    delivery.close()
