#!/bin/sh
# chaos.sh MODE [PORT]: one workload loop of the chaos test (chaos_test.go),
# run under lx in the test's directory. It loops until ./stop exists and
# prints "ok MODE N TIME" after each iteration whose output was checked and
# right, "FAIL MODE N TIME WHY" otherwise, then "done MODE N".
mode=$1 port=$2
i=0
say() { echo "$1 $mode $i $(date +%s.%N) $2"; }
check() { if [ $? -eq 0 ]; then say ok; else say FAIL "$1"; fi; }
case $mode in
make) # make -j2 of the C project, its program's output compared
	rm -rf make.d && cp -r cproj make.d && cd make.d || exit 1
	while [ ! -e ../stop ]; do
		i=$((i + 1))
		make -s clean >/dev/null 2>&1
		make -s -j2 >make.log 2>&1 && ./proj >out 2>&1 && cmp -s out ../make.expected
		check "$(tail -c 300 make.log out | tr '\n' ' ')"
	done ;;
server) # the HTTP server the client loop fetches from
	python3 -m http.server "$port" --bind 127.0.0.1 --directory www >server.log 2>&1 &
	pid=$!
	# Serve until the client loop has stopped too.
	while [ ! -e client.done ]; do
		kill -0 $pid 2>/dev/null || { say FAIL "the server died: $(tail -c 300 server.log | tr '\n' ' ')"; exit 1; }
		sleep 0.2
	done
	kill $pid; wait $pid ;;
client) # fetch a 256 KiB file from the server, compared byte for byte
	while [ ! -e stop ]; do
		i=$((i + 1))
		rm -f got
		curl -v -sS --max-time 20 --retry 0 -o got "http://127.0.0.1:$port/blob" 2>client.err && cmp -s got www/blob
		check "$(grep -E '^\* (Immediate|Failed|Could|connect)|^curl' client.err | tr '\n' ' ')"
	done
	touch client.done ;;
git) # a commit loop: each commit's message and content read back
	rm -rf repo && git init -q repo && cd repo || exit 1
	while [ ! -e ../stop ]; do
		i=$((i + 1))
		echo "$i" >f
		git add f && git -c user.name=lx -c user.email=lx@lx commit -q -m "c$i" >git.log 2>&1 &&
			[ "$(git log -1 --format=%s)" = "c$i" ] && [ "$(git show HEAD:f)" = "$i" ]
		check "$(tail -c 300 git.log | tr '\n' ' ')"
	done
	git fsck --no-progress >fsck.log 2>&1 || say FAIL "git fsck: $(tail -c 300 fsck.log | tr '\n' ' ')" ;;
tar) # unpack an archive and check every file's sha256
	while [ ! -e stop ]; do
		i=$((i + 1))
		rm -rf x && mkdir x && tar xf data.tar --no-same-owner -C x 2>tar.err && (cd x && sha256sum -c --quiet ../data.sums >../sum.err 2>&1)
		check "$(cat tar.err sum.err | tail -c 300 | tr '\n' ' ')"
	done ;;
*) echo "chaos.sh: unknown mode $mode" >&2; exit 2 ;;
esac
echo "done $mode $i"
