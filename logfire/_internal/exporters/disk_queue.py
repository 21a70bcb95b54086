"""A bounded on-disk queue of OTLP payloads that survives the process, shared by every process using it.

One directory per destination (`<data_dir>/export-queue/<signal>-<hash of the endpoint>`), one file per
payload, named so that sorting the names sorts by age: `<time_ns>-<pid>-<seq>-<items>.<encoding>.otlp`.
A file is written under a temporary name and renamed into place, so readers never see half a payload.

A sender *claims* a file by renaming it to `<name>.claimed-<pid>` (a rename succeeds for one process only),
then deletes it once delivered or renames it back to retry later. Claims are short: one request. A claim
whose process is gone, or older than `STALE_CLAIM_SECONDS`, is put back in the queue by the next scan.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .lifecycle import at_fork_in_child
from .payload import Encoding, Payload

QUEUE_DIRNAME = 'export-queue'
STALE_CLAIM_SECONDS = 300.0
_STALE_TEMP_SECONDS = 3600.0
_RESCAN_SECONDS = 5.0
_SUFFIX = '.otlp'
_CLAIM = '.claimed-'
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
    """The payload files of one destination, with a size cap; the oldest files go first when it is full."""

    def __init__(self, directory: Path, max_bytes: int, destination: str = '') -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.destination = destination
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
        if payload.size > self.max_bytes:
            return payload.items
        self._ensure_directory()
        with self._lock:
            self._seq += 1
            seq = self._seq
        encoding = next(key for key, value in _ENCODINGS.items() if value == payload.encoding)
        name = f'{time.time_ns():020d}-{self._pid}-{seq}-{payload.items}.{encoding}{_SUFFIX}'
        temp = self.directory / f'.{name}.tmp'
        temp.write_bytes(payload.body)
        os.replace(temp, self.directory / name)
        dropped = 0
        with self._lock:
            self._entries[name] = _Entry(name, payload.size, payload.items)
            victims = self._over_cap_locked()
        for victim in victims:
            if self._remove(self.directory / victim.name):
                dropped += victim.items
        return dropped

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
        if self.directory.is_dir():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        ignore = self.directory.parent / '.gitignore'
        if not ignore.exists():
            ignore.write_text('*\n', encoding='utf-8')

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
                os.utime(claimed)
                body = claimed.read_bytes()
            except OSError:
                continue
            with self._lock:
                self._claimed_bytes += entry.size
            return Payload(body, _encoding_of(name), entry.items, path=claimed)

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
            scanned = list(os.scandir(self.directory))
        except OSError:
            scanned = []
        now = time.time()
        for item in scanned:
            name = item.name
            try:
                stat = item.stat()
            except OSError:
                continue
            if name.startswith('.'):
                if name.endswith('.tmp') and now - stat.st_mtime > _STALE_TEMP_SECONDS:
                    self._remove(Path(item.path))
                continue
            base, claim, pid = name.partition(_CLAIM)
            if not base.endswith(_SUFFIX):
                continue
            if claim:
                if not self._is_stale_claim(pid, now - stat.st_mtime):
                    continue
                try:
                    os.replace(item.path, self.directory / base)
                except OSError:
                    continue
                name = base
            entries[name] = _Entry(name, stat.st_size, _items_of(name))
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
