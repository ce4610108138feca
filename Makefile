# restic-manager build. `make run` and `make test` are the two commands a
# newcomer needs; both install what they need first.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
RESTIC_VERSION := v0.18.1
TOOLS := $(CURDIR)/.tools/bin
export PATH := $(TOOLS):$(PATH)

# The agents the server hands to machines (GET /agent/binary); linux/arm is
# 32-bit ARM, built for ARMv7.
AGENT_TARGETS := linux/amd64 linux/arm64 linux/arm windows/amd64 windows/arm64 darwin/amd64 darwin/arm64

.PHONY: all build agents run test bench loadgen fuzz lint lint-install lint-platforms css tools clean

all: build

build: bin/restic-manager bin/restic-manager-agent agents

bin/restic-manager bin/restic-manager-agent bin/restic-manager-loadgen: FORCE
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/$(notdir $@)

# Cross-compiled agents, named dist/restic-manager-agent-OS-ARCH[.exe], and
# dist/VERSION, the version they were built as: the server serves them from
# dist/ (serve --agents-dir) and reads their version there instead of
# running them. Each is built aside and renamed, so a running server never
# serves a half-written binary.
agents:
	@mkdir -p dist
	@for t in $(AGENT_TARGETS); do \
		os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		out=dist/restic-manager-agent-$$os-$$arch$$ext; \
		echo "build $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=7 go build -trimpath -ldflags '$(LDFLAGS)' \
			-o $$out.tmp ./cmd/restic-manager-agent && mv -f $$out.tmp $$out || exit 1; \
	done
	@echo '$(VERSION)' > dist/VERSION

# Runs the server with everything embedded (web, broker, SQLite) on
# http://127.0.0.1:8080, MQTT on 127.0.0.1:1883 and MQTTS on 127.0.0.1:8883,
# serving the agents for install.sh and install.ps1 from dist/. ARGS goes to
# serve after --data data, so it may override it too:
# make run ARGS='--http 127.0.0.1:8081' (serve --help lists the flags).
ARGS ?=
run: bin/restic-manager bin/restic-manager-agent agents
	./bin/restic-manager serve --data data $(ARGS)

# Installs restic (and, as root on Debian, Chromium) when missing, then runs
# every test. RM_TEST_DISALLOW_SKIP=1 turns "tool missing, skipped" into a failure.
# The output is one line per package, the whole output of each failed test,
# and at the end the 10 slowest tests (.ci/testreport).
# The race detector watches our code and every dependency but three pure
# computations (docs/DECISIONS.md, #12.6): modernc.org's SQLite and libc, C
# translated to Go (checkptr off for all of modernc.org: half the CPU of the
# web and server tests), and the argon2id hash (its 64 MiB, mapped again in
# the detector's shadow memory, was half the server tests' system time). Only
# packages that define no generic or shared code may leave the race build: the
# linker keeps one copy of such code, and an uninstrumented one hides every
# caller's synchronisation from the detector (modernc.org/sqlite's sync.Map
# did: false races in encoding/json). RACEGCFLAGS goes in GOFLAGS, so the
# binaries the tests build (the server's race build in cmd/restic-manager)
# reuse the packages go test compiled.
RACEGCFLAGS ?= -gcflags=modernc.org/...=-d=checkptr=0 -gcflags=modernc.org/sqlite/lib=-race=false \
	-gcflags=modernc.org/libc=-race=false -gcflags=modernc.org/memory=-race=false \
	-gcflags=golang.org/x/crypto/argon2=-race=false -gcflags=golang.org/x/crypto/blake2b=-race=false
# The server package runs a second time on PostgreSQL (RM_TEST_DB=postgres:
# its tests start a private cluster; without PostgreSQL installed they skip,
# docs/postgres.md), beside the main run rather than after it (its output,
# kept in a file, follows the main run's so the two don't interleave).
# -trimpath: like the vets below, so a clone or worktree reuses the test
# builds of the same sources instead of keying every package of ours by its
# directory (about 90 s of CPU to build and link the test binaries again in a
# fresh clone). -count=1, because with paths trimmed a second run of the same
# sources could otherwise replay cached results instead of running the tests.
TESTFLAGS ?= -race -count=1 -trimpath
test: SHELL := /bin/bash
test: tools lint
	set -o pipefail; export GOFLAGS="$$GOFLAGS $(RACEGCFLAGS)"; pg=$$(mktemp); \
	{ RM_TEST_DB=postgres go test $(TESTFLAGS) -json -timeout 20m ./server >$$pg & pgpid=$$!; \
		go test $(TESTFLAGS) -json -timeout 20m ./...; all=$$?; wait $$pgpid; pgrc=$$?; \
		cat $$pg; rm -f $$pg; [ $$all -eq 0 ] && [ $$pgrc -eq 0 ]; } | go run .ci/testreport/main.go

# Micro-benchmarks at the default bench time, then the end-to-end benchmarks
# once each; BenchmarkFleet runs the load generator at the CI-sized case (200
# simulated agents in 2 processes, every scenario briefly) against the real
# server binary.
bench: tools
	go test -run '^$$' -bench . -benchmem $$(go list ./... | grep -v '/cmd/restic-manager$$')
	go test -run '^$$' -bench . -benchtime 1x -timeout 30m ./cmd/restic-manager/

# The load generator (docs/scale.md): simulated agents and API clients
# against the real server, printing issue #15's figures. ARGS goes to it,
# e.g. make loadgen ARGS='--spawn --agents 1000 --procs 4'; without ARGS it
# spawns a server and runs every scenario at its default size.
loadgen: bin/restic-manager bin/restic-manager-loadgen
	./bin/restic-manager-loadgen $(or $(ARGS),--spawn)

# Runs every fuzz target for FUZZTIME each (the seed corpora also run in `make test`).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$(go list ./...); do \
		for f in $$(go test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; go test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

lint: lint-install lint-platforms
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet -trimpath ./...
	@if command -v shellcheck >/dev/null 2>&1; then shellcheck install/*.sh; \
	elif [ -n "$$RM_TEST_DISALLOW_SKIP" ]; then echo "shellcheck is missing (apt-get install shellcheck)"; exit 1; \
	else echo "lint: shellcheck is missing, install/*.sh not checked (apt-get install shellcheck)"; fi

# install.ps1 through a real PowerShell parser (the tree-sitter grammar from
# npm) and the check that it never changes a scheduled task.
lint-install:
	@bash .ci/check-install-ps1

# The agent also runs on Windows and macOS: vet there too, and compile every
# agent target, so that no platform-specific file can rot. go list -export
# compiles each package of the agent, main too, with make agents' flags (the
# same build cache entries) but does not link: seven links of a pure-Go
# binary were most of this step's CPU with a warm cache and checked nothing
# the compiler had not (make agents and the tests link for real).
# The vets here and in lint use -trimpath: without it the build cache keys
# every package of ours by its directory, so a fresh clone compiled the whole
# tree again for each vet (35 s of CPU for go vet ./... alone); trimmed, a
# clone reuses whatever an earlier checkout compiled of the same sources (the
# agent targets above use -trimpath already).
lint-platforms:
	GOOS=windows go vet -trimpath ./...
	GOOS=darwin go vet -trimpath ./agent/... ./cmd/restic-manager-agent
	@for t in $(AGENT_TARGETS); do \
		os=$${t%/*}; arch=$${t#*/}; echo "compile $$t (to check it builds)"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=7 go list -trimpath -export -f '{{.Export}}' ./cmd/restic-manager-agent >/dev/null || exit 1; \
	done

# Rebuilds web/static/app.css and the vendored HTMX (needs Node; the outputs
# are committed so `go build` never does).
css:
	cd web && npm ci --no-audit --no-fund && npm run build

tools:
	@bash .ci/install-tools

clean:
	rm -rf bin dist .tools

FORCE:
