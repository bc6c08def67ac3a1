# dcor — see README.md. `make demo` and `make test` work on a fresh
# Debian/Ubuntu machine as root.
GO      ?= go
BIN     := bin/dcor
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# make install: $(DESTDIR)$(PREFIX)/bin/dcor, man pages, shell completion
PREFIX  ?= /usr/local
DESTDIR ?=
# Debian packages the tests run for real (see scripts/deps.sh)
export PATH := $(PATH):/usr/sbin:/sbin

.PHONY: all build demo test deps vet fmt-check unit bench-inspect bench-backup bench-s3 bench-scan bench-update bench-reset clean release install deps-release stack stack-stop test-seed

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/dcor

# A drifted sample host in a temp dir: check it, fix it with diffs, check it clean.
demo: deps-build build
	@scripts/demo.sh $(BIN)

deps-build:
	@scripts/deps.sh build

deps:
	@scripts/deps.sh all

deps-release:
	@scripts/deps.sh release

# The static binary (no shared library at all), the .deb (binary, man pages,
# completion, /etc/dcor/, the nightly backup's systemd units, disabled) and
# SHA256SUMS, in dist/; the version is `git describe`. The build flags live
# in scripts/release.sh only (the tests of release/ run it too).
release: deps-release
	@scripts/release.sh dist

# Source install of the binary built here (it uses this machine's shared
# HDF5 library; for another server use make release's static binary or .deb).
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/dcor
	$(BIN) man --dir $(DESTDIR)$(PREFIX)/share/man/man8 >/dev/null
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	$(BIN) completion bash >$(DESTDIR)$(PREFIX)/share/bash-completion/completions/dcor
	$(BIN) completion zsh >$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_dcor
	$(BIN) completion fish >$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/dcor.fish

# Every test, against the real PostgreSQL, gpg, nginx, supervisord and python3,
# and against the real DCOR stack (stack/), which this target starts before the
# tests and stops after them; then the seed lane (CKAN 2.9.8) and the stack
# tests that apply to it (test-seed). A stack that cannot be built makes its
# tests skip, or fail under CI=true.
test: deps vet fmt-check
	@stack/stack.sh up || echo "make test: the DCOR stack did not come up: its tests skip (fail with CI=true)"
	@status=0; wh=$$(stack/wheelhouse.sh) || echo "make test: the wheelhouse of dcor update's real test was not built: it skips (fails with CI=true)"; \
	DCOR_WHEELHOUSE=$$wh $(GO) test -race -count=1 -timeout 40m ./... || status=$$?; \
	stack/stack.sh down; \
	stack/stack.sh up --lane 2.9 || echo "make test: the seed lane (CKAN 2.9) did not come up: its tests skip (fail with CI=true)"; \
	$(TEST_SEED) || status=$$?; \
	stack/stack.sh down --lane 2.9; exit $$status

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Median wall time of `dcor inspect --check` on the sample host (README).
bench-inspect: build
	@scripts/bench-inspect.sh $(BIN)

# Backup of a >= 1 GiB and a 2 GiB dump: ratios to bare pg_dump and to the
# 2021 way (pg_dump > file; gpg --encrypt), dcor's peak RSS. ~25 minutes.
# DCOR_BENCH_GIB=1,2  DCOR_BENCH_REPEAT=2  DCOR_BENCH_STRICT=1 (fail on a missed target)
bench-backup: deps
	DCOR_BENCH_BACKUP=1 $(GO) test -count=1 -v -timeout 240m -run TestBenchBackup ./backup/bench/

# Off-site backups against a local S3 server (Versity Gateway, built once into
# /var/cache/dcor-test/bin): a >= 1 GiB dump with --s3 --no-local against bare
# pg_dump, peak RSS; the instance backup against pg_dump > f; tar | gpg. ~10 minutes.
# DCOR_BENCH_GIB=1  DCOR_BENCH_TREE_GIB=1
bench-s3: deps
	DCOR_BENCH_S3=1 $(GO) test -count=1 -v -timeout 120m -run TestBenchS3 ./backup/bench/

# `dcor inspect --only orphans --check` against `find | wc -l` on a warm tree of
# 200 000 resources (~630 000 files and links, 1 % orphans) and its database.
# DCOR_BENCH_RESOURCES=200000  DCOR_BENCH_REPEAT=3  DCOR_BENCH_STRICT=1 (fail above 1.5× find)
bench-scan: deps build
	DCOR_BENCH_SCAN=1 $(GO) test -count=1 -v -timeout 120m -run TestBenchScan ./storage/bench/

# `dcor update --check` on an up-to-date virtualenv (CKAN 2.11.5 and the DCOR
# packages of stack/wheelhouse.lock, one editable from git; real pip, real
# PyPI packages from the local index stack/wheelhouse.sh builds once) against
# dcor_control's two pip processes per package, median of 5 each. ~3 minutes.
bench-update: deps
	@wh=$$(stack/wheelhouse.sh) && out=$$(mktemp) && { DCOR_WHEELHOUSE=$$wh DCOR_BENCH_UPDATE=1 \
	  $(GO) test -count=1 -v -timeout 30m -run TestUpdateRealPackages ./cmd/dcor/ >$$out 2>&1; s=$$?; \
	  grep -E 'BENCH|median of 5|^(--- |ok|FAIL)' $$out; [ $$s = 0 ] || tail -40 $$out; rm -f $$out; exit $$s; }

# `dcor reset --datasets -y` on 1 000 datasets of a side CKAN on the running stack
# (make stack) against 20 x `ckan dataset purge ID`, extrapolated (README). ~15 minutes.
# DCOR_BENCH_DATASETS=1000  DCOR_BENCH_PURGES=20  DCOR_BENCH_STRICT=1 (fail above 60 s)
bench-reset:
	DCOR_BENCH_RESET=1 $(GO) test -count=1 -v -timeout 120m -run TestBenchResetDatasets ./stack/

# A real DCOR host (CKAN 2.11.5, Solr, Redis, PostgreSQL, uWSGI under
# supervisord, nginx with TLS) in a private mount and network namespace;
# writes .stack/env. Caches in /var/cache/dcor-stack (README, "The real stack").
# LANE=2.9: the seed lane (CKAN 2.9.8, the newest 2.9 that serves symlinked
# resource files, with the 2022 DCOR extensions, pyenv's Python 3.8) in
# .stack-2.9/, beside a running 2.11 stack; make test-seed.
LANE ?= 2.11
stack:
	@stack/stack.sh up --lane $(LANE)

stack-stop:
	@stack/stack.sh down --lane $(LANE)

# The stack tests that apply to CKAN 2.9 against the seed lane (make stack LANE=2.9):
# inspect, access tokens, import-figshare's symlinked depot files and every flag of reset.
TEST_SEED = DCOR_STACK_ENV=$(CURDIR)/.stack-2.9/env $(GO) test -count=1 -timeout 20m \
	-run 'TestInspectOnTheStack|TestAccessTokenOnTheStack|TestImportFigshareOnTheStack|TestResetOnTheStack' ./stack/
test-seed:
	$(TEST_SEED)

clean:
	rm -rf bin dist
