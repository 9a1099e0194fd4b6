# Python processes: multiprocessing with fork and with spawn (pools, queues,
# pipes, exit codes, terminate), subprocess pipelines and signals.
import multiprocessing as mp
import os
import signal
import subprocess
import sys


def square(x):
    return x * x


def child(q, n):
    q.put((n, os.getppid() == parent))


def crash():
    os.kill(os.getpid(), signal.SIGSEGV)


def run(method):
    ctx = mp.get_context(method)
    with ctx.Pool(2) as pool:
        print(method, "pool", sum(pool.map(square, range(100))))
    q = ctx.Queue()
    ps = [ctx.Process(target=child, args=(q, i)) for i in range(4)]
    for p in ps:
        p.start()
    got = sorted(q.get() for _ in ps)
    for p in ps:
        p.join()
    print(method, "queue", got, [p.exitcode for p in ps])
    p = ctx.Process(target=crash)
    p.start()
    p.join()
    print(method, "crash exitcode", p.exitcode)
    p = ctx.Process(target=signal.pause)
    p.start()
    p.terminate()
    p.join()
    print(method, "terminate exitcode", p.exitcode)
    a, b = ctx.Pipe()
    p = ctx.Process(target=square, args=(3,))
    p.start()
    p.join()
    a.send("ping")
    print(method, "pipe", b.recv(), p.exitcode)


parent = os.getpid()
if __name__ == "__main__":
    for m in ("fork", "spawn", "forkserver"):
        run(m)
    # a subprocess pipeline: producer | sort | uniq -c
    p1 = subprocess.Popen(["sh", "-c", "for i in 3 1 2 3 1 3; do echo $i; done"], stdout=subprocess.PIPE)
    p2 = subprocess.Popen(["sort"], stdin=p1.stdout, stdout=subprocess.PIPE)
    p3 = subprocess.Popen(["uniq", "-c"], stdin=p2.stdout, stdout=subprocess.PIPE, text=True)
    p1.stdout.close()
    p2.stdout.close()
    out = p3.communicate()[0]
    print("pipeline", " ".join(out.split()), p1.wait(), p2.wait(), p3.returncode)
    r = subprocess.run("set -o pipefail; yes | head -3 | wc -l", shell=True, executable="/bin/bash", capture_output=True, text=True)
    print("pipefail with SIGPIPE", r.stdout.strip(), r.returncode)
    r = subprocess.run(["sh", "-c", "kill -TERM $$"])
    print("subprocess killed", r.returncode)
    try:
        subprocess.run(["sleep", "10"], timeout=0.2)
    except subprocess.TimeoutExpired:
        print("timeout kills the child")
    r = subprocess.run([sys.executable, "-c", "import os; print(os.getppid() > 0)"], capture_output=True, text=True)
    print("python child", r.stdout.strip(), r.returncode)
    print("done")
