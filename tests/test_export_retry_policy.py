"""Stories about the retry policy's arithmetic and the disk copy of the payload in flight.

Driven through `Delivery` with a scripted transport: no network, and no test waits for a backoff to pass.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from logfire._internal.exporters import retry
from logfire._internal.exporters.diagnostics import ExportDiagnostics
from logfire._internal.exporters.disk_queue import DiskQueue, queue_directory
from logfire._internal.exporters.payload import Payload
from logfire._internal.exporters.retry import Delivery, Outcome, SendResult

from .test_export_queue import request_with

DESTINATION = 'http://127.0.0.1:9/v1/traces'


class ScriptedTransport:
    """Answers each request with the next scripted result, waiting (bounded) for the test to script it."""

    destination = DESTINATION
    encoding: retry.Encoding = ''

    def __init__(self) -> None:
        self.answers: queue.Queue[SendResult] = queue.Queue()
        self.sent: list[Payload] = []
        self.sending = threading.Semaphore(0)

    def send(self, payload: Payload, timeout: float) -> SendResult:
        self.sent.append(payload)
        self.sending.release()
        return self.answers.get(timeout=10)

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
