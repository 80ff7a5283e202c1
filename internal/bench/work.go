package bench

import "fmt"

// The phases of one size and the least work each needs. The generated
// tenant has U users, every one an enabled member with a mailbox and an
// email address. The first M are the target mailboxes (a target.groups
// group selects them when M < U); the first S are the sources (a
// source.includeGroups group selects them when S < U). A mailbox never
// receives its own contact, so a target mailbox gets S − 1 contacts when
// its owner is a source and S otherwise; min(S, M) target mailboxes are
// sources.

// Phase names, as they appear in the JSON.
const (
	PhaseInitial  = "initial"
	PhaseNoChange = "nochange"
	PhaseChange   = "change1pct"
)

// contactsDeltaPage is the largest contacts delta page Graph serves
// (Prefer: odata.maxpagesize is capped at 200).
const contactsDeltaPage = 200

// Shape is the tenant of one benchmark size: U users, M target mailboxes
// and S sources (the first M and the first S users). Sources 0 means
// every user (S = U), the shape of a size written UxM.
type Shape struct {
	Users, Mailboxes, Sources int
}

// S is the number of sources.
func (s Shape) S() int {
	if s.Sources <= 0 {
		return s.Users
	}
	return s.Sources
}

// Name is the size as `galmirror bench` prints it: UxM when every user
// is a source, UxMxS otherwise.
func (s Shape) Name() string {
	if s.S() != s.Users {
		return fmt.Sprintf("%dx%dx%d", s.Users, s.Mailboxes, s.S())
	}
	return fmt.Sprintf("%dx%d", s.Users, s.Mailboxes)
}

// groupScoped reports whether a group selects the targets (M < U).
func (s Shape) groupScoped() bool { return s.Mailboxes < s.Users }

// sourceScoped reports whether a group selects the sources (S < U).
func (s Shape) sourceScoped() bool { return s.S() < s.Users }

// scopePages are the group member pages every run reads one after
// another: the source.includeGroups group's, then the target group's.
func (s Shape) scopePages(m Model) int {
	n := 0
	if s.sourceScoped() {
		n += max(1, ceilDiv(s.S(), m.MembersPage))
	}
	if s.groupScoped() {
		n += max(1, ceilDiv(s.Mailboxes, m.MembersPage))
	}
	return n
}

// SourceTargets is how many target mailboxes belong to sources (and so
// do not receive their own contact): min(S, M), both being the first users.
func (s Shape) SourceTargets() int { return min(s.S(), s.Mailboxes) }

// isSource and isTarget tell user i's roles.
func (s Shape) isSource(i int) bool { return i < s.S() }
func (s Shape) isTarget(i int) bool { return i < s.Mailboxes }

// ChangedUsers is how many users the 1% phase changes: 1% of U, at least one.
func (s Shape) ChangedUsers() int { return max(1, s.Users/100) }

// Change is what the 1% phase changed: Users changed users (they fill
// the users/delta pages), Sources of them sources (each must be updated
// in every target mailbox), SourceTargets of those sources also target
// mailboxes (which do not hold their own contact).
type Change struct {
	Users, Sources, SourceTargets int
}

// InitialWork is the first full sync: read the directory, and in every
// target mailbox look for the managed folder by its mark and by its name
// (absent), create it, create its S − 1 or S contacts, and read one
// contacts delta round to hold a delta link for the next run (⌈contacts/200⌉
// pages, at least one).
func (s Shape) InitialWork(m Model) Work {
	own := s.SourceTargets()   // mailboxes with S − 1 contacts
	other := s.Mailboxes - own // mailboxes with S contacts
	steps := func(w int) int { return 3 + max(1, ceilDiv(w, contactsDeltaPage)) }
	wOwn, wOther := max(s.S()-1, 0), s.S()
	wMax := wOwn
	if other > 0 {
		wMax = wOther
	}
	return Work{
		DirectoryPages: max(1, ceilDiv(s.Users, m.UsersPage)) + s.scopePages(m),
		Mailboxes:      s.Mailboxes,
		Steps:          steps(wMax),
		WritesMax:      wMax,
		WritesTotal:    s.ExpectedInitialWrites(),
		ItemsMax:       steps(wMax) + wMax,
		ItemsTotal:     own*(steps(wOwn)+wOwn) + other*(steps(wOther)+wOther),
	}
}

// readsPerMailbox are a later run's reads of each mailbox, side by side:
// its contacts delta (owner edits) and the check that its managed folder is
// still under the Contacts folder (its owner may have deleted it).
const readsPerMailbox = 2

// NoChangeWork is a run after which nothing changed: one users/delta page
// from the stored link, the scope groups' member pages, and the reads of
// each mailbox; no writes.
func (s Shape) NoChangeWork(m Model) Work {
	return Work{
		DirectoryPages: 1 + s.scopePages(m),
		Mailboxes:      s.Mailboxes,
		Steps:          1,
		ItemsMax:       readsPerMailbox,
		ItemsTotal:     readsPerMailbox * s.Mailboxes,
	}
}

// ChangeWork is a run after c: the delta pages of the changed users, the
// scope groups' member pages, the reads of each mailbox, and one update
// per changed source per mailbox (not the source's own).
func (s Shape) ChangeWork(m Model, c Change) Work {
	writesMax := c.Sources
	if s.Mailboxes <= c.SourceTargets {
		writesMax = c.Sources - 1
	}
	writesMax = max(writesMax, 0)
	total := s.ExpectedChangeWrites(c)
	return Work{
		DirectoryPages: max(1, ceilDiv(c.Users, m.UsersPage)) + s.scopePages(m),
		Mailboxes:      s.Mailboxes,
		Steps:          1,
		WritesMax:      writesMax,
		WritesTotal:    total,
		ItemsMax:       readsPerMailbox + writesMax,
		ItemsTotal:     readsPerMailbox*s.Mailboxes + total,
	}
}

// ExpectedInitialWrites is the contacts the first sync must create: S in
// every target mailbox, less the sources' own.
func (s Shape) ExpectedInitialWrites() int { return s.S()*s.Mailboxes - s.SourceTargets() }

// ExpectedChangeWrites is the updates after c: one per changed source per
// target mailbox, less the changed sources' own. Changed users that are not
// sources have no contact and cost no write.
func (s Shape) ExpectedChangeWrites(c Change) int {
	return c.Sources*s.Mailboxes - c.SourceTargets
}
