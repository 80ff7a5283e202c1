// Package kdctest starts a throwaway MIT Kerberos KDC for tests: its own
// realm, database, configuration and keytabs in a temporary directory, the
// KDC on a free port of 127.0.0.1, killed when the test ends. No root and no
// system configuration are touched. Tests skip (loudly) where the Debian
// packages krb5-kdc, krb5-admin-server and krb5-user are not installed.
package kdctest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Realm is the test realm.
const Realm = "GALMIRROR.TEST"

// KDC is a running test KDC.
type KDC struct {
	Dir string
	// Port is the KDC's TCP and UDP port on 127.0.0.1.
	Port int
	// Krb5Conf is the client configuration (for KRB5_CONFIG).
	Krb5Conf string
	env      []string
	t        testing.TB
}

var binaries = []string{"krb5kdc", "kdb5_util", "kadmin.local", "kinit"}

func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// Start creates the realm and starts the KDC, or skips the test when the
// MIT binaries are missing.
func Start(t testing.TB) *KDC {
	t.Helper()
	for _, b := range binaries {
		if _, err := lookPath(b); err != nil {
			t.Skipf("SKIP (not a pass): MIT Kerberos %s is not installed; "+
				"apt-get install krb5-kdc krb5-admin-server krb5-user to run the Kerberos end-to-end test", b)
		}
	}
	dir := t.TempDir()
	k := &KDC{Dir: dir, Port: freePort(t), t: t}
	k.Krb5Conf = filepath.Join(dir, "krb5.conf")
	kdcConf := filepath.Join(dir, "kdc.conf")
	write(t, k.Krb5Conf, fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_kdc = false
	dns_lookup_realm = false
	rdns = false
	udp_preference_limit = 1
	default_tkt_enctypes = aes256-cts-hmac-sha1-96
	default_tgs_enctypes = aes256-cts-hmac-sha1-96
	permitted_enctypes = aes256-cts-hmac-sha1-96
[realms]
	%[1]s = {
		kdc = 127.0.0.1:%[2]d
	}
[domain_realm]
	localhost = %[1]s
`, Realm, k.Port))
	write(t, kdcConf, fmt.Sprintf(`[kdcdefaults]
	kdc_ports = %[2]d
	kdc_tcp_ports = %[2]d
[realms]
	%[1]s = {
		database_name = %[3]s/principal
		key_stash_file = %[3]s/stash
		acl_file = %[3]s/kadm5.acl
		max_life = 1h
		supported_enctypes = aes256-cts-hmac-sha1-96:normal
		master_key_type = aes256-cts-hmac-sha1-96
	}
[logging]
	kdc = FILE:%[3]s/kdc.log
`, Realm, k.Port, dir))
	write(t, filepath.Join(dir, "kadm5.acl"), "")
	k.env = append(os.Environ(), "KRB5_CONFIG="+k.Krb5Conf, "KRB5_KDC_PROFILE="+kdcConf)

	k.run("kdb5_util", "create", "-s", "-r", Realm, "-P", "master-"+Realm)

	ctx, cancel := context.WithCancel(context.Background())
	bin, _ := lookPath("krb5kdc")
	cmd := exec.CommandContext(ctx, bin, "-n", "-r", Realm, "-P", filepath.Join(dir, "kdc.pid"))
	cmd.Env = k.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start krb5kdc: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", k.Port), 100*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "kdc.log"))
			t.Fatalf("krb5kdc did not listen on port %d: %v\n%s\n%s", k.Port, err, out.String(), log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return k
}

// AddUser creates a user principal with a password.
func (k *KDC) AddUser(name, password string) {
	k.t.Helper()
	k.kadmin(fmt.Sprintf("addprinc -pw %s %s", password, name))
}

// AddService creates a service principal with a random key and returns the
// path of a keytab holding it.
func (k *KDC) AddService(spn string) string {
	k.t.Helper()
	kt := filepath.Join(k.Dir, strings.NewReplacer("/", "_", "@", "_").Replace(spn)+".keytab")
	k.kadmin("addprinc -randkey " + spn)
	k.kadmin(fmt.Sprintf("ktadd -k %s %s", kt, spn))
	return kt
}

// Kinit logs name in with password into a new FILE: credential cache and
// returns its path (for KRB5CCNAME), as a user running kinit would.
func (k *KDC) Kinit(name, password string) string {
	k.t.Helper()
	cc := filepath.Join(k.Dir, "cc_"+strings.ReplaceAll(name, "/", "_"))
	bin, _ := lookPath("kinit")
	cmd := exec.Command(bin, "-c", "FILE:"+cc, name+"@"+Realm)
	cmd.Env = k.env
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		k.t.Fatalf("kinit %s: %v\n%s", name, err, out)
	}
	return cc
}

func (k *KDC) kadmin(query string) {
	k.t.Helper()
	k.run("kadmin.local", "-r", Realm, "-q", query)
}

func (k *KDC) run(name string, args ...string) {
	k.t.Helper()
	bin, _ := lookPath(name)
	cmd := exec.Command(bin, args...)
	cmd.Env = k.env
	if out, err := cmd.CombinedOutput(); err != nil {
		k.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func write(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// freePort returns a port free for both TCP and UDP on 127.0.0.1.
func freePort(t testing.TB) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port for the KDC")
	return 0
}
