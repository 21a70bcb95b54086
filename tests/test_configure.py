"""Stories about configure(): precedence, bad values, global state. Env and global state run in subprocesses."""

from __future__ import annotations

import json
import textwrap
import traceback
from pathlib import Path

import pytest

import logfire
from logfire.exceptions import LogfireConfigError
from logfire.testing import CaptureLogfire

from .conftest import clean_env, run_python

SHOW_SETTINGS = textwrap.dedent(
    """
    import json, logfire
    lf = logfire.configure({kwargs})
    s = lf.config.config.settings
    print(json.dumps({{k: getattr(s, k) for k in {fields!r}}}, default=str))
    """
)


def settings_in_subprocess(
    fields: list[str], *, kwargs: str = '', env: dict[str, str] | None = None, cwd: Path | None = None
) -> dict[str, object]:
    code = SHOW_SETTINGS.format(kwargs=kwargs or 'send_to_logfire=False, console=False', fields=fields)
    result = run_python(code, env=clean_env(**(env or {})), cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def write_pyproject(path: Path, table: str) -> Path:
    (path / 'pyproject.toml').write_text(f'[tool.logfire]\n{textwrap.dedent(table)}')
    return path


def test_keyword_argument_beats_env_var(tmp_path: Path) -> None:
    got = settings_in_subprocess(
        ['service_name'],
        kwargs="send_to_logfire=False, console=False, service_name='from-kwarg'",
        env={'LOGFIRE_SERVICE_NAME': 'from-env'},
        cwd=tmp_path,
    )
    assert got == {'service_name': 'from-kwarg'}


def test_logfire_env_var_beats_otel_fallback(tmp_path: Path) -> None:
    got = settings_in_subprocess(
        ['service_name', 'service_version'],
        env={'LOGFIRE_SERVICE_NAME': 'lf', 'OTEL_SERVICE_NAME': 'otel', 'OTEL_SERVICE_VERSION': '1.2'},
        cwd=tmp_path,
    )
    assert got == {'service_name': 'lf', 'service_version': '1.2'}


def test_otel_env_var_beats_pyproject(tmp_path: Path) -> None:
    write_pyproject(tmp_path, "service_name = 'from-pyproject'\nenvironment = 'staging'\n")
    got = settings_in_subprocess(['service_name', 'environment'], env={'OTEL_SERVICE_NAME': 'from-otel'}, cwd=tmp_path)
    assert got == {'service_name': 'from-otel', 'environment': 'staging'}


def test_pyproject_beats_default_and_config_dir_points_at_it(tmp_path: Path) -> None:
    project = tmp_path / 'project'
    project.mkdir()
    write_pyproject(project, "min_level = 'warn'\nconsole_colors = 'never'\ntrace_sample_rate = 0.5\n")
    got = settings_in_subprocess(
        ['min_level', 'console_colors', 'trace_sample_rate'], env={'LOGFIRE_CONFIG_DIR': str(project)}, cwd=tmp_path
    )
    assert got == {'min_level': 13, 'console_colors': 'never', 'trace_sample_rate': 0.5}


def test_config_dir_by_keyword_beats_the_env_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for folder, level in [('by-keyword', 'warn'), ('by-env', 'error')]:
        (tmp_path / folder).mkdir()
        write_pyproject(tmp_path / folder, f"min_level = '{level}'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('LOGFIRE_CONFIG_DIR', str(tmp_path / 'by-env'))
    local = logfire.configure(local=True, send_to_logfire=False, console=False, config_dir=tmp_path / 'by-keyword')
    config = local.config.config
    assert config is not None and config.settings.min_level == 13  # warn
    local.shutdown(timeout_millis=1000)


def test_empty_env_var_counts_as_unset(tmp_path: Path) -> None:
    write_pyproject(tmp_path, "service_name = 'from-pyproject'\n")
    got = settings_in_subprocess(['service_name'], env={'LOGFIRE_SERVICE_NAME': ''}, cwd=tmp_path)
    assert got == {'service_name': 'from-pyproject'}


def test_token_is_never_read_from_pyproject(tmp_path: Path) -> None:
    write_pyproject(tmp_path, "token = 'pylf_v1_us_secret'\n")
    got = settings_in_subprocess(['token'], cwd=tmp_path)
    assert got == {'token': None}


def test_token_falls_back_to_the_credentials_file(tmp_path: Path) -> None:
    data_dir = tmp_path / 'creds'
    data_dir.mkdir()
    (data_dir / 'logfire_credentials.json').write_text(json.dumps({'token': 'pylf_v1_eu_abc'}))
    code = textwrap.dedent(
        """
        import logfire
        lf = logfire.configure(send_to_logfire='if-token-present', console=False, data_dir='creds')
        print(lf.config.config.token[:10], lf.config.config.base_url)
        """
    )
    result = run_python(code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ['pylf_v1_eu', 'https://logfire-eu.pydantic.dev']


def test_send_to_logfire_without_a_token_warns_once_and_carries_on(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import logfire
        logfire.configure(console=False)
        logfire.info('still works')
        print('done')
        """
    )
    result = run_python(code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'done'
    assert result.stderr.count('LogfireNoTokenWarning') == 1
    assert 'LOGFIRE_TOKEN' in result.stderr and "'if-token-present'" in result.stderr
    # It points only at commands that exist: `logfire config` does (tests/test_cli.py), `logfire auth` does not.
    assert 'send_to_logfire=False' in result.stderr and '`logfire config`' in result.stderr
    assert 'logfire auth' not in result.stderr


def test_send_to_logfire_defaults_to_false_under_pytest() -> None:
    settings = logfire.configure(local=True, console=False).config.config
    assert settings is not None and settings.settings.send_to_logfire is False


def test_resource_attributes_env_var_is_parsed_as_key_value_pairs(tmp_path: Path) -> None:
    got = settings_in_subprocess(
        ['resource_attributes'], env={'LOGFIRE_RESOURCE_ATTRIBUTES': 'a=1, b = two'}, cwd=tmp_path
    )
    assert got == {'resource_attributes': {'a': '1', 'b': 'two'}}


@pytest.mark.parametrize(
    ('env', 'named'),
    [
        ({'LOGFIRE_SEND_TO_LOGFIRE': 'maybe'}, "LOGFIRE_SEND_TO_LOGFIRE='maybe'"),
        ({'LOGFIRE_MIN_LEVEL': 'loud'}, "LOGFIRE_MIN_LEVEL='loud'"),
        ({'LOGFIRE_TRACE_SAMPLE_RATE': '2'}, "LOGFIRE_TRACE_SAMPLE_RATE='2'"),
        ({'OTEL_TRACES_SAMPLER_ARG': '-1'}, "OTEL_TRACES_SAMPLER_ARG='-1'"),
        ({'LOGFIRE_CONSOLE': 'sometimes'}, "LOGFIRE_CONSOLE='sometimes'"),
        ({'LOGFIRE_CONSOLE_COLORS': 'purple'}, "LOGFIRE_CONSOLE_COLORS='purple'"),
        ({'LOGFIRE_RESOURCE_ATTRIBUTES': 'novalue'}, "LOGFIRE_RESOURCE_ATTRIBUTES='novalue'"),
        ({'LOGFIRE_DISTRIBUTED_TRACING': 'perhaps'}, "LOGFIRE_DISTRIBUTED_TRACING='perhaps'"),
    ],
)
def test_invalid_env_var_fails_at_configure_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], named: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(LogfireConfigError) as info:
        logfire.configure(local=True)
    assert named in str(info.value)
    assert 'Accepted:' in str(info.value)
    assert isinstance(info.value, ValueError)


def test_invalid_keyword_argument_names_the_argument(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LogfireConfigError, match=r"configure\(min_level=\.\.\.\)='loud'.*'trace'"):
        logfire.configure(local=True, console=False, min_level='loud')  # pyright: ignore[reportArgumentType]
    with pytest.raises(LogfireConfigError, match=r'SamplingOptions\(head=\.\.\.\)\)=1\.5'):
        logfire.configure(local=True, console=False, sampling=logfire.SamplingOptions(head=1.5))
    with pytest.raises(LogfireConfigError, match=r"ConsoleOptions\(colors=\.\.\.\)\)='rainbow'"):
        logfire.configure(local=True, console=logfire.ConsoleOptions(colors='rainbow'))  # pyright: ignore[reportArgumentType]
    with pytest.raises(LogfireConfigError, match=r'configure\(console=True\) is invalid'):
        logfire.configure(local=True, console=True)  # pyright: ignore[reportArgumentType]


@pytest.mark.parametrize(
    ('kwargs', 'named'),
    [
        pytest.param(
            {'additional_span_processors': [object()]},
            r'configure\(additional_span_processors=.*item 0 .* is not an OpenTelemetry SpanProcessor.*Accepted:',
            id='not-a-span-processor',
        ),
        pytest.param(
            {'sampling': 0.5}, r'configure\(sampling=0.5\) is invalid.*SamplingOptions\(head=0.5\)', id='bare-rate'
        ),
        pytest.param(
            {'scrubbing': logfire.ScrubbingOptions(extra_patterns=['ok', '('])},
            r"extra_patterns=.*'\(' is not a valid regular expression \(missing \), unterminated subpattern at "
            r'position 0\).*Accepted: a list of regular expressions',
            id='bad-regex',
        ),
        pytest.param(
            {'scrubbing': logfire.ScrubbingOptions(extra_patterns='customer_ref')},
            r"extra_patterns='customer_ref'\)\) is invalid: a string, not a list.*extra_patterns=\['customer_ref'\]",
            id='patterns-as-a-string',
        ),
        pytest.param(
            {'console': logfire.ConsoleOptions(output='stdout')},  # pyright: ignore[reportArgumentType]
            r"ConsoleOptions\(output=\.\.\.\)\)='stdout' is invalid: .*not a text stream.*Accepted: a text stream",
            id='output-as-a-name',
        ),
        pytest.param(
            {'metrics': logfire.MetricsOptions(additional_readers=[object()])},  # pyright: ignore[reportArgumentType]
            r'item 0 .* is not an OpenTelemetry MetricReader',
            id='not-a-metric-reader',
        ),
        pytest.param(
            {'advanced': logfire.AdvancedOptions(id_generator=object())},  # pyright: ignore[reportArgumentType]
            r'AdvancedOptions\(id_generator=\.\.\.\)\)=.*has no generate_span_id\(\)',
            id='not-an-id-generator',
        ),
        pytest.param({'advanced': 5}, r'configure\(advanced=5\) is invalid. Accepted: AdvancedOptions', id='advanced'),
        # Settings without a sentence of their own in the reference: the accepted type, as the signature says it.
        pytest.param(
            {'service_name': 5},
            r'configure\(service_name=\.\.\.\)=5 is invalid: .*string\. Accepted: str \| None\. \(The `service.name`',
            id='service-name-not-a-string',
        ),
        pytest.param(
            {'scrubbing': logfire.ScrubbingOptions(callback=5)},  # pyright: ignore[reportArgumentType]
            r'ScrubbingOptions\(callback=\.\.\.\)\)=5 is invalid: .*callable\. '
            r'Accepted: collections\.abc\.Callable\[\.\.\., Any\] \| None\.$',
            id='callback-not-callable',
        ),
    ],
)
def test_mistaken_objects_fail_at_configure_naming_the_argument(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kwargs: dict[str, object], named: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LogfireConfigError, match=named):
        logfire.configure(local=True, send_to_logfire=False, **kwargs)  # pyright: ignore[reportArgumentType]


def test_an_invalid_scrubbing_pattern_from_the_environment_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('LOGFIRE_SCRUBBING_PATTERNS', 'fine,[z-a]')
    with pytest.raises(
        LogfireConfigError, match=r"LOGFIRE_SCRUBBING_PATTERNS='fine,\[z-a\]' is invalid: '\[z-a\]' is not"
    ):
        logfire.configure(local=True, send_to_logfire=False, console=False)


def test_invalid_pyproject_value_names_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write_pyproject(tmp_path, "console_span_style = 'zigzag'\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LogfireConfigError, match=r"\[tool.logfire\] console_span_style in .*pyproject.toml'='zigzag'"):
        logfire.configure(local=True, console=False)


def test_broken_pyproject_fails_at_configure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / 'pyproject.toml').write_text('[tool.logfire\nservice_name = ')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LogfireConfigError, match=r'Cannot read .*pyproject.toml'):
        logfire.configure(local=True, console=False)


@pytest.mark.parametrize(
    'content',
    [
        pytest.param('[project]\nname = "shop"\n', id='no-tool-table'),
        pytest.param('[tool.ruff]\nline-length = 100\n', id='another-tools-table'),
    ],
)
def test_a_pyproject_without_tool_logfire_is_fine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str
) -> None:
    (tmp_path / 'pyproject.toml').write_text(content)
    monkeypatch.chdir(tmp_path)
    logfire.configure(local=True, send_to_logfire=False, console=False).shutdown(timeout_millis=1000)


@pytest.mark.parametrize(
    'content',
    [
        pytest.param('tool = "logfire"\n', id='tool-is-a-string'),
        pytest.param('[tool]\nlogfire = 5\n', id='logfire-is-5'),
    ],
)
def test_a_tool_logfire_that_is_not_a_table_fails_at_configure_naming_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str
) -> None:
    (tmp_path / 'pyproject.toml').write_text(content)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LogfireConfigError, match=r"^\[tool.logfire\] in '.*pyproject.toml' must be a table.$"):
        logfire.configure(local=True, send_to_logfire=False, console=False)


def test_every_invalid_setting_is_named_once_with_what_it_accepts_and_what_it_does(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('LOGFIRE_SEND_TO_LOGFIRE', 'maybe')  # true, false or a word: pydantic fails it twice
    monkeypatch.setenv('LOGFIRE_CONSOLE_COLORS', 'purple')
    with pytest.raises(LogfireConfigError) as info:
        logfire.configure(local=True)
    lines = str(info.value).split('\n')
    assert [line.split('=', 1)[0] for line in lines] == ['LOGFIRE_SEND_TO_LOGFIRE', 'LOGFIRE_CONSOLE_COLORS']
    assert lines[1] == (
        "LOGFIRE_CONSOLE_COLORS='purple' is invalid: Input should be 'auto', 'always' or 'never'. "
        "Accepted: 'auto', 'always' or 'never'. (Console colours: 'auto' (only on a terminal), 'always' or 'never'.)"
    )


def test_a_token_of_the_wrong_type_is_not_echoed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LogfireConfigError) as info:
        logfire.configure(local=True, console=False, token=['pylf_v1_us_SECRET123'])  # pyright: ignore[reportArgumentType]
    assert 'configure(token=...)=<hidden> is invalid' in str(info.value)
    assert 'SECRET123' not in str(info.value)


def test_configure_signature_lists_every_setting_explicitly() -> None:
    import inspect

    params = inspect.signature(logfire.configure).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())
    for name in ['send_to_logfire', 'token', 'service_name', 'console', 'min_level', 'sampling', 'advanced', 'local']:
        assert name in params


def test_nothing_is_read_from_the_environment_at_import(tmp_path: Path) -> None:
    code = 'import logfire; print(type(logfire.DEFAULT_LOGFIRE_INSTANCE).__name__)'
    result = run_python(code, env=clean_env(LOGFIRE_MIN_LEVEL='loud', LOGFIRE_CONSOLE='sometimes'), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'Logfire'


def test_spans_before_configure_warn_once_and_record_after(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import warnings
        import logfire
        from logfire.testing import TestExporter
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        tracer = logfire.DEFAULT_LOGFIRE_INSTANCE.config.tracer_provider.get_tracer('early')
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            logfire.info('before 1')
            logfire.info('before 2')
        print('warnings', [w.category.__name__ for w in caught])
        exporter = TestExporter()
        logfire.configure(
            send_to_logfire=False, console=False, additional_span_processors=[SimpleSpanProcessor(exporter)]
        )
        logfire.info('after')
        tracer.start_span('from an early tracer').end()
        print('spans', [s.name for s in exporter.exported_spans])
        """
    )
    result = run_python(code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warnings ['LogfireNotConfiguredWarning']" in result.stdout
    assert "spans ['after', 'from an early tracer']" in result.stdout


@pytest.mark.parametrize(
    ('value', 'warned'),
    # Every value the configuration reference lists, in any case and spacing; any other value keeps the warning.
    [('1', False), (' TRUE ', False), ('Yes', False), ('on', False), ('0', True)],
)
def test_ignore_no_config_env_var_silences_the_warning(tmp_path: Path, value: str, warned: bool) -> None:
    code = textwrap.dedent(
        """
        import warnings
        import logfire

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            logfire.info('before configure')
        print([w.category.__name__ for w in caught])
        """
    )
    result = run_python(code, env=clean_env(LOGFIRE_IGNORE_NO_CONFIG=value), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("['LogfireNotConfiguredWarning']" if warned else '[]')


def test_configure_twice_rebuilds_the_pipeline_in_place(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import logfire
        from logfire.testing import TestExporter
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        first, second = TestExporter(), TestExporter()
        logfire.configure(send_to_logfire=False, console=False, service_name='one',
                          additional_span_processors=[SimpleSpanProcessor(first)])
        counter = logfire.metric_counter('hits')
        logfire.info('to first')
        logfire.configure(send_to_logfire=False, console=False, service_name='two',
                          additional_span_processors=[SimpleSpanProcessor(second)])
        logfire.info('to second')
        print([s.name for s in first.exported_spans], [s.name for s in second.exported_spans])
        print(second.exported_spans[0].resource.attributes['service.name'])
        counter.add(1)
        """
    )
    result = run_python(code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines == ["['to first'] ['to second']", 'two']


def test_local_instance_is_independent_of_the_global_one(capfire: CaptureLogfire) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from logfire.testing import TestExporter

    exporter = TestExporter()
    local = logfire.configure(local=True, console=False, additional_span_processors=[SimpleSpanProcessor(exporter)])
    local.info('local only')
    logfire.info('global only')
    assert [s.name for s in exporter.exported_spans] == ['local only']
    assert [s.name for s in capfire.exporter.exported_spans] == ['global only']
    local.shutdown()


def test_resource_carries_service_and_process_attributes(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import json, logfire
        from logfire.testing import TestExporter
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        exporter = TestExporter()
        logfire.configure(send_to_logfire=False, console=False, service_name='svc', service_version='1.0',
                          environment='prod', resource_attributes={'team': 'a', 'service.name': 'loses'},
                          additional_span_processors=[SimpleSpanProcessor(exporter)])
        logfire.info('x')
        print(json.dumps(dict(exporter.exported_spans[0].resource.attributes)))
        """
    )
    result = run_python(code, env=clean_env(OTEL_RESOURCE_ATTRIBUTES='from.otel=yes'), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    attributes = json.loads(result.stdout)
    assert attributes['service.name'] == 'svc'
    assert attributes['service.version'] == '1.0'
    assert attributes['deployment.environment.name'] == 'prod'
    assert attributes['team'] == 'a'
    assert attributes['from.otel'] == 'yes'
    assert attributes['telemetry.sdk.language'] == 'python'
    assert isinstance(attributes['process.pid'], int)
    assert len(attributes['service.instance.id']) == 32


def test_default_service_name_is_otels_unknown_service() -> None:
    lf = logfire.configure(local=True, console=False)
    from opentelemetry.sdk.trace import TracerProvider

    pipeline = lf.config.pipeline
    assert pipeline is not None and isinstance(pipeline.tracer_provider, TracerProvider)
    assert str(pipeline.tracer_provider.resource.attributes['service.name']).startswith('unknown_service')
    lf.shutdown()


def test_force_flush_and_shutdown_return_within_their_timeout(capfire: CaptureLogfire) -> None:
    logfire.info('x')
    assert logfire.force_flush(timeout_millis=1000) is True
    local = logfire.configure(local=True, console=False)
    assert local.shutdown(timeout_millis=1000) is True
    assert local.shutdown(timeout_millis=1000) is True  # twice is harmless


@pytest.mark.parametrize(
    'variable',
    [
        'OTEL_EXPORTER_OTLP_HEADERS',
        'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
        'OTEL_EXPORTER_OTLP_METRICS_HEADERS',
        'OTEL_EXPORTER_OTLP_LOGS_HEADERS',
    ],
)
def test_config_errors_never_echo_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, 'Authorization: Bearer sk-live-SECRET123')
    with pytest.raises(LogfireConfigError) as info:
        logfire.configure(local=True, console=False)
    message = str(info.value)
    assert f'{variable}=<hidden>' in message and 'item 1' in message
    assert 'SECRET123' not in message
    assert 'SECRET123' not in ''.join(traceback.format_exception(info.value))  # nor in a chained error
