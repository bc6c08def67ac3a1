package figsharetest

import (
	"fmt"
	"regexp"
)

// uuidRe is a resource id as dcor_schemas accepts it.
var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// revise is package_revise as DCOR 1.x's depot calls it
// (append_ckan_resource_to_active_dataset): {"match__id": ID,
// "update__resources__extend": [{"id", "name", "s3_available": true}]}.
// Anything else is refused: other fields, other resource keys, a
// resource id that is not a UUID or exists already, a name the dataset
// has already. The resources get what CKAN shows for them before
// DCOR's jobs ran (package_id, url_type "", format "").
func (c *CKAN) revise(in map[string]any) (any, *ckanErr) {
	if e := fields(in, []string{"match__id", "update__resources__extend"}, nil); e != nil {
		return nil, e
	}
	id, _ := in["match__id"].(string)
	p := c.findPackage(id)
	if p == nil || p["id"] != id {
		return nil, &ckanErr{404, "Not Found Error", "Not found"}
	}
	list, ok := in["update__resources__extend"].([]any)
	if !ok || len(list) == 0 {
		return nil, &ckanErr{409, "Validation Error", "update__resources__extend: a list of resources is expected"}
	}
	have := map[string]bool{}
	for _, r := range p["resources"].([]any) {
		rd := r.(map[string]any)
		have[fmt.Sprint(rd["id"])], have["name:"+fmt.Sprint(rd["name"])] = true, true
	}
	for _, q := range c.packages {
		for _, r := range q["resources"].([]any) {
			have[fmt.Sprint(r.(map[string]any)["id"])] = true
		}
	}
	var add []any
	for _, item := range list {
		r, ok := item.(map[string]any)
		if !ok {
			return nil, &ckanErr{409, "Validation Error", "update__resources__extend: not a resource"}
		}
		if e := fields(r, []string{"id", "name", "s3_available"}, nil); e != nil {
			return nil, e
		}
		rid, _ := r["id"].(string)
		name, _ := r["name"].(string)
		if !uuidRe.MatchString(rid) {
			return nil, &ckanErr{409, "Validation Error", "resources: id " + rid + " is not a UUID"}
		}
		if r["s3_available"] != true {
			return nil, &ckanErr{409, "Validation Error", "resources: s3_available must be true"}
		}
		if have[rid] || have["name:"+name] {
			return nil, &ckanErr{409, "Validation Error", "resources: " + rid + " (" + name + ") exists"}
		}
		have[rid], have["name:"+name] = true, true
		add = append(add, map[string]any{"id": rid, "package_id": p["id"], "name": name, "s3_available": true,
			"format": "", "url_type": ""})
	}
	p["resources"] = append(p["resources"].([]any), add...)
	return map[string]any{"package": p}, nil
}
