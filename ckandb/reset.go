package ckandb

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The queries of `dcor reset` (dcor-operations §2, §8).

// DatasetCounts counts the datasets (package rows) of the site.
type DatasetCounts struct {
	// Total is the number of datasets in every state.
	Total int `json:"total"`
	// ByState counts them per state (active, draft, deleted, …).
	ByState map[string]int `json:"by_state"`
	// Private counts the private ones among them.
	Private int `json:"private"`
}

// String is "1000 datasets (active 700, deleted 200, draft 100; 50 private)".
func (c DatasetCounts) String() string {
	states := make([]string, 0, len(c.ByState))
	for s := range c.ByState {
		states = append(states, s)
	}
	sort.Strings(states)
	parts := make([]string, len(states))
	for i, s := range states {
		parts[i] = fmt.Sprintf("%s %d", s, c.ByState[s])
	}
	s := fmt.Sprintf("%d datasets", c.Total)
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ")
		if c.Private > 0 {
			s += fmt.Sprintf("; %d private", c.Private)
		}
		s += ")"
	}
	return s
}

// DatasetCounts counts the datasets in every state.
func (db *DB) DatasetCounts(ctx context.Context) (DatasetCounts, error) {
	c := DatasetCounts{ByState: map[string]int{}}
	rows, err := db.conn.Query(ctx, `SELECT coalesce(state, ''), coalesce(private, false), count(*) FROM package GROUP BY 1, 2`)
	if err != nil {
		return c, fmt.Errorf("count the datasets in %s: %w", db.masked, err)
	}
	defer rows.Close()
	for rows.Next() {
		var state string
		var private bool
		var n int
		if err := rows.Scan(&state, &private, &n); err != nil {
			return c, err
		}
		if state == "" {
			state = "none"
		}
		c.ByState[state] += n
		c.Total += n
		if private {
			c.Private += n
		}
	}
	return c, rows.Err()
}

// UserCount is the number of users that are not deleted.
func (db *DB) UserCount(ctx context.Context) (int, error) {
	var n int
	err := db.conn.QueryRow(ctx, `SELECT count(*) FROM "user" WHERE state <> 'deleted'`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count the users in %s: %w", db.masked, err)
	}
	return n, nil
}

// fkRef is a single-column foreign key: table.column references
// parent.parentColumn.
type fkRef struct {
	table, column, parentColumn string
}

// referencing lists the single-column foreign keys that reference table
// (self-references left out).
func referencing(ctx context.Context, tx pgx.Tx, table string) ([]fkRef, error) {
	rows, err := tx.Query(ctx, `
		SELECT cl.relname, a.attname, pa.attname
		FROM pg_constraint c
		JOIN pg_class cl ON cl.oid = c.conrelid
		JOIN pg_class pc ON pc.oid = c.confrelid
		JOIN pg_namespace n ON n.oid = pc.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
		JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = c.confkey[1]
		WHERE c.contype = 'f' AND array_length(c.conkey, 1) = 1
		  AND pc.relname = $1 AND n.nspname = current_schema() AND c.conrelid <> c.confrelid
		ORDER BY 1, 2`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []fkRef
	for rows.Next() {
		var r fkRef
		if err := rows.Scan(&r.table, &r.column, &r.parentColumn); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// deleteWhere deletes the rows of table that match where, after the rows
// of other tables that reference them (recursively), and returns how
// many rows of table it deleted.
func deleteWhere(ctx context.Context, tx pgx.Tx, table, where string, depth int) (int64, error) {
	if depth > 8 {
		return 0, fmt.Errorf("the tables that reference %s nest too deep", table)
	}
	refs, err := referencing(ctx, tx, table)
	if err != nil {
		return 0, err
	}
	t := pgx.Identifier{table}.Sanitize()
	for _, r := range refs {
		sub := fmt.Sprintf("%s IN (SELECT %s FROM %s WHERE %s)", pgx.Identifier{r.column}.Sanitize(),
			pgx.Identifier{r.parentColumn}.Sanitize(), t, where)
		if _, err := deleteWhere(ctx, tx, r.table, sub, depth+1); err != nil {
			return 0, err
		}
	}
	tag, err := tx.Exec(ctx, "DELETE FROM "+t+" WHERE "+where)
	if err != nil {
		return 0, fmt.Errorf("delete from %s: %w", table, err)
	}
	return tag.RowsAffected(), nil
}

// PurgeAllDatasets purges every dataset in every state in one
// transaction, as CKAN's dataset_purge does for one: the member rows of
// the datasets (their groups and organizations), their resources (by
// package_id: CKAN 2.9 has no foreign key there), then every row that
// references a dataset — resources (and their views), tags, extras,
// collaborators, relationships, and the rows of plugin tables with a
// foreign key to package — then the datasets. Activities stay, as with
// dataset_purge. Either everything is purged or, on any error, nothing.
// It returns the number of datasets purged.
func (db *DB) PurgeAllDatasets(ctx context.Context) (int64, error) {
	tx, err := db.conn.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("purge the datasets of %s: %w", db.masked, err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `DELETE FROM member WHERE table_name = 'package' AND table_id IN (SELECT id FROM package)`); err != nil {
		return 0, fmt.Errorf("purge the datasets of %s: delete their memberships: %w", db.masked, err)
	}
	// CKAN 2.9's resource.package_id has no foreign key (2.10 added
	// it), so the resources are deleted by their column, not found
	// through the key.
	if _, err := deleteWhere(ctx, tx, "resource", "package_id IN (SELECT id FROM package)", 0); err != nil {
		return 0, fmt.Errorf("purge the datasets of %s: %w (nothing was purged)", db.masked, err)
	}
	n, err := deleteWhere(ctx, tx, "package", "true", 0)
	if err != nil {
		return 0, fmt.Errorf("purge the datasets of %s: %w (nothing was purged)", db.masked, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("purge the datasets of %s: commit: %w (nothing was purged)", db.masked, err)
	}
	return n, nil
}

// ZombieQuery says which users are zombies: not sysadmins, no dataset
// created that is not deleted, last active before Cutoff or never, not
// deleted already, not in Keep.
type ZombieQuery struct {
	// Cutoff is the time before which a user's last activity counts as
	// old (12 weeks ago).
	Cutoff time.Time
	// Keep are user names never counted.
	Keep []string
	// IgnoreDatasets leaves the dataset condition out: the preview of a
	// run that purges every dataset first.
	IgnoreDatasets bool
}

// zombieCondition is the SQL condition on "user" u; $1 is the cutoff and
// $2 the names kept. CKAN 2.10+ records user.last_active; CKAN 2.9 has
// no such column, and its list-zombie-users took the newest activity.
func (db *DB) zombieCondition(ctx context.Context, q ZombieQuery) (string, error) {
	var hasLastActive bool
	err := db.conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'user' AND column_name = 'last_active')`).Scan(&hasLastActive)
	if err != nil {
		return "", fmt.Errorf("read the user table of %s: %w", db.masked, err)
	}
	last := `u.last_active`
	if !hasLastActive {
		last = `(SELECT max(a."timestamp") FROM activity a WHERE a.user_id = u.id)`
	}
	cond := `u.state <> 'deleted' AND NOT coalesce(u.sysadmin, false) AND NOT (u.name = ANY($2))
		AND (` + last + ` IS NULL OR ` + last + ` < $1)`
	if !q.IgnoreDatasets {
		cond += ` AND NOT EXISTS (SELECT 1 FROM package p WHERE p.creator_user_id = u.id AND p.state <> 'deleted')`
	}
	return cond, nil
}

// ZombieUsers lists the names of the zombie users, sorted.
func (db *DB) ZombieUsers(ctx context.Context, q ZombieQuery) ([]string, error) {
	cond, err := db.zombieCondition(ctx, q)
	if err != nil {
		return nil, err
	}
	rows, err := db.conn.Query(ctx, `SELECT u.name FROM "user" u WHERE `+cond+` ORDER BY u.name`,
		q.Cutoff.UTC(), keepList(q.Keep))
	if err != nil {
		return nil, fmt.Errorf("list the zombie users of %s: %w", db.masked, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func keepList(k []string) []string {
	if k == nil {
		return []string{}
	}
	return k
}

// RemoveUsers deletes, in one transaction, the users among names that
// are still zombies (q, checked again now), as `ckan user remove` does:
// the user's state becomes 'deleted', its memberships (member rows of
// the user) 'deleted', its collaborations (package_member rows) are
// removed. It returns the names deleted, sorted.
func (db *DB) RemoveUsers(ctx context.Context, names []string, q ZombieQuery) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	cond, err := db.zombieCondition(ctx, q)
	if err != nil {
		return nil, err
	}
	tx, err := db.conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("delete users in %s: %w", db.masked, err)
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, `UPDATE "user" SET state = 'deleted' WHERE id IN
		(SELECT u.id FROM "user" u WHERE u.name = ANY($3) AND `+cond+`) RETURNING id, name`,
		q.Cutoff.UTC(), keepList(q.Keep), names)
	if err != nil {
		return nil, fmt.Errorf("delete users in %s: %w", db.masked, err)
	}
	var ids, done []string
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, err
		}
		ids, done = append(ids, id), append(done, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("delete users in %s: %w", db.masked, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE member SET state = 'deleted' WHERE table_id = ANY($1)`, ids); err != nil {
		return nil, fmt.Errorf("delete the memberships of deleted users in %s: %w", db.masked, err)
	}
	var hasCollaborators bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('package_member') IS NOT NULL`).Scan(&hasCollaborators); err != nil {
		return nil, err
	}
	if hasCollaborators {
		if _, err := tx.Exec(ctx, `DELETE FROM package_member WHERE user_id = ANY($1)`, ids); err != nil {
			return nil, fmt.Errorf("remove the collaborations of deleted users in %s: %w", db.masked, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("delete users in %s: commit: %w", db.masked, err)
	}
	sort.Strings(done)
	return done, nil
}

// Tables lists the tables of the database's current schema, sorted.
func (db *DB) Tables(ctx context.Context) ([]string, error) {
	rows, err := db.conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list the tables of %s: %w", db.masked, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// AlembicRevision is the revision CKAN's core migrations are at (the
// alembic_version table), "" when the table is empty or missing.
func (db *DB) AlembicRevision(ctx context.Context) (string, error) {
	var exists bool
	if err := db.conn.QueryRow(ctx, `SELECT to_regclass('alembic_version') IS NOT NULL`).Scan(&exists); err != nil {
		return "", fmt.Errorf("read the migration state of %s: %w", db.masked, err)
	}
	if !exists {
		return "", nil
	}
	var rev *string
	err := db.conn.QueryRow(ctx, `SELECT max(version_num) FROM alembic_version`).Scan(&rev)
	if err != nil {
		return "", fmt.Errorf("read the migration state of %s: %w", db.masked, err)
	}
	return deref(rev), nil
}
