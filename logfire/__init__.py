"""logfire: observability for Python on OpenTelemetry.

```python
import logfire

logfire.configure()
logfire.info('hello {name}', name='world')
```
"""

from ._internal.configure import configure
from ._internal.constants import LevelName
from ._internal.logging_handler import LogfireLoggingHandler
from ._internal.loguru_sink import loguru_handler
from ._internal.main import Logfire
from ._internal.options import (
    AdvancedOptions,
    ConsoleOptions,
    MetricsOptions,
    SamplingOptions,
    ScrubbingOptions,
    ScrubMatch,
)
from ._internal.span import LogfireSpan
from ._internal.structlog_processor import StructlogProcessor
from .version import VERSION as __version__

DEFAULT_LOGFIRE_INSTANCE = Logfire()
"""The instance behind the module-level functions, configured by `logfire.configure()`."""

span = DEFAULT_LOGFIRE_INSTANCE.span
log = DEFAULT_LOGFIRE_INSTANCE.log
trace = DEFAULT_LOGFIRE_INSTANCE.trace
debug = DEFAULT_LOGFIRE_INSTANCE.debug
info = DEFAULT_LOGFIRE_INSTANCE.info
notice = DEFAULT_LOGFIRE_INSTANCE.notice
warn = DEFAULT_LOGFIRE_INSTANCE.warn
warning = DEFAULT_LOGFIRE_INSTANCE.warning
error = DEFAULT_LOGFIRE_INSTANCE.error
fatal = DEFAULT_LOGFIRE_INSTANCE.fatal
exception = DEFAULT_LOGFIRE_INSTANCE.exception
instrument = DEFAULT_LOGFIRE_INSTANCE.instrument
instrument_asgi = DEFAULT_LOGFIRE_INSTANCE.instrument_asgi
instrument_asyncpg = DEFAULT_LOGFIRE_INSTANCE.instrument_asyncpg
instrument_fastapi = DEFAULT_LOGFIRE_INSTANCE.instrument_fastapi
instrument_httpx = DEFAULT_LOGFIRE_INSTANCE.instrument_httpx
instrument_psycopg = DEFAULT_LOGFIRE_INSTANCE.instrument_psycopg
instrument_redis = DEFAULT_LOGFIRE_INSTANCE.instrument_redis
instrument_requests = DEFAULT_LOGFIRE_INSTANCE.instrument_requests
instrument_sqlalchemy = DEFAULT_LOGFIRE_INSTANCE.instrument_sqlalchemy
instrument_sqlite3 = DEFAULT_LOGFIRE_INSTANCE.instrument_sqlite3
instrument_starlette = DEFAULT_LOGFIRE_INSTANCE.instrument_starlette
instrument_system_metrics = DEFAULT_LOGFIRE_INSTANCE.instrument_system_metrics
with_tags = DEFAULT_LOGFIRE_INSTANCE.with_tags
with_settings = DEFAULT_LOGFIRE_INSTANCE.with_settings
suppress_instrumentation = DEFAULT_LOGFIRE_INSTANCE.suppress_instrumentation
metric_counter = DEFAULT_LOGFIRE_INSTANCE.metric_counter
metric_histogram = DEFAULT_LOGFIRE_INSTANCE.metric_histogram
metric_gauge = DEFAULT_LOGFIRE_INSTANCE.metric_gauge
metric_up_down_counter = DEFAULT_LOGFIRE_INSTANCE.metric_up_down_counter
metric_counter_callback = DEFAULT_LOGFIRE_INSTANCE.metric_counter_callback
metric_gauge_callback = DEFAULT_LOGFIRE_INSTANCE.metric_gauge_callback
metric_up_down_counter_callback = DEFAULT_LOGFIRE_INSTANCE.metric_up_down_counter_callback
force_flush = DEFAULT_LOGFIRE_INSTANCE.force_flush
shutdown = DEFAULT_LOGFIRE_INSTANCE.shutdown

__all__ = [
    'DEFAULT_LOGFIRE_INSTANCE',
    'AdvancedOptions',
    'ConsoleOptions',
    'LevelName',
    'Logfire',
    'LogfireLoggingHandler',
    'LogfireSpan',
    'MetricsOptions',
    'SamplingOptions',
    'ScrubMatch',
    'ScrubbingOptions',
    'StructlogProcessor',
    '__version__',
    'configure',
    'debug',
    'error',
    'exception',
    'fatal',
    'force_flush',
    'info',
    'instrument',
    'instrument_asgi',
    'instrument_asyncpg',
    'instrument_fastapi',
    'instrument_httpx',
    'instrument_psycopg',
    'instrument_redis',
    'instrument_requests',
    'instrument_sqlalchemy',
    'instrument_sqlite3',
    'instrument_starlette',
    'instrument_system_metrics',
    'log',
    'loguru_handler',
    'metric_counter',
    'metric_counter_callback',
    'metric_gauge',
    'metric_gauge_callback',
    'metric_histogram',
    'metric_up_down_counter',
    'metric_up_down_counter_callback',
    'notice',
    'shutdown',
    'span',
    'suppress_instrumentation',
    'trace',
    'warn',
    'warning',
    'with_settings',
    'with_tags',
]
