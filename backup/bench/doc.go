// Package bench measures `dcor encrypted-database-backup` against bare
// `pg_dump -Fc` and against the 2021 way (`pg_dump -Fc > file; gpg
// --encrypt file`) on a generated database whose custom dump is 1 GiB and
// more: wall-time ratios and dcor's peak RSS. It is a test that runs only
// with DCOR_BENCH_BACKUP=1 (make bench-backup); see bench_test.go.
package bench
