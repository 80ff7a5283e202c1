package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/galmirror/galmirror/internal/dpapi"
)

func (c *Config) setDefaults() {
	c.MaxConcurrentTenants = DefaultMaxConcurrentTenants
	c.Log = Log{Level: DefaultLogLevel, Format: DefaultLogFormat, MaxSizeMB: DefaultLogMaxSizeMB, MaxFiles: DefaultLogMaxFiles}
	c.Admin.LocalSocket = true
	c.Health = Health{MaxAge: Duration(DefaultHealthMaxAge), MaxFailures: DefaultHealthMaxFailures,
		CertificateDays: DefaultHealthCertDays, OverdueAfter: Duration(DefaultHealthOverdueAfter),
		OutageAfter: Duration(DefaultHealthOutageAfter)}
}

func (t *Tenant) setDefaults() {
	t.Cloud = CloudGlobal
	t.Folder = DefaultFolder
	t.FolderMode = FolderModeFolder
	t.Deletes = Deletes{MaxFraction: DefaultMaxDeleteFraction, MinCount: DefaultMinDeleteCount}
	t.Schedule.Jitter = Duration(DefaultJitter)
	t.Fields = AllFields()
	t.FileAs = DefaultFileAs
	t.Source.RequireEmail = true
	t.CertificateRenewBefore = Duration(DefaultCertificateRenewBefore)
}

// Parse validates and defaults settings.json content. name labels the problems
// (usually the path as the user gave it); abs is the settings file's absolute
// path, against whose directory relative paths are resolved.
func Parse(name, abs string, data []byte) (*Config, error) {
	text, err := toUTF8(data)
	if err != nil {
		return nil, &ValidationError{File: name, Problems: []Problem{{Message: err.Error()}}}
	}
	d := &document{text: text, offsets: map[string]int64{}, bad: map[string]bool{}}
	root, ok := d.parseTree()
	if !ok {
		return nil, &ValidationError{File: name, Problems: d.problems}
	}
	if root.kind != kObject {
		d.problems = append(d.problems, Problem{Line: 1, Column: 1, Message: fmt.Sprintf("expected the settings object, got %s", root.kind)})
		return nil, &ValidationError{File: name, Problems: d.problems}
	}
	c := &Config{Path: abs}
	c.setDefaults()
	d.decode("", root, reflect.ValueOf(c).Elem())
	v := validator{document: d, dir: filepath.Dir(abs)}
	v.config(c)
	if d.dropped > 0 {
		d.problems = append(d.problems, Problem{Message: fmt.Sprintf("and %d more problems", d.dropped)})
	}
	if len(d.problems) > 0 {
		return nil, &ValidationError{File: name, Problems: d.problems}
	}
	return c, nil
}

type validator struct {
	*document
	dir string
}

var (
	tenantNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	guidRE       = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	envNameRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	envRefRE     = regexp.MustCompile(`%[A-Za-z_][A-Za-z0-9_()]*%|^\$|^~`)
	sidRE        = regexp.MustCompile(`^[Ss]-1(-\d+){1,15}$`)
	hexRE        = regexp.MustCompile(`^[0-9a-f]+$`)
)

func (v *validator) config(c *Config) {
	if !v.present("dataDir") {
		v.addf("dataDir", "required: the directory for the state database (absolute, or relative to the settings file)")
	} else {
		c.DataDir = v.path("dataDir", c.DataDir)
	}
	if c.MaxConcurrentTenants < 1 || c.MaxConcurrentTenants > 64 {
		v.addf("maxConcurrentTenants", "must be between 1 and 64, got %d", c.MaxConcurrentTenants)
	}
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "text", "json")
	if c.Log.File != "" {
		c.Log.File = v.path("log.file", c.Log.File)
	}
	if c.Log.MaxSizeMB < 1 || c.Log.MaxSizeMB > 1024 {
		v.addf("log.maxSizeMB", "must be between 1 and 1024, got %d", c.Log.MaxSizeMB)
	}
	if c.Log.MaxFiles < 1 || c.Log.MaxFiles > 100 {
		v.addf("log.maxFiles", "must be between 1 and 100, got %d", c.Log.MaxFiles)
	}
	if c.Metrics.Listen != "" {
		v.listen("metrics.listen", c.Metrics.Listen)
	}
	v.admin(&c.Admin)
	if c.Console != nil {
		v.console(c.Console)
	}
	v.health(&c.Health)
	plan := DefaultBillingPlan
	if c.Billing != nil {
		v.billing(c.Billing)
		plan = c.Billing.Plan
	}
	customers := map[string]int{} // tenant id → first entry

	seen := map[string]int{}
	folders := map[string]int{} // tenant id + folder: two entries would write into one folder
	for i := range c.Tenants {
		t := &c.Tenants[i]
		p := fmt.Sprintf("tenants[%d]", i)
		v.tenant(p, t)
		v.tenantBilling(p, i, c.Tenants, plan, customers)
		if t.Name != "" {
			if j, dup := seen[t.Name]; dup {
				v.addf(p+".name", "duplicate tenant name %q (also tenants[%d])", t.Name, j)
			} else {
				seen[t.Name] = i
			}
		}
		if t.TenantID != "" {
			key := folderKey(t)
			if j, dup := folders[key]; dup {
				v.addf(p+".folder", "tenants[%d] already syncs tenant %s into %s: two entries of one tenant need different folders (folder names compare case-insensitively)",
					j, t.TenantID, t.FolderDescription())
			} else {
				folders[key] = i
			}
		}
	}
}

func (v *validator) tenant(p string, t *Tenant) {
	switch {
	case !v.present(p + ".name"):
		v.addf(p+".name", "required")
	case !tenantNameRE.MatchString(t.Name):
		v.addf(p+".name", "invalid tenant name %q: use 1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit (it is the tenant's key in the state database and in commands)", t.Name)
	}
	t.TenantID = v.guid(p+".tenantId", t.TenantID, true)
	t.ClientID = v.guid(p+".clientId", t.ClientID, true)
	t.ApplicationObjectID = v.guid(p+".applicationObjectId", t.ApplicationObjectID, false)
	if r := t.CertificateRenewBefore.Std(); r < 0 || r > 365*24*time.Hour {
		v.addf(p+".certificateRenewBefore", "must be between 0s (no renewal) and 8760h (a year), got %s", r)
	}
	if !v.present(p + ".certificate") {
		v.addf(p+".certificate", "required: {\"file\": ...} or {\"thumbprint\": ...}")
	} else {
		v.certificate(p+".certificate", &t.Certificate, false)
	}

	switch t.Cloud {
	case CloudGlobal, CloudUSGov, CloudUSGovDoD, CloudChina:
		for _, k := range []string{"authority", "graph"} {
			val := t.Endpoints.Authority
			if k == "graph" {
				val = t.Endpoints.Graph
			}
			if val != "" {
				v.addf(p+".endpoints."+k, "only allowed with \"cloud\": \"custom\" (the %s cloud's hosts are built in)", t.Cloud)
			}
		}
	case CloudCustom:
		t.Endpoints.Authority = v.httpsURL(p+".endpoints.authority", t.Endpoints.Authority)
		t.Endpoints.Graph = v.httpsURL(p+".endpoints.graph", t.Endpoints.Graph)
	default:
		v.addf(p+".cloud", "unknown cloud %q: use global, usgov, usgovdod, china or custom", t.Cloud)
	}
	if t.Endpoints.CAFile != "" {
		t.Endpoints.CAFile = v.path(p+".endpoints.caFile", t.Endpoints.CAFile)
	}

	v.guids(p+".source.includeGroups", t.Source.IncludeGroups)
	v.guids(p+".source.excludeGroups", t.Source.ExcludeGroups)
	for i, g := range t.Source.ExcludeGroups {
		for _, h := range t.Source.IncludeGroups {
			if g == h {
				v.addf(fmt.Sprintf("%s.source.excludeGroups[%d]", p, i), "group %s is also in includeGroups", g)
			}
		}
	}
	v.users(p+".source.excludeUsers", t.Source.ExcludeUsers)
	v.fromTenants(p+".source.fromTenants", t)
	v.guids(p+".target.groups", t.Target.Groups)
	v.users(p+".target.excludeUsers", t.Target.ExcludeUsers)

	switch {
	case t.InDefaultFolder():
		v.category(p+".folder.category", t.FolderCategory)
	case strings.TrimSpace(t.Folder) == "":
		fp := p + ".folder"
		if v.present(fp + ".name") {
			fp += ".name"
		}
		v.addf(fp, "must not be empty")
	default:
		fp := p + ".folder"
		if v.present(fp + ".name") {
			fp += ".name"
		}
		v.text(fp, t.Folder, 255)
	}

	if f := t.Deletes.MaxFraction; f < 0 || f > 1 {
		v.addf(p+".deletes.maxFraction", "must be between 0 and 1 (a fraction: 0.1 is 10%%), got %v", f)
	}
	if t.Deletes.MinCount < 0 {
		v.addf(p+".deletes.minCount", "must not be negative, got %d", t.Deletes.MinCount)
	}

	v.schedule(p+".schedule", &t.Schedule)
	v.fields(p+".fields", t.Fields)
	v.fieldPolicy(p, t)
	if err := t.FileAs.validate(); err != nil {
		v.addf(p+".fileAs", "%v", err)
	}
	seenCat := map[string]int{}
	for i, c := range t.Categories {
		cp := fmt.Sprintf("%s.categories[%d]", p, i)
		if !v.category(cp, c) {
			continue
		}
		k := strings.ToLower(c)
		if j, dup := seenCat[k]; dup {
			v.addf(cp, "duplicate category %q (also categories[%d]; categories compare case-insensitively)", c, j)
		}
		seenCat[k] = i
	}
}

func (v *validator) schedule(p string, s *Schedule) {
	if s.Cron != "" {
		if v.present(p + ".every") {
			v.addf(p+".every", "set either every or cron, not both")
		}
		spec, err := ParseCron(s.Cron)
		if err != nil {
			v.addf(p+".cron", "%v", err)
		}
		s.cron = spec
		if s.Jitter > Duration(24*time.Hour) {
			v.addf(p+".jitter", "must not exceed 24h, got %s", s.Jitter.Std())
		}
	} else {
		if !v.present(p + ".every") {
			s.Every = Duration(DefaultEvery)
		}
		if !v.present(p+".jitter") && s.Jitter > s.Every {
			// The default jitter (5m) is at most every: "every": "1m" alone
			// is a valid schedule.
			s.Jitter = s.Every
		}
		if s.Every < Duration(time.Minute) || s.Every > Duration(31*24*time.Hour) {
			v.addf(p+".every", "must be between 1m and 744h (31 days), got %s", s.Every.Std())
		} else if s.Jitter > s.Every {
			v.addf(p+".jitter", "must not exceed every (%s), got %s", s.Every.Std(), s.Jitter.Std())
		}
	}
	if s.Jitter < 0 {
		v.addf(p+".jitter", "must not be negative, got %s", s.Jitter.Std())
	}
	if s.TimeZone != "" {
		loc, err := time.LoadLocation(s.TimeZone)
		if err != nil || strings.EqualFold(s.TimeZone, "local") {
			v.addf(p+".timeZone", "unknown time zone %q: use an IANA name such as \"Europe/Berlin\" or \"America/New_York\", or leave it out for the machine's zone", s.TimeZone)
		}
		s.loc = loc
	}
}

func (v *validator) fields(p string, fs []Field) {
	known := map[Field]bool{}
	for _, f := range AllFields() {
		known[f] = true
	}
	seen := map[Field]bool{}
	hasDisplay := false
	for i, f := range fs {
		fp := fmt.Sprintf("%s[%d]", p, i)
		switch {
		case !known[f]:
			v.addf(fp, "unknown field %q: use %s", f, joinFields(AllFields()))
		case seen[f]:
			v.addf(fp, "duplicate field %q", f)
		}
		seen[f] = true
		if f == FieldDisplayName {
			hasDisplay = true
		}
	}
	if !hasDisplay {
		v.addf(p, "must include \"displayName\" (Exchange regenerates it from the name parts otherwise)")
	}
}

// fieldPolicy checks a tenant's fieldPolicy: known modes, displayName
// always overwritten, fillBlank only for fields galmirror writes.
func (v *validator) fieldPolicy(p string, t *Tenant) {
	for _, f := range AllFields() {
		fp := joinPath(p+".fieldPolicy", string(f))
		if !v.present(fp) {
			continue
		}
		switch m := t.FieldPolicy.raw(f); {
		case m != FieldOverwrite && m != FieldFillBlank && m != FieldNever:
			v.addf(fp, "unknown policy %q: use overwrite, fillBlank or never", m)
		case f == FieldDisplayName && m != FieldOverwrite:
			v.addf(fp, "must be overwrite (Exchange regenerates displayName from the name parts; leave it out)")
		case m == FieldFillBlank && !t.HasField(f):
			v.addf(fp, "fillBlank for %q, which is not in fields: galmirror does not write it (add it to fields or use never)", f)
		}
	}
}

func joinFields(fs []Field) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

func (v *validator) admin(a *Admin) {
	const p = "admin"
	if a.Listen != "" {
		v.listen(p+".listen", a.Listen)
	}
	if !a.Certificate.IsZero() {
		v.certificate(p+".certificate", &a.Certificate, true)
	}
	if k := a.Kerberos; k != nil {
		switch {
		case k.Keytab != "":
			k.Keytab = v.path(p+".kerberos.keytab", k.Keytab)
		case keytabRequired:
			v.addf(p+".kerberos.keytab", "required on this system: the keytab holding the key of the service principal")
		}
		if k.SPN != "" {
			svc, host, ok := strings.Cut(k.SPN, "/")
			if !ok || svc == "" || host == "" || strings.ContainsAny(k.SPN, " \t") {
				v.addf(p+".kerberos.spn", "invalid SPN %q: use service/host, such as HTTP/galmirror.example.com", k.SPN)
			}
		}
	}
	cc := &a.ClientCertificates
	for i, f := range cc.Pinned {
		fp := fmt.Sprintf("%s.clientCertificates.pinned[%d]", p, i)
		n, ok := normFingerprint(f)
		if !ok {
			v.addf(fp, "invalid SHA-256 fingerprint %q: 64 hex digits (colons and spaces allowed)", f)
		}
		cc.Pinned[i] = n
	}
	if cc.CAFile != "" {
		cc.CAFile = v.path(p+".clientCertificates.caFile", cc.CAFile)
	}
	seen := map[string]int{}
	for i := range a.Roles {
		r := &a.Roles[i]
		rp := fmt.Sprintf("%s.roles[%d]", p, i)
		switch {
		case strings.TrimSpace(r.Principal) == "":
			v.addf(rp+".principal", "required")
		case strings.HasPrefix(strings.ToLower(r.Principal), "cert:"):
			fp := r.Principal[len("cert:"):]
			if len(fp) > 7 && strings.EqualFold(fp[:7], "sha256:") {
				fp = fp[7:]
			}
			n, ok := normFingerprint(fp)
			if !ok {
				v.addf(rp+".principal", "invalid certificate principal %q: use cert: followed by the SHA-256 fingerprint (64 hex digits)", r.Principal)
			}
			r.Principal = "cert:" + n
		case sidRE.MatchString(r.Principal):
			r.Principal = strings.ToUpper(r.Principal)
		case strings.HasPrefix(strings.ToUpper(r.Principal), "S-1-"):
			v.addf(rp+".principal", "invalid SID %q", r.Principal)
		default:
			v.text(rp+".principal", r.Principal, 256)
		}
		if r.Role != RoleViewer && r.Role != RoleOperator {
			v.addf(rp+".role", "unknown role %q: use viewer or operator", r.Role)
		}
		k := strings.ToLower(r.Principal)
		if j, dup := seen[k]; dup && r.Principal != "" {
			v.addf(rp+".principal", "principal %q is also in roles[%d]", r.Principal, j)
		}
		seen[k] = i
	}
	if a.Listen != "" {
		if a.Kerberos == nil && len(cc.Pinned) == 0 && cc.CAFile == "" {
			v.addf(p+".listen", "the admin API needs an authentication method: add \"kerberos\" or \"clientCertificates\"")
		}
		if len(a.Roles) == 0 {
			v.addf(p+".roles", "the admin API listens but no principal has a role: every call would be denied")
		}
	}
}

func (v *validator) console(c *Console) {
	const p = "console"
	if c.URL == "" {
		v.addf(p+".url", "required: the console's push address, such as https://console.example.com:8444")
	} else if u, err := url.Parse(c.URL); err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		v.addf(p+".url", "invalid console address %q: expected an https URL without query or user, such as https://console.example.com:8444", c.URL)
	}
	if c.ServerFingerprint != "" {
		f := c.ServerFingerprint
		if len(f) > 7 && strings.EqualFold(f[:7], "sha256:") {
			f = f[7:]
		}
		n, ok := normFingerprint(f)
		if !ok {
			v.addf(p+".serverFingerprint", "invalid SHA-256 fingerprint %q: 64 hex digits (colons and spaces allowed), what the console prints at start", c.ServerFingerprint)
		}
		c.ServerFingerprint = n
		if c.CAFile != "" {
			v.addf(p+".caFile", "set either serverFingerprint or caFile, not both")
		}
	}
	if c.CAFile != "" {
		c.CAFile = v.path(p+".caFile", c.CAFile)
	}
	if !c.Certificate.IsZero() {
		v.certificate(p+".certificate", &c.Certificate, true)
	}
	switch c.Role {
	case RoleViewer, RoleOperator:
	case "":
		v.addf(p+".role", "required: viewer (the console sees status, runs and events) or operator (it can also sync now, pause and resume)")
	default:
		v.addf(p+".role", "unknown role %q: use viewer or operator", c.Role)
	}
}

func (v *validator) health(h *Health) {
	const p = "health"
	if h.MaxAge < Duration(time.Minute) {
		v.addf(p+".maxAge", "must be at least 1m, got %s", h.MaxAge.Std())
	}
	if h.MaxFailures < 1 || h.MaxFailures > 1000 {
		v.addf(p+".maxFailures", "must be between 1 and 1000, got %d", h.MaxFailures)
	}
	if h.CertificateDays < 0 || h.CertificateDays > 365 {
		v.addf(p+".certificateDays", "must be between 0 and 365, got %d", h.CertificateDays)
	}
	if h.OverdueAfter < Duration(time.Minute) {
		v.addf(p+".overdueAfter", "must be at least 1m, got %s", h.OverdueAfter.Std())
	}
	if h.OutageAfter < 0 {
		v.addf(p+".outageAfter", "must not be negative, got %s", h.OutageAfter.Std())
	}
	if h.Listen != "" {
		v.listen(p+".listen", h.Listen)
	}
}

func normFingerprint(s string) (string, bool) {
	s = strings.ToLower(stripInvisible(s))
	s = strings.NewReplacer(":", "", " ", "", "-", "").Replace(s)
	return s, len(s) == 64 && hexRE.MatchString(s)
}

// stripInvisible removes the invisible format characters (such as U+200E)
// that copying a thumbprint from the Windows certificate dialog adds.
func stripInvisible(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
}

func (v *validator) certificate(p string, c *Certificate, admin bool) {
	switch {
	case c.File != "" && c.Thumbprint != "":
		v.addf(p, "set either file or thumbprint, not both")
	case c.File == "" && c.Thumbprint == "":
		v.addf(p, "set file (a PFX or PEM file) or thumbprint (a certificate in the Windows LocalMachine\\My store)")
	}
	if c.File != "" {
		c.File = v.path(p+".file", c.File)
	}
	// Neither password setting's value is ever repeated in a problem: a
	// password pasted in the wrong place must not end up in a log.
	if c.PasswordEnv != "" {
		switch {
		case c.File == "":
			v.addf(p+".passwordEnv", "only used with file (a PFX file's password)")
		case !envNameRE.MatchString(c.PasswordEnv):
			v.addf(p+".passwordEnv", "must name an environment variable (letters, digits and '_'), not hold the password; the value is not repeated here")
		}
	}
	if c.PasswordProtected != "" {
		switch {
		case c.PasswordEnv != "":
			v.addf(p+".passwordProtected", "set either passwordEnv or passwordProtected, not both")
		case c.File == "":
			v.addf(p+".passwordProtected", "only used with file (a PFX file's password)")
		default:
			if _, err := dpapi.Decode(c.PasswordProtected); err != nil {
				v.addf(p+".passwordProtected", "%v", err)
			}
		}
	}
	if c.Thumbprint != "" {
		t := strings.ToUpper(strings.NewReplacer(":", "", " ", "").Replace(stripInvisible(c.Thumbprint)))
		if len(t) != 40 || !hexRE.MatchString(strings.ToLower(t)) {
			v.addf(p+".thumbprint", "invalid thumbprint: 40 hex digits (the certificate's SHA-1 thumbprint)")
		}
		c.Thumbprint = t
	}
}

// path validates a file system path and makes it absolute against the
// settings file's directory.
func (v *validator) path(p, s string) string {
	switch {
	case strings.TrimSpace(s) == "":
		v.addf(p, "must not be empty")
		return s
	case envRefRE.MatchString(s):
		v.addf(p, "environment variables and ~ are not expanded in %q: write the path itself", s)
		return s
	case strings.ContainsRune(s, 0):
		v.addf(p, "contains a NUL character")
		return s
	}
	if !filepath.IsAbs(s) {
		s = filepath.Join(v.dir, s)
	}
	return filepath.Clean(s)
}

func (v *validator) guid(p, s string, required bool) string {
	if s == "" && !v.present(p) {
		if required {
			v.addf(p, "required (a GUID)")
		}
		return s
	}
	if !guidRE.MatchString(s) {
		v.addf(p, "invalid GUID %q: expected the form 00000000-0000-0000-0000-000000000000", s)
		return s
	}
	return strings.ToLower(s)
}

func (v *validator) guids(p string, list []string) {
	seen := map[string]int{}
	for i := range list {
		ip := fmt.Sprintf("%s[%d]", p, i)
		list[i] = v.guid(ip, list[i], true)
		if j, dup := seen[list[i]]; dup {
			v.addf(ip, "duplicate of %s[%d]", p, j)
		}
		seen[list[i]] = i
	}
}

// users validates user exclusions: object ids or userPrincipalNames, both
// normalised to lower case.
func (v *validator) users(p string, list []string) {
	seen := map[string]int{}
	for i, u := range list {
		ip := fmt.Sprintf("%s[%d]", p, i)
		switch {
		case guidRE.MatchString(u):
		case isUPN(u):
		default:
			v.addf(ip, "invalid user %q: expected an object id (GUID) or a userPrincipalName (name@domain)", u)
		}
		list[i] = strings.ToLower(u)
		if j, dup := seen[list[i]]; dup {
			v.addf(ip, "duplicate of %s[%d]", p, j)
		}
		seen[list[i]] = i
	}
}

func isUPN(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || len(s) > 1024 {
		return false
	}
	if strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || !strings.Contains(domain, ".") {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
}

func (v *validator) httpsURL(p, s string) string {
	if s == "" {
		v.addf(p, "required with \"cloud\": \"custom\" (an https URL)")
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		v.addf(p, "invalid endpoint %q: expected an https URL without query, such as https://login.example.com/", s)
		return s
	}
	if u.Path != "" && u.Path != "/" {
		// galmirror adds the path itself (/v1.0, /{tenant}/oauth2/...): a
		// root ending in /v1.0 would send every request to /v1.0/v1.0.
		v.addf(p, "invalid endpoint %q: give the host only, without a path (%s), such as https://%s/", s, u.Path, u.Host)
		return s
	}
	return s
}

func (v *validator) listen(p, s string) {
	host, port, err := net.SplitHostPort(s)
	if err == nil {
		var n uint64
		n, err = strconv.ParseUint(port, 10, 16)
		if err == nil && n == 0 {
			err = fmt.Errorf("port 0")
		}
		if err == nil && host != "" && strings.ContainsAny(host, " /") {
			err = fmt.Errorf("bad host")
		}
	}
	if err != nil {
		v.addf(p, "invalid listen address %q: expected host:port such as 0.0.0.0:8443, [::]:8443 or 127.0.0.1:9090", s)
	}
}

func (v *validator) oneOf(p, s string, allowed ...string) {
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	v.addf(p, "unknown value %q: use %s", s, strings.Join(allowed, ", "))
}

func (v *validator) text(p, s string, limit int) {
	if n := len([]rune(s)); n > limit {
		v.addf(p, "longer than %d characters (%d)", limit, n)
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		v.addf(p, "contains control characters")
	}
}

// category checks one Outlook category name; false when it is empty.
func (v *validator) category(p, c string) bool {
	if strings.TrimSpace(c) == "" {
		v.addf(p, "must not be empty")
		return false
	}
	v.text(p, c, 255)
	if strings.ContainsAny(c, ",;") {
		v.addf(p, "must not contain ',' or ';' (Outlook treats them as separators)")
	}
	return true
}

// fromTenants checks what one file can of source.fromTenants: names, no
// repeats, not the entry itself. Load checks that each names an entry
// (linkSources).
func (v *validator) fromTenants(p string, t *Tenant) {
	seen := map[string]int{}
	for i, n := range t.Source.FromTenants {
		ip := fmt.Sprintf("%s[%d]", p, i)
		switch j, dup := seen[n]; {
		case !tenantNameRE.MatchString(n):
			v.addf(ip, "invalid tenant name %q: name another entry of these settings by its \"name\"", n)
		case n == t.Name:
			v.addf(ip, "names this entry itself: its own directory is always a source")
		case dup:
			v.addf(ip, "%q is listed twice (also %s[%d])", n, p, j)
		default:
			seen[n] = i
		}
	}
}
