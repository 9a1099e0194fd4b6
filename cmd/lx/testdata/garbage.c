// garbage: every syscall number with garbage arguments, each number in its
// own child (with an alarm), so lx's servers see bad pointers, bad flags and
// bad lengths for every call they serve. Calls that would end the test
// itself (exit, signals to others, reboot, blocking forever) are skipped.
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const int skip[] = {
	SYS_exit, SYS_exit_group, SYS_kill, SYS_tkill, SYS_tgkill, SYS_rt_sigqueueinfo,
	SYS_rt_tgsigqueueinfo, SYS_pidfd_send_signal, SYS_reboot, SYS_vfork, SYS_fork,
	SYS_clone, SYS_clone3, SYS_execve, SYS_execveat, SYS_pause, SYS_rt_sigsuspend,
	SYS_rt_sigreturn, SYS_vhangup, SYS_munmap, SYS_mremap, SYS_brk, SYS_madvise,
	SYS_mprotect, SYS_arch_prctl, SYS_set_tid_address, SYS_prctl, SYS_seccomp,
	SYS_setsid, SYS_setpgid, SYS_ptrace, SYS_process_vm_writev, SYS_close_range,
	SYS_rt_sigaction, SYS_sigaltstack, SYS_rseq, SYS_set_robust_list, SYS_unshare,
	SYS_process_madvise, SYS_personality, SYS_setrlimit, SYS_prlimit64,
};

int main(void) {
	srand(42);
	static char stackbuf[8192];
	uint64_t pool[] = {0, 1, 2, 7, 64, 4096, (uint64_t)-1, (uint64_t)-100, 0x1000, 0xdeadbeef,
		0x7fffffffffff, (uint64_t)stackbuf, (uint64_t)stackbuf + 4000, 0x80000000, 0xffffffff00000000};
	int n = sizeof pool / sizeof pool[0];
	for (long nr = 0; nr < 480; nr++) {
		int skipped = 0;
		for (unsigned i = 0; i < sizeof skip / sizeof skip[0]; i++)
			if (skip[i] == nr)
				skipped = 1;
		if (skipped)
			continue;
		pid_t pid = fork();
		if (pid == 0) {
			alarm(1);
			for (int it = 0; it < 30; it++) {
				uint64_t a[6];
				for (int j = 0; j < 6; j++)
					a[j] = pool[rand() % n];
				syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
			}
			_exit(0);
		}
		int st;
		waitpid(pid, &st, 0);
	}
	printf("garbage done\n");
	return 0;
}
