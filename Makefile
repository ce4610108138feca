# restic-manager build. `make run` and `make test` are the two commands a
# newcomer needs; both install what they need first.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
RESTIC_VERSION := v0.18.1
TOOLS := $(CURDIR)/.tools/bin
export PATH := $(TOOLS):$(PATH)

AGENT_TARGETS := linux/amd64 linux/arm64 windows/amd64 darwin/arm64

.PHONY: all build agents run test bench fuzz lint css tools clean

all: build

build: bin/restic-manager bin/restic-manager-agent agents

bin/restic-manager bin/restic-manager-agent: FORCE
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/$(notdir $@)

# Cross-compiled agents, named dist/restic-manager-agent-OS-ARCH[.exe].
agents:
	@mkdir -p dist
	@for t in $(AGENT_TARGETS); do \
		os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		echo "build dist/restic-manager-agent-$$os-$$arch$$ext"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -ldflags '$(LDFLAGS)' \
			-o dist/restic-manager-agent-$$os-$$arch$$ext ./cmd/restic-manager-agent || exit 1; \
	done

# Runs the server with everything embedded (web, broker, SQLite) on
# http://127.0.0.1:8080, MQTT on 127.0.0.1:1883 and MQTTS on 127.0.0.1:8883.
run: bin/restic-manager bin/restic-manager-agent
	./bin/restic-manager serve --data data

# Installs restic (and, as root on Debian, Chromium) when missing, then runs
# every test. RM_TEST_DISALLOW_SKIP=1 turns "tool missing, skipped" into a failure.
test: tools lint
	go test -race -timeout 20m ./...

# Micro-benchmarks at the default bench time, then the fleet benchmark once per
# size (it starts the real server binary and N real agents).
bench: tools
	go test -run '^$$' -bench . -benchmem $$(go list ./... | grep -v '/cmd/restic-manager$$')
	go test -run '^$$' -bench . -benchtime 1x -timeout 30m ./cmd/restic-manager/

# Runs every fuzz target for FUZZTIME each (the seed corpora also run in `make test`).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$(go list ./...); do \
		for f in $$(go test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; go test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...

# Rebuilds web/static/app.css and the vendored HTMX (needs Node; the outputs
# are committed so `go build` never does).
css:
	cd web && npm ci --no-audit --no-fund && npm run build

tools:
	@bash .ci/install-tools

clean:
	rm -rf bin dist .tools

FORCE:
