package store

import (
	"context"
	"database/sql"
	"strings"
)

// bulkChunk is how many rows one multi-row statement carries. Each Exec
// through database/sql and the driver costs several microseconds, so rows
// go in chunks; 64 rows × 7 columns stays far below SQLite's 32766 variable
// limit.
const bulkChunk = 64

// bulkExec runs a multi-row statement for n rows, chunkSize rows at a time:
// head is the statement up to VALUES, tuple one row's placeholders ("(?,
// ?)"), tail what follows the VALUES list; args(i) returns row i's values.
// The statements for a full chunk and for the remainder are prepared once.
func bulkExec(ctx context.Context, tx *sql.Tx, head, tuple, tail string, n int, args func(i int) []any) error {
	if n == 0 {
		return nil
	}
	build := func(rows int) string {
		var b strings.Builder
		b.WriteString(head)
		for i := range rows {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(tuple)
		}
		b.WriteString(tail)
		return b.String()
	}
	var full *sql.Stmt
	if n >= bulkChunk {
		st, err := tx.PrepareContext(ctx, build(bulkChunk))
		if err != nil {
			return err
		}
		defer st.Close()
		full = st
	}
	a := make([]any, 0, bulkChunk*8)
	for start := 0; start < n; start += bulkChunk {
		end := min(start+bulkChunk, n)
		a = a[:0]
		for i := start; i < end; i++ {
			a = append(a, args(i)...)
		}
		var err error
		if end-start == bulkChunk {
			_, err = full.ExecContext(ctx, a...)
		} else {
			_, err = tx.ExecContext(ctx, build(end-start), a...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
