// Command crasher prints a line and exits with status 1.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("crashing")
	os.Exit(1)
}
