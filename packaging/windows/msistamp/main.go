// Command msistamp makes a wixl-built MSI reproducible: wixl writes the
// build's wall-clock time and a random package code into the package's
// summary information; msistamp overwrites them in place with a given time
// (SOURCE_DATE_EPOCH) and package code. Nothing else in the file moves.
//
//	go run ./packaging/windows/msistamp -time EPOCH -package-code {GUID} FILE.msi
//
// A build tool (packaging/windows/build-msi.sh runs it), not part of
// galmirror.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"unicode/utf16"
)

func main() {
	epoch := flag.String("time", os.Getenv("SOURCE_DATE_EPOCH"), "the creation and last-saved time, in seconds since 1970 (default $SOURCE_DATE_EPOCH)")
	code := flag.String("package-code", "", "the package code (revision number), {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: msistamp -time EPOCH -package-code {GUID} FILE.msi")
		os.Exit(2)
	}
	if err := stampFile(flag.Arg(0), *epoch, *code); err != nil {
		fmt.Fprintf(os.Stderr, "msistamp: %s: %v\n", flag.Arg(0), err)
		os.Exit(1)
	}
}

var guidRE = regexp.MustCompile(`^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$`)

func stampFile(path, epoch, code string) error {
	secs, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil || secs < 0 {
		return fmt.Errorf("time %q is not a number of seconds since 1970", epoch)
	}
	if !guidRE.MatchString(code) {
		return fmt.Errorf("package code %q is not an upper-case {GUID}", code)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := stamp(b, secs, code); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// Summary information property ids (MS-OLEPS; Windows Installer's use).
const (
	pidRevision = 9  // package code, VT_LPSTR
	pidCreated  = 12 // VT_FILETIME
	pidSaved    = 13 // VT_FILETIME
	vtLPSTR     = 30
	vtFILETIME  = 64
)

// stamp rewrites the created and last-saved times and the package code of
// the compound file b in place.
func stamp(b []byte, secs int64, code string) error {
	cf, err := parseCompound(b)
	if err != nil {
		return err
	}
	offs, err := cf.streamOffsets("\x05SummaryInformation")
	if err != nil {
		return err
	}
	s := make([]byte, len(offs))
	for i, o := range offs {
		s[i] = b[o]
	}
	if err := stampSummary(s, secs, code); err != nil {
		return err
	}
	for i, o := range offs {
		b[o] = s[i]
	}
	return nil
}

// stampSummary rewrites the properties in a summary information stream.
func stampSummary(s []byte, secs int64, code string) error {
	le := binary.LittleEndian
	if len(s) < 48 || le.Uint16(s) != 0xFFFE {
		return errors.New("the summary information is not a property set")
	}
	sec := int(le.Uint32(s[44:]))
	if sec+8 > len(s) {
		return errors.New("the summary information's section is outside the stream")
	}
	n := int(le.Uint32(s[sec+4:]))
	filetime := uint64(secs+11644473600) * 10000000
	done := map[uint32]bool{}
	for i := range n {
		e := sec + 8 + 8*i
		if e+8 > len(s) {
			return errors.New("the summary information's property list is cut short")
		}
		pid, at := le.Uint32(s[e:]), sec+int(le.Uint32(s[e+4:]))
		if at+8 > len(s) {
			return fmt.Errorf("property %d is outside the stream", pid)
		}
		typ := le.Uint32(s[at:]) & 0xFFFF
		switch {
		case (pid == pidCreated || pid == pidSaved) && typ == vtFILETIME:
			if at+12 > len(s) {
				return fmt.Errorf("property %d is cut short", pid)
			}
			le.PutUint64(s[at+4:], filetime)
			done[pid] = true
		case pid == pidRevision && typ == vtLPSTR:
			size := int(le.Uint32(s[at+4:]))
			if size != len(code)+1 || at+8+size > len(s) {
				return fmt.Errorf("the package code holds %d bytes, not a {GUID}", size)
			}
			copy(s[at+8:], code)
			done[pid] = true
		}
	}
	for _, pid := range []uint32{pidRevision, pidCreated, pidSaved} {
		if !done[pid] {
			return fmt.Errorf("the summary information has no property %d of the expected type", pid)
		}
	}
	return nil
}

// compound is a parsed compound file (MS-CFB): enough to find where each
// byte of a stream is.
type compound struct {
	b           []byte
	sectorSize  int
	miniSize    int
	miniCutoff  uint64
	fat         []uint32
	miniFAT     []uint32
	rootOffsets []int // file offset of each byte of the mini stream
	entries     [][]byte
}

const (
	endOfChain = 0xFFFFFFFE
	maxSector  = 0xFFFFFFFA
)

func parseCompound(b []byte) (*compound, error) {
	le := binary.LittleEndian
	if len(b) < 512 || string(b[:8]) != "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1" {
		return nil, errors.New("not a compound file (an MSI)")
	}
	shift, miniShift := le.Uint16(b[0x1E:]), le.Uint16(b[0x20:])
	if (shift != 9 && shift != 12) || miniShift != 6 {
		return nil, fmt.Errorf("unexpected sector sizes 2^%d and 2^%d", shift, miniShift)
	}
	cf := &compound{b: b, sectorSize: 1 << shift, miniSize: 1 << miniShift, miniCutoff: uint64(le.Uint32(b[0x38:]))}
	// The FAT's sectors: 109 in the header, the rest in the DIFAT chain.
	var fatSectors []uint32
	for i := range 109 {
		if s := le.Uint32(b[0x4C+4*i:]); s <= maxSector {
			fatSectors = append(fatSectors, s)
		}
	}
	per := cf.sectorSize/4 - 1
	difat := int(le.Uint32(b[0x48:]))
	if difat > len(b)/cf.sectorSize {
		return nil, fmt.Errorf("%d DIFAT sectors in a file of %d bytes", difat, len(b))
	}
	for d, left := le.Uint32(b[0x44:]), difat; d <= maxSector && left > 0; left-- {
		sec, err := cf.sector(d)
		if err != nil {
			return nil, err
		}
		for i := range per {
			if s := le.Uint32(sec[4*i:]); s <= maxSector {
				fatSectors = append(fatSectors, s)
			}
		}
		d = le.Uint32(sec[4*per:])
	}
	for _, s := range fatSectors {
		sec, err := cf.sector(s)
		if err != nil {
			return nil, err
		}
		for i := 0; i < len(sec); i += 4 {
			cf.fat = append(cf.fat, le.Uint32(sec[i:]))
		}
	}
	dir, err := cf.chainBytes(le.Uint32(b[0x30:]))
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	for i := 0; i+128 <= len(dir); i += 128 {
		cf.entries = append(cf.entries, dir[i:i+128])
	}
	if len(cf.entries) == 0 {
		return nil, errors.New("no root entry")
	}
	miniFAT, err := cf.chainBytes(le.Uint32(b[0x3C:]))
	if err != nil {
		return nil, fmt.Errorf("mini FAT: %w", err)
	}
	for i := 0; i+4 <= len(miniFAT); i += 4 {
		cf.miniFAT = append(cf.miniFAT, le.Uint32(miniFAT[i:]))
	}
	root := cf.entries[0]
	cf.rootOffsets, err = cf.chainOffsets(le.Uint32(root[0x74:]), le.Uint64(root[0x78:]))
	if err != nil {
		return nil, fmt.Errorf("mini stream: %w", err)
	}
	return cf, nil
}

// sectors is the number of sectors in the file: no chain is longer.
func (cf *compound) sectors() int { return len(cf.b)/cf.sectorSize - 1 }

// sector returns sector n's bytes.
func (cf *compound) sector(n uint32) ([]byte, error) {
	at := (int(n) + 1) * cf.sectorSize
	if n > maxSector || at+cf.sectorSize > len(cf.b) {
		return nil, fmt.Errorf("sector %d is outside the file", n)
	}
	return cf.b[at : at+cf.sectorSize], nil
}

// chainBytes returns the bytes of a FAT chain (a copy).
func (cf *compound) chainBytes(start uint32) ([]byte, error) {
	var out []byte
	for s, n := start, 0; s != endOfChain; n++ {
		if n > cf.sectors() || int(s) >= len(cf.fat) {
			return nil, errors.New("a broken or looping sector chain")
		}
		sec, err := cf.sector(s)
		if err != nil {
			return nil, err
		}
		out = append(out, sec...)
		s = cf.fat[s]
	}
	return out, nil
}

// chainOffsets returns the file offset of each of the first size bytes of
// a FAT chain.
func (cf *compound) chainOffsets(start uint32, size uint64) ([]int, error) {
	if size > uint64(len(cf.b)) {
		return nil, fmt.Errorf("a stream of %d bytes in a file of %d", size, len(cf.b))
	}
	offs := make([]int, 0, size)
	for s, n := start, 0; uint64(len(offs)) < size; n++ {
		if s == endOfChain || n > cf.sectors() || int(s) >= len(cf.fat) {
			return nil, errors.New("a sector chain shorter than its stream or looping")
		}
		if _, err := cf.sector(s); err != nil {
			return nil, err
		}
		at := (int(s) + 1) * cf.sectorSize
		for i := 0; i < cf.sectorSize && uint64(len(offs)) < size; i++ {
			offs = append(offs, at+i)
		}
		s = cf.fat[s]
	}
	return offs, nil
}

// streamOffsets returns the file offset of each byte of the named stream
// (a direct child of the root storage is enough for MSI summaries).
func (cf *compound) streamOffsets(name string) ([]int, error) {
	le := binary.LittleEndian
	want := utf16.Encode([]rune(name))
	for _, e := range cf.entries {
		nameLen := int(le.Uint16(e[0x40:]))
		if e[0x42] != 2 || nameLen != 2*(len(want)+1) {
			continue
		}
		match := true
		for i, c := range want {
			if le.Uint16(e[2*i:]) != c {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		start, size := le.Uint32(e[0x74:]), le.Uint64(e[0x78:])
		if cf.sectorSize == 512 {
			size &= 0xFFFFFFFF // version 3 files may leave junk in the high half
		}
		if size >= cf.miniCutoff {
			return cf.chainOffsets(start, size)
		}
		return cf.miniOffsets(start, size)
	}
	return nil, fmt.Errorf("no stream %q", name)
}

// miniOffsets returns the file offset of each byte of a stream in the mini
// stream.
func (cf *compound) miniOffsets(start uint32, size uint64) ([]int, error) {
	if size > uint64(len(cf.rootOffsets)) {
		return nil, fmt.Errorf("a stream of %d bytes in a mini stream of %d", size, len(cf.rootOffsets))
	}
	offs := make([]int, 0, size)
	for s, n := start, 0; uint64(len(offs)) < size; n++ {
		if s == endOfChain || n > len(cf.rootOffsets)/cf.miniSize || int(s) >= len(cf.miniFAT) {
			return nil, errors.New("a mini sector chain shorter than its stream or looping")
		}
		at := int(s) * cf.miniSize
		for i := 0; i < cf.miniSize && uint64(len(offs)) < size; i++ {
			if at+i >= len(cf.rootOffsets) {
				return nil, errors.New("a mini sector outside the mini stream")
			}
			offs = append(offs, cf.rootOffsets[at+i])
		}
		s = cf.miniFAT[s]
	}
	return offs, nil
}
