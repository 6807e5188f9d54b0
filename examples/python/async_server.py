"""The classic exercise's async model: one asyncio coroutine per connection.

Run it (Python 3 standard library only; the port defaults to the exercise's 45000):

    python3 examples/python/async_server.py 45000
    ab -n 1000 -c 5 http://127.0.0.1:45000/

It answers every request with the runtime-matrix spec's `GET /` body, `Hello, world!\n`
(HTTP/1.1, Content-Type, Content-Length: 14, Connection: close), then closes the connection.

The exercise (see the README, "The classic exercise, reproduced") benchmarked a
`Server_async_http.py` on port 45000 with `ab -n 1000 -c 1..5`. This is a fresh, small
rewrite of that model, not a copy: it reads the request head up to its blank line (however the
client splits it), sends a correctly framed answer with no bytes after the body, and survives
clients that go away early. `examples/classic.toml` measures it beside the built-in variants.
SIGTERM or Ctrl-C stops it (exit 0).
"""

import asyncio
import signal
import sys

BODY = b"Hello, world!\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: %d\r\n"
    b"Connection: close\r\n"
    b"\r\n" % len(BODY)
) + BODY

HEADER_TIMEOUT = 10.0  # seconds for the whole request head, as the built-ins allow
MAX_HEAD = 64 * 1024  # a longer head is dropped


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Serves one connection: read the head, answer, close."""
    try:
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEADER_TIMEOUT)
        writer.write(RESPONSE)
        await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, OSError):
        pass  # the client left early, sent too much, or too slowly: just close
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


async def main(port: int) -> None:
    server = await asyncio.start_server(
        handle, "127.0.0.1", port, backlog=128, reuse_address=True, limit=MAX_HEAD
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 45000))
