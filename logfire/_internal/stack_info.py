"""Where in the user's code a span or log was made: `code.filepath`, `code.lineno`, `code.function`."""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path
from types import CodeType, FrameType
from typing import Final

from .constants import CODE_FILEPATH, CODE_FUNCTION, CODE_LINENO

_LOGFIRE_DIR: Final = str(Path(__file__).resolve().parent.parent) + os.sep
_IGNORED_PREFIXES: Final = tuple(
    {_LOGFIRE_DIR, *(sysconfig.get_paths()[key] for key in ('stdlib', 'platstdlib', 'purelib', 'platlib'))}
)
_CWD: Final = Path.cwd()

# code object -> (relative file path, function name) or None when the frame belongs to a library.
_code_info: dict[CodeType, tuple[str, str] | None] = {}


def _info_for(code: CodeType) -> tuple[str, str] | None:
    info = _code_info.get(code, ...)
    if info is not ...:
        return info
    filename = code.co_filename
    resolved = filename
    if filename and not filename.startswith('<'):
        resolved = os.path.abspath(filename)
    if resolved.startswith(_IGNORED_PREFIXES) or 'site-packages' in resolved or 'dist-packages' in resolved:
        result = None
    else:
        try:
            relative = os.path.relpath(resolved, _CWD) if not resolved.startswith('<') else resolved
        except ValueError:  # a different drive on Windows
            relative = resolved
        if relative.startswith('..'):
            relative = resolved
        name = getattr(code, 'co_qualname', code.co_name)
        result = (relative, name)
    if len(_code_info) < 10_000:
        _code_info[code] = result
    return result


def user_code_attributes(frame: FrameType | None) -> dict[str, str | int]:
    """The `code.*` attributes of the first frame at or above `frame` outside logfire, stdlib and site-packages.

    Falls back to `frame` itself when every frame is library code.
    """
    first = frame
    while frame is not None:
        info = _info_for(frame.f_code)
        if info is not None:
            return {CODE_FILEPATH: info[0], CODE_LINENO: frame.f_lineno, CODE_FUNCTION: info[1]}
        frame = frame.f_back
    if first is None:
        return {}
    code = first.f_code
    return {
        CODE_FILEPATH: code.co_filename,
        CODE_LINENO: first.f_lineno,
        CODE_FUNCTION: getattr(code, 'co_qualname', code.co_name),
    }


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
