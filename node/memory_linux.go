package node

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"syscall"
)

// releaseBinaryPages unmaps the pages of this process's executable that
// are mapped read-only (code, read-only data, the function tables) with
// madvise(MADV_DONTNEED), returning how many bytes of mappings it advised.
// For a private mapping never written this only drops the page-table
// entries: the pages stay in the page cache, and the next touch maps them
// back from there (a minor fault, no disk read), so what an idle server
// runs comes back and what only starting ran is no longer counted as this
// process's. Writable mappings (the data segment, which the process has
// written) are left alone: advising those would lose their contents.
func releaseBinaryPages() (int64, error) {
	maps, err := binaryMappings()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, m := range maps {
		if m.writable {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, m.start, m.end-m.start, syscall.MADV_DONTNEED); errno != 0 {
			return n, fmt.Errorf("madvise %x-%x: %w", m.start, m.end, errno)
		}
		n += int64(m.end - m.start)
	}
	return n, nil
}

// mapping is one line of /proc/self/maps that maps the executable.
type mapping struct {
	start, end uintptr
	writable   bool
}

// binaryMappings lists the mappings of the file this process runs from:
// those of the same device and inode as the mapping holding this
// function's code, which holds whatever the executable's path is now
// (renamed, replaced or deleted since exec).
func binaryMappings() ([]mapping, error) {
	data, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	type line struct {
		start, end  uintptr
		perms, file string // file: "device inode"
	}
	var lines []line
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		// start-end perms offset device inode [path]
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || len(f[1]) < 4 {
			return nil, fmt.Errorf("/proc/self/maps: unexpected line %q", sc.Text())
		}
		lines = append(lines, line{uintptr(start), uintptr(end), f[1], f[3] + " " + f[4]})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	code := reflect.ValueOf(binaryMappings).Pointer()
	var file string
	for _, l := range lines {
		if l.start <= code && code < l.end {
			file = l.file
		}
	}
	if file == "" || strings.HasSuffix(file, " 0") {
		return nil, errors.New("/proc/self/maps: no file mapping holds this process's code")
	}
	var out []mapping
	for _, l := range lines {
		// Only private mappings: a shared one would be the file itself.
		if l.file == file && l.perms[3] == 'p' {
			out = append(out, mapping{l.start, l.end, l.perms[1] == 'w'})
		}
	}
	return out, nil
}
