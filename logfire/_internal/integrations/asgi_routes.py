"""The route template a Starlette-style app matched (`/t/{tenant}/items/{item_id}`), for span names and `http.route`.

Routers write the route they matched into the scope (`scope['route']`) and, for each mount they pass, the
concrete path it matched into `scope['root_path']` (`/t/acme`). The template of a mount with path parameters is
therefore rebuilt by matching the request's path against the app's mounts again, once per request that went
through a mount. Nothing here imports a framework: routes are read by duck typing.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any, Final, cast

__all__ = ['leaf_template', 'route_template', 'routes_owner']

_MAX_DEPTH: Final = 16
_MOUNT_SUFFIX: Final = '/{path}'


def routes_owner(app: object) -> object | None:
    """The first object with `routes` in `app`'s chain of wrapped `.app`s (the router a middleware stack ends in)."""
    for _ in range(_MAX_DEPTH):
        if app is None:
            return None
        if isinstance(getattr(app, 'routes', None), Sequence):
            return app
        app = getattr(app, 'app', None)
    return None


def route_template(scope: MutableMapping[str, Any], owner: object | None, base_root_path: str) -> str | None:
    """The matched route's template, from the app's root (`base_root_path` is the root path when the request came in).

    None when no route matched.
    """
    route = scope.get('route')
    leaf = leaf_template(scope, route)
    if leaf is None:
        return None
    root_path = str(scope.get('root_path', ''))
    if root_path == base_root_path:
        return leaf
    mounts = _mounts(scope, owner, base_root_path, root_path)
    if mounts is None:  # the path changed without a mount we can see (e.g. the app's own `root_path`)
        mount_path = getattr(route, 'path', None)
        if hasattr(route, 'routes') and isinstance(mount_path, str) and mount_path and root_path.endswith(mount_path):
            root_path = root_path[: -len(mount_path)]  # a mount's own path is already in root_path and in its template
        return f'{root_path}{leaf}'
    if mounts and mounts[-1] is route:  # the mount is the leaf: a mounted app without routes of its own
        mounts = mounts[:-1]
    return ''.join(_mount_prefix(mount) for mount in mounts) + leaf


def leaf_template(scope: Mapping[str, Any], route: object) -> str | None:
    """The matched route's template within the innermost mounted app."""
    # FastAPI 0.165+ keeps an included router's route unprefixed in scope['route'] and the full template here.
    fastapi_scope = scope.get('fastapi')
    if isinstance(fastapi_scope, Mapping):
        effective = cast('Mapping[str, object]', fastapi_scope).get('effective_route_context')
        path_format = getattr(effective, 'path_format', None)
        if isinstance(path_format, str) and path_format:
            return path_format
    path_format = getattr(route, 'path_format', None)
    return path_format if isinstance(path_format, str) and path_format else None


_REQUEST_KEYS: Final = ('headers', 'scheme', 'server', 'client', 'query_string', 'http_version')


def _mounts(scope: Mapping[str, Any], owner: object | None, base_root_path: str, root_path: str) -> list[object] | None:
    """The mounts the request passed through, outermost first; None if they do not account for `root_path`."""
    routes = getattr(owner, 'routes', None)
    probe: dict[str, Any] = {
        'type': scope.get('type', 'http'),
        'path': scope.get('path', ''),
        'root_path': base_root_path,
        'method': scope.get('method', 'GET'),
    }
    for key in _REQUEST_KEYS:  # for mounts that route on more than the path (a header, the host)
        if key in scope:
            probe[key] = scope[key]
    mounts: list[object] = []
    for _ in range(_MAX_DEPTH):
        if probe['root_path'] == root_path:
            return mounts
        mount = _matching_mount(routes, probe)
        if mount is None:
            return None
        mounts.append(mount[0])
        probe.update(mount[1])
        routes = getattr(mount[0], 'routes', None)
    return None


def _matching_mount(routes: object, probe: dict[str, Any]) -> tuple[object, Mapping[str, Any]] | None:
    if not isinstance(routes, Sequence):
        return None
    for route in cast('Sequence[Any]', routes):
        if not (hasattr(route, 'routes') and isinstance(getattr(route, 'path_format', None), str)):
            continue  # not a mount
        match, child = route.matches(probe)
        if getattr(match, 'name', None) == 'FULL' and isinstance(child, Mapping):
            return route, cast('Mapping[str, Any]', child)
    return None


def _mount_prefix(mount: object) -> str:
    path_format = str(getattr(mount, 'path_format', ''))
    return path_format[: -len(_MOUNT_SUFFIX)] if path_format.endswith(_MOUNT_SUFFIX) else path_format
