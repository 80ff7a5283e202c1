//go:build linux

package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// galmirror console refuses, before listening or polling, a file with a
// mistake (naming where) and a non-loopback address without sign-in.
func TestConsoleCommandRefusesBadStarts(t *testing.T) {
	dir := t.TempDir()
	pin := strings.Repeat("ab", 32)
	cfg := filepath.Join(dir, "console.json")
	cert := writeClientCert(t, dir, "console")
	customers := []any{map[string]any{"name": "contoso", "address": "https://127.0.0.1:1", "fingerprint": pin, "certificate": map[string]any{"file": cert.cert, "key": cert.key}}}

	writeJSON(t, cfg, map[string]any{"listen": "0.0.0.0:0", "customers": customers})
	code, _, errOut := runCmd(t, "console", "--config", cfg)
	if code != exitUsage || !strings.Contains(errOut, "listening on 0.0.0.0:0 needs an authentication method: auth.oidc or auth.clientCertificates") {
		t.Errorf("non-loopback without auth: exit %d\n%s", code, errOut)
	}
	writeJSON(t, cfg, map[string]any{"listen": "127.0.0.1:0", "customers": []any{map[string]any{"name": "contoso", "address": "https://127.0.0.1:1"}}})
	code, _, errOut = runCmd(t, "console", "--config", cfg)
	if code != exitUsage || !strings.Contains(errOut, cfg+":3:5: customers[0].fingerprint: missing") {
		t.Errorf("missing pin: exit %d\n%s", code, errOut)
	}
	writeJSON(t, cfg, map[string]any{"listen": "127.0.0.1:0", "customers": []any{map[string]any{"name": "contoso", "address": "https://127.0.0.1:1", "fingerprint": pin,
		"certificate": map[string]any{"file": "missing.pem"}}}})
	code, _, errOut = runCmd(t, "console", "--config", cfg)
	if code != exitUsage || !strings.Contains(errOut, "customers[0] (contoso): client certificate") {
		t.Errorf("missing certificate: exit %d\n%s", code, errOut)
	}
}
