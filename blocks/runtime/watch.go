package runtime

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"micro.dev/micro/blocks/runtime/source"
)

// watcher watches a source tree and calls onChange once its files have been
// quiet for delay after a change: an editor's save is a burst of events
// (temp file, rename, chmod), and so is a git checkout.
type watcher struct {
	root     string
	ignore   []string // absolute paths left out, with what is below them
	fsw      *fsnotify.Watcher
	delay    time.Duration
	onChange func()
	onError  func(error)
	done     chan struct{}
	wg       sync.WaitGroup
}

// watch starts watching root for the unit; failing to watch is noted in
// the logs, not fatal: the service still runs.
func (u *unit) watch(root string) {
	w, err := newWatcher(root, u.r.ignore, u.r.cfg.WatchDelay, func() {
		u.r.logs.note(u.key, "", "[runtime] source changed; rebuilding")
		u.changed()
	}, func(err error) {
		u.r.logs.note(u.key, "", "[runtime] watching the source: "+err.Error())
	})
	if err != nil {
		u.r.logs.note(u.key, "", "[runtime] cannot watch "+root+" for changes: "+err.Error())
		return
	}
	u.watcher = w
}

func newWatcher(root string, ignore []string, delay time.Duration, onChange func(), onError func(error)) (*watcher, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &watcher{root: root, ignore: ignore, fsw: fsw, delay: delay, onChange: onChange, onError: onError, done: make(chan struct{})}
	if err := w.addTree(root); err != nil {
		fsw.Close()
		return nil, err
	}
	w.wg.Go(w.loop)
	return w, nil
}

// addTree watches dir and every directory below it, except ignored ones.
func (w *watcher) addTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil // vanished meanwhile
		}
		if !d.IsDir() {
			return nil
		}
		if p != dir && (ignoredDir(d.Name()) || w.ignored(p)) {
			return filepath.SkipDir
		}
		return w.fsw.Add(p)
	})
}

func (w *watcher) loop() {
	var timer *time.Timer
	var fire <-chan time.Time
	for {
		select {
		case <-w.done:
			if timer != nil {
				timer.Stop()
			}
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			if !w.relevant(ev) {
				continue
			}
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					w.addTree(ev.Name) // a new directory, and whatever is already in it
				}
			}
			if timer == nil {
				timer = time.NewTimer(w.delay)
			} else {
				timer.Reset(w.delay)
			}
			fire = timer.C
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			w.onError(err)
		case <-fire:
			fire = nil
			w.onChange()
		}
	}
}

// relevant filters out events that cannot change the build: attribute
// changes, editor temp files, and paths in ignored directories.
func (w *watcher) relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	if ignoredFile(filepath.Base(ev.Name)) || w.ignored(ev.Name) {
		return false
	}
	rel, err := filepath.Rel(w.root, ev.Name)
	if err != nil {
		return false
	}
	for _, part := range strings.Split(filepath.ToSlash(rel), "/") {
		if ignoredDir(part) {
			return false
		}
	}
	return true
}

// ignored reports whether p is, or is below, a path the watcher leaves out.
func (w *watcher) ignored(p string) bool {
	for _, ig := range w.ignore {
		if p == ig || strings.HasPrefix(p, ig+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// watching reports whether dir is watched.
func (w *watcher) watching(dir string) bool {
	for _, p := range w.fsw.WatchList() {
		if p == dir {
			return true
		}
	}
	return false
}

func (w *watcher) close() {
	close(w.done)
	w.fsw.Close()
	w.wg.Wait()
}

// ignoredDir: version control, dependency directories, and hidden ones
// (.idea, .vscode, .cache).
func ignoredDir(name string) bool {
	return source.Skip(name) || name == "vendor" || (strings.HasPrefix(name, ".") && name != "." && name != "..")
}

// ignoredFile: editor temp and backup files (vim's 4913 probe, .x.swp,
// x~, emacs's #x# and .#x), and other hidden files.
func ignoredFile(name string) bool {
	return name == "4913" || strings.HasSuffix(name, "~") || strings.HasPrefix(name, ".") ||
		(strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#")) ||
		strings.HasSuffix(name, ".swp") || strings.HasSuffix(name, ".swx") || strings.HasSuffix(name, ".tmp")
}
