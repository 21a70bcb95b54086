"""Process lifecycle hooks for the export path: fork, interpreter exit and SIGTERM.

- After `os.fork()`, every registered object rebuilds its threads, locks and sessions in the child.
- At interpreter exit, spans still open (say, in a suspended generator) are ended before the flush that
  `logfire`'s own exit hook runs; this module's hook is registered later, so it runs first.
- A `multiprocessing` child forked from a configured parent leaves through `os._exit()`, which skips
  `atexit`; a `multiprocessing` finalizer ends and flushes its spans instead.
- On SIGTERM, a thread flushes finished spans and keeps what it cannot send on disk. The handler itself never
  waits for it: the interrupted frame may hold a lock the flush needs (a forked worker inside its exit flush when
  `Pool.terminate()` signals it). With a previous handler of its own (uvicorn's), that handler runs at once; with
  the default action, the handler returns and the thread ends the process with SIGTERM once the flush is done
  (within the shutdown budget), or the process ends on its own first, after its exit hooks waited for the thread.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol, TypeVar

from ..errors import handle_internal_errors

T = TypeVar('T')


def at_fork_in_child(obj: T, reset: Callable[[T], None]) -> None:
    """Call `reset(obj)` in the child after every `os.fork()`, for as long as `obj` is alive."""
    if not hasattr(os, 'register_at_fork'):  # pragma: no cover - Windows
        return
    ref = weakref.ref(obj)

    def after_in_child() -> None:
        target = ref()
        if target is not None:
            with handle_internal_errors(f'{type(target).__name__} after fork'):
                reset(target)

    os.register_at_fork(after_in_child=after_in_child)


def run_bounded(function: Callable[[], None], timeout: float, name: str) -> bool:
    """Run `function` in a daemon thread and wait at most `timeout` seconds; True if it finished.

    A thread, so that a lock held by the calling thread (a signal handler interrupts arbitrary code) delays
    the work by at most `timeout` instead of deadlocking it.
    """
    thread = threading.Thread(target=function, name=name, daemon=True)
    thread.start()
    thread.join(max(0.0, timeout))
    return not thread.is_alive()


class ExitParticipant(Protocol):
    """What the exit hooks need from a span processor that exports."""

    shutdown_timeout_millis: int

    def end_open_spans(self) -> None:
        """End every span that started but has not ended, so that it is exported."""
        ...

    def flush_for_exit(self, timeout_millis: int) -> None:
        """Export what is queued within `timeout_millis`, then move whatever is still unsent to disk."""
        ...


_participants: weakref.WeakSet[Any] = weakref.WeakSet()
_participants_lock = threading.Lock()


_budget_millis = 0
"""The longest shutdown timeout of any participant so far: what the SIGTERM handler waits at most."""


def register_participant(participant: ExitParticipant) -> None:
    """Include `participant` in the exit, SIGTERM and `multiprocessing` child hooks."""
    global _budget_millis
    with _participants_lock:
        _participants.add(participant)
        _budget_millis = max(_budget_millis, participant.shutdown_timeout_millis)
    _install_sigterm_handler()


def _each_participant() -> list[ExitParticipant]:
    with _participants_lock:
        return list(_participants)


def end_open_spans() -> None:
    """End the open spans of every participant."""
    for participant in _each_participant():
        with handle_internal_errors('ending open spans at exit'):
            participant.end_open_spans()


def _exit_budget_seconds() -> float:
    return max((p.shutdown_timeout_millis for p in _each_participant()), default=0) / 1000


def flush_participants() -> None:
    """Flush every participant, all within the longest of their shutdown timeouts."""
    deadline = time.monotonic() + _exit_budget_seconds()
    for participant in _each_participant():
        with handle_internal_errors('flush at exit'):
            participant.flush_for_exit(max(0, int((deadline - time.monotonic()) * 1000)))


def _end_and_flush() -> None:
    end_open_spans()
    flush_participants()


def _at_exit() -> None:
    await_sigterm_flush()
    end_open_spans()


def _child_exit() -> None:
    await_sigterm_flush()
    _end_and_flush()


atexit.register(_at_exit)


def _after_fork_in_child() -> None:
    global _participants_lock, _sigterm_flush
    _participants_lock = threading.Lock()
    _sigterm_flush = None  # the parent's
    _register_multiprocessing_finalizer()


def _register_multiprocessing_finalizer() -> None:
    """In a child forked by `multiprocessing`, end and flush spans before it leaves through `os._exit()`."""
    util: Any = sys.modules.get('multiprocessing.util')
    if util is None:
        return
    # The child's Process._bootstrap clears the finalizers it inherited, then runs the after-fork
    # callbacks: a finalizer added from one of those survives the clearing.
    util.register_after_fork(_ANCHOR, _add_finalizer)


class _Anchor:
    """A weak-referenceable object for the `multiprocessing.util` registries."""


_ANCHOR = _Anchor()


def _add_finalizer(anchor: _Anchor) -> None:
    import multiprocessing.util

    multiprocessing.util.Finalize(anchor, _child_exit, exitpriority=100)


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# ---- SIGTERM ----------------------------------------------------------------------------------------

_previous_handler: Any = None
_installed = False


def _install_sigterm_handler() -> None:
    """Flush on SIGTERM, then let the previous handler act; only from the main thread, only once."""
    global _previous_handler, _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    try:
        previous = signal.getsignal(signal.SIGTERM)
        if previous is signal.SIG_IGN or previous is None:  # ignored on purpose, or set outside Python
            return
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):  # pragma: no cover - no signals here
        return
    _previous_handler = previous
    _installed = True


_sigterm_flush: threading.Thread | None = None
"""The thread flushing after a SIGTERM, if one arrived."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _sigterm_flush
    previous = _previous_handler
    # This handler may have interrupted code of ours that holds a lock the flush needs: the flush runs in a
    # thread, and the handler never waits for it, so the interrupted frame goes on and releases the lock.
    if callable(previous):
        # With a handler of its own (uvicorn's), the program decides when to end, and open spans may still end
        # normally: only flush, and let the program's handler act at once; the exit hooks flush again.
        _sigterm_flush = _start(flush_participants)
        previous(signum, frame)
        return
    # The default action: the process is about to die, so end open spans too, then die of SIGTERM as the
    # process would have without us. A second SIGTERM meanwhile kills it at once.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _sigterm_flush = _start(_flush_then_die)


def _start(work: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=work, name='logfire-sigterm', daemon=True)
    thread.start()
    return thread


def _flush_then_die() -> None:
    with handle_internal_errors('flush on SIGTERM'):
        run_bounded(_end_and_flush, _budget_millis / 1000 + 0.5, 'logfire-sigterm-flush')
    os.kill(os.getpid(), signal.SIGTERM)


def await_sigterm_flush() -> None:
    """At exit, if a SIGTERM arrived: let its flush finish (with the default action, it then ends the process)."""
    thread = _sigterm_flush
    if thread is not None and thread is not threading.current_thread():
        thread.join(_budget_millis / 1000 + 1.0)
