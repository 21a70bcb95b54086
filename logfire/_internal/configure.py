"""`configure()`: settings in, a frozen `LogfireConfig` out, its pipeline built and swapped into the shared state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal

from opentelemetry.sdk.trace import SpanProcessor

from ..exceptions import LogfireConfigError
from .config import LogfireConfig, build_config
from .constants import LevelName
from .main import Logfire
from .options import AdvancedOptions, ConsoleOptions, MetricsOptions, SamplingOptions, ScrubbingOptions
from .sampling import validate_sampling
from .settings import load_settings
from .state import GLOBAL_STATE, LogfireState


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
        put('metric_views', metrics.views, 'configure(metrics=MetricsOptions(views=...))')
        put(
            'metrics_collect_in_spans',
            metrics.collect_in_spans,
            'configure(metrics=MetricsOptions(collect_in_spans=...))',
        )
    if scrubbing is False:
        put('scrubbing', False, 'configure(scrubbing=False)')
    elif isinstance(scrubbing, ScrubbingOptions):
        put('scrubbing_callback', scrubbing.callback, 'configure(scrubbing=ScrubbingOptions(callback=...))')
        patterns = None if scrubbing.extra_patterns is None else list(scrubbing.extra_patterns)
        put('scrubbing_patterns', patterns, 'configure(scrubbing=ScrubbingOptions(extra_patterns=...))')
    if sampling is not None:
        put('trace_sample_rate', sampling.head, 'configure(sampling=SamplingOptions(head=...))')
        put('sampling_tail', sampling.tail, 'configure(sampling=SamplingOptions(tail=...))')
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
        sampling: Head and tail sampling of traces (see `SamplingOptions`).
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
    _check_option_groups(console=console, metrics=metrics, scrubbing=scrubbing, sampling=sampling, advanced=advanced)
    if sampling is not None:
        validate_sampling(sampling.tail)
    option_kwargs, origins = _option_kwargs(console, metrics, scrubbing, sampling, advanced)
    kwargs = {k: v for k, v in kwargs.items() if v is not None} | option_kwargs
    settings = load_settings(kwargs, origins=origins)
    config = build_config(settings)
    state = LogfireState() if local else GLOBAL_STATE
    apply_config(state, config)
    if not local:
        install_globals(state)
        from .executor_context import carry_context_into_thread_pools

        carry_context_into_thread_pools(config.settings.thread_pool_context)
    return Logfire(state)


_OPTION_TYPES: dict[str, type] = {
    'console': ConsoleOptions,
    'metrics': MetricsOptions,
    'scrubbing': ScrubbingOptions,
    'sampling': SamplingOptions,
    'advanced': AdvancedOptions,
}
_MAY_BE_FALSE = ('console', 'metrics', 'scrubbing')


def _check_option_groups(**groups: object) -> None:
    """Reject an option group of the wrong type, and the mistakes a type checker would not catch inside one."""
    for name, value in groups.items():
        if value is None or (value is False and name in _MAY_BE_FALSE):
            continue
        kind = _OPTION_TYPES[name].__name__
        if not isinstance(value, _OPTION_TYPES[name]):
            hint = f' (did you mean {kind}(head={value!r})?)' if name == 'sampling' and isinstance(value, float) else ''
            alternatives = ', False or None' if name in _MAY_BE_FALSE else ' or None'
            raise LogfireConfigError(
                f'configure({name}={value!r}) is invalid{hint}. Accepted: {kind}(...){alternatives}.'
            )
    scrubbing = groups.get('scrubbing')
    if isinstance(scrubbing, ScrubbingOptions) and isinstance(scrubbing.extra_patterns, str):
        pattern = scrubbing.extra_patterns
        raise LogfireConfigError(
            f'configure(scrubbing=ScrubbingOptions(extra_patterns={pattern!r})) is invalid: a string, not a list '
            f'of patterns. Accepted: a list of regular expressions, e.g. extra_patterns=[{pattern!r}].'
        )


def apply_config(state: LogfireState, config: LogfireConfig) -> None:
    """Build the pipeline for `config` and swap it into `state`; the previous one is flushed and shut down."""
    from .providers import build_pipeline

    if config.settings.inspect_arguments:
        # Imported now rather than at the first f-string: an import another thread is running when the
        # process forks leaves the import lock held in the child, which would hang its first log.
        import executing  # noqa: F401  # pyright: ignore[reportUnusedImport]
    _, old = state.swap(config, build_pipeline(config))
    if old is not None:
        old.shutdown(config.settings.shutdown_timeout_millis)


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
