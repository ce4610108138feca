package main

import (
	"fmt"

	"github.com/restic-manager/restic-manager/agent"
)

// service implements install, uninstall, start, stop and status.
func (c *cli) service(action string, args []string) error {
	fs := c.flags(action)
	path := fs.String("config", agent.DefaultConfigPath(), "the agent config the service runs with")
	if err := parse(fs, args); err != nil {
		return err
	}
	msg, err := agent.ControlService(action, *path)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, msg)
	return nil
}
