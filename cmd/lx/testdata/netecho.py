# TCP or UDP echo over IPv4 or IPv6: one server, one client, in any two
# processes (guest or host).
#   netecho.py serve tcp|udp HOST PORTFILE   bind HOST:0, write the port, echo one client
#   netecho.py client tcp|udp HOST PORT      100 messages, each echoed back
# The TCP client sets and reads back TCP_NODELAY, checks getpeername and
# ends with shutdown(SHUT_WR); the UDP client alternates sendto and sendmsg
# with the server's address.
import os, socket, sys

mode, proto, host = sys.argv[1:4]
family = socket.AF_INET6 if ":" in host else socket.AF_INET
kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
s = socket.socket(family, kind)
if mode == "serve":
    s.bind((host, 0))
    if kind == socket.SOCK_STREAM:
        s.listen(4)
    tmp = sys.argv[4] + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(s.getsockname()[1]))
    os.rename(tmp, sys.argv[4])
    n = 0
    if kind == socket.SOCK_STREAM:
        conn, peer = s.accept()
        while True:
            data = conn.recv(4096)
            if not data:
                break
            n += len(data)
            conn.sendall(data)
    else:
        while True:
            data, peer = s.recvfrom(4096)
            if data == b"quit":
                break
            n += len(data)
            s.sendto(data, peer)
    print("served", n, "bytes")
else:
    port = int(sys.argv[4])
    s.settimeout(20)
    if kind == socket.SOCK_STREAM:
        s.connect((host, port))
        assert s.getpeername()[1] == port, s.getpeername()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    for i in range(100):
        msg = b"ping %d" % i
        if kind == socket.SOCK_STREAM:
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                got += s.recv(64)
        else:
            if i % 2:
                s.sendmsg([msg], [], 0, (host, port))
            else:
                s.sendto(msg, (host, port))
            got, _ = s.recvfrom(64)
        assert got == msg, (got, msg)
    if kind == socket.SOCK_DGRAM:
        s.sendto(b"quit", (host, port))
    else:
        s.shutdown(socket.SHUT_WR)
        assert s.recv(64) == b""  # the server saw the end and closed
    s.close()
    print("client ok")
