# Kubewarden's usual targets. `make example` and `make test` work on a fresh
# machine with only the Rust toolchain: they install what they need.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c

WASM_TARGET := wasm32-wasip1
MODULE      := target/$(WASM_TARGET)/release/kritis_attestation_policy.wasm
HARNESS     := harness/target/debug/policy-harness
GOLDEN      := e2e-tests/golden

.PHONY: all setup harness policy.wasm annotated-policy.wasm example test unit-tests \
        e2e-walkthrough e2e-cosign e2e-keyless policy-repo-tests setup-pyyaml \
        harness-tests bench-tests e2e-tests golden fmt lint bench check-versions clean \
        setup-registry e2e-registry push kwctl-check

all: policy.wasm

setup:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

# Debian packages the tests need. As root they are installed; otherwise the
# target stops with the exact command to run.
APT_INSTALL = DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends
define need-deb
	@command -v $(1) >/dev/null || [ -x /usr/bin/$(1) ] || { \
	  if [ "$$(id -u)" -ne 0 ]; then \
	    echo "missing '$(1)': run  sudo apt-get update && sudo apt-get install -y $(2)  and retry" >&2; exit 1; \
	  fi; \
	  echo "installing $(2) (Debian package)"; \
	  (apt-get update -qq || true) && RUNLEVEL=1 $(APT_INSTALL) $(2) >/dev/null; }
endef

setup-bats:
	$(call need-deb,bats,bats)

# The release module, copied to the root as Kubewarden's policies do, shrunk
# by binaryen's wasm-opt (-Oz, about 11%) with its inlining off: inlining the
# functions the arithmetic keeps apart made RSA verification twice as slow in
# wasmtime. Its features are rustc's for wasm32-wasip1 plus SIMD (`simd128`,
# see .cargo/config.toml), hence `--enable-simd`. binaryen is
# installed as bats is (as root; otherwise the exact command is printed), so
# every machine builds the same module the README and bench/results.md
# describe.
policy.wasm: setup
	$(call need-deb,wasm-opt,binaryen)
	cargo build --locked --release --target $(WASM_TARGET)
	wasm-opt -Oz --always-inline-max-function-size=0 --flexible-inline-max-function-size=0 \
	  --one-caller-inline-max-function-size=0 --enable-bulk-memory --enable-sign-ext \
	  --enable-mutable-globals --enable-nontrapping-float-to-int --enable-multivalue \
	  --enable-reference-types --enable-simd $(MODULE) -o policy.wasm
	@echo "policy.wasm: $$(stat -c %s policy.wasm) bytes"

harness:
	cd harness && cargo build --locked

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

harness-tests: policy.wasm setup-registry
	cd harness && POLICY_WASM=$(CURDIR)/policy.wasm cargo test --locked

e2e-tests: policy.wasm harness setup-bats
	POLICY_WASM=$(CURDIR)/policy.wasm bats e2e-tests/*.bats

# Debian's docker-registry (the CNCF distribution server) for e2e-registry.
# RUNLEVEL=1: the package's init script must not start its own daemon.
setup-registry:
	$(call need-deb,docker-registry,docker-registry)

# A real OCI registry on 127.0.0.1 (free port, temporary storage, always
# stopped): push annotated-policy.wasm, pull it by tag and by digest and run
# a golden case; resolve a tag live (--allow-network), then re-tag it.
e2e-registry: annotated-policy.wasm harness setup-registry
	ANNOTATED_WASM=$(CURDIR)/annotated-policy.wasm bash e2e-tests/registry-e2e.sh

# The README's "Try it locally" walkthrough, run as written (throwaway keys).
setup-pyyaml:
	@python3 -c 'import yaml' 2>/dev/null || { \
	  if [ "$$(id -u)" -ne 0 ]; then \
	    echo "missing PyYAML: run  sudo apt-get update && sudo apt-get install -y python3-yaml  and retry" >&2; exit 1; \
	  fi; \
	  echo "installing python3-yaml (Debian package)"; \
	  (apt-get update -qq || true) && $(APT_INSTALL) python3-yaml >/dev/null; }

e2e-walkthrough: policy.wasm harness setup-pyyaml
	POLICY_WASM=$(CURDIR)/policy.wasm bash e2e-tests/walkthrough.sh

# cosign signatures in a real registry (Debian's docker-registry on
# loopback): signed with the harness, verified by the live host capability
# and by the policy through `run --allow-network`.
e2e-cosign: annotated-policy.wasm harness setup-registry
	ANNOTATED_WASM=$(CURDIR)/annotated-policy.wasm POLICY_WASM=$(CURDIR)/policy.wasm bash e2e-tests/cosign-e2e.sh

# Keyless (Sigstore) signatures: a TEST-ONLY private Sigstore instance, the
# live host (policy-server 1.31's answers, hole included) and the policy.
e2e-keyless: policy.wasm harness setup-registry
	POLICY_WASM=$(CURDIR)/policy.wasm bash e2e-tests/keyless-e2e.sh

# The module on Kubewarden's own evaluator, when kwctl is installed (on PATH,
# or KWCTL=/path/to/kwctl): every golden case through `kwctl run` (host calls
# replayed from a session the harness records; clock-dependent cases under
# Debian's faketime when present), then e2e-registry (kwctl pulls and runs
# the pushed module, resolves a tag live), the admissions of e2e-cosign and
# e2e-keyless through kwctl, and the walkthrough with its `kwctl` blocks.
# Not part of `make test`: kwctl is no build dependency.
kwctl-check: policy.wasm annotated-policy.wasm harness setup-registry setup-pyyaml
	@k="$${KWCTL:-$$(command -v kwctl || true)}"; \
	[ -n "$$k" ] || { echo "kwctl-check: kwctl is not installed (or set KWCTL=/path/to/kwctl)" >&2; exit 2; }; \
	python3 e2e-tests/kwctl-golden.py --kwctl "$$k" \
	&& KWCTL="$$k" ANNOTATED_WASM=$(CURDIR)/annotated-policy.wasm bash e2e-tests/registry-e2e.sh \
	&& KWCTL="$$k" ANNOTATED_WASM=$(CURDIR)/annotated-policy.wasm POLICY_WASM=$(CURDIR)/policy.wasm bash e2e-tests/cosign-e2e.sh \
	&& KWCTL="$$k" POLICY_WASM=$(CURDIR)/policy.wasm bash e2e-tests/keyless-e2e.sh \
	&& PATH="$$(dirname "$$k"):$$PATH" POLICY_WASM=$(CURDIR)/policy.wasm bash e2e-tests/walkthrough.sh

# The policy-as-code example repository's suites, against the module just built;
# and the kritis resources read live (kritisResources) served from their files.
policy-repo-tests: policy.wasm harness
	$(HARNESS) test --module policy.wasm examples/policy-repo
	$(HARNESS) test --module policy.wasm examples/kritis-resources

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

# Everything CI checks: lint, unit tests, the harness's tests (golden cases on
# the compiled module, the loopback registry tests), bats, the real-registry
# tests (policy distribution, cosign signatures, keyless signatures against a
# generated TEST-ONLY Sigstore instance), the walkthrough and the
# policy-as-code examples.
test: lint unit-tests harness-tests bench-tests e2e-tests e2e-registry e2e-cosign e2e-keyless \
      e2e-walkthrough policy-repo-tests check-versions

# The benchmark's own tests, in the harness's target dir (same dependencies,
# built there by harness-tests): among them every scenario's verdict checked
# natively, so a policy change that moves one fails here, not at the next
# `make bench`.
bench-tests:
	cd bench && CARGO_TARGET_DIR=$(CURDIR)/harness/target cargo test --locked

golden:
	python3 e2e-tests/fixtures/generate.py

# Every crate: the policy, the harness, the benchmark, the test kit. The
# benchmark is checked in the harness's target dir (same dependency
# versions, dev profile): no second check of wasmtime.
CRATES := . harness bench testkit

fmt:
	for c in $(CRATES) fuzz; do (cd $$c && cargo fmt --all); done

lint:
	for c in $(CRATES) fuzz; do (cd $$c && cargo fmt --all -- --check); done
	cargo clippy --locked --all-targets -- -D warnings
	cd harness && cargo clippy --locked --all-targets -- -D warnings
	cd bench && CARGO_TARGET_DIR=$(CURDIR)/harness/target cargo clippy --locked --all-targets -- -D warnings
	cd testkit && CARGO_TARGET_DIR=$(CURDIR)/target cargo clippy --locked --all-targets -- -D warnings
	# The API docs: a link that names nothing, or a private item from a
	# public one, fails here rather than in a reader's browser.
	RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps
	cd harness && RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps
	cd bench && RUSTDOCFLAGS="-D warnings" CARGO_TARGET_DIR=$(CURDIR)/harness/target cargo doc --locked --no-deps
	cd testkit && RUSTDOCFLAGS="-D warnings" CARGO_TARGET_DIR=$(CURDIR)/target cargo doc --locked --no-deps

# The benchmark (bench/results.md): the `bench/` crate in its own
# `bench-release` profile (release, no LTO), so the host, wasmtime and the
# native policy are optimised as policy-server is. The first build takes
# ~15-20 minutes on 2 cores; a run about two minutes. Needs the `openssl`
# CLI for the OpenSSL reference. Never part of `make test`.
bench: policy.wasm
	cd bench && cargo run --locked --profile bench-release -- --module $(CURDIR)/policy.wasm --output $(CURDIR)/bench/results.md

check-versions:
	@v=$$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1); \
	grep -q "^version: $$v$$" artifacthub-pkg.yml || { echo "artifacthub-pkg.yml: version differs from Cargo.toml ($$v)"; exit 1; }; \
	grep -q "^  io.kubewarden.policy.version: $$v$$" policy-metadata.yml || { echo "policy-metadata.yml: version differs from Cargo.toml ($$v)"; exit 1; }; \
	grep -q "kritis-attestation-policy:v$$v$$" artifacthub-pkg.yml || { echo "artifacthub-pkg.yml: image tag differs from Cargo.toml ($$v)"; exit 1; }; \
	echo "versions agree: $$v"

clean:
	for c in $(CRATES) fuzz; do (cd $$c && cargo clean); done
	rm -f policy.wasm annotated-policy.wasm
