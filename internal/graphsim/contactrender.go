package graphsim

import (
	"encoding/binary"
	"net/url"
	"slices"
	"time"
)

// Rendering contacts as Graph returns them, straight from the stored
// document into the response: no map, no interface values, no second
// encoding.

// appendItemID appends an Outlook-style id ("AAMkA...") for an item number.
func (mb *mailbox) appendItemID(dst []byte, kind byte, num uint64) []byte {
	var b [47]byte
	b[0], b[1], b[2], b[3] = 0x00, 0x03, 0x24, 0x00
	copy(b[4:20], mb.key[:])
	b[20] = kind
	for i := 0; i < 16; i++ {
		b[21+i] = mb.key[15-i] ^ 0x5a
	}
	binary.BigEndian.PutUint64(b[37:45], num)
	var enc [64]byte
	idEncoding.Encode(enc[:], b[:])
	for i, c := range enc {
		switch c {
		case '/':
			enc[i] = '-'
		case '+':
			enc[i] = '_'
		}
	}
	return append(dst, enc[:]...)
}

// appendChangeKey appends the change key of a change sequence number.
func (mb *mailbox) appendChangeKey(dst []byte, seq uint64) []byte {
	var b [30]byte
	b[0], b[4] = 0x11, 0x16
	copy(b[8:24], mb.key[:])
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], seq)
	copy(b[24:30], n[2:])
	var enc [40]byte
	idEncoding.Encode(enc[:], b[:])
	return append(dst, enc[:]...)
}

func appendUnixTime(dst []byte, sec int64) []byte {
	dst = append(dst, '"')
	dst = time.Unix(sec, 0).UTC().AppendFormat(dst, time.RFC3339)
	return append(dst, '"')
}

// contactSizeHint is room for a rendered contact beyond its document.
const contactSizeHint = 1100

// appendContact appends a contact as Graph returns it: all properties
// (null, [] or {} when unset) or the selected ones (sel; id always), plus
// the expanded extended properties when asked; ctx, when not empty, is
// its @odata.context.
func (mb *mailbox) appendContact(dst []byte, c *contact, sel []string, exp *extExpand, typed bool, ctx []byte) []byte {
	if dst == nil {
		dst = make([]byte, 0, len(c.doc)+len(ctx)+contactSizeHint)
	}
	dst = append(dst, '{')
	if len(ctx) > 0 {
		dst = append(dst, `"@odata.context":`...)
		dst = appendJSONBytes(dst, ctx)
		dst = append(dst, ',')
	}
	if typed {
		dst = append(dst, `"@odata.type":"#microsoft.graph.contact",`...)
	}
	var ckArr [40]byte
	ck := mb.appendChangeKey(ckArr[:0], c.seq)
	dst = append(dst, `"@odata.etag":"W/\"`...)
	dst = append(dst, ck...)
	dst = append(dst, `\"","id":"`...)
	dst = mb.appendItemID(dst, kindContact, c.num)
	dst = append(dst, '"')
	var cur [contactProps][]byte
	splitDoc(c.doc, &cur)
	var emails [3][]byte
	if raw := cur[iEmails]; raw != nil {
		n := 0
		for it := elements(raw); n < len(emails); n++ {
			v, ok := it.next()
			if !ok {
				break
			}
			emails[n] = v
		}
	}
	for i, p := range contactSchema {
		if i == iID || sel != nil && !slices.Contains(sel, p.name) {
			continue
		}
		dst = append(dst, ',', '"')
		dst = append(dst, p.name...)
		dst = append(dst, '"', ':')
		dst = mb.appendContactValue(dst, c, i, &cur, &emails, ck)
	}
	if exp != nil {
		dst = append(dst, `,"singleValueExtendedProperties":`...)
		dst = exp.appendTo(dst, c.ext)
	}
	return append(dst, '}')
}

// appendContactValue appends the value of property i.
func (mb *mailbox) appendContactValue(dst []byte, c *contact, i int, cur *[contactProps][]byte, emails *[3][]byte, ck []byte) []byte {
	switch i {
	case iCreated:
		return appendUnixTime(dst, c.created)
	case iModified:
		return appendUnixTime(dst, c.modified)
	case iChangeKey:
		dst = append(dst, '"')
		dst = append(dst, ck...)
		return append(dst, '"')
	case iParent:
		dst = append(dst, '"')
		dst = mb.appendItemID(dst, kindFolder, c.folder.num)
		return append(dst, '"')
	case iPrimaryEmail, iPrimaryEmail + 1, iPrimaryEmail + 2:
		if v := emails[i-iPrimaryEmail]; v != nil {
			return append(dst, v...)
		}
		return append(dst, "null"...)
	}
	if raw := cur[i]; raw != nil {
		return append(dst, raw...)
	}
	switch contactSchema[i].t {
	case tStrColl, tEmails:
		return append(dst, "[]"...)
	case tAddr:
		return append(dst, "{}"...)
	}
	return append(dst, "null"...)
}

// appendTo appends the extended properties the expansion asks for.
func (e *extExpand) appendTo(dst []byte, ext []extProp) []byte {
	dst = append(dst, '[')
	n := 0
	for _, p := range ext {
		for _, id := range e.ids {
			if extIDEqual(p.id, id) {
				if n > 0 {
					dst = append(dst, ',')
				}
				n++
				dst = append(dst, `{"id":`...)
				dst = appendJSONString(dst, p.id)
				dst = append(dst, `,"value":`...)
				dst = appendJSONString(dst, p.value)
				dst = append(dst, '}')
				break
			}
		}
	}
	return append(dst, ']')
}

// contactView is a contact as a write left it, rendered when the response
// is written (into the $batch response, not a buffer of its own): the
// contact's fields at the time (its document is never changed in place)
// and what its @odata.context is made of.
type contactView struct {
	mb     *mailbox
	c      contact
	base   string // the server's origin
	user   string // the user as the request named it
	folder string // the folder as the request named it; "" for /contacts
}

// view takes a view of c; the mailbox lock must be held.
func (s *Server) view(mb *mailbox, c *contact, rt *route) *contactView {
	return &contactView{mb: mb, c: *c, base: s.url, user: rt.user, folder: rt.ids[0]}
}

// appendTo renders the contact with its context (contactsCtx + "/$entity").
func (v *contactView) appendTo(dst []byte) []byte {
	var arr [512]byte
	ctx := append(arr[:0], v.base...)
	ctx = append(ctx, "/v1.0/$metadata#users('"...)
	ctx = appendPathEscape(ctx, v.user)
	ctx = append(ctx, "')"...)
	if v.folder != "" {
		ctx = append(ctx, "/contactFolders('"...)
		ctx = appendPathEscape(ctx, v.folder)
		ctx = append(ctx, "')"...)
	}
	ctx = append(ctx, "/contacts/$entity"...)
	if dst == nil {
		dst = make([]byte, 0, len(v.c.doc)+len(ctx)+contactSizeHint)
	}
	return v.mb.appendContact(dst, &v.c, nil, nil, false, ctx)
}

// appendPathEscape appends url.PathEscape(s).
func appendPathEscape(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !pathSafe(s[i]) {
			return append(dst, url.PathEscape(s)...)
		}
	}
	return append(dst, s...)
}

// pathSafe reports whether url.PathEscape keeps c as is.
func pathSafe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '_', '.', '~', '$', '&', '+', ':', '=', '@':
		return true
	}
	return false
}
