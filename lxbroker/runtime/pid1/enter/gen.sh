#!/bin/sh
# Builds lx-enter (enter.c) for go:embed; run by go generate ./lxbroker/runtime/pid1.
set -e
cd "$(dirname "$0")"
${CC:-gcc} -static -nostdlib -nostartfiles -Os -ffreestanding -fno-tree-loop-distribute-patterns -fno-stack-protector -fno-asynchronous-unwind-tables \
	-fno-pie -no-pie -Wl,--build-id=none -Wl,-z,noexecstack -s -o lx-enter enter.c
