"""Every registered integration is complete: facade, module alias, `__all__`, extra, docs page, missing-extra error."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import re
import sys
from pathlib import Path
from typing import Any

import pytest

import logfire
from logfire._internal.integrations import INTEGRATIONS, Integration, load
from logfire.exceptions import MissingExtraError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
INTEGRATIONS_PACKAGE = 'logfire._internal.integrations'


def _requirement_name(requirement: str) -> str:
    return re.split(r'[\s;<>=!~\[(]', requirement.strip(), maxsplit=1)[0].lower().replace('_', '-')


def _dummy_arguments(function: Any) -> list[object]:
    parameters = inspect.signature(function).parameters.values()
    return [
        object() for p in parameters if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


@pytest.fixture(params=sorted(INTEGRATIONS), ids=str)
def integration(request: pytest.FixtureRequest) -> Integration:
    return INTEGRATIONS[request.param]


def test_integration_has_a_documented_facade_on_logfire(integration: Integration) -> None:
    method = getattr(logfire.Logfire, f'instrument_{integration.name}', None)
    assert callable(method), f'add Logfire.instrument_{integration.name} to instrument_methods.py'
    assert method.__doc__ and 'Args:' in method.__doc__ and 'Example:' in method.__doc__


def test_integration_is_exposed_at_module_level_and_in_all(integration: Integration) -> None:
    name = f'instrument_{integration.name}'
    alias = getattr(logfire, name, None)
    assert alias is not None, f'add `{name} = DEFAULT_LOGFIRE_INSTANCE.{name}` to logfire/__init__.py'
    assert alias.__self__ is logfire.DEFAULT_LOGFIRE_INSTANCE
    assert alias.__func__ is getattr(logfire.Logfire, name)
    assert name in logfire.__all__


def test_integration_has_a_module(integration: Integration) -> None:
    assert (ROOT / 'logfire' / '_internal' / 'integrations' / f'{integration.name}.py').is_file()
    module = load(integration.name)
    assert callable(module.instrument)


def test_pyproject_extra_installs_every_required_package(integration: Integration) -> None:
    pyproject = tomllib.loads((ROOT / 'pyproject.toml').read_text())
    extras: dict[str, list[str]] = pyproject['project']['optional-dependencies']
    assert integration.extra in extras, f'add the {integration.extra!r} extra to pyproject.toml'
    listed = {_requirement_name(r) for r in extras[integration.extra]}
    installed = set(listed)
    for name in listed:  # packages the extra's requirements bring along
        installed |= {_requirement_name(r) for r in importlib.metadata.requires(name) or () if 'extra ==' not in r}
    missing = {package.lower() for package in integration.requires.values()} - installed
    assert not missing, f'the {integration.extra!r} extra does not install {missing}'


def test_integration_has_a_docs_page_with_the_install_command(integration: Integration) -> None:
    page = ROOT / 'docs' / 'integrations' / f'{integration.name}.md'
    assert page.is_file(), f'write {page.relative_to(ROOT)}'
    assert f"pip install 'logfire[{integration.extra}]'" in page.read_text()


def test_missing_required_package_raises_missing_extra_error(
    integration: Integration, monkeypatch: pytest.MonkeyPatch
) -> None:
    facade = getattr(logfire, f'instrument_{integration.name}')
    for required, package in integration.requires.items():
        with monkeypatch.context() as m:
            m.delitem(sys.modules, f'{INTEGRATIONS_PACKAGE}.{integration.name}', raising=False)
            for module in [k for k in sys.modules if k.startswith(f'{required}.')]:
                m.delitem(sys.modules, module)
            m.setitem(sys.modules, required, None)
            with pytest.raises(MissingExtraError) as info:
                facade(*_dummy_arguments(facade))
        error = info.value
        assert isinstance(error, ImportError)
        assert str(error) == (
            f'logfire.instrument_{integration.name}() needs {package!r}. '
            f"Install it with: pip install 'logfire[{integration.extra}]'"
        )
        assert (error.integration, error.extra, error.missing) == (integration.name, integration.extra, required)
        assert isinstance(error.__cause__, ModuleNotFoundError)


def test_a_missing_parent_package_also_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(name: str) -> None:
        raise ModuleNotFoundError(
            "No module named 'opentelemetry.instrumentation'", name='opentelemetry.instrumentation'
        )

    monkeypatch.setattr(importlib, 'import_module', fail)
    with pytest.raises(MissingExtraError) as info:
        load('asgi')
    assert info.value.missing == 'opentelemetry.instrumentation.asgi'


@pytest.mark.parametrize('missing', ['logfire._internal.typo', 'opentelemetry.instrumentation.asgix', 'unrelated'])
def test_our_own_import_errors_are_not_disguised_as_a_missing_extra(
    missing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(name: str) -> None:
        raise ModuleNotFoundError(f'No module named {missing!r}', name=missing)

    monkeypatch.setattr(importlib, 'import_module', fail)
    with pytest.raises(ModuleNotFoundError) as info:
        load('asgi')
    assert not isinstance(info.value, MissingExtraError)
    assert info.value.name == missing
