#!/bin/bash
# Nothing stalls resetguard-syncd: a directory that stops answering (SIGSTOP of the main
# slapd while a status write is due) does not stall /metrics or /health, which are served
# by the event loop; a hook that never answers does not delay deliveries or the other hooks.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

T_START=$(date +%s)
sandbox_up --syncd

work_dir rg-stall
SLAPD_STOPPED=
cleanup() {
	[ -n "$SLAPD_STOPPED" ] && kill -CONT "$SLAPD_STOPPED" 2>/dev/null
	_work_cleanup
}
trap cleanup EXIT
export LDAPNOINIT=1

SYNCD=${RG_SYNCD_BIN:-$RG_TOP/resetguard-syncd}
HEALTH_URL=${RG_SYNCD_METRICS_URL%/metrics}/health
SYNCD_LOG=$W/syncd.log
USED=()

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
stop_pid() {
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq 1 100); do
		alive "$1" || { wait "$1" 2>/dev/null; return 0; }
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
healthy() {
	python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
		"$HEALTH_URL" >/dev/null 2>&1
}
syncd_start() { # CONF: a syncd of this test's own; waits for /health
	"$SYNCD" -d -f "$1" >>"$SYNCD_LOG" 2>&1 &
	SYNCD_PID=$!
	MY_PIDS+=("$SYNCD_PID")
	waitfor 10 healthy
}
np() { # VAR: a fresh password in VAR, remembered in USED
	local v
	v="St-$(openssl rand -hex 8)"
	USED+=("$v")
	printf -v "$1" %s "$v"
}
reset() { # DN PW
	local tok
	if [ "$1" = "$RG_PRIV_USER_DN" ]; then
		tok=$(token --sub "$1" --ial 3 --amr hwk)
	else
		tok=$(token --sub "$1" --ial 2 --amr hwk,face)
	fi
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -e "$(ctl "$tok")" -s "$2" "$1"
}
as_syncd() {
	ldapsearch -x -H "$RG_URI" -D "$RG_SYNCD_DN" -w "$RG_SYNCD_PW" -LLL -o ldif_wrap=no "$@"
}
last_change() {
	as_syncd -b "$RG_LOG_BASE" -s one '(objectClass=rgLogRecord)' rgLogChangeNumber 2>/dev/null |
		sed -n 's/^rgLogChangeNumber: //p' | sort -n | tail -n 1
}
rec() { # N ATTR
	as_syncd -b "rgLogChangeNumber=$1,$RG_LOG_BASE" -s base '(objectClass=*)' "$2" 2>/dev/null |
		sed -n "s/^$2: //Ip"
}
sha() { printf %s "$1" | sha256sum | cut -d ' ' -f 1; }
# worst_ms URL SECONDS: the longest of the GETs of URL made one after another for SECONDS
worst_ms() {
	python3 - "$1" "$2" <<'EOF'
import sys, time, urllib.request, urllib.error
url, span = sys.argv[1], float(sys.argv[2])
end, worst, n = time.monotonic() + span, 0.0, 0
while time.monotonic() < end:
    t = time.monotonic()
    try:
        urllib.request.urlopen(url, timeout=30).read()
    except urllib.error.HTTPError as e:
        e.read()
    worst = max(worst, time.monotonic() - t)
    n += 1
    time.sleep(0.05)
print("%d %d" % (worst * 1000, n))
EOF
}

check "the velocity limit is raised for this test" as_admin <<EOF
dn: $RG_POLICY_DN
changetype: modify
replace: rgVelocityLimit
rgVelocityLimit: * target 1000 3600
EOF
check "the sandbox's syncd stops" stop_pid "$(cat "$RG_SYNCD_PID_FILE")"

# =====================================================================================
# 1. A directory that stops answering does not stall /metrics or /health
# =====================================================================================
# A store that takes 2 s: its result, and the status write it calls for, come while the
# main slapd is stopped; op-timeout 5 bounds that write.
STORE=$W/store.txt
{
	cat "$RG_SYNCD_CONF"
	printf '\ntarget store {\n\ttype exec\n\tcommand %s\n\targs %s 2\n\ttimeout 10\n}\n' \
		"$RG_TOP/tests/tools/sha-store" "$STORE"
} >"$W/slow.conf"
syncd_start "$W/slow.conf" # not inside check, whose subshell would lose SYNCD_PID
check_eq "syncd starts with a slow exec store" 0 "$?"
np P1
lines=$(wc -l <"$SYNCD_LOG")
check "a reset of alice" reset "$RG_USER_DN" "$P1"
n1=$(last_change)
check "  reaches legacy1 (the checks before delivery are done)" \
	waitfor 10 ldapwhoami -x -H "$RG_LEGACY1_URI" -D "$RG_LEGACY1_USER_DN" -w "$P1"
slapd_pid=$(cat "$RG_PID_FILE")
kill -STOP "$slapd_pid" && SLAPD_STOPPED=$slapd_pid
check "the main slapd is stopped (SIGSTOP) while the store runs" test -n "$SLAPD_STOPPED"
read -r mworst mn < <(worst_ms "$RG_SYNCD_METRICS_URL" 4)
read -r hworst hn < <(worst_ms "$HEALTH_URL" 2)
echo "# with the directory stopped: the longest of $mn /metrics requests took $mworst ms, of $hn /health $hworst ms"
check "  the store got the password meanwhile" grep -qxF "$RG_USER_DN $(sha "$P1")" "$STORE"
check "  /metrics answered every time within 500 ms (longest $mworst ms)" test "$mworst" -lt 500
check "  /health answered every time within 500 ms (longest $hworst ms)" test "$hworst" -lt 500
kill -CONT "$slapd_pid" && SLAPD_STOPPED=
check "the main slapd continues" alive "$slapd_pid"
final_store() { [[ "$(rec "$n1" rgLogTargetStatus | grep '^store ')" == "store delivered "* ]]; }
check "  the record is final on the store (30 s)" waitfor 30 final_store
check "  and its sealed password is gone" waitfor 10 eval '[ -z "$(rec "$n1" rgLogSealedPassword)" ]'
check "the syncd stops" stop_pid "$SYNCD_PID"

# =====================================================================================
# 2. A webhook that never answers delays neither the deliveries nor the CAEP hook
# =====================================================================================
# A listener that accepts and stays silent; a CAEP receiver that verifies every SET. With
# max-attempts 2 and a 5 s timeout the webhook fails for good after two attempts.
python3 -c '
import socket, sys, os
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % s.getsockname()[1])
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
held = []
while True:
    held.append(s.accept()[0])' "$W/silent.port" &
MY_PIDS+=("$!")
(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/sign.key" 2>/dev/null &&
	openssl pkey -in "$W/sign.key" -pubout -out "$W/sign.pub" 2>/dev/null &&
	openssl rand -hex 32 >"$W/whsecret")
python3 "$RG_TOP/tests/tools/set-receiver.py" --port-file "$W/caep.port" --log "$W/caep.log" \
	--verify-key "$W/sign.pub" 2>"$W/caep.err" &
MY_PIDS+=("$!")
waitfor 10 test -s "$W/silent.port"
waitfor 10 test -s "$W/caep.port"
check "a silent listener and a CAEP receiver listen" test -s "$W/caep.port" -a -s "$W/silent.port"
{
	sed 's/^max-attempts .*/max-attempts 2/' "$RG_SYNCD_CONF"
	printf '\nhook silent {\n\ttype webhook\n\turl http://127.0.0.1:%s/hook\n\tsecret-file %s\n\ttimeout 5\n}\n' \
		"$(cat "$W/silent.port")" "$W/whsecret"
	printf '\nhook revoke {\n\ttype caep\n\turl http://127.0.0.1:%s/events\n\tissuer https://resetguard.test\n\taudience https://receiver.test\n\tsigning-key %s\n}\n' \
		"$(cat "$W/caep.port")" "$W/sign.key"
} >"$W/hooks.conf"
check "a configuration with the silent webhook first, then the CAEP hook, checks" \
	"$SYNCD" -t -f "$W/hooks.conf"
syncd_start "$W/hooks.conf"
check_eq "syncd starts with it" 0 "$?"
lines=$(wc -l <"$SYNCD_LOG")
np A2
np B2
np A3
t0=$(now_ms)
check "three resets in a row (alice, root.bob, alice)" eval 'reset "$RG_USER_DN" "$A2" && reset "$RG_PRIV_USER_DN" "$B2" && reset "$RG_USER_DN" "$A3"'
n3=$(last_change)
n1=$((n3 - 2))
# verified credential-change SETs received, one per change (txn), as "txn" lines
caep_changes() {
	python3 - "$W/caep.log" <<'EOF2'
import base64, json, sys
seen = set()
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o.get("verify") != "ok":
        continue
    p = o["body"].split(".")[1]
    c = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    if any(k.endswith("/credential-change") for k in c["events"]):
        seen.add(c["txn"])
print(len(seen))
EOF2
}
three_caep() { [ "$(caep_changes)" -ge 3 ]; }
check "  the CAEP receiver has a verified credential-change for each of the three within 4 s" \
	waitfor 4 three_caep
echo "# the three credential-change events arrived $(($(now_ms) - t0)) ms after the first reset"
check "  alice's last password binds on legacy1 (within 5 s)" \
	waitfor 5 ldapwhoami -x -H "$RG_LEGACY1_URI" -D "$RG_LEGACY1_USER_DN" -w "$A3"
check "  root.bob's on legacy2" \
	waitfor 5 ldapwhoami -x -H "$RG_LEGACY2_URI" -D "cn=Bob Root,ou=accounts,o=legacy2" -w "$B2"
hstat() { rec "$1" rgLogHookStatus | grep "^$2 " | awk '{ print $2 }'; }
sessions_done() { for n in "$n1" "$((n1 + 1))" "$n3"; do [ "$(hstat "$n" revoke)" = delivered ] || return 1; done; }
check "  the records say: revoke delivered" waitfor 5 sessions_done
check "  and silent not final yet (retrying or pending)" \
	eval '[[ "$(hstat "$n1" silent)" == retrying || "$(hstat "$n1" silent)" == pending ]]'
silent_failed() { for n in "$n1" "$((n1 + 1))" "$n3"; do [ "$(hstat "$n" silent)" = failed ] || return 1; done; }
check "the webhook fails for good after max-attempts, on each record (30 s)" waitfor 30 silent_failed
check "  with an ALERT line" \
	eval 'tail -n +"$((lines + 1))" "$SYNCD_LOG" | grep -q "\"event\":\"alert\".*ALERT change $n1 for .*hook silent failed after 2 attempt"'
check "  and its error text" eval '[[ "$(rec "$n1" rgLogHookStatus | grep "^silent ")" == *" error="?* ]]'
hook_failures() {
	python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())' \
		"$RG_SYNCD_METRICS_URL" | sed -n 's/^resetguard_syncd_hook_failures_total{hook="silent"} //p'
}
check_eq "  resetguard_syncd_hook_failures_total{hook=\"silent\"} is 3" 3 "$(hook_failures)"
check "the syncd stops" stop_pid "$SYNCD_PID"

printf '%s\n' "${USED[@]}" >"$W/used"
check_eq "no cleartext password in syncd's log" "" "$(grep -aF -f "$W/used" "$SYNCD_LOG")"
echo "# runtime $(($(date +%s) - T_START)) s"
finish
