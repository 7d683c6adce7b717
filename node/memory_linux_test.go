package node

import (
	"bufio"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// dataWord lives in the executable's writable data segment (initialised,
// so mapped from the file): releasing must not reset it to the file's 7.
var dataWord int64 = 7

func TestReleaseBinaryPages(t *testing.T) {
	dataWord = 8
	maps, err := binaryMappings()
	if err != nil {
		t.Fatal(err)
	}
	var readOnly, writable int
	var size int64
	for _, m := range maps {
		if m.writable {
			writable++
		} else {
			readOnly++
			size += int64(m.end - m.start)
		}
	}
	// Go's linker writes a code, a read-only data and a data segment.
	if readOnly < 2 || writable < 1 {
		t.Fatalf("binary mappings %+v: want the code and read-only data, and the data segment", maps)
	}
	before := residentKB(t, maps)
	n, err := releaseBinaryPages()
	if err != nil {
		t.Fatal(err)
	}
	after := residentKB(t, maps)
	if n != size {
		t.Errorf("advised %d bytes, want the read-only mappings' %d", n, size)
	}
	// What runs between the two reads maps a little back; most of what the
	// test binary's start touched is gone.
	if after >= before/2 {
		t.Errorf("resident read-only pages of the binary: %d kB before, %d kB after; want less than half", before, after)
	}
	t.Logf("resident read-only pages of the binary: %d kB before, %d kB after", before, after)

	if dataWord != 8 {
		t.Errorf("a variable in the data segment reads %d after the release, want the 8 written before", dataWord)
	}
	// Code and tables come back on use: a regexp compiles and matches,
	// a panic unwinds and is recovered.
	if !regexp.MustCompile(`^(release)+d$`).MatchString("releasereleased") {
		t.Error("regexp no longer matches after the release")
	}
	func() {
		defer func() {
			if r := recover(); r == nil {
				t.Error("no panic recovered")
			}
		}()
		var m map[string]int
		m["x"] = 1
	}()
}

// residentKB sums the Rss of the read-only mappings among maps, from
// /proc/self/smaps.
func residentKB(t *testing.T, maps []mapping) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	readOnly := map[uintptr]bool{}
	for _, m := range maps {
		if !m.writable {
			readOnly[m.start] = true
		}
	}
	var total int64
	counting := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if lo, _, ok := strings.Cut(strings.Fields(line)[0], "-"); ok {
			start, err := strconv.ParseUint(lo, 16, 64)
			counting = err == nil && readOnly[uintptr(start)]
			continue
		}
		if v, ok := strings.CutPrefix(line, "Rss:"); counting && ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("smaps: %q: %v", line, err)
			}
			total += kb
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}
