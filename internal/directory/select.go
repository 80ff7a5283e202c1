package directory

import (
	"strings"

	"github.com/galmirror/galmirror/internal/config"
)

// Scope is the group membership a selection needs, read fresh every run
// (transitive membership, so nested groups count). A nil set means the
// corresponding setting is empty.
type Scope struct {
	SourceInclude map[string]bool // members of source.includeGroups
	SourceExclude map[string]bool // members of source.excludeGroups
	Targets       map[string]bool // members of target.groups
}

// Selector decides who is a source and who is a target under one tenant's
// settings.
type Selector struct {
	src     config.Source
	tgt     config.Target
	scope   Scope
	srcExcl idSet
	tgtExcl idSet
}

// NewSelector builds a selector from the settings and this run's group
// scope.
func NewSelector(t *config.Tenant, scope Scope) *Selector {
	return &Selector{
		src:     t.Source,
		tgt:     t.Target,
		scope:   scope,
		srcExcl: newIDSet(t.Source.ExcludeUsers),
		tgtExcl: newIDSet(t.Target.ExcludeUsers),
	}
}

// IsSource reports whether p becomes a contact in the target mailboxes, and
// if not, why not (for dry runs and logs).
func (s *Selector) IsSource(p Person) (bool, string) {
	if p.Kind == KindGroup {
		return s.groupIsSource(p)
	}
	switch {
	case !p.Enabled && !s.resourceSource(p):
		return false, "disabled"
	case p.Guest && !s.src.IncludeGuests:
		return false, "guest"
	case s.src.RequireEmail && strings.TrimSpace(p.Mail) == "":
		return false, "no email address"
	case s.src.RequirePhone && !p.HasPhone():
		return false, "no phone"
	case s.srcExcl.has(p):
		return false, ReasonExcluded
	case s.scope.SourceInclude != nil && !s.scope.SourceInclude[p.ID]:
		return false, "not in an included group"
	case s.scope.SourceExclude[p.ID]:
		return false, "in an excluded group"
	}
	return true, ""
}

// resourceSource reports whether p, a disabled user, is a mailbox the
// settings include: shared, room or equipment.
func (s *Selector) resourceSource(p Person) bool {
	if !p.PurposeCandidate() {
		return false
	}
	switch p.Purpose {
	case "shared":
		return s.src.IncludeShared
	case "room":
		return s.src.IncludeRooms
	case "equipment":
		return s.src.IncludeEquipment
	}
	return false
}

// groupIsSource decides for a mail-enabled group: source.mailGroups, an
// address, not hidden from address lists, not named in excludeUsers. The
// group scopes filter people, not groups.
func (s *Selector) groupIsSource(p Person) (bool, string) {
	switch {
	case !s.src.MailGroups:
		return false, "mail groups not included"
	case strings.TrimSpace(p.Mail) == "":
		return false, "no email address"
	case p.Hidden:
		return false, "hidden from address lists"
	case s.srcExcl.has(p):
		return false, ReasonExcluded
	}
	return true, ""
}

// ReasonExcluded is IsTarget's and IsSource's reason for a user named in
// excludeUsers.
const ReasonExcluded = "excluded user"

// IsTarget reports whether p's mailbox receives the managed folder. Only
// enabled member users are targets; whether they really have a mailbox is
// learnt from Graph (404 MailboxNotEnabledForRESTAPI).
func (s *Selector) IsTarget(p Person) (bool, string) {
	switch {
	case p.Kind != KindUser:
		return false, "not a user"
	case !p.Enabled:
		return false, "disabled"
	case p.Guest:
		return false, "guest"
	case strings.TrimSpace(p.Mail) == "":
		return false, "no email address"
	case s.tgtExcl.has(p):
		return false, ReasonExcluded
	case s.scope.Targets != nil && !s.scope.Targets[p.ID]:
		return false, "not in a target group"
	}
	return true, ""
}

// idSet matches object ids exactly and userPrincipalNames case-insensitively.
type idSet map[string]bool

func newIDSet(entries []string) idSet {
	s := make(idSet, len(entries))
	for _, e := range entries {
		s[strings.ToLower(strings.TrimSpace(e))] = true
	}
	return s
}

func (s idSet) has(p Person) bool {
	if len(s) == 0 {
		return false
	}
	return s[strings.ToLower(p.ID)] || (p.UserPrincipalName != "" && s[strings.ToLower(p.UserPrincipalName)])
}
