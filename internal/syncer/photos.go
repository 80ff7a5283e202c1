package syncer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/galmirror/galmirror/internal/directory"
	"github.com/galmirror/galmirror/internal/entra"
	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/plan"
	"github.com/galmirror/galmirror/internal/report"
	"github.com/galmirror/galmirror/internal/store"
)

// Photos ("photos": true; docs/configuration.md#photos).
//
// Once per run, before the mailboxes, every source user's photo metadata is
// read (GET /users/{id}/photo: a few hundred bytes, no photo; $batch items
// through the mailbox dispatcher, 20 to a request): a photo whose
// @odata.mediaEtag is the one stored is known by the hash stored with it and
// is not downloaded; any other is downloaded once, made a JPEG under 4 MB,
// and hashed. The hashes enter the run's digest, so a mailbox is planned
// again only when a photo it shows changed. In a mailbox, a contact gets the
// source's photo when the hash galmirror uploaded to it (contact_photos)
// differs. Graph deletes no contact photo (profilephoto-delete.md): when a
// source removes theirs, galmirror makes the contact again without a photo
// and deletes the old one. A photo that fails is counted and reported in
// its mailbox; the text sync is not held up by it.

// photoRun is a run's photo state; nil when photos are off.
type photoRun struct {
	stored map[string]store.SourcePhoto // as the previous run left them
	cur    map[string]store.SourcePhoto // this run's, of sources with a photo
	// failed are sources whose photo could not be read this run: their
	// contacts are left as they are.
	failed  map[string]bool
	changed []string // sources whose photo hash differs from the stored one
	digest  string   // of cur
	prev    string   // of stored

	mu   sync.Mutex
	data map[string]*photoData // photos made ready (cached) this run

	checked, downloaded, downscaled, uploaded, removed, failures atomic.Int64
	restored                                                     atomic.Int64
	bytesDown, bytesUp                                           atomic.Int64
	toUpload, toRemove                                           atomic.Int64
}

// photoData is a source's photo made ready this run: in the store's photo
// cache under hash (the bytes are read from there for each upload, so no
// run holds every photo in memory).
type photoData struct {
	once sync.Once
	hash string
	size int64
	err  error
}

// photoMetaReaders is how many photo metadata reads are in flight: eight
// full $batch requests (graph.MaxBatchItems each). Every run reads every
// source's, and Graph runs a batch's items a few at a time, so two batches
// in flight read no faster than eight single requests did; eight batches
// read a 2,000-user tenant's in about a quarter of the time (bench), a
// small share of the dispatcher's slots. photoWorkers settle the answers,
// downloading the photos that changed (requests of their own, binary
// bodies) at most that many at once.
const (
	photoMetaReaders = 8 * graph.MaxBatchItems
	photoWorkers     = 8
)

// readPhotos reads the source photos' metadata, downloads those that
// changed, and folds the photos into the run's digest. It never fails the
// run: a source whose photo cannot be read keeps what its contacts show.
func (r *run) readPhotos(ctx context.Context) {
	if !r.t.Photos || r.st == nil {
		return
	}
	stored, err := r.st.SourcePhotos(ctx, r.t.Name)
	if err != nil {
		r.runError(ItemError{Code: "state", Message: fmt.Sprintf("photos: state database: %v", err)})
		return
	}
	ph := &photoRun{stored: stored, cur: map[string]store.SourcePhoto{}, failed: map[string]bool{}, data: map[string]*photoData{}}
	var ids []string
	for _, d := range r.desired {
		if p, ok := r.persons[d.SourceID]; ok && p.Kind == directory.KindUser {
			ids = append(ids, d.SourceID)
		}
	}
	metas, errs := r.photoMetas(ctx, ids)
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(photoWorkers, max(len(ids), 1)) {
		wg.Go(func() {
			for i := range work {
				r.readPhoto(ctx, ph, ids[i], metas[i], errs[i])
			}
		})
	}
	for i := range ids {
		work <- i
	}
	close(work)
	wg.Wait()
	r.settlePhotos(ctx, ph)
}

// photoMetas reads the photo metadata of ids concurrently through the
// run's mailbox dispatcher, which packs them into $batch requests (each
// item retried and paced in its user's mailbox scope); it returns when
// every read has ended (each honours ctx).
func (r *run) photoMetas(ctx context.Context, ids []string) ([]graph.PhotoMeta, []error) {
	metas, errs := make([]graph.PhotoMeta, len(ids)), make([]error, len(ids))
	sem := make(chan struct{}, photoMetaReaders)
	var wg sync.WaitGroup
	for i, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			metas[i], errs[i] = r.mail.Mailbox(id).UserPhoto(ctx)
		})
	}
	wg.Wait()
	return metas, errs
}

// readPhoto settles one source's photo from its metadata (or the error
// reading it) and, when it changed, downloads the photo.
func (r *run) readPhoto(ctx context.Context, ph *photoRun, id string, meta graph.PhotoMeta, err error) {
	ph.checked.Add(1)
	var sp store.SourcePhoto
	if err == nil && meta.Exists {
		old, known := ph.stored[id]
		switch {
		case known && meta.ETag != "" && old.ETag == meta.ETag:
			sp = old
		case r.ro.DryRun:
			// What changed is not downloaded in a dry run: it counts as new.
			sp = store.SourcePhoto{SourceID: id, ETag: meta.ETag, Hash: "etag:" + meta.ETag}
		default:
			d := ph.fetch(ctx, r, id, "")
			err = d.err
			sp = store.SourcePhoto{SourceID: id, ETag: meta.ETag, Hash: d.hash, Size: d.size}
		}
	}
	if err != nil && ctx.Err() == nil {
		ph.failures.Add(1)
		ie := ItemError{Code: "photo", Message: fmt.Sprintf("photo of %s: %v", r.upnOf(id), err)}
		var ge *graph.Error
		if errors.As(err, &ge) {
			ie.Code, ie.RequestID = ge.Code, ge.RequestID
		}
		r.log.Warn("source photo not read: its contacts keep the photo they have", "source", r.upnOf(id), "code", ie.Code, "request_id", ie.RequestID, "error", err)
		r.runError(ie)
	}
	ph.mu.Lock()
	defer ph.mu.Unlock()
	switch {
	case err != nil:
		ph.failed[id] = true
		if old, ok := ph.stored[id]; ok {
			ph.cur[id] = old
		}
		ph.failed[id] = true
	case sp.Hash != "":
		ph.cur[id] = sp
	}
}

func (r *run) upnOf(id string) string {
	if p, ok := r.persons[id]; ok && p.UserPrincipalName != "" {
		return p.UserPrincipalName
	}
	return id
}

func (r *run) runError(ie ItemError) {
	r.mu.Lock()
	r.res.Errors = append(r.res.Errors, ie)
	r.mu.Unlock()
}

// fetch makes a source's photo ready once per run: from the photo cache
// when it holds cached (the hash this run knows for the source), else
// downloaded, prepared and cached.
func (ph *photoRun) fetch(ctx context.Context, r *run, id, cached string) *photoData {
	ph.mu.Lock()
	d := ph.data[id]
	if d == nil {
		d = &photoData{}
		ph.data[id] = d
	}
	ph.mu.Unlock()
	d.once.Do(func() {
		if cached != "" {
			if data, err := r.st.Photo(cached); err == nil {
				d.hash, d.size = cached, int64(len(data))
				return
			}
		}
		raw, _, err := r.client.UserPhotoValue(ctx, id)
		switch {
		case err != nil:
			d.err = err
			return
		case raw == nil:
			d.err = errors.New("the photo was removed while galmirror read it")
			return
		}
		ph.downloaded.Add(1)
		ph.bytesDown.Add(int64(len(raw)))
		jpg, small, err := preparePhoto(raw)
		if err != nil {
			d.err = err
			return
		}
		if small {
			ph.downscaled.Add(1)
			r.log.Info("source photo downscaled to fit Exchange's 4 MB", "source", r.upnOf(id), "bytes", len(raw), "uploaded_bytes", len(jpg))
		}
		sum := sha256.Sum256(jpg)
		d.hash, d.size = hex.EncodeToString(sum[:]), int64(len(jpg))
		d.err = r.st.PutPhoto(d.hash, jpg)
	})
	if d.err != nil && ctx.Err() != nil {
		return &photoData{err: ctx.Err()}
	}
	return d
}

// settlePhotos stores what was read and folds the photos into the digest
// and the sources to plan again.
func (r *run) settlePhotos(ctx context.Context, ph *photoRun) {
	ph.digest, ph.prev = photoDigest(ph.cur), photoDigest(ph.stored)
	var ups []store.SourcePhoto
	var gone []string
	for id, p := range ph.cur {
		if old, ok := ph.stored[id]; !ok || old != p {
			ups = append(ups, p)
		}
		if ph.stored[id].Hash != p.Hash {
			ph.changed = append(ph.changed, id)
		}
	}
	for id := range ph.stored {
		if _, ok := ph.cur[id]; !ok {
			gone = append(gone, id)
			ph.changed = append(ph.changed, id)
		}
	}
	slices.Sort(ph.changed)
	if !r.ro.DryRun {
		if err := r.st.SaveSourcePhotos(ctx, r.t.Name, ups, gone); err != nil {
			r.runError(ItemError{Code: "state", Message: fmt.Sprintf("photos: %v", err)})
			return
		}
		if err := r.st.PrunePhotos(ctx); err != nil {
			r.log.Warn("photo cache not pruned", "error", err)
		}
	}
	r.ph = ph
	r.digest = withPhotos(r.digest, ph.digest)
	if r.lastDigest == "" || r.prevDigest == "" {
		return
	}
	changed := map[string]bool{}
	for _, id := range r.changedSources {
		changed[id] = true
	}
	for _, id := range ph.changed {
		changed[id] = true
	}
	r.changedSources = slices.Sorted(maps.Keys(changed))
	r.narrow = withPhotos(r.prevDigest, ph.prev) == r.lastDigest && len(r.changedSources) <= 50+len(r.desired)/10
}

// photoDigest identifies a set of photos ("" for none).
func photoDigest(ps map[string]store.SourcePhoto) string {
	if len(ps) == 0 {
		return ""
	}
	h := sha256.New()
	for _, id := range slices.Sorted(maps.Keys(ps)) {
		fmt.Fprintf(h, "%s\x00%s\x00", id, ps[id].Hash)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// withPhotos folds a photo digest into the desired contacts' digest.
func withPhotos(digest, photos string) string {
	if photos == "" {
		return digest
	}
	sum := sha256.Sum256([]byte(digest + "\x00photos\x00" + photos))
	return hex.EncodeToString(sum[:])
}

// photoWork is what a mailbox's contacts need of photos.
type photoWork struct {
	upload []string // source ids
	// verify are contacts with galmirror's photo that someone else changed
	// since (the contacts delta names them with a change key galmirror did
	// not write): their photo is read back and restored if it differs.
	verify  []string
	remove  []string
	stale   []string // rows of contacts made again since: forgotten
	have    map[string]store.ContactPhoto
	pending int // planned creates of sources with a photo (dry run)
}

// photoWork compares the contacts in the map with the source photos.
func (m *mailbox) photoWork(ctx context.Context) (*photoWork, error) {
	ph := m.r.ph
	ids := slices.Collect(maps.Keys(m.cmap))
	have, err := m.r.st.ContactPhotos(ctx, m.r.t.Name, m.tg.ID, ids)
	if err != nil {
		return nil, err
	}
	w := &photoWork{have: have}
	for _, sid := range slices.Sorted(maps.Keys(m.cmap)) {
		if ph.failed[sid] || m.gone[sid] {
			continue
		}
		want := ph.cur[sid].Hash
		h, got := have[sid], ""
		if h.ContactID == m.cmap[sid].ContactID {
			got = h.Hash
		}
		switch {
		case want != "" && want != got:
			w.upload = append(w.upload, sid)
		case want != "" && m.seenKey[sid] != "" && m.seenKey[sid] != m.cmap[sid].ChangeKey:
			w.verify = append(w.verify, sid)
		case want == "" && got != "":
			w.remove = append(w.remove, sid)
		case want == "" && h.SourceID != "":
			w.stale = append(w.stale, sid)
		}
	}
	return w, nil
}

// describePhotos counts a dry run's photo work in the mailbox: the mapped
// contacts' and those the plan creates.
func (m *mailbox) describePhotos(ctx context.Context, res plan.Result) {
	ph := m.r.ph
	if ph == nil || m.plan == nil {
		return
	}
	w, err := m.photoWork(ctx)
	if err != nil {
		m.addError(fmt.Errorf("photos: state database: %w", err))
		return
	}
	up := len(w.upload)
	for _, op := range res.Ops {
		if _, mapped := m.cmap[op.SourceID]; op.Kind == plan.Create && !mapped && ph.cur[op.SourceID].Hash != "" {
			up++
		}
	}
	m.plan.PhotoUploads, m.plan.PhotoRemovals = up, len(w.remove)
	ph.toUpload.Add(int64(up))
	ph.toRemove.Add(int64(len(w.remove)))
}

// syncPhotos brings the contacts' photos in line with the sources'. It
// reports whether every photo is in line; its failures are the mailbox's
// errors, never its failure.
func (m *mailbox) syncPhotos(ctx context.Context) bool {
	ph := m.r.ph
	if ph == nil || m.folderID == "" {
		return true
	}
	w, err := m.photoWork(ctx)
	if err != nil {
		m.photoError("", fmt.Errorf("state database: %w", err))
		return false
	}
	ok := true
	var ups []store.ContactPhoto
	var refs []store.ContactRef // change keys after the uploads
	for _, sid := range w.verify {
		switch same, err := m.samePhoto(ctx, sid, w.have[sid].Hash); {
		case err != nil:
			ok = false
			m.photoError(sid, fmt.Errorf("read the contact's photo back: %w", err))
		case same:
			ref := m.cmap[sid]
			ref.ChangeKey = m.seenKey[sid]
			refs = append(refs, ref)
		default:
			m.r.log.Info("a contact's photo was changed in the mailbox: galmirror's is put back", "mailbox", m.tg.UPN, "source", m.r.upnOf(sid))
			m.r.ph.restored.Add(1)
			w.upload = append(w.upload, sid)
		}
	}
	var mu sync.Mutex
	work := make(chan string)
	var wg sync.WaitGroup
	for range min(4, max(len(w.upload), 1)) {
		wg.Go(func() {
			for sid := range work {
				cp, err := m.uploadPhoto(ctx, sid)
				var ck string
				if err == nil {
					ck = m.changeKey(ctx, cp.ContactID)
				}
				mu.Lock()
				if err != nil {
					ok = false
					if ctx.Err() == nil {
						m.photoError(sid, err)
					}
				} else {
					ups = append(ups, cp)
					if ck != "" {
						ref := m.cmap[sid]
						ref.ChangeKey = ck
						refs = append(refs, ref)
					}
				}
				mu.Unlock()
			}
		})
	}
	for _, sid := range w.upload {
		work <- sid
	}
	close(work)
	wg.Wait()
	for _, ref := range refs {
		m.upsert(ref)
	}
	forget := w.stale
	for _, sid := range w.remove {
		if m.replaceContact(ctx, sid) {
			forget = append(forget, sid)
		} else {
			ok = false
		}
	}
	if err := m.r.st.SaveContactPhotos(context.WithoutCancel(ctx), m.r.t.Name, m.tg.ID, ups, forget); err != nil {
		m.photoError("", fmt.Errorf("state database: %w", err))
		return false
	}
	return ok && ctx.Err() == nil
}

// uploadPhoto puts the source's photo on its contact.
func (m *mailbox) uploadPhoto(ctx context.Context, sid string) (store.ContactPhoto, error) {
	ph := m.r.ph
	d := ph.fetch(ctx, m.r, sid, ph.cur[sid].Hash)
	if d.err != nil {
		return store.ContactPhoto{}, d.err
	}
	jpg, err := m.r.st.Photo(d.hash)
	if err != nil {
		return store.ContactPhoto{}, err
	}
	ref := m.cmap[sid]
	if err := m.mb.SetContactPhoto(ctx, m.folderID, ref.ContactID, jpg); err != nil {
		return store.ContactPhoto{}, err
	}
	ph.uploaded.Add(1)
	ph.bytesUp.Add(int64(len(jpg)))
	return store.ContactPhoto{SourceID: sid, ContactID: ref.ContactID, Hash: d.hash}, nil
}

// changeKey reads a contact's change key after galmirror's upload, so
// that the contacts delta's report of that upload is known as galmirror's
// own next run ("" when it cannot be read: the next run reads the photo
// back once).
func (m *mailbox) changeKey(ctx context.Context, contactID string) string {
	ct, err := m.mb.Contact(ctx, m.folderID, contactID, graph.ContactQuery{Select: []string{"changeKey"}})
	if err != nil || ct == nil {
		return ""
	}
	return changeKeyOf(ct)
}

// changeKeyOf is a contact's change key: its changeKey, or else the one
// its @odata.etag (W/"…") carries.
func changeKeyOf(ct *graph.Contact) string {
	if ct.ChangeKey != "" {
		return ct.ChangeKey
	}
	e := strings.TrimPrefix(ct.ETag, "W/")
	return strings.Trim(e, `"`)
}

// samePhoto reads a contact's photo back and compares it with what
// galmirror uploaded (hash).
func (m *mailbox) samePhoto(ctx context.Context, sid, hash string) (bool, error) {
	data, err := m.mb.ContactPhotoValue(ctx, m.folderID, m.cmap[sid].ContactID)
	if err != nil {
		return false, err
	}
	sum := sha256.Sum256(data)
	return data != nil && hex.EncodeToString(sum[:]) == hash, nil
}

// replaceContact makes a source's contact again without a photo (Graph
// deletes no contact photo) and then deletes the old contact: create
// first, so a failure leaves the person in the folder.
func (m *mailbox) replaceContact(ctx context.Context, sid string) bool {
	ds := m.r.desiredOf(map[string]bool{sid: true})
	old, mapped := m.cmap[sid]
	if len(ds) == 0 || !mapped {
		return true
	}
	d := ds[0]
	if !m.began {
		if err := m.r.st.BeginMailbox(ctx, m.r.t.Name, m.tg.ID, m.tg.UPN); err != nil {
			m.photoError(sid, fmt.Errorf("state database: %w", err))
			return false
		}
		m.began = true
	}
	counts := m.counts
	defer func() { m.counts = counts }() // a replacement is not a create and a delete
	if m.apply(ctx, []plan.Op{{Kind: plan.Create, SourceID: sid, Fields: &d.Fields, Mask: m.r.write, Hash: d.Hash, Reason: "photo removed"}}) {
		return false
	}
	if m.apply(ctx, []plan.Op{{Kind: plan.Delete, SourceID: sid, ContactID: old.ContactID, Reason: "photo removed"}}) {
		return false
	}
	m.r.ph.removed.Add(1)
	return true
}

func (m *mailbox) photoError(sid string, err error) {
	m.r.ph.failures.Add(1)
	what := "photos"
	if sid != "" {
		what = "photo of " + m.r.upnOf(sid)
	}
	ie := ItemError{Mailbox: m.tg.UPN, Code: "photo", Message: what + ": " + err.Error()}
	var ge *graph.Error
	if errors.As(err, &ge) {
		ie.Code, ie.RequestID = ge.Code, ge.RequestID
	}
	m.r.log.Warn("photo not written: the contact keeps its photo until the next run", "mailbox", m.tg.UPN,
		"what", what, "code", ie.Code, "request_id", ie.RequestID, "error", err)
	if len(m.errs) < 20 {
		m.errs = append(m.errs, ie)
	}
}

// probePhotos checks, for "photos": true, that the app reads users'
// photos (User.Read.All) with one source's photo metadata.
func (r *run) probePhotos(ctx context.Context, rep *CheckReport) {
	if !r.t.Photos {
		return
	}
	for _, d := range r.desired {
		if p := r.persons[d.SourceID]; p.Kind != directory.KindUser {
			continue
		}
		meta, err := r.client.UserPhoto(ctx, d.SourceID)
		if err != nil {
			rep.add("photos", false, "reading the photo of %s needs %s: %s", r.upnOf(d.SourceID), entra.RoleUserReadAll, describe(err))
			return
		}
		has := "has none"
		if meta.Exists {
			has = fmt.Sprintf("has a %d×%d %s", meta.Width, meta.Height, meta.ContentType)
		}
		rep.add("photos", true, "%s reads users' photos (%s %s); contacts get them with Contacts.ReadWrite", entra.RoleUserReadAll, r.upnOf(d.SourceID), has)
		return
	}
	rep.add("photos", true, "no source user to read a photo of; photos need %s", entra.RoleUserReadAll)
}

// photoCounts is the run's photo report.
func (r *run) photoCounts() *report.Photos {
	ph := r.ph
	if ph == nil {
		return nil
	}
	return &report.Photos{
		Checked: int(ph.checked.Load()), Downloaded: int(ph.downloaded.Load()), DownloadedBytes: ph.bytesDown.Load(),
		Downscaled: int(ph.downscaled.Load()), Uploaded: int(ph.uploaded.Load()), UploadedBytes: ph.bytesUp.Load(),
		Removed: int(ph.removed.Load()), Restored: int(ph.restored.Load()), Failed: int(ph.failures.Load()),
		ToUpload: int(ph.toUpload.Load()), ToRemove: int(ph.toRemove.Load()),
	}
}
