//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// `galmirror demo --console`, the built binary as a newcomer runs it: three
// services (northwind broken) and the console over them on loopback; Ctrl-C
// stops it all.
func TestDemoConsole(t *testing.T) {
	bin := galmirrorBinary(t)
	dir := t.TempDir()
	port := freePort(t)
	cmd := exec.Command(bin, "demo", "--console", "--users", "8", "--dir", dir, "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errb := &lockedBuffer{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()
	url := ""
	for url == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("demo ended before serving\n%s", errb.String())
			}
			if m := regexp.MustCompile(`Open (http://\S+) in a browser`).FindStringSubmatch(l); m != nil {
				url = m[1]
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("demo did not serve the console within 60s\n%s", errb.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	want := map[string]string{"contoso": "ok", "northwind": "failing"}
	var body string
	for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		body = string(b)
		done := strings.Count(body, "data-customer=") == 3 && !strings.Contains(body, `data-health="pending"`)
		for c, h := range want {
			if !strings.Contains(body, fmt.Sprintf(`data-customer=%q data-tenant=%q data-health=%q`, c, c, h)) {
				done = false
			}
		}
		if done && strings.Contains(body, "AADSTS700027") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo's console never showed contoso ok and northwind failing:\n%s\n%s", body, errb.String())
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("demo after Ctrl-C: %v\n%s", err, errb.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("demo did not stop after Ctrl-C\n%s", errb.String())
	}
	// Every service stopped with it: their logs end with the stop.
	for _, c := range []string{"contoso", "fabrikam", "northwind"} {
		b, err := os.ReadFile(filepath.Join(dir, c, "service.log"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "panic") {
			t.Errorf("%s's service log:\n%s", c, b)
		}
	}
}
