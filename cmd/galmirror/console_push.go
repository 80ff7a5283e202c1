package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/galmirror/galmirror/internal/console"
)

// consolePushMode is the console's side of push mode: the PushSource the
// fleet asks for pushed customers' connections, and the listener on
// cfg.PushListen, run until ctx is done.
type consolePushMode struct {
	source console.PushSource
	run    func(ctx context.Context) error
}

// consolePush starts nothing when no customer is pushed. Package tunnel's
// server plugs in here.
func consolePush(_ context.Context, cfg *console.Config, _ *slog.Logger) (consolePushMode, error) {
	idle := func(ctx context.Context) error { <-ctx.Done(); return nil }
	if cfg.PushListen == "" {
		return consolePushMode{run: idle}, nil
	}
	return consolePushMode{}, errors.New(cfg.File() + ": pushListen: push mode is not in this build yet")
}
