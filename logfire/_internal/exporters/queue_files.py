"""The disk queue's files: private to their owner, never followed through a symlink, checked before they are sent.

Directories are created `0700` and files `0600` (`os.mkdir`/`os.open` with that mode, so there is no moment
when they are wider, whatever the umask). A queue directory found wider is tightened, or refused when that fails.
A file is only sent if its name is one `DiskQueue` writes and its body parses as the OTLP request of the
queue's signal, with the item count its name says and nothing this SDK would not have written.
"""

from __future__ import annotations

import os
import re
import stat
import zlib
from pathlib import Path

from .payload import MAX_REQUEST_BYTES, Payload, Signal, count_items

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
MAX_FILE_BYTES = 2 * MAX_REQUEST_BYTES
"""Larger files, or bodies that inflate beyond this, are not ones this SDK wrote (its requests are split to fit)."""

_NAME = re.compile(r'[0-9]{20}-[0-9]+-[0-9]+-[0-9]+\.(?:gzip|deflate|raw)\.otlp')
_POSIX = os.name == 'posix'
_NOFOLLOW = getattr(os, 'O_NOFOLLOW', 0)
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, 'O_CLOEXEC', 0)
_READ_FLAGS = os.O_RDONLY | _NOFOLLOW | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_CLOEXEC', 0)


class QueueNotPrivateError(PermissionError):
    """A queue directory other users could read or write, which could not be made private."""


def is_queue_name(name: str) -> bool:
    """Whether `name` is the name of a payload file `DiskQueue` writes."""
    return _NAME.fullmatch(name) is not None


def private_directory(path: Path) -> None:
    """Create `path` as a directory only its owner can use, or make an existing one so.

    Raises:
        QueueNotPrivateError: `path` is a symlink or not a directory, belongs to another user, or is wider
            than `0700` and cannot be tightened.
        OSError: It cannot be created.
    """
    try:
        os.mkdir(path, DIRECTORY_MODE)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise QueueNotPrivateError(f'{path} is not a directory (a symlink?)')
    if not _POSIX:
        return  # Windows: a user's data directory is private through its ACLs, which chmod does not express
    if info.st_uid != os.getuid():
        raise QueueNotPrivateError(f'{path} belongs to another user (uid {info.st_uid})')
    if stat.S_IMODE(info.st_mode) != DIRECTORY_MODE:
        try:
            os.chmod(path, DIRECTORY_MODE)
        except OSError as exc:
            raise QueueNotPrivateError(
                f'{path} has mode {stat.S_IMODE(info.st_mode):o} and cannot be made 700: {exc}'
            ) from exc


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to a new file `path`, mode `0600` from its creation; an existing file or symlink is an error."""
    fd = os.open(path, _CREATE_FLAGS, FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def read_regular(path: Path) -> bytes:
    """Read a regular file of at most `MAX_FILE_BYTES`, never through a symlink (nor blocking on a FIFO).

    Raises:
        ValueError: It is not a regular file, or it is too large.
        OSError: It cannot be opened (a symlink is refused with `ELOOP`).
    """
    fd = os.open(path, _READ_FLAGS)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError('not a regular file')
        if info.st_size > MAX_FILE_BYTES:
            raise ValueError(f'larger than {MAX_FILE_BYTES} bytes')
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_FILE_BYTES:
                raise ValueError(f'larger than {MAX_FILE_BYTES} bytes')
        return b''.join(chunks)
    finally:
        os.close(fd)


def request_problem(signal: Signal, payload: Payload) -> str | None:
    """Why `payload` is not a request this SDK wrote for `signal`, or None when it is one.

    Parses it (importing the OTLP protobuf classes): call it only when reading the queue.
    """
    try:
        raw = _inflate(payload.body, payload.encoding)
    except (ValueError, zlib.error) as exc:
        return f'not {payload.encoding or "raw"} data as its name says ({exc})'
    try:
        items, canonical = count_items(signal, raw)
    except Exception as exc:  # protobuf's DecodeError, or anything a hostile body provokes
        return f'not an OTLP {signal} request ({type(exc).__name__})'
    if not canonical:
        return f'an OTLP {signal} request with fields this SDK never writes'
    if items != payload.items or items == 0:
        return f'{items} items where its name says {payload.items}'
    return None


def _inflate(body: bytes, encoding: str) -> bytes:
    if not encoding:
        return body
    inflater = zlib.decompressobj(wbits=31 if encoding == 'gzip' else 15)
    raw = inflater.decompress(body, MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(f'inflates beyond {MAX_FILE_BYTES} bytes')
    if not inflater.eof or inflater.unused_data:
        raise ValueError('truncated, or with trailing data')
    return raw
