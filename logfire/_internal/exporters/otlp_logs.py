"""The OTel log record exporter over the shared delivery path (kept apart: the logs SDK API is still moving)."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

from ..errors import handle_internal_errors
from .retry import Delivery


class QueueingLogExporter(LogRecordExporter):
    """Serializes log records and hands them to a `Delivery`."""

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        """Serialize `batch` and queue it for delivery."""
        from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs

        with handle_internal_errors('log export'):
            self.delivery.submit_serialized(encode_logs(batch).SerializeToString(), len(batch))
            return LogRecordExportResult.SUCCESS
        return LogRecordExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Wait until everything queued so far is delivered."""
        return self.delivery.flush(timeout_millis)

    def shutdown(self) -> None:
        """Stop sending; what is still unsent moves to the disk queue."""
        self.delivery.close()
