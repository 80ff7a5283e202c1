package graphsim

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// An OData $filter expression parser and evaluator covering what Graph's
// directory and Outlook endpoints accept: and/or/not, comparisons, in,
// startswith/endswith/contains, any/all lambdas and property paths.
// Which properties and operators a resource supports is checked separately
// (see the check* functions of each resource).

type nodeKind int

const (
	nAnd nodeKind = iota
	nOr
	nNot
	nCmp    // op: eq ne gt ge lt le; args[0], args[1]
	nIn     // args[0] in args[1:]
	nFunc   // name, args
	nLambda // path (collection), op any/all, v, args[0] body
	nPath
	nLit
)

type litKind int

const (
	lNull litKind = iota
	lString
	lBool
	lNumber
	lType // a type name as in cast(x, Edm.Int32)
)

type fnode struct {
	kind nodeKind
	op   string // comparison operator, function name (lower-case) or lambda kind
	args []*fnode
	path []string // nPath, nLambda
	v    string   // lambda variable
	lk   litKind
	s    string
	b    bool
	num  float64
}

// FilterError is a $filter syntax error with its position.
type filterError struct {
	pos int
	msg string
}

func (e *filterError) Error() string {
	return fmt.Sprintf("Syntax error at position %d: %s", e.pos, e.msg)
}

type ftok struct {
	kind byte // 'i' ident, 's' string, 'n' number, '(' ')' ',' ':' , 0 eof
	text string
	pos  int
}

func lexFilter(src string) ([]ftok, error) {
	var out []ftok
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == ',' || c == ':':
			out = append(out, ftok{kind: c, text: string(c), pos: i})
			i++
		case c == '\'':
			start := i
			i++
			var b strings.Builder
			closed := false
			for i < len(src) {
				if src[i] == '\'' {
					if i+1 < len(src) && src[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(src[i])
				i++
			}
			if !closed {
				return nil, &filterError{start, "unterminated string literal"}
			}
			out = append(out, ftok{kind: 's', text: b.String(), pos: start})
		case c == '-' || c >= '0' && c <= '9':
			start := i
			i++
			for i < len(src) && (src[i] >= '0' && src[i] <= '9' || src[i] == '.' || src[i] == 'e' || src[i] == 'E' || src[i] == '-' || src[i] == '+' ||
				src[i] >= 'a' && src[i] <= 'f' || src[i] >= 'A' && src[i] <= 'F') {
				i++
			}
			out = append(out, ftok{kind: 'n', text: src[start:i], pos: start})
		case c == '_' || c == '$' || c == '@' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80:
			start := i
			for i < len(src) {
				r, size := utf8.DecodeRuneInString(src[i:])
				if r == '_' || r == '/' || r == '.' || r == '$' || r == '@' || r == '#' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r >= 0x80 {
					i += size
					continue
				}
				break
			}
			out = append(out, ftok{kind: 'i', text: src[start:i], pos: start})
		default:
			return nil, &filterError{i, fmt.Sprintf("unexpected character %q", c)}
		}
	}
	out = append(out, ftok{kind: 0, pos: len(src)})
	return out, nil
}

type fparser struct {
	toks  []ftok
	i     int
	depth int
	vars  []string
}

const maxFilterDepth = 64

// parseFilter parses a $filter expression.
func parseFilter(src string) (*fnode, error) {
	if len(src) > 8192 {
		return nil, &filterError{0, "the filter is too long"}
	}
	toks, err := lexFilter(src)
	if err != nil {
		return nil, err
	}
	p := &fparser{toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != 0 {
		return nil, &filterError{t.pos, fmt.Sprintf("unexpected '%s'", t.text)}
	}
	return n, nil
}

func (p *fparser) peek() ftok { return p.toks[p.i] }
func (p *fparser) next() ftok {
	t := p.toks[p.i]
	if t.kind != 0 {
		p.i++
	}
	return t
}

func (p *fparser) isWord(w string) bool {
	t := p.peek()
	return t.kind == 'i' && strings.EqualFold(t.text, w)
}

func (p *fparser) enter() error {
	p.depth++
	if p.depth > maxFilterDepth {
		return &filterError{p.peek().pos, "the filter is nested too deeply"}
	}
	return nil
}

func (p *fparser) or() (*fnode, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.isWord("or") {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &fnode{kind: nOr, args: []*fnode{l, r}}
	}
	return l, nil
}

func (p *fparser) and() (*fnode, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.isWord("and") {
		p.next()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &fnode{kind: nAnd, args: []*fnode{l, r}}
	}
	return l, nil
}

func (p *fparser) unary() (*fnode, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	if p.isWord("not") {
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &fnode{kind: nNot, args: []*fnode{x}}, nil
	}
	return p.comparison()
}

var cmpOps = map[string]bool{"eq": true, "ne": true, "gt": true, "ge": true, "lt": true, "le": true}

func (p *fparser) comparison() (*fnode, error) {
	l, err := p.operand()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if t.kind == 'i' {
		op := strings.ToLower(t.text)
		if cmpOps[op] {
			p.next()
			r, err := p.operand()
			if err != nil {
				return nil, err
			}
			return &fnode{kind: nCmp, op: op, args: []*fnode{l, r}}, nil
		}
		if op == "in" {
			p.next()
			if p.next().kind != '(' {
				return nil, &filterError{t.pos, "'in' needs a parenthesised list"}
			}
			n := &fnode{kind: nIn, args: []*fnode{l}}
			for {
				v, err := p.operand()
				if err != nil {
					return nil, err
				}
				if v.kind != nLit {
					return nil, &filterError{t.pos, "'in' accepts literals only"}
				}
				n.args = append(n.args, v)
				sep := p.next()
				if sep.kind == ')' {
					break
				}
				if sep.kind != ',' {
					return nil, &filterError{sep.pos, "expected ',' or ')'"}
				}
			}
			return n, nil
		}
	}
	return l, nil
}

func (p *fparser) operand() (*fnode, error) {
	t := p.next()
	switch t.kind {
	case '(':
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != ')' {
			return nil, &filterError{c.pos, "expected ')'"}
		}
		return n, nil
	case 's':
		return &fnode{kind: nLit, lk: lString, s: t.text}, nil
	case 'n':
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			// GUID literals and the like are kept as strings.
			return &fnode{kind: nLit, lk: lString, s: t.text}, nil
		}
		return &fnode{kind: nLit, lk: lNumber, num: f, s: t.text}, nil
	case 'i':
		lw := strings.ToLower(t.text)
		switch lw {
		case "true", "false":
			return &fnode{kind: nLit, lk: lBool, b: lw == "true"}, nil
		case "null":
			return &fnode{kind: nLit, lk: lNull}, nil
		}
		if p.peek().kind == '(' {
			segs := strings.Split(t.text, "/")
			last := strings.ToLower(segs[len(segs)-1])
			if len(segs) > 1 && (last == "any" || last == "all") {
				return p.lambda(t, segs[:len(segs)-1], last)
			}
			if len(segs) > 1 {
				return nil, &filterError{t.pos, fmt.Sprintf("unknown function '%s'", t.text)}
			}
			return p.call(t, lw)
		}
		if strings.HasPrefix(t.text, "Edm.") {
			return &fnode{kind: nLit, lk: lType, s: t.text}, nil
		}
		segs := strings.Split(t.text, "/")
		for _, s := range segs {
			if s == "" {
				return nil, &filterError{t.pos, fmt.Sprintf("invalid property path '%s'", t.text)}
			}
		}
		return &fnode{kind: nPath, path: segs}, nil
	case 0:
		return nil, &filterError{t.pos, "unexpected end of expression"}
	default:
		return nil, &filterError{t.pos, fmt.Sprintf("unexpected '%s'", t.text)}
	}
}

func (p *fparser) call(t ftok, name string) (*fnode, error) {
	p.next() // (
	n := &fnode{kind: nFunc, op: name}
	if p.peek().kind == ')' {
		p.next()
		return n, nil
	}
	for {
		a, err := p.or()
		if err != nil {
			return nil, err
		}
		n.args = append(n.args, a)
		sep := p.next()
		if sep.kind == ')' {
			return n, nil
		}
		if sep.kind != ',' {
			return nil, &filterError{sep.pos, "expected ',' or ')'"}
		}
		if len(n.args) > 8 {
			return nil, &filterError{sep.pos, "too many arguments"}
		}
	}
}

func (p *fparser) lambda(t ftok, coll []string, kind string) (*fnode, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.next() // (
	v := p.next()
	if v.kind != 'i' || strings.Contains(v.text, "/") {
		return nil, &filterError{v.pos, "expected a lambda variable"}
	}
	if c := p.next(); c.kind != ':' {
		return nil, &filterError{c.pos, "expected ':' after the lambda variable"}
	}
	p.vars = append(p.vars, v.text)
	body, err := p.or()
	p.vars = p.vars[:len(p.vars)-1]
	if err != nil {
		return nil, err
	}
	if c := p.next(); c.kind != ')' {
		return nil, &filterError{c.pos, "expected ')'"}
	}
	return &fnode{kind: nLambda, op: kind, path: coll, v: v.text, args: []*fnode{body}}, nil
}

// fobject is something a filter evaluates against.
type fobject interface {
	prop(name string) (any, bool)
}

// extIDValue is an extended property id: compared by extIDEqual.
type extIDValue string

type fenv struct {
	root fobject
	vars map[string]any
}

// evalFilter reports whether obj matches. Unknown properties evaluate to
// null (resources reject them before evaluation).
func evalFilter(n *fnode, obj fobject) bool {
	v := evalNode(n, &fenv{root: obj}, 0)
	b, _ := v.(bool)
	return b
}

func evalNode(n *fnode, env *fenv, depth int) any {
	if depth > 4*maxFilterDepth {
		return nil
	}
	switch n.kind {
	case nAnd:
		return truthy(evalNode(n.args[0], env, depth+1)) && truthy(evalNode(n.args[1], env, depth+1))
	case nOr:
		return truthy(evalNode(n.args[0], env, depth+1)) || truthy(evalNode(n.args[1], env, depth+1))
	case nNot:
		return !truthy(evalNode(n.args[0], env, depth+1))
	case nLit:
		switch n.lk {
		case lString, lType:
			return n.s
		case lBool:
			return n.b
		case lNumber:
			return n.num
		}
		return nil
	case nPath:
		return resolvePath(n.path, env)
	case nCmp:
		return compare(n.op, evalNode(n.args[0], env, depth+1), evalNode(n.args[1], env, depth+1))
	case nIn:
		l := evalNode(n.args[0], env, depth+1)
		for _, a := range n.args[1:] {
			if compare("eq", l, evalNode(a, env, depth+1)) {
				return true
			}
		}
		return false
	case nFunc:
		args := make([]any, len(n.args))
		for i, a := range n.args {
			args[i] = evalNode(a, env, depth+1)
		}
		return callFunc(n.op, args)
	case nLambda:
		coll := resolvePath(n.path, env)
		var items []any
		switch c := coll.(type) {
		case []string:
			for _, s := range c {
				items = append(items, s)
			}
		case []any:
			items = c
		}
		all := n.op == "all"
		for _, it := range items {
			sub := &fenv{root: env.root, vars: map[string]any{}}
			for k, v := range env.vars {
				sub.vars[k] = v
			}
			sub.vars[n.v] = it
			ok := truthy(evalNode(n.args[0], sub, depth+1))
			if ok && !all {
				return true
			}
			if !ok && all {
				return false
			}
		}
		return all
	}
	return nil
}

func truthy(v any) bool { b, _ := v.(bool); return b }

func resolvePath(path []string, env *fenv) any {
	var cur any = env.root
	start := 0
	if v, ok := env.vars[path[0]]; ok {
		cur = v
		start = 1
	}
	for _, seg := range path[start:] {
		o, ok := cur.(fobject)
		if !ok {
			return nil
		}
		cur, _ = o.prop(seg)
	}
	return cur
}

func compare(op string, a, b any) bool {
	if ea, ok := a.(extIDValue); ok {
		if bs, ok := b.(string); ok {
			eq := extIDEqual(string(ea), bs)
			return (op == "eq") == eq && (op == "eq" || op == "ne")
		}
	}
	switch x := a.(type) {
	case nil:
		switch op {
		case "eq":
			return b == nil
		case "ne":
			return b != nil
		}
		return false
	case string:
		y, ok := b.(string)
		if !ok {
			return op == "ne"
		}
		c := strings.Compare(strings.ToLower(x), strings.ToLower(y))
		return cmpResult(op, c)
	case bool:
		y, ok := b.(bool)
		if !ok {
			return op == "ne"
		}
		return cmpResult(op, boolCmp(x, y))
	case float64:
		y, ok := b.(float64)
		if !ok {
			return op == "ne"
		}
		c := 0
		if x < y {
			c = -1
		} else if x > y {
			c = 1
		}
		return cmpResult(op, c)
	}
	return false
}

func boolCmp(a, b bool) int {
	if a == b {
		return 0
	}
	if !a {
		return -1
	}
	return 1
}

func cmpResult(op string, c int) bool {
	switch op {
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	}
	return false
}

func callFunc(name string, args []any) any {
	switch name {
	case "startswith", "endswith", "contains":
		if len(args) != 2 {
			return false
		}
		a, ok1 := args[0].(string)
		b, ok2 := args[1].(string)
		if !ok1 || !ok2 {
			return false
		}
		a, b = strings.ToLower(a), strings.ToLower(b)
		switch name {
		case "startswith":
			return strings.HasPrefix(a, b)
		case "endswith":
			return strings.HasSuffix(a, b)
		}
		return strings.Contains(a, b)
	case "cast":
		if len(args) == 2 {
			if s, ok := args[0].(string); ok {
				if f, err := strconv.ParseFloat(s, 64); err == nil {
					return f
				}
			}
		}
		return nil
	}
	return nil
}

// walkFilter visits every node.
func walkFilter(n *fnode, f func(*fnode) error) error {
	if err := f(n); err != nil {
		return err
	}
	for _, a := range n.args {
		if err := walkFilter(a, f); err != nil {
			return err
		}
	}
	return nil
}
