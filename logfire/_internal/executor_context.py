"""Work submitted to a `ThreadPoolExecutor` runs in the OpenTelemetry context it was submitted from.

Python gives each worker thread its own context, so a span started in a task (or in a function passed to
`loop.run_in_executor`, which calls `submit`) would start a new trace. `configure()` replaces
`ThreadPoolExecutor.submit`, once per process, by a version that wraps the function with the submitting
thread's current OTel context; `thread_pool_context=False` puts Python's own `submit` back.

The cost on the submitting side is one context lookup and one `functools.partial`; the worker attaches
the context before the function runs and detaches it after, so nothing leaks into the worker's next task.
Only the OTel context is carried (the current span, baggage, suppression), not other context variables:
`contextvars.copy_context().run` does that, as `asyncio.to_thread` does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any, Final, TypeVar

from opentelemetry.context import Context, attach, detach, get_current

__all__ = ['ORIGINAL_SUBMIT', 'carry_context_into_thread_pools', 'carries_context']

_T = TypeVar('_T')

ORIGINAL_SUBMIT: Final = ThreadPoolExecutor.submit
"""Python's own `ThreadPoolExecutor.submit`, as it was when logfire was imported."""

_lock = threading.Lock()


def _run_in_context(context: Context, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
    token = attach(context)
    try:
        return fn(*args, **kwargs)
    finally:
        detach(token)


def _submit_in_context(self: ThreadPoolExecutor, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
    """Schedule `fn(*args, **kwargs)` to run in the submitting thread's current OpenTelemetry context."""
    return ORIGINAL_SUBMIT(self, partial(_run_in_context, get_current(), fn), *args, **kwargs)


_submit_in_context.__wrapped__ = ORIGINAL_SUBMIT  # pyright: ignore[reportFunctionMemberAccess]


def carries_context() -> bool:
    """Whether `ThreadPoolExecutor.submit` is logfire's context-carrying version right now."""
    return ThreadPoolExecutor.submit is _submit_in_context


def carry_context_into_thread_pools(enabled: bool) -> None:
    """Install (or remove) the context-carrying `submit`; calling it again with the same value does nothing.

    Removing only restores Python's `submit` when ours is still the class attribute: if another library
    wrapped it since, its wrapper (and ours inside it) stay, rather than silently dropping its patch.
    """
    with _lock:
        current = ThreadPoolExecutor.submit
        if enabled and current is ORIGINAL_SUBMIT:
            ThreadPoolExecutor.submit = _submit_in_context
        elif not enabled and current is _submit_in_context:
            ThreadPoolExecutor.submit = ORIGINAL_SUBMIT
