package storage

import "testing"

func TestGuard(t *testing.T) {
	result := func(remove int, files, liveFiles int64) *Result {
		return &Result{Remove: make([]Item, remove), Files: files, LiveFiles: liveFiles}
	}
	cases := []struct {
		name            string
		res             *Result
		live, maxDelete int
		want            GuardRule // "" allowed
	}{
		{"nothing to remove, empty database", result(0, 10, 0), 0, 0, ""},
		{"empty database", result(5004, 5006, 0), 0, 0, NoLiveResources},
		{"empty database, with --max-delete", result(3, 5006, 0), 0, 10000, NoLiveResources},
		{"another site's tree", result(50, 1000, 49), 100, 0, ForeignTree},
		{"another site's tree, with --max-delete", result(50, 1000, 49), 100, 10000, ForeignTree},
		{"half of the live files present", result(50, 1000, 50), 100, 0, ""},
		{"5 % exactly", result(200, 4000, 3000), 3000, 0, ""},
		{"over 5 %", result(201, 4000, 3000), 3000, 0, TooMany},
		{"over 5 % but only 100", result(100, 200, 100), 100, 0, ""},
		{"over 5 % and 101", result(101, 202, 101), 101, 0, TooMany},
		{"--max-delete allows it", result(300, 1000, 700), 700, 300, ""},
		{"--max-delete is the limit", result(301, 1000, 700), 700, 300, TooMany},
		{"--max-delete below the 5 % guard", result(50, 10000, 9950), 9950, 10, TooMany},
	}
	for _, c := range cases {
		got := c.res.Guard(c.live, c.live, c.maxDelete)
		switch {
		case c.want == "" && got != nil:
			t.Errorf("%s: refused (%s), want allowed", c.name, got.Rule)
		case c.want != "" && got == nil:
			t.Errorf("%s: allowed, want %s", c.name, c.want)
		case got != nil && got.Rule != c.want:
			t.Errorf("%s: %s, want %s", c.name, got.Rule, c.want)
		case got != nil && (got.Remove != len(c.res.Remove) || got.Files != c.res.Files || got.Live != c.live ||
			got.LiveFiles != c.res.LiveFiles || got.MaxDelete != c.maxDelete):
			t.Errorf("%s: numbers %+v", c.name, got)
		}
	}
}
