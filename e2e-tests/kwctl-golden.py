#!/usr/bin/env python3
"""The golden cases through the real `kwctl run`, when kwctl is installed.

    python3 e2e-tests/kwctl-golden.py [--kwctl PATH] [--only NAME,...]

The harness runs every golden case in `make test`; this runs them again
through Kubewarden's own evaluator, so that a difference between the
harness's host and policy-evaluator's shows up as a failing case. A case's
host calls are replayed: the harness records its fixtures as a kwctl
session (`run --record-host-capabilities-interactions`), and kwctl replays
it (`--replay-host-capabilities-interactions`), so kwctl's answers are the
fixtures' in kwctl's own wire format. The module is the annotated one
(`make annotated-policy.wasm`), run with `--allow-context-aware` (the live
kritis cases list resources).

A case whose `expected.json` sets `now` needs the clock at that time: it is
run under libfaketime (`faketime`, Debian's `faketime` package) when that is
installed, and skipped otherwise. Cases that compare `hostCalls` are
compared on everything else (kwctl does not count host calls). A host
error quoted in a message carries policy-evaluator's prefix under kwctl
(`Callback evaluation failure: `), not under the harness's fixtures: a
needle is accepted with or without it.

Exit status: 0 when every case run agrees, 1 otherwise; 0 with a notice
when kwctl is not installed (the check is optional: kwctl is not a build
dependency).
"""
import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(ROOT, "e2e-tests", "golden")
HARNESS = os.environ.get("HARNESS", os.path.join(ROOT, "harness", "target", "debug", "policy-harness"))
CALLBACK_FAILURE = "Callback evaluation failure: "
MODULE = os.environ.get("POLICY_WASM", os.path.join(ROOT, "annotated-policy.wasm"))


def response_of(stdout):
    """kwctl prints the AdmissionResponse (or a review holding one)."""
    start = stdout.find("{")
    if start < 0:
        return None
    doc = json.loads(stdout[start:])
    return doc.get("response", doc)


def compare(expected, response, settings_error):
    problems = []
    if expected.get("settingsValid") is False:
        if settings_error is None:
            return ["settings: expected invalid, kwctl accepted them"]
        for needle in expected.get("messageContains", []):
            if needle not in settings_error:
                problems.append(f"settings message: expected to contain {needle!r}: {settings_error}")
        return problems
    if settings_error is not None:
        return [f"settings refused: {settings_error}"]
    if response is None:
        return ["no AdmissionResponse in kwctl's output"]
    message = (response.get("status") or {}).get("message", "")
    if "allowed" in expected and response.get("allowed") != expected["allowed"]:
        problems.append(f"allowed: expected {expected['allowed']}, got {response.get('allowed')}: {message}")
    for needle in expected.get("messageContains", []):
        # A fixture's error is the host's text as the harness gives it;
        # policy-evaluator puts its prefix before every callback error.
        real = needle.replace("(host: ", "(host: " + CALLBACK_FAILURE)
        if needle not in message and real not in message:
            problems.append(f"message: expected to contain {real!r}: {message}")
    for needle in expected.get("messageNotContains", []):
        if needle in message:
            problems.append(f"message: expected NOT to contain {needle!r}: {message}")
    warnings = response.get("warnings") or []
    if "warnings" in expected and warnings != expected["warnings"]:
        problems.append(f"warnings: expected {expected['warnings']}, got {warnings}")
    for needle in expected.get("warningsContain", []):
        if not any(needle in w for w in warnings):
            problems.append(f"warnings: expected one to contain {needle!r}: {warnings}")
    keys = sorted((response.get("auditAnnotations") or {}).keys())
    if "auditAnnotationKeys" in expected and keys != sorted(expected["auditAnnotationKeys"]):
        problems.append(f"auditAnnotations: expected keys {expected['auditAnnotationKeys']}, got {keys}")
    if "patch" in expected:
        patch = response.get("patch")
        got = json.loads(base64.b64decode(patch)) if patch else None
        if got != expected["patch"]:
            problems.append(f"patch: expected {expected['patch']}, got {got}")
    return problems


def run_case(kwctl, faketime, name, work):
    case = os.path.join(GOLDEN, name)
    expected = json.load(open(os.path.join(case, "expected.json")))
    settings = os.path.join(case, "settings.json")
    if not os.path.exists(settings):
        settings = os.path.join(case, "settings-invalid.json")
    request = os.path.join(case, "request.json")
    prefix = []
    now = expected.get("now")
    if now == "none":
        return "skipped (a clock that refuses cannot be given to kwctl)", []
    if now is not None:
        if faketime is None:
            return "skipped (needs faketime for now=" + now + ")", []
        # Frozen at that second (no "@"): an expiry "in 1 day" stays one day.
        prefix = [faketime, "-f", now.replace("T", " ").rstrip("Z")]
    args = [kwctl, "run", "-s", settings, "-r", request]
    caps = os.path.join(case, "host-capabilities.json")
    if os.path.exists(caps):
        # Without a session kwctl would look for a cluster to grant.
        args.append("--allow-context-aware")
        session = os.path.join(work, name + ".yml")
        record = [HARNESS, "run", MODULE, "-s", settings, "-r", request, "--allow-context-aware",
                  "--host-capabilities", caps, "--record-host-capabilities-interactions", session]
        if now is not None:
            record += ["--now", now]
        subprocess.run(record, capture_output=True, text=True, timeout=120)
        if not os.path.exists(session):
            return "failed", ["the harness recorded no session"]
        args += ["--replay-host-capabilities-interactions", session]
    # Only the wall clock is faked (what WASI's realtime clock reads):
    # kwctl's timers run on the monotonic clock and hang if it stops.
    env = dict(os.environ, TZ="UTC", NO_COLOR="1", RUST_BACKTRACE="0", RUST_LIB_BACKTRACE="0",
               FAKETIME_DONT_FAKE_MONOTONIC="1")
    done = subprocess.run(prefix + args + [MODULE], capture_output=True, text=True, timeout=300, env=env)
    settings_error = None
    if done.returncode != 0:
        marker = "Provided settings are not valid: "
        if marker not in done.stderr:
            return "failed", [f"kwctl exited {done.returncode}: {done.stderr.strip()[-2000:]}"]
        settings_error = done.stderr[done.stderr.index(marker) + len(marker):]
    response = None
    if settings_error is None:
        try:
            response = response_of(done.stdout)
        except ValueError as err:
            return "failed", [f"unreadable output ({err}): {done.stdout[:500]}"]
    problems = compare(expected, response, settings_error)
    return ("failed" if problems else "passed"), problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kwctl", default=shutil.which("kwctl"))
    parser.add_argument("--only", default="")
    opts = parser.parse_args()
    if not opts.kwctl:
        print("kwctl-golden: kwctl is not installed: nothing checked")
        return 0
    for path in (HARNESS, MODULE):
        if not os.path.exists(path):
            print(f"kwctl-golden: missing {path} (make harness annotated-policy.wasm)", file=sys.stderr)
            return 1
    faketime = shutil.which("faketime")
    names = sorted(n for n in os.listdir(GOLDEN) if os.path.isdir(os.path.join(GOLDEN, n)))
    if opts.only:
        wanted = set(opts.only.split(","))
        names = [n for n in names if n in wanted]
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    with tempfile.TemporaryDirectory() as work:
        for name in names:
            outcome, problems = run_case(opts.kwctl, faketime, name, work)
            counts[outcome.split()[0]] += 1
            if outcome != "passed":
                print(f"{name}: {outcome}")
                for p in problems:
                    print(f"    {p}")
    print(f"kwctl-golden: {len(names)} case(s): {counts['passed']} passed, "
          f"{counts['failed']} failed, {counts['skipped']} skipped")
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
