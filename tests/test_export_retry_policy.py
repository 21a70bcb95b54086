"""Stories about the retry policy's arithmetic and the disk copy of the payload in flight.

Driven through `Delivery` with a scripted transport: no network, and no test waits for a backoff to pass.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from logfire._internal.exporters import retry
from logfire._internal.exporters.diagnostics import ExportDiagnostics
from logfire._internal.exporters.disk_queue import DiskQueue, queue_directory
from logfire._internal.exporters.payload import Payload, decompress
from logfire._internal.exporters.retry import Delivery, Outcome, SendResult

from .test_export_queue import request_with, span_names

DESTINATION = 'http://127.0.0.1:9/v1/traces'


class ScriptedTransport:
    """Answers each request with the next scripted result, waiting (bounded) for the test to script it."""

    destination = DESTINATION
    encoding: retry.Encoding = ''

    def __init__(self) -> None:
        self.answers: queue.Queue[SendResult | Exception] = queue.Queue()
        self.sent: list[Payload] = []
        self.sending = threading.Semaphore(0)

    def send(self, payload: Payload, timeout: float) -> SendResult:
        self.sent.append(payload)
        self.sending.release()
        answer = self.answers.get(timeout=10)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def wait_for_send(self, count: int) -> None:
        """Block until the transport has been asked to send `count` more payloads."""
        for _ in range(count):
            assert self.sending.acquire(timeout=10), 'the sender never sent'

    def reset_after_fork(self) -> None:
        pass

    def close(self) -> None:
        pass


def diagnostics() -> ExportDiagnostics:
    return ExportDiagnostics(DESTINATION, 'spans', interval=3600, emit=lambda message: None)


# ---- backoff -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize('jitter', [0.5, 1.0], ids=['least', 'most'])
def test_the_backoff_doubles_from_half_a_second_up_to_thirty_and_jitter_only_shortens_it(
    monkeypatch: pytest.MonkeyPatch, jitter: float
) -> None:
    def uniform(low: float, high: float) -> float:
        return low if jitter == 0.5 else high

    monkeypatch.setattr(retry.random, 'uniform', uniform)
    delivery = Delivery('traces', ScriptedTransport(), disk=None, request_timeout=1, diagnostics=diagnostics())
    delays: list[float] = []
    for failures in [1, 2, 3, 4, 5, 6, 7, 8, 10_000]:
        delivery._failures = failures  # pyright: ignore[reportPrivateUsage]
        delays.append(delivery._backoff(None))  # pyright: ignore[reportPrivateUsage]
    assert delays == [jitter * d for d in [0.5, 1, 2, 4, 8, 16, 30, 30, 30]]


def test_a_retry_after_is_followed_but_never_below_zero_or_above_five_minutes() -> None:
    delivery = Delivery('traces', ScriptedTransport(), disk=None, request_timeout=1, diagnostics=diagnostics())
    waits = [delivery._backoff(seconds) for seconds in (-5.0, 0.0, 0.25, 12.5, 86_400.0)]  # pyright: ignore[reportPrivateUsage]
    assert waits == [0.0, 0.0, 0.25, 12.5, retry.RETRY_AFTER_MAX_SECONDS] == [0.0, 0.0, 0.25, 12.5, 300.0]


# ---- the disk copy of the payload in flight -------------------------------------------------------------


@pytest.fixture
def sender(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Delivery, ScriptedTransport, DiskQueue]]:
    monkeypatch.setattr(retry, 'BACKOFF_INITIAL_SECONDS', 0.001)  # a retry goes on at once
    transport = ScriptedTransport()
    disk = DiskQueue(queue_directory(tmp_path, 'traces', DESTINATION), max_bytes=10_000_000)
    delivery = Delivery('traces', transport, disk=disk, request_timeout=1, diagnostics=diagnostics())
    yield delivery, transport, disk
    for _ in range(3):
        transport.answers.put(SendResult(Outcome.SENT))
    delivery.close()


@pytest.mark.parametrize(
    ('outcome', 'spans', 'copy_kept'),
    [
        (Outcome.SENT, 2, False),  # delivered after all: the copy would be a duplicate
        (Outcome.REJECTED, 2, False),  # refused for good: the copy would be refused again
        (Outcome.RETRY, 2, True),  # not delivered: the copy is what is left of it
        (Outcome.TOO_LARGE, 2, True),  # the copy is split in two when it is read back
        (Outcome.TOO_LARGE, 1, False),  # one span too large: it cannot be split, and is dropped
    ],
    ids=['sent', 'rejected', 'retry', 'too-large-splits', 'too-large-single-span'],
)
def test_the_disk_copy_of_the_payload_in_flight_is_kept_only_while_it_may_still_be_needed(
    sender: tuple[Delivery, ScriptedTransport, DiskQueue], outcome: Outcome, spans: int, copy_kept: bool
) -> None:
    delivery, transport, disk = sender
    delivery.submit(Payload(request_with(('api', spans)), '', spans))
    transport.wait_for_send(1)
    delivery.persist_pending()  # at exit or SIGTERM: the request in flight may never finish, so copy it
    assert disk.waiting_items() == spans

    transport.answers.put(SendResult(outcome, 'scripted'))
    delivery.submit(Payload(request_with(('next', 1)), '', 1))
    transport.wait_for_send(1)  # the next payload is in flight: the first one's answer has been handled
    assert transport.sent[-1].items == 1 and transport.sent[-1].path is None
    assert disk.waiting_items() == (spans if copy_kept else 0)


# ---- what cannot be kept is counted, by reason ----------------------------------------------------------


def reporting_delivery(
    disk: DiskQueue | None, messages: list[str], **kwargs: int
) -> tuple[Delivery, ScriptedTransport]:
    transport = ScriptedTransport()
    every_problem = ExportDiagnostics(DESTINATION, 'spans', interval=0, emit=messages.append)
    return Delivery('traces', transport, disk=disk, request_timeout=1, diagnostics=every_problem, **kwargs), transport


def test_without_a_disk_queue_payloads_beyond_the_memory_budget_are_dropped_and_counted() -> None:
    messages: list[str] = []
    delivery, transport = reporting_delivery(None, messages, memory_max_bytes=1)
    delivery.submit(Payload(request_with(('api', 1)), '', 1))
    transport.wait_for_send(1)  # in flight: no longer in memory
    delivery.submit(Payload(request_with(('api', 2)), '', 2))  # one payload is always kept in memory
    delivery.submit(Payload(request_with(('api', 3)), '', 3))  # over the budget: the oldest waiting one goes
    transport.answers.put(SendResult(Outcome.SENT))
    transport.answers.put(SendResult(Outcome.SENT))
    delivery.close(5000)
    assert messages == [f'Problem exporting spans to {DESTINATION} (2 spans dropped (retry queue full)).']
    assert [payload.items for payload in transport.sent] == [1, 3]


def test_a_disk_queue_that_cannot_be_written_or_is_full_drops_and_says_why(tmp_path: Path) -> None:
    (tmp_path / 'a-file').write_text('not a directory')
    messages: list[str] = []
    unwritable = DiskQueue(tmp_path / 'a-file' / 'queue', max_bytes=10_000_000)
    delivery, _ = reporting_delivery(unwritable, messages)
    delivery.persist_pending()  # nothing pending: nothing to report
    delivery.close()
    delivery.submit(Payload(request_with(('api', 4)), '', 4))  # after close: straight to the disk queue
    [message] = messages
    assert message.startswith(f'Problem exporting spans to {DESTINATION}: {tmp_path / "a-file"} is not a directory')
    assert message.endswith('(4 spans dropped (retry queue not writable)).')

    messages.clear()
    tiny = DiskQueue(queue_directory(tmp_path, 'traces', DESTINATION), max_bytes=10)
    delivery, _ = reporting_delivery(tiny, messages)
    delivery.close()
    delivery.submit(Payload(request_with(('api', 5)), '', 5))
    assert messages == [f'Problem exporting spans to {DESTINATION} (5 spans dropped (retry queue full)).']


def test_an_item_larger_than_a_request_may_be_is_dropped_and_the_rest_sent_compressed() -> None:
    messages: list[str] = []
    delivery, transport = reporting_delivery(None, messages)
    transport.encoding = 'gzip'
    huge = ExportTraceServiceRequest.FromString(request_with(('api', 2)))
    huge.resource_spans[0].scope_spans[0].spans[1].name = 'x' * (6 * 1024 * 1024)
    delivery.submit_serialized(huge.SerializeToString(), 2)
    transport.wait_for_send(1)
    [payload] = transport.sent
    assert (payload.items, payload.encoding) == (1, 'gzip')
    assert span_names(decompress(payload.body, 'gzip')) == [('api', 'api-scope', 'api 0')]
    transport.answers.put(SendResult(Outcome.SENT))
    delivery.close(5000)
    assert messages == [
        f'Problem exporting spans to {DESTINATION}: an item is larger than the 5 MB request limit '
        '(1 spans dropped (too large)).'
    ]


def test_halves_of_a_payload_split_after_close_are_kept_on_disk(tmp_path: Path) -> None:
    disk = DiskQueue(queue_directory(tmp_path, 'traces', DESTINATION), max_bytes=10_000_000)
    disk.store(Payload(request_with(('api', 2)), '', 2))  # left by an earlier run: sent first
    delivery, transport = reporting_delivery(disk, [])
    transport.wait_for_send(1)
    delivery.close()  # exit while that request is in flight
    transport.answers.put(SendResult(Outcome.TOO_LARGE, 'HTTP 413'))
    deadline = time.monotonic() + 10
    while sorted(payload.items for payload in _files(disk)) != [1, 1]:
        assert time.monotonic() < deadline, f'on disk: {_files(disk)}'
        time.sleep(0.01)


def _files(disk: DiskQueue) -> list[Payload]:
    """Every payload waiting in the disk queue (claimed for reading, then released)."""
    claimed: list[Payload] = []
    while (payload := disk.claim_oldest()) is not None:
        claimed.append(payload)
    for payload in claimed:
        disk.release(payload)
    return claimed


def test_the_memory_budget_keeps_the_newest_payloads_that_fit_and_drops_the_oldest() -> None:
    messages: list[str] = []
    delivery, transport = reporting_delivery(None, messages, memory_max_bytes=200)
    delivery.submit(Payload(b'1' * 100, '', 1))
    transport.wait_for_send(1)  # in flight: outside the budget
    for items in (2, 3, 4, 5):
        delivery.submit(Payload(str(items).encode() * 100, '', items))  # 100 bytes each: two fit
    for _ in range(3):
        transport.answers.put(SendResult(Outcome.SENT))
    delivery.close(5000)
    assert [payload.items for payload in transport.sent] == [1, 4, 5]
    first, second = messages
    assert first == f'Problem exporting spans to {DESTINATION} (2 spans dropped (retry queue full)).'
    assert second.startswith(f'Problem exporting spans to {DESTINATION} (3 spans dropped (retry queue full)')


def test_a_transport_that_raises_costs_a_retry_not_the_payload() -> None:
    messages: list[str] = []
    delivery, transport = reporting_delivery(None, messages)
    transport.answers.put(RuntimeError('connection pool broke'))
    transport.answers.put(SendResult(Outcome.SENT))
    delivery.submit(Payload(b'payload', '', 3))
    # A flush gives up at the first failure, so it may take two (whether the failure came before the first or not).
    assert delivery.flush(5000) or delivery.flush(5000)
    assert [payload.body for payload in transport.sent] == [b'payload', b'payload']
    assert messages == [
        f'Problem exporting spans to {DESTINATION}: RuntimeError: connection pool broke (3 spans queued for retry).'
    ]
    delivery.close()
