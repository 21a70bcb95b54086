"""The integration registry: one table line per integration, and the one loader that imports it on first use.

Integration modules import their third-party packages at the top, with no try/except. `load()` is the
only place that turns a missing package into `MissingExtraError`, and only for the packages the table
names, so a broken import inside logfire itself still surfaces as itself. An integration's `instrument()`
is given the `SharedProviders`, never the `Logfire` object, so integrations sit below the API that calls them.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Final, Protocol

from ...exceptions import MissingExtraError

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ['INTEGRATIONS', 'Integration', 'SharedProviders', 'load']


class SharedProviders(Protocol):
    """What an integration records through: the shared proxy providers, which `configure()` points at the real ones."""

    @property
    def tracer_provider(self) -> TracerProvider:
        """The proxy tracer provider every span of logfire and its integrations is started from."""
        ...

    @property
    def meter_provider(self) -> MeterProvider:
        """The proxy meter provider every metric instrument is made from."""
        ...


@dataclass(frozen=True)
class Integration:
    """What an `instrument_<name>()` call needs, as data: nothing is imported until the call."""

    name: str
    """The integration's name: the facade is `instrument_<name>` and the module `integrations/<name>.py`."""
    extra: str
    """The pip extra of logfire that installs what the integration needs."""
    requires: Mapping[str, str]
    """Import name -> the distribution that provides it, for each package the integration imports."""

    def __post_init__(self) -> None:
        object.__setattr__(self, 'requires', MappingProxyType(dict(self.requires)))


def _table(*entries: Integration) -> Mapping[str, Integration]:
    return MappingProxyType({entry.name: entry for entry in entries})


INTEGRATIONS: Final = _table(
    Integration(
        'asgi',
        'asgi',
        {'opentelemetry.instrumentation.asgi': 'opentelemetry-instrumentation-asgi', 'asgiref': 'asgiref'},
    ),
    Integration('fastapi', 'fastapi', {'opentelemetry.instrumentation.asgi': 'opentelemetry-instrumentation-asgi'}),
    Integration('starlette', 'starlette', {'opentelemetry.instrumentation.asgi': 'opentelemetry-instrumentation-asgi'}),
    Integration('httpx', 'httpx', {'opentelemetry.instrumentation.httpx': 'opentelemetry-instrumentation-httpx'}),
    Integration(
        'requests', 'requests', {'opentelemetry.instrumentation.requests': 'opentelemetry-instrumentation-requests'}
    ),
    Integration(
        'sqlalchemy',
        'sqlalchemy',
        {'opentelemetry.instrumentation.sqlalchemy': 'opentelemetry-instrumentation-sqlalchemy'},
    ),
    Integration(
        'psycopg',
        'psycopg',
        {'opentelemetry.instrumentation.psycopg': 'opentelemetry-instrumentation-psycopg'},
    ),
    Integration(
        'asyncpg', 'asyncpg', {'opentelemetry.instrumentation.asyncpg': 'opentelemetry-instrumentation-asyncpg'}
    ),
    Integration(
        'sqlite3', 'sqlite3', {'opentelemetry.instrumentation.sqlite3': 'opentelemetry-instrumentation-sqlite3'}
    ),
    Integration('redis', 'redis', {'opentelemetry.instrumentation.redis': 'opentelemetry-instrumentation-redis'}),
    Integration(
        'system_metrics',
        'system-metrics',
        {
            'opentelemetry.instrumentation.system_metrics': 'opentelemetry-instrumentation-system-metrics',
            'psutil': 'psutil',
        },
    ),
)
"""Every integration, by name. Adding one is a line here, its module and its facade in `instrument_methods.py`."""


def load(name: str) -> ModuleType:
    """Import `integrations/<name>.py`, turning a missing required package into `MissingExtraError`.

    Raises:
        MissingExtraError: A package listed in the integration's `requires` (or a parent of one) is not installed.
        KeyError: `name` is not in `INTEGRATIONS`.
    """
    integration = INTEGRATIONS[name]
    try:
        return importlib.import_module(f'{__name__}.{name}')
    except ModuleNotFoundError as exc:
        missing = _required_module(integration, exc.name)
        if missing is None:
            raise
        raise MissingExtraError(integration.name, integration.extra, missing, integration.requires[missing]) from exc


def _required_module(integration: Integration, missing: str | None) -> str | None:
    """The required import name that `missing` is, or is a parent package of; None for anything else."""
    if not missing:
        return None
    for required in integration.requires:
        if required == missing or required.startswith(f'{missing}.'):
            return required
    return None
