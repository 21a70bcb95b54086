"""Two services, one trace: `frontend` calls `backend` with an instrumented httpx client.

    uvicorn distributed_services:backend --port 8001
    BACKEND_URL=http://127.0.0.1:8001 uvicorn distributed_services:frontend --port 8000
    curl http://127.0.0.1:8000/

The frontend's client span sends `traceparent`; the backend's server span is its child, in the same trace.
"""

import os

import httpx

import logfire

BACKEND_URL = os.environ.get('BACKEND_URL', 'http://127.0.0.1:8001')

logfire.configure()
logfire.instrument_httpx()  # every client: each request is a client span and carries the trace


async def _frontend(scope, receive, send):
    assert scope['type'] == 'http'
    with logfire.span('asking the backend'):
        async with httpx.AsyncClient(timeout=10) as client:
            reply = await client.get(f'{BACKEND_URL}/work')
    await _respond(send, reply.status_code, reply.content)


async def _backend(scope, receive, send):
    assert scope['type'] == 'http'
    logfire.info('working on {path}', path=scope['path'])
    await _respond(send, 200, b'done')


async def _respond(send, status, body):
    await send({'type': 'http.response.start', 'status': status, 'headers': [(b'content-type', b'text/plain')]})
    await send({'type': 'http.response.body', 'body': body})


frontend = logfire.instrument_asgi(_frontend)
backend = logfire.instrument_asgi(_backend)
