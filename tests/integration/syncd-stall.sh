#!/bin/bash
# Nothing stalls resetguard-syncd: a directory that stops answering (SIGSTOP of the main
# slapd while a status write is due) does not stall /metrics or /health, which are served
# by the event loop; a hook that never answers does not delay deliveries or the other hooks.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

T_START=$(date +%s)
sandbox_up --syncd

W=$(mktemp -d "${TMPDIR:-/tmp}/rg-stall.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
MY_PIDS=()
SLAPD_STOPPED=
cleanup() {
	local p
	[ -n "$SLAPD_STOPPED" ] && kill -CONT "$SLAPD_STOPPED" 2>/dev/null
	for p in "${MY_PIDS[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$W"
	_sandbox_cleanup
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
	tok=$(token --sub "$1" --ial 2 --amr hwk,face)
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

printf '%s\n' "${USED[@]}" >"$W/used"
check_eq "no cleartext password in syncd's log" "" "$(grep -aF -f "$W/used" "$SYNCD_LOG")"
echo "# runtime $(($(date +%s) - T_START)) s"
finish
