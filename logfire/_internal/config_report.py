"""What `logfire config` prints: every setting, its value and where it came from.

The value is the one `configure()` with no arguments would use, and its source is found by asking the very
sources `LogfireSettings.settings_customise_sources` returns, in its order: precedence is never re-implemented.
Credentials are masked: the token shows its first 4 characters, header values none.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from pydantic_settings import EnvSettingsSource, PydanticBaseSettingsSource

from ..version import VERSION
from .config import CREDENTIALS_FILENAME, resolve_token
from .settings import LogfireSettings, PyprojectSource, env_names, load_settings, settings_sources

Row = tuple[str, str, str]

PRECEDENCE = 'configure() argument > environment variable > [tool.logfire] in pyproject.toml > default'


def config_rows(kwargs: Mapping[str, Any] | None = None) -> list[Row]:
    """(setting, shown value, source) for every setting the environment or pyproject can give.

    Raises:
        LogfireConfigError: A value is invalid (the same error `configure()` raises).
    """
    kwargs = kwargs or {}
    settings = load_settings(kwargs)
    sources = settings_sources(kwargs)
    given = [(source, source()) for source in sources]
    rows: list[Row] = []
    for name, info in LogfireSettings.model_fields.items():
        if info.exclude:
            continue
        value: Any = getattr(settings, name)
        origin = next((_describe(source, name, kwargs) for source, values in given if _has(values, name)), 'default')
        if name == 'token' and value is None:
            token, _ = resolve_token(settings)
            if token is not None:
                value, origin = token, f'credentials file {str(Path(settings.data_dir) / CREDENTIALS_FILENAME)!r}'
        rows.append((name, _masked(name, value), origin))
    return rows


def _has(values: Mapping[str, Any], name: str) -> bool:
    return name in values or any(env in values for env in env_names(name))


def _describe(source: PydanticBaseSettingsSource, name: str, kwargs: Mapping[str, Any]) -> str:
    if isinstance(source, PyprojectSource):
        return f'[tool.logfire] {name} in {str(source.path)!r}'
    if isinstance(source, EnvSettingsSource):
        env_vars = source.env_vars
        found = (env for env in env_names(name) if (env if source.case_sensitive else env.lower()) in env_vars)
        return next(found, 'environment')
    if name in kwargs:
        return f'configure({name}=...)'
    return type(source).__name__


def _masked(name: str, value: Any) -> str:
    if value is None:
        return 'None'
    if name == 'token':
        return f'{str(value)[:4]}…'
    if name.endswith('headers') and isinstance(value, Mapping):
        return repr({str(key): '…' for key in cast('Mapping[object, object]', value)})
    if isinstance(value, Path):
        return repr(str(value))
    return repr(value)


def render(rows: list[Row]) -> str:
    """The report as aligned text: a heading, then one line per setting."""
    header = ('setting', 'value', 'source')
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(2)]
    lines = [
        f'logfire {VERSION}: the settings logfire.configure() would use here, with no arguments.',
        f'Precedence: {PRECEDENCE}.',
        '',
    ]
    for name, value, origin in [header, *rows]:
        lines.append(f'{name.ljust(widths[0])}  {value.ljust(widths[1])}  {origin}')
    return '\n'.join(lines)
