package pgtest

import (
	"context"
	"testing"
)

func TestClusterRunsCKANSchema(t *testing.T) {
	c := Start(t)
	url := c.CreateDatabase(t, "ckan_default", "ckan_default", "pa'ss word")
	c.Exec(t, url, CKANSchema)
	c.Exec(t, url, `INSERT INTO "user" (id, name, state) VALUES ('u1', 'alice', 'active')`)
	conn := c.Connect(t, url)
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM "user"`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("count = %d, %v", n, err)
	}
	// a wrong password must be rejected: the cluster really checks passwords
	if _, err := c.Connect2(c.URL("ckan_default", "wrong", "ckan_default")); err == nil {
		t.Fatal("wrong password accepted")
	}
}
