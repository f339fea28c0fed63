"""Network test peer, run inside a network namespace.

usage: net_client.py <host> <port> <send bytes> <trigger file> <marker>
Prints "ready", waits until <trigger file> exists, sends <send bytes> to the server, reads until
the server closes (it answers with as many bytes as it was told), prints "done", then waits
to be killed so the sampler can still find it.
"""
import os
import socket
import sys
import time

host, port, send_bytes, trigger = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
print("ready", flush=True)
while not os.path.exists(trigger):
    time.sleep(0.01)
with socket.create_connection((host, port)) as connection:
    chunk = b"x" * 65536
    remaining = send_bytes
    while remaining > 0:
        connection.sendall(chunk[: min(remaining, len(chunk))])
        remaining -= min(remaining, len(chunk))
    connection.shutdown(socket.SHUT_WR)
    while connection.recv(65536):
        pass
print("done", flush=True)
while True:
    time.sleep(60)
