//go:build linux

// Command probe reports what a service can reach of the server: the file
// descriptors it inherited (read from /proc/self/fd before it opens any
// itself), its working directory, its environment, whether it can read
// its parent's (the server's) environment and the file PROBE_FILE names.
// Then it waits for SIGTERM.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	// Readlink opens no descriptor, so what it finds was inherited (or
	// opened by the Go runtime before main).
	var fds []string
	for fd := 0; fd < 1024; fd++ {
		target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		if err == nil {
			fds = append(fds, strconv.Itoa(fd)+"="+target)
		}
	}
	fmt.Println("probe fds:", strings.Join(fds, " "))
	wd, _ := os.Getwd()
	fmt.Println("probe cwd:", wd)
	env := os.Environ()
	sort.Strings(env)
	fmt.Println("probe env:", strings.Join(env, " "))
	if _, err := os.ReadFile("/proc/" + strconv.Itoa(os.Getppid()) + "/environ"); err != nil {
		fmt.Println("probe server environ: unreadable:", err)
	} else {
		fmt.Println("probe server environ: readable")
	}
	if path := os.Getenv("PROBE_FILE"); path != "" {
		if b, err := os.ReadFile(path); err != nil {
			fmt.Println("probe file: unreadable:", err)
		} else {
			fmt.Println("probe file: readable,", len(b), "bytes")
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
