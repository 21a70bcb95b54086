"""The public surface: `__all__` is exactly the public namespace, sorted, and every function is documented."""

from __future__ import annotations

import inspect

import logfire
import logfire.exceptions
import logfire.testing


def test_all_is_sorted_and_equals_the_public_namespace() -> None:
    public = {
        name for name in dir(logfire) if not name.startswith('_') and not inspect.ismodule(getattr(logfire, name))
    }
    assert set(logfire.__all__) - {'__version__'} == public
    assert logfire.__all__ == sorted(logfire.__all__, key=lambda n: (not n.isupper(), n))


def test_module_functions_are_methods_of_the_default_instance() -> None:
    for name in logfire.__all__:
        value = getattr(logfire, name)
        if inspect.ismethod(value):
            assert value.__self__ is logfire.DEFAULT_LOGFIRE_INSTANCE
            assert getattr(logfire.Logfire, name).__doc__, f'{name} has no docstring'


def test_every_level_and_span_call_exists_at_module_level_and_on_logfire() -> None:
    names = ['span', 'log', 'trace', 'debug', 'info', 'notice', 'warn', 'warning', 'error', 'fatal', 'exception']
    names += ['instrument', 'with_tags', 'with_settings', 'suppress_instrumentation', 'force_flush', 'shutdown']
    names += [f'metric_{kind}' for kind in ('counter', 'histogram', 'gauge', 'up_down_counter')]
    names += [f'metric_{kind}_callback' for kind in ('counter', 'gauge', 'up_down_counter')]
    for name in names:
        assert callable(getattr(logfire, name)), name
        assert callable(getattr(logfire.Logfire, name)), name


def test_exceptions_subclass_the_builtins_they_refine() -> None:
    assert issubclass(logfire.exceptions.LogfireConfigError, ValueError)
    assert issubclass(logfire.exceptions.MissingExtraError, ImportError)


def test_testing_module_exports_the_test_kit() -> None:
    assert logfire.testing.__all__ == sorted(logfire.testing.__all__)
    for name in logfire.testing.__all__:
        assert getattr(logfire.testing, name).__doc__, name


def test_package_ships_py_typed() -> None:
    from pathlib import Path

    assert (Path(logfire.__file__).parent / 'py.typed').is_file()
