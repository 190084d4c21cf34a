# Kubewarden's usual targets. `make example` and `make test` work on a fresh
# machine with only the Rust toolchain: they install what they need.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c

WASM_TARGET := wasm32-wasip1
MODULE      := target/$(WASM_TARGET)/release/kritis_attestation_policy.wasm
HARNESS     := e2e-tests/target/debug/policy-harness
GOLDEN      := e2e-tests/golden

.PHONY: all setup harness policy.wasm annotated-policy.wasm example test unit-tests \
        harness-tests e2e-tests golden fmt lint bench check-versions clean \
        setup-registry e2e-registry push

all: policy.wasm

setup:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

setup-bats:
	@command -v bats >/dev/null || { \
	  echo "installing bats (Debian package)"; \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bats >/dev/null; }

# The release module, copied to the root as Kubewarden's policies do.
policy.wasm: setup
	cargo build --locked --release --target $(WASM_TARGET)
	cp $(MODULE) policy.wasm
	@echo "policy.wasm: $$(stat -c %s policy.wasm) bytes"

harness:
	cd e2e-tests && cargo build --locked

# The metadata embedded the way `kwctl annotate` does it.
annotated-policy.wasm: policy.wasm harness
	if command -v kwctl >/dev/null; then \
	  kwctl annotate -m policy-metadata.yml -u README.md -o annotated-policy.wasm policy.wasm; \
	else \
	  $(HARNESS) annotate --metadata-path policy-metadata.yml --usage-path README.md \
	    --output-path annotated-policy.wasm policy.wasm; \
	fi

# Builds the policy and runs two admissions through the harness: an attested
# Pod (allowed) and a Pod referencing a tag (denied).
example: policy.wasm harness
	@for c in pod-attested-digest pod-tag-not-attested; do \
	  echo "== $$c: image $$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["request"]["object"]["spec"]["containers"][0]["image"])' $(GOLDEN)/$$c/request.json)"; \
	  $(HARNESS) run --settings-path $(GOLDEN)/$$c/settings.json \
	    --request-path $(GOLDEN)/$$c/request.json policy.wasm; \
	  echo; \
	done

unit-tests:
	cargo test --locked

harness-tests: policy.wasm
	cd e2e-tests && POLICY_WASM=$(CURDIR)/policy.wasm cargo test --locked

e2e-tests: policy.wasm harness setup-bats
	POLICY_WASM=$(CURDIR)/policy.wasm bats e2e-tests/*.bats

# Debian's docker-registry (the CNCF distribution server) for e2e-registry.
# RUNLEVEL=1: the package's init script must not start its own daemon.
setup-registry:
	@command -v docker-registry >/dev/null || [ -x /usr/bin/docker-registry ] || { \
	  echo "installing docker-registry (Debian package)"; \
	  (apt-get update -qq || true) && RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends docker-registry >/dev/null; }

# A real OCI registry on 127.0.0.1 (free port, temporary storage, always
# stopped): push annotated-policy.wasm, pull it by tag and by digest and run
# a golden case; resolve a tag live (--allow-network), then re-tag it.
e2e-registry: annotated-policy.wasm harness setup-registry
	ANNOTATED_WASM=$(CURDIR)/annotated-policy.wasm bash e2e-tests/registry-e2e.sh

# Publish annotated-policy.wasm: make push REGISTRY=host[:port]/path [TAG=v1.2.3]
# (TAG defaults to v<crate version>; a tag or digest in REGISTRY is kept).
push: annotated-policy.wasm
	@[ -n "$(REGISTRY)" ] || { echo "usage: make push REGISTRY=host[:port]/path [TAG=...]" >&2; exit 2; }
	@ref="$(REGISTRY)"; ref="$${ref#registry://}"; tag="$(TAG)"; \
	[ -n "$$tag" ] || tag="v$$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"; \
	case "$${ref##*/}" in *:*|*@*) ;; *) ref="$$ref:$$tag" ;; esac; \
	if command -v kwctl >/dev/null; then \
	  echo "kwctl push annotated-policy.wasm registry://$$ref"; \
	  kwctl push annotated-policy.wasm "registry://$$ref"; \
	else \
	  echo "policy-harness push annotated-policy.wasm registry://$$ref"; \
	  $(HARNESS) push annotated-policy.wasm "registry://$$ref"; \
	fi

# Everything: unit tests, the harness's tests (golden cases on the compiled
# module) and the bats end-to-end tests.
test: unit-tests harness-tests e2e-tests e2e-registry check-versions

golden:
	python3 e2e-tests/fixtures/generate.py

fmt:
	cargo fmt --all
	cd e2e-tests && cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --locked --all-targets -- -D warnings
	cd e2e-tests && cargo fmt --all -- --check && cargo clippy --locked --all-targets -- -D warnings

# The benchmark of issue 7 (bench/results.md). The harness is built in its
# dev profile on purpose (a release wasmtime takes far too long to build);
# e2e-tests/Cargo.toml optimises wasmtime's runtime (instantiation, host
# libcalls) and the policy crate (native comparison) even in that profile.
# Needs the `openssl` CLI for the OpenSSL reference; about a minute once
# built (2 cores).
bench: policy.wasm
	cd e2e-tests && cargo run --locked -- bench --module $(CURDIR)/policy.wasm --output $(CURDIR)/bench/results.md

check-versions:
	@v=$$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1); \
	grep -q "^version: $$v$$" artifacthub-pkg.yml || { echo "artifacthub-pkg.yml: version differs from Cargo.toml ($$v)"; exit 1; }; \
	grep -q "^  io.kubewarden.policy.version: $$v$$" policy-metadata.yml || { echo "policy-metadata.yml: version differs from Cargo.toml ($$v)"; exit 1; }; \
	grep -q "kritis-attestation-policy:v$$v$$" artifacthub-pkg.yml || { echo "artifacthub-pkg.yml: image tag differs from Cargo.toml ($$v)"; exit 1; }; \
	echo "versions agree: $$v"

clean:
	cargo clean
	cd e2e-tests && cargo clean
	rm -f policy.wasm annotated-policy.wasm
