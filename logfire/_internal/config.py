"""`configure()`: settings in, a frozen `LogfireConfig` out, swapped into the shared state under a lock."""

from __future__ import annotations

import atexit
import json
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from opentelemetry.sdk.trace import SpanProcessor

from ..exceptions import LogfireConfigError
from .constants import LevelName
from .errors import handle_internal_errors
from .options import AdvancedOptions, ConsoleOptions, MetricsOptions, SamplingOptions, ScrubbingOptions
from .proxy import ProxyMeterProvider, ProxyTracerProvider
from .scrubbing import Scrubber
from .settings import LogfireSettings, ignore_no_config, load_settings

if TYPE_CHECKING:
    from .main import Logfire
    from .providers import Pipeline

CREDENTIALS_FILENAME = 'logfire_credentials.json'
_TOKEN_REGION = re.compile(r'^pylf_v\d+_([a-z]+)_')
_REGION_URLS = {'us': 'https://logfire-us.pydantic.dev', 'eu': 'https://logfire-eu.pydantic.dev'}


class LogfireNotConfiguredWarning(UserWarning):
    """Spans or logs were made before `logfire.configure()` was called, so they were not recorded."""


class LogfireNoTokenWarning(UserWarning):
    """`send_to_logfire` is on but no token was found, so nothing is sent to the Logfire backend."""


@dataclass(frozen=True)
class LogfireConfig:
    """The resolved, immutable configuration that a pipeline is built from."""

    settings: LogfireSettings
    token: str | None = field(repr=False)
    base_url: str | None
    console: ConsoleOptions | None
    scrubbing: ScrubbingOptions | None
    scrubber: Scrubber

    @property
    def send_to_logfire(self) -> bool:
        """Whether the Logfire backend exporter is on (a token was found where one is needed)."""
        return self.token is not None and self.settings.send_to_logfire is not False


class LogfireState:
    """What one `Logfire` family shares: proxy providers, the current config and pipeline."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tracer_provider = ProxyTracerProvider(on_unconfigured_use=self._warn_not_configured)
        self.meter_provider = ProxyMeterProvider()
        self.config: LogfireConfig | None = None
        self.pipeline: Pipeline | None = None
        # Read on every span/log: kept as plain attributes so the hot path does one lookup each.
        self.min_level = 0
        self.inspect_arguments = False
        self.ns_timestamp_generator: Callable[[], int] | None = None
        self.scrubber: Scrubber | None = None  # only when scrubbing is on: masks secrets in messages
        self.span_scrubber: Scrubber | None = None  # the pipeline's, on or off: checks span attributes up front
        self.defer_attributes = False  # see `Pipeline.defer_attributes`
        self._warned_not_configured = False

    def call_exception_callback(self, exception: BaseException) -> None:
        """Give `AdvancedOptions.exception_callback` an exception logfire just recorded; its errors are contained."""
        config = self.config
        callback = config.settings.exception_callback if config is not None else None
        if callback is not None:
            with handle_internal_errors('exception_callback'):
                callback(exception)

    def _warn_not_configured(self) -> None:
        if self._warned_not_configured:
            return
        self._warned_not_configured = True
        if not ignore_no_config():
            warnings.warn(
                'No logs or spans will be created until `logfire.configure()` has been called. '
                'Set the environment variable LOGFIRE_IGNORE_NO_CONFIG=1 to suppress this warning.',
                LogfireNotConfiguredWarning,
                stacklevel=2,
            )

    def apply(self, config: LogfireConfig) -> None:
        """Build the pipeline for `config` and swap it in; the previous one is flushed and shut down."""
        from .providers import build_pipeline

        if config.settings.inspect_arguments:
            # Imported now rather than at the first f-string: an import another thread is running when the
            # process forks leaves the import lock held in the child, which would hang its first log.
            import executing  # noqa: F401  # pyright: ignore[reportUnusedImport]
        _, old = self.swap(config, build_pipeline(config))
        if old is not None:
            old.shutdown(config.settings.shutdown_timeout_millis)

    def swap(
        self, config: LogfireConfig | None, pipeline: Pipeline | None
    ) -> tuple[LogfireConfig | None, Pipeline | None]:
        """Install `config` and its `pipeline` (or go back to unconfigured); return the previous pair as is."""
        from opentelemetry.metrics import NoOpMeterProvider
        from opentelemetry.trace import NoOpTracerProvider

        with self.lock:
            previous = self.config, self.pipeline
            self.config, self.pipeline = config, pipeline
            settings = config.settings if config else None
            self.min_level = (settings.min_level or 0) if settings else 0
            self.inspect_arguments = settings.inspect_arguments if settings else False
            self.ns_timestamp_generator = settings.ns_timestamp_generator if settings else None
            self.scrubber = config.scrubber if config and config.scrubber.enabled else None
            self.span_scrubber = config.scrubber if config and _values_kept_whole() else None
            self.defer_attributes = pipeline.defer_attributes if pipeline is not None else False
            if pipeline is None:
                self.tracer_provider.set_delegate(NoOpTracerProvider(), configured=config is not None)
                self.meter_provider.set_delegate(NoOpMeterProvider())
            else:
                self.tracer_provider.set_delegate(pipeline.tracer_provider, defer_attributes=pipeline.defer_attributes)
                self.meter_provider.set_delegate(pipeline.meter_provider)
        return previous

    def force_flush(self, timeout_millis: int) -> bool:
        """Flush the current pipeline within `timeout_millis`; True when everything was exported."""
        pipeline = self.pipeline
        return True if pipeline is None else pipeline.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: int, flush: bool = True) -> bool:
        """Flush (optionally) and shut down the current pipeline within `timeout_millis`."""
        with self.lock:
            pipeline, self.pipeline = self.pipeline, None
        if pipeline is None:
            return True
        return pipeline.shutdown(timeout_millis, flush=flush)

    def shutdown_at_exit(self) -> None:
        """The atexit hook: bounded by the configured shutdown timeout."""
        config = self.config
        timeout = config.settings.shutdown_timeout_millis if config else 3000
        with handle_internal_errors('shutdown at exit'):
            self.shutdown(timeout)


def _values_kept_whole() -> bool:
    """Whether the SDK stores span attribute values uncut (no `OTEL_*ATTRIBUTE_VALUE_LENGTH_LIMIT`).

    Only then does a value checked before the span starts equal what the scrubber's start hook would see, so the
    hook may skip attributes that were checked up front (a cut can end a clean value in a secret-looking word).
    """
    from opentelemetry.sdk.trace import SpanLimits

    return SpanLimits().max_span_attribute_length is None


GLOBAL_STATE = LogfireState()
atexit.register(GLOBAL_STATE.shutdown_at_exit)


def _option_kwargs(
    console: ConsoleOptions | Literal[False] | None,
    metrics: MetricsOptions | Literal[False] | None,
    scrubbing: ScrubbingOptions | Literal[False] | None,
    sampling: SamplingOptions | None,
    advanced: AdvancedOptions | None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Flatten option groups into settings fields, remembering how to name each in an error."""
    kwargs: dict[str, Any] = {}
    origins: dict[str, str] = {}

    def put(name: str, value: Any, origin: str) -> None:
        if value is not None:
            kwargs[name] = value
            origins[name] = origin

    if console is False:
        put('console', False, 'configure(console=False)')
    elif isinstance(console, ConsoleOptions):
        put('console', True, 'configure(console=ConsoleOptions(...))')
        for f in fields(console):
            name = 'console_include_timestamp' if f.name == 'include_timestamps' else f'console_{f.name}'
            put(name, getattr(console, f.name), f'configure(console=ConsoleOptions({f.name}=...))')
    if metrics is False:
        put('metrics', False, 'configure(metrics=False)')
    elif isinstance(metrics, MetricsOptions):
        put('metric_readers', tuple(metrics.additional_readers), 'configure(metrics=MetricsOptions(...))')
    if scrubbing is False:
        put('scrubbing', False, 'configure(scrubbing=False)')
    elif isinstance(scrubbing, ScrubbingOptions):
        put('scrubbing_callback', scrubbing.callback, 'configure(scrubbing=ScrubbingOptions(callback=...))')
        patterns = None if scrubbing.extra_patterns is None else list(scrubbing.extra_patterns)
        put('scrubbing_patterns', patterns, 'configure(scrubbing=ScrubbingOptions(extra_patterns=...))')
    if sampling is not None:
        put('trace_sample_rate', sampling.head, 'configure(sampling=SamplingOptions(head=...))')
    if advanced is not None:
        for f in fields(advanced):
            put(f.name, getattr(advanced, f.name), f'configure(advanced=AdvancedOptions({f.name}=...))')
    return kwargs, origins


def configure(
    *,
    local: bool = False,
    send_to_logfire: bool | Literal['if-token-present'] | None = None,
    token: str | None = None,
    service_name: str | None = None,
    service_version: str | None = None,
    environment: str | None = None,
    resource_attributes: dict[str, str] | None = None,
    console: ConsoleOptions | Literal[False] | None = None,
    config_dir: Path | str | None = None,
    data_dir: Path | str | None = None,
    additional_span_processors: Sequence[SpanProcessor] | None = None,
    metrics: MetricsOptions | Literal[False] | None = None,
    scrubbing: ScrubbingOptions | Literal[False] | None = None,
    inspect_arguments: bool | None = None,
    sampling: SamplingOptions | None = None,
    min_level: int | LevelName | None = None,
    distributed_tracing: bool | None = None,
    advanced: AdvancedOptions | None = None,
) -> Logfire:
    """Configure logfire: where spans, logs and metrics go and how they look.

    Every argument left as `None` falls back to its environment variable, then to `[tool.logfire]` in
    `pyproject.toml`, then to its default. See the configuration reference for each variable.

    Args:
        local: Return a new, independent `Logfire` instead of configuring the global one.
        send_to_logfire: Send data to the Logfire backend: `True`, `False` or `'if-token-present'`.
            Defaults to `True`, or `False` when running under pytest.
        token: The Logfire write token (else `LOGFIRE_TOKEN`, else the credentials file in `data_dir`).
        service_name: The `service.name` resource attribute.
        service_version: The `service.version` resource attribute.
        environment: The `deployment.environment.name` resource attribute.
        resource_attributes: Extra resource attributes; the dedicated arguments win.
        console: Console options, or `False` to print nothing.
        config_dir: Where to find `pyproject.toml` (default: the current directory).
        data_dir: Where the credentials file and the retry queue live (default `.logfire`).
        additional_span_processors: Span processors run after scrubbing, before the exporters.
        metrics: Metrics options, or `False` to make metric instruments no-ops.
        scrubbing: Scrubbing options, or `False` to send attribute values unredacted.
        inspect_arguments: Turn f-string messages into templates and attributes.
        sampling: Head sampling of traces.
        min_level: Drop spans and logs below this level (a name or number).
        distributed_tracing: Join incoming trace context: `None` joins and warns once, `True` joins
            silently, `False` always starts a new trace.
        advanced: Rarely needed settings (backend URL, id and time generators, retry queue, shutdown timeout,
            thread pool context).

    Returns:
        The configured `Logfire` instance (the global one unless `local=True`).

    Raises:
        LogfireConfigError: An argument, environment variable or `[tool.logfire]` value is invalid.

    Example:
        ```python
        import logfire

        logfire.configure(service_name='checkout', console=False)
        ```
    """
    from .main import Logfire

    kwargs: dict[str, Any] = {
        'send_to_logfire': send_to_logfire,
        'token': token,
        'service_name': service_name,
        'service_version': service_version,
        'environment': environment,
        'resource_attributes': resource_attributes,
        'config_dir': config_dir,
        'data_dir': data_dir,
        'additional_span_processors': None if additional_span_processors is None else tuple(additional_span_processors),
        'inspect_arguments': inspect_arguments,
        'min_level': min_level,
        'distributed_tracing': distributed_tracing,
    }
    for name, value in (('console', console), ('metrics', metrics), ('scrubbing', scrubbing)):
        if value is not None and value is not False and not isinstance(value, _OPTION_TYPES[name]):
            raise LogfireConfigError(
                f'configure({name}={value!r}) is invalid. Accepted: {_OPTION_TYPES[name].__name__}(...), False or None.'
            )
    if sampling is not None and sampling.tail is not None:
        raise LogfireConfigError(
            'configure(sampling=SamplingOptions(tail=...)) is not supported yet. Accepted: SamplingOptions(head=...).'
        )
    option_kwargs, origins = _option_kwargs(console, metrics, scrubbing, sampling, advanced)
    kwargs = {k: v for k, v in kwargs.items() if v is not None} | option_kwargs
    settings = load_settings(kwargs, origins=origins)
    config = build_config(settings)
    state = LogfireState() if local else GLOBAL_STATE
    state.apply(config)
    if not local:
        install_globals(state)
        from .executor_context import carry_context_into_thread_pools

        carry_context_into_thread_pools(settings.thread_pool_context)
    return Logfire(state)


_OPTION_TYPES: dict[str, type] = {'console': ConsoleOptions, 'metrics': MetricsOptions, 'scrubbing': ScrubbingOptions}


def build_config(settings: LogfireSettings) -> LogfireConfig:
    """Resolve the token and option groups from validated settings."""
    token, credentials_url = resolve_token(settings)
    send = settings.send_to_logfire
    if send is True and token is None:
        warnings.warn(
            'send_to_logfire is on but no token was found, so nothing is sent to Logfire (the console and any '
            f'other exporters still work). Set LOGFIRE_TOKEN, run `logfire auth` to write {CREDENTIALS_FILENAME} '
            f"in {str(settings.data_dir)!r}, or pass send_to_logfire='if-token-present' to silence this warning.",
            LogfireNoTokenWarning,
            stacklevel=3,
        )
    if send is False:
        token = None
    console = None
    if settings.console:
        console = ConsoleOptions(
            colors=settings.console_colors,
            span_style=settings.console_span_style,
            include_timestamps=settings.console_include_timestamp,
            include_tags=settings.console_include_tags,
            verbose=settings.console_verbose,
            min_log_level=settings.console_min_log_level,
            show_span_end=settings.console_show_span_end,
            output=settings.console_output,
        )
    scrubbing = None
    if settings.scrubbing:
        scrubbing = ScrubbingOptions(callback=settings.scrubbing_callback, extra_patterns=settings.scrubbing_patterns)
    base_url = settings.base_url or credentials_url or (token_region_url(token) if token else None)
    return LogfireConfig(
        settings=settings,
        token=token,
        base_url=base_url,
        console=console,
        scrubbing=scrubbing,
        scrubber=Scrubber(scrubbing),
    )


def resolve_token(settings: LogfireSettings) -> tuple[str | None, str | None]:
    """Find the write token: `token=` or `LOGFIRE_TOKEN`, else the credentials file in `data_dir`.

    Returns:
        The token (or None) and the backend URL recorded beside it in the credentials file (or None).
    """
    if settings.token:
        return settings.token, None
    path = Path(settings.data_dir) / CREDENTIALS_FILENAME
    if not path.is_file():
        return None, None
    try:
        data = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, ValueError) as exc:
        raise LogfireConfigError(
            f'Cannot read the credentials file {str(path)!r}: {exc}. Fix or delete it, or set LOGFIRE_TOKEN.'
        ) from exc
    data = cast('dict[str, Any]', data if isinstance(data, dict) else {})
    token = data.get('token')
    if not isinstance(token, str) or not token:
        raise LogfireConfigError(f'The credentials file {str(path)!r} has no "token" string. Fix or delete it.')
    url = data.get('logfire_api_url')
    return token, url if isinstance(url, str) else None


def token_region_url(token: str) -> str:
    """The backend URL for the region a token names (`pylf_v1_eu_...`); US when it names none."""
    match = _TOKEN_REGION.match(token)
    return _REGION_URLS.get(match.group(1) if match else 'us', _REGION_URLS['us'])


_globals_installed = False


def install_globals(state: LogfireState) -> None:
    """Make the proxies OpenTelemetry's global providers and wrap the global propagator, once."""
    global _globals_installed
    with state.lock:
        if _globals_installed:
            return
        _globals_installed = True
    from opentelemetry import metrics, propagate, trace

    from .propagation import DistributedTracingPropagator

    trace.set_tracer_provider(state.tracer_provider)
    metrics.set_meter_provider(state.meter_provider)
    propagate.set_global_textmap(DistributedTracingPropagator(propagate.get_global_textmap(), state))
