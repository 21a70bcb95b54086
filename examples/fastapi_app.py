"""A FastAPI app traced with `logfire.instrument_fastapi`.

Run it with `python examples/fastapi_app.py` and open http://127.0.0.1:8000/users/42: the console shows the
request span `GET /users/42` (named `GET /users/{user_id}`), with the parsed arguments on it, the span made
inside the endpoint and, inside that, the sqlite3 query `SELECT name FROM users WHERE id = ?`. `/health` is
excluded; `/users/abc` is a 422 at warning level, with the validation error.
"""

from __future__ import annotations

import sqlite3

import uvicorn
from fastapi import FastAPI

import logfire

logfire.configure()
app = FastAPI()

# An in-memory database; the queries made through the traced connection are spans of their own.
setup = sqlite3.connect(':memory:', check_same_thread=False)
setup.execute('CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)')
setup.executemany('INSERT INTO users VALUES (?, ?)', [(i, f'user-{i}') for i in range(1, 101)])
db = logfire.instrument_sqlite3(setup)


@app.get('/users/{user_id}')
async def user(user_id: int) -> dict[str, int | str]:
    with logfire.span('loading user {user_id}', user_id=user_id):
        row = db.cursor().execute('SELECT name FROM users WHERE id = ?', (user_id,)).fetchone()
        name = row[0] if row else 'unknown'
    return {'id': user_id, 'name': name}


@app.get('/health')
async def health() -> str:
    logfire.info('health check')  # not recorded: the request is excluded
    return 'ok'


logfire.instrument_fastapi(app, excluded_urls='/health$')

if __name__ == '__main__':
    uvicorn.run(app, host='127.0.0.1', port=8000)
