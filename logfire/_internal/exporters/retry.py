"""Delivery of OTLP payloads in the background: retries with backoff, and a bounded spill to disk.

`Delivery.submit()` never blocks on the network. One sender thread per destination sends payloads in order
of arrival, backing off exponentially (with jitter, or as `Retry-After` says) while the destination is down,
slow or refusing. Payloads wait in memory up to `memory_max_bytes`; beyond that, and at exit, they move to
the `DiskQueue`, which the next process using the same `data_dir` and destination drains.

At exit (and on SIGTERM) the payload in flight gets a disk copy too, since its request may never finish: a
2xx that still arrives deletes that copy, so only a request abandoned mid-way can be sent twice.
"""

from __future__ import annotations

import enum
import random
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from ..errors import handle_internal_errors
from .diagnostics import ExportDiagnostics, suppressed
from .disk_queue import DiskQueue
from .lifecycle import at_fork_in_child
from .payload import Encoding, Payload, Signal, compress, decompress, split_in_two, split_to_fit

MEMORY_MAX_BYTES = 8 * 1024 * 1024
"""Payload bytes kept in memory per destination before the oldest move to the disk queue."""
BACKOFF_INITIAL_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
RETRY_AFTER_MAX_SECONDS = 300.0
_IDLE_WAKE_SECONDS = 30.0


class Outcome(enum.Enum):
    """What became of one attempt to send a payload."""

    SENT = 'sent'
    RETRY = 'retry'
    """Down, slow, busy or failing (connection errors, timeouts, 408, 429, 5xx): try again later."""
    TOO_LARGE = 'too large'
    """413: split the payload and send the halves."""
    REJECTED = 'rejected'
    """Any other answer (400, 401, 403, 404, ...): sending it again would get the same answer."""


@dataclass(frozen=True)
class SendResult:
    """The outcome of one request, a short description of any problem, and the server's `Retry-After`."""

    outcome: Outcome
    detail: str = ''
    retry_after: float | None = None


class Transport(Protocol):
    """Sends one payload to one destination; never raises."""

    destination: str
    encoding: Encoding

    def send(self, payload: Payload, timeout: float) -> SendResult:
        """Send `payload`, waiting at most about `timeout` seconds."""
        ...

    def reset_after_fork(self) -> None:
        """Forget connections inherited from the parent process."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class Delivery:
    """The retrying, spilling sender of one signal to one destination."""

    def __init__(
        self,
        signal: Signal,
        transport: Transport,
        *,
        disk: DiskQueue | None,
        request_timeout: float,
        diagnostics: ExportDiagnostics,
        memory_max_bytes: int = MEMORY_MAX_BYTES,
    ) -> None:
        self.signal: Signal = signal
        self.transport = transport
        self.disk = disk
        self.request_timeout = request_timeout
        self.diagnostics = diagnostics
        self.memory_max_bytes = memory_max_bytes
        self._closed = False
        self._reset_state()
        at_fork_in_child(self, Delivery._reset_after_fork)
        if disk is not None and disk.directory.is_dir():
            with self._cond:
                self._ensure_sender_locked()  # payloads left by an earlier process

    def _reset_state(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._memory: deque[Payload] = deque()
        self._memory_bytes = 0
        self._inflight: Payload | None = None
        self._inflight_saved = False  # a copy of the payload in flight is (being) written to the disk queue
        self._inflight_copy: str | None = None  # the name of that copy, once written
        self._settled: tuple[Payload, Outcome] | None = None  # the last payload in flight, and its outcome
        self._thread: threading.Thread | None = None
        self._failures = 0
        self._next_attempt = 0.0
        self._flushing = 0
        self._problems = 0
        self._idle = True

    def _reset_after_fork(self) -> None:
        self._reset_state()  # what was pending belongs to the parent, which sends it
        self.transport.reset_after_fork()

    # ---- producer side -------------------------------------------------------------------------------

    def submit_serialized(self, raw: bytes, items: int) -> None:
        """Queue a serialized (uncompressed) request, split first if it is too large."""
        parts, dropped = split_to_fit(self.signal, raw, items)
        if dropped:
            self.diagnostics.dropped(dropped, 'too large', 'an item is larger than the 5 MB request limit')
        for body, count in parts:
            self.submit(Payload(compress(body, self.transport.encoding), self.transport.encoding, count))

    def submit(self, payload: Payload) -> None:
        """Queue `payload` for sending; the oldest queued payloads move to disk when memory is full."""
        with self._cond:
            if self._closed:
                overflow = [payload]
            else:
                self._memory.append(payload)
                self._memory_bytes += payload.size
                self._idle = False
                overflow = self._overflow_locked()
                self._ensure_sender_locked()
                self._cond.notify_all()
        self._save(overflow)

    def _overflow_locked(self) -> list[Payload]:
        overflow: list[Payload] = []
        while self._memory_bytes > self.memory_max_bytes and len(self._memory) > 1:
            payload = self._memory.popleft()
            self._memory_bytes -= payload.size
            overflow.append(payload)
        return overflow

    def _save(self, payloads: list[Payload]) -> None:
        """Move payloads to the disk queue, counting what cannot be kept."""
        for payload in payloads:
            self._save_one(payload)

    def _save_one(self, payload: Payload) -> str | None:
        """Move one payload to the disk queue: the name of its file, or None (counted) if it cannot be kept."""
        if self.disk is None:
            self.diagnostics.dropped(payload.items, 'retry queue full')
            return None
        try:
            name, dropped = self.disk.store(payload)
        except OSError as exc:
            self.diagnostics.dropped(payload.items, 'retry queue not writable', f'{exc}')
            return None
        if dropped:
            self.diagnostics.dropped(dropped, 'retry queue full')
        return name

    def _copy_inflight_locked(self) -> Payload | None:
        """The payload in flight from memory, to copy to disk (once), since its request may never finish."""
        inflight = self._inflight
        if inflight is None or inflight.path is not None or self._inflight_saved:
            return None
        self._inflight_saved = True
        return inflight

    def _keep_copy(self, inflight: Payload | None) -> None:
        """Write the disk copy of `inflight`; delete it again if a 2xx (or a final answer) came meanwhile."""
        if inflight is None:
            return
        name = self._save_one(inflight)
        if name is None or self.disk is None:
            return
        with self._cond:
            if self._inflight is inflight:
                self._inflight_copy = name  # `_handle` deletes it if the request succeeds after all
                return
            settled = self._settled
        if settled is not None and settled[0] is inflight and _final(settled[1], split=True):
            self.disk.discard(name)

    # ---- flush and close -----------------------------------------------------------------------------

    def flush(self, timeout_millis: float) -> bool:
        """Try to send everything queued now, ignoring any backoff; True if it was all delivered in time.

        Gives up (False) at the first failed attempt or when `timeout_millis` has passed.
        """
        deadline = time.monotonic() + max(0.0, timeout_millis) / 1000
        with self._cond:
            if self._closed:
                return not self._memory
            problems = self._problems
            self._flushing += 1
            self._idle = False
            self._ensure_sender_locked()
            self._cond.notify_all()
            try:
                while True:
                    if self._problems != problems:
                        return False
                    if self._idle and not self._memory and self._inflight is None:
                        return True
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)
            finally:
                self._flushing -= 1

    def close(self, timeout_millis: float = 0) -> None:
        """Send what can be sent within `timeout_millis`, then move everything unsent to the disk queue."""
        if timeout_millis > 0:
            self.flush(timeout_millis)
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
            pending = list(self._memory)
            self._memory.clear()
            self._memory_bytes = 0
            inflight = self._copy_inflight_locked()
        self._save(pending)
        self._keep_copy(inflight)
        if self.disk is not None:
            self.diagnostics.final_report(self.disk.waiting_items(), str(self.disk.directory))
        else:
            self.diagnostics.final_report(0)
        self.transport.close()

    def persist_pending(self) -> None:
        """Move every payload waiting in memory to the disk queue, and copy the one in flight there.

        The sender keeps going from there: a 2xx for the payload in flight deletes its copy.
        """
        with self._cond:
            pending = list(self._memory)
            self._memory.clear()
            self._memory_bytes = 0
            self._idle = False
            inflight = self._copy_inflight_locked()
        self._save(pending)
        self._keep_copy(inflight)

    # ---- sender thread -------------------------------------------------------------------------------

    def _ensure_sender_locked(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._run, name=f'logfire-export-{self.signal}', daemon=True)
            self._thread.start()

    def _run(self) -> None:
        with suppressed():  # the exporter's own requests must never be traced
            while True:
                payload = self._next_payload()
                if payload is None:
                    return
                try:
                    result = self.transport.send(payload, self.request_timeout)
                except Exception as exc:  # a transport bug: retry the payload rather than lose it
                    result = SendResult(Outcome.RETRY, f'{type(exc).__name__}: {exc}')
                with handle_internal_errors('export request'):
                    self._handle(payload, result)

    def _next_payload(self) -> Payload | None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return None
                    wait = 0.0 if self._flushing else self._next_attempt - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                if self._memory:
                    payload = self._memory.popleft()
                    self._memory_bytes -= payload.size
                    self._inflight, self._inflight_saved, self._inflight_copy = payload, False, None
                    return payload
            payload = self.disk.claim_oldest() if self.disk is not None else None
            with self._cond:
                if payload is not None:
                    if self._closed:
                        if self.disk is not None:
                            self.disk.release(payload)
                        return None
                    self._inflight, self._inflight_saved, self._inflight_copy = payload, False, None
                    return payload
                if self._memory:
                    continue
                self._idle = True
                self._cond.notify_all()
                self._cond.wait(_IDLE_WAKE_SECONDS)

    def _handle(self, payload: Payload, result: SendResult) -> None:
        outcome = result.outcome
        requeue: list[Payload] = []
        if outcome is Outcome.TOO_LARGE:
            requeue = self._split(payload)
        split = bool(requeue)
        with self._cond:
            self._inflight = None
            saved, copy, self._inflight_copy = self._inflight_saved, self._inflight_copy, None
            self._settled = (payload, outcome)
            if saved and outcome is Outcome.TOO_LARGE:
                requeue = []  # its disk copy is split when it is read back
            if outcome is Outcome.SENT:
                self._failures, self._next_attempt = 0, 0.0
            elif outcome is Outcome.RETRY:
                self._problems += 1
                self._failures += 1
                self._next_attempt = time.monotonic() + self._backoff(result.retry_after)
                if payload.path is None and not saved:
                    requeue = [payload]
            elif outcome is Outcome.REJECTED or not split:
                self._problems += 1
            for part in reversed(requeue):
                if part.path is None:
                    self._memory.appendleft(part)
                    self._memory_bytes += part.size
            overflow = self._overflow_locked() if not self._closed else self._drain_locked()
            self._cond.notify_all()
        self._settle_disk_copy(payload, outcome)
        if copy is not None and self.disk is not None and _final(outcome, split):
            self.disk.discard(copy)  # delivered (or refused for good) after all: never send it again
        self._save(overflow)
        self._count(payload, result, split=split and outcome is Outcome.TOO_LARGE)

    def _drain_locked(self) -> list[Payload]:
        pending = list(self._memory)
        self._memory.clear()
        self._memory_bytes = 0
        return pending

    def _settle_disk_copy(self, payload: Payload, outcome: Outcome) -> None:
        if self.disk is None or payload.path is None:
            return
        if outcome is Outcome.RETRY:
            self.disk.release(payload)
        else:
            self.disk.done(payload)

    def _count(self, payload: Payload, result: SendResult, *, split: bool) -> None:
        if result.outcome is Outcome.RETRY:
            self.diagnostics.retried(payload.items, result.detail)
        elif result.outcome is Outcome.REJECTED:
            self.diagnostics.dropped(payload.items, 'rejected', result.detail)
        elif result.outcome is Outcome.TOO_LARGE and not split:
            self.diagnostics.dropped(payload.items, 'too large', result.detail)

    def _split(self, payload: Payload) -> list[Payload]:
        halves = split_in_two(self.signal, decompress(payload.body, payload.encoding))
        if halves is None:
            return []
        return [Payload(compress(body, payload.encoding), payload.encoding, items) for body, items in halves]

    def _backoff(self, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), RETRY_AFTER_MAX_SECONDS)
        delay = min(BACKOFF_MAX_SECONDS, BACKOFF_INITIAL_SECONDS * 2 ** min(self._failures - 1, 16))
        return delay * random.uniform(0.5, 1.0)


def _final(outcome: Outcome, split: bool) -> bool:
    """Whether a payload with this outcome is done with: a disk copy of it must not be sent (again)."""
    return outcome is not Outcome.RETRY and not (outcome is Outcome.TOO_LARGE and split)


class DeliveryExporter:
    """What a span or log exporter that queues for a `Delivery` does besides `export()`: flush, close, persist."""

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Wait until everything queued so far is delivered; False on a failure or after `timeout_millis`."""
        return self.delivery.flush(timeout_millis)

    def shutdown(self) -> None:
        """Stop sending; what is still unsent moves to the disk queue for the next process."""
        self.delivery.close()

    def persist_pending(self) -> None:
        """Move unsent payloads to the disk queue now."""
        self.delivery.persist_pending()
