#!/bin/bash
# resetguard-syncd and resetguard-audit on a log database set up as a stock Debian slapd
# would be: a size limit smaller than the backlog (sizelimit 50, no limits exception for
# syncd or the auditors), then no syncprov overlay. syncd must deliver every pending record
# whatever the limit, and say what is missing when the sync search is refused, retrying
# with a growing backoff. slapd.conf form, so the test can take syncprov out.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

T_START=$(date +%s)
sandbox_up --syncd --slapd-conf

W=$(mktemp -d "${TMPDIR:-/tmp}/rg-limits.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
MY_PIDS=()
cleanup() {
	local p
	for p in "${MY_PIDS[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$W"
	_sandbox_cleanup
}
trap cleanup EXIT
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

echo "# runtime $(($(date +%s) - T_START)) s"
finish
