package admin

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of caller-supplied text that the API stores (the audit trail) or
// logs: a request path, header or certificate may carry up to the
// listener's limits (160 KiB of headers, a 256 KiB certificate chain), and
// none of it is worth keeping whole.
const (
	maxPrincipalLen = 256 // a Kerberos name or certificate subject as recorded
	maxDetailLen    = 512 // a reason, an error message
	maxSourceLen    = 64  // an address or the limiter's source key
)

// cleanText makes caller-supplied text fit to store and log: valid UTF-8,
// control characters (newlines, NUL, escapes) replaced with '?', and at
// most n bytes, cut at a character boundary and marked with "…".
func cleanText(s string, n int) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) {
			clean = false
			break
		}
	}
	if clean && len(s) <= n {
		return s
	}
	var b strings.Builder
	short := false
	for i, r := range s {
		if i >= 4*n { // enough for n bytes however much was replaced
			short = true
			break
		}
		if r == utf8.RuneError || unicode.IsControl(r) {
			r = '?'
		}
		b.WriteRune(r)
	}
	out := b.String()
	if !short && len(out) <= n {
		return out
	}
	const ellipsis = "…"
	cut := min(len(out), n-len(ellipsis))
	for cut > 0 && !utf8.RuneStart(out[cut]) {
		cut--
	}
	return out[:cut] + ellipsis
}

// boundedAudit is the Backend with every audit record cleaned and cut to
// the bounds above before it is handed on.
type boundedAudit struct{ Backend }

// Audit implements Backend.
func (b boundedAudit) Audit(ctx context.Context, a AuditRecord) { b.Backend.Audit(ctx, a.bounded()) }

func (a AuditRecord) bounded() AuditRecord {
	a.Principal = cleanText(a.Principal, maxPrincipalLen)
	a.OnBehalfOf = cleanText(a.OnBehalfOf, maxPrincipalLen)
	a.Role = cleanText(a.Role, maxNameLen)
	a.Method = cleanText(a.Method, maxDetailLen) // a list in a summary
	a.Tenant = cleanText(a.Tenant, maxNameLen)
	a.Source = cleanText(a.Source, maxSourceLen)
	a.Result = cleanText(a.Result, maxNameLen)
	a.Detail = cleanText(a.Detail, maxDetailLen)
	return a
}

// recorded is p's name as the audit trail and the backend keep it.
func (p Principal) recorded() string { return cleanText(p.Name, maxPrincipalLen) }

// knownMethod is the method name of a request path if the path is one of
// the API's procedures (AdminService, health, reflection), else "unknown":
// an unauthenticated caller chooses the path.
func knownMethod(path string) string {
	if _, ok := requiredRole[path]; ok {
		return procedureName(path)
	}
	return "unknown"
}
