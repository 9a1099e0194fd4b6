package main

// A multi-threaded Go program: goroutines on every thread, locked threads
// with their own tids, a signal delivered to the process, a child process,
// and a thread that execs nothing but exits while others run.

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
)

func main() {
	runtime.GOMAXPROCS(4)
	var mu sync.Mutex
	tids := map[int]bool{}
	var wg sync.WaitGroup
	total := make([]int, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // each of these is a thread of its own until it returns
			mu.Lock()
			tids[syscall.Gettid()] = true
			mu.Unlock()
			for j := range 200000 {
				total[i] += j % 5
			}
		}()
	}
	wg.Wait()
	sum := 0
	for _, v := range total {
		sum += v
	}
	fmt.Println("16 locked goroutines: distinct threads", len(tids) == 16, "sum", sum)
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	fmt.Println("signal", <-c)
	out, err := exec.Command("sh", "-c", "echo child of go; exit 3").Output()
	fmt.Printf("child %q %v\n", out, err)
	ch := make(chan int)
	for i := range 100 {
		go func() { ch <- i }()
	}
	n := 0
	for range 100 {
		n += <-ch
	}
	fmt.Println("channels", n)
	fmt.Println("done")
}
