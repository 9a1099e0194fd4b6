# A unix socket server and client in two processes (guest or host): the
# client passes an open file with SCM_RIGHTS and its credentials with
# SCM_CREDENTIALS; the server reads the file through the passed fd and
# checks the credentials (and SO_PEERCRED for connected types) against the
# pid and ids the client says it has.
#   unixfd.py serve stream|dgram|seqpacket PATH        one client, print what came
#   unixfd.py client stream|dgram|seqpacket PATH FILE  pass FILE's fd
# PATH "@name" is an abstract name.
import os, socket, struct, sys

mode, kind, path = sys.argv[1], sys.argv[2], sys.argv[3]
name = b"\0" + path[1:].encode() if path.startswith("@") else path
types = {"stream": socket.SOCK_STREAM, "dgram": socket.SOCK_DGRAM, "seqpacket": socket.SOCK_SEQPACKET}
s = socket.socket(socket.AF_UNIX, types[kind])
if mode == "serve":
    s.bind(name)
    conn = s
    if kind == "dgram":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        print("listening", flush=True)
    else:
        s.listen(1)
        print("listening", flush=True)
        conn, _ = s.accept()
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    msg, anc, flags, _ = conn.recvmsg(64, socket.CMSG_SPACE(4 * 4) + socket.CMSG_SPACE(12))
    fds, cred = [], None
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds += list(struct.unpack("%di" % (len(data) // 4), data))
        if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
            cred = struct.unpack("iII", data)
    pid, uid, gid = (int(x) for x in msg.decode().split())
    assert len(fds) == 1, anc
    content = os.read(fds[0], 100).decode().strip()
    assert cred == (pid, uid, gid), (cred, pid, uid, gid)
    if kind != "dgram":
        peer = struct.unpack("iII", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        assert peer == (pid, uid, gid), (peer, pid, uid, gid)
    print("got fd reading %r; credentials match pid %d uid %d" % (content, pid, uid))
else:
    fd = os.open(sys.argv[4], os.O_RDONLY)
    me = (os.getpid(), os.getuid(), os.getgid())
    anc = [
        (socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd)),
        (socket.SOL_SOCKET, socket.SCM_CREDENTIALS, struct.pack("iII", *me)),
    ]
    if kind == "dgram":
        s.sendmsg([b"%d %d %d" % me], anc, 0, name)
    else:
        s.connect(name)
        s.sendmsg([b"%d %d %d" % me], anc)
    s.close()
    print("client sent")
