package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"lx/lxbroker/distro"
	"lx/lxbroker/proto"
)

// The command line is a cobra tree. Every verb prints only its help for
// -h/--help; an error is one line saying what to do, with status 125 (a
// run's command keeps its own statuses); help text comes from the commands
// themselves, and a golden test holds each verb's help and the README's
// usage block to it.

// intro is the top of `lx help`.
const intro = `Run Linux programs in an isolated instance (user, pid, mount, network
namespaces; every system call that names something checked or served by
lx's servers, or resolved by the kernel inside the instance's namespaces).`

// outro is the end of `lx help`.
const outro = `Run 'lx COMMAND --help' for a command's options; 'lx completion bash|zsh|fish'
prints shell completion; 'lx --version' the version and the kernel features
lx found.`

// usageError is a mistake on the command line: a flag or an argument count.
type usageError struct {
	cmd *cobra.Command
	err error
}

func (e *usageError) Error() string {
	return fmt.Sprintf("%s: %v; see '%s --help'", e.cmd.CommandPath(), e.err, e.cmd.CommandPath())
}

// args wants between min and max positional arguments (max -1: no bound),
// named by what for the error.
func args(min, max int, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, a []string) error {
		switch n := len(a); {
		case n < min:
			return &usageError{c, fmt.Errorf("wants %s", what)}
		case max >= 0 && n > max:
			extra := a[max:]
			if max == 0 {
				return &usageError{c, fmt.Errorf("takes no arguments (got %q)", strings.Join(extra, " "))}
			}
			return &usageError{c, fmt.Errorf("wants %s, not also %q", what, strings.Join(extra, " "))}
		}
		return nil
	}
}

// verb is one user command: its synopsis (after "lx "), the one-paragraph
// description `lx help` shows and the rest of its help.
type verb struct {
	use, short, long string
	args             cobra.PositionalArgs
	flags            func(fs *pflag.FlagSet)
	run              func(c *cobra.Command, a []string) error
	complete         cobra.CompletionFunc
	aliases          []string
	// interspersed: flags may follow arguments (GNU style); off for run,
	// whose arguments after the command are the command's own.
	stopAtCommand bool
}

func (v verb) command() *cobra.Command {
	c := &cobra.Command{
		Use:               v.use,
		Short:             v.short,
		Long:              v.long,
		Args:              v.args,
		RunE:              v.run,
		Aliases:           v.aliases,
		ValidArgsFunction: v.complete,
	}
	if v.flags != nil {
		v.flags(c.Flags())
	}
	c.Flags().BoolP("help", "h", false, "print this help")
	if v.stopAtCommand {
		c.Flags().SetInterspersed(false)
	}
	if c.Flags().Lookup("distro") != nil {
		c.RegisterFlagCompletionFunc("distro", completeDistros)
	}
	return c
}

// newRoot builds the command tree.
func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "lx",
		Short:         "run Linux programs in isolated instances",
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       version,
		Args:          cobra.NoArgs,
		RunE: func(c *cobra.Command, a []string) error {
			io.WriteString(os.Stderr, topHelp(c))
			return &exitStatus{125}
		},
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
	}
	cobra.EnableCommandSorting = false
	cobra.AddTemplateFunc("versionText", versionText)
	root.SetVersionTemplate("{{versionText}}")
	root.SuggestionsMinimumDistance = 2
	root.Flags().Bool("version", false, "print lx's version, commit, Go version and the kernel features lx found")
	root.Flags().BoolP("help", "h", false, "print this help")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{c, err} })
	root.SetHelpFunc(func(c *cobra.Command, _ []string) {
		if c == root {
			io.WriteString(c.OutOrStdout(), topHelp(c))
			return
		}
		io.WriteString(c.OutOrStdout(), verbHelp(c))
	})
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [COMMAND]",
		Short: "this list, or a command's help",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, a []string) error {
			if len(a) == 0 {
				io.WriteString(os.Stdout, topHelp(root))
				return nil
			}
			sub, _, err := root.Find(a)
			if err != nil || sub == root {
				return fmt.Errorf("no command %q; run 'lx help' for the list", a[0])
			}
			io.WriteString(os.Stdout, verbHelp(sub))
			return nil
		},
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			var names []string
			for _, s := range root.Commands() {
				if !s.Hidden {
					names = append(names, s.Name())
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
	})
	for _, v := range verbs() {
		root.AddCommand(v.command())
	}
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Short = "print shell completion for bash, zsh, fish or powershell"
			c.Use = "completion bash|zsh|fish|powershell"
		}
	}
	return root
}

// topHelp is `lx help`: the commands, each with its synopsis and summary.
func topHelp(root *cobra.Command) string {
	var b strings.Builder
	b.WriteString("usage: lx COMMAND [ARGS]\n\n" + intro + "\n\nCommands:\n")
	for _, c := range root.Commands() {
		if c.Hidden || c.Name() == "help" {
			continue
		}
		b.WriteString(wrap("lx "+c.Use, "  ", "      "))
		b.WriteString(wrap(c.Short, "          ", "          "))
	}
	b.WriteString("\n" + outro + "\n")
	return b.String()
}

// verbHelp is `lx VERB --help`.
func verbHelp(c *cobra.Command) string {
	var b strings.Builder
	b.WriteString(wrap("usage: "+c.CommandPath()+strings.TrimPrefix(c.Use, c.Name()), "", "       "))
	b.WriteString("\n" + wrap(upperFirst(c.Short)+".", "", ""))
	if c.Long != "" {
		b.WriteString("\n" + c.Long + "\n")
	}
	if len(c.Aliases) > 0 {
		fmt.Fprintf(&b, "\nAlso: %s.\n", strings.Join(c.Aliases, ", "))
	}
	fs := c.LocalFlags()
	b.WriteString("\nOptions:\n")
	b.WriteString(fs.FlagUsagesWrapped(80))
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// wrap fills text to 80 columns, the first line indented by first and the
// others by rest. A bracketed group ([--net all|loopback|none]) is one word.
func wrap(text, first, rest string) string {
	var b strings.Builder
	line := first
	fresh := true
	for _, w := range words(text) {
		if !fresh && len(line)+1+len(w) > 80 {
			b.WriteString(line + "\n")
			line, fresh = rest, true
		}
		if !fresh {
			line += " "
		}
		line += w
		fresh = false
	}
	b.WriteString(line + "\n")
	return b.String()
}

// words splits text at spaces outside brackets.
func words(text string) []string {
	var out []string
	depth, start := 0, -1
	for i, r := range text + " " {
		switch {
		case r == '[':
			depth++
		case r == ']' && depth > 0:
			depth--
		case r == ' ' && depth == 0:
			if start >= 0 {
				out = append(out, text[start:i])
			}
			start = -1
			continue
		}
		if start < 0 {
			start = i
		}
	}
	return out
}

// exitStatus ends lx with a status and no message (the message, if any, is
// already out).
type exitStatus struct{ code int }

func (e *exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// execute runs the command line and returns lx's exit status.
func execute(argv []string) int {
	root := newRoot()
	root.SetArgs(argv)
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	var ec *exitStatus
	if errors.As(err, &ec) {
		return ec.code
	}
	var ee *proto.ExitError
	if errors.As(err, &ee) {
		fmt.Fprintln(os.Stderr, oneLine(ee.Text))
		if cmd != nil && (cmd.Name() == "run" || cmd.Name() == "shell") {
			return ee.Status // 126 and 127 are the command's, as a shell says
		}
		return 125
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "unknown command ") {
		// cobra's, with its suggestions on further lines
		name := ""
		if f := strings.SplitN(msg, "\"", 3); len(f) == 3 {
			name = f[1]
		}
		msg = fmt.Sprintf("unknown command %q; run 'lx help' for the list", name)
		if s := root.SuggestionsFor(name); len(s) > 0 {
			msg = fmt.Sprintf("unknown command %q (did you mean %s?); run 'lx help' for the list", name, strings.Join(s, ", "))
		}
	}
	if !strings.HasPrefix(msg, "lx: ") && !strings.HasPrefix(msg, "lx ") {
		msg = "lx: " + msg
	}
	fmt.Fprintln(os.Stderr, oneLine(msg))
	return 125
}

// oneLine keeps an error to one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.ReplaceAll(s, "\n", "; ")
}

// completeDistros completes a distro name from the registry (without
// starting the broker).
func completeDistros(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	names := []string{proto.DefaultDistro}
	if dir, err := proto.DataDir(); err == nil {
		if reg, err := distro.LoadRegistry(dir); err == nil {
			for _, d := range reg.Sorted() {
				names = append(names, d.Name)
			}
		}
	}
	sort.Strings(names[1:])
	return names, cobra.ShellCompDirectiveNoFileComp
}

// completeFirst completes the first argument with fn and leaves the rest to
// the shell's file completion.
func completeFirst(fn cobra.CompletionFunc) cobra.CompletionFunc {
	return func(c *cobra.Command, a []string, prefix string) ([]string, cobra.ShellCompDirective) {
		if len(a) == 0 {
			return fn(c, a, prefix)
		}
		return nil, cobra.ShellCompDirectiveDefault
	}
}

// completeOnly completes the first argument with fn and nothing after it.
func completeOnly(fn cobra.CompletionFunc) cobra.CompletionFunc {
	return func(c *cobra.Command, a []string, prefix string) ([]string, cobra.ShellCompDirective) {
		if len(a) == 0 {
			return fn(c, a, prefix)
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

func fixed(names ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

func noArgs(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveNoFileComp
}
