#!/bin/bash
# The revocation hooks against a real receiver (tests/tools/set-receiver.py) on loopback,
# over HTTPS with a test CA and over plain HTTP, driven by tests/tools/hook-driver, which
# configures one hook block and fires it once. No directory is needed.
#
# HOOK_DRIVER overrides the driver's path (e.g. a sanitizer build).
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

DRIVER=${HOOK_DRIVER:-$RG_TOP/tests/tools/hook-driver}
RECEIVER=$RG_TOP/tests/tools/set-receiver.py
if [ ! -x "$DRIVER" ] && [ -f "$RG_TOP/Makefile" ]; then
	make -C "$RG_TOP" -s tests/tools/hook-driver >/dev/null 2>&1
fi
[ -x "$DRIVER" ] || { echo "Bail out! $DRIVER is not built"; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/rg-hooks.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$W"
	_sandbox_cleanup
}
trap cleanup EXIT

# ---- keys and certificates ----

mkpki() {
	local ossl=(openssl req -x509 -nodes -days 2 -newkey ec -pkeyopt ec_paramgen_curve:P-256)
	"${ossl[@]}" -keyout "$W/ca.key" -out "$W/ca.pem" -subj /CN=rg-test-ca &&
	"${ossl[@]}" -keyout "$W/other-ca.key" -out "$W/other-ca.pem" -subj /CN=rg-other-ca &&
	openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$W/srv.key" \
		-out "$W/srv.csr" -subj /CN=127.0.0.1 &&
	printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$W/srv.ext" &&
	openssl x509 -req -in "$W/srv.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial \
		-days 2 -extfile "$W/srv.ext" -out "$W/srv.pem" &&
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/sign.key" &&
	chmod 600 "$W/sign.key" &&
	openssl pkey -in "$W/sign.key" -pubout -out "$W/sign.pub" &&
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/other.key" &&
	openssl pkey -in "$W/other.key" -pubout -out "$W/other.pub" &&
	openssl rand -hex 32 >"$W/whsecret" && chmod 600 "$W/whsecret" &&
	echo wrong-secret >"$W/wrongsecret" && chmod 600 "$W/wrongsecret"
}
mkpki >"$W/pki.log" 2>&1 || { echo "Bail out! openssl failed"; sed 's/^/#   /' "$W/pki.log"; exit 1; }

# ---- helpers ----

# start_receiver NAME ARGS...: a receiver logging to $W/NAME.log; sets PORT.
start_receiver() {
	local name=$1
	shift
	python3 "$RECEIVER" --port-file "$W/$name.port" --log "$W/$name.log" "$@" \
		2>"$W/$name.err" &
	PIDS+=("$!")
	for _ in $(seq 100); do
		[ -s "$W/$name.port" ] && break
		sleep 0.1
	done
	PORT=$(cat "$W/$name.port" 2>/dev/null)
	touch "$W/$name.log"
	[ -n "$PORT" ] || { echo "Bail out! receiver $name did not start"; cat "$W/$name.err"; exit 1; }
}

# expect OUTCOME TEXT DRIVER-ARGS...: the driver prints OUTCOME (DONE, RETRY, FAIL, CONFIG),
# with TEXT in the message unless TEXT is empty, and exits with the matching status (a
# sanitizer or valgrind finding changes the status, so it fails the check).
expect() {
	local want=$1 text=$2 out rc code
	shift 2
	out=$("$DRIVER" "$@" 2>&1)
	rc=$?
	echo "$out"
	case "$want" in DONE) code=0 ;; RETRY) code=75 ;; FAIL) code=1 ;; *) code=2 ;; esac
	[ "$rc" -eq "$code" ] || { echo "exit status $rc, expected $code"; return 1; }
	case "$out" in "$want"*) ;; *) echo "expected $want"; return 1 ;; esac
	[ -z "$text" ] || [[ "$out" == *"$text"* ]] || { echo "expected the text: $text"; return 1; }
}

# q NAME EXPR: a Python expression over recs, the requests receiver NAME recorded.
q() {
	python3 - "$W/$1.log" "$2" <<'EOF'
import base64, json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
def claims(r):
    p = r["body"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
def header(r):
    p = r["body"].split(".")[0]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
print(eval(sys.argv[2]))
EOF
}

CC=https://schemas.openid.net/secevent/caep/event-type/credential-change
SR=https://schemas.openid.net/secevent/caep/event-type/session-revoked
CAEP=(issuer=https://rg.example/ audience=https://rp.example/ "signing-key=$W/sign.key")
VERIFY=(--verify-key "$W/sign.pub" --expect-iss https://rg.example/ --expect-aud https://rp.example/)

# ---- caep over https ----

start_receiver caep --cert "$W/srv.pem" --key "$W/srv.key" "${VERIFY[@]}" --expect-kid rg-1
URL=https://127.0.0.1:$PORT/events
check "caep over https: 202 -> DONE" expect DONE "" -n 7 caep "url=$URL" "${CAEP[@]}" \
	key-id=rg-1 "tls-ca-file=$W/ca.pem"
check_eq "  the receiver got 2 SETs" 2 "$(q caep 'len(recs)')"
check_eq "  both verify (typ, alg, kid, claims, no sub/exp, ES256 signature)" "ok ok" \
	"$(q caep '" ".join(r["verify"] for r in recs)')"
check_eq "  Content-Type application/secevent+jwt" "application/secevent+jwt" \
	"$(q caep '" ".join(sorted(set(r["headers"]["Content-Type"] for r in recs)))')"
check_eq "  Accept application/json" "application/json" \
	"$(q caep '" ".join(sorted(set(r["headers"]["Accept"] for r in recs)))')"
check_eq "  one event per SET: credential-change and session-revoked" "$CC $SR" \
	"$(q caep '" ".join(sorted(e for r in recs for e in claims(r)["events"]))')"
check_eq "  the same txn, different jti" "1 2" \
	"$(q caep '"%d %d" % (len({claims(r)["txn"] for r in recs}), len({claims(r)["jti"] for r in recs}))')"
check_eq "  sub_id is iss_sub with the account DN" "iss_sub uid=alice,ou=people,dc=example,dc=org" \
	"$(q caep '"%s %s" % (claims(recs[0])["sub_id"]["format"], claims(recs[0])["sub_id"]["sub"])')"
check_eq "  initiating_entity admin for a delegated reset" "admin admin" \
	"$(q caep '" ".join(list(claims(r)["events"].values())[0]["initiating_entity"] for r in recs)')"
TXN7=$(q caep 'claims(recs[0])["txn"]')
check "caep retry of the same change: same txn" expect DONE "" -n 7 caep "url=$URL" \
	"${CAEP[@]}" key-id=rg-1 "tls-ca-file=$W/ca.pem" events=session-revoked
check_eq "  one more SET, with the same txn" "3 $TXN7" "$(q caep '"%d %s" % (len(recs), claims(recs[-1])["txn"])')"
check "caep signed with another key: FAIL, receiver names the signature" \
	expect FAIL "signature does not verify" caep "url=$URL" issuer=https://rg.example/ \
	audience=https://rp.example/ "signing-key=$W/other.key" key-id=rg-1 "tls-ca-file=$W/ca.pem"
n=$(q caep 'len(recs)')
check "caep with the wrong CA: RETRY, certificate error" expect RETRY \
	"certificate verification failed" caep "url=$URL" "${CAEP[@]}" "tls-ca-file=$W/other-ca.pem"
check_eq "  nothing was delivered" "$n" "$(q caep 'len(recs)')"
check "caep by a name the certificate lacks: RETRY, hostname mismatch" expect RETRY \
	"hostname mismatch" caep "url=https://localhost:$PORT/events" "${CAEP[@]}" "tls-ca-file=$W/ca.pem"
check_eq "  nothing was delivered" "$n" "$(q caep 'len(recs)')"

# ---- caep answers ----

start_receiver c400 --cert "$W/srv.pem" --key "$W/srv.key" --mode 400 --err invalid_audience
check "caep receiver answering 400: FAIL naming the err" expect FAIL \
	"receiver refused the SET: invalid_audience" caep "url=https://127.0.0.1:$PORT/" \
	"${CAEP[@]}" "tls-ca-file=$W/ca.pem"
start_receiver c500 --mode 500
check "caep receiver answering 500: RETRY" expect RETRY "HTTP 500" caep \
	"url=http://127.0.0.1:$PORT/" "${CAEP[@]}"
start_receiver c200 --mode 200
check "caep receiver answering 200 instead of 202: FAIL" expect FAIL "HTTP 200" caep \
	"url=http://127.0.0.1:$PORT/" "${CAEP[@]}"
start_receiver slow --delay 3
check "caep receiver too slow (timeout=1): RETRY" expect RETRY "no answer within 1 s" caep \
	"url=http://127.0.0.1:$PORT/" "${CAEP[@]}" timeout=1 events=credential-change
start_receiver down
DOWN=$PORT
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null
check "caep receiver down: RETRY" expect RETRY "cannot connect" caep \
	"url=https://127.0.0.1:$DOWN/" "${CAEP[@]}" "tls-ca-file=$W/ca.pem"

# ---- caep over plain http ----

start_receiver plain "${VERIFY[@]}"
check "caep over plain http on loopback: DONE" expect DONE "" -k self-service caep \
	"url=http://127.0.0.1:$PORT/ssf" "${CAEP[@]}"
check_eq "  2 SETs, both verify" "2 ok ok" "$(q plain '"%d %s" % (len(recs), " ".join(r["verify"] for r in recs))')"
check_eq "  no kid without key-id" "False" "$(q plain 'any("kid" in header(r) for r in recs)')"
check_eq "  initiating_entity user for self-service" "user user" \
	"$(q plain '" ".join(list(claims(r)["events"].values())[0]["initiating_entity"] for r in recs)')"
check "caep plain http to a non-loopback host is refused" expect CONFIG \
	"only allowed to a loopback host" caep url=http://192.0.2.1/ "${CAEP[@]}"
chmod 640 "$W/sign.key"
check "caep signing key readable by group is refused" expect CONFIG "readable by group" caep \
	"url=$URL" "${CAEP[@]}"
chmod 600 "$W/sign.key"

# ---- webhook ----

start_receiver wh --cert "$W/srv.pem" --key "$W/srv.key" --hmac-secret "$W/whsecret" --mode 204
check "webhook over https: DONE" expect DONE "" -n 7 webhook "url=https://127.0.0.1:$PORT/hook" \
	"secret-file=$W/whsecret" "tls-ca-file=$W/ca.pem"
check_eq "  the receiver verified the HMAC" "1 ok" "$(q wh '"%d %s" % (len(recs), recs[0]["verify"])')"
check_eq "  application/json with the change" "application/json password-changed 7 alice delegated" \
	"$(q wh '" ".join([recs[0]["headers"]["Content-Type"]] + [str(json.loads(recs[0]["body"])[k]) for k in ("event", "change_number", "uid", "kind")])')"
check_eq "  X-Resetguard-Delivery is the change's txn" "$TXN7" \
	"$(q wh 'recs[0]["headers"]["X-Resetguard-Delivery"]')"
check "webhook with the wrong secret: FAIL (401)" expect FAIL "HTTP 401" webhook \
	"url=https://127.0.0.1:$PORT/hook" "secret-file=$W/wrongsecret" "tls-ca-file=$W/ca.pem"
start_receiver w500 --mode 500
check "webhook answered 500: RETRY" expect RETRY "HTTP 500" webhook \
	"url=http://127.0.0.1:$PORT/" "secret-file=$W/whsecret"
start_receiver w400 --mode 400
check "webhook answered 400: FAIL" expect FAIL "HTTP 400" webhook \
	"url=http://127.0.0.1:$PORT/" "secret-file=$W/whsecret"
check "webhook receiver down: RETRY" expect RETRY "cannot connect" webhook \
	"url=http://127.0.0.1:$DOWN/" "secret-file=$W/whsecret"

# ---- exec ----

cat >"$W/hook.sh" <<EOF
#!/bin/sh
# \$1: the exit status to give, or "sleep"
cat >"$W/exec.in"
[ "\$1" = sleep ] && exec sleep 30
echo "exit \$1" >&2
exit "\$1"
EOF
chmod 700 "$W/hook.sh"
check "exec exit 0: DONE" expect DONE "" exec "command=$W/hook.sh" args=0
check_eq "  stdin is the change as JSON" "password-changed 42 uid=alice,ou=people,dc=example,dc=org" \
	"$(python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); print(b["event"], b["change_number"], b["account"])' "$W/exec.in")"
check "exec exit 75: RETRY" expect RETRY "exited with status 75: exit 75" exec "command=$W/hook.sh" args=75
check "exec exit 2: FAIL" expect FAIL "exited with status 2: exit 2" exec "command=$W/hook.sh" args=2
check "exec too slow (timeout=1): RETRY, killed" expect RETRY "did not finish within 1 s" exec \
	"command=$W/hook.sh" args=sleep timeout=1
chmod 770 "$W/hook.sh"
check "exec command writable by group is refused" expect CONFIG "writable by group" exec \
	"command=$W/hook.sh"

finish
