package graphsim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// mailboxSettings: GET /users/{id}/mailboxSettings
// (https://learn.microsoft.com/graph/api/user-get-mailboxsettings): a
// mailbox route (Exchange answers it: 404 MailboxNotEnabledForRESTAPI
// without a mailbox, 403 ErrorAccessDenied outside the app's access)
// needing MailboxSettings.Read or MailboxSettings.ReadWrite. graphsim
// models userPurpose (User.MailboxPurpose) and fixed values of a few
// other properties; an unknown property in $select is refused as Graph
// refuses one on other resources. The other properties
// (automaticRepliesSetting, workingHours, language, ...) are refused
// too: graphsim does not model them (stricter).

var mailboxSettingsProps = []string{"userPurpose", "timeZone", "dateFormat", "timeFormat"}

func (s *Server) getMailboxSettings(g *greq, rt *route, mb *mailbox) gresp {
	var sel []string
	if v := g.q.Get("$select"); v != "" {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if !slices.Contains(mailboxSettingsProps, p) {
				return g.graphErr(http.StatusBadRequest, "RequestBroker--ParseUri", fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.mailboxSettings'.", p))
			}
			if !slices.Contains(sel, p) {
				sel = append(sel, p)
			}
		}
	}
	t := g.t
	t.mu.RLock()
	o := t.resolveUserLocked(rt.user)
	var purpose, id string
	if o != nil {
		purpose, id = o.u.MailboxPurpose, o.u.ID
	}
	t.mu.RUnlock()
	if o == nil { // openMailbox answered already; a race with a delete
		return g.graphErr(http.StatusNotFound, "ErrorInvalidUser", fmt.Sprintf("The requested user '%s' is invalid.", rt.user))
	}
	if purpose == "" {
		purpose = "user"
	}
	values := map[string]any{"userPurpose": purpose, "timeZone": "UTC", "dateFormat": "yyyy-MM-dd", "timeFormat": "HH:mm"}
	ctx := s.contextURL(fmt.Sprintf("users('%s')/mailboxSettings", id))
	if sel == nil {
		sel = mailboxSettingsProps
	} else {
		ctx += "(" + strings.Join(sel, ",") + ")"
	}
	out := obj{{"@odata.context", ctx}}
	for _, p := range sel {
		out = append(out, kv{p, values[p]})
	}
	return okJSON(http.StatusOK, out)
}
