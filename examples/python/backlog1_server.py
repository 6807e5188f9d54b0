#!/usr/bin/env python3
"""The classic exercise's kind of async server, at its most fragile: one thread, an event loop
(selectors, as asyncore was), and a listen backlog of 1. It answers GET with the spec's 14-byte
body `Hello, world!` and `Connection: close`, then closes.

With listen(1) the kernel holds at most two finished handshakes for it; a third connect at once
has its SYN dropped and sent again a second later. That is what `examples/classic.toml`'s
`python-backlog1` variant, and `harness load -c 5` against it, show (the load generator counts
the listen overflows and SYN retransmits in each cell's notes).

Run it: python3 examples/python/backlog1_server.py 45007
"""

import selectors
import socket
import sys

BODY = b"Hello, world!\n"
ANSWER = (
    b"HTTP/1.0 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
    b"Connection: close\r\n\r\n" % len(BODY)
) + BODY

selector = selectors.DefaultSelector()


class Connection:
    def __init__(self, sock):
        self.sock, self.request, self.answer = sock, b"", None


def accept(listener):
    # One accept per readiness, as asyncore's handle_accept did.
    try:
        sock, _ = listener.accept()
    except (BlockingIOError, InterruptedError, ConnectionAbortedError):
        return
    sock.setblocking(False)
    selector.register(sock, selectors.EVENT_READ, Connection(sock))


def close(connection):
    selector.unregister(connection.sock)
    connection.sock.close()


def serve(connection, mask):
    if mask & selectors.EVENT_READ and connection.answer is None:
        try:
            data = connection.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return close(connection)
        if not data:
            return close(connection)
        connection.request += data
        if b"\r\n\r\n" in connection.request:
            connection.answer = ANSWER
            selector.modify(connection.sock, selectors.EVENT_WRITE, connection)
        return
    if mask & selectors.EVENT_WRITE and connection.answer:
        try:
            sent = connection.sock.send(connection.answer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return close(connection)
        connection.answer = connection.answer[sent:]
        if not connection.answer:
            close(connection)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 45007
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(1)
    listener.setblocking(False)
    selector.register(listener, selectors.EVENT_READ, None)
    print(f"listening on http://127.0.0.1:{listener.getsockname()[1]}", flush=True)
    while True:
        for key, mask in selector.select():
            if key.data is None:
                accept(listener)
            else:
                serve(key.data, mask)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
