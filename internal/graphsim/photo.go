package graphsim

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"image"
	_ "image/gif" // user photos may be any image Entra accepts
	_ "image/jpeg"
	_ "image/png"
	"net/http"
	"strings"
	"time"
)

// Photos (docs/graph-fidelity.md, Photos; EVIDENCE.md rows P1–P8).
//
// A user's photo lives beside the directory object: setting or removing it
// is not a users/delta change (graph-protocol.md §9: photos are not tracked
// by users/delta). Its metadata carries @odata.mediaEtag, the media type
// and its size (profilephoto-get.md, example 3); a user without a photo
// answers the metadata request 404 ImageNotFound and $value 404 (graphsim
// takes the stricter of the two shapes the page shows: the 1x1 gif with
// an empty etag is the other).
//
// A contact's photo is written with PUT (or PATCH) .../contacts/{id}/photo/$value,
// image/jpeg only, at most 4 MB (profilephoto-update.md); writing it
// changes the contact (a new change key, reported by contacts delta), and
// no API deletes it (profilephoto-delete.md: "supports only user or group
// photos, but not Outlook contact nor Teams photos"). Every upload counts
// against the (app, mailbox) upload budget: 150 MB per 5 minutes
// (throttling-limits, Outlook service limits).

// UserPhoto is a user's photo in a fixture.
type UserPhoto struct {
	ContentType string `json:"contentType"`
	Data        []byte `json:"data"`
}

type photo struct {
	ctype         string
	data          []byte
	etag          string
	width, height int
}

// MaxPhotoBytes is the largest photo Graph takes in one PUT
// (profilephoto-update.md: "less than 4 MB").
const MaxPhotoBytes = 4 << 20

// UploadBudget is the bytes of POST, PATCH and PUT bodies one app may send
// to one mailbox per UploadWindow (throttling-limits: 150 MB / 5 min).
const (
	UploadBudget = 150 << 20
	UploadWindow = 5 * time.Minute
)

func newPhoto(ctype string, data []byte) (*photo, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("graphsim: photo is not an image graphsim decodes (gif, jpeg, png): %w", err)
	}
	if ctype == "" {
		ctype = "image/" + format
	}
	// Entra's etags look like "BA09D118": a checksum of the bytes serves.
	etag := fmt.Sprintf("\"%08X\"", crc32.ChecksumIEEE(data))
	return &photo{ctype: ctype, data: bytes.Clone(data), etag: etag, width: cfg.Width, height: cfg.Height}, nil
}

// SetUserPhoto sets (data nil: removes) a user's photo. The user's
// directory object does not change: users/delta does not report it.
func (s *Server) SetUserPhoto(tenantID, user, contentType string, data []byte) error {
	t, err := s.tenant(tenantID)
	if err != nil {
		return err
	}
	var p *photo
	if data != nil {
		if p, err = newPhoto(contentType, data); err != nil {
			return err
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.resolveUserLocked(user)
	if o == nil {
		return fmt.Errorf("user %q: %w", user, ErrNotFound)
	}
	if t.photos == nil {
		t.photos = map[string]*photo{}
	}
	if p == nil {
		delete(t.photos, o.u.ID)
	} else {
		t.photos[o.u.ID] = p
	}
	return nil
}

// ContactPhoto returns the photo of a contact in a user's mailbox (nil
// when it has none) and its media type.
func (s *Server) ContactPhoto(tenantID, user, contactID string) ([]byte, string, error) {
	mb, err := s.ownerMailbox(tenantID, user)
	if err != nil {
		return nil, "", err
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	c, err := s.ownerContact(mb, contactID)
	if err != nil {
		return nil, "", err
	}
	if c.photo == nil {
		return nil, "", nil
	}
	return bytes.Clone(c.photo.data), c.photo.ctype, nil
}

// OwnerSetContactPhoto changes a contact's photo as Outlook would.
func (s *Server) OwnerSetContactPhoto(tenantID, user, contactID string, data []byte) error {
	p, err := newPhoto("image/jpeg", data)
	if err != nil {
		return err
	}
	mb, err := s.ownerMailbox(tenantID, user)
	if err != nil {
		return err
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	c, err := s.ownerContact(mb, contactID)
	if err != nil {
		return err
	}
	mb.setPhotoLocked(c, p, s.now())
	return nil
}

func (mb *mailbox) setPhotoLocked(c *contact, p *photo, now time.Time) {
	mb.seq++
	c.seq = mb.seq
	c.modified = now.Unix()
	c.photo = p
}

func (g *greq) imageNotFound() gresp {
	return g.graphErr(http.StatusNotFound, "ImageNotFound", "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.")
}

// userPhoto finds the photo of the route's user.
func (g *greq) userPhoto(rt *route) (*photo, *gresp) {
	t := g.t
	t.mu.RLock()
	defer t.mu.RUnlock()
	o := t.resolveUserLocked(rt.ids[0])
	if o == nil {
		r := g.graphErr(http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", rt.ids[0]))
		return nil, &r
	}
	p := t.photos[o.u.ID]
	if p == nil {
		r := g.imageNotFound()
		return nil, &r
	}
	return p, nil
}

func (s *Server) getUserPhoto(g *greq, rt *route, _ *mailbox) gresp {
	p, e := g.userPhoto(rt)
	if e != nil {
		return *e
	}
	return okJSON(http.StatusOK, s.photoMeta(p, "users('"+keyLiteral(rt.ids[0])+"')/photo/$entity"))
}

func (s *Server) photoMeta(p *photo, ctx string) obj {
	return obj{
		{"@odata.context", s.contextURL(ctx)},
		{"@odata.mediaContentType", p.ctype},
		{"@odata.mediaEtag", p.etag},
		{"id", fmt.Sprintf("%dx%d", p.width, p.height)},
		{"width", p.width},
		{"height", p.height},
	}
}

func (s *Server) getUserPhotoValue(g *greq, rt *route, _ *mailbox) gresp {
	p, e := g.userPhoto(rt)
	if e != nil {
		return *e
	}
	return photoValue(p)
}

func photoValue(p *photo) gresp {
	return gresp{status: http.StatusOK, hdr: respHeader{{"Content-Type", p.ctype}, {"ETag", p.etag}, {"Cache-Control", "no-cache"}}, body: p.data}
}

func (s *Server) getContactPhoto(g *greq, rt *route, mb *mailbox) gresp {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	c, e := g.lookupContact(mb, rt.ids[0], rt.ids[1])
	if e != nil {
		return *e
	}
	if c.photo == nil {
		return g.imageNotFound()
	}
	return okJSON(http.StatusOK, s.photoMeta(c.photo, "users('"+keyLiteral(rt.user)+"')/contacts('"+keyLiteral(rt.ids[1])+"')/photo/$entity"))
}

func (s *Server) getContactPhotoValue(g *greq, rt *route, mb *mailbox) gresp {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	c, e := g.lookupContact(mb, rt.ids[0], rt.ids[1])
	if e != nil {
		return *e
	}
	if c.photo == nil {
		return g.imageNotFound()
	}
	return photoValue(c.photo)
}

// putContactPhoto sets a contact's photo: image/jpeg, at most 4 MB.
// Graph's answers to a wrong type and an oversized body are not
// documented: graphsim refuses both (415, 413) rather than guess kinder.
func (s *Server) putContactPhoto(g *greq, rt *route, mb *mailbox) gresp {
	ct := strings.ToLower(strings.TrimSpace(strings.SplitN(g.header("Content-Type"), ";", 2)[0]))
	if ct != "image/jpeg" {
		return g.graphErr(http.StatusUnsupportedMediaType, "ErrorInvalidRequest", fmt.Sprintf("Content-Type '%s' is not supported for a contact photo: use image/jpeg.", ct))
	}
	if len(g.body) == 0 {
		return g.graphErr(http.StatusBadRequest, "ErrorInvalidRequest", "The photo is empty.")
	}
	if len(g.body) >= MaxPhotoBytes {
		return g.graphErr(http.StatusRequestEntityTooLarge, "ErrorRequestEntityTooLarge", "The photo must be less than 4 MB.")
	}
	p, err := newPhoto("image/jpeg", g.body)
	if err != nil || !strings.HasSuffix(p.ctype, "jpeg") {
		return g.graphErr(http.StatusBadRequest, "ErrorInvalidImage", "The photo is not a valid JPEG image.")
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	c, e := g.lookupContact(mb, rt.ids[0], rt.ids[1])
	if e != nil {
		return *e
	}
	mb.setPhotoLocked(c, p, g.now)
	return gresp{status: http.StatusOK, hdr: emptyHeaders}
}

// deleteContactPhoto: no API deletes a contact's photo
// (profilephoto-delete.md). The answer Graph gives is not documented:
// graphsim refuses it as a method the target does not allow.
func (s *Server) deleteContactPhoto(g *greq, _ *route, _ *mailbox) gresp {
	return g.graphErr(http.StatusMethodNotAllowed, "ErrorInvalidRequest", "Specified HTTP method is not allowed for the request target.")
}

// uploadQuota counts a write's body against the (app, mailbox) upload
// budget; over it, a 429 whose Retry-After holds the mailbox.
func (l *limiter) uploadQuota(g *greq, mailboxID string) (gresp, bool) {
	if g.method == http.MethodGet || g.method == http.MethodDelete || len(g.body) == 0 {
		return gresp{}, true
	}
	th := l.s.Throttle()
	if th.UploadBytes <= 0 || th.UploadWindow <= 0 {
		return gresp{}, true
	}
	key := scope{kind: kindUpload, app: g.app, id: mailboxID}
	if len(g.body) > th.UploadBytes {
		return g.graphErr(http.StatusRequestEntityTooLarge, "ErrorRequestEntityTooLarge", "The request is larger than the mailbox's upload budget."), false
	}
	wait, ok := l.take(key, th.UploadBytes, len(g.body), l.scaled(th.UploadWindow), g.now)
	if ok {
		return gresp{}, true
	}
	return l.throttled(g, scopeMailbox(g.app, mailboxID), "ApplicationThrottled", "Application is over its MailboxUploadSize limit.", roundUpMs(wait)), false
}
