package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The groups a command's flags are shown in, in this order; a flag without
// a group is shown last, under "Other".
const (
	groupSelection  = "Selection"
	groupOutput     = "Output"
	groupBehaviour  = "Behaviour"
	groupConnection = "Connection"
)

var flagGroups = []string{groupSelection, groupOutput, groupBehaviour, groupConnection, ""}

// inGroup files the named flags under a help group.
func inGroup(fs *pflag.FlagSet, group string, names ...string) {
	for _, n := range names {
		if err := fs.SetAnnotation(n, "group", []string{group}); err != nil {
			panic(err) // a misspelt flag name in this package
		}
	}
}

func flagGroup(f *pflag.Flag) string {
	if g := f.Annotations["group"]; len(g) > 0 {
		return g[0]
	}
	return ""
}

const exitCodeHelp = `Exit codes:
  0    everything succeeded
  1    the run failed (the message says why and whether running it again resumes)
  2    usage or configuration error (bad flag, missing or wrong credentials, unreadable input)
  3    the run finished but some rows were rejected (see errors.csv)
  130  interrupted; state saved, run the same command again to resume
`

const envHelp = `Environment:
  UDESK_URL     the tenant's base URL (or --url)
  UDESK_SECRET  the API secret that signs requests (or --secret-file FILE; never a flag value)
  UDESK_RATE    the request budget (or --rate), default 60/min
`

// printHelp is the help of every command, on stdout: what it does, its
// usage, examples, its flags by group, and for commands that talk to Udesk
// the environment and the exit codes.
func printHelp(w io.Writer, c *cobra.Command) {
	desc := c.Long
	if desc == "" {
		desc = c.Short
	}
	fmt.Fprintf(w, "%s\n\nUsage:\n  %s\n", strings.TrimSpace(desc), c.UseLine())
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(w, "\nCommands:\n")
		for _, s := range c.Commands() {
			if s.IsAvailableCommand() || s.Name() == "help" {
				fmt.Fprintf(w, "  %-11s %s\n", s.Name(), s.Short)
			}
		}
	}
	if c.Example != "" {
		fmt.Fprintf(w, "\nExamples:\n%s\n", strings.TrimRight(c.Example, "\n"))
	}
	c.Flags().SortFlags = false
	for _, g := range flagGroups {
		fs := pflag.NewFlagSet(g, pflag.ContinueOnError)
		fs.SortFlags = false
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if flagGroup(f) == g {
				fs.AddFlag(f)
			}
		})
		if !fs.HasAvailableFlags() {
			continue
		}
		title := g
		if g == "" {
			title = "Other"
		}
		fmt.Fprintf(w, "\n%s flags:\n%s", title, fs.FlagUsagesWrapped(110))
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(w, "\nRun 'udesk-etl help COMMAND' for a command's flags and examples.\n")
	}
	if c.Flags().Lookup("url") != nil || !c.HasParent() {
		fmt.Fprintf(w, "\n%s\n%s", envHelp, exitCodeHelp)
	}
}

// flagError turns a flag the parser refused into a one-line usage error
// with a hint: the flag meant, or where the secret goes.
func flagError(c *cobra.Command, err error) error {
	hint := fmt.Sprintf("see '%s --help'", c.CommandPath())
	var ne *pflag.NotExistError
	if errors.As(err, &ne) && ne.GetSpecifiedName() != "" {
		name := ne.GetSpecifiedName()
		if name == "secret" {
			return usagef("there is no --secret flag (a secret on the command line shows in ps): set UDESK_SECRET or pass --secret-file FILE")
		}
		if s := suggestFlag(c.Flags(), name); s != "" {
			return usagef("unknown flag --%s: did you mean --%s? (%s)", name, s, hint)
		}
		return usagef("unknown flag --%s (%s)", name, hint)
	}
	return usagef("%v (%s)", err, hint)
}

// suggestFlag is the flag of fs nearest to a mistyped name: at most two
// edits away, or the only one it is a prefix of.
func suggestFlag(fs *pflag.FlagSet, name string) string {
	best, bestD := "", 3
	var prefixed []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		if d := editDistance(name, f.Name); d < bestD {
			best, bestD = f.Name, d
		}
		if strings.HasPrefix(f.Name, name) {
			prefixed = append(prefixed, f.Name)
		}
	})
	if best == "" && len(prefixed) == 1 {
		return prefixed[0]
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// noArgs refuses positional arguments: every input is a flag.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q: options start with -- (see '%s --help')", args[0], c.CommandPath())
	}
	return nil
}

// unknownCommand is the root's check of its arguments: a word that is no
// command, with the command it most likely meant.
func unknownCommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		return usagef("unknown command %q: did you mean %s? (see 'udesk-etl --help')", args[0], strings.Join(s, " or "))
	}
	return usagef("unknown command %q (see 'udesk-etl --help')", args[0])
}

// oneDashLongFlags rewrites -url to --url for the command args name: earlier
// versions took long flags with one dash, and scripts may still say so.
// -fitler becomes --fitler too, which then gets its "did you mean".
func oneDashLongFlags(root *cobra.Command, args []string) []string {
	c, _, err := root.Find(args)
	if err != nil {
		return args
	}
	out := append([]string(nil), args...)
	for i, arg := range args {
		if arg == "--" {
			break
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(arg, "-"), "=")
		if len(name) < 2 || !strings.HasPrefix(arg, "-") || strings.HasPrefix(arg, "--") {
			continue
		}
		// A known long flag, or a word that is no cluster of short flags
		// (-fitler): read as a long flag, so that a mistyped one gets its
		// suggestion.
		if c.Flags().Lookup(name) != nil || c.Flags().ShorthandLookup(name[:1]) == nil && c.Flags().Lookup(name[:1]) == nil {
			out[i] = "-" + arg
		}
	}
	return out
}

// mistypedCommand refuses a first word that is no command before its flags
// are parsed: "exprot --rate 5/s" is a mistyped command, not an unknown
// --rate of the tool.
func mistypedCommand(root *cobra.Command, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return nil
	}
	for _, c := range root.Commands() {
		if c.Name() == args[0] || c.HasAlias(args[0]) {
			return nil
		}
	}
	if args[0] == "help" || args[0] == "completion" || strings.HasPrefix(args[0], "__complete") {
		return nil // cobra adds these while it runs
	}
	return unknownCommand(root, args[:1])
}

// newHelpCommand is `help [COMMAND]`: the help of the tool or of a
// command, and a usage error (exit 2) for a command that does not exist.
func newHelpCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]",
		Short: "print the help of the tool or of a command",
		Long:  "Print the help of the tool, or of a command: what it does, its flags by group, examples.",
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			var names []string
			for _, s := range root.Commands() {
				if s.IsAvailableCommand() && strings.HasPrefix(s.Name(), toComplete) {
					names = append(names, s.Name())
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			target, rest, err := root.Find(args)
			if err != nil || len(rest) > 0 || target == nil {
				return unknownCommand(root, args)
			}
			// As cobra's own help command: the flags a run of the command
			// would show.
			target.InitDefaultHelpFlag()
			target.InitDefaultVersionFlag()
			printHelp(c.OutOrStdout(), target)
			return nil
		},
	}
}

// ourCompletionTexts words cobra's completion command as the tool's other
// commands are worded: lower case, no Markdown.
func ourCompletionTexts(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Short = "print a shell completion script (bash, zsh, fish or powershell)"
		c.Long = "Print the script that completes udesk-etl's commands and flags in a shell; see each shell's help."
		c.Example = "  udesk-etl completion bash > /etc/bash_completion.d/udesk-etl\n  source <(udesk-etl completion zsh)"
		for _, s := range c.Commands() {
			s.Short = "print the completion script for " + s.Name()
			s.Long = strings.ReplaceAll(s.Long, "#### ", "")
			s.Flags().VisitAll(func(f *pflag.Flag) {
				if f.Name == "no-descriptions" {
					f.Usage = "leave out the descriptions of the completions"
				}
			})
		}
	}
}
