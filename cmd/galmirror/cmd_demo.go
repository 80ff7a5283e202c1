package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/galmirror/galmirror/internal/console"
	"github.com/galmirror/galmirror/internal/graphsim"
	"github.com/galmirror/galmirror/internal/syncer"
)

func init() {
	register(&command{
		name:    "demo",
		summary: "sync a generated tenant in a local Graph emulator and show the result",
		run:     runDemo,
	})
}

// runDemo shows the whole job on a machine with nothing but Go: it starts
// graphsim with a generated tenant, writes a settings file like an MSP's,
// runs `galmirror sync` on it twice, and prints one mailbox's folder.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	users := fs.Int("users", 40, "users in the generated tenant")
	groups := fs.Int("groups", 6, "groups in the generated tenant")
	seed := fs.Int64("seed", 1, "seed of the generated tenant")
	keep := fs.String("dir", "", "keep the settings, certificate and state in this directory (default: a temporary one, removed)")
	withConsole := fs.Bool("console", false, "run three customers' services (one broken) and the fleet console over them, until Ctrl-C")
	listen := fs.String("listen", "127.0.0.1:8440", "the console's address with --console (loopback: no sign-in)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	if *withConsole {
		return runDemoConsole(ctx, *keep, *listen, *users, stdout, stderr)
	}
	tenant, cred, err := graphsim.Generate(graphsim.GenerateOptions{Users: *users, Groups: *groups, Seed: *seed, Resources: true, Photos: true})
	if err != nil {
		fmt.Fprintf(stderr, "galmirror demo: generate a tenant: %v\n", err)
		return exitFailed
	}
	// A second tenant, a sister company whose people appear in the
	// first's mailboxes (source.fromTenants).
	sisterName := demoSisterName(tenant.Name)
	sister, sisterCred, err := graphsim.Generate(graphsim.GenerateOptions{Users: 6, Seed: *seed + 1, Name: sisterName,
		Domain: strings.ReplaceAll(demoName(sisterName), "-", "") + ".example"})
	if err != nil {
		fmt.Fprintf(stderr, "galmirror demo: generate a tenant: %v\n", err)
		return exitFailed
	}
	srv, err := graphsim.Start(graphsim.Options{Tenants: []graphsim.Tenant{tenant, sister}, Seed: *seed})
	if err != nil {
		fmt.Fprintf(stderr, "galmirror demo: start graphsim: %v\n", err)
		return exitFailed
	}
	defer srv.Close()

	dir, cleanup, err := demoDir(*keep)
	if err != nil {
		fmt.Fprintf(stderr, "galmirror demo: %v\n", err)
		return exitFailed
	}
	defer cleanup()
	caFile := filepath.Join(dir, "graphsim-ca.pem")
	if err := os.WriteFile(caFile, srv.CACertPEM(), 0o644); err != nil {
		fmt.Fprintf(stderr, "galmirror demo: %v\n", err)
		return exitFailed
	}
	env, endpointCA := demoTrust(caFile)
	settings, err := writeDemoSettings(dir, srv, []graphsim.Tenant{tenant, sister}, []graphsim.AppCredential{cred, sisterCred}, endpointCA)
	if err != nil {
		fmt.Fprintf(stderr, "galmirror demo: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "graphsim (a local Microsoft Graph + Entra ID emulator) is serving tenant %q at %s\n", tenant.Name, srv.URL())
	fmt.Fprintf(stdout, "and tenant %q, whose people the first adds to its mailboxes (source.fromTenants)\n", sister.Name)
	if *keep != "" {
		fmt.Fprintf(stdout, "settings: %s\n\n", settings)
	} else {
		fmt.Fprintf(stdout, "settings: a temporary %s, removed at the end (keep them with --dir DIR)\n\n", filepath.Base(settings))
	}

	// The sync runs as `galmirror sync`, in its own process, exactly as a
	// customer runs it: trust in graphsim's CA comes from the system store
	// (demoTrust), not from anything only a test would set.
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "galmirror demo: %v\n", err)
		return exitFailed
	}
	fmt.Fprintln(stdout, "first run (creates the managed folder in every mailbox):")
	res, code := demoSync(ctx, self, settings, env, stdout, stderr)
	if res == nil {
		return code
	}
	if res.Status == syncer.StatusFailed {
		return exitFailed
	}
	srv.ResetCounters()
	fmt.Fprintln(stdout, "\nsecond run (nothing changed in the directory):")
	res2, code2 := demoSync(ctx, self, settings, env, stdout, stderr)
	if res2 == nil {
		return code2
	}
	fmt.Fprintf(stdout, "  graphsim saw %d requests and %d writes\n", srv.Counters().Requests, srv.Counters().Writes)

	showFolder(stdout, srv, tenant)
	showFromTenant(stdout, srv, tenant, sister)
	if code != exitOK {
		return code
	}
	return code2
}

// demoSync runs `galmirror sync --json` as a child process and prints its
// result; it returns nil when the child gave no result (its exit code then
// says why).
func demoSync(ctx context.Context, self, settings string, env []string, stdout, stderr io.Writer) (*syncer.Result, int) {
	cmd := exec.CommandContext(ctx, self, "sync", "--config", settings, "--json", "--no-events")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = stderr
	out, err := cmd.Output()
	code := exitOK
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			fmt.Fprintf(stderr, "galmirror demo: run galmirror sync: %v\n", err)
			return nil, exitFailed
		}
		code = ee.ExitCode()
	}
	// One line per tenant; the first tenant's result is the demo's.
	var first *syncer.Result
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var res syncer.Result
		if err := json.Unmarshal(line, &res); err != nil {
			fmt.Fprintf(stderr, "galmirror demo: galmirror sync exited %d without a result: %s\n", code, bytes.TrimSpace(out))
			return nil, max(code, exitFailed)
		}
		printResult(stdout, &res)
		if first == nil {
			first = &res
		}
	}
	return first, code
}

// writeDemoSettings writes settings.json as an MSP would, one entry per
// tenant, the first listing the others in source.fromTenants; caFile is
// set only where the system store cannot be pointed at graphsim's CA.
func writeDemoSettings(dir string, srv *graphsim.Server, tenants []graphsim.Tenant, creds []graphsim.AppCredential, caFile string) (string, error) {
	endpoints := map[string]any{"authority": srv.URL(), "graph": srv.URL()}
	if caFile != "" {
		endpoints["caFile"] = caFile
	}
	var entries []any
	var others []string
	for i, tenant := range tenants {
		name := demoName(tenant.Name)
		pem := append(append([]byte{}, creds[i].CertPEM...), creds[i].KeyPEM...)
		if err := os.WriteFile(filepath.Join(dir, name+".pem"), pem, 0o600); err != nil {
			return "", err
		}
		entries = append(entries, map[string]any{
			"name":        name,
			"tenantId":    tenant.ID,
			"clientId":    creds[i].ClientID,
			"certificate": map[string]any{"file": name + ".pem"},
			"cloud":       "custom",
			"endpoints":   endpoints,
			"folder":      "Company Directory",
			// The tenant's shared mailbox, room and equipment and its
			// mail-enabled groups, beside the people.
			"source": map[string]any{"includeShared": true, "includeRooms": true, "includeEquipment": true, "mailGroups": true},
			"photos": true, // every third generated user has a photo
		})
		if i > 0 {
			others = append(others, name)
		}
	}
	if len(others) > 0 {
		entries[0].(map[string]any)["source"].(map[string]any)["fromTenants"] = others
	}
	doc := map[string]any{
		"dataDir": "state",
		"tenants": entries,
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "settings.json")
	return path, os.WriteFile(path, append(b, '\n'), 0o600)
}

// showFolder prints the managed folder of the first mailbox that has one.
func showFolder(w io.Writer, srv *graphsim.Server, tenant graphsim.Tenant) {
	for _, u := range tenant.Users {
		folders, err := srv.Folders(tenant.ID, u.ID)
		if err != nil {
			continue
		}
		for _, f := range folders {
			if f.WellKnown || len(f.Contacts) == 0 {
				continue
			}
			fmt.Fprintf(w, "\n%s's folder %q holds %d contacts; the first ten:\n", u.DisplayName, f.DisplayName, len(f.Contacts))
			type row struct{ name, title, phone, mail string }
			var rows []row
			for _, c := range f.Contacts {
				var p struct {
					FileAs         string   `json:"fileAs"`
					JobTitle       string   `json:"jobTitle"`
					BusinessPhones []string `json:"businessPhones"`
					MobilePhone    string   `json:"mobilePhone"`
					EmailAddresses []struct {
						Address string `json:"address"`
					} `json:"emailAddresses"`
				}
				_ = json.Unmarshal(c.Properties, &p)
				r := row{name: p.FileAs, title: p.JobTitle, phone: p.MobilePhone}
				if len(p.BusinessPhones) > 0 {
					r.phone = p.BusinessPhones[0]
				}
				if len(p.EmailAddresses) > 0 {
					r.mail = p.EmailAddresses[0].Address
				}
				rows = append(rows, r)
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].name < rows[j].name })
			for i, r := range rows {
				if i == 10 {
					break
				}
				fmt.Fprintf(w, "  %-28s %-26s %-18s %s\n", trunc(r.name, 28), trunc(r.title, 26), r.phone, r.mail)
			}
			return
		}
	}
}

func trunc(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// demoName is the settings name of the generated tenant: "Northwind
// Traders" is northwind-traders.
func demoName(display string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(display) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	name := strings.TrimSuffix(b.String(), "-")
	if name == "" {
		return "demo"
	}
	return name
}

// demoSisterName is the second demo tenant's name: Fabrikam, unless the
// first is called that (then Tailspin Toys).
func demoSisterName(first string) string {
	if demoName(first) == "fabrikam" {
		return "Tailspin Toys"
	}
	return "Fabrikam"
}

// showFromTenant prints how many of the first mailbox's managed contacts
// are the other tenant's people, by their source-id marks.
func showFromTenant(w io.Writer, srv *graphsim.Server, tenant, other graphsim.Tenant) {
	if len(tenant.Users) == 0 {
		return
	}
	folders, err := srv.Folders(tenant.ID, tenant.Users[0].ID)
	if err != nil {
		return
	}
	prefix := strings.ToLower(other.ID) + "/"
	var names []string
	for _, f := range folders {
		for _, c := range f.Contacts {
			for _, p := range c.ExtendedProperties {
				if strings.HasSuffix(p.ID, "galmirror.sourceId") && strings.HasPrefix(p.Value, prefix) {
					var v struct {
						DisplayName string `json:"displayName"`
					}
					_ = json.Unmarshal(c.Properties, &v)
					names = append(names, v.DisplayName)
				}
			}
		}
	}
	if len(names) == 0 {
		return
	}
	sort.Strings(names)
	fmt.Fprintf(w, "\n%d of them are %s's people (source.fromTenants), marked with %s's tenant id: %s, ...\n",
		len(names), other.Name, other.Name, strings.Join(names[:min(3, len(names))], ", "))
}

// demoDir is the demo's directory: keep, made if missing, or a temporary
// one that cleanup removes.
func demoDir(keep string) (dir string, cleanup func(), err error) {
	if keep == "" {
		d, err := os.MkdirTemp("", "galmirror-demo-")
		if err != nil {
			return "", nil, err
		}
		return d, func() { os.RemoveAll(d) }, nil
	}
	return keep, func() {}, os.MkdirAll(keep, 0o700)
}

// runDemoConsole is demo --console: its directory, then demoConsole.
func runDemoConsole(ctx context.Context, keep, listen string, users int, stdout, stderr io.Writer) int {
	if !console.Loopback(listen) {
		fmt.Fprintf(stderr, "galmirror demo: --listen %s: the demo console listens on loopback only (it has no sign-in)\n", listen)
		return exitUsage
	}
	dir, cleanup, err := demoDir(keep)
	if err != nil {
		fmt.Fprintf(stderr, "galmirror demo: %v\n", err)
		return exitFailed
	}
	defer cleanup()
	return demoConsole(ctx, dir, listen, users, stdout, stderr)
}
