# A TCP echo server and client on 127.0.0.1 in one process tree.
import os, socket, sys, subprocess
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(4)
port = srv.getsockname()[1]
client = subprocess.Popen([sys.executable, "-c", f"""
import socket
s = socket.create_connection(("127.0.0.1", {port}))
for i in range(100):
    msg = b"ping %d" % i
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        got += s.recv(64)
    assert got == msg, got
s.close()
print("client ok")
"""])
conn, _ = srv.accept()
n = 0
while True:
    data = conn.recv(64)
    if not data:
        break
    n += len(data)
    conn.sendall(data)
assert client.wait() == 0
print("server echoed", n, "bytes")
