//go:build !unix && !windows

package store

import "os"

// Systems without advisory locks get no cross-process exclusion; runs in one
// process are still kept apart by the service.
func tryLock(*os.File) (bool, error) { return true, nil }

func unlockFile(*os.File) {}
