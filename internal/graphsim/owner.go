package graphsim

import (
	"encoding/json"
	"fmt"
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

func (s *Server) ownerDeleteFolder(tenantID, ref, folderID string) error {
	mb, err := s.ownerMailbox(tenantID, ref)
	if err != nil {
		return err
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	f := mb.findFolder(folderID)
	if f == nil || f.wellKnown {
		return fmt.Errorf("folder %q: %w", folderID, ErrNotFound)
	}
	mb.deleteFolderLocked(f)
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
		if f = mb.findFolder(folderID); f == nil {
			return "", fmt.Errorf("folder %q: %w", folderID, ErrNotFound)
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
	mb.deleteContactLocked(c)
	return nil
}
