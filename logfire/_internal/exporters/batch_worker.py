"""The background thread of logfire's batch processors (spans in `batch`, log records in `log_export`).

The application's thread only appends to a queue; the worker wakes when a batch is full, a flush is asked for,
the processor shuts down, or the schedule delay has passed, and hands the queue to the exporter in batches. At
shutdown it goes on encoding for at most `exit_spill_millis`; what is still queued then is counted as dropped.
"""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

from typing_extensions import TypedDict

from .diagnostics import ExportDiagnostics, suppressed
from .lifecycle import at_fork_in_child

EXIT_SPILL_MILLIS = 500
"""At most this long (and a quarter of the shutdown timeout) `shutdown()` lets the worker encode what is left."""


class BatchSettings(TypedDict, total=False):
    """A batch processor's settings, each with `BatchWorker`'s default when left out."""

    schedule_delay_millis: int
    max_queue_size: int
    max_export_batch_size: int
    shutdown_timeout_millis: int
    diagnostics: ExportDiagnostics | None


class BatchWorker:
    """The worker thread, flush and shutdown of a batch processor; subclasses own the queue and the export.

    A subclass's `_reset_state()` makes its queue (and calls `_reset_worker()`): at construction and in a forked
    child, where the parent exports what it had queued.
    """

    thread_name: ClassVar[str]
    drop_reason: ClassVar[str]
    """How a count of items dropped because the queue was full is reported."""

    def __init__(
        self,
        exporter: Any,
        *,
        schedule_delay_millis: int = 500,
        max_queue_size: int = 2048,
        max_export_batch_size: int = 512,
        shutdown_timeout_millis: int = 3000,
        diagnostics: ExportDiagnostics | None = None,
    ) -> None:
        self.exporter = exporter
        self.schedule_delay_millis = schedule_delay_millis
        self.max_queue_size = max_queue_size
        self.max_export_batch_size = min(max_export_batch_size, max_queue_size)
        self.shutdown_timeout_millis = shutdown_timeout_millis
        self.exit_spill_millis = min(EXIT_SPILL_MILLIS, shutdown_timeout_millis // 4)
        self.diagnostics = diagnostics
        self._shutdown = False
        self._reset_state()
        at_fork_in_child(self, _reset_in_child)

    def _reset_worker(self) -> None:
        """A new lock, no thread, no flush asked for: at construction and in a forked child."""
        # Reentrant: a signal handler that logs can interrupt this thread while it holds the lock.
        self._cond = threading.Condition(threading.RLock())
        self._thread: threading.Thread | None = None
        self._wake_at = 0.0
        self._dropped = 0
        self._flush_requested = 0
        self._flush_done = 0
        self._urgent = False
        self._stop_at: float | None = None  # at shutdown: when the worker stops encoding

    # ---- what subclasses provide ---------------------------------------------------------------------

    def _reset_state(self) -> None:
        """Make the queue, and call `_reset_worker()`."""
        raise NotImplementedError

    def _export_queued(self) -> None:
        """Hand everything queued to the exporter in batches, until the queue is empty or `_stop_at` has passed."""
        raise NotImplementedError

    def _discard_queued(self) -> int:
        """Empty the queue at shutdown; how many items were still in it."""
        raise NotImplementedError

    def _flush_needed(self) -> bool:
        """Whether `force_flush` must ask the worker (the lock is held); False only when there is nothing to do."""
        return True

    def _worker_starting(self) -> None:
        """Called (with the lock held) just before the worker thread starts."""

    # ---- shared --------------------------------------------------------------------------------------

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export everything queued and wait for the exporter's delivery, within `timeout_millis` in total."""
        deadline = time.monotonic() + max(0, timeout_millis) / 1000
        with self._cond:
            if self._shutdown:
                return False
            if self._flush_needed():
                self._flush_requested += 1
                target = self._flush_requested
                self._ensure_worker_locked()
                self._cond.notify_all()
                while self._flush_done < target:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)
        remaining_millis = max(0, int((deadline - time.monotonic()) * 1000))
        return self.exporter.force_flush(remaining_millis)

    def shutdown(self) -> None:
        """Hand everything queued to the exporter, then shut it down (it keeps what it could not send)."""
        spill = self.exit_spill_millis / 1000
        with self._cond:
            if self._shutdown:
                return
            self._shutdown = True
            self._stop_at = time.monotonic() + spill
            thread = self._thread
            self._cond.notify_all()
        if thread is not None:
            thread.join(spill + 0.1)
        else:
            with suppressed():
                self._export_queued()
        # What the worker could not encode in time; what it did encode the exporter sends or keeps on disk.
        left = self._discard_queued()
        if left and self.diagnostics is not None:
            self.diagnostics.dropped(left, 'not encoded before exit')
        self._report_dropped()
        self.exporter.shutdown()

    def flush_for_exit(self, timeout_millis: int) -> None:
        """Flush within `timeout_millis`, then move whatever is still unsent to the disk queue."""
        self.force_flush(timeout_millis)
        persist: Any = getattr(self.exporter, 'persist_pending', None)  # our exporters keep unsent payloads on disk
        if callable(persist):
            persist()

    def _ensure_worker_locked(self) -> None:
        if self._thread is None and not self._shutdown:
            self._worker_starting()
            self._wake_at = time.monotonic() + self.schedule_delay_millis / 1000
            self._thread = threading.Thread(target=self._work, name=self.thread_name, daemon=True)
            self._thread.start()

    def _work(self) -> None:
        with suppressed():  # nothing the exporter does may record telemetry
            while True:
                with self._cond:
                    while not (self._urgent or self._shutdown or self._flush_requested > self._flush_done):
                        remaining = self._wake_at - time.monotonic()
                        if remaining <= 0:
                            break
                        self._cond.wait(remaining)
                    self._wake_at = time.monotonic() + self.schedule_delay_millis / 1000
                    self._urgent = False
                    flush_target = self._flush_requested
                    stopping = self._shutdown
                self._export_queued()
                self._report_dropped()
                with self._cond:
                    self._flush_done = max(self._flush_done, flush_target)
                    self._cond.notify_all()
                if stopping:
                    return

    def _report_dropped(self) -> None:
        dropped, self._dropped = self._dropped, 0
        if dropped and self.diagnostics is not None:
            self.diagnostics.dropped(dropped, self.drop_reason)


def _reset_in_child(worker: BatchWorker) -> None:
    worker._reset_state()  # pyright: ignore[reportPrivateUsage]  # the subclass's
