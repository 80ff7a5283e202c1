package graphsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

const hashP = "String {831CFECE-66B1-45B0-B604-2B01E00812F8} Name galmirror.hash"

// realisticContact is the kind of contact galmirror writes.
func realisticContact(i int) map[string]any {
	return map[string]any{
		"givenName": fmt.Sprintf("Łukasz%d", i), "surname": "Wiśniewski-Kowalczyk", "displayName": fmt.Sprintf("Łukasz%d Wiśniewski-Kowalczyk", i),
		"emailAddresses": []any{map[string]any{"address": fmt.Sprintf("lukasz.%d@contoso.onmicrosoft.com", i), "name": "Łukasz Wiśniewski-Kowalczyk"}},
		"businessPhones": []any{"+48 12 555 0100"}, "mobilePhone": "+48 600 100 200",
		"jobTitle": "Senior Account Executive", "department": "Sales", "companyName": "Contoso Polska Sp. z o.o.",
		"officeLocation":  "Kraków 3/301",
		"businessAddress": map[string]any{"street": "ul. Długa 12", "city": "Kraków", "postalCode": "31-147", "countryOrRegion": "Poland"},
		"singleValueExtendedProperties": []any{
			map[string]any{"id": sourceIDP, "value": formatGUID([16]byte{byte(i), byte(i >> 8), byte(i >> 16), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})},
			map[string]any{"id": hashP, "value": fmt.Sprintf("sha256:%043d", i)},
		},
	}
}

func benchTenant(b *testing.B, users int) Tenant {
	ten, _ := smallTenant(b)
	ten.Users = nil
	for i := 0; i < users; i++ {
		ten.Users = append(ten.Users, User{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1), UserPrincipalName: fmt.Sprintf("u%d@contoso.onmicrosoft.com", i)})
	}
	ten.Groups, ten.OrgContacts = nil, nil
	return ten
}

// BenchmarkBatchContactWrites measures contact creates through $batch over
// HTTPS with Graph's throttling on and no injected latency: each batch
// writes 4 contacts to each of 5 mailboxes (the most an unordered batch may
// hold per mailbox), each client goroutine owning its mailboxes.
func BenchmarkBatchContactWrites(b *testing.B) {
	const mailboxes = 400
	ten := benchTenant(b, mailboxes)
	cred := testCred
	srv, err := Start(Options{Tenants: []Tenant{ten}})
	must(b, err)
	defer srv.Close()
	tok, err := srv.AccessToken(ten.ID, cred.ClientID)
	must(b, err)
	client := srv.Client()
	folders := make([]string, mailboxes)
	for i := range folders {
		id, err := srv.OwnerCreateFolder(ten.ID, ten.Users[i].ID, "Company")
		must(b, err)
		folders[i] = id
	}
	body := func(group, seq int) []byte {
		var reqs []any
		for m := 0; m < 5; m++ {
			mbx := (group*5 + m) % mailboxes
			for k := 0; k < 4; k++ {
				reqs = append(reqs, map[string]any{
					"id": fmt.Sprint(m*4 + k + 1), "method": "POST",
					"url":     "/users/" + ten.Users[mbx].ID + "/contactFolders/" + folders[mbx] + "/contacts",
					"headers": map[string]string{"Content-Type": "application/json"},
					"body":    realisticContact(seq*20 + m*4 + k),
				})
			}
		}
		j, _ := json.Marshal(map[string]any{"requests": reqs})
		return j
	}
	// Bodies are built before timing so the client's JSON encoding does not
	// count against graphsim (both share the benchmark's two cores).
	const groupsMax, variants = 64, 8
	bodies := make([][][]byte, groupsMax)
	for g := range bodies {
		for v := 0; v < variants; v++ {
			bodies[g] = append(bodies[g], body(g, g*variants+v))
		}
	}
	var groups, seq atomic.Int64
	var failed atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		group := int(groups.Add(1)-1) % groupsMax // mailboxes group*5 .. group*5+4 belong to this goroutine
		for pb.Next() {
			req, _ := http.NewRequest("POST", srv.GraphURL()+"/$batch", bytes.NewReader(bodies[group][int(seq.Add(1))%variants]))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				failed.Add(1)
				continue
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || bytes.Count(raw, []byte(`"status":201`)) != 20 {
				failed.Add(1)
			}
		}
	})
	el := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d batches failed or had non-201 items", failed.Load())
	}
	b.ReportMetric(float64(20*b.N)/el.Seconds(), "writes/s")
}

// BenchmarkContactMemory stores 100,000 realistic contacts (100 mailboxes ×
// 1,000) and reports the heap they take per contact.
func BenchmarkContactMemory(b *testing.B) {
	const perMailbox, mailboxes = 1000, 100
	bodies := make([][]byte, 64)
	for i := range bodies {
		bodies[i], _ = json.Marshal(realisticContact(i))
	}
	var perContact float64
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		ten := benchTenant(b, mailboxes)
		s, err := newServer(Options{})
		must(b, err)
		must(b, s.PutTenant(ten))
		t, _ := s.tenant(ten.ID)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		now := time.Now()
		for m := 0; m < mailboxes; m++ {
			t.mu.Lock()
			mb := t.mailboxLocked(ten.Users[m].ID)
			t.mu.Unlock()
			mb.mu.Lock()
			f, _ := mb.createFolderLocked("Company", nil)
			for i := 0; i < perMailbox; i++ {
				// Distinct values per contact, as in a real tenant.
				body := bytes.Replace(bodies[i%len(bodies)], []byte("Łukasz"), []byte(fmt.Sprintf("Ł%05d", m*perMailbox+i)), 2)
				w, be := parseContactBody(body)
				if be != nil {
					b.Fatal(be)
				}
				mb.createContactLocked(f, w, now)
			}
			mb.mu.Unlock()
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		perContact = float64(after.HeapAlloc-before.HeapAlloc) / float64(perMailbox*mailboxes)
		runtime.KeepAlive(s)
	}
	b.ReportMetric(perContact, "bytes/contact")
	if perContact > 2048 {
		b.Errorf("%.0f bytes per contact, want at most 2048", perContact)
	}
}
