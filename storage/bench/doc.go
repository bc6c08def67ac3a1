// Package bench measures how fast `dcor inspect --only orphans --check`
// scans a large DCOR resource tree, against `find … | wc -l` over the same
// warm tree: 200 000 resources with both ancillary files (about 630 000
// files and links), 1 % orphans, 1 % garbage files, 10 % of the resources
// symlinked into a users depot, and the matching CKAN database in a
// private PostgreSQL cluster. It also times the database query for the ids
// of the live resources. It is a test that runs only with
// DCOR_BENCH_SCAN=1 (make bench-scan); see bench_test.go.
package bench
