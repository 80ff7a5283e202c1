// Package kdctest starts a throwaway MIT Kerberos KDC for tests: its own
// realm (and on request a second, trusted one), database, configuration and
// keytabs in a temporary directory, the KDC on a free port of 127.0.0.1,
// killed when the test ends. No root and no system configuration are
// touched. Tests skip (loudly) where the Debian packages krb5-kdc,
// krb5-admin-server and krb5-user are not installed.
//
// Principal names given to the helpers are in Realm unless they end in
// "@REALM".
package kdctest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Realm is the test realm, the one services live in.
const Realm = "GALMIRROR.TEST"

// TrustedRealm is the second realm StartWithTrust sets up: Realm and
// TrustedRealm trust each other directly, so alice@TRUSTED.TEST can get a
// ticket for HTTP/localhost@GALMIRROR.TEST through the cross-realm
// krbtgt/GALMIRROR.TEST@TRUSTED.TEST.
const TrustedRealm = "TRUSTED.TEST"

// KDC is a running test KDC.
type KDC struct {
	Dir string
	// Port is the KDC's TCP and UDP port on 127.0.0.1.
	Port int
	// Krb5Conf is the client configuration (for KRB5_CONFIG).
	Krb5Conf string
	// Realms are the realms this KDC serves: Realm, then TrustedRealm
	// after StartWithTrust.
	Realms []string
	env    []string
	t      testing.TB
}

var binaries = []string{"krb5kdc", "kdb5_util", "kadmin.local", "kinit", "kvno"}

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
	return start(t, Realm)
}

// StartWithTrust is Start with a second realm, TrustedRealm, served by the
// same KDC, and a two-way direct trust between the two: the cross-realm
// principals krbtgt/GALMIRROR.TEST@TRUSTED.TEST and
// krbtgt/TRUSTED.TEST@GALMIRROR.TEST, each with the same key in both
// databases, and [capaths] saying the path is direct.
func StartWithTrust(t testing.TB) *KDC {
	t.Helper()
	k := start(t, Realm, TrustedRealm)
	for _, p := range [][2]string{{Realm, TrustedRealm}, {TrustedRealm, Realm}} {
		// krbtgt/TO@FROM lets FROM's users ask TO's KDC for tickets.
		to, from := p[0], p[1]
		princ := "krbtgt/" + to + "@" + from
		pw := randomPassword(t)
		for _, r := range k.Realms {
			k.kadminRealm(r, fmt.Sprintf("addprinc -pw %s %s", pw, princ))
		}
	}
	return k
}

func start(t testing.TB, realms ...string) *KDC {
	t.Helper()
	for _, b := range binaries {
		if _, err := lookPath(b); err != nil {
			t.Skipf("SKIP (not a pass): MIT Kerberos %s is not installed; "+
				"apt-get install krb5-kdc krb5-admin-server krb5-user to run the Kerberos end-to-end test", b)
		}
	}
	dir := t.TempDir()
	k := &KDC{Dir: dir, Port: freePort(t), Realms: realms, t: t}
	k.Krb5Conf = filepath.Join(dir, "krb5.conf")
	kdcConf := filepath.Join(dir, "kdc.conf")

	var clientRealms, capaths, kdcRealms strings.Builder
	for i, r := range realms {
		fmt.Fprintf(&clientRealms, "\t%s = {\n\t\tkdc = 127.0.0.1:%d\n\t}\n", r, k.Port)
		// Every pair of realms trusts directly, not through the parent
		// realm TEST that the default hierarchical path would take.
		var direct strings.Builder
		for _, o := range realms {
			if o != r {
				fmt.Fprintf(&direct, "\t\t%s = .\n", o)
			}
		}
		if direct.Len() > 0 {
			fmt.Fprintf(&capaths, "\t%s = {\n%s\t}\n", r, direct.String())
		}
		fmt.Fprintf(&kdcRealms, `	%[1]s = {
		database_name = %[2]s/principal%[3]d
		key_stash_file = %[2]s/stash%[3]d
		acl_file = %[2]s/kadm5.acl
		max_life = 1h
		supported_enctypes = aes256-cts-hmac-sha1-96:normal
		master_key_type = aes256-cts-hmac-sha1-96
	}
`, r, dir, i)
	}
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
%[2]s[domain_realm]
	localhost = %[1]s
[capaths]
%[3]s`, realms[0], clientRealms.String(), capaths.String()))
	write(t, kdcConf, fmt.Sprintf(`[kdcdefaults]
	kdc_ports = %[1]d
	kdc_tcp_ports = %[1]d
[realms]
%[2]s[logging]
	kdc = FILE:%[3]s/kdc.log
`, k.Port, kdcRealms.String(), dir))
	write(t, filepath.Join(dir, "kadm5.acl"), "")
	k.env = append(os.Environ(), "KRB5_CONFIG="+k.Krb5Conf, "KRB5_KDC_PROFILE="+kdcConf)

	args := []string{"-n", "-P", filepath.Join(dir, "kdc.pid")}
	for _, r := range realms {
		k.run("kdb5_util", "create", "-s", "-r", r, "-P", "master-"+r)
		args = append(args, "-r", r)
	}

	ctx, cancel := context.WithCancel(context.Background())
	bin, _ := lookPath("krb5kdc")
	cmd := exec.CommandContext(ctx, bin, args...)
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
	k.kadmin(name, fmt.Sprintf("addprinc -pw %s %s", password, name))
}

// AddService creates a service principal with a random key and returns the
// path of a keytab holding it.
func (k *KDC) AddService(spn string) string {
	k.t.Helper()
	k.kadmin(spn, "addprinc -randkey "+spn)
	kt := k.keytabPath(spn)
	k.kadmin(spn, fmt.Sprintf("ktadd -k %s %s", kt, spn))
	return kt
}

// AddServicesSharingKey creates service principals of one realm that share
// one key and key version, as every SPN on an Active Directory account
// does (HTTP/host and cifs/host on a computer account): a ticket for one
// decrypts with the key of each. The key is derived from a random password
// with the realm-only salt, which is what makes the keys equal. Keytab
// exports them.
func (k *KDC) AddServicesSharingKey(spns ...string) {
	k.t.Helper()
	pw := randomPassword(k.t)
	for _, spn := range spns {
		k.kadmin(spn, fmt.Sprintf("addprinc -e aes256-cts-hmac-sha1-96:onlyrealm -pw %s %s", pw, spn))
	}
}

// Keytab writes the current keys of existing principals of one realm, as
// they are (no new key), into a new keytab and returns its path.
func (k *KDC) Keytab(spns ...string) string {
	k.t.Helper()
	kt := k.keytabPath(strings.Join(spns, "+"))
	k.kadmin(spns[0], fmt.Sprintf("ktadd -norandkey -k %s %s", kt, strings.Join(spns, " ")))
	return kt
}

func (k *KDC) keytabPath(name string) string {
	return filepath.Join(k.Dir, strings.NewReplacer("/", "_", "@", "_").Replace(name)+".keytab")
}

// Kinit logs name in with password into a new FILE: credential cache and
// returns its path (for KRB5CCNAME), as a user running kinit would.
func (k *KDC) Kinit(name, password string) string {
	k.t.Helper()
	princ := qualify(name)
	cc := filepath.Join(k.Dir, "cc_"+strings.NewReplacer("/", "_", "@", "_").Replace(princ))
	bin, _ := lookPath("kinit")
	cmd := exec.Command(bin, "-c", "FILE:"+cc, princ)
	cmd.Env = k.env
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		k.t.Fatalf("kinit %s: %v\n%s", princ, err, out)
	}
	return cc
}

// ServiceTicket gets a ticket for spn into the credential cache cc with
// MIT's kvno, as any Kerberos-aware program of the user would: across the
// trust when spn's realm is not the user's.
func (k *KDC) ServiceTicket(cc, spn string) {
	k.t.Helper()
	k.run("kvno", "-c", "FILE:"+cc, qualify(spn))
}

// qualify appends @Realm to a principal name without a realm.
func qualify(name string) string {
	if strings.Contains(name, "@") {
		return name
	}
	return name + "@" + Realm
}

// kadmin runs query in the database of the realm princ names.
func (k *KDC) kadmin(princ, query string) {
	k.t.Helper()
	realm := Realm
	if _, r, ok := strings.Cut(princ, "@"); ok {
		realm = r
	}
	k.kadminRealm(realm, query)
}

func (k *KDC) kadminRealm(realm, query string) {
	k.t.Helper()
	k.run("kadmin.local", "-r", realm, "-q", query)
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

// randomPassword returns a password no test needs to know.
func randomPassword(t testing.TB) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
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
