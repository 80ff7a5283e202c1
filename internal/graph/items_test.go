package graph

import "net/http"

// $batch items the tests send by hand (galmirror's own come from Mailbox).

func CreateContactItem(id, mailbox, folderID string, body *ContactPatch) BatchItem {
	return BatchItem{ID: id, Method: http.MethodPost, URL: ContactsPath(mailbox, folderID), Body: body,
		Scope: MailboxScope(mailbox)}
}

func UpdateContactItem(id, mailbox, folderID, contactID string, body *ContactPatch, ifMatch string) BatchItem {
	it := BatchItem{ID: id, Method: http.MethodPatch, URL: ContactPath(mailbox, folderID, contactID), Body: body,
		Scope: MailboxScope(mailbox)}
	if ifMatch != "" {
		it.Header = http.Header{"If-Match": {ifMatch}}
	}
	return it
}

func DeleteContactItem(id, mailbox, folderID, contactID string) BatchItem {
	return BatchItem{ID: id, Method: http.MethodDelete, URL: ContactPath(mailbox, folderID, contactID),
		Scope: MailboxScope(mailbox)}
}

func GetItem(id, url, scope string, header http.Header) BatchItem {
	return BatchItem{ID: id, Method: http.MethodGet, URL: url, Scope: scope, Header: header}
}
