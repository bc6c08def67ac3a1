package health

import (
	"bufio"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
)

// SupervisorConf is supervisord's main configuration (host path).
const SupervisorConf = "/etc/supervisor/supervisord.conf"

// defaultSupervisorSocket is Debian's supervisord socket.
const defaultSupervisorSocket = "/var/run/supervisor.sock"

// supervisorServer is where supervisorctl reaches supervisord.
type supervisorServer struct {
	// socket is a unix socket path, or url an http:// URL.
	socket, url     string
	user, password  string
	confErr         error
	confDescription string
}

// supervisorTarget reads supervisorctl's serverurl (or the unix_http_server
// file) and credentials from supervisord.conf, as supervisorctl does.
func supervisorTarget(c *config) supervisorServer {
	s := supervisorServer{socket: defaultSupervisorSocket}
	f, err := os.Open(c.Host.Path(SupervisorConf))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.confErr = err
		}
		return s
	}
	defer f.Close()
	sections := map[string]map[string]string{}
	var cur map[string]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == ';' || line[0] == '#' {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			cur = map[string]string{}
			sections[strings.TrimSpace(line[1:len(line)-1])] = cur
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || cur == nil {
			continue
		}
		if i := strings.Index(v, " ;"); i >= 0 { // inline comment
			v = v[:i]
		}
		cur[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if u := sections["unix_http_server"]; u != nil {
		if u["file"] != "" {
			s.socket = u["file"]
		}
		s.user, s.password = u["username"], u["password"]
	}
	if ctl := sections["supervisorctl"]; ctl != nil {
		switch su := ctl["serverurl"]; {
		case strings.HasPrefix(su, "unix://"):
			s.socket = strings.TrimPrefix(su, "unix://")
		case strings.HasPrefix(su, "http://"):
			s.socket, s.url = "", su
		}
		if ctl["username"] != "" {
			s.user, s.password = ctl["username"], ctl["password"]
		}
	}
	return s
}

func (s supervisorServer) String() string {
	if s.url != "" {
		return s.url
	}
	return s.socket
}

// call calls an XML-RPC method without arguments of supervisord.
func (s supervisorServer) call(ctx context.Context, method string) (*xmlValue, error) {
	endpoint := strings.TrimSuffix(s.url, "/") + "/RPC2"
	tr := &http.Transport{}
	if s.url == "" {
		endpoint = "http://localhost/RPC2"
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", s.socket)
		}
	}
	defer tr.CloseIdleConnections()
	body := `<?xml version="1.0"?><methodCall><methodName>` + method + `</methodName><params></params></methodCall>`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	if s.user != "" {
		req.SetBasicAuth(s.user, s.password)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	var mr struct {
		Params []xmlValue `xml:"params>param>value"`
		Fault  *xmlValue  `xml:"fault>value"`
	}
	if err := xml.Unmarshal(data, &mr); err != nil {
		return nil, fmt.Errorf("not an XML-RPC answer: %v", err)
	}
	if mr.Fault != nil {
		return nil, fmt.Errorf("XML-RPC fault: %s", mr.Fault.member("faultString").str())
	}
	if len(mr.Params) != 1 {
		return nil, errors.New("XML-RPC answer without a value")
	}
	return &mr.Params[0], nil
}

// xmlValue is an XML-RPC value (the types supervisord returns).
type xmlValue struct {
	String  *string `xml:"string"`
	Int     *string `xml:"int"`
	I4      *string `xml:"i4"`
	Boolean *string `xml:"boolean"`
	Members []struct {
		Name  string   `xml:"name"`
		Value xmlValue `xml:"value"`
	} `xml:"struct>member"`
	Array []xmlValue `xml:"array>data>value"`
	Text  string     `xml:",chardata"`
}

func (v *xmlValue) str() string {
	switch {
	case v == nil:
		return ""
	case v.String != nil:
		return *v.String
	case v.Int != nil:
		return *v.Int
	case v.I4 != nil:
		return *v.I4
	case v.Boolean != nil:
		return *v.Boolean
	}
	return strings.TrimSpace(v.Text)
}

func (v *xmlValue) member(name string) *xmlValue {
	for i := range v.Members {
		if v.Members[i].Name == name {
			return &v.Members[i].Value
		}
	}
	return nil
}

// requiredPrograms are the supervisor groups a DCOR host runs; a
// missing one fails.
var requiredPrograms = []string{"ckan-uwsgi"}

// probeSupervisor asks supervisord (XML-RPC over its socket, as
// supervisorctl does) for its state and every program's.
func probeSupervisor(ctx context.Context, c *config) []Result {
	const name = "supervisord"
	s := supervisorTarget(c)
	if s.confErr != nil {
		return result(name, Fail, "cannot read %s: %v", SupervisorConf, s.confErr)
	}
	st, err := s.call(ctx, "supervisor.getState")
	if err != nil {
		return result(name, Fail, "no answer at %s: %s (is supervisord running? `systemctl start supervisor`)", s, netReason(err))
	}
	state := st.member("statename").str()
	if state != "RUNNING" {
		return result(name, Fail, "supervisord is %s", state)
	}
	all, err := s.call(ctx, "supervisor.getAllProcessInfo")
	if err != nil {
		return result(name, Fail, "supervisor.getAllProcessInfo at %s: %s", s, netReason(err))
	}
	var progs []Result
	groups := map[string]bool{}
	for i := range all.Array {
		p := &all.Array[i]
		group, pname := p.member("group").str(), p.member("name").str()
		groups[group] = true
		// supervisorctl's name is group:name; a program's processes
		// (numprocs) are named after it: ckan-uwsgi:ckan-uwsgi-00 is
		// reported as ckan-uwsgi-00.
		full, short := pname, pname
		if group != pname {
			full = group + ":" + pname
			if !strings.HasPrefix(pname, group) {
				short = full
			}
		}
		ps := p.member("statename").str()
		desc := p.member("description").str()
		if se := p.member("spawnerr").str(); se != "" && desc == "" {
			desc = se
		}
		reason := ps
		if desc != "" {
			reason += ": " + desc
		}
		r := Result{Name: "supervisor:" + short, Reason: reason}
		switch ps {
		case "RUNNING":
			r.State = OK
		case "STARTING", "BACKOFF", "STOPPING":
			r.State = Warn
		default: // STOPPED, EXITED, FATAL, UNKNOWN
			r.State = Fail
			r.Reason += fmt.Sprintf(" (`supervisorctl start %s`; its log is in /var/log/ckan)", full)
		}
		progs = append(progs, r)
	}
	sort.SliceStable(progs, func(i, j int) bool { return progs[i].Name < progs[j].Name })
	head := Result{Name: name, State: OK, Reason: fmt.Sprintf("RUNNING, %d programs (%s)", len(progs), s)}
	var missing []string
	for _, g := range requiredPrograms {
		if !groups[g] {
			missing = append(missing, g)
		}
	}
	if len(missing) > 0 {
		head.State = Fail
		head.Reason = fmt.Sprintf("RUNNING without %s: its program file is missing from /etc/supervisor/conf.d (`dcor inspect`)", strings.Join(missing, ", "))
	}
	return append([]Result{head}, progs...)
}
