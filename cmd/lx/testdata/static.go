package main

import (
	"fmt"
	"os"
	"sync"
)

// A static Go program: goroutines on several threads, file I/O, a child.
func main() {
	var wg sync.WaitGroup
	sums := make([]int, 8)
	for i := range sums {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100000; j++ {
				sums[i] += j % 7
			}
		}()
	}
	wg.Wait()
	if err := os.WriteFile("go-out.txt", []byte(fmt.Sprint(sums[0])), 0o644); err != nil {
		panic(err)
	}
	b, err := os.ReadFile("go-out.txt")
	if err != nil {
		panic(err)
	}
	fmt.Println("static go ok", string(b))
}
