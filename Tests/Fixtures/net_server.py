"""Network test server: accepts one connection, reads until EOF, answers <reply bytes>, closes.

usage: net_server.py <bind host> <reply bytes>   prints the port it listens on
"""
import socket
import sys

host, reply = sys.argv[1], int(sys.argv[2])
server = socket.socket()
server.bind((host, 0))
server.listen(1)
print(server.getsockname()[1], flush=True)
connection, _ = server.accept()
while connection.recv(65536):
    pass
chunk = b"y" * 65536
remaining = reply
while remaining > 0:
    connection.sendall(chunk[: min(remaining, len(chunk))])
    remaining -= min(remaining, len(chunk))
connection.close()
