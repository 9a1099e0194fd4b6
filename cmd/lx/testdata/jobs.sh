#!/bin/bash
# Job control in a script (set -m): each job is a process group of its own,
# stopped and continued jobs, kill %N, wait for a job's status, fg.
set -m
pstat() { ps -o stat= -p "$1" | cut -c1; }
pgid() { ps -o pgid= -p "$1" | tr -d ' '; }
sleep 100 &
a=$!
sleep 100 | cat &
b=$!
[ "$(pgid $a)" = "$a" ] && echo "job 1 leads its own group"
[ "$(pgid $b)" != "$a" ] && [ "$(pgid $b)" != "$$" ] && echo "job 2 has another group"
[ "$(pgid $$)" = "$$" ] || echo "the script's group: $(pgid $$) $$"
jobs | sed 's/ *$//'
kill -STOP %1
for i in $(seq 100); do [ "$(pstat $a)" = T ] && break; sleep 0.05; done
echo "after STOP: $(pstat $a)"
kill -CONT %1
for i in $(seq 100); do [ "$(pstat $a)" = S ] && break; sleep 0.05; done
echo "after CONT: $(pstat $a)"
kill %2
wait $b
echo "job 2 status $?"
kill -INT -- -$a
wait $a
echo "job 1 status $?"
(sleep 0.2; exit 3) &
fg %1 >/dev/null 2>&1
echo "fg status $?"
(sleep 0.1; exit 4) &
wait -n
echo "wait -n status $?"
trap 'echo got USR1' USR1
kill -USR1 $$
kill -0 $$ && echo "still here"
jobs
echo done
