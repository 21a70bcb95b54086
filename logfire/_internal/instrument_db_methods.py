"""The typed `instrument_*` facades of the database integrations and system metrics: a docstring and a delegate each."""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from .integrations import load

if TYPE_CHECKING:
    import sqlite3

    import psycopg
    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine
    from typing_extensions import Unpack

    from .integrations.asyncpg import AsyncPGOptions
    from .integrations.psycopg import PsycopgOptions
    from .integrations.redis import RedisOptions
    from .integrations.sqlalchemy import SQLAlchemyOptions
    from .integrations.system_metrics import Base, Config
    from .state import LogfireState

    SQLite3ConnectionT = TypeVar('SQLite3ConnectionT', bound='sqlite3.Connection | None')


class DatabaseInstrumentMethods:
    """Mixin of `Logfire` holding one method per database integration, and `instrument_system_metrics`."""

    _state: LogfireState

    def instrument_sqlalchemy(
        self,
        engine: AsyncEngine | Engine | None = None,
        *,
        engines: Iterable[AsyncEngine | Engine] | None = None,
        **kwargs: Unpack[SQLAlchemyOptions],
    ) -> None:
        """Trace SQLAlchemy queries: each is one client span, nested under the current span, its statement as message.

        Uses OpenTelemetry's SQLAlchemy instrumentation with logfire's shared providers. With no engine, every
        engine created after this call (`create_engine`, `create_async_engine`) is traced; otherwise only `engine`
        and `engines`. Query parameters are never recorded; a statement that looks secret loses its literal values
        to scrubbing. A failed query records its exception and level error. Calling it again for an engine already
        traced does nothing.

        Args:
            engine: One engine (sync or async) to trace.
            engines: More engines to trace.
            **kwargs: Passed on to the instrumentation: `enable_commenter`, `commenter_options` and
                `enable_attribute_commenter` (sqlcommenter).

        Raises:
            MissingExtraError: `opentelemetry-instrumentation-sqlalchemy` is not installed
                (`pip install 'logfire[sqlalchemy]'`).

        Example:
            ```python
            import logfire
            from sqlalchemy import create_engine, text

            logfire.configure()
            engine = create_engine('sqlite://')
            logfire.instrument_sqlalchemy(engine)
            with engine.connect() as connection:
                connection.execute(text('SELECT 1'))
            ```
        """
        load('sqlalchemy').instrument(self._state, engine, engines=engines, **kwargs)
        self._state.warn_if_not_configured('logfire.instrument_sqlalchemy()')

    def instrument_psycopg(
        self,
        conn_or_module: ModuleType | psycopg.Connection[Any] | psycopg.AsyncConnection[Any] | None = None,
        **kwargs: Unpack[PsycopgOptions],
    ) -> None:
        """Trace psycopg (3) queries: each is one client span, nested under the current span, its statement as message.

        Uses OpenTelemetry's `PsycopgInstrumentor` with logfire's shared providers: with no argument (or the
        `psycopg` module), every connection opened after this call, sync and async; with a connection, only that
        one. Parameters are not recorded unless `capture_parameters=True`. A second call for the same target does
        nothing.

        Args:
            conn_or_module: A psycopg connection to trace, or the `psycopg` module (the same as nothing).
            **kwargs: Passed on to the instrumentor: `capture_parameters` (every connection only),
                `enable_commenter` and `commenter_options`.

        Raises:
            MissingExtraError: `opentelemetry-instrumentation-psycopg` is not installed
                (`pip install 'logfire[psycopg]'`).

        Example:
            ```python
            import logfire

            logfire.configure()
            logfire.instrument_psycopg()  # every psycopg connection opened from now on
            ```
        """
        load('psycopg').instrument(self._state, conn_or_module, **kwargs)
        self._state.warn_if_not_configured('logfire.instrument_psycopg()')

    def instrument_asyncpg(self, **kwargs: Unpack[AsyncPGOptions]) -> None:
        """Trace asyncpg queries: each is one client span, nested under the current span across `await`.

        Uses OpenTelemetry's `AsyncPGInstrumentor` with logfire's shared tracer provider, for every connection
        in the process. The statement is the message; arguments are not recorded unless `capture_parameters=True`.
        A second call does nothing.

        Args:
            **kwargs: `capture_parameters`: also record each query's arguments (`db.statement.parameters`).

        Raises:
            MissingExtraError: `opentelemetry-instrumentation-asyncpg` is not installed
                (`pip install 'logfire[asyncpg]'`).

        Example:
            ```python
            import logfire

            logfire.configure()
            logfire.instrument_asyncpg()
            ```
        """
        load('asyncpg').instrument(self._state, **kwargs)
        self._state.warn_if_not_configured('logfire.instrument_asyncpg()')

    def instrument_sqlite3(self, conn: SQLite3ConnectionT = None) -> SQLite3ConnectionT:
        """Trace sqlite3 queries: each is one client span, nested under the current span, its statement as message.

        Uses OpenTelemetry's `SQLite3Instrumentor` with logfire's shared tracer provider. With no argument, every
        connection opened after this call (`sqlite3.connect`); with a connection, a traced wrapper of it is
        returned: use the returned object. Parameters are never recorded.

        Args:
            conn: A connection to trace; None for every connection opened from now on.

        Returns:
            The traced connection, or None when `conn` is None.

        Raises:
            MissingExtraError: `opentelemetry-instrumentation-sqlite3` is not installed
                (`pip install 'logfire[sqlite3]'`).

        Example:
            ```python
            import sqlite3

            import logfire

            logfire.configure()
            conn = logfire.instrument_sqlite3(sqlite3.connect(':memory:'))
            conn.execute('SELECT 1')
            ```
        """
        traced = load('sqlite3').instrument(self._state, conn)
        self._state.warn_if_not_configured('logfire.instrument_sqlite3()')
        return traced

    def instrument_redis(self, *, capture_statement: bool = False, **kwargs: Unpack[RedisOptions]) -> None:
        """Trace redis commands: each is one client span, nested under the current span.

        Uses OpenTelemetry's `RedisInstrumentor` with logfire's shared tracer provider, for every client (sync and
        asyncio) and pipeline in the process. A command is recorded without its values (`SET ? ?`) unless
        `capture_statement=True`. A second call does nothing.

        Args:
            capture_statement: Record each command with its arguments (`SET 'user:1' 'Ada'`); scrubbing removes
                the values of a command that looks secret.
            **kwargs: Passed on to the instrumentor: `request_hook` and `response_hook`.

        Raises:
            MissingExtraError: `opentelemetry-instrumentation-redis` is not installed
                (`pip install 'logfire[redis]'`).

        Example:
            ```python
            import logfire

            logfire.configure()
            logfire.instrument_redis()
            ```
        """
        load('redis').instrument(self._state, capture_statement=capture_statement, **kwargs)
        self._state.warn_if_not_configured('logfire.instrument_redis()')

    def instrument_system_metrics(self, config: Config | None = None, base: Base = 'basic') -> None:
        """Record process and system metrics (CPU, memory, swap and more) on logfire's shared meter provider.

        Uses OpenTelemetry's `SystemMetricsInstrumentor` (psutil); the metrics are exported over OTLP with the
        rest, at the metric export interval. A second call does nothing.

        Args:
            config: Metric name -> the fields to record (or None for a metric without fields), added to `base`;
                e.g. `{'process.memory.usage': None}`.
            base: `'basic'`: `process.cpu.utilization`, `system.cpu.simple_utilization`,
                `system.memory.utilization` (available) and `system.swap.utilization` (used). `'full'`: every
                metric the instrumentation offers. None: only `config`.

        Raises:
            MissingExtraError: `opentelemetry-instrumentation-system-metrics` is not installed
                (`pip install 'logfire[system-metrics]'`).
            ValueError: `base` is not one of the above.

        Example:
            ```python
            import logfire

            logfire.configure()
            logfire.instrument_system_metrics({'process.memory.usage': None})
            ```
        """
        load('system_metrics').instrument(self._state, config, base)
        self._state.warn_if_not_configured('logfire.instrument_system_metrics()')
