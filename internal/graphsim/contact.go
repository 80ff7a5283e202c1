package graphsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// The contact resource (v1.0) and its strict validation: an unknown
// property or a value of the wrong type is rejected with 400 as Graph does.

type ctype uint8

const (
	tStr ctype = iota
	tStrColl
	tDate
	tAddr
	tEmails
	tEmail
)

type cprop struct {
	name string
	t    ctype
	ro   bool // read-only: accepted in bodies, ignored
}

// contactSchema is in the order Graph returns a contact.
var contactSchema = []cprop{
	{"id", tStr, true},
	{"createdDateTime", tDate, true},
	{"lastModifiedDateTime", tDate, true},
	{"changeKey", tStr, true},
	{"categories", tStrColl, false},
	{"parentFolderId", tStr, true},
	{"birthday", tDate, false},
	{"fileAs", tStr, false},
	{"displayName", tStr, false},
	{"givenName", tStr, false},
	{"initials", tStr, false},
	{"middleName", tStr, false},
	{"nickName", tStr, false},
	{"surname", tStr, false},
	{"title", tStr, false},
	{"yomiGivenName", tStr, false},
	{"yomiSurname", tStr, false},
	{"yomiCompanyName", tStr, false},
	{"generation", tStr, false},
	{"emailAddresses", tEmails, false},
	{"primaryEmailAddress", tEmail, true},
	{"secondaryEmailAddress", tEmail, true},
	{"tertiaryEmailAddress", tEmail, true},
	{"imAddresses", tStrColl, false},
	{"jobTitle", tStr, false},
	{"companyName", tStr, false},
	{"department", tStr, false},
	{"officeLocation", tStr, false},
	{"profession", tStr, false},
	{"businessHomePage", tStr, false},
	{"assistantName", tStr, false},
	{"manager", tStr, false},
	{"homePhones", tStrColl, false},
	{"mobilePhone", tStr, false},
	{"businessPhones", tStrColl, false},
	{"spouseName", tStr, false},
	{"personalNotes", tStr, false},
	{"children", tStrColl, false},
	{"homeAddress", tAddr, false},
	{"businessAddress", tAddr, false},
	{"otherAddress", tAddr, false},
}

var contactIndex = func() map[string]int {
	m := map[string]int{}
	for i, p := range contactSchema {
		m[p.name] = i
	}
	return m
}()

var addressKeys = []string{"street", "city", "state", "countryOrRegion", "postalCode"}

// bodyError is a 400 (or status, when set) with Graph's code and message.
type bodyError struct {
	code, msg string
	status    int
}

func (e *bodyError) Error() string { return e.code + ": " + e.msg }

func errBody(code, format string, args ...any) *bodyError {
	return &bodyError{code: code, msg: fmt.Sprintf(format, args...)}
}

var errEmptyPayload = &bodyError{code: "BadRequest", msg: "Empty Payload. JSON content expected."}
var errBadJSON = &bodyError{code: "BadRequest", msg: "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format."}

// errNullComplex answers a contact write that sets a complex value
// (businessAddress, homeAddress, otherAddress, an emailAddresses element)
// to null: Exchange fails with 500 "An internal server error occurred. The
// operation failed." (https://github.com/microsoftgraph/msgraph-sdk-dotnet/issues/2368,
// create with BusinessAddress = null). The code is a guess
// (ErrorInternalServerError); the message is the issue's.
var errNullComplex = &bodyError{code: "ErrorInternalServerError", msg: "An internal server error occurred. The operation failed.", status: 500}

// maxEntries are the contact collections Exchange caps (Outlook's
// Business/Business2, Home/Home2 and Email1-3 slots): "The multi value
// property BusinessPhones has 3 entries, that exceeds the max allowed value
// of 2" and "... EmailAddresses has 4 entries, that exceeds the max allowed
// value of 3" (400; https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/560).
// The resource page (api-reference/v1.0/resources/contact.md) states no
// limit; homePhones' 2 follows Outlook's Home/Home2 slots. The code is a
// guess (ErrorInvalidArgument); the messages are the issue's.
func maxEntries(name string) (prop string, limit int) {
	switch name {
	case "businessPhones":
		return "BusinessPhones", 2
	case "homePhones":
		return "HomePhones", 2
	case "emailAddresses":
		return "EmailAddresses", 3
	}
	return "", 0
}

func errTooMany(prop string, n, limit int) *bodyError {
	return errBody("ErrorInvalidArgument", "The multi value property %s has %d entries, that exceeds the max allowed value of %d", prop, n, limit)
}

// parseObject decodes a JSON object body into its members, rejecting
// malformed JSON, non-objects and duplicate members.
func parseObject(body []byte) (map[string]json.RawMessage, []string, *bodyError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil, errEmptyPayload
	}
	if !json.Valid(body) {
		return nil, nil, errBadJSON
	}
	if nodeName(body) != "StartObject" {
		return nil, nil, errBody("RequestBodyRead", "An unexpected '%s' node was found when reading from the JSON reader. A 'StartObject' node was expected.", nodeName(body))
	}
	m := map[string]json.RawMessage{}
	var order []string
	var dup string
	splitObject(body, func(k string, v []byte) bool {
		if _, ok := m[k]; ok {
			dup = k
			return false
		}
		m[k] = v
		order = append(order, k)
		return true
	})
	if dup != "" {
		return nil, nil, errBody("RequestBodyRead", "Multiple property values were found for the property '%s'. A single property value is expected.", dup)
	}
	return m, order, nil
}

// nodeName names the JSON node kind of v as the OData reader does.
func nodeName(v []byte) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "EndOfInput"
	}
	switch v[0] {
	case '{':
		return "StartObject"
	case '[':
		return "StartArray"
	}
	return "PrimitiveValue"
}

func literal(v []byte) string {
	s := strings.TrimSpace(string(v))
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

func isNull(v []byte) bool { return string(bytes.TrimSpace(v)) == "null" }

// checkString validates an Edm.String value.
func checkString(name string, v json.RawMessage) (string, *bodyError) {
	switch nodeName(v) {
	case "PrimitiveValue":
		s, ok := rawString(bytes.TrimSpace(v))
		if !ok {
			return "", errBody("RequestBodyRead", "Cannot convert the literal '%s' to the expected type 'Edm.String'.", literal(v))
		}
		return s, nil
	default:
		return "", errBody("RequestBodyRead", "An unexpected '%s' node was found when reading from the JSON reader. A 'PrimitiveValue' node was expected.", nodeName(v))
	}
}

// canonicalString is the stored form of a validated JSON string: the raw
// token when it needs no normalising, else a fresh encoding.
func canonicalString(raw []byte, s string) []byte {
	raw = bytes.TrimSpace(raw)
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return raw
	}
	return mustJSON(s)
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func parseDateTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04:05.9999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// contactProps is the number of contact properties (contactSchema).
const contactProps = 41

// Indexes of the properties the code refers to.
var (
	iID, iCreated, iModified = contactIndex["id"], contactIndex["createdDateTime"], contactIndex["lastModifiedDateTime"]
	iChangeKey, iParent      = contactIndex["changeKey"], contactIndex["parentFolderId"]
	iDisplayName, iEmails    = contactIndex["displayName"], contactIndex["emailAddresses"]
	iPrimaryEmail            = contactIndex["primaryEmailAddress"]
	namePartIdx              = [...]int{contactIndex["givenName"], contactIndex["middleName"], contactIndex["surname"], contactIndex["generation"]}
)

func init() {
	if len(contactSchema) != contactProps || contactIndex["secondaryEmailAddress"] != iPrimaryEmail+1 || contactIndex["tertiaryEmailAddress"] != iPrimaryEmail+2 {
		panic("graphsim: contactSchema and contactProps disagree")
	}
}

// contactWrite is a validated contact body: the canonical value of each
// written property by schema index (nil clears it).
type contactWrite struct {
	vals   [contactProps][]byte
	set    uint64 // bit i: property i is written
	ext    []extProp
	hasExt bool
}

func (w *contactWrite) has(i int) bool { return w.set&(1<<i) != 0 }

// field returns a written property's canonical value (nil clears it).
func (w *contactWrite) field(name string) (json.RawMessage, bool) {
	i, ok := contactIndex[name]
	if !ok || !w.has(i) {
		return nil, false
	}
	return w.vals[i], true
}

func errDuplicate(key []byte) *bodyError {
	return errBody("RequestBodyRead", "Multiple property values were found for the property '%s'. A single property value is expected.", key)
}

// checkObject makes a body's first checks: not empty, JSON, an object.
func checkObject(body []byte) *bodyError {
	if len(bytes.TrimSpace(body)) == 0 {
		return errEmptyPayload
	}
	if !json.Valid(body) {
		return errBadJSON
	}
	return checkObjectNode(body)
}

// checkObjectNode refuses a JSON value that is not an object.
func checkObjectNode(body []byte) *bodyError {
	if len(bytes.TrimSpace(body)) == 0 {
		return errEmptyPayload
	}
	if nodeName(body) != "StartObject" {
		return errBody("RequestBodyRead", "An unexpected '%s' node was found when reading from the JSON reader. A 'StartObject' node was expected.", nodeName(body))
	}
	return nil
}

// parseContactBody validates a contact create or update body.
func parseContactBody(body []byte) (*contactWrite, *bodyError) {
	w := &contactWrite{}
	if e := parseContactInto(body, false, w); e != nil {
		return nil, e
	}
	return w, nil
}

// parseContactInto validates a contact body into w; checked says the
// body is already known to be JSON (a $batch item's). Members are read in
// order and the first error wins, but a repeated member, found anywhere,
// is reported first.
func parseContactInto(body []byte, checked bool, w *contactWrite) *bodyError {
	if checked {
		if e := checkObjectNode(body); e != nil {
			return e
		}
	} else if e := checkObject(body); e != nil {
		return e
	}
	var dup dupKeys
	var first *bodyError
	for it := members(body); ; {
		k, v, ok := it.next()
		if !ok {
			break
		}
		key := keyBytes(k)
		if dup.seen(key) {
			if len(key) == 0 {
				break // see dupKeys
			}
			return errDuplicate(key)
		}
		if first == nil {
			first = w.member(key, v)
		}
	}
	return first
}

// member validates one member of a contact body.
func (w *contactWrite) member(k, v []byte) *bodyError {
	switch string(k) {
	case "@odata.type":
		s, e := checkString("@odata.type", v)
		if e != nil {
			return e
		}
		if t := strings.TrimPrefix(s, "#"); !strings.EqualFold(t, "microsoft.graph.contact") {
			return errBody("RequestBodyRead", "A type named '%s' could not be resolved by the model. When a model is available, each type name must resolve to a valid type.", s)
		}
		return nil
	case "singleValueExtendedProperties":
		ext, e := parseExtProps(v)
		if e != nil {
			return e
		}
		w.ext, w.hasExt = ext, true
		return nil
	case "multiValueExtendedProperties", "extensions", "photo":
		return errBody("ErrorInvalidRequest", "graphsim does not emulate '%s' on contacts.", k)
	}
	if len(k) > 0 && k[0] == '@' {
		return nil // other instance annotations (@odata.etag, ...) are ignored
	}
	i, ok := contactIndex[string(k)]
	if !ok {
		return errBody("RequestBodyRead", "The property '%s' does not exist on type 'Microsoft.OutlookServices.Contact'. Make sure to only use property names that are defined by the type or mark the type as open type.", k)
	}
	p := contactSchema[i]
	if p.t == tAddr && isNull(v) {
		return errNullComplex
	}
	nv, e := normaliseValue(p, v)
	if e != nil || p.ro {
		return e
	}
	w.vals[i], w.set = nv, w.set|1<<i
	return nil
}

// splitDoc splits a canonical contact document by schema index.
func splitDoc(doc []byte, cur *[contactProps][]byte) {
	for it := members(doc); ; {
		k, v, ok := it.next()
		if !ok {
			return
		}
		if i, ok := contactIndex[string(keyBytes(k))]; ok {
			cur[i] = v
		}
	}
}

// applyWrite applies a validated write to a canonical contact document
// (members in schema order, cleared members dropped) and regenerates
// displayName from the name parts when a write changes them without
// giving displayName, as Outlook does. The document is one allocation of
// its exact size.
func applyWrite(old []byte, w *contactWrite, create bool) []byte {
	var cur [contactProps][]byte
	if len(old) > 0 {
		splitDoc(old, &cur)
	}
	nameChanged := create
	for _, i := range namePartIdx {
		if w.has(i) {
			nameChanged = true
		}
	}
	for i := range cur {
		if w.has(i) {
			cur[i] = w.vals[i]
		}
	}
	if !w.has(iDisplayName) && nameChanged {
		var parts []string
		for _, i := range namePartIdx {
			if raw := cur[i]; raw != nil {
				if s, ok := rawString(raw); ok && s != "" {
					parts = append(parts, s)
				}
			}
		}
		if len(parts) > 0 {
			cur[iDisplayName] = mustJSON(strings.Join(parts, " "))
		}
	}
	n := 1 // braces, less the first member's comma
	for i, v := range cur {
		if v != nil {
			n += len(contactSchema[i].name) + 4 + len(v)
		}
	}
	n = max(n, 2)
	doc := make([]byte, 0, n)
	doc = append(doc, '{')
	for i, v := range cur {
		if v == nil {
			continue
		}
		if len(doc) > 1 {
			doc = append(doc, ',')
		}
		doc = append(doc, '"')
		doc = append(doc, contactSchema[i].name...)
		doc = append(doc, '"', ':')
		doc = append(doc, v...)
	}
	return append(doc, '}')
}
