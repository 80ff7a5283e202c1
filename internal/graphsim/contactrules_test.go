package graphsim

import (
	"strings"
	"testing"
)

// A contact write that sets a complex value to null fails with 500, as
// Exchange does; empty members clear an address.
func TestContactNullComplexValues(t *testing.T) {
	e := newEnv(t)
	p := "/users/" + alice + "/contacts"
	id := e.mkContact(alice, "", map[string]any{"givenName": "A", "homeAddress": map[string]any{"street": "1 Way", "city": "Town"}})["id"].(string)
	for _, body := range []string{
		`{"givenName":"B","businessAddress":null}`,
		`{"homeAddress":null}`,
		`{"otherAddress":null}`,
		`{"emailAddresses":[{"address":"a@b.c"},null]}`,
		`{"emailAddresses":[null]}`,
	} {
		for _, req := range []struct{ method, path string }{{"POST", p}, {"PATCH", p + "/" + id}} {
			r := e.do(req.method, req.path, body)
			e.want(r, 500, "ErrorInternalServerError")
			if !strings.Contains(string(r.raw), "An internal server error occurred. The operation failed.") {
				t.Errorf("%s %s: %s", req.method, body, r.raw)
			}
		}
	}
	// Nothing was written by the failed writes.
	r := e.do("GET", p+"/"+id, nil)
	if a := r.body["homeAddress"].(map[string]any); a["city"] != "Town" {
		t.Errorf("address changed by a failed write: %s", r.raw)
	}
	if got := len(e.do("GET", p, nil).value()); got != 1 {
		t.Errorf("%d contacts after failed creates", got)
	}
	// Explicit empty strings clear the address; so does {}.
	r = e.do("PATCH", p+"/"+id, `{"homeAddress":{"street":"","city":"","state":"","countryOrRegion":"","postalCode":""}}`)
	e.want(r, 200, "")
	if a := r.body["homeAddress"].(map[string]any); a["city"] != "" || a["street"] != "" {
		t.Errorf("cleared address %v", a)
	}
	e.want(e.do("POST", p, `{"givenName":"C","businessAddress":{}}`), 201, "")
	// In $batch, the item answers 500.
	r = e.do("POST", "/$batch", map[string]any{"requests": []any{item("1", "POST", p, map[string]any{"givenName": "D", "otherAddress": nil})}})
	if st := status(responses(t, r)["1"]); st != 500 {
		t.Errorf("batch item %d", st)
	}
}

// Exchange caps businessPhones and homePhones at 2 entries and
// emailAddresses at 3.
func TestContactCollectionLimits(t *testing.T) {
	e := newEnv(t)
	p := "/users/" + alice + "/contacts"
	ok := map[string]any{
		"givenName":      "Max",
		"businessPhones": []any{"1", "2"}, "homePhones": []any{"3", "4"},
		"emailAddresses": []any{map[string]any{"address": "a@x.y"}, map[string]any{"address": "b@x.y"}, map[string]any{"address": "c@x.y"}},
	}
	id := e.mkContact(alice, "", ok)["id"].(string)
	for _, c := range []struct {
		body, msg string
	}{
		{`{"businessPhones":["1","2","3"]}`, "The multi value property BusinessPhones has 3 entries, that exceeds the max allowed value of 2"},
		{`{"homePhones":["1","2","3","4"]}`, "The multi value property HomePhones has 4 entries, that exceeds the max allowed value of 2"},
		{`{"emailAddresses":[{"address":"a@x.y"},{"address":"b@x.y"},{"address":"c@x.y"},{"address":"d@x.y"}]}`, "The multi value property EmailAddresses has 4 entries, that exceeds the max allowed value of 3"},
	} {
		for _, req := range []struct{ method, path string }{{"POST", p}, {"PATCH", p + "/" + id}} {
			r := e.do(req.method, req.path, c.body)
			e.want(r, 400, "ErrorInvalidArgument")
			if !strings.Contains(string(r.raw), c.msg) {
				t.Errorf("%s %s: %s", req.method, c.body, r.raw)
			}
		}
	}
	// Other collections are not capped.
	e.want(e.do("PATCH", p+"/"+id, `{"categories":["a","b","c","d"],"children":["a","b","c"]}`), 200, "")
}
