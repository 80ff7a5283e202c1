package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Photos. Their bodies are binary, so they are sent as requests of their
// own, not $batch items (the metadata of a user's photo, JSON, is a batch
// item: Mailbox.UserPhoto) (a batch carries JSON; Graph's $batch answer would
// base64 a photo, a third larger). Each still holds one pacer unit of its
// scope, so a mailbox's photo calls and batch items share its 4 lanes. A
// user's photo is an Outlook resource for throttling (throttling-limits:
// "profile photo"): its scope is the user's mailbox, not the directory.

// PhotoMeta is what Graph says of a user's photo (profilePhoto).
type PhotoMeta struct {
	// Exists is false for a user without a photo: 404 (ImageNotFound,
	// ErrorEntityNotFound, ErrorItemNotFound), or the 1x1 placeholder
	// with an empty etag that profilephoto-get.md also shows.
	Exists      bool
	ETag        string // @odata.mediaEtag; may be empty
	ContentType string // @odata.mediaContentType
	Width       int
	Height      int
}

type photoWire struct {
	ContentType string `json:"@odata.mediaContentType"`
	ETag        string `json:"@odata.mediaEtag"`
	ID          string `json:"id"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
}

// UserPhoto reads the metadata of a user's photo (GET /users/{id}/photo;
// User.Read.All) as a request of its own (check's one probe; a run reads
// them with Mailbox.UserPhoto). A user without a photo is not an error.
func (c *Client) UserPhoto(ctx context.Context, user string) (PhotoMeta, error) {
	var w photoWire
	err := c.DoJSON(ctx, &Request{URL: "/users/" + seg(user) + "/photo", Scope: MailboxScope(user)}, &w)
	if noPhoto(err) {
		return PhotoMeta{}, nil
	}
	if err != nil {
		return PhotoMeta{}, err
	}
	return w.meta(), nil
}

// UserPhoto reads the metadata of the user's photo (GET /users/{id}/photo;
// User.Read.All) as a $batch item through the mailbox dispatcher, so that
// the reads of many users share $batch requests (the answer is JSON, as any
// batch item's). It is throttled as the user's mailbox (throttling-limits:
// "profile photo"), the scope of the handle; retries and Retry-After are
// the dispatcher's, as for every mailbox read. A user without a photo is
// not an error.
func (m Mailbox) UserPhoto(ctx context.Context) (PhotoMeta, error) {
	body, err := m.get(ctx, "/users/"+seg(m.user)+"/photo", nil)
	if noPhoto(err) {
		return PhotoMeta{}, nil
	}
	if err != nil {
		return PhotoMeta{}, err
	}
	var w photoWire
	if err := json.Unmarshal(body, &w); err != nil {
		return PhotoMeta{}, fmt.Errorf("graph: photo of %s: %w", m.user, err)
	}
	return w.meta(), nil
}

func (w photoWire) meta() PhotoMeta {
	if w.ETag == "" && w.Width <= 1 && w.Height <= 1 {
		return PhotoMeta{} // the 1x1 placeholder
	}
	return PhotoMeta{Exists: true, ETag: w.ETag, ContentType: w.ContentType, Width: w.Width, Height: w.Height}
}

// UserPhotoValue downloads a user's photo (GET /users/{id}/photo/$value).
// A user without a photo gives nil data and no error.
func (c *Client) UserPhotoValue(ctx context.Context, user string) (data []byte, contentType string, err error) {
	resp, err := c.Do(ctx, &Request{URL: "/users/" + seg(user) + "/photo/$value", Scope: MailboxScope(user)})
	if noPhoto(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	return resp.Body, resp.Header.Get("Content-Type"), nil
}

// noPhoto reports whether err is Graph's answer for a missing photo.
func noPhoto(err error) bool {
	var ge *Error
	return errors.As(err, &ge) && ge.Status == http.StatusNotFound
}

// SetContactPhoto uploads a JPEG as a contact's photo (PUT
// .../contacts/{id}/photo/$value; Contacts.ReadWrite). It first waits for
// room in the mailbox's upload budget (pacer.Upload).
func (m Mailbox) SetContactPhoto(ctx context.Context, folderID, contactID string, jpeg []byte) error {
	c := m.ms.c
	if err := c.pacer.Upload(ctx, m.scope, int64(len(jpeg))); err != nil {
		return err
	}
	_, err := c.Do(ctx, &Request{
		Method: http.MethodPut, URL: FolderPath(m.user, folderID) + "/contacts/" + seg(contactID) + "/photo/$value",
		Scope: m.scope, Body: jpeg, Header: http.Header{"Content-Type": {"image/jpeg"}},
	})
	return err
}

// ContactPhotoValue downloads a contact's photo; nil when it has none.
func (m Mailbox) ContactPhotoValue(ctx context.Context, folderID, contactID string) ([]byte, error) {
	resp, err := m.ms.c.Do(ctx, &Request{URL: FolderPath(m.user, folderID) + "/contacts/" + seg(contactID) + "/photo/$value", Scope: m.scope})
	var ge *Error
	if errors.As(err, &ge) && ge.Status == http.StatusNotFound && strings.EqualFold(ge.Code, "ImageNotFound") {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}
