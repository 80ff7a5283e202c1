package service

import (
	"fmt"
	"path/filepath"
	"time"
)

// ServiceName is the Windows service's name (and the Event Log source).
const ServiceName = "galmirror"

// InstallOptions describe the Windows service to create.
type InstallOptions struct {
	// Name of the service (default ServiceName).
	Name string
	// Exe is the absolute path of galmirror.exe.
	Exe string
	// Args follow the executable on the service's command line, e.g.
	// ["run", "--config", `C:\ProgramData\galmirror\settings.json`].
	Args []string
	// Account is "LocalSystem" (default) or "virtual" (NT SERVICE\<name>,
	// which needs read access to the data directory and the certificate's
	// private key).
	Account string
}

// Recovery: restart after 10s, 30s, then every 60s; the failure count
// resets after a day without failures.
var (
	recoveryDelays = []time.Duration{10 * time.Second, 30 * time.Second, 60 * time.Second}
	recoveryReset  = 24 * time.Hour
)

func (o *InstallOptions) normalise() error {
	if o.Name == "" {
		o.Name = ServiceName
	}
	switch o.Account {
	case "", "LocalSystem", "localsystem":
		o.Account = "LocalSystem"
	case "virtual":
	default:
		return fmt.Errorf("unknown service account %q: use LocalSystem or virtual", o.Account)
	}
	if o.Exe == "" {
		return fmt.Errorf("service executable path is required")
	}
	return nil
}

// startName is the account name passed to CreateService: empty for
// LocalSystem, "NT SERVICE\<name>" for a virtual account.
func (o InstallOptions) startName() string {
	if o.Account == "virtual" {
		return `NT SERVICE\` + o.Name
	}
	return ""
}

// DefaultConfigPath is the settings file used when --config is not given.
func DefaultConfigPath() string { return filepath.Join(DefaultDir(), "settings.json") }
