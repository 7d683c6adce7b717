//go:build !linux && !darwin

package schema

// freeSpace is unknown here: Options.MinFreeSpace is not checked.
func freeSpace(string) (int64, bool) { return 0, false }
