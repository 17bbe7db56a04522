#!/bin/bash
# Builds the connector's container image with shared/tools/container and checks it:
#   - `spec` prints exactly one SPEC message (every stdout line is JSON);
#   - image metadata: absolute ENTRYPOINT equal to $AIRBYTE_ENTRYPOINT, io.airbyte.name/version labels
#     (version equal to project(VERSION) in CMakeLists.txt), USER airbyte, WORKDIR /airbyte;
#   - it runs as airbyte (uid 1000) with a writable /airbyte, and carries no build tools or headers;
#   - it stays under $SP_IMAGE_MAX_MB (default 250) megabytes;
#   - an SSH tunnel opens from inside it, as airbyte: `check` through a throwaway sshd on the host
#     logs in with a key and reports the database port it forwards to (closed) as the jump server
#     saw it;
#   - with SP_TEST_CONFIG=/path/to/config.json, `check --config /secrets/<name>` returns a
#     CONNECTION_STATUS message (and its status equals $SP_TEST_EXPECT_STATUS when that is set).
#
# Env: SP_SHARED_DIR (default: shared/ beside the repo), SP_IMAGE_TAG (default source-postgres:test),
#      SP_SKIP_BUILD=1 to test an image already built under SP_IMAGE_TAG.
# Needs root (podman/buildah with chroot isolation; the container tool installs them with apt).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SHARED_DIR="${SP_SHARED_DIR:-$REPO_ROOT/../shared}"
CONTAINER="$SHARED_DIR/tools/container"
TAG="${SP_IMAGE_TAG:-source-postgres:test}"
MAX_MB="${SP_IMAGE_MAX_MB:-250}"

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
finish() {
  echo "$passed passed, $failed failed"
  if ((failed > 0)); then exit 1; fi
  exit 0
}

WORK=$(mktemp -d /tmp/sp-image-test.XXXXXX)
CTR=""
cleanup() {
  [[ -n $CTR ]] && buildah rm "$CTR" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

if [[ ! -x $CONTAINER ]]; then
  fail "container tool not found at $CONTAINER (set SP_SHARED_DIR)"
  finish
fi

# --- build ---------------------------------------------------------------------------------
if [[ ${SP_SKIP_BUILD:-0} != 1 ]]; then
  start=$SECONDS
  if "$CONTAINER" build "$TAG" "$REPO_ROOT" >"$WORK/build.log" 2>&1; then
    pass "image $TAG built in $((SECONDS - start))s"
  else
    tail -n 40 "$WORK/build.log" >&2
    fail "image build failed (see above)"
    finish
  fi
fi
if ! podman image exists "$TAG"; then
  fail "image $TAG does not exist"
  finish
fi

# --- spec ----------------------------------------------------------------------------------
if "$CONTAINER" run "$TAG" spec >"$WORK/spec.out" 2>"$WORK/spec.err"; then
  if msg=$(python3 - "$WORK/spec.out" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1]).read().splitlines() if l.strip()]
msgs = []
for l in lines:
    try:
        msgs.append(json.loads(l))
    except ValueError:
        sys.exit("stdout line is not JSON: %.200s" % l)
specs = [m for m in msgs if isinstance(m, dict) and m.get("type") == "SPEC"]
if len(specs) != 1:
    sys.exit("expected exactly one SPEC message, got %d (of %d lines)" % (len(specs), len(lines)))
cs = specs[0].get("spec", {}).get("connectionSpecification")
if not isinstance(cs, dict):
    sys.exit("SPEC message has no spec.connectionSpecification object")
print("one SPEC message, %d properties" % len(cs.get("properties") or {}))
PY
  ); then
    pass "spec: $msg"
  else
    fail "spec: $msg"
  fi
else
  cat "$WORK/spec.err" >&2
  fail "spec exited non-zero"
fi

# --- metadata ------------------------------------------------------------------------------
podman image inspect "$TAG" --format '{{json .Config}}' >"$WORK/config.json"
want_version=$(sed -n 's/^project([^)]*VERSION \([0-9][0-9.]*\).*/\1/p' "$REPO_ROOT/CMakeLists.txt" | head -n1)
while IFS= read -r line; do
  case $line in
    ok:*) pass "metadata: ${line#ok: }" ;;
    *) fail "metadata: ${line#bad: }" ;;
  esac
done < <(python3 - "$WORK/config.json" "$want_version" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
want_version = sys.argv[2]
env = dict(e.split("=", 1) for e in (c.get("Env") or []))
ep = c.get("Entrypoint") or []
labels = c.get("Labels") or {}
def check(ok, what):
    print(("ok: " if ok else "bad: ") + what)
check(len(ep) == 1 and ep[0].startswith("/"), "Entrypoint is one absolute path: %r" % ep)
check(bool(ep) and env.get("AIRBYTE_ENTRYPOINT") == ep[0],
      "AIRBYTE_ENTRYPOINT=%r equals Entrypoint" % env.get("AIRBYTE_ENTRYPOINT"))
check(labels.get("io.airbyte.name") == "airbyte/source-postgres-c",
      "label io.airbyte.name=%r" % labels.get("io.airbyte.name"))
v = labels.get("io.airbyte.version")
check(bool(v) and (not want_version or v == want_version),
      "label io.airbyte.version=%r (CMakeLists.txt says %r)" % (v, want_version))
check(c.get("User") == "airbyte", "User=%r" % c.get("User"))
check(c.get("WorkingDir") == "/airbyte", "WorkingDir=%r" % c.get("WorkingDir"))
PY
)

# --- contents, as the image's own user -------------------------------------------------------
CTR=$(buildah from -q "$TAG")
if out=$(buildah run --isolation=chroot "$CTR" -- sh -c 'id -un; id -u; pwd; touch /airbyte/.probe && rm /airbyte/.probe && echo writable' 2>&1) &&
   [[ $out == $'airbyte\n1000\n/airbyte\nwritable' ]]; then
  pass "runs as airbyte (uid 1000) in a writable /airbyte"
else
  fail "user/workdir: got: $(tr '\n' ' ' <<<"$out")"
fi
tools=$(buildah run --isolation=chroot "$CTR" -- sh -c \
  'for t in gcc cc c99 cpp ld as make cmake pkg-config; do command -v "$t" || true; done
   ls /usr/include/libpq-fe.h /usr/include/postgresql/libpq-fe.h /usr/include/jansson.h /usr/include/uuid 2>/dev/null || true' 2>&1)
if [[ -z $tools ]]; then
  pass "no build tools or headers in the image"
else
  fail "build tools/headers in the image: $(tr '\n' ' ' <<<"$tools")"
fi
if ldd_out=$(buildah run --isolation=chroot "$CTR" -- sh -c 'ldd "$AIRBYTE_ENTRYPOINT"' 2>&1) && ! grep -q 'not found' <<<"$ldd_out"; then
  pass "all shared libraries of the binary resolve"
else
  fail "ldd: $(grep 'not found' <<<"$ldd_out" | tr '\n' ' ')"
fi
buildah rm "$CTR" >/dev/null 2>&1 || true
CTR=""

size=$(podman image inspect "$TAG" --format '{{.Size}}')
size_mb=$((size / 1000000))
if ((size_mb <= MAX_MB)); then
  pass "image size ${size_mb} MB <= ${MAX_MB} MB"
else
  fail "image size ${size_mb} MB > ${MAX_MB} MB"
fi

# --- an SSH tunnel from inside the image -----------------------------------------------------
# chroot isolation shares the host's network: a throwaway sshd on a loopback port is the jump
# server, and the database port behind it is closed, so a FAILED status naming what the jump
# server saw proves ssh ran in the image (as uid 1000), logged in and opened the forward.
if [[ $(id -u) == 0 && -x /usr/sbin/sshd ]]; then
  SSHD_DIR="$WORK/sshd"
  mkdir -p "$SSHD_DIR/secrets" /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/hostkey"
  ssh-keygen -q -t rsa -b 2048 -m PEM -N '' -f "$SSHD_DIR/client"
  cp "$SSHD_DIR/client.pub" "$SSHD_DIR/authorized_keys"
  free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
  SSHD_PORT=$(free_port)
  DB_PORT=$(free_port)
  printf '%s\n' "Port $SSHD_PORT" "ListenAddress 127.0.0.1" "HostKey $SSHD_DIR/hostkey" \
    "PidFile $SSHD_DIR/sshd.pid" "AuthorizedKeysFile $SSHD_DIR/authorized_keys" "StrictModes no" \
    "UsePAM no" "AllowTcpForwarding yes" >"$SSHD_DIR/sshd_config"
  /usr/sbin/sshd -f "$SSHD_DIR/sshd_config" -E "$SSHD_DIR/sshd.log"
  python3 -c '
import json, sys
print(json.dumps({"host": "127.0.0.1", "port": int(sys.argv[3]), "database": "postgres", "username": "u",
                  "password": "p", "ssl_mode": {"mode": "disable"},
                  "tunnel_method": {"tunnel_method": "SSH_KEY_AUTH", "tunnel_host": "127.0.0.1",
                                    "tunnel_port": int(sys.argv[2]), "tunnel_user": "nobody",
                                    "ssh_key": open(sys.argv[1]).read()}}))
' "$SSHD_DIR/client" "$SSHD_PORT" "$DB_PORT" >"$SSHD_DIR/secrets/config.json"
  chmod 0755 "$WORK" "$SSHD_DIR" "$SSHD_DIR/secrets"
  chmod 0644 "$SSHD_DIR/secrets/config.json"
  "$CONTAINER" run -v "$SSHD_DIR/secrets:/secrets:ro" "$TAG" check --config /secrets/config.json \
    >"$WORK/tunnel.out" 2>"$WORK/tunnel.err" || true
  kill "$(cat "$SSHD_DIR/sshd.pid")" 2>/dev/null || true
  if grep -q '"status":"FAILED"' "$WORK/tunnel.out" &&
     grep -q "as the SSH jump server sees them.*Connection refused" "$WORK/tunnel.out"; then
    pass "an SSH tunnel opens from inside the image (key login as nobody, forward to a closed port)"
  else
    tail -n 5 "$WORK/tunnel.out" "$WORK/tunnel.err" "$SSHD_DIR/sshd.log" >&2
    fail "SSH tunnel from inside the image"
  fi
else
  fail "SSH tunnel from inside the image: needs root and /usr/sbin/sshd (openssh-server)"
fi

# --- check against a real database (optional) ------------------------------------------------
if [[ -n ${SP_TEST_CONFIG:-} ]]; then
  if [[ ! -r $SP_TEST_CONFIG ]]; then
    fail "SP_TEST_CONFIG=$SP_TEST_CONFIG is not readable"
  else
    # The image runs as uid 1000 and chroot isolation maps no users: give it a readable copy.
    mkdir -p "$WORK/secrets"
    cp "$SP_TEST_CONFIG" "$WORK/secrets/config.json"
    chmod 0755 "$WORK" "$WORK/secrets"
    chmod 0644 "$WORK/secrets/config.json"
    rc=0
    "$CONTAINER" run -v "$WORK/secrets:/secrets:ro" "$TAG" check --config /secrets/config.json \
      >"$WORK/check.out" 2>"$WORK/check.err" || rc=$?
    if status=$(python3 - "$WORK/check.out" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    try:
        m = json.loads(l)
    except ValueError:
        continue
    if isinstance(m, dict) and m.get("type") == "CONNECTION_STATUS":
        print((m.get("connectionStatus") or {}).get("status", "?"))
        sys.exit(0)
sys.exit(1)
PY
    ); then
      if [[ -n ${SP_TEST_EXPECT_STATUS:-} && $status != "$SP_TEST_EXPECT_STATUS" ]]; then
        fail "check: CONNECTION_STATUS $status, expected $SP_TEST_EXPECT_STATUS (exit $rc)"
      else
        pass "check: CONNECTION_STATUS $status (exit $rc)"
      fi
    else
      tail -n 20 "$WORK/check.err" "$WORK/check.out" >&2
      fail "check: no CONNECTION_STATUS message (exit $rc)"
    fi
  fi
fi

finish
