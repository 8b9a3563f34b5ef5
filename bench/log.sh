#!/bin/bash
# The reset log at scale: auditor queries over BENCH_LOG_N (1,000,000) records, indexed vs
# not, and the throughput of resetguard-audit verify. One slapd (Debian's, resetguard.so
# loaded) serves, from databases loaded offline with slapadd -q:
#
#   cn=resetlog          the records, with the sandbox's log indexes (scripts/sandbox: eq on
#                        objectClass, entryCSN, entryUUID, rgLogChangeNumber, rgLogTime,
#                        rgLogTarget, rgLogRequester, rgLogApprover, rgLogKind, rgLogDecision,
#                        rgLogReviewRequired, rgLogJti)
#   cn=resetlog-noindex  the same records (rg-mklog run again with --base), objectClass eq only
#   cn=resetlog-100k     a separate log of 100,000 records, sandbox indexes, for verify's
#                        throughput at a tenth of the size (only when BENCH_LOG_N > 100,000)
#   dc=example,dc=com    the auditor uid=auditor.kim,ou=staff and the group cn=auditors
#
# Each log database has the sandbox's ACLs and limits (auditors read everything, with no size
# or time limit) and its rglog overlay. The records come from tests/tools/rg-mklog: spread
# evenly over BENCH_LOG_SPAN_DAYS, chained as the overlay chains them, one in 25 denied, one
# in 200 a break-glass change awaiting review.
#
# Queries, bound as the auditor (BENCH_LOG_AS=rootdn: as each database's rootdn instead, which
# skips ACLs and limits), one-level under the log root, all attributes, with the filters
# `resetguard-audit report` builds:
#   (a) a BENCH_LOG_WINDOW_DAYS window in the middle of the span: rgLogTime>= and <=
#   (b) the window and one target (rgLogTarget=...): the "filtered auditor query"
#   (c) the window, rgLogKind=break-glass and rgLogDecision=allowed
#   (d) one requester (rgLogRequester=...) over the whole log
# timed by bench/ldap-time.c (libldap; a search from the request sent to its
# SearchResultDone, every entry received; process start, connect and bind untimed). One
# warm-up round, then BENCH_LOG_REPS rounds; in each, every query runs once on each
# database, alternating which goes first. A query whose warm-up run took longer than
# BENCH_LOG_SLOW_MS is CPU-bound for seconds: its warm-up run counts, and it runs only
# BENCH_LOG_SLOW_REPS times in all, fewer when its runs add up to BENCH_LOG_SLOW_BUDGET_S
# (the indexed window queries take about 30 s each at 1,000,000 records: one run each). Reported: median and min in ms, and the speed-up
# (unindexed median / indexed median). The result counts must equal, on both databases,
# what rg-mklog's rules give (computed independently here): anything else is an error.
#
# verify: `resetguard-audit -v verify` over the whole indexed log (and the 100k one), as the
# same identity; wall time of the process, and records/s, with the CPU time slapd and the tool
# took. With BENCH_LOG_BASELINE_AUDIT, that binary (another build's resetguard-audit, such as
# one built from main before a change) verifies the same logs in the same run, alternating
# with this tree's over BENCH_LOG_VERIFY_REPS rounds; medians side by side, and their ratio.
#
# The slapd listens on loopback only, on a free port, and is stopped by pid at the end.
# Prints figures and ratios; exits 0 unless something broke (a setup step or a search failed,
# a count is not what it must be, or verify did not verify every record).
#
# Environment (defaults in brackets):
#   BENCH_LOG_N [1000000]        records in the log (at least 1000)
#   BENCH_LOG_SPAN_DAYS [90]     days the records are spread over
#   BENCH_LOG_WINDOW_DAYS [7]    the window of queries (a) to (c)
#   BENCH_LOG_TARGETS [20000]    distinct target accounts
#   BENCH_LOG_REQUESTERS [200]   distinct requesters of each kind (portals, help desk, break-glass)
#   BENCH_LOG_REPS [5]           measured rounds of the queries
#   BENCH_LOG_SLOW_MS [2000]     a query whose warm-up run takes longer (ms) ...
#   BENCH_LOG_SLOW_REPS [3]      ... is run this many times only, its warm-up run included,
#   BENCH_LOG_SLOW_BUDGET_S [30] ... and not again once its runs add up to this many seconds
#   BENCH_LOG_SMALL [100000]     records of the second verify; 0 skips it
#   BENCH_LOG_QUERIES [1]        0: verify only (no unindexed database, no queries)
#   BENCH_LOG_VERIFY_REPS [1]    rounds of verify (3 or more make the medians worth reading)
#   BENCH_LOG_JOBS               -j values to run this tree's verify with too (e.g. "1 2 4"),
#                                each a row "jN" beside "new" (its default -j)
#   BENCH_LOG_BASELINE_AUDIT     a resetguard-audit to compare with, e.g. from
#                                `git worktree add /tmp/base main && sh /tmp/base/scripts/build`:
#                                BENCH_LOG_BASELINE_AUDIT=/tmp/base/resetguard-audit
#   BENCH_LOG_AS [auditor]       auditor or rootdn
#   BENCH_LOGLEVEL [stats]       slapd log level (written to a file), or none
#   BENCH_DIR                    where to put the databases (default: a new temporary
#                                directory, removed at the end); BENCH_KEEP=1 keeps it
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
SLAPD=${SLAPD:-/usr/sbin/slapd}
SLAPADD=${SLAPADD:-/usr/sbin/slapadd}

N=${BENCH_LOG_N:-1000000}
SPAN=${BENCH_LOG_SPAN_DAYS:-90}
WIN=${BENCH_LOG_WINDOW_DAYS:-7}
TARGETS=${BENCH_LOG_TARGETS:-20000}
REQUESTERS=${BENCH_LOG_REQUESTERS:-200}
REPS=${BENCH_LOG_REPS:-5}
SLOW_MS=${BENCH_LOG_SLOW_MS:-2000}
SLOW_REPS=${BENCH_LOG_SLOW_REPS:-3}
SLOW_BUDGET=${BENCH_LOG_SLOW_BUDGET_S:-30}
SMALL=${BENCH_LOG_SMALL:-100000}
QUERIES_ON=${BENCH_LOG_QUERIES:-1}
VREPS=${BENCH_LOG_VERIFY_REPS:-1}
BASELINE=${BENCH_LOG_BASELINE_AUDIT:-}
JOBS=${BENCH_LOG_JOBS:-}
AS=${BENCH_LOG_AS:-auditor}
LOGLEVEL=${BENCH_LOGLEVEL:-stats}
DENIED_EVERY=25 REVIEW_EVERY=200
START=1704067200 # 2024-01-01T00:00:00Z: the first record

BASE=dc=example,dc=com
AUDITOR_DN="uid=auditor.kim,ou=staff,$BASE"
LOG=cn=resetlog NOIDX=cn=resetlog-noindex SMALL_LOG=cn=resetlog-100k

# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"

for v in N:N SPAN:SPAN_DAYS WIN:WINDOW_DAYS TARGETS:TARGETS REQUESTERS:REQUESTERS REPS:REPS SMALL:SMALL QUERIES_ON:QUERIES VREPS:VERIFY_REPS SLOW_MS:SLOW_MS SLOW_REPS:SLOW_REPS SLOW_BUDGET:SLOW_BUDGET_S; do
	val=${v%%:*}
	[[ ${!val} =~ ^[0-9]+$ ]] || die "BENCH_LOG_${v#*:} must be a whole number, not '${!val}'"
done
[ "$N" -ge 1000 ] || die "BENCH_LOG_N must be >= 1000"
[ "$WIN" -ge 1 ] && [ "$SPAN" -ge $((WIN + 2)) ] || die "BENCH_LOG_SPAN_DAYS must exceed BENCH_LOG_WINDOW_DAYS (>= 1) by 2 days or more"
[ "$TARGETS" -ge 1 ] && [ "$REQUESTERS" -ge 1 ] && [ "$REPS" -ge 1 ] && [ "$SLOW_REPS" -ge 1 ] ||
	die "BENCH_LOG_TARGETS, BENCH_LOG_REQUESTERS, BENCH_LOG_REPS and BENCH_LOG_SLOW_REPS must be >= 1"
[ "$SMALL" -lt "$N" ] || SMALL=0
[ "$VREPS" -ge 1 ] || die "BENCH_LOG_VERIFY_REPS must be >= 1"
[[ $JOBS =~ ^[0-9\ ]*$ ]] || die "BENCH_LOG_JOBS must be whole numbers, not '$JOBS'"
[ -z "$BASELINE" ] || [ -x "$BASELINE" ] || die "BENCH_LOG_BASELINE_AUDIT: '$BASELINE' is not an executable"
case "$AS" in auditor | rootdn) ;; *) die "BENCH_LOG_AS must be auditor or rootdn" ;; esac
loglevel_check

# --- everything stops here, also on failure --------------------------------------------
SLAPD_PID=
workdir=
stop_all() { if [ -n "$SLAPD_PID" ]; then stop_pid slapd "$SLAPD_PID"; fi; }
kept_note() { echo "databases and logs kept in $workdir ($(du -sh "$workdir" 2>/dev/null | cut -f1)); remove it when done"; }
cleanup_at_exit

# --- build -------------------------------------------------------------------------------
[ -f "$top/.libs/resetguard.so" ] || "$top/scripts/build"
[ -f "$top/.libs/resetguard.so" ] || die "scripts/build did not build resetguard"
(cd "$top" && make -s tests/tools/rg-mklog resetguard-audit) || die "cannot build rg-mklog and resetguard-audit"
MKLOG=$top/tests/tools/rg-mklog AUDIT=$top/resetguard-audit
mkdir -p "$top/build/bench"
TIMER=$top/build/bench/ldap-time
gcc -O2 -o "$TIMER" "$top/bench/ldap-time.c" -lldap -llber

clean_workdir() { rm -rf "${workdir:?}"/{slapd.d,run,db,log-idx,log-noidx,log-small,*.ldif,*.log,*.out}; }
make_workdir /tmp/rg-bench-log.XXXXXX
mkdir -p "$workdir"/{slapd.d,run,db,log-idx,log-noidx,log-small}

# Monotonic seconds (CLOCK_BOOTTIME, 10 ms steps): for the figures in seconds.
mono() { cut -d' ' -f1 /proc/uptime; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
admin_pw=$(rnd) auditor_pw=$(rnd)
admin_hash=$(hash_pw "$admin_pw") auditor_hash=$(hash_pw "$auditor_pw")

# --- what the queries ask, and what they must return -------------------------------------
# rg-mklog's rules (tests/tools/rg-mklog.c): record n = i + 1 (i = 0..N-1) has time
# START + i * step (microseconds, step = span / N rounded down), target n % TARGETS, kind
# break-glass when it awaits review (n % REVIEW_EVERY == 0 and not denied) else by n % 3,
# requester j = n % REQUESTERS of its kind, decision denied when n % DENIED_EVERY == 0.
# The window is whole days in the middle of the span; the target and the requester are
# those of the record at the window's middle (so neither query comes back empty).
read -r SINCE UNTIL TARGET REQUESTER EXP_A EXP_B EXP_C EXP_D < <(python3 - "$N" "$SPAN" "$WIN" "$TARGETS" "$REQUESTERS" "$DENIED_EVERY" "$REVIEW_EVERY" "$START" <<'PY'
import sys, time
N, span, win, targets, reqs, denied_every, review_every, start = map(int, sys.argv[1:])
D = 86400 * 10**6
step = span * D // N
lo = ((span - win) // 2) * D             # window, from the first record's time, in us
hi = lo + win * D - 1
gt = lambda us: time.strftime("%Y%m%d%H%M%S", time.gmtime(start + us // 10**6)) + ".%06dZ" % (us % 10**6)
kinds = ("self-service", "delegated", "break-glass")
def kind(n):
    denied = n % denied_every == 0
    review = not denied and n % review_every == 0
    return "break-glass" if review else kinds[n % 3]
def requester(n):
    j, k = n % reqs, kind(n)
    return {"self-service": "cn=reset-portal%d,ou=services,dc=example,dc=com",
            "delegated": "uid=helpdesk%d,ou=staff,dc=example,dc=com",
            "break-glass": "uid=breakglass%d,ou=admins,dc=example,dc=com"}[k] % j
mid = (lo + hi) // 2 // step + 1         # the record at the window's middle
tn = mid % targets
rq = requester(mid)
a = b = c = d = 0
for i in range(N):
    n, t = i + 1, i * step
    inw = lo <= t <= hi
    if inw:
        a += 1
        b += n % targets == tn
        c += kind(n) == "break-glass" and n % denied_every != 0
    # the requester DN names its kind; the index j alone does not
    d += n % reqs == mid % reqs and kind(n) == kind(mid)
print(gt(lo), gt(hi), "uid=user%d,ou=people,dc=example,dc=com" % tn, rq, a, b, c, d)
PY
)
[ -n "${EXP_D:-}" ] || die "cannot compute the queries"
F_A="(&(objectClass=rgLogRecord)(rgLogTime>=$SINCE)(rgLogTime<=$UNTIL))"
F_B="(&(objectClass=rgLogRecord)(rgLogTime>=$SINCE)(rgLogTime<=$UNTIL)(rgLogTarget=$TARGET))"
F_C="(&(objectClass=rgLogRecord)(rgLogTime>=$SINCE)(rgLogTime<=$UNTIL)(rgLogKind=break-glass)(rgLogDecision=allowed))"
F_D="(&(objectClass=rgLogRecord)(rgLogRequester=$REQUESTER))"
QUERIES=(a b c d)
declare -A FILTER=([a]=$F_A [b]=$F_B [c]=$F_C [d]=$F_D) EXPECT=([a]=$EXP_A [b]=$EXP_B [c]=$EXP_C [d]=$EXP_D)
declare -A QLABEL=([a]="(a) ${WIN}-day window" [b]="(b) window + target" [c]="(c) window + break-glass allowed" [d]="(d) requester, all time")

# --- configuration -----------------------------------------------------------------------
log_indexes() { # the sandbox's
	printf '%s\n' "objectClass eq" "entryCSN eq" "entryUUID eq" \
		"rgLogTarget eq" "rgLogRequester eq" "rgLogApprover eq" "rgLogKind eq" \
		"rgLogDecision eq" "rgLogReviewRequired eq" "rgLogJti eq"
}
acl_log() { # SUFFIX: the sandbox's (its syncd clauses left out: there is no syncd here)
	local auditors="group.exact=\"cn=auditors,ou=groups,$BASE\""
	cat <<ACL
to attrs=rgLogSealedPassword by * none
to attrs=rgLogTargetStatus,rgLogHookStatus,rgLogClaim by $auditors read by dnattr=rgLogTarget read by * none
to attrs=rgLogReviewVerdict,rgLogReviewer,rgLogReviewTime by $auditors write by dnattr=rgLogTarget read by * none
to dn.onelevel="$1" by $auditors read by dnattr=rgLogTarget read by * none
to dn.base="$1" by $auditors read by users search by * none
to * by $auditors read by * none
ACL
}
log_db() { # INDEX SUFFIX DIR INDEXES...
	local i=$1 suffix=$2 d=$3
	shift 3
	cat <<LDIF

dn: olcDatabase={$i}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {$i}mdb
olcSuffix: $suffix
olcRootDN: cn=admin,$suffix
olcRootPW: $admin_hash
olcDbDirectory: $d
olcDbMaxSize: 17179869184
$(printf 'olcDbIndex: %s\n' "$@")
$(acl_log "$suffix" | awk '{ printf "olcAccess: {%d}%s\n", NR - 1, $0 }')
olcLimits: {0}group/groupOfNames/member="cn=auditors,ou=groups,$BASE" size=unlimited time=unlimited

dn: olcOverlay={0}rglog,olcDatabase={$i}mdb,cn=config
objectClass: olcOverlayConfig
olcOverlay: {0}rglog
LDIF
}
gen_config() {
	local w=$workdir idx
	mapfile -t idx < <(log_indexes)
	cat <<LDIF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $w/run/slapd.pid
olcArgsFile: $w/run/slapd.args
olcLogLevel: $LOGLEVEL

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: {0}back_mdb
olcModuleLoad: {1}$top/.libs/resetguard.so

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif
include: file:///etc/ldap/schema/namedobject.ldif
include: file://$top/schema/resetguard.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcPasswordHash: {SSHA}

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcRootDN: cn=admin,cn=config
olcAccess: {0}to * by * none
LDIF
	log_db 1 "$LOG" "$w/log-idx" "${idx[@]}"
	log_db 2 "$NOIDX" "$w/log-noidx" "objectClass eq"
	[ "$SMALL" -gt 0 ] && log_db 3 "$SMALL_LOG" "$w/log-small" "${idx[@]}"
	cat <<LDIF

dn: olcDatabase={$((SMALL > 0 ? 4 : 3))}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {$((SMALL > 0 ? 4 : 3))}mdb
olcSuffix: $BASE
olcRootDN: cn=admin,$BASE
olcDbDirectory: $w/db
olcDbMaxSize: 1073741824
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcDbIndex: member eq
olcAccess: {0}to attrs=userPassword by anonymous auth by * none
olcAccess: {1}to * by users read by * none
LDIF
}
gen_people() {
	cat <<LDIF
dn: $BASE
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=staff,$BASE
objectClass: organizationalUnit
ou: staff

dn: ou=groups,$BASE
objectClass: organizationalUnit
ou: groups

dn: $AUDITOR_DN
objectClass: inetOrgPerson
uid: auditor.kim
cn: Kim Auditor
sn: Auditor
userPassword: $auditor_hash

dn: cn=auditors,ou=groups,$BASE
objectClass: groupOfNames
cn: auditors
member: $AUDITOR_DN
LDIF
}

say "work directory $workdir; $N records over $SPAN days, $TARGETS targets, $REQUESTERS requesters of each kind"
gen_config > "$workdir/config.ldif"
"$SLAPADD" -F "$workdir/slapd.d" -n 0 -l "$workdir/config.ldif" >"$workdir/slapadd.log" 2>&1 ||
	{ cat "$workdir/slapadd.log" >&2; die "loading cn=config failed"; }
gen_people | "$SLAPADD" -F "$workdir/slapd.d" -b "$BASE" >>"$workdir/slapadd.log" 2>&1 ||
	{ cat "$workdir/slapadd.log" >&2; die "loading the auditor failed"; }

# --- the records -------------------------------------------------------------------------
mklog() { # BASE COUNT
	"$MKLOG" --count "$2" --base "$1" --start "$START" --span-days "$SPAN" --targets "$TARGETS" \
		--requesters "$REQUESTERS" --denied-every "$DENIED_EVERY" --review-every "$REVIEW_EVERY"
}
t0=$(mono)
mklog "$LOG" "$N" > "$workdir/idx.ldif" || die "rg-mklog failed"
T_GEN=$(secs "$t0" "$(mono)")
LDIF_MB=$(du -m "$workdir/idx.ldif" | cut -f1)
if [ "$QUERIES_ON" = 1 ]; then
	mklog "$NOIDX" "$N" > "$workdir/noidx.ldif" || die "rg-mklog failed"
fi
[ "$SMALL" -gt 0 ] && { mklog "$SMALL_LOG" "$SMALL" > "$workdir/small.ldif" || die "rg-mklog failed"; }
say "rg-mklog: $N records ($LDIF_MB MB of LDIF) in $T_GEN s"

declare -A T_LOAD=() DB_MB=()
load() { # NAME SUFFIX LDIF DIR
	local t0 t1
	say "slapadd -q $2 ..."
	t0=$(mono)
	"$SLAPADD" -q -F "$workdir/slapd.d" -b "$2" -l "$3" >"$workdir/slapadd.$1.log" 2>&1 ||
		{ tail -n 20 "$workdir/slapadd.$1.log" >&2; die "slapadd of $2 failed"; }
	t1=$(mono)
	T_LOAD[$1]=$(secs "$t0" "$t1")
	DB_MB[$1]=$(du -m "$4/data.mdb" | cut -f1)
	say "slapadd -q $2: ${T_LOAD[$1]} s, data.mdb ${DB_MB[$1]} MB"
	[ "${BENCH_KEEP:-0}" = 1 ] || rm -f "$3"
}
load idx "$LOG" "$workdir/idx.ldif" "$workdir/log-idx"
[ "$QUERIES_ON" = 1 ] && load noidx "$NOIDX" "$workdir/noidx.ldif" "$workdir/log-noidx"
[ "$SMALL" -gt 0 ] && load small "$SMALL_LOG" "$workdir/small.ldif" "$workdir/log-small"

# --- slapd -------------------------------------------------------------------------------
URI="ldap://127.0.0.1:$(free_port)"
"$SLAPD" -n rg-bench-log -h "$URI/" -F "$workdir/slapd.d" -d "$LOGLEVEL" >"$workdir/slapd.log" 2>&1 &
SLAPD_PID=$!
up=0
wait_until "$SLAPD_PID" ldap_answers "$URI" || up=$?
[ "$up" != 1 ] || { tail -n 20 "$workdir/slapd.log" >&2; die "slapd did not start"; }
ldap_answers "$URI" || die "slapd does not answer on $URI"

bind_of() { # SUFFIX: the DN and password the queries of that database bind with
	if [ "$AS" = rootdn ]; then
		BIND_DN="cn=admin,$1" BIND_PW=$admin_pw
	else
		BIND_DN=$AUDITOR_DN BIND_PW=$auditor_pw
	fi
}

broken=0

# --- queries -----------------------------------------------------------------------------
declare -A SUFFIX=([idx]=$LOG [noidx]=$NOIDX) TIMES=() COUNT=()
# run_query Q DB: one timed search; sets MS to its time, checks its count.
run_query() {
	local q=$1 db=$2 out e
	MS=
	bind_of "${SUFFIX[$db]}"
	if ! out=$("$TIMER" -H "$URI" -D "$BIND_DN" -w "$BIND_PW" -b "${SUFFIX[$db]}" -s one \
		-f "${FILTER[$q]}" -n 1 -W 0 '*' 2>&1); then
		shout "query $q on ${SUFFIX[$db]} failed: $out"
		return 0
	fi
	e=$(sed -n 's/^RESULT entries=\([0-9]*\) .*/\1/p' <<<"$out")
	MS=$(sed -n 's/^RESULT .* median_ms=\([0-9.]*\) .*/\1/p' <<<"$out")
	[ "$e" = "${EXPECT[$q]}" ] || shout "query $q on ${SUFFIX[$db]} returned ${e:-?} entries, not ${EXPECT[$q]}"
	COUNT[$q.$db]=$e
}
# Slow pairs (the warm-up run over SLOW_MS) keep their warm-up run as a measurement and run
# only until they have SLOW_REPS runs or have taken SLOW_BUDGET seconds: a cold cache is a
# small part of seconds of CPU.
declare -A SLOW=() RUNS=() SPENT=()
slow_list=
if [ "$QUERIES_ON" = 1 ]; then
	say "queries as $([ "$AS" = rootdn ] && echo "each database's rootdn" || echo "$AUDITOR_DN"): a warm-up round, then $REPS rounds"
	for ((r = 0; r <= REPS; r++)); do
		if ((r % 2)); then order=(noidx idx); else order=(idx noidx); fi
		for q in "${QUERIES[@]}"; do
			for db in "${order[@]}"; do
				if [ -n "${SLOW[$q.$db]:-}" ]; then
					[ "${RUNS[$q.$db]}" -ge "$SLOW_REPS" ] && continue
					awk -v t="${SPENT[$q.$db]}" -v b="$SLOW_BUDGET" 'BEGIN { exit !(t >= b * 1000) }' && continue
				fi
				run_query "$q" "$db"
				[ -n "$MS" ] || continue
				if [ "$r" = 0 ]; then
					awk -v t="$MS" -v l="$SLOW_MS" 'BEGIN { exit !(t > l) }' || continue
					SLOW[$q.$db]=1
					slow_list+=" $q/$([ "$db" = idx ] && echo indexed || echo unindexed)"
					say "query $q on ${SUFFIX[$db]} took $MS ms: up to $SLOW_REPS runs of it (within ${SLOW_BUDGET} s), the warm-up one included"
				fi
				TIMES[$q.$db]+="$MS "
				RUNS[$q.$db]=$((${RUNS[$q.$db]:-0} + 1))
				SPENT[$q.$db]=$(awk -v a="${SPENT[$q.$db]:-0}" -v b="$MS" 'BEGIN { print a + b }')
			done
		done
	done

	minimum() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { printf "%.1f", $1 }'; }
	declare -A MED=() MIN=()
	for q in "${QUERIES[@]}"; do
		for db in idx noidx; do
			# shellcheck disable=SC2086
			MED[$q.$db]=$(median %.1f ${TIMES[$q.$db]:-0})
			# shellcheck disable=SC2086
			MIN[$q.$db]=$(minimum ${TIMES[$q.$db]:-0})
		done
		[ "${COUNT[$q.idx]:-x}" = "${COUNT[$q.noidx]:-y}" ] ||
			shout "query $q: ${COUNT[$q.idx]:-?} entries with the indexes, ${COUNT[$q.noidx]:-?} without"
	done
fi

# --- verify ------------------------------------------------------------------------------
# CPU seconds (user + system) a process has used, from /proc/PID/stat.
cpu_of() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
declare -A V_SECS=() V_OWN=() V_SLAPD=() V_TOOL=()
verify() { # WHO BINARY NAME SUFFIX RECORDS: one run, its figures appended to WHO.NAME
	local who=$1 bin=$2 name=$3 suffix=$4 n=$5 t0 t1 c0 c1 out rc=0 k=$1.$3 jobs=()
	[[ $who == j* ]] && jobs=(-j "${who#j}")
	bind_of "$suffix"
	say "$who resetguard-audit verify over $suffix ($n records) ..."
	c0=$(cpu_of "$SLAPD_PID")
	t0=$(mono)
	out=$(/usr/bin/time -f 'TOOLCPU %U %S' "$bin" -H "$URI" -D "$BIND_DN" -w "$BIND_PW" -b "$suffix" -v verify "${jobs[@]}" 2>&1) || rc=$?
	t1=$(mono)
	c1=$(cpu_of "$SLAPD_PID")
	echo "$out" | grep -v '^TOOLCPU' | sed 's/^/    /' >&2
	if [ "$rc" -ne 0 ] || ! grep -q "^verified $n records (1\.\.$n)" <<<"$out"; then
		shout "$who verify over $suffix did not verify $n records (exit $rc)"
	fi
	V_SECS[$k]+="$(secs "$t0" "$t1") "
	V_SLAPD[$k]+="$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }') "
	V_TOOL[$k]+="$(awk '/^TOOLCPU/ { printf "%.2f", $2 + $3 }' <<<"$out") "
	V_OWN[$k]+="$(sed -n 's/.*read and checked [0-9]* records in [0-9.]* s (\([0-9]*\) records\/s).*/\1/p' <<<"$out") "
}
WHO=(new)
[ -n "$BASELINE" ] && WHO=(new baseline)
declare -A BIN=([new]=$AUDIT [baseline]=$BASELINE)
for j in $JOBS; do
	WHO+=("j$j")
	BIN[j$j]=$AUDIT
done
for ((r = 0; r < VREPS; r++)); do
	# alternate which goes first: neither always finds the pages cached for it
	order=("${WHO[@]}")
	if ((r % 2)); then
		order=()
		for ((i = ${#WHO[@]} - 1; i >= 0; i--)); do order+=("${WHO[$i]}"); done
	fi
	for who in "${order[@]}"; do
		verify "$who" "${BIN[$who]}" idx "$LOG" "$N"
		[ "$SMALL" -gt 0 ] && verify "$who" "${BIN[$who]}" small "$SMALL_LOG" "$SMALL"
	done
done
declare -A V_RATE=()
for who in "${WHO[@]}"; do
	for name in idx small; do
		k=$who.$name
		[ -n "${V_SECS[$k]:-}" ] || continue
		n=$N
		[ "$name" = small ] && n=$SMALL
		# shellcheck disable=SC2086
		V_RATE[$k]=$(awk -v n="$n" -v s="$(median %.2f ${V_SECS[$k]})" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
	done
done

# --- report ------------------------------------------------------------------------------
speedup() { awk -v x="$1" -v y="$2" 'BEGIN { if (y <= 0) print "n/a"; else if (x / y >= 1) printf "%.1f", x / y; else printf "%.3f", x / y }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }
ver=$(slapd_version)
echo
echo "resetguard log benchmark: slapd $ver, $(nproc) CPUs, loopback, mdb, log level $(loglevel_name)"
echo "  $N records over $SPAN days from $(date -u -d "@$START" +%F) ($TARGETS targets, $REQUESTERS requesters of each kind," \
	"1 in $DENIED_EVERY denied, 1 in $REVIEW_EVERY awaiting review); rg-mklog: $T_GEN s, $LDIF_MB MB of LDIF"
echo "  slapadd -q, indexed (the sandbox's $(log_indexes | wc -l) eq indexes): ${T_LOAD[idx]} s ($(rate "$N" "${T_LOAD[idx]}") records/s), data.mdb ${DB_MB[idx]} MB"
[ "$QUERIES_ON" = 1 ] && echo "  slapadd -q, objectClass eq only:                   ${T_LOAD[noidx]} s ($(rate "$N" "${T_LOAD[noidx]}") records/s), data.mdb ${DB_MB[noidx]} MB"
[ "$SMALL" -gt 0 ] && echo "  slapadd -q, $SMALL records (verify only), indexed: ${T_LOAD[small]} s"
echo
if [ "$QUERIES_ON" = 1 ]; then
	echo "queries: one-level under the log root, all attributes, as $([ "$AS" = rootdn ] && echo "the database's rootdn (no ACLs, no limits)" || echo "an auditor (the sandbox's ACLs and limits)");"
	echo "  timed by bench/ldap-time.c (request sent .. SearchResultDone, all entries received; no process start);"
	echo "  median (min) of $REPS rounds after a warm-up round, ms${slow_list:+ (over $SLOW_MS ms at warm-up: up to $SLOW_REPS runs within $SLOW_BUDGET s, warm-up included:$slow_list)};"
	echo "  window $SINCE .. $UNTIL"
	printf '  %-34s %8s %20s %20s %9s\n' "" results "indexed ms" "unindexed ms" speed-up
	for q in "${QUERIES[@]}"; do
		printf '  %-34s %8s %20s %20s %8sx\n' "${QLABEL[$q]}" "${COUNT[$q.idx]:-?}" \
			"${MED[$q.idx]} (${MIN[$q.idx]})" "${MED[$q.noidx]} (${MIN[$q.noidx]})" "$(speedup "${MED[$q.noidx]}" "${MED[$q.idx]}")"
	done
	echo "  (b) target $TARGET; (d) requester $REQUESTER"
	for q in "${QUERIES[@]}"; do
		echo "  ms per run, $q: indexed ${TIMES[$q.idx]:-n/a }; unindexed ${TIMES[$q.noidx]:-n/a }"
	done
	echo
fi
echo "verify (resetguard-audit -v verify, as the same identity; new: its default -j, jN: -j N; wall time of the process; median of $VREPS):"
for who in "${WHO[@]}"; do
	for name in idx small; do
		k=$who.$name
		[ -n "${V_SECS[$k]:-}" ] || continue
		n=$N
		[ "$name" = small ] && n=$SMALL
		# shellcheck disable=SC2086
		printf '  %-8s %8s records: %6s s, %7s records/s   (runs, s: %s; its own records/s: %s; CPU s, slapd: %s, tool: %s)\n' \
			"$who" "$n" "$(median %.2f ${V_SECS[$k]})" "${V_RATE[$k]}" "${V_SECS[$k]% }" "${V_OWN[$k]% }" \
			"${V_SLAPD[$k]% }" "${V_TOOL[$k]% }"
	done
done
if [ -n "$BASELINE" ]; then
	echo "  this tree / baseline ($BASELINE), $N records: $(speedup "${V_RATE[new.idx]}" "${V_RATE[baseline.idx]}")x"
fi
echo
aim() { awk -v x="$1" -v lim="$2" -v dir="$3" 'BEGIN { ok = dir == "lt" ? x < lim : x > lim; print ok ? "within the aim" : "outside the aim" }'; }
[ "$QUERIES_ON" = 1 ] && echo "filtered auditor query (b) over $N records, indexed: ${MED[b.idx]} ms median   (aim < 100 ms: $(aim "${MED[b.idx]}" 100 lt))"
echo "verify throughput over $N records: ${V_RATE[new.idx]} records/s   (aim > 100,000, issue 11: $(aim "${V_RATE[new.idx]}" 100000 gt))"
finish "$broken"
