"""The classic exercise's threaded model: one OS thread per accepted connection.

Run it (Python 3 standard library only; the port defaults to the exercise's 46000):

    python3 examples/python/thread_server.py 46000
    ab -n 1000 -c 5 http://127.0.0.1:46000/

It answers every request with the runtime-matrix spec's `GET /` body, `Hello, world!\n`
(HTTP/1.1, Content-Type, Content-Length: 14, Connection: close), then closes the connection.

The exercise (see the README, "The classic exercise, reproduced") benchmarked a
`Server_thread_http.py` on port 46000 with `ab -n 1000 -c 1..5` and got 1.3-2.7 requests per
second: its per-connection thread kept looping on a socket the client had already closed, a bug
of that server, not a cost of the model. This is a fresh, small rewrite of the model, not a
copy: the main thread accepts, and each connection gets a daemon thread that reads the request
head up to its blank line (however the client splits it), answers, closes and ends.
`examples/classic.toml` measures it beside the built-in variants. SIGTERM or Ctrl-C stops it
(exit 0).
"""

import signal
import socket
import sys
import threading

BODY = b"Hello, world!\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: %d\r\n"
    b"Connection: close\r\n"
    b"\r\n" % len(BODY)
) + BODY

HEADER_TIMEOUT = 10.0  # seconds per read of the request head, as the built-ins allow
MAX_HEAD = 64 * 1024  # a longer head is dropped


def handle(conn: socket.socket) -> None:
    """Serves one connection on its own thread: read the head, answer, close."""
    try:
        conn.settimeout(HEADER_TIMEOUT)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk or len(head) > MAX_HEAD:
                return  # the client left before its head was complete, or sent too much
            head += chunk
        conn.sendall(RESPONSE)
    except OSError:
        pass  # a timeout, a reset, a broken pipe: the client is gone
    finally:
        conn.close()


def main(port: int) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen(128)
        while True:
            try:
                conn, _ = server.accept()
            except ConnectionAbortedError:
                continue  # the client gave up while queued
            try:
                threading.Thread(target=handle, args=(conn,), daemon=True).start()
            except RuntimeError:
                conn.close()  # no thread to be had right now


if __name__ == "__main__":
    try:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 46000)
    except KeyboardInterrupt:
        pass
