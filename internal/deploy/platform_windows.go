package deploy

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/galmirror/galmirror/internal/entra"
	"github.com/galmirror/galmirror/internal/service"
)

// platform is what deploy does differently on Windows: a private folder
// (protected DACL), the certificate store, the service control manager.
type platform struct{}

func newPlatform() platform { return platform{} }

// prepareDir makes the configuration folder private (SYSTEM,
// Administrators, NT SERVICE\galmirror; nothing inherited).
func (platform) prepareDir(dir string) error { return service.Secure(dir) }

// writeFile writes a file in the private folder; it inherits the folder's
// protected DACL.
func (platform) writeFile(path string, data []byte) error { return os.WriteFile(path, data, 0o600) }

func (platform) certWhere() string {
	return `imported into LocalMachine\My (private key not exportable)`
}

// importPFX imports into LocalMachine\My and records the thumbprint for
// `service uninstall --purge`. The service runs as LocalSystem, which
// reads machine keys without a grant.
func (p platform) importPFX(dir, _ string, data []byte, password, thumbprint string) (map[string]any, []string, error) {
	warns, err := entra.ImportPFX(data, password, thumbprint)
	if err != nil {
		return nil, warns, err
	}
	if err := recordImported(dir, thumbprint, p); err != nil {
		warns = append(warns, fmt.Sprintf("could not record the imported certificate for uninstall --purge: %v", err))
	}
	return map[string]any{"thumbprint": thumbprint}, warns, nil
}

// installService installs or updates the service to run `run --service
// --config CONFIG`. An installed service keeps its executable (the MSI's,
// under Program Files) when that file exists, so running deploy from a
// downloaded copy never re-points the service at the download.
func (platform) installService(exe, cfg string) (changes, warnings []string, err error) {
	if info, qerr := service.Query(service.ServiceName); qerr == nil {
		if cur := imageOf(info.CommandLine); cur != "" && !strings.EqualFold(cur, exe) {
			if _, serr := os.Stat(cur); serr == nil {
				exe = cur
			}
		}
	}
	res, err := service.Install(service.InstallOptions{Exe: exe, Args: service.ServiceArgs(cfg)})
	if err != nil {
		return nil, res.Warnings, err
	}
	cmdline := service.CommandLine(exe, service.ServiceArgs(cfg))
	switch {
	case res.Created:
		changes = append(changes, "created: "+cmdline)
	case len(res.Changed) > 0:
		for _, c := range res.Changed {
			changes = append(changes, "changed "+c)
		}
		changes = append(changes, "now: "+cmdline)
	default:
		changes = append(changes, "unchanged: "+cmdline)
	}
	if res.EventSource {
		changes = append(changes, "registered the Event Log source galmirror")
	}
	return changes, res.Warnings, nil
}

// imageOf returns the executable of a service command line: the quoted
// first part, or up to the first space.
func imageOf(cmdline string) string {
	if strings.HasPrefix(cmdline, `"`) {
		if i := strings.Index(cmdline[1:], `"`); i >= 0 {
			return cmdline[1 : 1+i]
		}
		return ""
	}
	if i := strings.IndexByte(cmdline, ' '); i >= 0 {
		return cmdline[:i]
	}
	return cmdline
}

// restartService stops the service if it runs and starts it, waiting until
// the control manager reports it running.
func (platform) restartService(wait time.Duration) (string, error) {
	if wait <= 0 {
		wait = 30 * time.Second
	}
	if info, err := service.Query(service.ServiceName); err == nil && info.State != "stopped" {
		if err := service.Stop(service.ServiceName); err != nil {
			return "", err
		}
	}
	return "", service.Start(service.ServiceName, wait)
}
