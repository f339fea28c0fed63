"""A unix-socket relay in front of a Docker engine that logs every request line it passes on.

usage: counting_unix_relay.py LISTEN_SOCKET UPSTREAM_SOCKET LOG_FILE

Bytes go both ways untouched (long-lived responses such as /events included); each request the
client sends is appended to LOG_FILE as "METHOD PATH" on a line of its own, so a test can count
what an agent asked the engine. Prints "ready" once listening.
"""
import os
import socket
import sys
import threading

listen_path, upstream_path, log_path = sys.argv[1:4]
log_lock = threading.Lock()


def pump(source, sink, on_bytes=None):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            if on_bytes:
                on_bytes(data)
            sink.sendall(data)
    except OSError:
        pass
    for end in (sink, source):
        try:
            end.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(client):
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(upstream_path)
    except OSError:
        client.close()
        return
    pending = bytearray()

    def requests(data):
        # GET requests carry no body: every header block ending in a blank line is one request.
        pending.extend(data)
        while b"\r\n\r\n" in pending:
            head, _, rest = bytes(pending).partition(b"\r\n\r\n")
            pending[:] = rest
            line = head.split(b"\r\n", 1)[0].decode("latin-1").rsplit(" ", 1)[0]
            with log_lock, open(log_path, "a") as log:
                log.write(line + "\n")

    threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
    pump(client, upstream, requests)


if os.path.exists(listen_path):
    os.unlink(listen_path)
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(listen_path)
server.listen(64)
open(log_path, "a").close()
print("ready", flush=True)
while True:
    connection, _ = server.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
