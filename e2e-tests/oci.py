"""A small OCI registry client for the real-registry e2e tests.

registry-e2e.sh, cosign-e2e.sh and keyless-e2e.sh talk to Debian's
docker-registry (the CNCF distribution server) that loopback-registry.sh starts
on 127.0.0.1: they push tiny images, read manifests and blobs back, and copy
signature manifests. This module is that client, written once.

Standard library only, on purpose: the CI machine has Python's standard
library and what the scripts install, nothing else (no pip), and the few
registry calls the tests need are plain HTTP.

Two ways to use it:
  * as a command, `python3 oci.py COMMAND ARGS...`, for the commands every
    script needs (see `main`);
  * as a module, `from oci import ...` (the scripts put this folder on
    PYTHONPATH), from a script's own commands, which end with
    `else: main(sys.argv[1:])` so the shared commands stay available.
"""

import base64  # noqa: F401  (`field` expressions use it, e.g. base64.b64decode(r["patch"]))
import hashlib
import io
import json
import socket
import sys
import tarfile
import time
import urllib.request

MANIFEST = "application/vnd.oci.image.manifest.v1+json"

# Responses are read up to this size and refused beyond it: the registry is
# the tests' own, but a wrong URL or a misbehaving server must make a test
# fail with a message, not fill the memory. Everything the tests read back
# (manifests, configs, signature payloads) is a few KiB.
MAX_BODY = 16 * 1024 * 1024

# Seconds a request may take: the registry is on loopback, so anything
# slower is a hang, and the test should say so rather than wait forever.
TIMEOUT = 10


def sha(data):
    """The OCI digest of `data` ("sha256:" and the hex SHA-256)."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def req(method, url, body=None, headers=None):
    """One HTTP request; returns (status, headers as a dict, body bytes).

    HTTP errors raise urllib.error.HTTPError (a test step that expects
    success fails loudly). The body is read at most MAX_BODY bytes: a larger
    one raises ValueError instead of being held in memory.
    """
    r = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(r, timeout=TIMEOUT) as resp:
        data = resp.read(MAX_BODY + 1)
        if len(data) > MAX_BODY:
            raise ValueError(f"{method} {url}: response larger than {MAX_BODY} bytes")
        return resp.status, dict(resp.headers), data


def push_blob(base, repo, data):
    """Upload `data` as a blob of `repo` (monolithic: POST, then PUT with the digest)."""
    _, h, _ = req("POST", f"{base}/v2/{repo}/blobs/uploads/")
    loc = h["Location"]
    if loc.startswith("/"):
        loc = base + loc
    sep = "&" if "?" in loc else "?"
    req("PUT", f"{loc}{sep}digest={sha(data)}", data,
        {"Content-Type": "application/octet-stream"})


def get_manifest(base, repo, ref):
    """The OCI image manifest `repo:ref` (tag or digest): (headers, body bytes)."""
    _, h, body = req("GET", f"{base}/v2/{repo}/manifests/{ref}", None, {"Accept": MANIFEST})
    return h, body


def put_manifest(base, repo, ref, body):
    """Store `body` as the OCI image manifest `repo:ref`; returns the digest the registry names."""
    _, h, _ = req("PUT", f"{base}/v2/{repo}/manifests/{ref}", body, {"Content-Type": MANIFEST})
    return h.get("Docker-Content-Digest")


def blob(base, repo, digest):
    """The bytes of blob `digest` of `repo`."""
    return req("GET", f"{base}/v2/{repo}/blobs/{digest}")[2]


def sig_tag(digest):
    """The tag cosign stores an image's signatures under: sha256-<hex>.sig."""
    return digest.replace(":", "-") + ".sig"


def load(path, default):
    """The JSON in `path`, or `default` when the file does not exist yet."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def free_port():
    """A TCP port free on 127.0.0.1 right now (the caller retries if it is taken meanwhile)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait(base):
    """Wait until the registry at `base` answers /v2/ (10 s); exit with a message otherwise."""
    for _ in range(100):
        try:
            req("GET", base + "/v2/")
            return
        except Exception:
            time.sleep(0.1)
    sys.exit("registry did not start")


def push_image(base, repo, tag, text):
    """Push a tiny OCI image (one layer: hello.txt holding `text`) as `repo:tag`; returns its digest.

    Deterministic (mtime 0, compact JSON): the same text gives the same digest.
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        data = text.encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        info.mtime = 0
        t.addfile(info, io.BytesIO(data))
    layer = buf.getvalue()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha(layer)]}},
                        separators=(",", ":")).encode()
    push_blob(base, repo, layer)
    push_blob(base, repo, config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha(layer), "size": len(layer)}]},
        separators=(",", ":")).encode()
    named = put_manifest(base, repo, tag, manifest)
    assert named == sha(manifest), f"the registry names the manifest {named}, not {sha(manifest)}"
    return sha(manifest)


def field(expr, lines):
    """`expr` evaluated with `r` = the last line of `lines` that is a JSON object.

    The scripts pass the harness's output (logs, then the response) and
    expressions such as 'r["allowed"]'; `json` and `base64` are at hand.
    """
    r = None
    for line in lines:
        line = line.strip()
        if line.startswith("{"):
            try:
                r = json.loads(line)
            except ValueError:
                pass
    # One namespace (not globals plus locals), so that `r` is seen inside
    # comprehensions in `expr` too, as at a module's top level.
    return eval(expr, {**globals(), "r": r})


def pod(template, image):
    """The AdmissionReview `template` made to create a Pod running `image`, without annotations.
    With its `kind` and `apiVersion`, as the API server sends it: kwctl unwraps `request`
    only from an object of kind AdmissionReview."""
    with open(template) as f:
        review = json.load(f)
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", **review}
    review["request"]["object"]["spec"]["containers"][0]["image"] = image
    review["request"]["object"]["metadata"].pop("annotations", None)
    review["request"]["oldObject"] = None
    return review


def main(argv):
    """The commands every script uses:

      free-port                     a free TCP port on 127.0.0.1
      wait BASE                     until BASE/v2/ answers (10 s)
      push-image BASE REPO TAG TEXT a tiny OCI image; prints its digest
      field EXPR < output           EXPR on the last JSON object line `r`
      pod TEMPLATE IMAGE            an AdmissionReview creating a Pod with IMAGE
    """
    cmd, args = argv[0], argv[1:]
    if cmd == "free-port":
        print(free_port())
    elif cmd == "wait":
        wait(args[0])
    elif cmd == "push-image":
        print(push_image(*args))
    elif cmd == "field":
        print(field(args[0], sys.stdin))
    elif cmd == "pod":
        print(json.dumps(pod(*args)))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv[1:])
