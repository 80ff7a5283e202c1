package events

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/windows/registry"
	"golang.org/x/sys/windows/svc/eventlog"
)

// sourceKey is where event sources of the Application log are registered.
const sourceKey = `SYSTEM\CurrentControlSet\Services\EventLog\Application`

// EventLogSink writes events to the Windows Application log.
type EventLogSink struct {
	log *eventlog.Log
}

// OpenEventLog opens the Application log for writing under source. Writing
// works even when the source is not registered, but Event Viewer then shows
// "The description for Event ID ... cannot be found"; InstallSource fixes
// that.
func OpenEventLog(source string) (*EventLogSink, error) {
	l, err := eventlog.Open(source)
	if err != nil {
		return nil, fmt.Errorf("open event log source %s: %w", source, err)
	}
	return &EventLogSink{log: l}, nil
}

// Write reports e with its catalog level and ID.
func (s *EventLogSink) Write(_ context.Context, e Event) error {
	return report(s.log, e)
}

// Close releases the event source handle.
func (s *EventLogSink) Close() error { return s.log.Close() }

// SourceRegistered reports whether source is registered in the
// Application log.
func SourceRegistered(source string) bool {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, sourceKey+`\`+source, registry.QUERY_VALUE)
	if err != nil {
		return false
	}
	k.Close()
	return true
}

// InstallSource registers source in the Application log with
// EventCreate.exe as its message file (IDs 1–1000, one insertion string).
// An existing registration is left as it is (the MSI may have written it).
func InstallSource(source string) error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, sourceKey+`\`+source, registry.QUERY_VALUE)
	if err == nil {
		k.Close()
		return nil
	}
	err = eventlog.InstallAsEventCreate(source, eventlog.Error|eventlog.Warning|eventlog.Info)
	if err != nil {
		return fmt.Errorf("register event source %s: %w", source, err)
	}
	return nil
}

// RemoveSource deletes the registration made by InstallSource. A missing
// registration is not an error.
func RemoveSource(source string) error {
	err := eventlog.Remove(source)
	if err != nil && !errors.Is(err, registry.ErrNotExist) {
		return fmt.Errorf("remove event source %s: %w", source, err)
	}
	return nil
}
