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
  More SIGTERMs meanwhile change nothing: masters often send two within a millisecond (hypercorn's, then
  `multiprocessing`'s exit hook for its daemon workers), and the flush is bounded anyway; SIGKILL still kills at
  once. A SIGTERM that lands while the exit hooks already flush lets them finish (within the same bound).
- Servers move SIGTERM around: gunicorn's uvicorn worker resets it to the default action after the fork (so a
  handler installed by `configure()` in the master or in `post_fork` is gone), and uvicorn installs its own while
  serving, then puts back the one it found and raises the signal again once it has shut down. So the first span
  that ends in the main thread puts our handler back on top of whatever is there (`claim_sigterm()`), and after a
  SIGTERM handed to such a handler, the main thread is watched until something sets the default action back:
  our handler takes its place at once, and the re-raised signal flushes before it kills.
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


_exiting = False
"""The exit hooks have started their flush: a SIGTERM now must not end the process under them."""


def _at_exit() -> None:
    global _exiting
    await_sigterm_flush()
    _exiting = True
    end_open_spans()


def _child_exit() -> None:
    global _exiting
    await_sigterm_flush()
    _exiting = True
    _end_and_flush()


atexit.register(_at_exit)


def _after_fork_in_child() -> None:
    global _participants_lock, _sigterm_flush, _dying, _exiting
    _participants_lock = threading.Lock()
    _sigterm_flush = None  # the parent's
    _dying = _exiting = False
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

_displaced: list[Any] = []
"""The handler each installation of ours took the place of; ours hands the signal on to the last one."""
_installed = False


def _install_sigterm_handler() -> None:
    """Flush on SIGTERM, then let the previous handler act; only from the main thread, only once."""
    if not _installed:
        claim_sigterm()


def claim_sigterm() -> bool:
    """Put our SIGTERM handler on top of the current one, unless it is there already or SIGTERM is ignored.

    Returns:
        False when called outside the main thread (only it can set signal handlers): try again later.
    """
    global _installed
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        current = signal.getsignal(signal.SIGTERM)
        if current is _on_sigterm or current is signal.SIG_IGN or current is None:  # None: set outside Python
            return True
        _prepare_reset()
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):  # pragma: no cover - no signals here
        return True
    _displaced.append(current)
    _installed = True
    return True


_sigterm_flush: threading.Thread | None = None
"""The thread flushing after a SIGTERM, if one arrived."""
_dying = False
"""A SIGTERM with the default action arrived: the process ends once the flush is done."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _sigterm_flush, _dying
    _stop_watching()
    previous = _displaced[-1] if _displaced else signal.SIG_DFL
    # This handler may have interrupted code of ours that holds a lock the flush needs: the flush runs in a
    # thread, and the handler never waits for it, so the interrupted frame goes on and releases the lock.
    if callable(previous):
        # With a handler of its own (uvicorn's), the program decides when to end, and open spans may still end
        # normally: only flush, and let the program's handler act at once; the exit hooks flush again. If the
        # program then restores the default action and raises the signal again (uvicorn does, after its graceful
        # shutdown), the watch puts this handler back first, so that the spans of the last requests are flushed.
        _sigterm_flush = _start(flush_participants)
        _watch_main_thread()
        previous(signum, frame)
        return
    # The default action: the process is about to die, so end open spans too, then die of SIGTERM as the
    # process would have without us. This handler stays: a repeated SIGTERM must not cut the (bounded) flush short.
    if _dying:
        dying = _sigterm_flush
        if dying is None or not dying.is_alive():  # its end did not end the process (a handler set meanwhile)
            _die_from_main_thread()
        return
    earlier = _sigterm_flush  # a flush started by an earlier SIGTERM, which the program's handler got too
    try:
        _sigterm_flush = _start(lambda: _flush_then_die(earlier))
    except Exception:  # no thread to flush in (the system is out of them): die now, as without us
        _die_from_main_thread()
    _dying = True


def _start(work: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=work, name='logfire-sigterm', daemon=True)
    thread.start()
    return thread


def _flush_then_die(earlier: threading.Thread | None) -> None:
    deadline = time.monotonic() + _budget_millis / 1000 + 0.5
    if not _exiting:
        with handle_internal_errors('flush on SIGTERM'):
            run_bounded(_end_and_flush, deadline - time.monotonic(), 'logfire-sigterm-flush')
        if earlier is not None:  # it may be writing what it took from memory to disk: dying now would lose that
            earlier.join(max(0.0, deadline - time.monotonic()))
    else:
        # The exit hooks flush (and export the metrics one last time), and the process ends with its own status when
        # they are done: only bound them.
        time.sleep(max(0.0, deadline - time.monotonic()))
    _die_from_this_thread()


_reset_to_default: Callable[[], bool] | None = None
"""Sets SIGTERM's action back to the default from any thread (through the C library); True if it did."""


def _prepare_reset() -> None:
    """Find the C library's `signal()` now, while nothing is dying: `signal.signal()` is for the main thread only."""
    global _reset_to_default
    if _reset_to_default is not None:
        return
    try:
        import ctypes

        c_signal = ctypes.CDLL(None).signal
        c_signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
        c_signal.restype = ctypes.c_void_p
        failed = ctypes.c_void_p(-1).value  # SIG_ERR
    except Exception:  # pragma: no cover - no ctypes, no dlopen (a static build), or Windows
        return

    def reset() -> bool:
        return c_signal(signal.SIGTERM, None) != failed  # None: SIG_DFL

    _reset_to_default = reset


def _die_from_this_thread() -> None:
    """End the process by SIGTERM's default action, from the flush thread, though our handler is still installed."""
    reset = _reset_to_default
    if reset is not None and reset():
        os.kill(os.getpid(), signal.SIGTERM)  # delivered at once, unless the program set a handler again meanwhile
        time.sleep(1.0)
    os._exit(128 + signal.SIGTERM)  # what a shell reports for a process killed by SIGTERM


def _die_from_main_thread() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def await_sigterm_flush() -> None:
    """At exit, if a SIGTERM arrived: let its flush finish (with the default action, it then ends the process)."""
    _stop_watching()
    thread = _sigterm_flush
    if thread is not None and thread is not threading.current_thread():
        thread.join(_budget_millis / 1000 + 1.0)


# ---- after a SIGTERM handed on: watching what the program does with the signal ----------------------

WATCH_SECONDS = 120.0
"""After a SIGTERM handed to the program's own handler, how long the main thread is watched at most."""
_WATCH_CHECK_EVERY = 1024
_SIGNAL_CODE: Any = getattr(signal.signal, '__code__', None)  # the Python wrapper every `signal.signal()` runs
_watch_until: float | None = None
_watch_events = 0
_setting: tuple[bool, Any] = (False, None)
"""From the call of the watched `signal.signal()` to its return: whether it sets SIGTERM, and to what."""


def _watch_main_thread() -> None:
    """Until the program sets SIGTERM back (to ours, the default action or SIG_IGN), watch its `signal.signal()`s.

    A profile function on the main thread (the thread this signal handler runs in) sees each such call; it costs
    the main thread a function call per Python call, only between a SIGTERM and the end of the program's graceful
    shutdown, and never longer than `WATCH_SECONDS`. A profiler already in place is left alone.
    """
    global _watch_until, _watch_events
    if _SIGNAL_CODE is None or sys.getprofile() is not None:  # pragma: no cover - another Python, or a profiler
        return
    _watch_until = time.monotonic() + WATCH_SECONDS
    _watch_events = 0
    sys.setprofile(_on_profile_event)


def _on_profile_event(frame: FrameType, event: str, arg: object) -> None:
    global _watch_events, _setting
    if frame.f_code is _SIGNAL_CODE:
        caller = frame.f_back
        if caller is not None and caller.f_code is _CLAIM_CODE:  # our own
            return
        if event == 'call':
            arguments = frame.f_locals
            _setting = (arguments.get('signalnum') == signal.SIGTERM, arguments.get('handler'))
        elif event == 'return' and _setting[0]:
            with handle_internal_errors('watching SIGTERM'):
                _after_sigterm_was_set(_setting[1])
        return
    _watch_events += 1
    if _watch_events >= _WATCH_CHECK_EVERY:
        _watch_events = 0
        deadline = _watch_until
        if deadline is None or time.monotonic() > deadline:
            _stop_watching()


def _after_sigterm_was_set(handler: Any) -> None:
    """The program set SIGTERM's handler to `handler`, now that it has shut down (or while it does)."""
    if handler is _on_sigterm:
        # It put ours back (uvicorn restores the handler it found when it started serving): hand on to what ours
        # had displaced then, not to the program's handler, which has done its work.
        if len(_displaced) > 1:
            _displaced.pop()
        _stop_watching()
    elif handler == signal.SIG_DFL:
        # Typically followed by raising the signal again: make that flush first, then die as it would have.
        signal.signal(signal.SIGTERM, _on_sigterm)
        _displaced.append(signal.SIG_DFL)
        _stop_watching()
    elif handler == signal.SIG_IGN:
        _stop_watching()


_CLAIM_CODE = claim_sigterm.__code__


def _stop_watching() -> None:
    global _watch_until
    if _watch_until is not None and threading.current_thread() is threading.main_thread():
        _watch_until = None
        sys.setprofile(None)
