"""Exceptions raised by logfire: each subclasses the builtin it refines, so existing handlers keep working."""

from __future__ import annotations

__all__ = ['LogfireConfigError', 'MissingExtraError']


class LogfireConfigError(ValueError):
    """A `configure()` argument, environment variable or `[tool.logfire]` value is invalid.

    The message names where the value came from, shows it with `repr()` and lists what is accepted.
    """


class MissingExtraError(ImportError):
    """An `instrument_*()` call (or a logging bridge such as `StructlogProcessor()`) needs a package that is missing.

    Attributes:
        integration: The integration's name, e.g. `'asgi'`.
        extra: The pip extra that installs what is missing.
        missing: The import name that could not be found.
    """

    def __init__(self, integration: str, extra: str, missing: str, package: str, *, call: str | None = None) -> None:
        self.integration = integration
        self.extra = extra
        self.missing = missing
        call = call or f'logfire.instrument_{integration}()'
        super().__init__(
            f"{call} needs {package!r}. Install it with: pip install 'logfire[{extra}]'",
            name=missing,
        )
