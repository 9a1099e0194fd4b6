# A unix stream server and client in two processes (guest or host): the
# client passes an open file with SCM_RIGHTS and its credentials with
# SCM_CREDENTIALS; the server reads the file through the passed fd and
# checks the credentials against the pid the client says it has.
#   unixfd.py serve PATH            accept one client, print what came
#   unixfd.py client PATH FILE      pass FILE's fd
import os, socket, struct, sys

mode, path = sys.argv[1], sys.argv[2]
name = b"\0" + path[1:].encode() if path.startswith("@") else path
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
if mode == "serve":
    s.bind(name)
    s.listen(1)
    print("listening", flush=True)
    conn, _ = s.accept()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    msg, anc, flags, _ = conn.recvmsg(64, socket.CMSG_SPACE(4 * 4) + socket.CMSG_SPACE(12))
    fds, cred = [], None
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += list(struct.unpack("%di" % (len(data) // 4), data))
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            cred = struct.unpack("iII", data)
    pid, uid, gid = (int(x) for x in msg.decode().split())
    assert len(fds) == 1, anc
    content = os.read(fds[0], 100).decode().strip()
    assert cred == (pid, uid, gid), (cred, pid, uid, gid)
    peer = struct.unpack("iII", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    assert peer == (pid, uid, gid), (peer, pid, uid, gid)
    print("got fd reading %r; credentials match pid %d uid %d" % (content, pid, uid))
else:
    s.connect(name)
    fd = os.open(sys.argv[3], os.O_RDONLY)
    me = (os.getpid(), os.getuid(), os.getgid())
    s.sendmsg([b"%d %d %d" % me], [
        (socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd)),
        (socket.SOL_SOCKET, socket.SCM_CREDENTIALS, struct.pack("iII", *me)),
    ])
    s.close()
    print("client sent")
