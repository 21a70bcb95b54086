"""`LogfireConfig`: the resolved, frozen configuration a pipeline is built from, and how settings become one."""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ..exceptions import LogfireConfigError
from .options import ConsoleOptions, ScrubbingOptions
from .scrubbing import Scrubber
from .settings import LogfireSettings

CREDENTIALS_FILENAME = 'logfire_credentials.json'
_TOKEN_REGION = re.compile(r'^pylf_v\d+_([a-z]+)_')
_REGION_URLS = {'us': 'https://logfire-us.pydantic.dev', 'eu': 'https://logfire-eu.pydantic.dev'}


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


def build_config(settings: LogfireSettings) -> LogfireConfig:
    """Resolve the token and option groups from validated settings."""
    token, credentials_url = resolve_token(settings)
    send = settings.send_to_logfire
    if send is True and token is None:
        warnings.warn(
            'send_to_logfire is on but no token was found, so nothing is sent to Logfire (the console and any '
            'other exporters still work). Set LOGFIRE_TOKEN (or pass token=...), or put a write token in '
            f'{CREDENTIALS_FILENAME} in {str(settings.data_dir)!r}; or pass send_to_logfire=False, or '
            "send_to_logfire='if-token-present' to send only when a token is set. Run `logfire config` to see "
            'every setting in effect and where it comes from.',
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
