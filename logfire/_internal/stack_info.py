"""Where in the user's code a span or log was made: `code.filepath`, `code.lineno`, `code.function`."""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
import warnings
from pathlib import Path
from types import CodeType, FrameType
from typing import Final

from .constants import CODE_FILEPATH, CODE_FUNCTION, CODE_LINENO

_LOGFIRE_DIR: Final = str(Path(__file__).resolve().parent.parent) + os.sep
_IGNORED_PREFIXES: Final = tuple(
    {_LOGFIRE_DIR, *(sysconfig.get_paths()[key] for key in ('stdlib', 'platstdlib', 'purelib', 'platlib'))}
)

# id(code) -> (code, (relative file path, function name) or None when the frame belongs to a library).
# Keyed by id because hashing a code object hashes its constants, nested code included: microseconds for a
# module or a big function. Each entry holds its code object, so no other object can take that id meanwhile.
_code_info: dict[int, tuple[CodeType, tuple[str, str] | None]] = {}


def _info_for(code: CodeType) -> tuple[str, str] | None:
    entry = _code_info.get(id(code))
    if entry is not None:
        return entry[1]
    filename = code.co_filename
    resolved = filename
    if filename and not filename.startswith('<'):
        resolved = os.path.abspath(filename)
    if resolved.startswith(_IGNORED_PREFIXES) or 'site-packages' in resolved or 'dist-packages' in resolved:
        result = None
    else:
        result = (_relative(resolved), getattr(code, 'co_qualname', code.co_name))
    if len(_code_info) < 10_000:
        _code_info[id(code)] = (code, result)
    return result


def _relative(resolved: str) -> str:
    """`resolved` relative to the working directory, unless it lies outside it (or is `<stdin>` and the like)."""
    try:
        relative = os.path.relpath(resolved, _cwd()) if not resolved.startswith('<') else resolved
    except ValueError:  # a different drive on Windows
        relative = resolved
    return resolved if relative.startswith('..') else relative


_display_paths: dict[str, str] = {}


def display_path(filename: str) -> str:
    """A file path as logfire writes it in `code.filepath`: relative to the working directory when inside it.

    For paths that come from elsewhere than a code object (a `logging.LogRecord`'s `pathname`); cached.
    """
    path = _display_paths.get(filename)
    if path is None:
        path = _relative(os.path.abspath(filename)) if filename and not filename.startswith('<') else filename
        if len(_display_paths) < 10_000:
            _display_paths[filename] = path
    return path


def user_code_location(frame: FrameType) -> tuple[str, int, str]:
    """`(filepath, lineno, function)` of the first frame at or above `frame` outside logfire, stdlib and site-packages.

    Falls back to `frame` itself when every frame is library code. What is learnt about each code object is cached,
    so the usual case (the caller is user code) costs one dict lookup.
    """
    current: FrameType | None = frame
    while current is not None:
        code = current.f_code
        entry = _code_info.get(id(code))
        info = entry[1] if entry is not None else _info_for(code)
        if info is not None:
            return info[0], current.f_lineno, info[1]
        current = current.f_back
    code = frame.f_code
    return code.co_filename, frame.f_lineno, getattr(code, 'co_qualname', code.co_name)


def code_attributes_for(code: CodeType) -> dict[str, str | int]:
    """The `code.*` attributes of a function's definition, for `@instrument`."""
    info = _info_for(code)
    path = info[0] if info else code.co_filename
    return {
        CODE_FILEPATH: path,
        CODE_LINENO: code.co_firstlineno,
        CODE_FUNCTION: getattr(code, 'co_qualname', code.co_name),
    }


get_frame = sys._getframe  # pyright: ignore[reportPrivateUsage]


@functools.cache
def _cwd() -> str:
    """The working directory at the first span, not at import (a deleted cwd must not break `import logfire`)."""
    try:
        return os.getcwd()
    except OSError:
        return os.sep


def warn_at_caller(message: str, category: type[Warning]) -> None:
    """Warn, pointing at the first caller outside the logfire package (where the user can fix it)."""
    frame = sys._getframe(1)  # pyright: ignore[reportPrivateUsage]
    depth = 2
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_LOGFIRE_DIR) and depth < 100:
        frame, depth = frame.f_back, depth + 1
    warnings.warn(message, category, stacklevel=depth)
