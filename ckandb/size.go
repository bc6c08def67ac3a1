package ckandb

import (
	"context"
	"fmt"
)

// Size is the size in bytes of the CKAN database on disk
// (pg_database_size of the connection's database).
func (db *DB) Size(ctx context.Context) (int64, error) {
	var n int64
	if err := db.conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n); err != nil {
		return 0, fmt.Errorf("size of the CKAN database %s: %s", db.masked, oneLine(err.Error()))
	}
	return n, nil
}
