package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a settings file.
type Problem struct {
	// Path is the JSON path of the offending value, such as
	// tenants[1].source.includeGroups[0]; empty for the document itself.
	Path string
	// Line and Column (1-based) locate the value or the syntax error when
	// known; zero otherwise.
	Line, Column int
	// Message says what is wrong. It never contains a secret: config holds
	// none (passwords stay in environment variables).
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d:%d: ", p.Line, p.Column)
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError reports every problem found in a settings file. The CLI
// maps it (and any other error from Load) to exit code 2.
type ValidationError struct {
	// File is the settings file's path as given to Load.
	File     string
	Problems []Problem
}

// Error lists the problems one per line, each prefixed with the file name.
func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.File)
		b.WriteString(":")
		if p.Line > 0 {
			fmt.Fprintf(&b, "%d:%d:", p.Line, p.Column)
		}
		b.WriteString(" ")
		if p.Path != "" {
			b.WriteString(p.Path)
			b.WriteString(": ")
		}
		b.WriteString(p.Message)
	}
	return b.String()
}
