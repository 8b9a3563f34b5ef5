#!/bin/bash
# resetguard-syncd end to end, against real servers on loopback: the sandbox's slapd with the
# overlay, the two legacy slapds and syncd. Allowed resets reach both legacy stores (and an
# exec target), denied ones reach nothing; rapid resets end with the newest password
# everywhere; a store that is down is retried, then recovers or fails with an alert; kill -9
# at random points loses and reorders nothing; syncd survives a slapd restart and reloads on
# SIGHUP; bad configurations are refused with FILE:LINE; an entry with another's uid gets
# nothing delivered to that account; a status write that finds the directory gone is made
# again; no cleartext password is left in any file, in the metrics or on the log records.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

T_START=$(date +%s)
sandbox_up --syncd

W=$(mktemp -d "${TMPDIR:-/tmp}/rg-syncd.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
MY_PIDS=()   # daemons this script started itself: syncd instances, legacy2 restarts
cleanup() {
	local p
	# a syncd left stopped by check 3 would hold up the sandbox's shutdown
	p=$(cat "$RG_SYNCD_PID_FILE" 2>/dev/null) && kill -CONT "$p" 2>/dev/null
	for p in "${MY_PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$W"
	_sandbox_cleanup
}
trap cleanup EXIT
export LDAPNOINIT=1

ALICE=$RG_USER_DN BOB=$RG_PRIV_USER_DN
L1_ALICE=$RG_LEGACY1_USER_DN L2_ALICE=$RG_LEGACY2_USER_DN
L1_BOB="uid=root.bob,ou=users,dc=legacy1,dc=example" L2_BOB="cn=Bob Root,ou=accounts,o=legacy2"
SYNCD=${RG_SYNCD_BIN:-$RG_TOP/resetguard-syncd}
HEALTH_URL=${RG_SYNCD_METRICS_URL%/metrics}/health
USED=()   # every new password of this script, for the final search (check 9)

# np VAR: a fresh password in VAR, remembered in USED.
np() {
	local v
	v="Sy-$(openssl rand -hex 8)"
	USED+=("$v")
	printf -v "$1" %s "$v"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# waitfor SECONDS CMD...: runs CMD every 0.2 s until it succeeds; on timeout runs it once
# more with its output shown and fails.
waitfor() {
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

# Binds on a legacy store; the password follows -w so failures print it masked.
l1() { ldapwhoami -x -H "$RG_LEGACY1_URI" "$@"; }
l2() { ldapwhoami -x -H "$RG_LEGACY2_URI" "$@"; }
# nb l1|l2 -D DN -w PW: the bind fails with invalidCredentials (49).
nb() {
	local f=$1 rc
	shift
	"$f" "$@" >/dev/null 2>&1
	rc=$?
	[ "$rc" -eq 49 ] || { echo "bind returned $rc, expected 49"; return 1; }
}

# reset DN PW: an allowed self-service reset by the reset portal with a fresh token.
reset() {
	local tok
	if [ "$1" = "$BOB" ]; then
		tok=$(token --sub "$1" --ial 3 --amr hwk)
	else
		tok=$(token --sub "$1" --ial 2 --amr hwk,face)
	fi
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -e "$(ctl "$tok")" -s "$2" "$1"
}

# ---- the reset log, read as syncd ----
as_syncd() {
	ldapsearch -x -H "$RG_URI" -D "$RG_SYNCD_DN" -w "$RG_SYNCD_PW" -LLL -o ldif_wrap=no "$@"
}
last_change() {
	as_syncd -b "$RG_LOG_BASE" -s one '(objectClass=rgLogRecord)' rgLogChangeNumber 2>/dev/null |
		sed -n 's/^rgLogChangeNumber: //p' | sort -n | tail -n 1
}
# rec N ATTR: the values of ATTR on record N, one a line (base64 ones as "::VALUE").
rec() {
	as_syncd -b "rgLogChangeNumber=$1,$RG_LOG_BASE" -s base '(objectClass=*)' "$2" 2>/dev/null |
		sed -n "s/^$2:\(:\?\) \?/\1/Ip"
}
has_sealed() { [ -n "$(rec "$1" rgLogSealedPassword)" ]; }
no_sealed() {
	local v
	v=$(rec "$1" rgLogSealedPassword)
	[ -z "$v" ] || { echo "record $1 still carries rgLogSealedPassword"; return 1; }
}
# tstat N TARGET: the record's status value for TARGET ("NAME STATUS attempts=.. ...").
tstat() { rec "$1" rgLogTargetStatus | grep "^$2 " | head -n 1; }
tword() { tstat "$1" "$2" | awk '{ print $2 }'; }
tattempts() { tstat "$1" "$2" | sed -n 's/.* attempts=\([0-9]*\).*/\1/p'; }
ttime() { tstat "$1" "$2" | sed -n 's/.* time=\([0-9]*Z\).*/\1/p'; }
# is_status N TARGET WORD...: the target's status is one of WORD...
is_status() {
	local n=$1 t=$2 w
	shift 2
	w=$(tword "$n" "$t")
	for s in "$@"; do [ "$w" = "$s" ] && return 0; done
	echo "record $n: $t status is '${w:-none}' ($(tstat "$n" "$t")), expected one of: $*"
	return 1
}
# final_all N TARGET...: every TARGET is delivered or superseded on N and the sealed password
# is gone.
final_all() {
	local n=$1 t
	shift
	for t in "$@"; do is_status "$n" "$t" delivered superseded || return 1; done
	no_sealed "$n"
}
# pending_count: applied records still carrying a sealed password.
pending_count() {
	as_syncd -b "$RG_LOG_BASE" -s one \
		'(&(objectClass=rgLogRecord)(rgLogOutcome=applied)(rgLogSealedPassword=*))' 1.1 \
		2>/dev/null | grep -c '^dn:'
}
has_error() { [[ $1 == *" error="?* ]] || { echo "no error text in: $1"; return 1; }; }
# lacks FILE -w STRING: FILE does not contain STRING (-w keeps it out of failure output).
lacks() { ! grep -qF -- "$3" "$1"; }
no_pending() {
	local c
	c=$(pending_count)
	[ "$c" = 0 ] || { echo "$c applied record(s) still carry a sealed password"; return 1; }
}

# ---- syncd's HTTP endpoint ----
http_get() {
	python3 -c 'import sys, urllib.request
r = urllib.request.urlopen(sys.argv[1], timeout=2)
sys.stdout.write(r.read().decode())' "$1" 2>/dev/null
}
healthy() { http_get "$HEALTH_URL" >/dev/null; }
# metric NAME TARGET: the value of NAME{target="TARGET"}.
metric() {
	http_get "$RG_SYNCD_METRICS_URL" | sed -n "s/^$1{target=\"$2\"} //p"
}

# syncd.log: delivered change numbers never go down for one account and target.
delivery_order_ok() {
	python3 - "$RG_DIR/syncd.log" "${1:-0}" <<'EOF'
import json, re, sys
last, bad, seen = {}, [], 0
for line in open(sys.argv[1], errors="replace"):
    try:
        o = json.loads(line)
    except ValueError:
        continue
    if o.get("event") != "delivered":
        continue
    m = re.match(r"change (\d+) for (.*): target (\S+) after", o.get("msg", ""))
    if not m or int(m.group(1)) < int(sys.argv[2]):
        continue
    n, key = int(m.group(1)), (m.group(2).lower(), m.group(3))
    seen += 1
    if n < last.get(key, 0):
        bad.append("%s: change %d for %s delivered after change %d" % (key[1], n, key[0], last[key]))
    last[key] = max(n, last.get(key, 0))
print("\n".join(bad) if bad else "%d deliveries in order" % seen)
sys.exit(1 if bad or seen == 0 else 0)
EOF
}

# ---- starting and stopping syncd and legacy2 by hand ----
alive() { kill -0 "$1" 2>/dev/null; }
# stop_pid PID: SIGTERM, then up to 10 s for the process to go.
stop_pid() {
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq 1 100); do
		alive "$1" || { wait "$1" 2>/dev/null; return 0; }
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
SYNCD_PID=$(cat "$RG_SYNCD_PID_FILE")
# syncd_start CONF: a new syncd in the background, its pid in SYNCD_PID and the sandbox's pid
# file; waits (up to 5 s) for /health unless told nowait. Not inside check, whose subshell would lose SYNCD_PID.
syncd_start() {
	healthy && { echo "another syncd already answers on the metrics port"; return 1; }
	"$SYNCD" -d -f "$1" >>"$RG_DIR/syncd.log" 2>&1 &
	SYNCD_PID=$!
	MY_PIDS+=("$SYNCD_PID")
	echo "$SYNCD_PID" >"$RG_SYNCD_PID_FILE"
	[ "${2:-}" = nowait ] && return 0
	for _ in $(seq 1 50); do
		healthy && alive "$SYNCD_PID" && return 0
		alive "$SYNCD_PID" || return 1
		sleep 0.1
	done
	return 1
}
L2_PORT=${RG_LEGACY2_URI##*:}
L2_PID_FILE=$RG_DIR/legacy2/slapd.pid
legacy2_stop() {
	local pid
	pid=$(cat "$L2_PID_FILE" 2>/dev/null) || return 1
	kill "$pid" 2>/dev/null
	for _ in $(seq 1 100); do
		alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
		sleep 0.1
	done
	return 1
}
legacy2_start() { # not inside check: it adds to MY_PIDS
	rm -f "$L2_PID_FILE"
	/usr/sbin/slapd -n resetguard-legacy2 -h "ldap://127.0.0.1:$L2_PORT/" \
		-f "$RG_DIR/legacy2/slapd.conf" -d stats >>"$RG_DIR/legacy2/slapd.log" 2>&1 &
	MY_PIDS+=("$!")
	for _ in $(seq 1 100); do
		ldapsearch -x -H "$RG_LEGACY2_URI" -b '' -s base 1.1 >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
log_lines() { wc -l <"$RG_DIR/syncd.log"; }
# log_since N: syncd.log after its first N lines.
log_since() { tail -n +"$(($1 + 1))" "$RG_DIR/syncd.log"; }
# log_has N REGEX: a line after the first N of syncd.log matches REGEX (grep -E).
log_has() { log_since "$1" | grep -E -- "$2" || { echo "no line matching: $2"; return 1; }; }

# The sandbox policy allows 20 resets of one account an hour; this script makes more.
check "the velocity limit is raised for this test" as_admin <<EOF
dn: $RG_POLICY_DN
changetype: modify
replace: rgVelocityLimit
rgVelocityLimit: * target 1000 3600
EOF

# =====================================================================================
# 1. Propagation
# =====================================================================================
np A1
t0=$(now_ms)
check "1: self-service reset of alice is allowed" reset "$ALICE" "$A1"
n1=$(last_change)
check "1:   the new password binds on legacy1 within 5 s" waitfor 5 l1 -D "$L1_ALICE" -w "$A1"
check "1:   and on legacy2 within 5 s" waitfor 5 l2 -D "$L2_ALICE" -w "$A1"
t1=$(now_ms)
check "1:   both targets delivered on record $n1" waitfor 5 final_all "$n1" legacy1 legacy2
check_eq "1:   legacy1 delivered" delivered "$(tword "$n1" legacy1)"
check_eq "1:   legacy2 delivered" delivered "$(tword "$n1" legacy2)"
check_eq "1:   legacy1 after 1 attempt" 1 "$(tattempts "$n1" legacy1)"
check_eq "1:   the record is applied" applied "$(rec "$n1" rgLogOutcome)"
check_eq "1:   the record is about alice" "$ALICE" "$(rec "$n1" rgLogTarget)"
check "1:   rgLogSealedPassword is gone (read as syncd)" no_sealed "$n1"
echo "# propagation of change $n1 took $((t1 - t0)) ms"

# A denied reset (no evidence) is logged but never delivered.
np D1
check_result "1: a reset without evidence is denied" 50 evidence-missing \
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -s "$D1" "$ALICE"
nd=$(last_change)
check_eq "1:   the denied record says denied" denied "$(rec "$nd" rgLogDecision)"
check_eq "1:   the denied record carries no sealed password" "" "$(rec "$nd" rgLogSealedPassword)"
# root.bob's reset is a barrier: each target's worker takes records in order, so once his
# is delivered anything queued for the denied one would have been too.
np B1
check "1: self-service reset of root.bob is allowed" reset "$BOB" "$B1"
nb1=$(last_change)
check "1:   root.bob's password binds on legacy1 (uid=root.bob, by the template)" \
	waitfor 5 l1 -D "$L1_BOB" -w "$B1"
check "1:   and on legacy2 (found by mail root.bob@example.com)" waitfor 5 l2 -D "$L2_BOB" -w "$B1"
check "1:   root.bob's record is final on both targets" waitfor 5 final_all "$nb1" legacy1 legacy2
check "1:   after the denied reset alice's known password still binds on legacy1" \
	l1 -D "$L1_ALICE" -w "$A1"
check "1:   and on legacy2" l2 -D "$L2_ALICE" -w "$A1"
check "1:   the denied password does not bind on legacy1" nb l1 -D "$L1_ALICE" -w "$D1"
check "1:   nor on legacy2" nb l2 -D "$L2_ALICE" -w "$D1"
check_eq "1:   the denied record got no target status" "" "$(rec "$nd" rgLogTargetStatus)"

# =====================================================================================
# 3. Ten resets back to back
# =====================================================================================
P=() TOK=()
for i in $(seq 1 10); do
	np "P[$i]"
	TOK[i]=$(token --sub "$ALICE" --ial 2 --amr hwk,face)
done
first3=$(($(last_change) + 1))
ok3=0
for i in $(seq 1 10); do
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -e "$(ctl "${TOK[i]}")" \
		-s "${P[i]}" "$ALICE" >/dev/null 2>&1 && ok3=$((ok3 + 1))
done
last3=$(last_change)
check_eq "3: ten back-to-back resets of alice are allowed" 10 "$ok3"
check_eq "3:   they are ten consecutive records" 9 "$((last3 - first3))"
check "3:   P10 binds on legacy1" waitfor 15 l1 -D "$L1_ALICE" -w "${P[10]}"
check "3:   P10 binds on legacy2" waitfor 15 l2 -D "$L2_ALICE" -w "${P[10]}"
check "3:   every record is final, none with a sealed password" waitfor 15 no_pending
check "3:   P9 does not bind on legacy1" nb l1 -D "$L1_ALICE" -w "${P[9]}"
check "3:   P9 does not bind on legacy2" nb l2 -D "$L2_ALICE" -w "${P[9]}"
check "3:   P1 does not bind on legacy1" nb l1 -D "$L1_ALICE" -w "${P[1]}"
check "3:   P1 does not bind on legacy2" nb l2 -D "$L2_ALICE" -w "${P[1]}"
bad3='' sup3=0 del3=0
for n in $(seq "$first3" "$last3"); do
	for t in legacy1 legacy2; do
		w=$(tword "$n" "$t")
		case $w in
		delivered) del3=$((del3 + 1)) ;;
		superseded) sup3=$((sup3 + 1)) ;;
		*) bad3+="record $n $t: '$(tstat "$n" "$t")'; " ;;
		esac
	done
	has_sealed "$n" && bad3+="record $n still sealed; "
done
check_eq "3:   each record is delivered or superseded on both targets, never failed" "" "$bad3"
echo "# 3: $del3 delivered, $sup3 superseded (target x record)"
check_eq "3:   the newest record is delivered on legacy1" delivered "$(tword "$last3" legacy1)"
check_eq "3:   the newest record is delivered on legacy2" delivered "$(tword "$last3" legacy2)"
# No record is delivered after a newer one: by syncd's delivery events, and by the time
# of the last attempt written on the records (seconds only, so never decreasing).
check "3:   syncd.log: no delivery of an older change after a newer one" \
	delivery_order_ok "$first3"
bad3=''
for t in legacy1 legacy2; do
	prev=0
	for n in $(seq "$first3" "$last3"); do
		[ "$(tword "$n" "$t")" = delivered ] || continue
		tm=$(ttime "$n" "$t")
		[ "${tm%Z}" -ge "$prev" ] || bad3+="$t: record $n delivered at $tm, before an older one; "
		prev=${tm%Z}
	done
done
check_eq "3:   status times of delivered records never go back" "" "$bad3"
superseded_say_by() { # FIRST LAST: every superseded status of FIRST..LAST says by what
	local n t s
	for n in $(seq "$1" "$2"); do
		for t in legacy1 legacy2; do
			s=$(tstat "$n" "$t")
			case $s in *' superseded '*) [[ $s == *' error=superseded by '* ]] || { echo "$s"; return 1; } ;; esac
		done
	done
}
check "3:   a superseded status says what superseded it" superseded_say_by "$first3" "$last3"

# The same burst while syncd is stopped (SIGSTOP): it then finds the ten records at once,
# and every older one has a newer applied change, so it must be superseded, not delivered.
PB=() TOK=()
for i in $(seq 1 10); do
	np "PB[$i]"
	TOK[i]=$(token --sub "$ALICE" --ial 2 --amr hwk,face)
done
first3b=$(($(last_change) + 1))
ok3=0
kill -STOP "$SYNCD_PID"
for i in $(seq 1 10); do
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -e "$(ctl "${TOK[i]}")" \
		-s "${PB[i]}" "$ALICE" >/dev/null 2>&1 && ok3=$((ok3 + 1))
done
kill -CONT "$SYNCD_PID"
last3b=$(last_change)
check_eq "3: ten more resets while syncd is stopped are allowed" 10 "$ok3"
check "3:   the last one binds on legacy1" waitfor 15 l1 -D "$L1_ALICE" -w "${PB[10]}"
check "3:   the last one binds on legacy2" waitfor 15 l2 -D "$L2_ALICE" -w "${PB[10]}"
check "3:   every record is final" waitfor 15 no_pending
check "3:   the ninth does not bind on legacy1" nb l1 -D "$L1_ALICE" -w "${PB[9]}"
check "3:   the ninth does not bind on legacy2" nb l2 -D "$L2_ALICE" -w "${PB[9]}"
bad3='' sup3=0
for n in $(seq "$first3b" "$((last3b - 1))"); do
	for t in legacy1 legacy2; do
		w=$(tword "$n" "$t")
		[ "$w" = superseded ] && sup3=$((sup3 + 1))
		[ "$w" = delivered ] || [ "$w" = superseded ] || bad3+="record $n $t: '$(tstat "$n" "$t")'; "
	done
done
check_eq "3:   no older record failed" "" "$bad3"
check_eq "3:   the nine older records are superseded on both targets" 18 "$sup3"
check_eq "3:   the newest is delivered on legacy1" delivered "$(tword "$last3b" legacy1)"
check_eq "3:   the newest is delivered on legacy2" delivered "$(tword "$last3b" legacy2)"
check "3:   a superseded status says what superseded it" superseded_say_by "$first3b" "$last3b"
check "3:   syncd.log: still no delivery of an older change after a newer one" \
	delivery_order_ok "$first3"

# =====================================================================================
# 4. A target down, then back; then down for longer than the retry budget
# =====================================================================================
a0=$(metric resetguard_syncd_attempts_total legacy2)
f0=$(metric resetguard_syncd_failures_total legacy2)
check "4: legacy2 stops" legacy2_stop
np Q1
t0=$(now_ms)
check "4: reset of alice while legacy2 is down is allowed" reset "$ALICE" "$Q1"
nq1=$(last_change)
check "4:   legacy1 gets it promptly (within 5 s)" waitfor 5 l1 -D "$L1_ALICE" -w "$Q1"
echo "# 4: legacy1 delivery with legacy2 down took $(($(now_ms) - t0)) ms"
check "4:   the record shows legacy1 delivered" waitfor 5 is_status "$nq1" legacy1 delivered
check "4:   the record shows legacy2 retrying" waitfor 5 is_status "$nq1" legacy2 retrying
s=$(tstat "$nq1" legacy2)
check "4:   with attempts >= 1 ($s)" test "$(tattempts "$nq1" legacy2)" -ge 1
check "4:   and an error text" has_error "$s"
check "4:   the sealed password stays while legacy2 is not final" has_sealed "$nq1"
attempts_at_least() { [ "$(tattempts "$1" "$2")" -ge "$3" ]; }
check "4:   a second attempt fails too" waitfor 10 attempts_at_least "$nq1" legacy2 2
legacy2_start
check_eq "4: legacy2 restarts" 0 "$?"
check "4:   Q1 reaches legacy2 within the retry window (25 s)" waitfor 25 l2 -D "$L2_ALICE" -w "$Q1"
check "4:   the record shows legacy2 delivered" waitfor 5 is_status "$nq1" legacy2 delivered
check "4:   after more than one attempt" test "$(tattempts "$nq1" legacy2)" -gt 1
check "4:   the sealed password is removed" waitfor 5 no_sealed "$nq1"
a1=$(metric resetguard_syncd_attempts_total legacy2)
check "4:   attempts_total{legacy2} grew by more than 1 ($a0 -> $a1)" test "$((a1 - a0))" -gt 1
check "4:   attempts_total{legacy2} > 1" test "$a1" -gt 1

check "4: legacy2 stops again" legacy2_stop
lines=$(log_lines)
np Q2
check "4: reset of alice while legacy2 stays down" reset "$ALICE" "$Q2"
nq2=$(last_change)
check "4:   legacy1 gets it" waitfor 5 l1 -D "$L1_ALICE" -w "$Q2"
# max-attempts 6, retry-base 1, retry-max 20: the five delays add up to 15.5..31 s.
check "4:   legacy2 is failed once the retry budget is spent" \
	waitfor 40 is_status "$nq2" legacy2 failed
check_eq "4:   after max-attempts (6) attempts" 6 "$(tattempts "$nq2" legacy2)"
check "4:   with an error text" has_error "$(tstat "$nq2" legacy2)"
check_eq "4:   legacy1 is delivered on that record" delivered "$(tword "$nq2" legacy1)"
check "4:   syncd.log has an ALERT line for change $nq2 on legacy2" \
	log_has "$lines" "\"event\":\"alert\".*ALERT change $nq2 for .*target legacy2 failed after 6"
f1=$(metric resetguard_syncd_failures_total legacy2)
check_eq "4:   failures_total{legacy2} incremented" "$((f0 + 1))" "$f1"
check "4:   the sealed password is removed once all targets are final" waitfor 5 no_sealed "$nq2"
legacy2_start
check_eq "4: legacy2 restarts" 0 "$?"
check "4:   legacy2 still has Q1 (the failed Q2 never reached it)" l2 -D "$L2_ALICE" -w "$Q1"

# =====================================================================================
# 6. The main slapd restarts under syncd
# =====================================================================================
lines=$(log_lines)
check "6: the main slapd restarts" bash "$RG_TOP/scripts/sandbox" restart "$RG_DIR"
check "6:   syncd is still running" alive "$SYNCD_PID"
check "6:   syncd saw the connection go" waitfor 10 log_has "$lines" '"event":"follow".*reconnecting'
check "6:   and reconnects by itself (health 200 within 15 s)" waitfor 15 healthy
np R1
check "6: reset of alice after the restart" reset "$ALICE" "$R1"
nr1=$(last_change)
check "6:   reaches legacy1" waitfor 15 l1 -D "$L1_ALICE" -w "$R1"
check "6:   reaches legacy2" waitfor 15 l2 -D "$L2_ALICE" -w "$R1"
check "6:   the record is final" waitfor 5 final_all "$nr1" legacy1 legacy2
check "6:   syncd.log says it follows the log again" log_has "$lines" '"event":"follow","msg":"following '

# =====================================================================================
# 2. An exec target, in a configuration of our own
# =====================================================================================
STORE=$RG_DIR/store.txt STORE2=$RG_DIR/store2.txt
CONF=$RG_DIR/syncd-test.conf
store_conf() { # FILE [DELAY]: the sandbox's configuration plus an exec target writing to FILE
	cat "$RG_SYNCD_CONF"
	printf '\ntarget store {\n\ttype exec\n\tcommand %s\n\targs %s\n\ttimeout 5\n}\n' \
		"$RG_TOP/tests/tools/sha-store" "$*"
}
store_conf "$STORE" >"$CONF"
check "2: the configuration with an exec target checks" "$SYNCD" -t -f "$CONF"
old=$SYNCD_PID
check "2: the sandbox's syncd stops on SIGTERM" stop_pid "$old"
check_fails "2:   and is gone" alive "$old"
check_fails "2:   its metrics port is closed" healthy
syncd_start "$CONF"
check_eq "2: syncd starts with the new configuration" 0 "$?"
sha() { printf %s "$1" | sha256sum | cut -d ' ' -f 1; }
np S1
check "2: reset of alice" reset "$ALICE" "$S1"
ns1=$(last_change)
check "2:   the store gets alice and the password's SHA-256" \
	waitfor 10 grep -qxF "$ALICE $(sha "$S1")" "$STORE"
check "2:   the store file never holds the cleartext" lacks "$STORE" -w "$S1"
check_eq "2:   the store file has that one line" 1 "$(wc -l <"$STORE")"
check "2:   legacy1 gets it too" waitfor 5 l1 -D "$L1_ALICE" -w "$S1"
check "2:   and legacy2" waitfor 5 l2 -D "$L2_ALICE" -w "$S1"
check "2:   the record shows the three targets final" waitfor 5 final_all "$ns1" legacy1 legacy2 store
check_eq "2:   store delivered" delivered "$(tword "$ns1" store)"

# =====================================================================================
# 8. SIGHUP
# =====================================================================================
cp "$CONF" "$W/good.conf"
{
	cat "$W/good.conf"
	echo "retry-bsae 1"
} >"$CONF"
badline=$(wc -l <"$CONF")
lines=$(log_lines)
check "8: SIGHUP with a bad configuration" kill -HUP "$SYNCD_PID"
sleep 1
check "8:   syncd keeps running" alive "$SYNCD_PID"
check "8:   health is 200" waitfor 3 healthy
check "8:   the error is logged with FILE:LINE" \
	waitfor 3 log_has "$lines" "\"event\":\"reload\".*$CONF:$badline: .*keeping the running configuration"
np H1
check "8:   a reset still reaches every target (old configuration)" reset "$ALICE" "$H1"
check "8:     legacy1" waitfor 10 l1 -D "$L1_ALICE" -w "$H1"
check "8:     legacy2" waitfor 10 l2 -D "$L2_ALICE" -w "$H1"
check "8:     the store named in the running configuration" \
	waitfor 10 grep -qxF "$ALICE $(sha "$H1")" "$STORE"
# A good, changed configuration: the exec target writes to another file.
store_conf "$STORE2" >"$CONF"
lines=$(log_lines)
check "8: SIGHUP with a good changed configuration" kill -HUP "$SYNCD_PID"
check "8:   the reload is logged" waitfor 10 log_has "$lines" '"event":"reload".*reloaded'
check "8:   syncd keeps running" alive "$SYNCD_PID"
check "8:   health is 200" waitfor 5 healthy
np H2
check "8:   reset of alice after the reload" reset "$ALICE" "$H2"
nh2=$(last_change)
check "8:     reaches legacy1" waitfor 10 l1 -D "$L1_ALICE" -w "$H2"
check "8:     reaches legacy2" waitfor 10 l2 -D "$L2_ALICE" -w "$H2"
check "8:     reaches the new store file" waitfor 10 grep -qxF "$ALICE $(sha "$H2")" "$STORE2"
check "8:     and not the old one" lacks "$STORE" -w "$(sha "$H2")"
check "8:     the record is final on all three targets" waitfor 5 final_all "$nh2" legacy1 legacy2 store

# =====================================================================================
# 5. kill -9 at random points
# =====================================================================================
check "5: the running syncd stops" stop_pid "$SYNCD_PID"
# The exec store takes 0.15 s here, so that many kills land while a record is in flight.
CONF5=$RG_DIR/syncd-kill.conf
store_conf "$STORE2" 0.15 >"$CONF5"
# A daemon started after a kill waits out the claims the killed one left (a store program
# it started may still be at work): a short lease keeps that wait short.
printf 'claim-lease 10\n' >>"$CONF5"
check_fails "5:   and is gone (metrics port closed)" healthy
ITER=${RG_TEST_KILL_ITERATIONS:-15}
first5=$(($(last_change) + 1))
lines5=$(log_lines)
lastpw_alice='' lastpw_bob='' prevpw_alice='' prevpw_bob='' ok5=0 alive5=0 cut5=0
# reset5 I: a reset of alice (odd I) or root.bob (even I), remembering the last two passwords.
reset5() {
	local k
	np k
	if [ $(($1 % 2)) -eq 1 ]; then
		reset "$ALICE" "$k" >/dev/null 2>&1 || return
		prevpw_alice=$lastpw_alice lastpw_alice=$k
	else
		reset "$BOB" "$k" >/dev/null 2>&1 || return
		prevpw_bob=$lastpw_bob lastpw_bob=$k
	fi
	ok5=$((ok5 + 1))
}
# Three shapes in turn, so the kill lands in every phase: start, wait for /health, reset;
# reset, then start (the kill falls in the start and the recovery search); start and reset
# at once.
for i in $(seq 1 "$ITER"); do
	case $((i % 3)) in
	0) syncd_start "$CONF5"; reset5 "$i" ;;
	1) reset5 "$i"; syncd_start "$CONF5" nowait ;;
	2) syncd_start "$CONF5" nowait; reset5 "$i" ;;
	esac
	sleep "$(printf '0.%03d' $((RANDOM % 300)))"
	alive "$SYNCD_PID" && alive5=$((alive5 + 1))
	kill -9 "$SYNCD_PID" 2>/dev/null
	wait "$SYNCD_PID" 2>/dev/null
	[ "$(pending_count)" -gt 0 ] && cut5=$((cut5 + 1))
done
last5=$(last_change)
echo "# 5: $cut5 of $ITER kills left a record pending"
check_eq "5: every syncd started was still running when killed" "$ITER" "$alive5"
check_eq "5: $ITER resets (alice and root.bob in turn) are allowed" "$ITER" "$ok5"
syncd_start "$CONF5"
check_eq "5: syncd starts once more" 0 "$?"
check "5:   every applied record loses its sealed password (45 s)" waitfor 45 no_pending
bad5='' fin5=0
for n in $(seq "$first5" "$last5"); do
	if final_all "$n" legacy1 legacy2 store >/dev/null 2>&1; then
		fin5=$((fin5 + 1))
	else
		bad5+="$(final_all "$n" legacy1 legacy2 store); "
	fi
done
check_eq "5:   every record of the loop is delivered or superseded on every target" "" "$bad5"
echo "# 5: $fin5 of $((last5 - first5 + 1)) records final"
check "5:   alice's last password binds on legacy1" waitfor 5 l1 -D "$L1_ALICE" -w "$lastpw_alice"
check "5:   alice's last password binds on legacy2" waitfor 5 l2 -D "$L2_ALICE" -w "$lastpw_alice"
check "5:   root.bob's last password binds on legacy1" waitfor 5 l1 -D "$L1_BOB" -w "$lastpw_bob"
check "5:   root.bob's last password binds on legacy2" waitfor 5 l2 -D "$L2_BOB" -w "$lastpw_bob"
check "5:   alice's previous password does not bind on legacy1" nb l1 -D "$L1_ALICE" -w "$prevpw_alice"
check "5:   nor on legacy2" nb l2 -D "$L2_ALICE" -w "$prevpw_alice"
check "5:   root.bob's previous password does not bind on legacy1" nb l1 -D "$L1_BOB" -w "$prevpw_bob"
check "5:   nor on legacy2" nb l2 -D "$L2_BOB" -w "$prevpw_bob"
check_eq "5:   the store's last line for alice is her last password" "$(sha "$lastpw_alice")" \
	"$(grep -F "$ALICE " "$STORE2" | tail -n 1 | awk '{ print $NF }')"
check_eq "5:   the store's last line for root.bob is his last password" "$(sha "$lastpw_bob")" \
	"$(grep -F "$BOB " "$STORE2" | tail -n 1 | awk '{ print $NF }')"
retaken=$(log_since "$lines5" | sed -n 's/.*"event":"record","msg":"change \([0-9]*\) for .* taken".*/\1/p' |
	sort -n | uniq -d | wc -l)
echo "# 5: $retaken record(s) were taken again by a later start"
check "5:   syncd.log: no delivery of an older change after a newer one (whole run)" \
	delivery_order_ok 0
check "5:   syncd is healthy at the end" healthy

# =====================================================================================
# 7. Bad configurations
# =====================================================================================
base=$W/base.conf
cp "$RG_SYNCD_CONF" "$base"
lineof() { grep -n -m 1 -- "$1" "$base" | cut -d: -f1; }
# tconf NAME LINE [TEXT]: syncd -t on $W/NAME.conf fails and prints NAME.conf:LINE.
tconf() {
	local f=$W/$1.conf out rc
	out=$("$SYNCD" -t -f "$f" 2>&1)
	rc=$?
	echo "$out"
	[ "$rc" -ne 0 ] || { echo "exit status 0"; return 1; }
	[[ $out == *"$f:$2: "* ]] || { echo "no \"$f:$2:\" in the output"; return 1; }
	[[ $out == *"${3:-}"* ]] || { echo "no \"$3\" in the output"; return 1; }
}
l=$(lineof '^retry-base ')
sed "${l}a retry-bsae 1" "$base" >"$W/unknown-key.conf"
check "7: unknown key -> FILE:LINE" tconf unknown-key "$((l + 1))"
l=$(lineof '^max-attempts ')
sed "${l}s/.*/max-attempts 6x/" "$base" >"$W/bad-number.conf"
check "7: bad number -> FILE:LINE" tconf bad-number "$l"
l=$(lineof 'type ldap')
sed "${l}s/type ldap/type ldapx/" "$base" >"$W/bad-type.conf"
check "7: unknown target type -> FILE:LINE" tconf bad-type "$l"
sed '/^cert-file /d' "$base" >"$W/missing-key.conf"
check "7: missing required key (cert-file) -> FILE:LAST-LINE" tconf missing-key "$(wc -l <"$W/missing-key.conf")"
check "7:   and the message names the key" tconf missing-key "$(wc -l <"$W/missing-key.conf")" cert-file
l=$(lineof '^metrics-listen ')
sed "${l}s/.*/metrics-listen 0.0.0.0:9464/" "$base" >"$W/metrics-any.conf"
check "7: non-loopback metrics-listen -> FILE:LINE" tconf metrics-any "$l"
l=$(lineof "uri $RG_LEGACY1_URI")
sed "${l}s|.*|\turi ldaps://ldap.example.net:636\n\ttls-verify no|" "$base" >"$W/tls-verify.conf"
check "7: tls-verify no on a non-loopback URI -> FILE:LINE" tconf tls-verify "$((l + 1))"
sed "${l}s|.*|\turi ldaps://127.0.0.1:636\n\ttls-verify no|" "$base" >"$W/tls-verify-lo.conf"
check "7:   (tls-verify no on a loopback URI checks)" "$SYNCD" -t -f "$W/tls-verify-lo.conf"
check "7: a good configuration: exit 0" "$SYNCD" -t -f "$base"
# A key file others can read: the daemon itself refuses to start and names the file. The
# copy points at a closed port so a daemon that starts anyway can do no harm.
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cp "$RG_SYNCD_KEY" "$W/key644.pem" && chmod 644 "$W/key644.pem"
cp "$RG_SYNCD_KEY" "$W/key600.pem" && chmod 600 "$W/key600.pem"
for k in 644 600; do
	sed -e "s|^log-uri .*|log-uri ldap://127.0.0.1:1|" -e "s|^key-file .*|key-file $W/key$k.pem|" \
		-e "s|^metrics-listen .*|metrics-listen 127.0.0.1:$mport|" \
		"$base" >"$W/key$k.conf"
done
check "7:   (the key-file copies' configurations check)" "$SYNCD" -t -f "$W/key644.conf"
keystart() { # MODE: runs the daemon for at most 3 s; prints its output and exit status
	timeout 3 "$SYNCD" -d -f "$W/key$1.conf" >"$W/key$1.out" 2>&1
	echo $?
}
rc=$(keystart 644)
# shellcheck disable=SC2034 # _fail prints T_OUT
T_OUT=$(cat "$W/key644.out")
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -qF "$W/key644.pem" "$W/key644.out"; then
	_pass "7: a key-file readable by others: the daemon refuses to start and names the file"
else
	_fail "7: a key-file readable by others: the daemon refuses to start and names the file" \
		"exit status $rc (124: still running after 3 s)"
fi
check_eq "7:   (the same configuration with the key at 600 starts and keeps running)" 124 "$(keystart 600)"

# =====================================================================================
# 10. A legacy account is found by a unique identity, never by an RDN value alone
# =====================================================================================
# Another entry with alice's uid elsewhere in the tree: legacy1 maps by uid=%r and legacy2
# searches (mail=%r@example.com), so a reset of that entry must reach neither, visibly.
DUP="${ALICE%%,*},ou=contractors,$RG_BASE"
check "10: an entry with alice's uid is added in another OU" as_admin -a <<EOF2
dn: ou=contractors,$RG_BASE
objectClass: organizationalUnit
ou: contractors

dn: $DUP
objectClass: inetOrgPerson
cn: Alice Contractor
sn: Contractor
EOF2
lines=$(log_lines)
np D1
check "10: the look-alike's password is reset" reset "$DUP" "$D1"
nd1=$(last_change)
check "10:   legacy1 (map-template uid=%r) is failed" waitfor 15 is_status "$nd1" legacy1 failed
check "10:   legacy2 (map-search-filter with %r) is failed" waitfor 5 is_status "$nd1" legacy2 failed
check "10:   the error says another entry has the value" \
	eval '[[ "$(tstat "$nd1" legacy1)" == *"another entry than"* ]]'
check "10:   syncd.log has an ALERT line for change $nd1" \
	log_has "$lines" "\"event\":\"alert\".*ALERT change $nd1 for .*target legacy1 failed"
check "10:   the store, keyed by the whole DN, gets the look-alike's password" \
	waitfor 10 grep -qxF "$DUP $(sha "$D1")" "$STORE2"
check "10:   the sealed password is removed" waitfor 10 no_sealed "$nd1"
check "10:   alice's legacy1 password is unchanged" l1 -D "$L1_ALICE" -w "$lastpw_alice"
check "10:   alice's legacy2 password is unchanged" l2 -D "$L2_ALICE" -w "$lastpw_alice"
check "10:   the look-alike's password binds as alice on neither" nb l1 -D "$L1_ALICE" -w "$D1"
check "10:   (nor on legacy2)" nb l2 -D "$L2_ALICE" -w "$D1"
np D2
check "10: a reset of alice herself while the look-alike exists" reset "$ALICE" "$D2"
nd2=$(last_change)
check "10:   is failed on legacy1 too: the value names two entries" \
	waitfor 15 is_status "$nd2" legacy1 failed
check "10:   and alice's legacy1 password is unchanged" l1 -D "$L1_ALICE" -w "$lastpw_alice"
check "10: the look-alike is removed" ldapdelete -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" \
	"$DUP" "ou=contractors,$RG_BASE"
np D3
check "10: a reset of alice, alone with her uid again" reset "$ALICE" "$D3"
check "10:   reaches legacy1" waitfor 15 l1 -D "$L1_ALICE" -w "$D3"
check "10:   and legacy2" waitfor 15 l2 -D "$L2_ALICE" -w "$D3"
lastpw_alice=$D3

# =====================================================================================
# 11. A status write that finds the directory gone is made again
# =====================================================================================
# The exec store takes 3 s; the main slapd stops while it runs, so the last status of the
# record (and the removal of its sealed password) meets no directory. It must be written
# once the directory is back, not left pending until syncd restarts.
check "11: the running syncd stops" stop_pid "$SYNCD_PID"
CONF11=$W/slow.conf
store_conf "$STORE2" 3 >"$CONF11"
syncd_start "$CONF11"
check_eq "11: syncd starts with a slow exec store" 0 "$?"
lines=$(log_lines)
np W1
check "11: reset of alice" reset "$ALICE" "$W1"
nw1=$(last_change)
check "11:   syncd takes the record" waitfor 10 log_has "$lines" "change $nw1 for .* taken"
slapd_pid=$(cat "$RG_DIR/run/slapd.pid")
check "11: the main slapd stops while the store runs" stop_pid "$slapd_pid"
check "11:   the store gets the password meanwhile" \
	waitfor 15 grep -qxF "$ALICE $(sha "$W1")" "$STORE2"
check "11:   syncd could not write the record's final status" \
	waitfor 10 log_has "$lines" "\"event\":\"status-write\".*change $nw1 "
check "11: the main slapd starts again" bash "$RG_TOP/scripts/sandbox" restart "$RG_DIR"
check "11:   the record becomes final on every target (30 s)" \
	waitfor 30 final_all "$nw1" legacy1 legacy2 store
check "11:   syncd is still the same process" alive "$SYNCD_PID"

# =====================================================================================
# 9. No secret anywhere
# =====================================================================================
printf '%s\n' "${USED[@]}" >"$W/used"
check_eq "9: passwords used by this script" "$((${#USED[@]}))" "$(sort -u "$W/used" | wc -l)"
hits=$(grep -rlaF -f "$W/used" "$RG_DIR" 2>&1)
check_eq "9: no cleartext password in any file under the sandbox ($(find "$RG_DIR" -type f | wc -l) files)" "" "$hits"
planted_found() { # the search finds a password planted in a file under the sandbox
	local r
	printf 'x%sx\n' "${USED[0]}" >"$RG_DIR/plant"
	grep -rqaF -f "$W/used" "$RG_DIR"
	r=$?
	rm -f "$RG_DIR/plant"
	return $r
}
check "9:   the search does find a planted one (self-test)" planted_found
http_get "$RG_SYNCD_METRICS_URL" >"$W/metrics.txt"
check "9: the metrics are readable" test -s "$W/metrics.txt"
check_eq "9: no cleartext password in the metrics" "" "$(grep -aF -f "$W/used" "$W/metrics.txt")"
as_syncd -b "$RG_LOG_BASE" -s one '(objectClass=rgLogRecord)' '*' '+' >"$W/records.ldif" 2>&1
check "9: the log records are readable as syncd" grep -q '^rgLogTargetStatus: ' "$W/records.ldif"
check_eq "9: no cleartext password on the log records" "" "$(grep -aF -f "$W/used" "$W/records.ldif")"
check_eq "9: no sealed password left on any record" "" "$(grep -i '^rgLogSealedPassword' "$W/records.ldif" | head -n 3)"

echo "# runtime $(($(date +%s) - T_START)) s"
finish
