package site

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Encode returns the site file's new content for s, given its current
// content old: the values of s are written into old's YAML document, so
// that its comments, its key order and the keys dcor does not know stay
// as they are. A value that changed is replaced in place, a new one is
// inserted after the key that precedes it in Marshal's order (at the end
// of its mapping otherwise), and a known key whose value s leaves empty
// is deleted. An empty old (or one with only comments) gives Marshal's
// output (after those comments); an old that already holds s is
// returned as it is. Encode fails when old is not a YAML
// mapping, or when the result would not read back as s (anchors and
// merge keys can make that so).
func Encode(old []byte, s *Site) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(old, &doc); err != nil {
		return nil, fmt.Errorf("the site file is not valid YAML: %v", err)
	}
	fresh, err := s.Marshal()
	if err != nil {
		return nil, err
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return encodeEmpty(old, fresh), nil
	}
	if doc.Kind != yaml.DocumentNode || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("the site file is not a YAML mapping of keys to values")
	}
	if cur, err := decode(old); err == nil && sameSite(cur, s) {
		return old, nil // nothing to change: not even the spacing
	}
	var want yaml.Node
	if err := want.Encode(s); err != nil {
		return nil, err
	}
	root := doc.Content[0]
	if want.Kind == yaml.MappingNode {
		merge(root, &want, reflect.TypeOf(*s))
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(indentOf(root))
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("encode the site file: %v", err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	out := buf.Bytes()
	if err := readsBackAs(out, s); err != nil {
		return nil, fmt.Errorf("cannot write the site file keeping its layout (%v): edit it by hand", err)
	}
	return out, nil
}

// encodeEmpty is Encode for an old content without any value: Marshal's
// output, after old's comments when old has nothing else.
func encodeEmpty(old, fresh []byte) []byte {
	for _, l := range strings.Split(string(old), "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			return fresh
		}
	}
	head := bytes.TrimRight(old, " \t\r\n")
	if len(head) == 0 {
		return fresh
	}
	// Marshal's own header comment is left out after old's.
	_, body, _ := bytes.Cut(fresh, []byte("\n"))
	out := append(append([]byte(nil), head...), '\n')
	return append(out, body...)
}

// keyEqual compares mapping keys as Load does: viper folds case.
func keyEqual(a, b string) bool { return strings.EqualFold(a, b) }

// known reports whether a key of a mapping read as type t is one dcor
// writes (a field of a struct, any key of a map), and the key's type.
func known(t reflect.Type, key string) (reflect.Type, bool) {
	switch t.Kind() {
	case reflect.Map:
		return t.Elem(), true
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name != "" && keyEqual(name, key) {
				return f.Type, true
			}
		}
	}
	return nil, false
}

// merge writes the values of the mapping want (of type t) into the
// mapping old.
func merge(old, want *yaml.Node, t reflect.Type) {
	// Position in old of each key of want, -1 when absent.
	prev := -1
	for i := 0; i+1 < len(want.Content); i += 2 {
		k, v := want.Content[i], want.Content[i+1]
		ft, _ := known(t, k.Value)
		j := find(old, k.Value)
		if j < 0 {
			at := len(old.Content)
			if prev >= 0 {
				at = prev + 2
			}
			old.Content = append(old.Content[:at], append([]*yaml.Node{k, v}, old.Content[at:]...)...)
			prev = at
			continue
		}
		ov := old.Content[j+1]
		switch {
		case ov.Kind == yaml.MappingNode && v.Kind == yaml.MappingNode && ft != nil &&
			(ft.Kind() == reflect.Struct || ft.Kind() == reflect.Map):
			merge(ov, v, ft)
		case ov.Kind == yaml.ScalarNode && v.Kind == yaml.ScalarNode:
			setScalar(ov, v)
		default:
			v.HeadComment, v.LineComment, v.FootComment = ov.HeadComment, ov.LineComment, ov.FootComment
			v.Anchor = ov.Anchor
			old.Content[j+1] = v
		}
		prev = j
	}
	// Known keys that want leaves out were emptied; later repeats of a
	// known key would hide the value written to the first.
	seen := map[string]bool{}
	for i := 0; i+1 < len(old.Content); {
		k := old.Content[i]
		_, isKnown := known(t, k.Value)
		folded := strings.ToLower(k.Value)
		if isKnown && k.Kind == yaml.ScalarNode && (seen[folded] || find(want, k.Value) < 0) {
			keepComments(old, i)
			old.Content = append(old.Content[:i], old.Content[i+2:]...)
			continue
		}
		seen[folded] = true
		i += 2
	}
}

// keepComments moves the comments of the key/value pair at i of mapping
// m, which is about to be removed, to the pair that follows (or, for the
// last pair, the one before), so that deleting a value keeps the notes
// around it.
func keepComments(m *yaml.Node, i int) {
	k, v := m.Content[i], m.Content[i+1]
	head := k.HeadComment
	foot := joinComments(k.FootComment, v.FootComment)
	switch {
	case i+2 < len(m.Content):
		n := m.Content[i+2]
		n.HeadComment = joinComments(joinComments(head, foot), n.HeadComment)
	case i >= 2:
		p := m.Content[i-2]
		p.FootComment = joinComments(p.FootComment, joinComments(head, foot))
	default:
		m.FootComment = joinComments(joinComments(head, foot), m.FootComment)
	}
}

func joinComments(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "\n" + b
}

// find returns the index in mapping m of the first key equal to key, -1
// when there is none.
func find(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && keyEqual(k.Value, key) {
			return i
		}
	}
	return -1
}

// setScalar gives the scalar old the value of want, keeping old's
// comments, anchor and quoting (quotes can hold any value; a plain or
// block scalar takes the style the encoder chose for the new value).
func setScalar(old, want *yaml.Node) {
	if old.Value == want.Value && old.ShortTag() == want.ShortTag() {
		return
	}
	old.Value, old.Tag = want.Value, want.Tag
	if old.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) == 0 || want.Tag != "!!str" {
		old.Style = want.Style
	} else {
		old.Style &^= yaml.TaggedStyle
	}
}

// indentOf is the indentation of old's nested mappings (2 when it has
// none, or an odd one).
func indentOf(root *yaml.Node) int {
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle == 0 && len(v.Content) > 0 {
			if d := v.Content[0].Column - k.Column; d >= 2 && d <= 8 {
				return d
			}
			break
		}
	}
	return 2
}

// readsBackAs checks that data, read as Load reads it (without the
// environment), gives s.
func readsBackAs(data []byte, s *Site) error {
	got, err := decode(data)
	if err != nil {
		return err
	}
	if !sameSite(got, s) {
		return errors.New("the values would not read back as written")
	}
	return nil
}

// sameSite compares two sites as Load sees them: keys of CKAN case-folded,
// no CKAN map the same as an empty one.
func sameSite(a, b *Site) bool {
	x, y := *a, *b
	x.CKAN, y.CKAN = foldKeys(a.CKAN), foldKeys(b.CKAN)
	return reflect.DeepEqual(x, y)
}

func foldKeys(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}
