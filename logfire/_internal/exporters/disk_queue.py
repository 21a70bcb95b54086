"""A bounded on-disk queue of OTLP payloads that survives the process, shared by every process using it.

One directory per destination (`<data_dir>/export-queue/<signal>-<hash of the endpoint>`), one file per
payload, named so that sorting the names sorts by age: `<time_ns>-<pid>-<seq>-<items>.<encoding>.otlp`.
A file is written under a temporary name and renamed into place, so readers never see half a payload.

A sender *claims* a file by renaming it to `<name>.claimed-<pid>` (a rename succeeds for one process only),
then deletes it once delivered or renames it back to retry later. Claims are short: one request. A claim
whose process is gone, or older than `STALE_CLAIM_SECONDS`, is put back in the queue by the next scan.

The queue is private (see `queue_files`): a directory that cannot be made so is not used, and a file that is
not one this SDK wrote (a foreign name, a symlink, a body that fails the `check`) is never sent: it is renamed
to `<name>.rejected-<time_ns>`, left for a person to look at, with one warning per interval.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .diagnostics import WARNING_INTERVAL_SECONDS, warn
from .lifecycle import at_fork_in_child
from .payload import Encoding, Payload
from .queue_files import QueueNotPrivateError, is_queue_name, private_directory, read_regular, write_private

QUEUE_DIRNAME = 'export-queue'
STALE_CLAIM_SECONDS = 300.0
_STALE_TEMP_SECONDS = 3600.0
_RESCAN_SECONDS = 5.0
_SUFFIX = '.otlp'
_CLAIM = '.claimed-'
_REJECTED = '.rejected-'
_ENCODINGS: dict[str, Encoding] = {'gzip': 'gzip', 'deflate': 'deflate', 'raw': ''}


def queue_directory(data_dir: Path, signal: str, destination: str) -> Path:
    """The queue directory for one signal sent to one destination (a URL or gRPC target)."""
    digest = hashlib.sha256(destination.encode()).hexdigest()[:16]
    return Path(data_dir) / QUEUE_DIRNAME / f'{signal}-{digest}'


@dataclass(frozen=True)
class _Entry:
    name: str
    size: int
    items: int


class DiskQueue:
    """The payload files of one destination, with a size cap; the oldest files go first when it is full.

    Args:
        directory: The queue directory (see `queue_directory`).
        max_bytes: The cap on the bytes of its files.
        destination: Where its payloads go, for messages.
        check: Says why a payload read back is not one to send (None when it is fine); see
            `queue_files.request_problem`.
    """

    def __init__(
        self,
        directory: Path,
        max_bytes: int,
        destination: str = '',
        check: Callable[[Payload], str | None] | None = None,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.destination = destination
        self.check = check
        self._private: bool | None = None  # unknown, private, or refused (and warned about)
        self._rejected = 0  # files set aside since the last warning
        self._last_rejected_warning: float | None = None
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}  # unclaimed files, as of the last scan plus our own changes
        self._claimed_bytes = 0
        self._last_scan = float('-inf')
        self._seq = 0
        self._pid = os.getpid()
        at_fork_in_child(self, DiskQueue._reset_after_fork)

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._last_scan = float('-inf')  # our parent's claims are not ours

    # ---- writing ------------------------------------------------------------------------------------

    def put(self, payload: Payload) -> int:
        """Store `payload`; return how many items were dropped (oldest files first) to keep within the cap.

        Raises:
            OSError: The directory or file cannot be written.
        """
        return self.store(payload)[1]

    def store(self, payload: Payload) -> tuple[str | None, int]:
        """Store `payload`: the name of its file (None if it alone exceeds the cap), and the items dropped.

        Raises:
            OSError: The directory or file cannot be written.
        """
        if payload.size > self.max_bytes:
            return None, payload.items
        self._ensure_directory()
        with self._lock:
            self._seq += 1
            seq = self._seq
        encoding = next(key for key, value in _ENCODINGS.items() if value == payload.encoding)
        name = f'{time.time_ns():020d}-{self._pid}-{seq}-{payload.items}.{encoding}{_SUFFIX}'
        temp = self.directory / f'.{name}.tmp'
        try:
            write_private(temp, payload.body)
        except FileNotFoundError:
            # The directory was deleted while this process ran (a clean-up of data_dir): make it again, private.
            self._private = None
            self._ensure_directory()
            write_private(temp, payload.body)
        os.replace(temp, self.directory / name)
        dropped = 0
        with self._lock:
            self._entries[name] = _Entry(name, payload.size, payload.items)
            victims = self._over_cap_locked()
        for victim in victims:
            if self._remove(self.directory / victim.name):
                dropped += victim.items
        kept = all(victim.name != name for victim in victims)
        return (name if kept else None), dropped

    def discard(self, name: str) -> None:
        """Delete a stored payload that is no longer needed (delivered meanwhile), unless a sender claimed it."""
        with self._lock:
            self._entries.pop(name, None)
        self._remove(self.directory / name)

    def _over_cap_locked(self) -> list[_Entry]:
        total = self._claimed_bytes + sum(entry.size for entry in self._entries.values())
        victims: list[_Entry] = []
        for name in sorted(self._entries):
            if total <= self.max_bytes:
                break
            entry = self._entries.pop(name)
            total -= entry.size
            victims.append(entry)
        return victims

    def _ensure_directory(self) -> None:
        """Create the queue directories private, or check and tighten existing ones (once per process).

        Raises:
            QueueNotPrivateError: A queue directory cannot be made private; it is not used.
        """
        if self._private:
            return
        if self._private is False:
            raise QueueNotPrivateError(f'{self.directory} is not private')
        root = self.directory.parent
        try:
            root.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # data_dir, private if we create it
            private_directory(root)
            private_directory(self.directory)
        except QueueNotPrivateError as exc:
            self._private = False
            warn(
                f'The retry queue {self.directory} is not used: {exc}. Other users could read the queued data '
                f'or add to it. Fix the ownership or permissions (chmod 700), or choose another data_dir.'
            )
            raise
        self._private = True
        try:
            write_private(root / '.gitignore', b'*\n')
        except FileExistsError:
            pass

    def _usable(self) -> bool:
        """Whether the directory exists and is private (made so if it can be), for reading."""
        if self._private is None:
            if not os.path.lexists(self.directory):
                return False  # nothing queued yet: nothing to create or check
            try:
                self._ensure_directory()  # warns if it cannot be made private
            except OSError:
                return False
        return bool(self._private)

    # ---- reading ------------------------------------------------------------------------------------

    def pending(self) -> int:
        """How many unclaimed payload files there are (rescanning the directory now and then)."""
        self._maybe_rescan()
        with self._lock:
            return len(self._entries)

    def waiting_items(self) -> int:
        """How many items (spans, metrics, log records) the unclaimed files hold, as last seen."""
        with self._lock:
            return sum(entry.items for entry in self._entries.values())

    def claim_oldest(self) -> Payload | None:
        """Claim and read the oldest unclaimed payload, or None when there is none."""
        self._maybe_rescan()
        while True:
            with self._lock:
                if not self._entries:
                    return None
                name = min(self._entries)
                entry = self._entries.pop(name)
            source = self.directory / name
            claimed = self.directory / f'{name}{_CLAIM}{self._pid}'
            try:
                os.replace(source, claimed)  # only one process wins; the others get FileNotFoundError
                body = read_regular(claimed)  # never through a symlink
                os.utime(claimed, follow_symlinks=False)
            except ValueError as exc:
                self._set_aside(claimed, name, str(exc))
                continue
            except OSError as exc:
                if claimed.is_symlink():
                    self._set_aside(claimed, name, f'a symlink ({exc.strerror})')
                continue
            payload = Payload(body, _encoding_of(name), entry.items, path=claimed)
            problem = self.check(payload) if self.check is not None else None
            if problem is not None:
                self._set_aside(claimed, name, problem)
                continue
            with self._lock:
                self._claimed_bytes += entry.size
            return payload

    def done(self, payload: Payload) -> None:
        """Forget a claimed payload: it was delivered or given up."""
        if payload.path is None:
            return
        self._remove(payload.path)
        with self._lock:
            self._claimed_bytes = max(0, self._claimed_bytes - payload.size)

    def release(self, payload: Payload) -> None:
        """Put a claimed payload back in the queue, to be retried later (by any process)."""
        path = payload.path
        if path is None:
            return
        name = path.name.partition(_CLAIM)[0]
        try:
            os.replace(path, self.directory / name)
        except OSError:
            return
        payload.path = None
        with self._lock:
            self._claimed_bytes = max(0, self._claimed_bytes - payload.size)
            self._entries[name] = _Entry(name, payload.size, payload.items)

    # ---- scanning -----------------------------------------------------------------------------------

    def _maybe_rescan(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_scan < _RESCAN_SECONDS:
                return
            self._last_scan = now
        self.rescan()

    def rescan(self) -> None:
        """Re-read the directory: files of other processes, and claims whose sender is gone."""
        entries: dict[str, _Entry] = {}
        try:
            scanned = list(os.scandir(self.directory)) if self._usable() else []
        except OSError:
            scanned = []
        now = time.time()
        for item in scanned:
            name = item.name
            try:
                info = item.stat(follow_symlinks=False)
            except OSError:
                continue
            if name.startswith('.'):
                if name.endswith('.tmp') and now - info.st_mtime > _STALE_TEMP_SECONDS:
                    self._remove(Path(item.path))
                continue
            base, claim, pid = name.partition(_CLAIM)
            if not base.endswith(_SUFFIX):
                continue
            if not is_queue_name(base) or not stat.S_ISREG(info.st_mode):
                self._set_aside(
                    Path(item.path),
                    base,
                    'a symlink or not a regular file' if is_queue_name(base) else 'a name this SDK never writes',
                )
                continue
            if claim:
                if not self._is_stale_claim(pid, now - info.st_mtime):
                    continue
                try:
                    os.replace(item.path, self.directory / base)
                except OSError:
                    continue
                name = base
            entries[name] = _Entry(name, info.st_size, _items_of(name))
        with self._lock:
            self._entries = entries
            self._last_scan = time.monotonic()

    def _is_stale_claim(self, pid_text: str, age: float) -> bool:
        if age > STALE_CLAIM_SECONDS:
            return True
        try:
            pid = int(pid_text)
        except ValueError:
            return True
        if pid == self._pid:
            return False  # ours: a request is in flight
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:  # exists, owned by someone else
            return False
        return False

    def _set_aside(self, path: Path, name: str, problem: str) -> None:
        """Rename a file that is not ours to send out of the queue (never deleting it), and warn now and then."""
        target = self.directory / f'{name}{_REJECTED}{time.time_ns()}'
        try:
            os.replace(path, target)
        except OSError:
            return  # gone, or claimed meanwhile by another process, which checks it in turn
        now = time.monotonic()
        with self._lock:
            self._rejected += 1
            last = self._last_rejected_warning
            if last is not None and now - last < WARNING_INTERVAL_SECONDS:
                return
            count, self._rejected, self._last_rejected_warning = self._rejected, 0, now
        more = f' ({count - 1} more since the last warning)' if count > 1 else ''
        warn(
            f'Not sending {path.parent / name} from the retry queue: {problem}, so it was not written by logfire. '
            f'It was renamed to {target.name}{more}; delete it once looked at.'
        )

    def _remove(self, path: Path) -> bool:
        try:
            path.unlink()
        except OSError:
            return False
        return True


def _items_of(name: str) -> int:
    parts = name.split('.', 1)[0].split('-')
    try:
        return int(parts[3])
    except (IndexError, ValueError):
        return 0


def _encoding_of(name: str) -> Encoding:
    parts = name.split('.')
    return _ENCODINGS.get(parts[1] if len(parts) > 2 else 'raw', '')
