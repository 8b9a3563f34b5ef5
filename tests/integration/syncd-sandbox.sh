#!/bin/bash
# The sandbox's syncd side: RG_SYNCD_PIDS names the syncd instances (--syncd N starts N
# sharing the log: tests/integration/syncd-ha.sh runs two), and the default sandbox runs a real HTTPS
# CAEP receiver on loopback that verifies each Security Event Token and appends each
# verified event to RG_HOOK_RECEIVED, so that a reset's credential-change can be watched.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

T_START=$(date +%s)
sandbox_up --syncd 1

W=$(mktemp -d "${TMPDIR:-/tmp}/rg-sbx.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
cleanup() {
	rm -rf "$W"
	_sandbox_cleanup
}
trap cleanup EXIT
export LDAPNOINIT=1

now_ms() { echo $(($(date +%s%N) / 1000000)); }
waitfor() { # SECONDS CMD...
	local end=$(($(now_ms) + $1 * 1000))
	shift
	while [ "$(now_ms)" -lt "$end" ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	"$@" && return 0
	echo "still failing after the wait"
	return 1
}
alive() { kill -0 "$1" 2>/dev/null; }
# event N FIELD...: a field of the Nth line of RG_HOOK_RECEIVED whose event is N's kind
received() { # EVENT ACCOUNT: prints the first verified event of that kind about ACCOUNT
	python3 - "$RG_HOOK_RECEIVED" "$1" "$2" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o["event"] == sys.argv[2] and o["sub_id"].get("sub") == sys.argv[3]:
        print(json.dumps(o))
        sys.exit(0)
sys.exit(1)
EOF
}
field() { python3 -c 'import json, sys
o = json.loads(sys.argv[1])
for k in sys.argv[2:]:
    o = o[k]
print(o)' "$@"; }

# ---- the instances ----
check "RG_SYNCD_PIDS is set" test -n "${RG_SYNCD_PIDS:-}"
check_eq "  to one pid, the one of the pid file" "$(cat "$RG_SYNCD_PID_FILE")" "$RG_SYNCD_PIDS"
check "  which runs" alive "$RG_SYNCD_PIDS"
out=$(bash "$RG_TOP/scripts/sandbox" up "$W/none" --syncd 0 2>&1)
rc=$?
check_eq "--syncd 0 is refused (exit 1)" 1 "$rc"
check "  saying why: one instance or more" eval '[[ "$out" == *"1 or more"* ]]'
bad=$(bash "$RG_TOP/scripts/sandbox" up "$W/bad" --syncd many 2>&1)
check "--syncd without a number is refused" eval '[[ "$bad" == *"--syncd needs a number of instances"* ]]'

# ---- the receiver ----
check "RG_HOOK_RECEIVED is set and exists" test -f "${RG_HOOK_RECEIVED:-/nonexistent}"
check "the receiver answers over HTTPS with a certificate from RG_HOOK_CA" \
	python3 -c 'import ssl, sys, urllib.request, urllib.error
ctx = ssl.create_default_context(cafile=sys.argv[2])
try:
    urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=b"x", headers={"Content-Type": "text/plain"}), context=ctx, timeout=5)
except urllib.error.HTTPError:
    pass' "$RG_HOOK_URL" "$RG_HOOK_CA"
check "the sandbox's syncd has a caep hook to it" grep -q "url $RG_HOOK_URL" "$RG_SYNCD_CONF"

check "a self-service reset of alice" eval 'tok=$(token --sub "$RG_USER_DN" --ial 2 --amr hwk) &&
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -e "$(ctl "$tok")" -s "Sbx-$(openssl rand -hex 8)" "$RG_USER_DN"'
check "its credential-change event arrives in RG_HOOK_RECEIVED (10 s)" \
	waitfor 10 received credential-change "$RG_USER_DN"
ev=$(received credential-change "$RG_USER_DN")
check_eq "  about alice (sub_id iss_sub)" "iss_sub $RG_USER_DN" "$(field "$ev" sub_id format) $(field "$ev" sub_id sub)"
check_eq "  from the sandbox's issuer, to the receiver's audience" \
	"https://resetguard.sandbox https://receiver.sandbox" "$(field "$ev" iss) $(field "$ev" aud)"
check_eq "  a password update, initiated by the user" "password update user" \
	"$(field "$ev" claims credential_type) $(field "$ev" claims change_type) $(field "$ev" claims initiating_entity)"
check "  and a session-revoked event with the same txn" \
	eval '[ "$(field "$(received session-revoked "$RG_USER_DN")" txn)" = "$(field "$ev" txn)" ]'
sets_verified() {
	python3 - "$RG_DIR/hook-requests.jsonl" <<'EOF'
import json, sys
sets = [json.loads(l) for l in open(sys.argv[1])]
sets = [o for o in sets if o["headers"].get("Content-Type") == "application/secevent+jwt"]
bad = [o["verify"] for o in sets if o["verify"] != "ok"]
print("%d SETs, not verified: %s" % (len(sets), bad))
sys.exit(1 if bad or len(sets) < 2 else 0)
EOF
}
check "  every SET syncd sent was verified by the receiver" sets_verified

# A SET the receiver must refuse: the right shape, signed with another key.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/other.key" 2>/dev/null
lines=$(wc -l <"$RG_HOOK_RECEIVED")
forged() {
	python3 - "$RG_HOOK_URL" "$RG_HOOK_CA" "$W/other.key" <<'EOF'
import base64, json, ssl, subprocess, sys, time, urllib.request, urllib.error
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
hdr = b64(json.dumps({"typ": "secevent+jwt", "alg": "ES256", "kid": "sandbox-1"}).encode())
cl = b64(json.dumps({"iss": "https://resetguard.sandbox", "aud": "https://receiver.sandbox",
    "iat": int(time.time()), "jti": "forged", "txn": "forged",
    "sub_id": {"format": "iss_sub", "iss": "https://resetguard.sandbox", "sub": "uid=mallory"},
    "events": {"https://schemas.openid.net/secevent/caep/event-type/credential-change": {}}}).encode())
der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", sys.argv[3]],
    input=(hdr + "." + cl).encode(), capture_output=True).stdout
# DER ECDSA signature to R||S
i = 4 + der[3]
r = der[4:4 + der[3]]
s = der[i + 2:i + 2 + der[i + 1]]
sig = r.lstrip(b"\0").rjust(32, b"\0") + s.lstrip(b"\0").rjust(32, b"\0")
req = urllib.request.Request(sys.argv[1], data=(hdr + "." + cl + "." + b64(sig)).encode(),
    headers={"Content-Type": "application/secevent+jwt"})
try:
    urllib.request.urlopen(req, context=ssl.create_default_context(cafile=sys.argv[2]), timeout=5)
    print(202)
except urllib.error.HTTPError as e:
    print(e.code)
EOF
}
check_eq "a SET signed with another key is refused (400)" 400 "$(forged)"
check_eq "  and adds nothing to RG_HOOK_RECEIVED" "$lines" "$(wc -l <"$RG_HOOK_RECEIVED")"

receiver_pid=$(cat "$RG_DIR/run/receiver.pid")
check "the receiver runs" alive "$receiver_pid"
check "scripts/sandbox down stops it, by pid" eval 'sandbox_down && ! alive "$receiver_pid"'
check "  and the syncd" eval '! alive "$RG_SYNCD_PIDS"'

echo "# runtime $(($(date +%s) - T_START)) s"
finish
