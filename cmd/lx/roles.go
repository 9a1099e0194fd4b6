package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"lx/lxbroker/proto"
	"lx/servers/components"
	"lx/shared/launch"
)

// roleComponent is `lx component`: a server or the router of an instance,
// as the launch config at fd 3 says (shared/launch).
func roleComponent(args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("usage: lx component (internal: started by the broker)")
	}
	cfg, err := launch.Read()
	if err != nil {
		return err
	}
	setName("lx-" + cfg.Name)
	return components.Run(cfg, logger(cfg.Name))
}

func printStatus(js string, verbose bool) {
	var st proto.Status
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		fmt.Println(js)
		return
	}
	if len(st.Instances) == 0 {
		fmt.Println("no instance is running")
		if verbose {
			printSupervision(st.Supervision)
		}
		return
	}
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	for _, in := range st.Instances {
		execs, _, _ := strings.Cut(in.Execs, ":") // the reason is in --json and the broker's log
		fmt.Fprintf(w, "instance %s\tinit pid %d\tclients %d\tguests %d\tnet %s\tpaths %s\texecs %s\tmemory %s (%s)\t%s", in.Name, in.Init, in.Clients, in.Guests, in.Net, in.Paths, execs,
			proto.FormatSize(in.Memory), in.MemoryBy, in.IDs)
		if len(in.Publish) > 0 {
			fmt.Fprintf(w, ", publish %s", strings.Join(in.Publish, " "))
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  COMPONENT\tPID\tUPTIME\tRESTARTS\tHANGS\tCALLS\tERRORS\tLAST CAUSE\n")
		for _, c := range in.Components {
			cause := c.LastCause
			if c.Binary != "" {
				cause = strings.TrimSpace("[" + c.Binary + "] " + cause)
			}
			fmt.Fprintf(w, "  %s\t%d\t%.0fs\t%d\t%d\t%d\t%d\t%s\n", c.Name, c.Pid, c.UptimeSec, c.Restarts, c.Hangs, c.Calls, c.Errors, cause)
		}
	}
	w.Flush()
	if verbose {
		printSupervision(st.Supervision)
	}
}

// printSupervision prints the broker's supervision table (lx status -v).
func printSupervision(table []launch.Component) {
	fmt.Println("\nsupervision (every instance):")
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintf(w, "  ORDER\tCOMPONENT\tKIND\tRESTART\tBACKOFF\tHEARTBEAT\tHUNG AFTER\n")
	for _, s := range table {
		hang := s.HangAfter.String()
		if s.HangAfter <= 0 {
			hang = "off"
		}
		fmt.Fprintf(w, "  %d\t%s\t%s\t%s\t%s..%s\t%s\t%s\n", s.Order, s.Name, s.Kind, s.Restart, s.Backoff, s.MaxBackoff, s.Heartbeat, hang)
	}
	w.Flush()
	for _, s := range table {
		fmt.Printf("  %s keeps: %s\n", s.Name, s.State)
	}
}
