package admin

import (
	"cmp"
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// File system paths never leave the machine over the network. Messages the
// service writes for administrators (check details, run errors, events)
// name the certificate, settings and CA files they are about, which is
// what a person at the console needs; a caller on the network (viewer or
// operator) gets every string of every response and error with those
// paths replaced by what they name ("[certificate file]"), and anything
// else that looks like an absolute path by "[path]". Local callers (the
// socket or pipe, administrators of the machine) get the text unchanged.

// NamedPath is a file system path the service's configuration names, and
// what it is ("certificate file"), for redaction.
type NamedPath struct {
	Path string
	Name string
}

// isRemote reports whether the caller came over the network; a call
// without a principal counts as remote.
func isRemote(ctx context.Context) bool {
	p, ok := PrincipalFrom(ctx)
	return !ok || p.Method != MethodLocal
}

var (
	// Absolute paths the configuration does not name: a drive path
	// (C:\...), a UNC path (\\server\share\...), or a Unix path of at
	// least two components starting a word. A path ends at white space,
	// a quote or a colon (the "path: problem" of error messages).
	windowsPathRE = regexp.MustCompile(`(?i)\b[a-z]:\\[^\s"'<>|:]*|\\\\[^\s"'<>|:\\]+\\[^\s"'<>|:]*`)
	unixPathRE    = regexp.MustCompile(`(^|[\s"'(=,\[])/[^\s/"',;:)\]]+/[^\s"',;:)\]]*`)
)

// redactor replaces paths in text for remote callers.
type redactor struct {
	paths func() []NamedPath
}

// replacer returns the function that hides paths in one response: the
// configured paths (longest first, so a file inside the data directory is
// named as the file), then any other absolute path.
func (r *redactor) replacer() func(string) string {
	var named []NamedPath
	if r.paths != nil {
		for _, p := range r.paths() {
			if len(p.Path) > 1 { // never "/" alone
				named = append(named, p)
			}
		}
	}
	slices.SortFunc(named, func(a, b NamedPath) int { return cmp.Compare(len(b.Path), len(a.Path)) })
	pairs := make([]string, 0, 2*len(named))
	for _, p := range named {
		pairs = append(pairs, p.Path, "["+p.Name+"]")
	}
	rep := strings.NewReplacer(pairs...)
	return func(s string) string {
		if s == "" {
			return s
		}
		s = rep.Replace(s)
		s = windowsPathRE.ReplaceAllString(s, "[path]")
		return unixPathRE.ReplaceAllString(s, "${1}[path]")
	}
}

// redact hides paths in a response message, in place.
func redact(m protoreflect.Message, hide func(string) string) {
	if !m.IsValid() {
		return
	}
	type field struct {
		fd protoreflect.FieldDescriptor
		v  protoreflect.Value
	}
	var fields []field
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		fields = append(fields, field{fd, v})
		return true
	})
	for _, f := range fields {
		fd := f.fd
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			for i := range l.Len() {
				switch fd.Kind() {
				case protoreflect.StringKind:
					l.Set(i, protoreflect.ValueOfString(hide(l.Get(i).String())))
				case protoreflect.MessageKind, protoreflect.GroupKind:
					redact(l.Get(i).Message(), hide)
				}
			}
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			vd := fd.MapValue()
			var keys []protoreflect.MapKey
			mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
				keys = append(keys, k)
				return true
			})
			for _, k := range keys {
				switch vd.Kind() {
				case protoreflect.StringKind:
					mp.Set(k, protoreflect.ValueOfString(hide(mp.Get(k).String())))
				case protoreflect.MessageKind, protoreflect.GroupKind:
					redact(mp.Get(k).Message(), hide)
				}
			}
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString(hide(f.v.String())))
		case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
			redact(m.Mutable(fd).Message(), hide)
		}
	}
}

// redactError hides paths in an error's message, keeping its code.
func redactError(err error, hide func(string) string) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		out := connect.NewError(ce.Code(), errors.New(hide(ce.Message())))
		for k, vs := range ce.Meta() {
			for _, v := range vs {
				out.Meta().Add(k, v)
			}
		}
		return out
	}
	code := connect.CodeOf(err)
	switch {
	// A plain context error (the caller's Connect-Timeout-Ms or grpc-timeout
	// ran out, or it went away): connect maps it to its code when it is
	// returned as it is; wrapped, it would be "unknown", a 500.
	case errors.Is(err, context.DeadlineExceeded):
		code = connect.CodeDeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = connect.CodeCanceled
	}
	return connect.NewError(code, errors.New(hide(err.Error())))
}

// WrapUnary implements connect.Interceptor.
func (r *redactor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		res, err := next(ctx, req)
		if !isRemote(ctx) {
			return res, err
		}
		hide := r.replacer()
		if err != nil {
			return res, redactError(err, hide)
		}
		if m, ok := res.Any().(proto.Message); ok {
			redact(m.ProtoReflect(), hide)
		}
		return res, nil
	}
}

// WrapStreamingClient implements connect.Interceptor; the server has no
// streaming clients.
func (r *redactor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements connect.Interceptor.
func (r *redactor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if !isRemote(ctx) {
			return next(ctx, conn)
		}
		hide := r.replacer()
		return redactError(next(ctx, &redactingConn{StreamingHandlerConn: conn, hide: hide}), hide)
	}
}

// redactingConn hides paths in every message a stream sends.
type redactingConn struct {
	connect.StreamingHandlerConn
	hide func(string) string
}

func (c *redactingConn) Send(msg any) error {
	if m, ok := msg.(proto.Message); ok && m != nil {
		redact(m.ProtoReflect(), c.hide)
	}
	return c.StreamingHandlerConn.Send(msg)
}
