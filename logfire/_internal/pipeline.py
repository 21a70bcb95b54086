"""`Pipeline`: the real SDK providers behind the proxies, and how to flush and stop them within a bound."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from .errors import handle_internal_errors


@dataclass
class Pipeline:
    """The real SDK objects behind the proxies, and how to flush and stop them within a bound."""

    tracer_provider: TracerProvider
    meter_provider: metrics.MeterProvider
    defer_attributes: bool = False
    """Whether logfire's API may start its spans without attributes and have the root processor add them, which
    skips validating values the API has made valid already (see `span_storage`)."""
    wrap_measure: Callable[[str, Any], Any] | None = None
    """Given a counter's or histogram's name and its measurement method, the method to bind in its place (the same
    one, or one that also adds up the measurement in the current spans: see `span_metrics`)."""

    def force_flush(self, timeout_millis: int) -> bool:
        """Flush spans, then metrics, within `timeout_millis` in total."""
        deadline = time.monotonic() + timeout_millis / 1000
        ok = self.tracer_provider.force_flush(timeout_millis)
        if isinstance(self.meter_provider, MeterProvider):
            remaining = max(0, int((deadline - time.monotonic()) * 1000))
            try:
                ok = self.meter_provider.force_flush(remaining) and ok
            except Exception:  # the SDK raises when collection times out: an answer, not an internal error
                ok = False
        return ok

    def shutdown(self, timeout_millis: int, *, flush: bool = True) -> bool:
        """Flush (optionally) and shut down, giving up after `timeout_millis` so exit is never held.

        The flush gets most of the time; the rest is kept for the exporters to move whatever is still
        unsent to their disk queues, which the next process with the same `data_dir` delivers.
        """
        result: list[bool] = []
        deadline = time.monotonic() + timeout_millis / 1000
        reserve = min(500, timeout_millis // 4)

        def run() -> None:
            with handle_internal_errors('pipeline shutdown'):
                # Spans only: shutting the meter provider down collects and exports metrics one last time, and a
                # flush before it would export them twice (and run the callbacks twice).
                ok = self.tracer_provider.force_flush(timeout_millis - reserve) if flush else True
                self.tracer_provider.shutdown()
                if isinstance(self.meter_provider, MeterProvider):
                    remaining = int((deadline - time.monotonic()) * 1000)
                    self.meter_provider.shutdown(timeout_millis=max(1, remaining))
                result.append(ok)

        # Exporters may block on a dead endpoint beyond their own timeouts; a daemon thread bounds the wait.
        thread = threading.Thread(target=run, name='logfire-shutdown', daemon=True)
        thread.start()
        thread.join(timeout_millis / 1000 + 0.5)
        return bool(result and result[0])
