// Command ticker prints a line every 100ms until SIGTERM.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	role := "ticker"
	if os.Getenv("TICKER_CHILD") == "1" {
		role = "child"
	}
	fmt.Printf("%s started pid=%d pgid=%d name=%s version=%s ns=%s proxy=%s network=%s instance=%s auth=%s client=%s foo=%s\n",
		role, os.Getpid(), syscall.Getpgrp(),
		os.Getenv("MICRO_SERVICE_NAME"), os.Getenv("MICRO_SERVICE_VERSION"), os.Getenv("MICRO_NAMESPACE"),
		os.Getenv("MICRO_PROXY"), os.Getenv("MICRO_SERVICE_NETWORK"), os.Getenv("MICRO_INSTANCE_ID"),
		os.Getenv("MICRO_AUTH_ID"), os.Getenv("MICRO_CLIENT_ID"), os.Getenv("FOO"))
	fmt.Fprintln(os.Stderr, role, "writes to stderr too")

	if role == "ticker" && os.Getenv("TICKER_SPAWN") == "1" {
		self, err := os.Executable()
		if err != nil {
			panic(err)
		}
		child := exec.Command(self)
		child.Env = append(os.Environ(), "TICKER_CHILD=1")
		child.Stdout, child.Stderr = os.Stdout, os.Stderr
		if err := child.Start(); err != nil {
			panic(err)
		}
		fmt.Printf("spawned child pid=%d\n", child.Process.Pid)
	}

	sig := make(chan os.Signal, 1)
	if os.Getenv("TICKER_IGNORE_TERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	}
	t := time.NewTicker(100 * time.Millisecond)
	for n := 1; ; n++ {
		select {
		case <-sig:
			fmt.Println(role, "stopping")
			return
		case <-t.C:
			fmt.Printf("%s tick %d\n", role, n)
		}
	}
}
