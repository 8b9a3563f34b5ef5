#!/bin/bash
# resetguard-syncd and resetguard-audit on a log database set up as a stock Debian slapd
# would be: a size limit smaller than the backlog (sizelimit 50, no limits exception for
# syncd or the auditors), then no syncprov overlay. syncd must deliver every pending record
# whatever the limit, and say what is missing when the sync search is refused, retrying
# with a growing backoff. slapd.conf form, so the test can take syncprov out.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

T_START=$(date +%s)
sandbox_up --syncd --slapd-conf

work_dir rg-limits
export LDAPNOINIT=1

SYNCD=${RG_SYNCD_BIN:-$RG_TOP/resetguard-syncd}
AUDIT=${RG_AUDIT:-$RG_TOP/resetguard-audit}
HEALTH_URL=${RG_SYNCD_METRICS_URL%/metrics}/health
NACC=${RG_TEST_LIMIT_ACCOUNTS:-60}
LIMIT=50
STORE=$W/store.txt

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
http_get() { # URL: the body, whatever the status
	python3 -c 'import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=2)
    sys.stdout.write("%d %s" % (r.status, r.read().decode()))
except urllib.error.HTTPError as e:
    sys.stdout.write("%d %s" % (e.code, e.read().decode()))' "$1" 2>/dev/null
}
log_has() { grep -E -- "$1" "$SYNCD_LOG" || { echo "no line matching: $1"; return 1; }; }

# The log read as syncd, which the size limit now cuts: in windows of 40 change numbers.
as_syncd() {
	ldapsearch -x -H "$RG_URI" -D "$RG_SYNCD_DN" -w "$RG_SYNCD_PW" -LLL -o ldif_wrap=no "$@"
}
last_change() {
	local n=0 got
	while :; do
		got=$(as_syncd -b "$RG_LOG_BASE" -s one "(&(objectClass=rgLogRecord)(rgLogChangeNumber>=$((n + 1)))(rgLogChangeNumber<=$((n + 40))))" \
			rgLogChangeNumber 2>/dev/null | sed -n 's/^rgLogChangeNumber: //p' | sort -n | tail -n 1)
		[ -n "$got" ] || break
		n=$got
	done
	echo "$n"
}
pending_count() {
	local lo=1 hi c=0 last
	last=$(last_change)
	while [ "$lo" -le "$last" ]; do
		hi=$((lo + 39))
		c=$((c + $(as_syncd -b "$RG_LOG_BASE" -s one \
			"(&(objectClass=rgLogRecord)(rgLogOutcome=applied)(rgLogSealedPassword=*)(rgLogChangeNumber>=$lo)(rgLogChangeNumber<=$hi))" \
			1.1 2>/dev/null | grep -c '^dn:')))
		lo=$((hi + 1))
	done
	echo "$c"
}
no_pending() {
	local c
	c=$(pending_count)
	[ "$c" = 0 ] || { echo "$c applied record(s) still carry a sealed password"; return 1; }
}

# syncd_start CONF: a syncd of this test's own, logging to its own file.
SYNCD_LOG=$W/syncd.log
syncd_start() {
	"$SYNCD" -d -f "$1" >>"$SYNCD_LOG" 2>&1 &
	SYNCD_PID=$!
	MY_PIDS+=("$SYNCD_PID")
}

check "the velocity limit is raised for this test" as_admin <<EOF
dn: $RG_POLICY_DN
changetype: modify
replace: rgVelocityLimit
rgVelocityLimit: * target 1000 3600
EOF
{
	for i in $(seq 1 "$NACC"); do
		printf 'dn: uid=lim.u%03d,ou=people,%s\nobjectClass: inetOrgPerson\nuid: lim.u%03d\ncn: Limit User %03d\nsn: User\n\n' \
			"$i" "$RG_BASE" "$i" "$i"
	done
} >"$W/accounts.ldif"
check "$NACC accounts are added" as_admin -a -f "$W/accounts.ldif"

# =====================================================================================
# 1. More pending records than the size limit
# =====================================================================================
check "the sandbox's syncd stops" stop_pid "$(cat "$RG_SYNCD_PID_FILE")"
# The log database as a stock server has it: the default limit (here 50 rather than 500,
# to keep the test short) and no exception for syncd or the auditors.
sed -i -e '/^limits /d' -e 's/^suffix "cn=resetlog"$/&\nsizelimit '"$LIMIT"'/' "$RG_DIR/slapd.conf"
check "the log database gets sizelimit $LIMIT and no limits exceptions" \
	grep -qx "sizelimit $LIMIT" "$RG_DIR/slapd.conf"
check "slapd restarts with it" bash "$RG_TOP/scripts/sandbox" restart "$RG_DIR"

for i in $(seq 1 "$NACC"); do
	printf '%s\n' "Lim-$(openssl rand -hex 8)"
done >"$W/passwords"
ok=0
for i in $(seq 1 "$NACC"); do
	dn=$(printf 'uid=lim.u%03d,ou=people,%s' "$i" "$RG_BASE")
	tok=$(token --sub "$dn" --ial 2 --amr hwk)
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -e "$(ctl "$tok")" \
		-s "$(sed -n "${i}p" "$W/passwords")" "$dn" >/dev/null 2>&1 && ok=$((ok + 1))
done
check_eq "$NACC resets with syncd stopped are allowed" "$NACC" "$ok"
check_eq "  they are $NACC pending records, more than the limit" "$NACC" "$(pending_count)"
check_result "  a plain search as syncd is cut at $LIMIT records" 4 - \
	as_syncd -b "$RG_LOG_BASE" -s one '(objectClass=*)' 1.1
check_result "  and so is a paged one" 4 - \
	as_syncd -E pr=20/noprompt -b "$RG_LOG_BASE" -s one '(objectClass=*)' 1.1

cat "$RG_SYNCD_CONF" >"$W/store.conf"
# targets of their own: the legacy stores do not know these accounts
sed -i '/^target /,$d' "$W/store.conf"
printf 'target store {\n\ttype exec\n\tcommand %s\n\targs %s\n\ttimeout 10\n}\n' \
	"$RG_TOP/tests/tools/sha-store" "$STORE" >>"$W/store.conf"
check "a configuration with one exec target checks" "$SYNCD" -t -f "$W/store.conf"
syncd_start "$W/store.conf"
store_complete() {
	local i dn want
	for i in $(seq 1 "$NACC"); do
		dn=$(printf 'uid=lim.u%03d,ou=people,%s' "$i" "$RG_BASE")
		want=$(printf %s "$(sed -n "${i}p" "$W/passwords")" | sha256sum | cut -d ' ' -f 1)
		grep -qxF "$dn $want" "$STORE" 2>/dev/null || { echo "$dn: not delivered"; return 1; }
	done
}
check "syncd delivers all $NACC records (60 s)" waitfor 60 store_complete
check "  and every record is final (no sealed password left)" waitfor 30 no_pending
check "  syncd says the limit forced windows and names what to raise" \
	log_has "\"event\":\"limits\".*olcLimits \(slapd.conf: limits\) dn.exact=\\\\\"$RG_SYNCD_DN\\\\\" size=unlimited"
check "  /health is 200" waitfor 10 eval '[[ "$(http_get "$HEALTH_URL")" == 200* ]]'

total=$(last_change)
check "resetguard-audit verify reads all $total records as the auditor" \
	eval '"$AUDIT" -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" verify 2>"$W/verify.err" | grep -q "^verified $total records"'
check "  and names the limit on stderr" grep -q "size=unlimited" "$W/verify.err"
check_eq "resetguard-audit report lists all $total records" "$total" \
	"$("$AUDIT" -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" report --format csv 2>/dev/null | tail -n +2 | wc -l)"

# =====================================================================================
# 2. No syncprov on the log database; a log base syncd cannot see
# =====================================================================================
fails_since() { # N: the "cannot follow" lines of syncd's log after its first N lines
	tail -n +"$(($1 + 1))" "$SYNCD_LOG" | grep '"event":"follow".*cannot follow the reset log'
}
# syncd starts afresh against it, so that its backoff starts at the first refusal.
check "the syncd stops" stop_pid "$SYNCD_PID"
sed -i '/^overlay syncprov$/d' "$RG_DIR/slapd.conf"
check "syncprov is taken off the log database" eval '! grep -q "^overlay syncprov" "$RG_DIR/slapd.conf"'
check "slapd restarts without it" bash "$RG_TOP/scripts/sandbox" restart "$RG_DIR"
lines=$(wc -l <"$SYNCD_LOG")
syncd_start "$W/store.conf"
check "syncd says the log database has no syncprov overlay and what to do" \
	waitfor 15 eval 'fails_since "$lines" | grep -q "the log database has no syncprov overlay: add it (see resetguard-syncd(8))"'
check "  /health is 503 with the same text" \
	eval '[[ "$(http_get "$HEALTH_URL")" == "503 not following the reset log: "*"no syncprov overlay: add it (see resetguard-syncd(8))"* ]]'
four_fails() { [ "$(fails_since "$lines" | grep -c syncprov)" -ge 4 ]; }
check "  syncd tries again, four times within 30 s" waitfor 30 four_fails
# The times of the attempts (the log's own, in ms) and the delays syncd announced: a bind
# that works must not reset the backoff while the search keeps being refused.
fails_since "$lines" | grep syncprov | python3 -c '
import json, sys, datetime
for line in sys.stdin:
    o = json.loads(line)
    t = datetime.datetime.strptime(o["time"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
    d = o["msg"].rsplit("reconnecting in ", 1)[1].split(" ")[0]
    print("%.3f %s" % (t, d))' >"$W/fails"
intervals=$(awk 'NR > 1 { printf "%.2f ", $1 - t } { t = $1 }' "$W/fails")
delays=$(awk '{ printf "%s ", $2 }' "$W/fails")
echo "# retry intervals after the refusals: $intervals(announced delays: $delays)"
check "  the intervals grow: the third is longer than the first" \
	awk 'NR == 2 { a = $1 - t } NR == 4 { ok = ($1 - t) > a } { t = $1 } END { exit !ok }' "$W/fails"
# delay i is between half and all of 2^(i-1) s
check "  the announced delays double, with jitter (1, 2, 4, 8 s at most)" awk '
	{ d[NR] = $2 }
	END { if (NR < 4) exit 1; for (i = 1; i <= 4; i++) if (!(d[i] >= 2 ^ (i - 1) / 2 && d[i] <= 2 ^ (i - 1))) exit 1 }' "$W/fails"
check "  and the third interval is 2 s or more" \
	awk 'NR == 4 { ok = ($1 - t) >= 2 } { t = $1 } END { exit !ok }' "$W/fails"
sed -i 's/^overlay rglog$/&\noverlay syncprov/' "$RG_DIR/slapd.conf"
check "syncprov is put back" grep -qx "overlay syncprov" "$RG_DIR/slapd.conf"
check "slapd restarts with it" bash "$RG_TOP/scripts/sandbox" restart "$RG_DIR"
check "syncd follows the log again by itself (health 200 within 20 s)" \
	waitfor 20 eval '[[ "$(http_get "$HEALTH_URL")" == 200* ]]'
check "the syncd stops" stop_pid "$SYNCD_PID"

sed -e 's/^log-base .*/log-base cn=nothere/' "$W/store.conf" >"$W/nobase.conf"
SYNCD_LOG=$W/nobase.log
syncd_start "$W/nobase.conf"
check "a log base that is not there: syncd says to check it, and the ACL that would show it" \
	waitfor 10 grep -q "check the log base cn=nothere, and that $RG_SYNCD_DN may see it: olcAccess" "$SYNCD_LOG"
check "  /health says so too" \
	eval '[[ "$(http_get "$HEALTH_URL")" == "503 "*"check the log base cn=nothere"* ]]'

echo "# runtime $(($(date +%s) - T_START)) s"
finish
