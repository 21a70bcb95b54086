"""Export problems, counted and reported as at most one short warning per interval.

Warnings go to the `logfire` stdlib logger with instrumentation suppressed, never while a lock of ours is
held, and never re-entrantly: a logging handler that forwards records into logfire cannot loop or deadlock.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Generator
from contextlib import contextmanager

from opentelemetry import context as context_api

from ..errors import logger
from ..proxy import SUPPRESS_INSTRUMENTATION_KEY
from .lifecycle import at_fork_in_child

WARNING_INTERVAL_SECONDS = 60.0
"""The shortest time between two warnings about the same destination."""

_reporting = threading.local()


@contextmanager
def suppressed() -> Generator[None, None, None]:
    """Run the block with OpenTelemetry instrumentation suppressed (no spans, no traced HTTP requests)."""
    token = context_api.attach(context_api.set_value(SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        yield
    finally:
        context_api.detach(token)


def warn(message: str) -> None:
    """Log `message` as a warning on the `logfire` logger, suppressed and never re-entrantly."""
    if getattr(_reporting, 'active', False):
        return
    _reporting.active = True
    try:
        with suppressed():
            logger.warning(message)
    except Exception:  # a broken logging handler must not break export
        pass
    finally:
        _reporting.active = False


class ExportDiagnostics:
    """Counts what happened to the items (spans, metrics, logs) bound for one destination, and reports it.

    The first problem is reported at once; later ones are folded into the next report, at most one per
    `interval` seconds, each naming the latest problem and the items retried and dropped since the last one.
    """

    def __init__(
        self,
        destination: str,
        unit: str,
        *,
        interval: float = WARNING_INTERVAL_SECONDS,
        emit: Callable[[str], None] = warn,
    ) -> None:
        self.destination = destination
        self.unit = unit
        self.interval = interval
        self._emit = emit
        self._lock = threading.Lock()
        self._retried = 0
        self._dropped: Counter[str] = Counter()
        self._problem: str | None = None
        self._last_report: float | None = None
        self._kept = 0
        self._kept_where = ''
        at_fork_in_child(self, ExportDiagnostics._reset_after_fork)

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._retried = 0
        self._dropped = Counter()
        self._problem = None
        self._last_report = None
        self._kept = 0

    def retried(self, items: int, problem: str) -> None:
        """Record that `items` will be sent again later because of `problem`."""
        with self._lock:
            self._retried += items
            self._problem = problem
        self.report()

    def dropped(self, items: int, reason: str, problem: str | None = None) -> None:
        """Record that `items` were given up for `reason` (e.g. 'rejected', 'queue full')."""
        with self._lock:
            self._dropped[reason] += items
            if problem is not None:
                self._problem = problem
        self.report()

    def final_report(self, kept: int, where: str = 'the retry queue') -> None:
        """At shutdown: report drops not yet reported, and the `kept` items left in `where` for the next run.

        Retries alone are not worth a last warning: those items were delivered, or are among the kept ones.
        """
        with self._lock:
            if not kept and not self._dropped:
                return
            self._kept = kept
            self._kept_where = where
        self.report(force=True)

    def report(self, *, force: bool = False) -> None:
        """Emit the pending summary if the interval has passed (or `force`), outside of any lock."""
        now = time.monotonic()
        with self._lock:
            if self._problem is None and not self._dropped and not self._retried and not self._kept:
                return
            if not force and self._last_report is not None and now - self._last_report < self.interval:
                return
            message = self._message(now)
            self._last_report = now
            self._retried, self._dropped, self._problem, self._kept = 0, Counter(), None, 0
        self._emit(message)

    def _message(self, now: float) -> str:
        since = '' if self._last_report is None else f' in the last {now - self._last_report:.0f}s'
        counts: list[str] = []
        if self._retried:
            counts.append(f'{self._retried} {self.unit} queued for retry')
        counts += [f'{count} {self.unit} dropped ({reason})' for reason, count in sorted(self._dropped.items())]
        kept = f'{self._kept} {self.unit} not sent before exit are kept in {self._kept_where} for the next run'
        if not counts and self._problem is None:
            return f'Problem exporting {self.unit} to {self.destination}: {kept}.'
        problem = f': {self._problem}' if self._problem else ''
        summary = f' ({", ".join(counts)}{since})' if counts else ''
        return f'Problem exporting {self.unit} to {self.destination}{problem}{summary}.' + (
            f' {kept[0].upper()}{kept[1:]}.' if self._kept else ''
        )
