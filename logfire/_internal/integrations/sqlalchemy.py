"""SQLAlchemy: OpenTelemetry's SQLAlchemy instrumentation, a client span per query into logfire's providers.

With no engine, every engine created after the call is traced (`create_engine` and `create_async_engine` are
patched); with `engine` or `engines`, only those (an `AsyncEngine` through its sync engine), and nothing is patched.
`db_spans` gives each span its statement as message; SQLAlchemy's instrumentation never records parameters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor  # pyright: ignore[reportMissingTypeStubs]
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer  # pyright: ignore[reportMissingTypeStubs]
from opentelemetry.instrumentation.sqlalchemy.version import __version__  # pyright: ignore[reportMissingTypeStubs]
from sqlalchemy.engine import Engine
from typing_extensions import TypedDict, Unpack

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine  # importing it at run time needs greenlet

    from . import SharedProviders

__all__ = ['SQLAlchemyOptions', 'instrument']

_SCOPE: Final = 'opentelemetry.instrumentation.sqlalchemy'


class SQLAlchemyOptions(TypedDict, total=False):
    """Keyword arguments passed on to the SQLAlchemy instrumentation (see `Logfire.instrument_sqlalchemy`)."""

    enable_commenter: bool
    commenter_options: dict[str, Any]
    enable_attribute_commenter: bool


def instrument(
    providers: SharedProviders,
    engine: AsyncEngine | Engine | None,
    /,
    *,
    engines: Iterable[AsyncEngine | Engine] | None = None,
    **options: Unpack[SQLAlchemyOptions],
) -> None:
    """Trace `engine` and `engines`, or every engine created from now on; an engine traced already is skipped."""
    given = [*([engine] if engine is not None else []), *(engines or ())]
    if not given:
        instrumentor = SQLAlchemyInstrumentor()
        if not instrumentor.is_instrumented_by_opentelemetry:
            # Its declared range ends before SQLAlchemy 2.1, whose engines it traces all the same (tested here):
            # without `skip_dep_check` it would log a line and trace nothing.
            instrumentor.instrument(
                tracer_provider=providers.tracer_provider,
                meter_provider=providers.meter_provider,
                skip_dep_check=True,
                **options,
            )
        return
    tracer = providers.tracer_provider.get_tracer(_SCOPE, __version__)
    connections_usage = providers.meter_provider.get_meter(_SCOPE, __version__).create_up_down_counter(
        name='db.client.connections.usage',
        unit='connections',
        description='The number of connections that are currently in state described by the state attribute.',
    )
    for each in given:
        sync_engine: Engine = each if isinstance(each, Engine) else each.sync_engine
        if getattr(sync_engine, _INSTRUMENTED, False):
            continue
        EngineTracer(
            tracer,
            sync_engine,
            connections_usage,
            options.get('enable_commenter', False),
            options.get('commenter_options', {}),
            options.get('enable_attribute_commenter', False),
        )
        setattr(sync_engine, _INSTRUMENTED, True)


_INSTRUMENTED: Final = '_logfire_instrumented'
