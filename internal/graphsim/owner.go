package graphsim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/galmirror/galmirror/internal/graphsim/entrasim"
)

func entrasimFaults(f Faults) entrasim.Faults {
	return entrasim.Faults{Outage: f.TokenOutage, Throttle: f.TokenThrottle}
}

// ownerMailbox resolves a user's mailbox for control operations,
// whatever its state.
func (s *Server) ownerMailbox(tenantID, ref string) (*mailbox, error) {
	t, err := s.tenant(tenantID)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.resolveUserLocked(ref)
	if o == nil {
		return nil, fmt.Errorf("user %q: %w", ref, ErrNotFound)
	}
	return t.mailboxLocked(o.u.ID), nil
}

func (s *Server) folders(tenantID, ref string) ([]Folder, error) {
	mb, err := s.ownerMailbox(tenantID, ref)
	if err != nil {
		return nil, err
	}
	return mb.export(), nil
}

func (s *Server) ownerCreateChildFolder(tenantID, ref, parentID, name string) (string, error) {
	mb, err := s.ownerMailbox(tenantID, ref)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(name) == "" {
		return "", fmt.Errorf("graphsim: folder name is empty")
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	parent := mb.findFolder(parentID)
	if parent == nil {
		return "", fmt.Errorf("graphsim: no folder %q", parentID)
	}
	f, ok := mb.createChildFolderLocked(parent.num, name, nil)
	if !ok {
		return "", fmt.Errorf("graphsim: folder %q already exists", name)
	}
	return mb.folderID(f), nil
}

func (s *Server) ownerCreateFolder(tenantID, ref, name string) (string, error) {
	mb, err := s.ownerMailbox(tenantID, ref)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(name) == "" {
		return "", fmt.Errorf("graphsim: folder name is empty")
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	f, ok := mb.createFolderLocked(name, nil)
	if !ok {
		return "", fmt.Errorf("graphsim: folder %q already exists", name)
	}
	return mb.folderID(f), nil
}

// ownerFolder resolves a folder id of a control call (Deleted Items
// included when deleted is true).
func (s *Server) ownerFolder(mb *mailbox, folderID string, deleted bool) (*folder, error) {
	f := mb.findFolder(folderID)
	if f == nil || f.num == deletedNum && !deleted {
		return nil, fmt.Errorf("folder %q: %w", folderID, ErrNotFound)
	}
	return f, nil
}

// withOwnerFolder runs fn on a folder the owner may change (not a
// distinguished one), with its mailbox locked.
func (s *Server) withOwnerFolder(tenantID, ref, folderID string, fn func(mb *mailbox, f *folder) error) error {
	mb, err := s.ownerMailbox(tenantID, ref)
	if err != nil {
		return err
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	f, err := s.ownerFolder(mb, folderID, false)
	if err != nil || f.wellKnown {
		return fmt.Errorf("folder %q: %w", folderID, ErrNotFound)
	}
	return fn(mb, f)
}

// ownerDeleteFolder deletes a folder as Outlook does: into Deleted Items,
// or for good from there.
func (s *Server) ownerDeleteFolder(tenantID, ref, folderID string) error {
	return s.withOwnerFolder(tenantID, ref, folderID, func(mb *mailbox, f *folder) error {
		if mb.inDeletedItems(f) {
			mb.deleteFolderLocked(f)
			return nil
		}
		if !mb.moveFolderLocked(f, mb.deletedItems()) {
			return fmt.Errorf("graphsim: Deleted Items already holds a folder named %q", f.name)
		}
		return nil
	})
}

func (s *Server) ownerPermanentDeleteFolder(tenantID, ref, folderID string) error {
	return s.withOwnerFolder(tenantID, ref, folderID, func(mb *mailbox, f *folder) error {
		mb.deleteFolderLocked(f)
		return nil
	})
}

func (s *Server) ownerMoveFolder(tenantID, ref, folderID, destID string) error {
	mb, err := s.ownerMailbox(tenantID, ref)
	if err != nil {
		return err
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	f, err := s.ownerFolder(mb, folderID, false)
	if err != nil || f.wellKnown {
		return fmt.Errorf("folder %q: %w", folderID, ErrNotFound)
	}
	dest := mb.defaultFolder()
	if destID != "" {
		if dest, err = s.ownerFolder(mb, destID, true); err != nil {
			return err
		}
	}
	if mb.within(dest, f) {
		return fmt.Errorf("graphsim: cannot move folder %q into itself", f.name)
	}
	if !mb.moveFolderLocked(f, dest) {
		return fmt.Errorf("graphsim: %q already holds a folder named %q", dest.name, f.name)
	}
	return nil
}

func (s *Server) ownerEmptyDeletedItems(tenantID, ref string) error {
	mb, err := s.ownerMailbox(tenantID, ref)
	if err != nil {
		return err
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	del := mb.deletedItems()
	for _, c := range slices.Clone(del.items) {
		mb.deleteContactLocked(c)
	}
	for _, f := range slices.Clone(mb.folders) {
		if f.parent == deletedNum {
			mb.deleteFolderLocked(f)
		}
	}
	return nil
}

func (s *Server) ownerCreateContact(tenantID, ref, folderID string, props json.RawMessage) (string, error) {
	mb, err := s.ownerMailbox(tenantID, ref)
	if err != nil {
		return "", err
	}
	w, be := parseContactBody(props)
	if be != nil {
		return "", fmt.Errorf("graphsim: contact: %s", be.msg)
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	f := mb.defaultFolder()
	if folderID != "" {
		if f, err = s.ownerFolder(mb, folderID, true); err != nil {
			return "", err
		}
	}
	c := mb.createContactLocked(f, w, s.now())
	return mb.itemID(kindContact, c.num), nil
}

func (s *Server) ownerContact(mb *mailbox, id string) (*contact, error) {
	n, ok := mb.parseItemID(id, kindContact)
	c := mb.contacts[n]
	if !ok || c == nil {
		return nil, fmt.Errorf("contact %q: %w", id, ErrNotFound)
	}
	return c, nil
}

// ownerUpdateFolder changes a folder's name or extended properties as
// another client of the mailbox would (Outlook renaming it, or another
// application writing its own marks).
func (s *Server) ownerUpdateFolder(tenantID, ref, folderID string, patch json.RawMessage) error {
	name, ext, hasExt, be := parseFolderBody(patch)
	if be != nil {
		return fmt.Errorf("graphsim: folder: %s", be.msg)
	}
	return s.withOwnerFolder(tenantID, ref, folderID, func(mb *mailbox, f *folder) error {
		if name != nil {
			if o := mb.childByName(f.parent, *name); o != nil && o != f {
				return fmt.Errorf("graphsim: a folder named %q already exists there", *name)
			}
			f.name = *name
		}
		if hasExt {
			f.ext = mergeExt(slices.Clone(f.ext), ext)
		}
		mb.seq++
		f.seq = mb.seq
		return nil
	})
}

func (s *Server) ownerUpdateContact(tenantID, ref, id string, patch json.RawMessage) error {
	mb, err := s.ownerMailbox(tenantID, ref)
	if err != nil {
		return err
	}
	w, be := parseContactBody(patch)
	if be != nil {
		return fmt.Errorf("graphsim: contact: %s", be.msg)
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	c, err := s.ownerContact(mb, id)
	if err != nil {
		return err
	}
	mb.updateContactLocked(c, w, s.now())
	return nil
}

// ownerDeleteContact deletes a contact as Outlook does: into Deleted
// Items (with a new id), or for good from there.
func (s *Server) ownerDeleteContact(tenantID, ref, id string) error {
	mb, err := s.ownerMailbox(tenantID, ref)
	if err != nil {
		return err
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	c, err := s.ownerContact(mb, id)
	if err != nil {
		return err
	}
	if mb.inDeletedItems(c.folder) {
		mb.deleteContactLocked(c)
	} else {
		mb.moveContactLocked(c, mb.deletedItems())
	}
	return nil
}

func (s *Server) ownerMoveContact(tenantID, ref, id, destID string) error {
	mb, err := s.ownerMailbox(tenantID, ref)
	if err != nil {
		return err
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	c, err := s.ownerContact(mb, id)
	if err != nil {
		return err
	}
	dest := mb.defaultFolder()
	if destID != "" {
		if dest, err = s.ownerFolder(mb, destID, true); err != nil {
			return err
		}
	}
	if dest != c.folder {
		mb.moveContactLocked(c, dest)
	}
	return nil
}
