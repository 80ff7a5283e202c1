//go:build !windows

package events

import "context"

// EventLogSink writes events to the Windows Application log; on this system
// it cannot be opened.
type EventLogSink struct{}

// OpenEventLog returns ErrUnsupported on this system.
func OpenEventLog(source string) (*EventLogSink, error) { return nil, ErrUnsupported }

// Write returns ErrUnsupported.
func (s *EventLogSink) Write(context.Context, Event) error { return ErrUnsupported }

// Close does nothing.
func (s *EventLogSink) Close() error { return nil }

// SourceRegistered reports false on this system.
func SourceRegistered(source string) bool { return false }

// InstallSource returns ErrUnsupported on this system.
func InstallSource(source string) error { return ErrUnsupported }

// RemoveSource returns ErrUnsupported on this system.
func RemoveSource(source string) error { return ErrUnsupported }
