package storage

import (
	"regexp"
	"strings"
	"testing"
)

var uuidShape = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func TestIDSet(t *testing.T) {
	s := NewIDSet(2)
	s.Add("0a1b2c3d-0000-4000-8000-00000000000a")
	s.Add("not-a-uuid")
	for id, want := range map[string]bool{
		"0a1b2c3d-0000-4000-8000-00000000000a": true,
		"0A1B2C3D-0000-4000-8000-00000000000A": true, // same UUID
		"0a1b2c3d-0000-4000-8000-00000000000b": false,
		"not-a-uuid":                           true,
		"0a1b2c3d00000-4000-8000-00000000000a": false,
	} {
		if got := s.Has(id); got != want {
			t.Errorf("Has(%q) = %v", id, got)
		}
	}
	if !s.hasParts("0a1", "b2c", "3d-0000-4000-8000-00000000000a") {
		t.Error("hasParts misses a resource path's pieces")
	}
	if s.hasParts("0a1", "b2c", "3d-0000-4000-8000-00000000000") {
		t.Error("hasParts matches a short name")
	}
	if s.Len() != 2 {
		t.Errorf("Len = %d", s.Len())
	}
}

// FuzzParseUUID checks the allocation-free parser against a regular
// expression, for every split of the text into three pieces.
func FuzzParseUUID(f *testing.F) {
	f.Add("0a1b2c3d-0000-4000-8000-00000000000a", 3, 6)
	f.Add("zzzzzzzz-0000-4000-8000-00000000000a", 0, 36)
	f.Fuzz(func(t *testing.T, s string, i, j int) {
		if i < 0 || j < i || j > len(s) {
			return
		}
		u, ok := parseUUID(s[:i], s[i:j], s[j:])
		if ok != uuidShape.MatchString(s) {
			t.Fatalf("parseUUID(%q) ok=%v", s, ok)
		}
		if ok {
			want := strings.ToLower(strings.ReplaceAll(s, "-", ""))
			var b strings.Builder
			for _, c := range u {
				b.WriteString(string("0123456789abcdef"[c>>4]) + string("0123456789abcdef"[c&15]))
			}
			if b.String() != want {
				t.Fatalf("parseUUID(%q) = %s", s, b.String())
			}
		}
	})
}

func TestWithin(t *testing.T) {
	for _, c := range []struct {
		p, dir string
		want   bool
	}{
		{"/data/depots/users-x/a", "/data/depots/users-x", true},
		{"/data/depots/users-x", "/data/depots/users-x", true},
		{"/data/depots/users-x-evil/a", "/data/depots/users-x", false},
		{"/data/depots", "/data/depots/users-x", false},
		{"/etc", "/", true},
	} {
		if got := within(c.p, c.dir); got != c.want {
			t.Errorf("within(%q, %q) = %v", c.p, c.dir, got)
		}
	}
}
