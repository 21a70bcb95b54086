"""OTLP export of the OpenTelemetry logs signal: batching off the caller's thread, then the spans' reliable delivery.

Log records go to the same destinations as spans (`/v1/logs`), through a `Delivery` of their own per destination:
retries with backoff, a bounded disk queue in `data_dir` that the next process drains, a bounded exit. The batch
processor shares the span one's worker thread (`batch_worker`), started on the first record; a bounded
queue whose overflow is counted (never a log line per record), the exit, SIGTERM and fork hooks of `lifecycle`
(joined on the first record too).

Imported at `configure()` when log export is on, so the export threads never import a module first (see `otlp`).
"""

from __future__ import annotations

import copy
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.sdk._logs import LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from typing_extensions import Unpack

from ..errors import handle_internal_errors
from .batch_worker import BatchSettings, BatchWorker
from .diagnostics import ExportDiagnostics
from .lifecycle import register_participant
from .otlp import build_delivery, destinations
from .retry import DeliveryExporter

if TYPE_CHECKING:
    from ..config import LogfireConfig


class QueueingLogExporter(DeliveryExporter, LogRecordExporter):
    """Serializes batches of log records and hands them to a `Delivery`; `export()` never waits for the network."""

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        """Serialize `batch` and queue it for delivery."""
        with handle_internal_errors('log export'):
            raw, items = _serialize(batch, self.delivery.diagnostics)
            if items:
                self.delivery.submit_serialized(raw, items)
            return LogRecordExportResult.SUCCESS
        return LogRecordExportResult.FAILURE


def _serialize(batch: Sequence[ReadableLogRecord], diagnostics: ExportDiagnostics) -> tuple[bytes, int]:
    """The OTLP request for `batch`, and how many records it holds.

    A body OTLP cannot carry (an arbitrary object a library passed) is sent as its `str()`, rather than failing
    the whole batch; a record that still cannot be encoded is dropped and counted.
    """
    try:
        return encode_logs(batch).SerializeToString(), len(batch)
    except Exception:
        pass
    kept: list[ReadableLogRecord] = []
    for readable in batch:
        for candidate in (readable, _with_text_body(readable)):
            try:
                encode_logs([candidate])
            except Exception:
                continue
            kept.append(candidate)
            break
        else:
            diagnostics.dropped(1, 'not encodable', 'a log record holds a value OTLP cannot carry')
    return encode_logs(kept).SerializeToString(), len(kept)


def _with_text_body(readable: ReadableLogRecord) -> ReadableLogRecord:
    record = copy.copy(readable.log_record)
    record.body = str(record.body)
    return ReadableLogRecord(record, readable.resource, readable.instrumentation_scope, readable.limits)


class BatchLogExportProcessor(BatchWorker, LogRecordProcessor):
    """Queue log records and export them in batches from a background thread."""

    thread_name = 'logfire-batch-logs'
    drop_reason = 'log record queue full'

    def __init__(self, exporter: LogRecordExporter, **settings: Unpack[BatchSettings]) -> None:
        super().__init__(exporter, **settings)

    def _reset_state(self) -> None:
        self._reset_worker()
        self._queue: deque[ReadableLogRecord] = deque()

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        """Queue the record for export; never blocks on the exporter."""
        if self._shutdown:
            return
        queue = self._queue
        if len(queue) >= self.max_queue_size:
            self._dropped += 1  # reported by the worker thread, never from the application's thread
            return
        record = copy.copy(log_record.log_record)
        record.context = Context()  # the batch must not keep the caller's context (and its objects) alive
        resource = log_record.resource if log_record.resource is not None else Resource.create({})
        queue.append(ReadableLogRecord(record, resource, log_record.instrumentation_scope, log_record.limits))
        full = len(queue) >= self.max_export_batch_size and not self._urgent
        if full or self._thread is None:
            with self._cond:
                self._ensure_worker_locked()
                if full:
                    self._urgent = True
                self._cond.notify_all()

    # ---- exit hooks (see `lifecycle`) ----------------------------------------------------------------

    def end_open_spans(self) -> None:
        """Log records have no open state to end."""

    # ---- worker thread -------------------------------------------------------------------------------

    def _flush_needed(self) -> bool:
        # Nothing emitted yet: no worker to start, though the exporter may hold an earlier process's leftovers.
        return bool(self._queue) or self._thread is not None

    def _worker_starting(self) -> None:
        # Only a processor that has records takes part in the exit and SIGTERM flushes (an earlier process's
        # leftovers wait on disk for a normal exit, or for the next process).
        register_participant(self)

    def _export_queued(self) -> None:
        queue, size = self._queue, self.max_export_batch_size
        while queue:
            stop_at = self._stop_at
            if stop_at is not None and time.monotonic() >= stop_at:
                return
            batch: list[ReadableLogRecord] = []
            while queue and len(batch) < size:
                batch.append(queue.popleft())
            with handle_internal_errors('log export'):
                self.exporter.export(batch)

    def _discard_queued(self) -> int:
        left = len(self._queue)
        self._queue.clear()
        return left


def log_processors(config: LogfireConfig) -> list[BatchLogExportProcessor]:
    """One batch processor per destination that wants log records, configured like the span ones (`OTEL_BSP_*`)."""
    settings = config.settings
    processors: list[BatchLogExportProcessor] = []
    for destination in destinations(config, 'logs'):
        delivery = build_delivery(config, destination)
        processors.append(
            BatchLogExportProcessor(
                QueueingLogExporter(delivery),
                schedule_delay_millis=settings.bsp_schedule_delay_millis,
                max_queue_size=settings.bsp_max_queue_size,
                max_export_batch_size=settings.bsp_max_export_batch_size,
                shutdown_timeout_millis=settings.shutdown_timeout_millis,
                diagnostics=delivery.diagnostics,
            )
        )
    return processors
