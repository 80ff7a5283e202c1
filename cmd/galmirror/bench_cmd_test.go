package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Bad bench flags are usage errors, reported before anything starts.
func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--sizes", "10x20"}, {"--sizes", "abc"}, {"--mailboxes", "5"}, {"--fail-rate", "1"},
		{"--time-scale", "0"}, {"--tenants", "0"}, {"--latency", "-1ms"}, {"extra"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), append([]string{"bench"}, args...), &out, &errb); code != exitUsage {
			t.Errorf("bench %v: exit %d, want %d (%s)", args, code, exitUsage, errb.String())
		}
	}
}

// The whole benchmark at a tiny size through the built binary: graphsim in
// its own process, three sync processes, JSON out; every phase syncs what
// it must, with zero Retry-After violations, and the figures are filled in.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs graphsim and three syncs")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "galmirror")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "bench", "--sizes", "20x10", "--latency", "1ms", "--jitter", "0s", "--json", "--dir", filepath.Join(dir, "work"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	type result struct {
		Phase                string  `json:"phase"`
		Status               string  `json:"status"`
		Writes               int64   `json:"writes"`
		ExpectedWrites       int64   `json:"expectedWrites"`
		SimWrites            int64   `json:"simWrites"`
		Requests             int64   `json:"requests"`
		GalmirrorRequests    int64   `json:"galmirrorRequests"`
		BoundSeconds         float64 `json:"boundSeconds"`
		WallSeconds          float64 `json:"wallSeconds"`
		RetryAfterViolations int64   `json:"retryAfterViolations"`
		CPUSeconds           float64 `json:"cpuSeconds"`
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d result lines, want 3:\n%s\n%s", len(lines), stdout.String(), stderr.String())
	}
	// 20 users, 10 of them targets: 10 × 19 contacts, then nothing, then
	// 1 changed user (a target) in the 9 other mailboxes.
	want := []struct {
		phase  string
		writes int64
	}{{"initial", 190}, {"nochange", 0}, {"change1pct", 9}}
	for i, line := range lines {
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, line)
		}
		if r.Phase != want[i].phase || r.Status != "ok" || r.Writes != want[i].writes || r.ExpectedWrites != want[i].writes {
			t.Errorf("result %d: %+v, want phase %s with %d writes", i, r, want[i].phase, want[i].writes)
		}
		if r.RetryAfterViolations != 0 || r.Requests == 0 || r.Requests != r.GalmirrorRequests || r.WallSeconds <= 0 || r.BoundSeconds <= 0 {
			t.Errorf("result %d: %+v", i, r)
		}
		// graphsim counts the folder creations as writes too.
		if i == 0 && r.SimWrites != r.Writes+10 {
			t.Errorf("graphsim saw %d writes, galmirror made %d contacts and 10 folders", r.SimWrites, r.Writes)
		}
	}
}

// The photo phases at a tiny size through the built binary: the first run
// downloads each source's photo once and uploads it to every other target
// mailbox; a run with no change reads no photo byte and uploads none; a run
// after one photo changed downloads that one and uploads it 9 times.
func TestBenchPhotos(t *testing.T) {
	bin := galmirrorBinary(t) // the e2e tests' binary: no build of its own
	dir := t.TempDir()
	cmd := exec.Command(bin, "bench", "--sizes", "20x10", "--latency", "1ms", "--jitter", "0s", "--photos", "--json", "--dir", filepath.Join(dir, "work"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	type photos struct {
		Checked, Downloaded, Uploaded, Failed int
		DownloadedBytes, UploadedBytes        int64
		ExpectedDownloads, ExpectedUploads    int
	}
	type result struct {
		Phase   string  `json:"phase"`
		Status  string  `json:"status"`
		Photos  *photos `json:"photos"`
		Targets []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"targets"`
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d result lines, want 4:\n%s\n%s", len(lines), stdout.String(), stderr.String())
	}
	// Users 0, 2, ..., 18 have photos; all 20 are sources, 0–9 targets.
	want := []struct {
		phase              string
		downloads, uploads int
	}{{"initial", 10, 10*10 - 5}, {"nochange", 0, 0}, {"change1pct", 0, 0}, {"photos1pct", 1, 9}}
	for i, line := range lines {
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, line)
		}
		p := r.Photos
		if r.Phase != want[i].phase || r.Status != "ok" || p == nil || p.Checked != 20 || p.Downloaded != want[i].downloads ||
			p.Uploaded != want[i].uploads || p.ExpectedDownloads != want[i].downloads || p.ExpectedUploads != want[i].uploads || p.Failed != 0 {
			t.Errorf("result %d: %s", i, line)
			continue
		}
		if (p.Downloaded == 0) != (p.DownloadedBytes == 0) || (p.Uploaded == 0) != (p.UploadedBytes == 0) {
			t.Errorf("result %d: bytes do not match the counts: %+v", i, *p)
		}
		for _, c := range r.Targets {
			if strings.HasPrefix(c.Name, "photo") && !c.OK {
				t.Errorf("result %d: target %s missed", i, c.Name)
			}
		}
	}
}
