#!/bin/bash
# What resetguard costs: Password Modify, bind and search throughput of Debian's slapd with and
# without the overlay, measured in one run with a libldap load generator (bench/pwmod-load.c).
#
#   (a) baseline: ppolicy + accesslog (logops writes, into a cn=accesslog mdb database) on the
#       people database, the usual audited setup; the reset agent sets users' passwords with
#       RFC 3062 Password Modify.
#   (b) the same plus resetguard (an example policy like the sandbox's, a P-256 issuer key);
#       each Password Modify carries a fresh proofing token (unique jti, ial 2, amr hwk),
#       all minted before anything is timed.
#   (c) ppolicy + resetguard in atomic mode, the recommended deployment: resetguard's own
#       reset log (cn=resetlog,dc=example,dc=com, inside the people database) as the
#       password audit trail instead of accesslog; each change, its record and the token's
#       use commit in one transaction, shared with the resets in flight at the same time
#       (group commit). Same users, policy and tokens as (b) (each slapd
#       keeps its own record of used tokens, so request i carries token i on each).
#   (s) ppolicy + resetguard in separate-database mode: the same with the reset log in a
#       database of its own (cn=resetlog), a pending record before each change and its
#       outcome after (records and outcomes of resets in flight together share commits).
#   Bind of a user and a base-scope search of a user entry are measured on all four, in
#   short rounds that rotate the order of the configurations; the overlay hooks neither.
#   Then, untimed, strace counts the fsync/fdatasync calls of each slapd over
#   BENCH_STRACE_N more resets: the disk flushes (mdb write transactions) per reset.
#
# The slapds listen on loopback only, on free ports, and are stopped by pid at the end.
# Prints figures and ratios, no verdicts; exits 0 unless something broke (a setup step
# failed, a request failed, or the directory does not show the resets that were timed).
#
# Environment (defaults in brackets):
#   BENCH_N [2000]         measured Password Modify requests per configuration
#   BENCH_WARMUP [200]     warm-up Password Modify requests per round and configuration
#   BENCH_USERS [200]      users the resets are spread over
#   BENCH_CONNS [4]        concurrent connections (one client thread each)
#   BENCH_READ_N [6000]    measured binds, and searches, per round
#   BENCH_READ_WARMUP [600]
#   BENCH_ROUNDS [3]       rounds the Password Modify requests are split into, per configuration
#   BENCH_READ_ROUNDS [15] rounds of bind and of search measurements per configuration (short
#                          rounds, the order of the configurations rotating, so that all
#                          share the machine's background load alike)
#   BENCH_STRACE_N [300]   resets per configuration counted under strace (untimed); 0, or no
#                          strace installed, skips the count
#   BENCH_LOGLEVEL [stats] slapd log level (written to a file), or none
#   BENCH_NOSYNC [0]       1 sets olcDbNoSync on every database (no fsync per write)
#   BENCH_CRITICAL [0]     1 marks the proofing control critical (by default it is sent
#                          not critical, as `ldappasswd -e OID=TOKEN` sends it)
#   BENCH_DIR              where to put the databases (default: a new temporary directory,
#                          removed at the end); BENCH_KEEP=1 keeps it
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
SLAPD=${SLAPD:-/usr/sbin/slapd}
SLAPADD=${SLAPADD:-/usr/sbin/slapadd}
SLAPCAT=${SLAPCAT:-/usr/sbin/slapcat}

N=${BENCH_N:-2000}
WARMUP=${BENCH_WARMUP:-200}
USERS=${BENCH_USERS:-200}
CONNS=${BENCH_CONNS:-4}
READ_N=${BENCH_READ_N:-6000}
READ_WARMUP=${BENCH_READ_WARMUP:-600}
ROUNDS=${BENCH_ROUNDS:-3}
READ_ROUNDS=${BENCH_READ_ROUNDS:-15}
STRACE_N=${BENCH_STRACE_N:-300}
LOGLEVEL=${BENCH_LOGLEVEL:-stats}
NOSYNC=${BENCH_NOSYNC:-0}
CRITICAL=${BENCH_CRITICAL:-0}

BASE=dc=example,dc=com
AGENT_DN="cn=reset-portal,ou=services,$BASE"
ISSUER=https://proofing.example.com
CONTROL_OID=2.25.30299494411348485370983023088693649332.3.1

# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"

need_numbers N WARMUP USERS CONNS READ_N READ_WARMUP ROUNDS READ_ROUNDS STRACE_N
if [ "$N" -lt 1 ] || [ "$USERS" -lt 1 ] || [ "$CONNS" -lt 1 ] || [ "$ROUNDS" -lt 1 ] ||
	[ "$READ_N" -lt 1 ] || [ "$READ_ROUNDS" -lt 1 ]; then
	die "BENCH_N, BENCH_USERS, BENCH_CONNS, BENCH_ROUNDS, BENCH_READ_N and BENCH_READ_ROUNDS must be >= 1"
fi
loglevel_check

# --- everything stops here, also on failure --------------------------------------------
declare -A PID=()
workdir=
STRACE_PID=
stop_all() {
	local name
	if [ -n "$STRACE_PID" ]; then
		kill "$STRACE_PID" 2>/dev/null && { wait "$STRACE_PID" 2>/dev/null || true; }
	fi
	for name in "${!PID[@]}"; do stop_pid "slapd $name" "${PID[$name]}"; done
}
cleanup_at_exit

# --- build -------------------------------------------------------------------------------
[ -x "$top/resetguard-token" ] && [ -f "$top/.libs/resetguard.so" ] || "$top/scripts/build"
[ -x "$top/resetguard-token" ] && [ -f "$top/.libs/resetguard.so" ] || die "scripts/build did not build resetguard"
mkdir -p "$top/build/bench"
LOAD=$top/build/bench/pwmod-load
gcc -O2 -o "$LOAD" "$top/bench/pwmod-load.c" -lldap -llber -lpthread
HAVE_RGLOG=0
grep -aq rglog "$top/.libs/resetguard.so" && HAVE_RGLOG=1

clean_workdir() { rm -rf "${workdir:?}"/{a,b,c,s,keys,users.txt,tokens.txt,tok.*,lat.*,strace.*}; }
make_workdir /tmp/rg-bench.XXXXXX

admin_pw=$(rnd) agent_pw=$(rnd) user_pw=$(rnd)
admin_hash=$(hash_pw "$admin_pw") agent_hash=$(hash_pw "$agent_pw") user_hash=$(hash_pw "$user_pw")

mkdir -p "$workdir/keys"
chmod 700 "$workdir/keys"
(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$workdir/keys/issuer.key" 2>/dev/null)
openssl pkey -in "$workdir/keys/issuer.key" -pubout -out "$workdir/keys/issuer.pem" 2>/dev/null

for ((i = 0; i < USERS; i++)); do
	printf 'uid=bench.u%04d,ou=people,%s\n' "$i" "$BASE"
done > "$workdir/users.txt"

# --- configuration -----------------------------------------------------------------------
# gen_config DIR WITH_RG WITH_AL [ATOMIC]: cn=config of one slapd; WITH_RG=1 adds resetguard
# (module, schema, the cn=resetlog database for the reset log, and the overlay), WITH_AL=1
# accesslog (module, the cn=accesslog database, and the overlay); ATOMIC=1 puts the reset log
# in the people database instead (atomic mode); everything else is the same.
gen_config() {
	local d=$1 rg=$2 al=$3 atomic=${4:-0} nosync='' mod=2 db=1 ov=0
	# Appended to a line: an empty line would end the entry.
	[ "$NOSYNC" = 1 ] && nosync=$'\nolcDbNoSync: TRUE'
	cat <<LDIF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $d/run/slapd.pid
olcArgsFile: $d/run/slapd.args
olcLogLevel: $LOGLEVEL

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: {0}back_mdb
olcModuleLoad: {1}ppolicy
LDIF
	[ "$al" = 1 ] && echo "olcModuleLoad: {$((mod++))}accesslog"
	[ "$rg" = 1 ] && echo "olcModuleLoad: {$((mod++))}$top/.libs/resetguard.so"
	cat <<LDIF

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif
include: file:///etc/ldap/schema/namedobject.ldif
LDIF
	[ "$rg" = 1 ] && echo "include: file://$top/schema/resetguard.ldif"
	cat <<LDIF

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
	if [ "$al" = 1 ]; then
		cat <<LDIF

dn: olcDatabase={$db}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {$db}mdb
olcSuffix: cn=accesslog
olcRootDN: cn=admin,cn=accesslog
olcDbDirectory: $d/accesslog
olcDbMaxSize: 1073741824
olcDbIndex: default eq
olcDbIndex: objectClass,entryCSN,reqStart,reqEnd,reqResult,reqDN eq$nosync
olcAccess: {0}to * by * none
LDIF
		db=$((db + 1))
	fi
	if [ "$rg" = 1 ] && [ "$atomic" = 0 ]; then
		cat <<LDIF

dn: olcDatabase={$db}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {$db}mdb
olcSuffix: cn=resetlog
olcRootDN: cn=admin,cn=resetlog
olcDbDirectory: $d/resetlog
olcDbMaxSize: 1073741824
olcDbIndex: objectClass eq$nosync
olcAccess: {0}to * by * none
LDIF
		# Newer builds keep a hash-chained reset log in this database and insist on
		# their rglog overlay guarding it.
		[ "$HAVE_RGLOG" = 1 ] && cat <<LDIF

dn: olcOverlay={0}rglog,olcDatabase={$db}mdb,cn=config
objectClass: olcOverlayConfig
olcOverlay: {0}rglog
LDIF
		db=$((db + 1))
	fi
	cat <<LDIF

dn: olcDatabase={$db}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {$db}mdb
olcSuffix: $BASE
olcRootDN: cn=admin,$BASE
olcRootPW: $admin_hash
olcDbDirectory: $d/db
olcDbMaxSize: 1073741824
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcDbIndex: member eq$nosync
olcAccess: {0}to attrs=userPassword by self write by dn.exact="$AGENT_DN" write by anonymous auth by * none
olcAccess: {1}to attrs=rgPolicySubentry by users read by * none
olcAccess: {2}to * by users read by * none
LDIF
	if [ "$al" = 1 ]; then
		cat <<LDIF

dn: olcOverlay={$ov}accesslog,olcDatabase={$db}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcAccessLogConfig
olcOverlay: {$ov}accesslog
olcAccessLogDB: cn=accesslog
olcAccessLogOps: writes
olcAccessLogPurge: 07+00:00 01+00:00
LDIF
		ov=$((ov + 1))
	fi
	cat <<LDIF

dn: olcOverlay={$ov}ppolicy,olcDatabase={$db}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {$ov}ppolicy
olcPPolicyDefault: cn=passwords,ou=policies,$BASE
olcPPolicyHashCleartext: TRUE
LDIF
	ov=$((ov + 1))
	if [ "$rg" = 1 ]; then
		cat <<LDIF

dn: olcOverlay={$ov}resetguard,olcDatabase={$db}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcRgConfig
olcOverlay: {$ov}resetguard
olcRgDefaultPolicy: cn=default,ou=policies,$BASE
olcRgIssuer: $ISSUER $workdir/keys/issuer.pem
olcRgRootDN: governed
LDIF
	fi
	if [ "$atomic" = 1 ]; then
		cat <<LDIF
olcRgLog: cn=resetlog,$BASE

dn: olcOverlay={$((ov + 1))}rglog,olcDatabase={$db}mdb,cn=config
objectClass: olcOverlayConfig
olcOverlay: {$((ov + 1))}rglog
LDIF
	fi
}

# The olcAccess line of the rgPolicySubentry attribute needs resetguard's schema.
gen_config_checked() {
	if [ "$2" = 1 ]; then gen_config "$@"; else gen_config "$@" | grep -v rgPolicySubentry | renumber_access; fi
}
renumber_access() {
	awk '/^olcAccess: \{[0-9]+\}/ && in_db { sub(/^olcAccess: \{[0-9]+\}/, "olcAccess: {" n++ "}") }
	     /^dn: / { in_db = 1; n = 0 } { print }'
}

gen_data() {
	local rg=$1 atomic=${2:-0} i
	cat <<LDIF
dn: $BASE
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,$BASE
objectClass: organizationalUnit
ou: people

dn: ou=services,$BASE
objectClass: organizationalUnit
ou: services

dn: ou=groups,$BASE
objectClass: organizationalUnit
ou: groups

dn: ou=policies,$BASE
objectClass: organizationalUnit
ou: policies

dn: $AGENT_DN
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: reset-portal
userPassword: $agent_hash

dn: uid=root.bob,ou=people,$BASE
objectClass: inetOrgPerson
uid: root.bob
cn: Bob Root
sn: Root
userPassword: $admin_hash

dn: uid=mgr.lee,ou=people,$BASE
objectClass: inetOrgPerson
uid: mgr.lee
cn: Lee Manager
sn: Manager
userPassword: $admin_hash

dn: cn=privileged,ou=groups,$BASE
objectClass: groupOfNames
cn: privileged
member: uid=root.bob,ou=people,$BASE

dn: cn=approvers,ou=groups,$BASE
objectClass: groupOfNames
cn: approvers
member: uid=mgr.lee,ou=people,$BASE

dn: cn=passwords,ou=policies,$BASE
objectClass: pwdPolicy
objectClass: device
cn: passwords
pwdAttribute: userPassword
pwdMinLength: 8
pwdCheckQuality: 1
pwdInHistory: 3
pwdMustChange: TRUE
LDIF
	if [ "$rg" = 1 ]; then
		cat <<LDIF

dn: cn=default,ou=policies,$BASE
objectClass: rgPolicy
cn: default
description: resetguard benchmark policy (as the sandbox's)
rgResetAgent: $AGENT_DN
rgSelfServiceMinIAL: 2
rgSelfServiceMethod: hwk
rgSelfServiceMethod: face
rgForbiddenMethod: kba
rgPrivilegedGroup: cn=privileged,ou=groups,$BASE
rgPrivilegedMinIAL: 3
rgPrivilegedMethod: hwk
rgPrivilegedForbiddenMethod: sms
rgDelegatedMinIAL: 1
rgDelegatedRequireApprover: TRUE
rgApproverGroup: cn=approvers,ou=groups,$BASE
rgDelegatedRequireReason: TRUE
rgForceChangeAfterDelegated: TRUE
rgMaxEvidenceAge: 900
LDIF
	fi
	if [ "$atomic" = 1 ]; then
		printf '\ndn: cn=resetlog,%s\nobjectClass: rgLogRoot\ncn: resetlog\n' "$BASE"
	fi
	for ((i = 0; i < USERS; i++)); do
		printf '\ndn: uid=bench.u%04d,ou=people,%s\nobjectClass: inetOrgPerson\nuid: bench.u%04d\ncn: Bench User %d\nsn: User%d\nmail: bench.u%04d@example.com\nuserPassword: %s\n' \
			"$i" "$BASE" "$i" "$i" "$i" "$i" "$user_hash"
	done
}

gen_resetlog() {
	cat <<LDIF
dn: cn=resetlog
objectClass: rgLogRoot
cn: resetlog
LDIF
}

declare -A URI=()
setup() {
	local name=$1 rg=$2 al=$3 atomic=${4:-0} d=$workdir/$1
	mkdir -p "$d/slapd.d" "$d/db" "$d/run"
	[ "$al" = 1 ] && mkdir -p "$d/accesslog"
	[ "$rg" = 1 ] && [ "$atomic" = 0 ] && mkdir -p "$d/resetlog"
	gen_config_checked "$d" "$rg" "$al" "$atomic" > "$d/config.ldif"
	"$SLAPADD" -F "$d/slapd.d" -n 0 -l "$d/config.ldif" >"$d/slapadd.log" 2>&1 ||
		{ cat "$d/slapadd.log" >&2; die "$name: loading cn=config failed"; }
	if [ "$rg" = 1 ] && [ "$atomic" = 0 ]; then
		gen_resetlog | "$SLAPADD" -q -F "$d/slapd.d" -b cn=resetlog >>"$d/slapadd.log" 2>&1 ||
			{ cat "$d/slapadd.log" >&2; die "$name: loading cn=resetlog failed"; }
	fi
	gen_data "$rg" "$atomic" | "$SLAPADD" -q -F "$d/slapd.d" -b "$BASE" >>"$d/slapadd.log" 2>&1 ||
		{ cat "$d/slapadd.log" >&2; die "$name: loading the people failed"; }
}

start() {
	local name=$1 d=$workdir/$1 port pid
	port=$(free_port)
	URI[$name]="ldap://127.0.0.1:$port"
	"$SLAPD" -n "rg-bench-$name" -h "${URI[$name]}/" -F "$d/slapd.d" -d "$LOGLEVEL" >"$d/slapd.log" 2>&1 &
	pid=$!
	PID[$name]=$pid
	wait_until "$pid" ldap_answers "${URI[$name]}" && return 0
	tail -n 20 "$d/slapd.log" >&2
	die "slapd $name did not start; see $d/slapd.log"
}

say "setting up four slapds in $workdir: (a) ppolicy+accesslog, (b) the same + resetguard, (c) ppolicy+resetguard atomic, (s) ppolicy+resetguard separate-db"
setup a 0 1
setup b 1 1
setup c 1 0 1
setup s 1 0 0
CONFIGS=(a b c s)
for name in "${CONFIGS[@]}"; do start "$name"; done
# order_of R: the configurations in round R, rotating (a b c, b c a, c a b, ...).
order_of() {
	local k=$((($1 - 1) % ${#CONFIGS[@]}))
	echo "${CONFIGS[@]:k}" "${CONFIGS[@]:0:k}"
}

# --- proofing tokens, minted before anything is timed ------------------------------------
# Request i (warm-up first, rounds one after the other, then the resets under strace)
# targets user i mod USERS and carries token i, whose sub is that user; (b) and (c) each
# take the whole sequence.
PW_ROUNDS=$((N < ROUNDS ? N : ROUNDS))
STRACE=
if [ "$STRACE_N" -gt 0 ]; then
	STRACE=$(command -v strace || true)
	[ -n "$STRACE" ] || say "strace is not installed: flushes per reset are not counted"
fi
[ -n "$STRACE" ] || STRACE_N=0
total=$((PW_ROUNDS * WARMUP + N + STRACE_N))
mint_range() { # FROM TO OUT
	local i
	for ((i = $1; i < $2; i++)); do
		"$top/resetguard-token" --key "$workdir/keys/issuer.key" --iss "$ISSUER" \
			--sub "$(printf 'uid=bench.u%04d,ou=people,%s' $((i % USERS)) "$BASE")" \
			--ial 2 --amr hwk --ttl 900 || exit 1
	done > "$3"
}
mint_tokens "$total" "$workdir/tokens.txt"

# --- measurements ------------------------------------------------------------------------
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)
broken=0

# measure NAME MODE [ARGS...]: runs the load generator against slapd NAME; sets R_OPS R_P50
# R_P99, R_N and R_SECS (measured requests and their wall time), R_TICKS (slapd CPU ticks
# over warm-up and measured part) and R_CPU (slapd CPU microseconds per request of either).
measure() {
	local name=$1 mode=$2 out rc=0 c0 c1
	shift 2
	c0=$(cpu_ticks "${PID[$name]}")
	out=$("$LOAD" "$mode" -H "${URI[$name]}" -u "$workdir/users.txt" -c "$CONNS" "$@") || rc=$?
	c1=$(cpu_ticks "${PID[$name]}")
	echo "$out" | sed "s/^/    [$name $mode] /" >&2
	if [ "$rc" -ne 0 ] || ! grep -q '^RESULT' <<<"$out" || ! grep -q ' errors=0$' <<<"$out"; then
		shout "$mode on ($name) HAD ERRORS (exit $rc): its figures are not valid"
	fi
	R_OPS=$(sed -n 's/^RESULT.* ops_per_s=\([0-9.]*\).*/\1/p' <<<"$out")
	R_P50=$(sed -n 's/^RESULT.* p50_ms=\([0-9.]*\).*/\1/p' <<<"$out")
	R_P99=$(sed -n 's/^RESULT.* p99_ms=\([0-9.]*\).*/\1/p' <<<"$out")
	R_N=$(sed -n 's/^RESULT.* ops=\([0-9]*\).*/\1/p' <<<"$out")
	R_SECS=$(sed -n 's/^RESULT.* secs=\([0-9.]*\).*/\1/p' <<<"$out")
	: "${R_OPS:=0}" "${R_P50:=0}" "${R_P99:=0}" "${R_N:=0}" "${R_SECS:=0}"
	R_TICKS=$((c1 - c0))
	R_CPU=$(cpu_us "$R_TICKS" $((R_N + W_CUR)))
}
cpu_us() { awk -v t="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }'; }

# Bind and search first: Password Modify changes the users' passwords.
declare -A OPS=() P50=() P99=() CPU=() ROUND_OPS=()
for mode in bind search; do
	say "$mode: $READ_ROUNDS rounds of $READ_WARMUP warm-up + $READ_N measured on each of (a), (b), (c) and (s), rotating"
	for ((r = 1; r <= READ_ROUNDS; r++)); do
		for name in $(order_of "$r"); do
			W_CUR=$READ_WARMUP
			if [ "$mode" = bind ]; then
				measure "$name" bind -p "$user_pw" -n "$READ_N" -W "$READ_WARMUP"
			else
				measure "$name" search -D "$AGENT_DN" -w "$agent_pw" -n "$READ_N" -W "$READ_WARMUP"
			fi
			ROUND_OPS[$mode.$name.ops]+="$R_OPS " ROUND_OPS[$mode.$name.p50]+="$R_P50 "
			ROUND_OPS[$mode.$name.p99]+="$R_P99 " ROUND_OPS[$mode.$name.cpu]+="$R_CPU "
		done
	done
	for name in "${CONFIGS[@]}"; do
		# shellcheck disable=SC2086
		OPS[$mode.$name]=$(median %s ${ROUND_OPS[$mode.$name.ops]})
		# shellcheck disable=SC2086
		P50[$mode.$name]=$(median %s ${ROUND_OPS[$mode.$name.p50]})
		# shellcheck disable=SC2086
		P99[$mode.$name]=$(median %s ${ROUND_OPS[$mode.$name.p99]})
		# shellcheck disable=SC2086
		CPU[$mode.$name]=$(median %s ${ROUND_OPS[$mode.$name.cpu]})
	done
done

# Password Modify is bound by the disk (an fsync per database written), whose speed drifts:
# the N requests are split into rounds rotating the order of (a), (b), (c) and (s), and the
# figures of each configuration are over all of its rounds (total requests / total time,
# percentiles of all latencies). Each round starts with its own warm-up; every request of
# (b) and of (c), warm-up included, takes the next unused token of its sequence (-s).
say "password modify: $N measured in $PW_ROUNDS rounds rotating (a) without a control, (b), (c) and (s) with a token each; $WARMUP warm-up per round"
crit=()
[ "$CRITICAL" = 1 ] && crit=(-C)
declare -A pw_n=() pw_secs=() pw_ticks=() pw_first=()
for name in "${CONFIGS[@]}"; do pw_n[$name]=0 pw_secs[$name]=0 pw_ticks[$name]=0 pw_first[$name]=0; done
# pw_args NAME N WARMUP: the load generator's arguments for NAME's next N + WARMUP resets.
pw_args() {
	args=(-D "$AGENT_DN" -w "$agent_pw" -n "$2" -W "$3" -s "${pw_first[$1]}")
	[ "$1" != a ] && args+=(-t "$workdir/tokens.txt" -o "$CONTROL_OID" "${crit[@]}")
	pw_first[$1]=$((pw_first[$1] + $2 + $3))
}
W_CUR=$WARMUP
for ((r = 1; r <= PW_ROUNDS; r++)); do
	n_r=$((N / PW_ROUNDS + (r <= N % PW_ROUNDS ? 1 : 0)))
	for name in $(order_of "$r"); do
		pw_args "$name" "$n_r" "$WARMUP"
		args+=(-L "$workdir/lat.pwmod.$name.$r")
		measure "$name" pwmod "${args[@]}"
		pw_n[$name]=$((pw_n[$name] + R_N))
		pw_ticks[$name]=$((pw_ticks[$name] + R_TICKS))
		pw_secs[$name]=$(awk -v a="${pw_secs[$name]}" -v b="$R_SECS" 'BEGIN { print a + b }')
		ROUND_OPS[pwmod.$name.ops]+="$R_OPS "
	done
done
for name in "${CONFIGS[@]}"; do
	OPS[pwmod.$name]=$(awk -v n="${pw_n[$name]}" -v s="${pw_secs[$name]}" 'BEGIN { r = 0; if (s > 0) r = n / s; printf "%.1f", r }')
	P50[pwmod.$name]=$(cat "$workdir"/lat.pwmod."$name".* | percentile 50 3)
	P99[pwmod.$name]=$(cat "$workdir"/lat.pwmod."$name".* | percentile 99 3)
	CPU[pwmod.$name]=$(cpu_us "${pw_ticks[$name]}" $((pw_first[$name])))
done

# --- disk flushes per reset, counted by strace (untimed) ---------------------------------
# mdb flushes each write transaction it commits with one fdatasync (none with olcDbNoSync).
# strace -f -p attaches to every thread of the running slapd and stops it at each system
# call, so these resets are slow and are no part of any other figure; -C prints the calls
# (with -y, the file of each descriptor: which database) and the -c summary.
declare -A FLUSH=() FLUSH_BY=()
for name in "${CONFIGS[@]}"; do FLUSH[$name]=n/a FLUSH_BY[$name]=; done
if [ "$STRACE_N" -gt 0 ]; then
	say "counting the fsync and fdatasync calls of each slapd over $STRACE_N more resets under strace (untimed)"
	for name in "${CONFIGS[@]}"; do
		st=$workdir/strace.$name
		"$STRACE" -f -C -y -e trace=fdatasync,fsync -o "$st" -p "${PID[$name]}" 2>"$st.err" &
		STRACE_PID=$!
		attached=0
		wait_until "$STRACE_PID" grep -q 'attached' "$st.err" && attached=1
		[ "$attached" = 1 ] || say "strace did not attach to slapd $name: $(tr '\n' ' ' <"$st.err")"
		# Run even so: the checks below count these resets.
		pw_args "$name" "$STRACE_N" 0
		out=$("$LOAD" pwmod -H "${URI[$name]}" -u "$workdir/users.txt" -c "$CONNS" "${args[@]}") || true
		echo "$out" | sed "s/^/    [$name pwmod under strace] /" >&2
		if ! grep -q '^RESULT.* errors=0$' <<<"$out"; then
			echo "!!! bench: password modify under strace on ($name) HAD ERRORS" >&2
			broken=1
		fi
		kill -INT "$STRACE_PID" 2>/dev/null || true
		wait "$STRACE_PID" 2>/dev/null || true
		STRACE_PID=
		[ "$attached" = 1 ] || continue
		calls=$(awk '$NF == "total" && $1 ~ /^[0-9.]+$/ { print $4 }' "$st")
		: "${calls:=0}"
		FLUSH[$name]=$(awk -v c="$calls" -v n="$STRACE_N" 'BEGIN { printf "%.2f", c / n }')
		# Per database: the directory of the file synced (db, accesslog, resetlog).
		FLUSH_BY[$name]=$(grep -E '^[0-9]+ +f(data)?sync\(' "$st" |
			sed -n 's|.*<'"$workdir/$name"'/\([^/>]*\)/[^>]*>.*|\1|p' | sort | uniq -c |
			awk -v n="$STRACE_N" '{ printf "%s%s %.2f", sep, $2, $1 / n; sep = ", " }')
		say "strace: ($name) $calls fsync/fdatasync calls over $STRACE_N resets: ${FLUSH[$name]} per reset (${FLUSH_BY[$name]:-none})"
	done
fi

# --- does the directory show what was timed? ---------------------------------------------
check() { # WHAT EXPECTED GOT
	if [ "$2" = "$3" ]; then
		say "check: $1: $3 (as expected)"
	else
		echo "!!! bench: check FAILED: $1: $3, expected $2" >&2
		broken=1
	fi
}
dump() { "$SLAPCAT" -F "$workdir/$1/slapd.d" -b "$2" 2>/dev/null; }
# (c) and (s) have no cn=accesslog: their audit trail is the reset log.
for name in a b; do
	check "($name) successful password changes of bench users in cn=accesslog" "$total" \
		"$(dump "$name" cn=accesslog | awk -v RS= '/\nreqType: modify/ && /\nreqResult: 0/ && /\nreqDN: uid=bench\.u/ && /\nreqMod: userPassword:/' | grep -c '^dn: ' || true)"
done
for name in "${CONFIGS[@]}"; do
	check "($name) bench users with a pwdChangedTime" "$((total < USERS ? total : USERS))" \
		"$(dump "$name" "$BASE" | grep -c '^pwdChangedTime: ' || true)"
done
for name in b c s; do
	check "($name) proofing tokens recorded as used on bench users (rgUsedToken values)" "$total" \
		"$(dump "$name" "$BASE" | grep -c '^rgUsedToken: ' || true)"
	check "($name) sum of rgResetCount over bench users" "$total" \
		"$(dump "$name" "$BASE" | awk '/^rgResetCount: / { s += $2 } END { print s + 0 }')"
	if [ "$HAVE_RGLOG" = 1 ]; then
		logdb=cn=resetlog
		[ "$name" = c ] && logdb=$BASE
		check "($name) reset log records with outcome applied under cn=resetlog" "$total" \
			"$(dump "$name" "$logdb" | grep -ci '^rgLogOutcome: applied$' || true)"
	fi
done
# The directory's contents above are what count; slapd's log lines are only a cross-check
# (their wording may change), so a mismatch there is reported, not fatal.
if [ "$LOGLEVEL" != 0 ]; then
	for name in b c s; do
		n_allowed=$(grep -Ec 'resetguard: .* of ".*" by ".*": allowed' "$workdir/$name/slapd.log" || true)
		n_denied=$(grep -Ec 'resetguard: .* of ".*" by ".*": denied' "$workdir/$name/slapd.log" || true)
		say "log: ($name) slapd logged $n_allowed changes allowed by resetguard (expected $total) and $n_denied denied (expected 0)"
		[ "$n_allowed" = "$total" ] && [ "$n_denied" = 0 ] ||
			say "log: NOTE: the log lines do not match what the directory shows; look at $workdir/$name/slapd.log"
	done
fi

# --- report ------------------------------------------------------------------------------
ver=$(slapd_version)
sync=fsync
[ "$NOSYNC" = 1 ] && sync="no fsync (olcDbNoSync)"
echo
echo "resetguard benchmark: slapd $ver, $(nproc) CPUs, loopback, $CONNS connections, mdb with $sync, log level $(loglevel_name)"
echo "  password modify: $N measured over $USERS users, in $PW_ROUNDS rounds rotating (a)/(b)/(c)/(s), $WARMUP warm-up per round"
echo "  bind, search: median of $READ_ROUNDS rounds of $READ_N (+$READ_WARMUP warm-up), rotating (a)/(b)/(c)/(s)"
echo "  (a) ppolicy + accesslog    (b) ppolicy + accesslog + resetguard"
echo "  (c) ppolicy + resetguard in atomic mode, no accesslog    (s) ppolicy + resetguard, separate log database, no accesslog"
echo "      (b), (c), (s): a proofing token (ES256) per reset, in a $([ "$CRITICAL" = 1 ] && echo critical || echo non-critical) control"
echo
printf '%-21s %10s %8s %8s %8s %9s %8s\n' "" "ops/s" "p50 ms" "p99 ms" "cpu us" "flush/op" "vs (a)"
for mode in pwmod bind search; do
	case $mode in
	pwmod) label="password modify" ;;
	bind) label="simple bind" ;;
	search) label="base search" ;;
	esac
	for name in "${CONFIGS[@]}"; do
		flush=-
		[ "$mode" = pwmod ] && flush=${FLUSH[$name]}
		vs=-
		[ "$name" != a ] && vs=$(ratio "${OPS[$mode.$name]}" "${OPS[$mode.a]}" 3)
		printf '%-16s (%s) %10.1f %8.3f %8.3f %8.1f %9s %8s\n' "$([ "$name" = a ] && echo "$label")" "$name" \
			"${OPS[$mode.$name]}" "${P50[$mode.$name]}" "${P99[$mode.$name]}" "${CPU[$mode.$name]}" "$flush" "$vs"
	done
done
echo "  per reset, mdb write transactions (one fdatasync each): (a) 2 = entry + accesslog record;" \
	"(b) 4 = entry + accesslog record + reset-log record + its outcome; (c) 1 = entry and reset-log record together;" \
	"(s) 3 = entry + reset-log record + its outcome; resetguard's writes of resets in flight together" \
	"share transactions (group commit), so (b), (c) and (s) flush less than that under concurrency"
if [ "$STRACE_N" -gt 0 ]; then
	echo "  (flush/op: fsync + fdatasync calls of slapd per reset, counted by strace over $STRACE_N untimed resets;" \
		"by database: (a) ${FLUSH_BY[a]:-n/a}; (b) ${FLUSH_BY[b]:-n/a}; (c) ${FLUSH_BY[c]:-n/a}; (s) ${FLUSH_BY[s]:-n/a})"
else
	echo "  (flush/op: not counted: $([ "${BENCH_STRACE_N:-300}" = 0 ] && echo "BENCH_STRACE_N=0" || echo "strace is not installed"))"
fi
echo "  (cpu us: slapd CPU time per request, warm-up included; ops/s and latencies: measured part;" \
	"vs (a): ops/s ratio)"
for mode in pwmod bind search; do
	echo "  $mode ops/s per round: (a) ${ROUND_OPS[$mode.a.ops]% }; (b) ${ROUND_OPS[$mode.b.ops]% }; (c) ${ROUND_OPS[$mode.c.ops]% }; (s) ${ROUND_OPS[$mode.s.ops]% }"
done
for mode in bind search; do
	echo "  $mode cpu us per round: (a) ${ROUND_OPS[$mode.a.cpu]% }; (b) ${ROUND_OPS[$mode.b.cpu]% }; (c) ${ROUND_OPS[$mode.c.cpu]% }; (s) ${ROUND_OPS[$mode.s.cpu]% }"
done
echo
r_pw=$(ratio "${OPS[pwmod.b]}" "${OPS[pwmod.a]}" 3)
r_bind=$(ratio "${OPS[bind.b]}" "${OPS[bind.a]}" 3)
r_search=$(ratio "${OPS[search.b]}" "${OPS[search.a]}" 3)
aim() { awk -v r="$1" -v lo="$2" -v hi="$3" 'BEGIN { if (r == "n/a") print "n/a"; else if (r >= lo && r <= hi) print "within the aim"; else print "outside the aim" }'; }
echo "password modify throughput (b)/(a): $r_pw   (aim >= 0.90: $(aim "$r_pw" 0.9 1e9))   (c)/(a): $(ratio "${OPS[pwmod.c]}" "${OPS[pwmod.a]}" 3)   (aim >= 1.30: $(aim "$(ratio "${OPS[pwmod.c]}" "${OPS[pwmod.a]}" 3)" 1.3 1e9))   (s)/(a): $(ratio "${OPS[pwmod.s]}" "${OPS[pwmod.a]}" 3)"
echo "p50 latency (b)/(a): $(ratio "${P50[pwmod.b]}" "${P50[pwmod.a]}" 3)   p99 latency (b)/(a): $(ratio "${P99[pwmod.b]}" "${P99[pwmod.a]}" 3)" \
	"  p50 latency (c)/(a): $(ratio "${P50[pwmod.c]}" "${P50[pwmod.a]}" 3)   p99 latency (c)/(a): $(ratio "${P99[pwmod.c]}" "${P99[pwmod.a]}" 3)"
echo "bind throughput   with/without overlay: $r_bind   (aim 0.97..1.03: $(aim "$r_bind" 0.97 1.03))   (c)/(a): $(ratio "${OPS[bind.c]}" "${OPS[bind.a]}" 3)"
echo "search throughput with/without overlay: $r_search   (aim 0.97..1.03: $(aim "$r_search" 0.97 1.03))   (c)/(a): $(ratio "${OPS[search.c]}" "${OPS[search.a]}" 3)"
echo "slapd CPU per request with/without overlay: password modify $(ratio "${CPU[pwmod.b]}" "${CPU[pwmod.a]}" 3), bind $(ratio "${CPU[bind.b]}" "${CPU[bind.a]}" 3), search $(ratio "${CPU[search.b]}" "${CPU[search.a]}" 3)"
echo "slapd CPU per request (c)/(a): password modify $(ratio "${CPU[pwmod.c]}" "${CPU[pwmod.a]}" 3), bind $(ratio "${CPU[bind.c]}" "${CPU[bind.a]}" 3), search $(ratio "${CPU[search.c]}" "${CPU[search.a]}" 3)"
echo "  (with/without overlay: (b)/(a); (c) also drops accesslog, whose hooks see binds and searches too;"
echo "   on a shared or small machine, CPU per request is steadier than throughput)"
finish "$broken"
