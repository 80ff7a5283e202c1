package syncer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/galmirror/galmirror/internal/graph"
	"github.com/galmirror/galmirror/internal/store"
)

// The managed folder carries two marks: PropFolder names the settings entry
// it belongs to (folderMark: the tenant id and the entry's name, so two
// entries of one tenant keep two folders), and PropInstall the
// installation that maintains it (its state database's id and host name),
// so that a second installation pointed at the same tenant and entry is
// noticed instead of adopting the folder into a tug of war.

// folderMark is the value of PropFolder for this run's settings entry.
func folderMark(tenantID, entry string) string {
	return strings.ToLower(tenantID) + "/" + entry
}

// stamp is an installation's PropInstall value: "<id> <host>".
type stamp struct{ id, host string }

func (s stamp) String() string { return s.id + " " + s.host }

func parseStamp(v string) stamp {
	id, host, _ := strings.Cut(strings.TrimSpace(v), " ")
	return stamp{id: id, host: host}
}

// localStamp returns this installation's stamp.
func localStamp(installation string) stamp {
	h, _ := os.Hostname()
	return stamp{id: installation, host: strings.ToLower(h)}
}

// folderProps are the extended properties read with a managed folder.
var folderProps = []string{PropFolder, PropInstall}

// getFolders lists the folders q selects (among the children of the
// mailbox's default Contacts folder: a folder its owner deleted sits in
// Deleted Items and is not listed, so it is never taken for the live one),
// read with their marks.
func (m *mailbox) getFolders(ctx context.Context, q graph.FolderQuery) ([]graph.ContactFolder, error) {
	q.Props = folderProps
	out, err := m.mb.Folders(ctx, q)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if err := expanded(out[i].SingleValueExtendedProperties, "contact folder "+out[i].DisplayName); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ours reports whether a folder carries this entry's mark.
func (m *mailbox) ours(f *graph.ContactFolder) bool {
	v, ok := f.SingleValueExtendedProperties.Get(PropFolder)
	return ok && strings.EqualFold(v, m.r.mark)
}

// errOtherInstallation is a managed folder maintained by another
// installation of galmirror.
func (m *mailbox) otherInstallation(other stamp, taken bool) error {
	what := "is maintained by another galmirror installation"
	if taken {
		what = "was taken over by another galmirror installation"
	}
	return &mailboxError{status: store.MailboxFailed, code: "OtherInstallation", what: "managed folder",
		err: fmt.Errorf("the folder of settings entry %q %s (installation %s on host %q); this one leaves it alone. "+
			"Run only one installation per tenant and entry: stop the other, or, if it is gone for good (a rebuilt server), "+
			"take the folders over with `galmirror sync --tenant %s --take-over`", m.r.t.Name, what, other.id, other.host, m.r.t.Name)}
}

// claim decides whether this installation may maintain a marked folder
// stamped st. A folder without a stamp, or stamped by this installation,
// is ours. One stamped by another installation is ours to take over only
// when it ran on this host (this machine's state was lost or reset) or the
// operator asked for it (--take-over); mine says whether this installation
// maintained the folder before (then the other took it over since).
func (m *mailbox) claim(ctx context.Context, f *graph.ContactFolder, mine bool) error {
	v, ok := f.SingleValueExtendedProperties.Get(PropInstall)
	if !ok || v == "" {
		return nil
	}
	st := parseStamp(v)
	if st.id == m.r.stamp.id {
		return nil
	}
	if mine && !m.r.ro.TakeOver {
		return m.otherInstallation(st, true)
	}
	if st.host != m.r.stamp.host && !m.r.ro.TakeOver {
		return m.otherInstallation(st, false)
	}
	m.r.log.Warn("taking over a managed folder stamped by another installation", "mailbox", m.tg.UPN,
		"installation", st.id, "host", st.host, "take_over", m.r.ro.TakeOver)
	if m.r.ro.DryRun {
		return nil
	}
	if err := m.mb.SetFolderProps(ctx, f.ID, graph.ExtendedProperties{{ID: PropInstall, Value: m.r.stamp.String()}}); err != nil {
		return m.fail("take over the managed folder", err)
	}
	return nil
}

// remark writes this entry's mark and this installation's stamp on a
// folder (a dry run writes nothing).
func (m *mailbox) remark(ctx context.Context, f *graph.ContactFolder) error {
	m.r.log.Info("marking a managed folder of an earlier galmirror with its settings entry", "mailbox", m.tg.UPN)
	props := graph.ExtendedProperties{{ID: PropFolder, Value: m.r.mark}, {ID: PropInstall, Value: m.r.stamp.String()}}
	f.SingleValueExtendedProperties = props
	if m.r.ro.DryRun {
		return nil
	}
	if err := m.mb.SetFolderProps(ctx, f.ID, props); err != nil {
		return m.fail("mark the managed folder", err)
	}
	return nil
}

// checkFolder reads the managed folder the state names, to learn whether it
// is still where galmirror made it (under the default Contacts folder) and
// still maintained by this installation. moved is true when it is not (its
// owner deleted it to Deleted Items, or moved it): it is then left alone.
func (m *mailbox) checkFolder(ctx context.Context) (moved bool, err error) {
	if inDefault(m.folderID, m.parentID) {
		// The default Contacts folder cannot be moved or deleted: its
		// contacts delta answers for it.
		return false, nil
	}
	f, err := m.mb.Folder(ctx, m.folderID, folderProps...)
	if err != nil {
		return false, err
	}
	if err := expanded(f.SingleValueExtendedProperties, "the managed folder"); err != nil {
		return false, err
	}
	if f.ParentFolderID != m.parentID {
		return true, nil
	}
	if !m.ours(f) {
		v, _ := f.SingleValueExtendedProperties.Get(PropFolder)
		if !strings.EqualFold(v, m.r.t.TenantID) {
			return true, nil
		}
		// An earlier galmirror's mark: this run's state made it ours.
		return false, m.remark(ctx, f)
	}
	return false, m.claim(ctx, f, true)
}

// ensureFolder finds the managed folder by this entry's mark under the
// default Contacts folder (even if the owner renamed it), refuses a folder
// of the configured name that lacks the mark, and otherwise leaves
// m.folderID empty for createFolder (a dry run creates nothing).
func (m *mailbox) ensureFolder(ctx context.Context) error {
	r := m.r
	if r.t.InDefaultFolder() {
		return m.ensureDefaultFolder(ctx)
	}
	folders, err := m.getFolders(ctx, graph.FolderQuery{Mark: &graph.SingleValueExtendedProperty{ID: PropFolder, Value: r.mark}})
	if err != nil {
		return m.fail("look up the managed folder", err)
	}
	// The marks are checked here again, whatever the filter did: a
	// listing that ignored it must not make galmirror's folder look
	// foreign, nor another entry's look like this one's.
	adopt := func(f *graph.ContactFolder) error {
		if err := m.claim(ctx, f, f.ID == m.state.FolderID && m.state.FolderID != ""); err != nil {
			return err
		}
		m.folderID, m.parentID = f.ID, f.ParentFolderID
		return nil
	}
	for i := range folders {
		if m.ours(&folders[i]) {
			return adopt(&folders[i])
		}
	}
	named, err := m.getFolders(ctx, graph.FolderQuery{Name: r.t.Folder})
	if err != nil {
		return m.fail("look up the managed folder", err)
	}
	for i := range named {
		f := &named[i]
		if !strings.EqualFold(f.DisplayName, r.t.Folder) {
			continue
		}
		if m.ours(f) {
			return adopt(f)
		}
		if v, _ := f.SingleValueExtendedProperties.Get(PropFolder); strings.EqualFold(v, r.t.TenantID) {
			// Marked by a galmirror from before entry marks (the bare
			// tenant id), with this entry's folder name: ours, marked anew.
			if err := m.remark(ctx, f); err != nil {
				return err
			}
			return adopt(f)
		}
		why := "was not created by galmirror"
		if v, ok := f.SingleValueExtendedProperties.Get(PropFolder); ok {
			why = fmt.Sprintf("belongs to another galmirror settings entry (%s)", v)
		}
		return &mailboxError{status: store.MailboxForeignFolder, code: "ForeignFolder", what: "managed folder",
			err: fmt.Errorf("a contact folder named %q exists in this mailbox and %s: it is left alone; rename or remove it, or choose another folder name in the settings", r.t.Folder, why)}
	}
	m.folderID, m.parentID = "", ""
	return nil
}

// createFolder creates the managed folder with this entry's mark and this
// installation's stamp. After an answer that leaves it unknown whether the
// folder was made (a 5xx, no answer) or a 409, it looks for the marked
// folder before trying again; it never adopts a folder without the mark.
func (m *mailbox) createFolder(ctx context.Context) error {
	r := m.r
	nf := &graph.NewContactFolder{
		DisplayName: r.t.Folder,
		SingleValueExtendedProperties: graph.ExtendedProperties{
			{ID: PropFolder, Value: r.mark}, {ID: PropInstall, Value: r.stamp.String()},
		},
	}
	retry := m.mb.Retrier()
	for {
		f, err := m.mb.CreateFolder(ctx, nf)
		if err == nil {
			m.folderID, m.parentID = f.ID, f.ParentFolderID
			r.log.Debug("created the managed folder", "mailbox", m.tg.UPN)
			return nil
		}
		var maybe *graph.MaybeError
		if graph.Classify(err) != graph.Conflict && !errors.As(err, &maybe) {
			return m.fail("create the managed folder", err)
		}
		// Made by an earlier attempt whose answer was lost, or a folder of
		// that name appeared: look again (ensureFolder refuses a foreign one).
		if ferr := m.ensureFolder(ctx); ferr != nil {
			return ferr
		}
		if m.folderID != "" {
			return nil
		}
		if werr := retry.Wait(ctx, 0); werr != nil {
			return m.fail("create the managed folder", fmt.Errorf("%w (last error: %w)", werr, err))
		}
	}
}
