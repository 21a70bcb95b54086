"""Containment of internal errors: telemetry must never break the program it observes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator
from contextlib import contextmanager

logger = logging.getLogger('logfire')
"""The stdlib logger logfire reports its own problems to. It is never routed back into logfire."""

_reported: set[str] = set()
_reported_lock = threading.Lock()


def report_once(key: str, message: str, *, exc_info: BaseException | bool = False) -> None:
    """Log `message` as a warning the first time `key` is seen in this process."""
    with _reported_lock:
        if key in _reported:
            return
        _reported.add(key)
    logger.warning(message, exc_info=exc_info)


@contextmanager
def handle_internal_errors(where: str) -> Generator[None, None, None]:
    """Contain any exception raised inside the block, reporting it once per `where`.

    Used at every boundary where OpenTelemetry or user code calls into logfire (processors, exporters,
    formatting, the ASGI wrapper), so a bug in logfire costs the program some telemetry, never a crash.
    """
    try:
        yield
    except Exception as exc:
        report_internal_error(where, exc)


def report_internal_error(where: str, exc: BaseException) -> None:
    """Report `exc`, caught at `where`, once per kind; for hot paths that use a bare try/except."""
    report_once(
        f'{where}:{type(exc).__name__}',
        f'Internal error in logfire ({where}); telemetry may be incomplete: {exc!r}',
        exc_info=exc,
    )
