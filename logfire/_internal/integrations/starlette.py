"""Starlette: logfire's ASGI middleware, placed in the app's own middleware stack.

It goes first among the user's middleware, inside Starlette's `ServerErrorMiddleware`, so an unhandled exception
reaches the request span before the 500 page is sent. The app is changed in place (and returned); calling this
again on the same app changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar

# What the extra installs, imported here too: the ASGI module may already be loaded when it goes missing.
import opentelemetry.instrumentation.asgi  # noqa: F401  # pyright: ignore[reportMissingTypeStubs, reportUnusedImport]
from starlette.applications import Starlette
from starlette.middleware import Middleware
from typing_extensions import Unpack

from .asgi import ASGIApp, ASGIOptions, MiddlewareOptions, exclude_list, middleware

if TYPE_CHECKING:
    from . import SharedProviders

__all__ = ['EXCLUDED_URLS_ENV', 'add_to_stack', 'instrument']

EXCLUDED_URLS_ENV: Final = ('OTEL_PYTHON_STARLETTE_EXCLUDED_URLS', 'OTEL_PYTHON_EXCLUDED_URLS')
_INSTRUMENTED_ATTRIBUTE: Final = '_logfire_instrumented'

AppT = TypeVar('AppT', bound=Starlette)


def instrument(
    providers: SharedProviders,
    app: AppT,
    /,
    *,
    capture_headers: bool = False,
    record_send_receive: bool = False,
    **options: Unpack[ASGIOptions],
) -> AppT:
    """Instrument `app` in place and return it."""
    excluded = exclude_list(options.pop('excluded_urls', None), EXCLUDED_URLS_ENV)
    rest: MiddlewareOptions = options

    def factory(inner: ASGIApp) -> ASGIApp:
        return middleware(
            providers,
            inner,
            excluded=excluded,
            capture_headers=capture_headers,
            record_send_receive=record_send_receive,
            **rest,
        )

    return add_to_stack(app, factory)


def add_to_stack(app: AppT, factory: Callable[[ASGIApp], ASGIApp]) -> AppT:
    """Put `factory`'s middleware first in `app`'s user middleware, once per app, rebuilding a stack already built."""
    if getattr(app, _INSTRUMENTED_ATTRIBUTE, False):
        return app
    setattr(app, _INSTRUMENTED_ATTRIBUTE, True)
    app.user_middleware.insert(0, Middleware(_Factory(factory)))
    if app.middleware_stack is not None:  # already serving: Starlette builds the stack once, on first use
        app.middleware_stack = app.build_middleware_stack()
    return app


class _Factory:
    """A middleware 'class' for `Middleware(...)`: Starlette calls it with the next app."""

    def __init__(self, factory: Callable[[ASGIApp], ASGIApp]) -> None:
        self.factory = factory

    def __call__(self, app: ASGIApp, *args: Any, **kwargs: Any) -> ASGIApp:
        return self.factory(app)
