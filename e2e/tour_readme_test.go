//go:build unix

package e2e

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// The README's tour as a script. Its `console` blocks between "## A tour"
// and the next "## " heading are transcripts:
//
//   - a line starting with "$ " is a command, run with sh -c;
//   - the lines under it, up to the next command, are what it prints
//     (stdout and stderr as a terminal shows them), then what the commands
//     started with "&" print meanwhile, which may come later and among
//     other lines;
//   - lines are compared with runs of spaces and tabs as one space;
//   - "..." in a line stands for any text; a line of only "..." for any
//     number of lines.
//
// The test keeps what a shell would between commands: `export X=...` and
// `X=$(...)` set variables, `cd dir && ...` moves, `cmd &` starts a job,
// and `kill %N` ends job N (numbered as bash does: the lowest number above
// every running job). It runs from a temporary directory (where bin/micro
// is the binary under test) against a server on free loopback ports, so
// before running a command it replaces ":8080" and ":8081" with the
// server's ports (in the expected lines too), "./testdata/" with this
// repository's, and "go run " with "go run -C <repository> ", as go run
// needs the module. grpcurl lines are skipped when grpcurl is not
// installed.

// tourStep is one command of the tour and the lines it should print.
type tourStep struct {
	line   int // of the command in README.md, 1-based
	cmd    string
	expect []string
}

// readTour returns the steps of README.md's tour in order.
func readTour(path string) ([]tourStep, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		steps            []tourStep
		inTour, inBlock  bool
		n                int
		sc               = bufio.NewScanner(f)
		sawTour, sawCons bool
	)
	for sc.Scan() {
		n++
		text := sc.Text()
		switch {
		case strings.HasPrefix(text, "## "):
			inTour = text == "## A tour"
			sawTour = sawTour || inTour
			continue
		case !inTour:
			continue
		case !inBlock && strings.TrimSpace(text) == "```console":
			inBlock, sawCons = true, true
			continue
		case inBlock && strings.TrimSpace(text) == "```":
			inBlock = false
			continue
		case !inBlock:
			continue
		}
		if cmd, ok := strings.CutPrefix(text, "$ "); ok {
			steps = append(steps, tourStep{line: n, cmd: cmd})
			continue
		}
		if len(steps) == 0 {
			return nil, fmt.Errorf("%s:%d: output before any command", path, n)
		}
		last := &steps[len(steps)-1]
		last.expect = append(last.expect, text)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !sawTour || !sawCons {
		return nil, fmt.Errorf("%s: no console blocks under \"## A tour\"", path)
	}
	return steps, nil
}

// normalize makes one space of each run of blanks and trims the ends.
func normalize(s string) string { return strings.Join(strings.Fields(s), " ") }

var linePatterns sync.Map // pattern -> *regexp.Regexp

// lineMatches reports whether text is what pattern shows, "..." standing
// for any text.
func lineMatches(pattern, text string) bool {
	pattern, text = normalize(pattern), normalize(text)
	re, ok := linePatterns.Load(pattern)
	if !ok {
		parts := strings.Split(pattern, "...")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		re, _ = linePatterns.LoadOrStore(pattern, regexp.MustCompile(`^`+strings.Join(parts, `.*`)+`$`))
	}
	return re.(*regexp.Regexp).MatchString(text)
}

// isAny is a line of only "...": any number of lines.
func isAny(pattern string) bool { return normalize(pattern) == "..." }

// linesMatch reports whether got, all of it, is what want shows.
func linesMatch(want, got []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if isAny(want[0]) {
		for i := 0; i <= len(got); i++ {
			if linesMatch(want[1:], got[i:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && lineMatches(want[0], got[0]) && linesMatch(want[1:], got[1:])
}

// ownLines is how many of want the command's own output accounts for: the
// longest head of want that matches all of got; -1 when none does.
func ownLines(want, got []string) int {
	for k := len(want); k >= 0; k-- {
		if linesMatch(want[:k], got) {
			return k
		}
	}
	return -1
}

// splitLines splits output into lines, without a last empty one.
func splitLines(out string) []string {
	out = strings.TrimRight(out, "\n")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// jobOutput is what the background jobs print, in the order it arrives, as
// a terminal shows it; next is the first line not yet matched.
type jobOutput struct {
	mu    sync.Mutex
	lines []string
	next  int
	added chan struct{} // closed and replaced on every line
}

func newJobOutput() *jobOutput { return &jobOutput{added: make(chan struct{})} }

func (o *jobOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	// Whole lines only: a job writes each line in one write here (they
	// are line-buffered CLIs and loggers); a partial one waits.
	for _, l := range strings.SplitAfter(string(p), "\n") {
		if l == "" {
			continue
		}
		o.lines = append(o.lines, strings.TrimRight(l, "\r\n"))
	}
	close(o.added)
	o.added = make(chan struct{})
	return len(p), nil
}

// await waits until a line from next on matches pattern, and moves next
// past it; the lines skipped are other output of the jobs.
func (o *jobOutput) await(pattern string, within time.Duration) bool {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		for i := o.next; i < len(o.lines); i++ {
			if lineMatches(pattern, o.lines[i]) {
				o.next = i + 1
				o.mu.Unlock()
				return true
			}
		}
		added := o.added
		o.mu.Unlock()
		select {
		case <-added:
		case <-deadline.C:
			return false
		}
	}
}

// unmatched is the jobs' output from next on, for a failure message.
func (o *jobOutput) unmatched() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.lines[o.next:], "\n")
}
