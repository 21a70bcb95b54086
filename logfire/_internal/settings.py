"""Every setting of `configure()`, and the one place that decides where each value comes from.

Precedence, highest first: keyword argument, `LOGFIRE_*` environment variable, the standard `OTEL_*`
fallback, `[tool.logfire]` in `pyproject.toml` (in `config_dir`), the default. `None` or `''` counts
as unset. This is the only module that reads `os.environ`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from pydantic import AliasChoices, BeforeValidator, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

from ..exceptions import LogfireConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib
from .accepted_values import ACCEPTED_VALUES
from .setting_types import (
    IdGeneratorLike,
    KeyValues,
    Level,
    MetricReaders,
    MetricViews,
    Patterns,
    ResourceDetectors,
    SpanProcessors,
    TextStream,
    parse_str_list,
)

_pyproject: ContextVar[tuple[Path, dict[str, Any]] | None] = ContextVar('logfire_pyproject', default=None)


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


def _under_pytest() -> bool:
    return 'PYTEST_VERSION' in os.environ


def _send_to_logfire_default() -> bool:
    return not _under_pytest()


def _inspect_arguments_default() -> bool:
    return sys.version_info >= (3, 11)


class LogfireSettings(BaseSettings):
    """All of `configure()`'s settings. Field names are the keyword arguments and `[tool.logfire]` keys."""

    model_config = SettingsConfigDict(
        env_prefix='LOGFIRE_',
        env_ignore_empty=True,
        validate_by_name=True,
        validate_by_alias=True,
        extra='ignore',
        arbitrary_types_allowed=True,
        frozen=True,
    )

    send_to_logfire: bool | Literal['if-token-present'] = Field(
        default_factory=_send_to_logfire_default,
        description="Send data to the Logfire backend: true, false or 'if-token-present'. "
        'Defaults to true, or false when running under pytest.',
    )
    token: str | None = Field(
        None,
        repr=False,
        description='The Logfire write token. Never read from pyproject.toml; falls back to the credentials file '
        'in data_dir.',
    )
    service_name: str | None = Field(
        None,
        validation_alias=_env('LOGFIRE_SERVICE_NAME', 'OTEL_SERVICE_NAME'),
        description="The `service.name` resource attribute (OTel's default is 'unknown_service:python').",
    )
    service_version: str | None = Field(
        None,
        validation_alias=_env('LOGFIRE_SERVICE_VERSION', 'OTEL_SERVICE_VERSION'),
        description='The `service.version` resource attribute.',
    )
    environment: str | None = Field(
        None, description='The `deployment.environment.name` resource attribute, e.g. `prod` or `dev`.'
    )
    resource_attributes: KeyValues = Field(
        default_factory=dict[str, str],
        description='Extra resource attributes, as `k=v,k2=v2` in the environment. The dedicated settings win.',
    )
    console: bool = Field(True, description='Print spans and logs to the console.')
    console_colors: Literal['auto', 'always', 'never'] = Field(
        'auto', description="Console colours: 'auto' (only on a terminal), 'always' or 'never'."
    )
    console_span_style: Literal['simple', 'indented', 'show-parents'] = Field(
        'show-parents', description="Console nesting style: 'simple', 'indented' or 'show-parents'."
    )
    console_include_timestamp: bool = Field(True, description='Start each console line with the time.')
    console_include_tags: bool = Field(True, description='Print tags after console messages.')
    console_verbose: bool = Field(False, description='Print source location, level and attributes too.')
    console_min_log_level: Annotated[
        Literal['trace', 'debug', 'info', 'notice', 'warn', 'warning', 'error', 'fatal'],
        BeforeValidator(lambda v: v.lower() if isinstance(v, str) else v),
    ] = Field('info', description='The lowest level the console prints.')
    console_show_span_end: bool = Field(False, description='Print a line with the duration when a span ends.')
    config_dir: Path | None = Field(
        None, description='The folder holding the `pyproject.toml` to read `[tool.logfire]` from (default: cwd).'
    )
    data_dir: Path = Field(
        Path('.logfire'),
        validation_alias=_env('LOGFIRE_DATA_DIR', 'LOGFIRE_CREDENTIALS_DIR'),
        description='Where the credentials file and the retry queue live.',
    )
    metrics: bool = Field(True, description='Collect metrics; false makes metric instruments no-ops.')
    scrubbing: bool = Field(True, description='Redact likely secrets from attributes before they leave the process.')
    scrubbing_patterns: Patterns = Field(
        None, description='Extra regular expressions to scrub, comma-separated in the environment.'
    )
    min_level: Level | None = Field(None, description='Drop spans and logs below this level (a level name or number).')
    trace_sample_rate: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        validation_alias=_env('LOGFIRE_TRACE_SAMPLE_RATE', 'OTEL_TRACES_SAMPLER_ARG'),
        description='The fraction of traces kept (head sampling), from 0.0 to 1.0.',
    )
    distributed_tracing: bool | None = Field(
        None,
        description='Join trace context from incoming requests: unset joins and warns once, true joins '
        'silently, false always starts a new trace.',
    )
    thread_pool_context: bool = Field(
        True,
        description='Run work submitted to a `ThreadPoolExecutor` (and `loop.run_in_executor`) in the '
        "submitter's trace context, so its spans are children of the span that submitted it. Applies to the "
        'global `configure()` only.',
    )
    inspect_arguments: bool = Field(
        default_factory=_inspect_arguments_default,
        description='Turn f-string messages into templates and attributes (default on for Python >= 3.11). The '
        "f-string's expressions are evaluated a second time, so avoid side effects in them or turn this off.",
    )
    base_url: str | None = Field(None, description="The Logfire backend's URL (default: from the token's region).")
    retry_queue_max_bytes: int = Field(
        200 * 1024 * 1024, ge=0, description='Size cap of the on-disk queue of payloads waiting to be re-sent.'
    )
    shutdown_timeout_millis: int = Field(
        3000, ge=0, description='How long exit may wait for pending telemetry to be flushed.'
    )
    otlp_endpoint: str | None = Field(
        None,
        validation_alias=_env('OTEL_EXPORTER_OTLP_ENDPOINT'),
        description='Base URL of an OTLP/HTTP receiver for every signal (`/v1/<signal>` is appended).',
    )
    otlp_traces_endpoint: str | None = Field(
        None, validation_alias=_env('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'), description='Full OTLP URL for traces.'
    )
    otlp_metrics_endpoint: str | None = Field(
        None, validation_alias=_env('OTEL_EXPORTER_OTLP_METRICS_ENDPOINT'), description='Full OTLP URL for metrics.'
    )
    otlp_logs_endpoint: str | None = Field(
        None,
        validation_alias=_env('OTEL_EXPORTER_OTLP_LOGS_ENDPOINT'),
        description='Full OTLP URL for OTel log records. Accepted for compatibility: '
        'logfire sends its logs as spans and emits no OTel log records yet.',
    )
    otlp_protocol: Literal['http/protobuf', 'grpc'] = Field(
        'http/protobuf',
        validation_alias=_env('OTEL_EXPORTER_OTLP_PROTOCOL'),
        description="The OTLP transport: 'http/protobuf' or 'grpc' (needs the `grpc` extra).",
    )
    traces_exporter: str = Field(
        'otlp', validation_alias=_env('OTEL_TRACES_EXPORTER'), description="'none' turns trace export off."
    )
    metrics_exporter: str = Field(
        'otlp', validation_alias=_env('OTEL_METRICS_EXPORTER'), description="'none' turns metric export off."
    )
    logs_exporter: str = Field(
        'otlp', validation_alias=_env('OTEL_LOGS_EXPORTER'), description="'none' turns log export off."
    )
    otlp_headers: KeyValues = Field(
        default_factory=dict[str, str],
        validation_alias=_env('OTEL_EXPORTER_OTLP_HEADERS'),
        description='Headers for every OTLP request, as `k=v,k2=v2` (values may be %-encoded). They never '
        "replace the Logfire backend's own `Authorization` header.",
    )
    otlp_traces_headers: KeyValues = Field(
        default_factory=dict[str, str],
        validation_alias=_env('OTEL_EXPORTER_OTLP_TRACES_HEADERS'),
        description='Headers for trace export, used instead of `OTEL_EXPORTER_OTLP_HEADERS`.',
    )
    otlp_metrics_headers: KeyValues = Field(
        default_factory=dict[str, str],
        validation_alias=_env('OTEL_EXPORTER_OTLP_METRICS_HEADERS'),
        description='Headers for metric export, used instead of `OTEL_EXPORTER_OTLP_HEADERS`.',
    )
    otlp_logs_headers: KeyValues = Field(
        default_factory=dict[str, str],
        validation_alias=_env('OTEL_EXPORTER_OTLP_LOGS_HEADERS'),
        description='Headers for log export, used instead of `OTEL_EXPORTER_OTLP_HEADERS`.',
    )
    otlp_timeout: float = Field(
        10.0,
        gt=0,
        validation_alias=_env('OTEL_EXPORTER_OTLP_TIMEOUT'),
        description='Seconds one OTLP request may take before it is abandoned and retried later.',
    )
    otlp_compression: Literal['gzip', 'deflate', 'none'] = Field(
        'none',
        validation_alias=_env('OTEL_EXPORTER_OTLP_COMPRESSION'),
        description="Body compression for `OTEL_EXPORTER_OTLP_*` endpoints: 'gzip', 'deflate' or 'none' "
        '(the Logfire backend always gets gzip).',
    )
    bsp_schedule_delay_millis: int = Field(
        500,
        ge=0,
        validation_alias=_env('OTEL_BSP_SCHEDULE_DELAY'),
        description='Milliseconds between span exports (the first few spans leave after at most 100 ms).',
    )
    bsp_max_queue_size: int = Field(
        2048,
        ge=1,
        validation_alias=_env('OTEL_BSP_MAX_QUEUE_SIZE'),
        description='Spans waiting for export beyond this many are dropped (and counted).',
    )
    bsp_max_export_batch_size: int = Field(
        512,
        ge=1,
        validation_alias=_env('OTEL_BSP_MAX_EXPORT_BATCH_SIZE'),
        description='The most spans sent in one export request.',
    )
    bsp_export_timeout_millis: int = Field(
        30000,
        ge=0,
        validation_alias=_env('OTEL_BSP_EXPORT_TIMEOUT'),
        description='Milliseconds one span export request may take (also capped by `OTEL_EXPORTER_OTLP_TIMEOUT`).',
    )

    # Objects that only a keyword argument can give: never read from the environment or pyproject.
    additional_span_processors: SpanProcessors = Field(default=(), exclude=True)
    metric_readers: MetricReaders = Field(default=(), exclude=True)
    metric_views: MetricViews | None = Field(default=None, exclude=True)
    metrics_collect_in_spans: bool = Field(default=False, exclude=True)
    scrubbing_callback: Callable[..., Any] | None = Field(default=None, exclude=True)
    id_generator: IdGeneratorLike = Field(default=None, exclude=True)
    ns_timestamp_generator: Callable[[], int] | None = Field(default=None, exclude=True)
    exception_callback: Callable[..., Any] | None = Field(default=None, exclude=True)
    console_output: TextStream = Field(default=None, exclude=True)
    sampling_tail: Callable[..., Any] | None = Field(default=None, exclude=True)
    resource_detectors: ResourceDetectors | None = Field(default=None, exclude=True)

    @field_validator('send_to_logfire', mode='before')
    @classmethod
    def _normalise_send_to_logfire(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in {'if-token-present', 'if_token_present'}:
            return 'if-token-present'
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Decide precedence: keyword arguments, then the environment, then `[tool.logfire]`, then defaults."""
        path, table = _pyproject.get() or (None, {})
        table = {k: v for k, v in table.items() if k not in _PYPROJECT_FORBIDDEN}
        return init_settings, env_settings, PyprojectSource(settings_cls, path, table)


class PyprojectSource(InitSettingsSource):
    """`[tool.logfire]` of one `pyproject.toml` (its keys are field names), remembering which file it is."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None, table: dict[str, Any]) -> None:
        super().__init__(settings_cls, init_kwargs=table)
        self.path = path


_PYPROJECT_FORBIDDEN = ('token', *(name for name, f in LogfireSettings.model_fields.items() if f.exclude))


def read_pyproject_table(path: Path) -> dict[str, Any]:
    """Return `[tool.logfire]` of the pyproject file at `path` ({} when absent), or raise LogfireConfigError."""
    if not path.is_file():
        return {}
    try:
        with path.open('rb') as f:
            data: dict[str, Any] = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LogfireConfigError(f'Cannot read {str(path)!r}: {exc}. Fix the file or set LOGFIRE_CONFIG_DIR.') from exc
    table: object = data.get('tool', {})
    table = cast('dict[str, object]', table).get('logfire', {}) if isinstance(table, dict) else None
    if not isinstance(table, dict):
        raise LogfireConfigError(f'[tool.logfire] in {str(path)!r} must be a table.')
    return cast('dict[str, Any]', table)


def env_names(name: str) -> tuple[str, ...]:
    """The environment variables a settings field is read from, highest precedence first."""
    info = LogfireSettings.model_fields[name]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(choice for choice in alias.choices if isinstance(choice, str))
    if info.exclude:
        return ()
    return (f'LOGFIRE_{name.upper()}',)


def load_settings(kwargs: Mapping[str, Any], *, origins: Mapping[str, str] | None = None) -> LogfireSettings:
    """Build the settings from `configure()`'s keyword arguments (None already dropped) and the environment.

    Args:
        kwargs: Field values given by keyword.
        origins: How to name a keyword-given field in errors, e.g. `console=ConsoleOptions(colors=...)`.

    Raises:
        LogfireConfigError: A value is invalid; the message names its origin and the accepted values.
    """
    pyproject, table = _pyproject_for(kwargs)
    token = _pyproject.set((pyproject, table))
    try:
        return LogfireSettings(**kwargs)
    except ValidationError as exc:
        raise _config_error(exc, kwargs, origins or {}, pyproject, table) from None
    finally:
        _pyproject.reset(token)


def settings_sources(kwargs: Mapping[str, Any]) -> tuple[PydanticBaseSettingsSource, ...]:
    """The sources `load_settings(kwargs)` reads, highest precedence first, as `settings_customise_sources` says.

    For reports of where each value comes from (`logfire config`); the order is never decided here.
    """
    pyproject, table = _pyproject_for(kwargs)
    token = _pyproject.set((pyproject, table))
    try:
        cls = LogfireSettings
        return cls.settings_customise_sources(
            cls,
            init_settings=InitSettingsSource(cls, init_kwargs=dict(kwargs)),
            env_settings=EnvSettingsSource(cls),
            dotenv_settings=DotEnvSettingsSource(cls),
            file_secret_settings=SecretsSettingsSource(cls),
        )
    finally:
        _pyproject.reset(token)


def _pyproject_for(kwargs: Mapping[str, Any]) -> tuple[Path, dict[str, Any]]:
    config_dir = kwargs.get('config_dir') or _env_value('LOGFIRE_CONFIG_DIR') or Path.cwd()
    pyproject = Path(config_dir) / 'pyproject.toml'
    return pyproject, read_pyproject_table(pyproject)


def _env_value(name: str) -> str | None:
    return os.environ.get(name) or None


def _field_for(loc_head: str | int) -> str:
    if loc_head in LogfireSettings.model_fields:
        return str(loc_head)
    for name in LogfireSettings.model_fields:
        if loc_head in env_names(name):
            return name
    return str(loc_head)


def _origin(
    name: str, kwargs: Mapping[str, Any], origins: Mapping[str, str], pyproject: Path, table: Mapping[str, Any]
) -> str:
    if name in kwargs:
        return origins.get(name, f'configure({name}=...)')
    for env in env_names(name):
        if _env_value(env) is not None:
            return env
    if name in table:
        return f'[tool.logfire] {name} in {str(pyproject)!r}'
    return name


def _accepted(info: FieldInfo | None) -> str:
    return 'see the configuration reference' if info is None else str(info.annotation).replace('typing.', '')


def _config_error(
    exc: ValidationError,
    kwargs: Mapping[str, Any],
    origins: Mapping[str, str],
    pyproject: Path,
    table: Mapping[str, Any],
) -> LogfireConfigError:
    lines: list[str] = []
    seen: set[str] = set()
    for error in exc.errors():
        name = _field_for(error['loc'][0]) if error['loc'] else '?'
        if name in seen:  # a union reports each member's failure; one line per setting reads better
            continue
        seen.add(name)
        info = LogfireSettings.model_fields.get(name)
        origin = _origin(name, kwargs, origins, pyproject, table)
        description = info.description if info and info.description else ''
        accepted = ACCEPTED_VALUES.get(name) or _accepted(info)
        lines.append(
            f'{origin}={_shown(name, error["input"])} is invalid: {error["msg"].removeprefix("Value error, ")}. '
            f'Accepted: {accepted}.' + (f' ({description})' if description else '')
        )
    return LogfireConfigError('\n'.join(lines))


def _shown(name: str, value: object) -> str:
    """The bad value as an error shows it: hidden for settings that hold credentials."""
    if name == 'token' or name.endswith('headers'):
        return '<hidden>'
    return repr(value)


def ignore_no_config() -> bool:
    """Whether `LOGFIRE_IGNORE_NO_CONFIG` silences the warning about spans made before `configure()`."""
    return (_env_value('LOGFIRE_IGNORE_NO_CONFIG') or '').strip().lower() in {'1', 'true', 'yes', 'on'}


def env_str_list(*names: str) -> list[str] | None:
    """The first of `names` that is set, split on commas (for integration fallbacks such as excluded URLs)."""
    for name in names:
        value = _env_value(name)
        if value is not None:
            parsed = parse_str_list(value)
            assert isinstance(parsed, list)
            return [str(item) for item in parsed]  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    return None
