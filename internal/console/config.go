package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/galmirror/galmirror/internal/admin"
)

// Config is console.json: where the console listens, how its users sign in,
// and the fleet of customers it watches.
type Config struct {
	// Schema is ignored; it lets editors find docs/console.schema.json.
	Schema string `json:"$schema,omitempty"`
	// Listen is the host:port of the console's web server.
	Listen string `json:"listen"`
	// DataDir keeps the console's audit log and its generated server
	// certificate; relative to the file. Default "console-state".
	DataDir string `json:"dataDir,omitempty"`
	// TLS is the console's own certificate; without it one is generated
	// in DataDir (non-loopback addresses) or, on loopback, plain HTTP is
	// served.
	TLS *TLSConfig `json:"tls,omitempty"`
	// Auth says how the console's users sign in; required on any address
	// but loopback.
	Auth *AuthConfig `json:"auth,omitempty"`
	// PushListen is the host:port where pushed customers' services dial
	// in (package tunnel); "" for none.
	PushListen string `json:"pushListen,omitempty"`
	// Poll tunes how customers are polled.
	Poll PollConfig `json:"poll"`
	// ClientCertificate is the certificate the console presents to every
	// polled customer that names no credentials of its own.
	ClientCertificate *CertFiles `json:"clientCertificate,omitempty"`
	Customers         []Customer `json:"customers"`

	file string // path of console.json, for messages
}

// TLSConfig names the console's HTTPS certificate.
type TLSConfig struct {
	CertFile string `json:"certFile"`
	KeyFile  string `json:"keyFile,omitempty"`
}

// AuthConfig holds the sign-in methods; their contents belong to package
// webauth and are handed to it as they are.
type AuthConfig struct {
	OIDC               json.RawMessage `json:"oidc,omitempty"`
	ClientCertificates json.RawMessage `json:"clientCertificates,omitempty"`
}

// PollConfig tunes polling.
type PollConfig struct {
	// Every is the interval between two polls of one customer (default 30s).
	Every Duration `json:"every,omitempty"`
	// Timeout bounds each call to a customer (default 10s).
	Timeout Duration `json:"timeout,omitempty"`
	// Concurrency is how many customers are polled at once (default 16).
	Concurrency int `json:"concurrency,omitempty"`
}

// CertFiles is a PEM certificate and key.
type CertFiles struct {
	File string `json:"file"`
	Key  string `json:"key,omitempty"`
}

// Customer is one galmirror service the console watches.
type Customer struct {
	// Name is what the pages and URLs show: letters, digits, '-', '_', '.'.
	Name string `json:"name"`
	// Address is https://host:port of the service's admin endpoint (polled).
	Address string `json:"address,omitempty"`
	// Fingerprint pins the admin endpoint's certificate (galmirror status
	// prints it).
	Fingerprint string `json:"fingerprint,omitempty"`
	// Certificate authenticates the console to this customer.
	Certificate *CertFiles `json:"certificate,omitempty"`
	// Kerberos authenticates with the console's Kerberos ticket.
	Kerberos *KerberosConfig `json:"kerberos,omitempty"`
	// Push is set for a customer whose service dials in.
	Push *PushConfig `json:"push,omitempty"`
}

// KerberosConfig selects Kerberos for a customer.
type KerberosConfig struct {
	// SPN defaults to HTTP/<address host>.
	SPN string `json:"spn,omitempty"`
}

// PushConfig identifies a pushed customer's service by its client
// certificate.
type PushConfig struct {
	ClientCertFingerprint string `json:"clientCertFingerprint"`
}

// Pushed reports whether the customer's service dials in.
func (c Customer) Pushed() bool { return c.Push != nil }

// Duration is a time.Duration written as "30s" in JSON.
type Duration time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`want a duration such as "30s"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"30s\"", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Defaults of the poll settings.
const (
	DefaultEvery       = 30 * time.Second
	DefaultTimeout     = 10 * time.Second
	DefaultConcurrency = 16
	maxConfigBytes     = 4 << 20
	maxCustomers       = 5000
)

// ConfigError is one problem in console.json, located by line and column
// (when known) and JSON path.
type ConfigError struct {
	File         string
	Line, Column int
	Path         string
	Message      string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	b.WriteByte(':')
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Line, e.Column)
	}
	b.WriteByte(' ')
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// LoadConfig reads and checks console.json. Relative file names in it are
// made absolute against the file's directory.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(path, data)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.DataDir)
	if c.TLS != nil {
		abs(&c.TLS.CertFile)
		abs(&c.TLS.KeyFile)
	}
	if c.ClientCertificate != nil {
		abs(&c.ClientCertificate.File)
		abs(&c.ClientCertificate.Key)
	}
	for i := range c.Customers {
		if cf := c.Customers[i].Certificate; cf != nil {
			abs(&cf.File)
			abs(&cf.Key)
		}
	}
	return c, nil
}

var customerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ParseConfig parses console.json's text; file names the file in errors.
func ParseConfig(file string, data []byte) (*Config, error) {
	if len(data) > maxConfigBytes {
		return nil, &ConfigError{File: file, Message: fmt.Sprintf("file is %d bytes, more than the %d a console.json may have", len(data), maxConfigBytes)}
	}
	data = bytes.TrimPrefix(data, []byte{0xEF, 0xBB, 0xBF})
	if !utf8.Valid(data) {
		return nil, &ConfigError{File: file, Message: "not UTF-8 text"}
	}
	offsets, perr := pathOffsets(data)
	errAt := func(path, format string, args ...any) *ConfigError {
		e := &ConfigError{File: file, Path: path, Message: fmt.Sprintf(format, args...)}
		// A missing value is located at the object that lacks it.
		for p := path; p != ""; p = parentPath(p) {
			if off, ok := offsets[p]; ok {
				e.Line, e.Column = lineCol(data, off)
				break
			}
		}
		return e
	}
	if perr != nil {
		e := &ConfigError{File: file, Message: perr.msg}
		e.Line, e.Column = lineCol(data, perr.off)
		return nil, e
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			e := errAt(jsonPath(te.Field), "want %s, not a JSON %s", kindName(te.Type.Kind().String()), te.Value)
			if e.Line == 0 {
				e.Line, e.Column = lineCol(data, te.Offset)
			}
			return nil, e
		case errors.As(err, &se):
			e := &ConfigError{File: file, Message: se.Error()}
			e.Line, e.Column = lineCol(data, se.Offset)
			return nil, e
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
			// The decoder does not say where; the first place with that
			// key is where it is.
			p := firstPathEnding(offsets, name)
			return nil, errAt(p, "unknown key %q", name)
		default:
			msg := err.Error()
			if i := strings.Index(msg, ": "); strings.HasPrefix(msg, "json: ") && i > 0 {
				msg = msg[i+2:]
			}
			// A Duration's own error: find which one.
			var which string
			for _, p := range []string{"poll.every", "poll.timeout"} {
				if _, ok := offsets[p]; ok && strings.Contains(string(data[offsets[p]:min(int(offsets[p])+64, len(data))]), strings.Trim(strings.SplitN(msg, " is not", 2)[0], `"`)) {
					which = p
				}
			}
			return nil, errAt(which, "%s", msg)
		}
	}
	if dec.More() {
		return nil, &ConfigError{File: file, Message: "more than one JSON value in the file"}
	}
	c.file = file
	if err := c.check(errAt); err != nil {
		return nil, err
	}
	return &c, nil
}

func kindName(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int", "int64":
		return "a number"
	case "slice":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	case "bool":
		return "true or false"
	}
	return k
}

func (c *Config) check(errAt func(path, format string, args ...any) *ConfigError) error {
	if c.Listen == "" {
		return errAt("listen", "missing: give the console's host:port, e.g. \"127.0.0.1:8440\"")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return errAt("listen", "%q is not host:port", c.Listen)
	}
	if c.PushListen != "" {
		if _, _, err := net.SplitHostPort(c.PushListen); err != nil {
			return errAt("pushListen", "%q is not host:port", c.PushListen)
		}
	}
	if c.DataDir == "" {
		c.DataDir = "console-state"
	}
	if c.TLS != nil && c.TLS.CertFile == "" {
		return errAt("tls.certFile", "missing: name the console's certificate (PEM), or leave tls out to use a generated one")
	}
	if c.Auth != nil {
		if len(c.Auth.OIDC) == 0 && len(c.Auth.ClientCertificates) == 0 {
			return errAt("auth", "name a sign-in method: auth.oidc or auth.clientCertificates")
		}
	}
	if c.Poll.Every == 0 {
		c.Poll.Every = Duration(DefaultEvery)
	}
	if c.Poll.Timeout == 0 {
		c.Poll.Timeout = Duration(DefaultTimeout)
	}
	if c.Poll.Concurrency == 0 {
		c.Poll.Concurrency = DefaultConcurrency
	}
	switch {
	case time.Duration(c.Poll.Every) < time.Second || time.Duration(c.Poll.Every) > 24*time.Hour:
		return errAt("poll.every", "%s is out of range: between 1s and 24h", time.Duration(c.Poll.Every))
	case time.Duration(c.Poll.Timeout) < 100*time.Millisecond || time.Duration(c.Poll.Timeout) > 5*time.Minute:
		return errAt("poll.timeout", "%s is out of range: between 100ms and 5m", time.Duration(c.Poll.Timeout))
	case c.Poll.Concurrency < 1 || c.Poll.Concurrency > 256:
		return errAt("poll.concurrency", "%d is out of range: between 1 and 256", c.Poll.Concurrency)
	}
	if c.ClientCertificate != nil && c.ClientCertificate.File == "" {
		return errAt("clientCertificate.file", "missing: name the certificate (PEM) the console presents to customers")
	}
	if len(c.Customers) == 0 {
		return errAt("customers", "no customers: list at least one")
	}
	if len(c.Customers) > maxCustomers {
		return errAt("customers", "%d customers, more than the %d one console watches", len(c.Customers), maxCustomers)
	}
	seen := map[string]int{}
	pins := map[string]int{}
	for i, cu := range c.Customers {
		if err := c.checkCustomer(i, cu, seen, pins, errAt); err != nil {
			return err
		}
	}
	return nil
}

// checkCustomer checks customers[i]; seen and pins hold the names and push
// fingerprints of those before it.
func (c *Config) checkCustomer(i int, cu Customer, seen, pins map[string]int, errAt func(path, format string, args ...any) *ConfigError) error {
	p := fmt.Sprintf("customers[%d]", i)
	if !customerName.MatchString(cu.Name) {
		if cu.Name == "" {
			return errAt(p+".name", "missing: give the customer a name")
		}
		return errAt(p+".name", "%q: use letters, digits, '.', '-' and '_' (at most 63), starting with a letter or digit", cu.Name)
	}
	if j, ok := seen[strings.ToLower(cu.Name)]; ok {
		return errAt(p+".name", "%q is also the name of customers[%d]", cu.Name, j)
	}
	seen[strings.ToLower(cu.Name)] = i
	switch {
	case cu.Push != nil && cu.Address != "":
		return errAt(p, "give \"address\" (the console polls the service) or \"push\" (the service dials in), not both")
	case cu.Push != nil:
		if cu.Fingerprint != "" || cu.Certificate != nil || cu.Kerberos != nil {
			return errAt(p, "a pushed customer takes no fingerprint, certificate or kerberos: its service authenticates with push.clientCertFingerprint")
		}
		fp, err := admin.ParseFingerprint(cu.Push.ClientCertFingerprint)
		if err != nil {
			return errAt(p+".push.clientCertFingerprint", "%v", err)
		}
		if j, ok := pins[fp]; ok {
			return errAt(p+".push.clientCertFingerprint", "is also the fingerprint of customers[%d]", j)
		}
		pins[fp] = i
		if c.PushListen == "" {
			return errAt(p+".push", "pushed customers need \"pushListen\", the address their services dial")
		}
	case cu.Address == "":
		return errAt(p, "give \"address\" (https://host:port of the admin endpoint) or \"push\"")
	default:
		if err := checkAddress(cu.Address); err != nil {
			return errAt(p+".address", "%v", err)
		}
		if cu.Fingerprint == "" {
			return errAt(p+".fingerprint", "missing: pin the service's admin certificate (`galmirror status` prints its fingerprint)")
		}
		if _, err := admin.ParseFingerprint(cu.Fingerprint); err != nil {
			return errAt(p+".fingerprint", "%v", err)
		}
		if cu.Certificate != nil && cu.Kerberos != nil {
			return errAt(p, "give \"certificate\" or \"kerberos\", not both")
		}
		if cu.Certificate != nil && cu.Certificate.File == "" {
			return errAt(p+".certificate.file", "missing: name the client certificate (PEM)")
		}
		if cu.Certificate == nil && cu.Kerberos == nil && c.ClientCertificate == nil {
			return errAt(p, "no credentials: give \"certificate\" or \"kerberos\" here, or a top-level \"clientCertificate\"")
		}
	}
	return nil
}

func checkAddress(a string) error {
	rest, ok := strings.CutPrefix(a, "https://")
	if !ok {
		return fmt.Errorf("%q: want https://host:port", a)
	}
	rest = strings.TrimSuffix(rest, "/")
	if _, _, err := net.SplitHostPort(rest); err != nil || strings.ContainsAny(rest, "/?#@") {
		return fmt.Errorf("%q: want https://host:port", a)
	}
	return nil
}

// Loopback reports whether addr (host:port) listens on loopback only.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// parentPath is the path of the value holding p's: customers[1].name is
// in customers[1], which is in customers.
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

func jsonPath(field string) string {
	// encoding/json names nested fields "customers.push.x"; arrays are
	// not indexed in it, so the path is as good as it says.
	return field
}

func firstPathEnding(offsets map[string]int64, key string) string {
	var best string
	bestOff := int64(-1)
	for p, off := range offsets {
		if p == key || strings.HasSuffix(p, "."+key) {
			if bestOff < 0 || off < bestOff {
				best, bestOff = p, off
			}
		}
	}
	return best
}

func lineCol(data []byte, off int64) (int, int) {
	if off < 0 || off > int64(len(data)) {
		return 0, 0
	}
	line, start := 1, 0
	for i := 0; i < int(off); i++ {
		if data[i] == '\n' {
			line++
			start = i + 1
		}
	}
	return line, utf8.RuneCount(data[start:off]) + 1
}

type parseErr struct {
	off int64
	msg string
}

// pathOffsets walks the document's tokens and records where each JSON path
// (customers[2].address) starts, so later checks can name a line.
func pathOffsets(data []byte) (map[string]int64, *parseErr) {
	out := map[string]int64{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		obj   bool
		path  string
		idx   int
		key   string
		inKey bool
	}
	var stack []*frame
	child := func(f *frame) string {
		if f.obj {
			if f.path == "" {
				return f.key
			}
			return f.path + "." + f.key
		}
		return fmt.Sprintf("%s[%d]", f.path, f.idx)
	}
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			if err.Error() == "EOF" {
				if len(stack) > 0 {
					return out, &parseErr{off: int64(len(data)), msg: "the file ends inside a JSON value"}
				}
				return out, nil
			}
			var se *json.SyntaxError
			if errors.As(err, &se) {
				return out, &parseErr{off: se.Offset, msg: se.Error()}
			}
			return out, &parseErr{off: dec.InputOffset(), msg: err.Error()}
		}
		// Where the token itself starts: skip separators and blanks.
		start := before
		for start < int64(len(data)) && strings.IndexByte(" \t\r\n,:", data[start]) >= 0 {
			start++
		}
		if len(stack) > 64 {
			return out, &parseErr{off: start, msg: "nested more than 64 levels deep"}
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				if p.obj {
					p.inKey = true
				} else {
					p.idx++
				}
			}
			continue
		}
		if top != nil && top.obj && top.inKey {
			// A member is located at its key.
			top.key = tok.(string)
			top.inKey = false
			if p := child(top); out[p] == 0 {
				out[p] = start
			}
			continue
		}
		var path string
		if top != nil {
			path = child(top)
		}
		if _, ok := out[path]; !ok {
			out[path] = start
		}
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, &frame{obj: d == '{', path: path, inKey: d == '{'})
			continue
		}
		if top != nil {
			if top.obj {
				top.inKey = true
			} else {
				top.idx++
			}
		}
	}
}

// sortedNames returns the customers' names in order.
func (c *Config) sortedNames() []string {
	n := make([]string, len(c.Customers))
	for i, cu := range c.Customers {
		n[i] = cu.Name
	}
	sort.Strings(n)
	return n
}

// File is the path console.json was read from.
func (c *Config) File() string { return c.file }
