"""MkDocs hook: reference tables generated from the code at build time, so the docs cannot drift from it.

A page asks for a table with an HTML comment such as `<!-- generated: configuration -->`; the comment is
replaced by Markdown before the page is rendered. An unknown name fails the build.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args, get_origin

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from logfire._internal.accepted_values import ACCEPTED_VALUES
from logfire._internal.configure import _option_kwargs, configure
from logfire._internal.options import AdvancedOptions, ConsoleOptions, MetricsOptions, SamplingOptions, ScrubbingOptions
from logfire._internal.scrub_patterns import (
    CREDENTIAL_HEADERS,
    DEFAULT_PATTERNS,
    HEADER_PREFIXES,
    SAFE_KEYS,
    SAFE_PREFIXES,
    URL_KEYS,
    marker,
)
from logfire._internal.settings import _PYPROJECT_FORBIDDEN, LogfireSettings, env_names

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files
    from mkdocs.structure.pages import Page

ENV_ONLY: dict[str, tuple[str, str]] = {
    'LOGFIRE_IGNORE_NO_CONFIG': (
        '`1`, `true`, `yes` or `on`',
        'Silence the warning given when spans or logs are made before `logfire.configure()` has been called.',
    ),
}
"""Variables read outside the settings model: name -> (accepted values, description)."""

_OPTION_GROUPS: dict[str, type] = {
    'console': ConsoleOptions,
    'metrics': MetricsOptions,
    'scrubbing': ScrubbingOptions,
    'sampling': SamplingOptions,
    'advanced': AdvancedOptions,
}


class _Marker:
    """A stand-in option value, traceable to the settings field it lands in even after `tuple()` or `list()`."""

    def __iter__(self) -> Iterator[_Marker]:
        yield self


def in_code() -> dict[str, tuple[str, str]]:
    """Map each settings field to how `configure()` sets it and the API reference entry that documents it.

    Option groups are traced through `configure()`'s own flattening, so a renamed option shows up here.
    """
    result: dict[str, tuple[str, str]] = {}
    for name in inspect.signature(configure).parameters:
        if name in LogfireSettings.model_fields:
            result[name] = (f'configure({name}=...)', 'logfire.configure')
    no_groups: dict[str, Any] = dict.fromkeys(_OPTION_GROUPS)
    _, origins = _option_kwargs(**(no_groups | {'console': False, 'metrics': False, 'scrubbing': False}))
    for name, origin in origins.items():
        result[name] = (origin, 'logfire.configure')
    for group, cls in _OPTION_GROUPS.items():
        for field in dataclasses.fields(cls):
            stand_in = _Marker()
            kwargs, origins = _option_kwargs(**(no_groups | {group: cls(**{field.name: stand_in})}))
            for name, value in kwargs.items():
                if value is stand_in or (isinstance(value, (list, tuple)) and stand_in in value):
                    result[name] = (origins[name], f'logfire.{cls.__name__}.{field.name}')
    return result


def _code(text: object) -> str:
    return f'`{text}`'


def _cell(text: str) -> str:
    return text.replace('|', r'\|').replace('\n', ' ')


def _default(info: FieldInfo) -> str:
    factory = info.default_factory
    if factory is not None:
        if inspect.isfunction(factory):
            return 'computed, see description'
        return _code(repr(factory()))  # pyright: ignore[reportCallIssue]
    value = info.default
    if value is PydanticUndefined or value is None:
        return 'unset'
    if isinstance(value, Path):
        return _code(value)
    return _code(repr(value))


def _describe_type(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _describe_type(get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return ' or '.join(_describe_type(arg) for arg in get_args(annotation) if arg is not type(None))
    if origin is Literal:
        return ', '.join(_code(repr(value)) for value in get_args(annotation))
    if origin is list:
        return 'a list of strings (comma-separated in the environment)'
    if origin is dict:
        return 'a mapping of strings (`k=v,k2=v2` in the environment)'
    simple = {bool: 'true or false', int: 'a whole number', float: 'a number', str: 'a string', Path: 'a path'}
    return simple.get(annotation, 'a Python object')


def accepted_values(name: str) -> str:
    """What a field accepts: `ACCEPTED_VALUES` when it says, else a reading of the annotation."""
    return ACCEPTED_VALUES.get(name) or _describe_type(LogfireSettings.model_fields[name].annotation)


def configuration_table() -> str:
    """The settings tables: every field of `LogfireSettings`, then the variables read outside it."""
    code_paths = in_code()
    rows = [
        '| Setting (`[tool.logfire]` key) | `configure()` | Environment variables | Default | Description |',
        '| --- | --- | --- | --- | --- |',
    ]
    objects = ['| Setting | `configure()` | Documented at |', '| --- | --- | --- |']
    for name, info in LogfireSettings.model_fields.items():
        origin, reference = code_paths.get(name, ('', ''))
        if info.exclude:
            objects.append(f'| {_code(name)} | {_code(origin)} | [{_code(reference)}][{reference}] |')
            continue
        key = _code(name) if name not in _PYPROJECT_FORBIDDEN else f'{_code(name)} (not read from pyproject)'
        envs = '<br>'.join(_code(env) for env in env_names(name)) or '—'
        description = f'{info.description}<br>*Accepts:* {accepted_values(name)}.'
        rows.append(
            f'| <a id="{name}"></a>{key} | {_code(origin) if origin else "—"} | {envs} '
            f'| {_default(info)} | {_cell(description)} |'
        )
    env_only = ['| Environment variable | Accepts | Description |', '| --- | --- | --- |']
    for env, (accepts, description) in ENV_ONLY.items():
        env_only.append(f'| <a id="{env.lower()}"></a>{_code(env)} | {accepts} | {_cell(description)} |')
    return '\n'.join(
        [
            *rows,
            '',
            'Objects that only code can provide; they are never read from the environment or `pyproject.toml`:',
            '',
            *objects,
            '',
            'Read from the environment only:',
            '',
            *env_only,
        ]
    )


def scrubbing_patterns_table() -> str:
    """The default scrubbing patterns, with the marker each one leaves."""
    rows = ['| Pattern (case-insensitive) | Marker left in place of the value |', '| --- | --- |']
    # Pipes inside a code span do not split a Markdown table cell, so the regexes go in unescaped.
    rows += [f'| {_code(regex)} | {_code(marker(label))} |' for label, regex in DEFAULT_PATTERNS]
    return '\n'.join(rows)


def _code_list(names: object) -> str:
    return ', '.join(_code(name) for name in sorted(typing.cast('set[str]', names)))


GENERATED: dict[str, Callable[[], str]] = {
    'configuration': configuration_table,
    'scrubbing-patterns': scrubbing_patterns_table,
    'scrubbing-safe-keys': lambda: _code_list(SAFE_KEYS),
    'scrubbing-safe-prefixes': lambda: _code_list(SAFE_PREFIXES),
    'scrubbing-url-keys': lambda: _code_list(URL_KEYS),
    'scrubbing-header-prefixes': lambda: _code_list(HEADER_PREFIXES),
    'scrubbing-credential-headers': lambda: _code_list(CREDENTIAL_HEADERS),
}
_PLACEHOLDER = re.compile(r'<!-- generated: ([\w-]+)(?::(\w+))? -->')


def _fill(match: re.Match[str]) -> str:
    name, field = match.groups()
    if name == 'default' and field is not None:
        return _default(LogfireSettings.model_fields[field])
    if name == 'env' and field is not None:
        return ', '.join(_code(env) for env in env_names(field))
    return GENERATED[name]()


def render(markdown: str) -> str:
    """Replace every placeholder: `<!-- generated: table -->`, `<!-- generated: default:field -->`, `env:field`.

    Raises:
        KeyError: The placeholder names no generated table or no settings field.
    """
    return _PLACEHOLDER.sub(_fill, markdown)


def on_page_markdown(markdown: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    """MkDocs event: fill in the generated tables of a page."""
    try:
        return render(markdown)
    except KeyError as exc:
        from mkdocs.exceptions import PluginError

        raise PluginError(
            f'{page.file.src_path}: unknown generated table {exc}. Known: {", ".join(GENERATED)}.'
        ) from exc
