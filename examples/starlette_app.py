"""A Starlette app traced with `logfire.instrument_asgi` as a middleware factory.

Run it with `python examples/starlette_app.py` and open http://127.0.0.1:8000/users/42: the console
shows the request span `GET /users/42` with the span made inside the endpoint. `/health` is excluded.
"""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

import logfire

logfire.configure()


async def user(request: Request) -> JSONResponse:
    user_id = int(request.path_params['user_id'])
    with logfire.span('loading user {user_id}', user_id=user_id):
        name = f'user-{user_id}'
    return JSONResponse({'id': user_id, 'name': name})


async def health(request: Request) -> PlainTextResponse:
    logfire.info('health check')  # not recorded: the request is excluded
    return PlainTextResponse('ok')


app = Starlette(
    routes=[Route('/users/{user_id:int}', user), Route('/health', health)],
    middleware=[Middleware(logfire.instrument_asgi, excluded_urls='/health$')],
)

if __name__ == '__main__':
    uvicorn.run(app, host='127.0.0.1', port=8000)
