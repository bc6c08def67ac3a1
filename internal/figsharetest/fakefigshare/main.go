// Command fakefigshare serves figsharetest's fake figshare from a JSON
// list of articles (figsharetest.Article, files by path) on an address,
// for tests that run dcor where the test process cannot listen (the DCOR
// stack's network namespace). It prints its URL on the first line of
// standard output and serves until killed.
//
//	fakefigshare -spec articles.json -addr 127.0.0.1:0
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/DCOR-dev/dcor/internal/figsharetest"
)

func main() {
	spec := flag.String("spec", "", "JSON `FILE` with the articles")
	addr := flag.String("addr", "127.0.0.1:0", "listen `ADDRESS`")
	flag.Parse()
	data, err := os.ReadFile(*spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakefigshare:", err)
		os.Exit(1)
	}
	var arts []*figsharetest.Article
	if err := json.Unmarshal(data, &arts); err != nil {
		fmt.Fprintln(os.Stderr, "fakefigshare:", err)
		os.Exit(1)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakefigshare:", err)
		os.Exit(1)
	}
	s := figsharetest.New(arts...)
	s.URL = "http://" + l.Addr().String()
	fmt.Println(s.URL)
	if err := http.Serve(l, s); err != nil {
		fmt.Fprintln(os.Stderr, "fakefigshare:", err)
		os.Exit(1)
	}
}
