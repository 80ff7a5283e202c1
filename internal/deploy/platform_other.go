//go:build !windows

package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// platform is what deploy does differently on Linux: /etc/galmirror
// readable by the service's group, the PFX as a file with its password in
// the systemd unit's environment file, systemd.
type platform struct {
	gid int // the galmirror group, or -1
}

func newPlatform() platform {
	p := platform{gid: -1}
	if os.Geteuid() == 0 {
		if g, err := user.LookupGroup("galmirror"); err == nil {
			p.gid, _ = strconv.Atoi(g.Gid)
		}
	}
	return p
}

// envFile is the unit's EnvironmentFile (packaging/systemd).
const envFile = "galmirror.env"

// prepareDir creates the configuration folder 0750, group galmirror when
// the .deb created that group.
func (p platform) prepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if p.gid >= 0 {
		if err := os.Chown(dir, 0, p.gid); err != nil {
			return err
		}
		return os.Chmod(dir, 0o750)
	}
	return nil
}

// writeFile writes a file the service reads: 0640, group galmirror.
func (p platform) writeFile(path string, data []byte) error {
	return p.write(path, data, 0o640, p.gid)
}

func (p platform) write(path string, data []byte, mode os.FileMode, gid int) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if gid >= 0 {
		if err := os.Chown(path, 0, gid); err != nil {
			return err
		}
	}
	return os.Chmod(path, mode)
}

func (platform) certWhere() string { return "copied next to the settings, its password in " + envFile }

// importPFX copies the PFX next to the settings as NAME.pfx and puts its
// password in galmirror.env (0600, read by systemd as root) under
// GALMIRROR_PFX_PASSWORD_<NAME>, the passwordEnv of the generated tenant.
// The variable is also set for this process, so that the check after
// deploying reads the certificate as the service will.
func (p platform) importPFX(dir, name string, data []byte, password, _ string) (map[string]any, []string, error) {
	if strings.ContainsAny(password, "'\n\r\x00") {
		return nil, nil, fmt.Errorf("the PFX password contains a quote or a line break, which the service's environment file cannot hold: export the PFX with a password of letters, digits and -_.")
	}
	file := name + ".pfx"
	if err := p.writeFile(filepath.Join(dir, file), data); err != nil {
		return nil, nil, fmt.Errorf("copy the PFX: %w", err)
	}
	variable := passwordVariable(name)
	path := filepath.Join(dir, envFile)
	old, _ := os.ReadFile(path)
	var lines []string
	for _, l := range strings.Split(string(old), "\n") {
		if l != "" && !strings.HasPrefix(l, variable+"=") {
			lines = append(lines, l)
		}
	}
	lines = append(lines, variable+"='"+password+"'")
	if err := p.write(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600, -1); err != nil {
		return nil, nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Setenv(variable, password); err != nil {
		return nil, nil, err
	}
	return map[string]any{"file": file, "passwordEnv": variable}, nil, nil
}

// passwordVariable is GALMIRROR_PFX_PASSWORD_<NAME>, NAME in upper case
// with every other character than A-Z and 0-9 as '_'.
func passwordVariable(name string) string {
	b := []byte(strings.ToUpper(name))
	for i, c := range b {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	return "GALMIRROR_PFX_PASSWORD_" + string(b)
}

// systemd reports whether systemd manages this machine.
func systemd() bool {
	_, err := os.Stat("/run/systemd/system")
	return err == nil
}

const unit = "galmirror.service"

func systemctl(ctx context.Context, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "systemctl", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

// installService enables the unit the .deb installed. Without systemd
// there is nothing to install: a warning says so.
func (platform) installService(_, _ string) (changes, warnings []string, err error) {
	if !systemd() {
		return nil, []string{"systemd is not running here: start `galmirror run` under your service manager"}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := systemctl(ctx, "cat", unit); err != nil {
		return nil, nil, fmt.Errorf("%s is not installed (install the galmirror .deb): %s", unit, out)
	}
	if out, err := systemctl(ctx, "enable", unit); err != nil {
		return nil, nil, fmt.Errorf("systemctl enable %s: %s", unit, out)
	}
	return []string{"enabled " + unit}, nil, nil
}

// restartService restarts the unit; Type=notify makes systemctl wait until
// the service reports ready (or failed).
func (platform) restartService(wait time.Duration) (string, error) {
	if !systemd() {
		return "systemd is not running here: the service was not started", nil
	}
	if wait <= 0 {
		wait = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if out, err := systemctl(ctx, "restart", unit); err != nil {
		st, _ := systemctl(context.Background(), "status", "--no-pager", "--lines=5", unit)
		return "", fmt.Errorf("systemctl restart %s: %v %s\n%s", unit, err, out, st)
	}
	return "", nil
}
