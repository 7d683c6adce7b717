package cli

import (
	"flag"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// printUsage writes the help of cmd: description, usage line, subcommands
// sorted by name under COMMANDS:, and flags with their aliases on one line
// under OPTIONS: (GLOBAL OPTIONS: for micro itself), the headings of
// Micro's help that users and scripts look for.
func (a *app) printUsage(w io.Writer, cmd *ffcli.Command) {
	if cmd.LongHelp != "" {
		fmt.Fprintf(w, "%s\n\n", cmd.LongHelp)
	} else if cmd.ShortHelp != "" {
		fmt.Fprintf(w, "%s\n\n", cmd.ShortHelp)
	}
	usage := cmd.ShortUsage
	if usage == "" {
		usage = cmd.FlagSet.Name()
	}
	fmt.Fprintf(w, "USAGE:\n  %s\n", usage)

	if len(cmd.Subcommands) > 0 {
		subs := append([]*ffcli.Command(nil), cmd.Subcommands...)
		sort.Slice(subs, func(i, j int) bool { return subs[i].Name < subs[j].Name })
		fmt.Fprintf(w, "\nCOMMANDS:\n")
		tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
		for _, s := range subs {
			fmt.Fprintf(tw, "  %s\t%s\n", s.Name, s.ShortHelp)
		}
		tw.Flush()
	}

	title := "OPTIONS:"
	if cmd == a.root {
		title = "GLOBAL OPTIONS:" // they come before the command
	}
	fmt.Fprintf(w, "\n%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	for _, l := range append(flagLines(cmd.FlagSet), helpLine) {
		fmt.Fprintln(tw, l)
	}
	tw.Flush()
}

// helpLine is the flag every command takes (the flag package's own).
const helpLine = "  -h, --help\tshow help"

// flagLines renders fs's flags, one line per value: "-d, --database string\tusage".
func flagLines(fs *flag.FlagSet) []string {
	type group struct {
		names []string
		flag  *flag.Flag
	}
	var groups []*group
	byValue := map[uintptr]*group{}
	fs.VisitAll(func(f *flag.Flag) {
		// Aliases share one pointer Value (see alias).
		var key uintptr
		if v := reflect.ValueOf(f.Value); v.Kind() == reflect.Pointer {
			key = v.Pointer()
		}
		g := byValue[key]
		if g == nil || key == 0 {
			g = &group{flag: f}
			groups = append(groups, g)
			byValue[key] = g
		}
		g.names = append(g.names, f.Name)
		if len(f.Name) > len(g.flag.Name) {
			g.flag = f
		}
	})
	sort.Slice(groups, func(i, j int) bool { return groups[i].flag.Name < groups[j].flag.Name })
	lines := make([]string, 0, len(groups))
	for _, g := range groups {
		sort.Slice(g.names, func(i, j int) bool { return len(g.names[i]) < len(g.names[j]) })
		names := make([]string, len(g.names))
		for i, n := range g.names {
			if len(n) == 1 {
				names[i] = "-" + n
			} else {
				names[i] = "--" + n
			}
		}
		typ, usage := flag.UnquoteUsage(g.flag)
		head := strings.Join(names, ", ")
		if typ != "" {
			head += " " + typ
		}
		if d := g.flag.DefValue; d != "" && d != "false" && d != "0" && d != "0s" {
			usage += fmt.Sprintf(" (default %q)", d)
		}
		lines = append(lines, "  "+head+"\t"+usage)
	}
	return lines
}
