package agent

// Version is this agent's version, reported in hello and at enrollment.
// cmd/restic-manager-agent sets it from its -ldflags-stamped main.version
// before anything else runs; "dev" marks an unstamped build.
var Version = "dev"
