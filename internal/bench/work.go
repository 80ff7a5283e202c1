package bench

// The phases of one size and the least work each needs. The generated
// tenant has U users, every one a source (enabled member with a mailbox
// and an email address), and M target mailboxes (the first M users; a
// group selects them when M < U). A mailbox never receives its own
// contact, so a target mailbox gets U − 1 contacts.

// Phase names, as they appear in the JSON.
const (
	PhaseInitial  = "initial"
	PhaseNoChange = "nochange"
	PhaseChange   = "change1pct"
)

// contactsDeltaPage is the largest contacts delta page Graph serves
// (Prefer: odata.maxpagesize is capped at 200).
const contactsDeltaPage = 200

// Shape is the tenant of one benchmark size.
type Shape struct {
	Users, Mailboxes int
}

// groupScoped reports whether a group selects the targets (M < U).
func (s Shape) groupScoped() bool { return s.Mailboxes < s.Users }

func (s Shape) groupPages(m Model) int {
	if !s.groupScoped() {
		return 0
	}
	return max(1, ceilDiv(s.Mailboxes, m.MembersPage))
}

// ChangedUsers is how many users the 1% phase changes: 1% of U, at least one.
func (s Shape) ChangedUsers() int { return max(1, s.Users/100) }

// InitialWork is the first full sync: read the directory, and in every
// target mailbox look for the managed folder by its mark and by its name
// (absent), create it, create U−1 contacts, and read one contacts delta
// round to hold a delta link for the next run (⌈(U−1)/200⌉ pages).
func (s Shape) InitialWork(m Model) Work {
	w := max(s.Users-1, 0)
	steps := 3 + max(1, ceilDiv(w, contactsDeltaPage))
	return Work{
		DirectoryPages: max(1, ceilDiv(s.Users, m.UsersPage)) + s.groupPages(m),
		Mailboxes:      s.Mailboxes,
		Steps:          steps,
		WritesMax:      w,
		WritesTotal:    w * s.Mailboxes,
		ItemsMax:       steps + w,
		ItemsTotal:     (steps + w) * s.Mailboxes,
	}
}

// readsPerMailbox are a later run's reads of each mailbox, side by side:
// its contacts delta (owner edits) and the check that its managed folder is
// still under the Contacts folder (its owner may have deleted it).
const readsPerMailbox = 2

// NoChangeWork is a run after which nothing changed: one users/delta page
// from the stored link, the target group, and the reads of each mailbox;
// no writes.
func (s Shape) NoChangeWork(m Model) Work {
	return Work{
		DirectoryPages: 1 + s.groupPages(m),
		Mailboxes:      s.Mailboxes,
		Steps:          1,
		ItemsMax:       readsPerMailbox,
		ItemsTotal:     readsPerMailbox * s.Mailboxes,
	}
}

// ChangeWork is a run after `changed` users changed, `changedTargets` of
// whom are target mailboxes (they do not receive their own contact): the
// delta pages of the changes, the target group, the reads of each mailbox,
// and one update per changed user per mailbox.
func (s Shape) ChangeWork(m Model, changed, changedTargets int) Work {
	writesMax := changed
	if s.Mailboxes <= changedTargets {
		writesMax = changed - 1
	}
	total := s.ExpectedChangeWrites(changed, changedTargets)
	return Work{
		DirectoryPages: max(1, ceilDiv(changed, m.UsersPage)) + s.groupPages(m),
		Mailboxes:      s.Mailboxes,
		Steps:          1,
		WritesMax:      max(writesMax, 0),
		WritesTotal:    total,
		ItemsMax:       readsPerMailbox + max(writesMax, 0),
		ItemsTotal:     readsPerMailbox*s.Mailboxes + total,
	}
}

// ExpectedInitialWrites is the contacts the first sync must create.
func (s Shape) ExpectedInitialWrites() int { return s.Mailboxes * max(s.Users-1, 0) }

// ExpectedChangeWrites is the updates after `changed` users changed: one
// per changed user per target mailbox, less the changed targets' own.
func (s Shape) ExpectedChangeWrites(changed, changedTargets int) int {
	return changed*s.Mailboxes - changedTargets
}
