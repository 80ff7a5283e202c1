package graphsim

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// mailbox is one user's Exchange mailbox: contact folders and contacts.
// Contacts are stored compactly (canonical JSON plus a few numbers) so a
// million of them fit in memory; ids and change keys are derived from
// numbers when rendered.
type mailbox struct {
	mu       sync.Mutex
	key      [16]byte // from the user id
	next     uint64   // next item number
	seq      uint64   // change sequence: delta order and change keys
	epoch    uint64   // delta token generation
	folders  []*folder
	byNum    map[uint64]*folder
	contacts map[uint64]*contact
}

type folder struct {
	num       uint64
	parent    uint64
	name      string
	wellKnown bool   // a distinguished folder: cannot be deleted or renamed
	wkName    string // its well-known name: "contacts", "deleteditems"
	ext       []extProp
	seq       uint64
	items     []*contact // by number (creation order)
	tombs     []tomb
}

type contact struct {
	num      uint64
	folder   *folder
	seq      uint64 // last change; also the change key's version
	created  int64  // unix seconds
	modified int64
	doc      []byte // canonical JSON of the writable properties
	ext      []extProp
	photo    *photo // nil: none
}

type tomb struct{ num, seq uint64 }

const (
	kindFolder  = 0x2E
	kindContact = 0x46
	kindRoot    = 0x01
	rootNum     = 0
	defaultNum  = 1
	// deletedNum numbers the Deleted Items folder, outside the range items
	// are numbered in, so state saved before it existed keeps its ids.
	deletedNum = 1 << 62
)

func newMailbox(userID string) *mailbox {
	mb := &mailbox{next: 2, byNum: map[uint64]*folder{}, contacts: map[uint64]*contact{}}
	if b, err := hex.DecodeString(strings.ReplaceAll(userID, "-", "")); err == nil && len(b) == 16 {
		copy(mb.key[:], b)
	}
	def := &folder{num: defaultNum, parent: rootNum, name: "Contacts", wellKnown: true, wkName: "contacts"}
	// Every mailbox has Deleted Items, a mail folder beside Contacts under
	// the root: DELETE moves folders and contacts there.
	del := &folder{num: deletedNum, parent: rootNum, name: "Deleted Items", wellKnown: true, wkName: "deleteditems"}
	mb.folders = []*folder{def, del}
	mb.byNum[defaultNum] = def
	mb.byNum[deletedNum] = del
	return mb
}

// mailboxLocked returns (creating) a user's mailbox; t.mu must be held.
func (t *tenantState) mailboxLocked(userID string) *mailbox {
	mb := t.mailboxes[userID]
	if mb == nil {
		mb = newMailbox(userID)
		mb.epoch = t.epoch
		t.mailboxes[userID] = mb
	}
	return mb
}

var idEncoding = base64.StdEncoding

// itemID renders an Outlook-style id ("AAMkA...") for an item number.
func (mb *mailbox) itemID(kind byte, num uint64) string {
	var b [64]byte
	return string(mb.appendItemID(b[:0], kind, num))
}

// decodeID decodes an id's base64 (with '-' for '/' and '_' for '+')
// into dst, which must have room for it.
func decodeID(dst []byte, id string) (int, bool) {
	var src [512]byte
	if len(id) > len(src) {
		return 0, false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch c {
		case '-':
			c = '/'
		case '_':
			c = '+'
		}
		src[i] = c
	}
	n, err := idEncoding.Decode(dst, src[:len(id)])
	return n, err == nil
}

// parseItemID returns the item number of an id of this mailbox and kind.
func (mb *mailbox) parseItemID(id string, kind byte) (uint64, bool) {
	if len(id) != 64 {
		return 0, false
	}
	var buf [48]byte
	n, ok := decodeID(buf[:], id)
	b := buf[:n]
	if !ok || len(b) != 47 || b[0] != 0 || b[1] != 3 || b[2] != 0x24 || b[20] != kind {
		return 0, false
	}
	if string(b[4:20]) != string(mb.key[:]) {
		return 0, false
	}
	return binary.BigEndian.Uint64(b[37:45]), true
}

// wellFormedID reports whether id looks like an Outlook id at all (else
// Graph answers ErrorInvalidIdMalformed rather than ErrorItemNotFound).
func wellFormedID(id string) bool {
	if len(id) < 16 || len(id) > 512 {
		return false
	}
	var buf [384]byte
	_, ok := decodeID(buf[:], id)
	return ok
}

func (mb *mailbox) changeKey(seq uint64) string {
	var b [40]byte
	return string(mb.appendChangeKey(b[:0], seq))
}

func (mb *mailbox) folderID(f *folder) string { return mb.itemID(kindFolder, f.num) }
func (mb *mailbox) parentID(f *folder) string {
	if f.parent == rootNum {
		return mb.itemID(kindRoot, rootNum)
	}
	return mb.itemID(kindFolder, f.parent)
}
func (mb *mailbox) defaultFolder() *folder { return mb.byNum[defaultNum] }
func (mb *mailbox) deletedItems() *folder  { return mb.byNum[deletedNum] }

// inDeletedItems reports whether a folder is Deleted Items or inside it.
func (mb *mailbox) inDeletedItems(f *folder) bool {
	for n := f.num; n != rootNum; {
		if n == deletedNum {
			return true
		}
		p := mb.byNum[n]
		if p == nil {
			return false
		}
		n = p.parent
	}
	return false
}

// within reports whether folder f is dest or one of its ancestors.
func (mb *mailbox) within(dest, f *folder) bool {
	for n := dest.num; n != rootNum; {
		if n == f.num {
			return true
		}
		p := mb.byNum[n]
		if p == nil {
			return false
		}
		n = p.parent
	}
	return false
}

// moveFolderLocked moves a folder (its contents, child folders and
// extended properties with it; ids kept) under dest. A sibling of the same
// name there refuses the move.
func (mb *mailbox) moveFolderLocked(f, dest *folder) bool {
	if o := mb.childByName(dest.num, f.name); o != nil && o != f {
		return false
	}
	mb.seq++
	f.parent = dest.num
	f.seq = mb.seq
	return true
}

// moveContactLocked moves a contact to another folder. Without
// ImmutableId an item moved between folders gets a new id: the old one is
// gone (its folder's delta reports it removed) and the contact is a new
// item of dest.
func (mb *mailbox) moveContactLocked(c *contact, dest *folder) {
	mb.deleteContactLocked(c)
	c.num = mb.next
	mb.next++
	c.seq = mb.seq
	c.folder = dest
	mb.contacts[c.num] = c
	dest.items = append(dest.items, c)
}

// findFolder resolves a folder id.
func (mb *mailbox) findFolder(id string) *folder {
	n, ok := mb.parseItemID(id, kindFolder)
	if !ok {
		return nil
	}
	return mb.byNum[n]
}

func (mb *mailbox) childByName(parent uint64, name string) *folder {
	for _, f := range mb.folders {
		if f.parent == parent && strings.EqualFold(f.name, name) {
			return f
		}
	}
	return nil
}

// createFolderLocked adds a folder under the default Contacts folder.
func (mb *mailbox) createFolderLocked(name string, ext []extProp) (*folder, bool) {
	return mb.createChildFolderLocked(defaultNum, name, ext)
}

// createChildFolderLocked creates a folder under parent; a sibling of the
// same name (case-insensitively) refuses it, as Exchange does.
func (mb *mailbox) createChildFolderLocked(parent uint64, name string, ext []extProp) (*folder, bool) {
	if mb.childByName(parent, name) != nil {
		return nil, false
	}
	mb.seq++
	f := &folder{num: mb.next, parent: parent, name: name, ext: ext, seq: mb.seq}
	mb.next++
	mb.folders = append(mb.folders, f)
	mb.byNum[f.num] = f
	return f, true
}

func (mb *mailbox) deleteFolderLocked(f *folder) {
	for _, c := range f.items {
		delete(mb.contacts, c.num)
	}
	// child folders go with their parent
	for _, ch := range slices.Clone(mb.folders) {
		if ch.parent == f.num {
			mb.deleteFolderLocked(ch)
		}
	}
	delete(mb.byNum, f.num)
	mb.folders = slices.DeleteFunc(mb.folders, func(x *folder) bool { return x == f })
}

// createContactLocked stores a new contact.
func (mb *mailbox) createContactLocked(f *folder, w *contactWrite, now time.Time) *contact {
	mb.seq++
	c := &contact{num: mb.next, folder: f, seq: mb.seq, created: now.Unix(), modified: now.Unix()}
	mb.next++
	c.doc = applyWrite(nil, w, true)
	if w.hasExt {
		c.ext = w.ext
	}
	mb.contacts[c.num] = c
	f.items = append(f.items, c)
	return c
}

func (mb *mailbox) updateContactLocked(c *contact, w *contactWrite, now time.Time) {
	mb.seq++
	c.seq = mb.seq
	c.modified = now.Unix()
	c.doc = applyWrite(c.doc, w, false)
	if w.hasExt {
		c.ext = mergeExt(slices.Clone(c.ext), w.ext)
	}
}

func (mb *mailbox) deleteContactLocked(c *contact) {
	mb.seq++
	f := c.folder
	delete(mb.contacts, c.num)
	i, found := slices.BinarySearchFunc(f.items, c.num, func(x *contact, n uint64) int {
		switch {
		case x.num < n:
			return -1
		case x.num > n:
			return 1
		}
		return 0
	})
	if found {
		f.items = slices.Delete(f.items, i, i+1)
	}
	f.tombs = append(f.tombs, tomb{num: c.num, seq: mb.seq})
}

func (mb *mailbox) renderFolder(f *folder, exp *extExpand) obj {
	out := obj{
		{"id", mb.folderID(f)},
		{"displayName", f.name},
		{"parentFolderId", mb.parentID(f)},
	}
	if exp != nil {
		out = append(out, kv{"singleValueExtendedProperties", exp.render(f.ext)})
	}
	return out
}

// export lists the mailbox content for the control API and state files.
func (mb *mailbox) export() []Folder {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	var out []Folder
	for _, f := range mb.folders {
		fo := Folder{ID: mb.folderID(f), ParentFolderID: mb.parentID(f), DisplayName: f.name, WellKnown: f.num == defaultNum, WellKnownName: f.wkName, ExtendedProperties: exportExt(f.ext)}
		for _, c := range f.items {
			fo.Contacts = append(fo.Contacts, Contact{
				ID: mb.itemID(kindContact, c.num), ChangeKey: mb.changeKey(c.seq),
				ExtendedProperties: exportExt(c.ext), Properties: json.RawMessage(slices.Clone(c.doc)),
			})
		}
		out = append(out, fo)
	}
	return out
}

func exportExt(ext []extProp) []ExtendedProperty {
	var out []ExtendedProperty
	for _, p := range ext {
		out = append(out, ExtendedProperty{ID: p.id, Value: p.value})
	}
	return out
}

func importExt(in []ExtendedProperty) ([]extProp, error) {
	var out []extProp
	for _, p := range in {
		if _, ok := parseExtID(p.ID); !ok {
			return nil, fmt.Errorf("extended property id %q is not valid", p.ID)
		}
		out = mergeExt(out, []extProp{{id: intern(p.ID), value: p.Value}})
	}
	return out, nil
}

// load restores exported folders: ids of this mailbox are kept, the
// folder tree (ParentFolderID) and the Deleted Items folder's content too.
// A folder whose parent is unknown goes under the default Contacts folder.
func (mb *mailbox) load(folders []Folder) error {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	now := time.Now()
	mb.reserveLoadedNums(folders)
	made := make([]*folder, len(folders))
	byID := map[string]*folder{}
	for i, fo := range folders {
		f, err := mb.loadFolder(fo)
		if err != nil {
			return fmt.Errorf("folder %d: %w", i, err)
		}
		if fo.ID != "" {
			byID[fo.ID] = f
		}
		made[i] = f
	}
	for i, f := range made {
		if f.wellKnown {
			continue
		}
		f.parent = defaultNum
		if p := byID[folders[i].ParentFolderID]; p != nil && p != f {
			f.parent = p.num
		}
		mb.seq++
		f.seq = mb.seq
	}
	if err := mb.checkLoadedTree(made); err != nil {
		return err
	}
	for i, fo := range folders {
		if err := mb.loadContacts(made[i], fo.Contacts, now); err != nil {
			return fmt.Errorf("folder %d %w", i, err)
		}
	}
	return nil
}

// reserveLoadedNums moves the next number handed out past the numbers of
// this mailbox's ids among folders and their contacts: numbers handed out
// must not be ones the state keeps. mb.mu is held.
func (mb *mailbox) reserveLoadedNums(folders []Folder) {
	for _, fo := range folders {
		if n, ok := mb.parseItemID(fo.ID, kindFolder); ok && n < deletedNum {
			mb.next = max(mb.next, n+1)
		}
		for _, c := range fo.Contacts {
			if n, ok := mb.parseItemID(c.ID, kindContact); ok && n < deletedNum {
				mb.next = max(mb.next, n+1)
			}
		}
	}
}

// loadFolder restores an exported folder without its parent and contacts:
// a well-known one is the mailbox's, another is made, keeping its id's
// number if it is this mailbox's and free. mb.mu is held.
func (mb *mailbox) loadFolder(fo Folder) (*folder, error) {
	ext, err := importExt(fo.ExtendedProperties)
	if err != nil {
		return nil, err
	}
	var f *folder
	switch strings.ToLower(fo.WellKnownName) {
	case "deleteditems":
		f = mb.deletedItems()
	case "contacts":
		f = mb.defaultFolder()
	case "":
		if fo.WellKnown {
			f = mb.defaultFolder()
			break
		}
		if fo.DisplayName == "" {
			return nil, errors.New("empty displayName")
		}
		f = &folder{name: fo.DisplayName}
		if n, ok := mb.parseItemID(fo.ID, kindFolder); ok && n > defaultNum && n < deletedNum && mb.byNum[n] == nil {
			f.num = n
		} else {
			f.num = mb.next
			mb.next++
		}
		mb.byNum[f.num] = f
		mb.folders = append(mb.folders, f)
	default:
		return nil, fmt.Errorf("wellKnownName %q is not contacts or deleteditems", fo.WellKnownName)
	}
	f.ext = ext
	return f, nil
}

// checkLoadedTree refuses restored folders (made) whose parents make a
// cycle or that share a displayName with a sibling. mb.mu is held.
func (mb *mailbox) checkLoadedTree(made []*folder) error {
	for i, f := range made {
		if f.wellKnown {
			continue
		}
		n, steps := f.parent, 0
		for n != rootNum && steps <= len(made)+2 {
			n = mb.byNum[n].parent
			steps++
		}
		if n != rootNum {
			return fmt.Errorf("folder %d: parentFolderId makes a cycle", i)
		}
		if o := mb.childByName(f.parent, f.name); o != f {
			return fmt.Errorf("folder %d: duplicate displayName %q", i, f.name)
		}
	}
	return nil
}

// loadContacts restores exported contacts into folder f, keeping their
// ids' numbers if they are this mailbox's and free; an error names the
// contact ("contact j: ..."). mb.mu is held.
func (mb *mailbox) loadContacts(f *folder, contacts []Contact, now time.Time) error {
	for j, c := range contacts {
		w, be := parseContactBody(c.Properties)
		if be != nil {
			return fmt.Errorf("contact %d: %s", j, be.msg)
		}
		ext, err := importExt(c.ExtendedProperties)
		if err != nil {
			return fmt.Errorf("contact %d: %w", j, err)
		}
		mb.seq++
		nc := &contact{folder: f, seq: mb.seq, created: now.Unix(), modified: now.Unix(), ext: ext}
		if n, ok := mb.parseItemID(c.ID, kindContact); ok && n < deletedNum && mb.contacts[n] == nil {
			nc.num = n
		} else {
			nc.num = mb.next
			mb.next++
		}
		w.ext, w.hasExt = nil, false
		nc.doc = applyWrite(nil, w, true)
		mb.contacts[nc.num] = nc
		f.items = append(f.items, nc)
	}
	slices.SortFunc(f.items, func(a, b *contact) int { return cmpU64(a.num, b.num) })
	return nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
