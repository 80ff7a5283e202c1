package graph

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A created contact as Graph returns it: the stamp comes from changeKey,
// nested objects and escaped strings are skipped whole.
func TestStampOf(t *testing.T) {
	body := `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users('u')/contactFolders('f')/contacts/$entity",
	 "@odata.etag":"W/\"EQAAABYAAAB\"","id":"AAMkAD\u00e9=","createdDateTime":"2026-01-01T00:00:00Z",
	 "displayName":"Zoë \"Z\" Adams","emailAddresses":[{"name":"a]}","address":"a@b"}],
	 "businessAddress":{"street":"{[","city":null},"changeKey":"EQAAABYAAAB","categories":[]}`
	st, err := StampOf([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != "AAMkADé=" || st.ChangeKey != "EQAAABYAAAB" || st.Removed {
		t.Fatalf("stamp %+v", st)
	}
	// Without changeKey (a delta page with $select), the etag gives it.
	st, err = StampOf([]byte(`{"@odata.etag":"W/\"CK1\"","id":"c1","displayName":"x"}`))
	if err != nil || st.ChangeKey != "CK1" || st.ID != "c1" {
		t.Fatalf("stamp %+v, %v", st, err)
	}
	st, err = StampOf([]byte(`{"id":"c2","@removed":{"reason":"deleted"}}`))
	if err != nil || !st.Removed || st.ID != "c2" {
		t.Fatalf("stamp %+v, %v", st, err)
	}
	st, err = StampOf([]byte(`{"id":"c3","@removed":null}`))
	if err != nil || st.Removed {
		t.Fatalf("null @removed: %+v, %v", st, err)
	}
	// A member name written with escapes is still that name.
	st, err = StampOf([]byte(`{"\u0069d":"c4"}`))
	if err != nil || st.ID != "c4" {
		t.Fatalf("escaped key: %+v, %v", st, err)
	}
}

func TestStampOfRejectsMalformed(t *testing.T) {
	for _, in := range []string{
		``, `[]`, `{`, `{"id"`, `{"id":}`, `{"id":"x"`, `{"id":"x",}`, `{"id":"x"}}`, `{"id":"x" "y":1}`,
		`{"a":[1,2}`, `{"a":{"b":[}]}`, `{"a":"unterminated}`, `{"a":tru"e"}`, `{"id":"x"} trailing`,
		`{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
	} {
		if st, err := StampOf([]byte(in)); err == nil {
			t.Errorf("StampOf(%q) = %+v, want an error", in, st)
		}
	}
}

// eachMember and eachElement split what encoding/json decodes into the
// same members and elements.
func TestWalkAgreesWithEncodingJSON(t *testing.T) {
	docs := []string{
		`{}`, `{"a":1,"b":[1,{"c":"]"}],"d":{"e":null},"f":"\\\"","g":-1.5e3,"h":true}`,
		` { "value" : [ {"id":"1"} , {"id":"2","x":[[],{}]} ] , "@odata.deltaLink" : "https://x/?$deltatoken=a%2Cb" } `,
	}
	for _, doc := range docs {
		checkWalk(t, []byte(doc))
	}
}

func checkWalk(t *testing.T, doc []byte) {
	t.Helper()
	var want map[string]json.RawMessage
	if err := json.Unmarshal(doc, &want); err != nil {
		return
	}
	got := map[string]json.RawMessage{}
	if err := eachMember(doc, func(k, v []byte) bool {
		var key string
		if err := json.Unmarshal(append(append([]byte{'"'}, k...), '"'), &key); err != nil {
			t.Fatalf("key %q: %v", k, err)
		}
		got[key] = append(json.RawMessage(nil), v...)
		return true
	}); err != nil {
		t.Fatalf("eachMember(%s): %v", doc, err)
	}
	if len(got) != len(want) {
		t.Fatalf("eachMember(%s): %d members, encoding/json %d", doc, len(got), len(want))
	}
	for k, w := range want {
		var a, b any
		_ = json.Unmarshal(w, &a)
		if err := json.Unmarshal(got[k], &b); err != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("eachMember(%s): member %q = %s, encoding/json %s", doc, k, got[k], w)
		}
		var wantEls []json.RawMessage
		if len(w) > 0 && w[0] == '[' && json.Unmarshal(w, &wantEls) == nil {
			n := 0
			if err := eachElement(got[k], func(v []byte) bool {
				var a, b any
				_ = json.Unmarshal(wantEls[n], &a)
				if err := json.Unmarshal(v, &b); err != nil || !reflect.DeepEqual(a, b) {
					t.Fatalf("eachElement(%s): element %d = %s, encoding/json %s", got[k], n, v, wantEls[n])
				}
				n++
				return true
			}); err != nil || n != len(wantEls) {
				t.Fatalf("eachElement(%s): %d elements, %v; encoding/json %d", got[k], n, err, len(wantEls))
			}
		}
	}
}

// FuzzStampOf: never a panic; on whatever encoding/json accepts as an
// object, the walk agrees with it and the stamp's id is the one
// encoding/json decodes.
func FuzzStampOf(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "jsonscan", "*.json"))
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"id":"x","changeKey":"k","a":[{"b":"]\\"}"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := StampOf(b)
		var obj map[string]json.RawMessage
		if json.Unmarshal(b, &obj) != nil {
			return
		}
		if err != nil {
			t.Fatalf("StampOf rejects what encoding/json accepts: %v", err)
		}
		checkWalk(t, b)
		var c struct {
			ID *string `json:"id"`
		}
		// encoding/json matches names case-insensitively; StampOf does
		// not (Graph's names are exact), so compare only exact-case docs.
		if json.Unmarshal(b, &c) == nil && c.ID != nil && exactKey(obj, "id") {
			if st.ID != *c.ID {
				t.Fatalf("id %q, encoding/json %q", st.ID, *c.ID)
			}
		}
	})
}

func exactKey(obj map[string]json.RawMessage, name string) bool {
	for k := range obj {
		if strings.EqualFold(k, name) && k != name {
			return false
		}
	}
	_, ok := obj[name]
	return ok
}

// BenchmarkStampOf reads a created contact's id and change key, as every
// successful create does; BenchmarkStampOfUnmarshal is what it replaced.
func BenchmarkStampOf(b *testing.B) {
	body := benchContactJSON(b)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if st, err := StampOf(body); err != nil || st.ID == "" {
			b.Fatal(st, err)
		}
	}
}

func BenchmarkStampOfUnmarshal(b *testing.B) {
	body := benchContactJSON(b)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var ct Contact
		if err := json.Unmarshal(body, &ct); err != nil || ct.ID == "" {
			b.Fatal(err)
		}
	}
}

// benchContactJSON is a created contact as Graph returns it, with every
// managed field set.
func benchContactJSON(b *testing.B) []byte {
	b.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "jsonscan", "contact-create-response.json"))
	if err != nil {
		b.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		b.Fatal(err)
	}
	m["changeKey"] = "EQAAABYAAACuVgL8v+c3SqdGBlVlq6w3AAAOdM4N"
	m["@odata.etag"] = `W/"EQAAABYAAACuVgL8v+c3SqdGBlVlq6w3AAAOdM4N"`
	m["businessPhones"] = []string{"+1 425 555 0100", "+1 425 555 0101"}
	m["jobTitle"], m["department"], m["officeLocation"] = "Senior Engineer", "Research & Development", "Seattle 4/211"
	m["businessAddress"] = map[string]any{"street": "1 Contoso Way", "city": "Redmond", "state": "WA", "postalCode": "98052", "countryOrRegion": "United States"}
	out, _ := json.Marshal(m)
	return out
}
