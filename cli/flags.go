package cli

import (
	"flag"
	"strconv"
)

// alias registers short (or alternative) names for the flag long, sharing
// its value; help shows them on one line.
func alias(fs *flag.FlagSet, long string, names ...string) {
	f := fs.Lookup(long)
	for _, n := range names {
		fs.Var(f.Value, n, f.Usage)
	}
}

// interspersed parses the flags found among args with fs and returns the
// positional arguments in order. Everything after "--" is positional, and so
// is a negative number, so `micro store write n -1` stores "-1".
//
// Go's flag package stops at the first positional argument; this picks up
// where it stopped. A "--" already consumed by the first pass is not seen
// here, so flags after it are still parsed: a rare case we accept.
func interspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos, tail []string
	for i, arg := range args {
		if arg == "--" {
			args, tail = args[:i], args[i+1:]
			break
		}
	}
	for len(args) > 0 {
		arg := args[0]
		if len(arg) < 2 || arg[0] != '-' || isNumber(arg) {
			pos = append(pos, arg)
			args = args[1:]
			continue
		}
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
	}
	return append(pos, tail...), nil
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}
