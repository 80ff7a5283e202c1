// Package schemacheck checks JSON documents against galmirror's JSON
// Schemas: docs/report.schema.json (the outputs) and
// docs/settings.schema.json (the settings file). It implements just the
// keywords those schemas use, and is imported by tests only.
package schemacheck

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Schema is a loaded JSON Schema.
type Schema struct {
	root map[string]any
}

// Parse reads a schema.
func Parse(b []byte) (*Schema, error) {
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		return nil, err
	}
	return &Schema{root: root}, nil
}

// Defs returns the names of the schema's $defs.
func (s *Schema) Defs() []string {
	defs, _ := s.root["$defs"].(map[string]any)
	var out []string
	for k := range defs {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Check checks doc (one JSON value) against the schema's $defs entry def
// and returns what does not match (nothing when it does).
func (s *Schema) Check(def string, doc []byte) []string {
	dec := json.NewDecoder(strings.NewReader(string(doc)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return []string{err.Error()}
	}
	c := &checker{root: s.root}
	c.valid("$", map[string]any{"$ref": "#/$defs/" + def}, v)
	return c.errs
}

// CheckRoot checks doc against the schema itself (not one of its $defs).
func (s *Schema) CheckRoot(doc []byte) []string {
	dec := json.NewDecoder(strings.NewReader(string(doc)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return []string{err.Error()}
	}
	c := &checker{root: s.root}
	c.valid("$", s.root, v)
	return c.errs
}

// Root is the schema's top object.
func (s *Schema) Root() map[string]any { return s.root }

// Resolve follows the $ref chain of a schema object of s, sibling
// keywords merged over the target.
func (s *Schema) Resolve(obj map[string]any) map[string]any {
	return (&checker{root: s.root}).resolve(obj)
}

type checker struct {
	root map[string]any
	errs []string
}

var supported = map[string]bool{"$schema": true, "$id": true, "title": true, "description": true, "default": true, "$defs": true, "$ref": true,
	"type": true, "properties": true, "additionalProperties": true, "required": true, "items": true, "enum": true, "const": true,
	"pattern": true, "minimum": true, "maximum": true, "minLength": true, "maxLength": true, "anyOf": true, "not": true,
	"if": true, "then": true, "else": true, "contains": true}

func (c *checker) resolve(s map[string]any) map[string]any {
	for {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		name, ok := strings.CutPrefix(ref, "#/$defs/")
		if !ok {
			panic("schemacheck: unsupported $ref " + ref)
		}
		next, ok := c.root["$defs"].(map[string]any)[name].(map[string]any)
		if !ok {
			panic("schemacheck: no $defs entry " + name)
		}
		merged := map[string]any{}
		for k, v := range next {
			merged[k] = v
		}
		for k, v := range s {
			if k != "$ref" {
				merged[k] = v
			}
		}
		s = merged
	}
}

func (c *checker) valid(path string, s map[string]any, v any) bool {
	s = c.resolve(s)
	ok := true
	fail := func(format string, args ...any) {
		c.errs = append(c.errs, path+": "+fmt.Sprintf(format, args...))
		ok = false
	}
	for k := range s {
		if !supported[k] {
			panic("schemacheck: keyword not supported: " + k)
		}
	}
	if typ, has := s["type"]; has && !typeMatches(typ, v) {
		fail("not %v", typ)
		return false
	}
	if e, has := s["enum"].([]any); has && !slices.ContainsFunc(e, func(x any) bool { return reflect.DeepEqual(x, v) }) {
		fail("%v is not one of %v", v, e)
	}
	if cv, has := s["const"]; has && !reflect.DeepEqual(cv, v) {
		fail("not %v", cv)
	}
	switch x := v.(type) {
	case string:
		if p, has := s["pattern"].(string); has && !regexp.MustCompile(p).MatchString(x) {
			fail("%q does not match %s", x, p)
		}
		if n, has := s["minLength"].(float64); has && utf8.RuneCountInString(x) < int(n) {
			fail("shorter than %v", n)
		}
		if n, has := s["maxLength"].(float64); has && utf8.RuneCountInString(x) > int(n) {
			fail("longer than %v", n)
		}
	case json.Number:
		f, _ := x.Float64()
		if n, has := s["minimum"].(float64); has && f < n {
			fail("below %v", n)
		}
		if n, has := s["maximum"].(float64); has && f > n {
			fail("above %v", n)
		}
	case map[string]any:
		ok = c.object(path, s, x) && ok
	case []any:
		if is, has := s["items"].(map[string]any); has {
			for i, e := range x {
				ok = c.valid(fmt.Sprintf("%s[%d]", path, i), is, e) && ok
			}
		}
	}
	if branches, has := s["anyOf"].([]any); has {
		sub := &checker{root: c.root}
		if !slices.ContainsFunc(branches, func(a any) bool { return sub.valid(path, a.(map[string]any), v) }) {
			fail("matches no anyOf branch: %v", sub.errs)
		}
	}
	return c.logic(path, s, v) && ok
}

// logic applies not, if/then/else and (on arrays) contains.
func (c *checker) logic(path string, s map[string]any, v any) bool {
	ok := true
	if not, has := s["not"].(map[string]any); has {
		if (&checker{root: c.root}).valid(path, not, v) {
			c.errs = append(c.errs, path+": matches not")
			ok = false
		}
	}
	if cond, has := s["if"].(map[string]any); has {
		branch := "else"
		if (&checker{root: c.root}).valid(path, cond, v) {
			branch = "then"
		}
		if b, has := s[branch].(map[string]any); has && !c.valid(path, b, v) {
			ok = false
		}
	}
	if cs, has := s["contains"].(map[string]any); has {
		if x, isArray := v.([]any); isArray {
			sub := &checker{root: c.root}
			if !slices.ContainsFunc(x, func(e any) bool { return sub.valid(path, cs, e) }) {
				c.errs = append(c.errs, path+": contains nothing matching")
				ok = false
			}
		}
	}
	return ok
}

func (c *checker) object(path string, s, x map[string]any) bool {
	ok := true
	props, _ := s["properties"].(map[string]any)
	for k, pv := range x {
		if ps, has := props[k]; has {
			ok = c.valid(path+"."+k, ps.(map[string]any), pv) && ok
			continue
		}
		switch ap := s["additionalProperties"].(type) {
		case bool:
			if !ap {
				c.errs = append(c.errs, path+": unknown property "+k)
				ok = false
			}
		case map[string]any:
			ok = c.valid(path+"."+k, ap, pv) && ok
		}
	}
	if req, has := s["required"].([]any); has {
		for _, r := range req {
			if _, has := x[r.(string)]; !has {
				c.errs = append(c.errs, path+": missing "+r.(string))
				ok = false
			}
		}
	}
	return ok
}

func typeMatches(typ, v any) bool {
	if list, ok := typ.([]any); ok {
		return slices.ContainsFunc(list, func(t any) bool { return typeMatches(t, v) })
	}
	t, _ := typ.(string)
	switch x := v.(type) {
	case nil:
		return t == "null"
	case map[string]any:
		return t == "object"
	case []any:
		return t == "array"
	case string:
		return t == "string"
	case bool:
		return t == "boolean"
	case json.Number:
		_, err := x.Int64()
		return t == "number" || t == "integer" && err == nil
	}
	return false
}
