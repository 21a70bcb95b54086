"""A FastAPI app traced with `logfire.instrument_fastapi`.

Run it with `python examples/fastapi_app.py` and open http://127.0.0.1:8000/users/42: the console shows the
request span `GET /users/42` (named `GET /users/{user_id}`), with the parsed arguments on it and the span made
inside the endpoint. `/health` is excluded; `/users/abc` is a 422 at warning level, with the validation error.
"""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

import logfire

logfire.configure()
app = FastAPI()


@app.get('/users/{user_id}')
async def user(user_id: int) -> dict[str, int | str]:
    with logfire.span('loading user {user_id}', user_id=user_id):
        name = f'user-{user_id}'
    return {'id': user_id, 'name': name}


@app.get('/health')
async def health() -> str:
    logfire.info('health check')  # not recorded: the request is excluded
    return 'ok'


logfire.instrument_fastapi(app, excluded_urls='/health$')

if __name__ == '__main__':
    uvicorn.run(app, host='127.0.0.1', port=8000)
