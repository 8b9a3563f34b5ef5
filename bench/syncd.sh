#!/bin/bash
# How fast resetguard-syncd carries a reset to the legacy stores, against native syncrepl
# replication of the same change as the floor, measured in one run with a libldap timing
# tool (bench/prop-load.c) on a sandbox (scripts/sandbox up: the main slapd with resetguard,
# the reset log with syncprov, legacy1 and legacy2, resetguard-syncd).
#
#   (1)+(2) latency: syncprov is added to the main database (cn=config over the sandbox's
#       ldapi socket) and a consumer slapd replicates it (refreshAndPersist, bound as the
#       main database's rootdn). BENCH_M resets, one at a time, each of its own account: after
#       each Password Modify response, the consumer, legacy1 (uid=NAME,ou=users; syncd
#       method hash ssha) and legacy2 (found by mail; method passmod) are polled in parallel,
#       each from a thread of its own with a simple bind of the new password every
#       BENCH_POLL_US, until it binds. The same change is timed on all three: the
#       consumer's time is the floor, syncd's per target and the later of the two.
#   (3) throughput (and the longest /metrics request, which syncd serves from its event
#       loop, during each burst): the sandbox's syncd is stopped and resetguard-syncd is started anew
#       with 1, 3 and 8 ldap targets, all of the legacy1 layout (uid=NAME,ou=users, method
#       hash ssha), each target a slapd of its own: legacy1 and BENCH_POOL-1 more started here
#       (the same configuration as legacy1, on their own ports). For each: BENCH_TP_WARMUP
#       resets and a wait until syncd is idle, then BENCH_N resets over BENCH_N accounts fired
#       on BENCH_CONNS connections as fast as they go; syncd's metrics are polled until
#       resetguard_syncd_records_total has grown by BENCH_N and every backlog is 0: resets
#       propagated per second = BENCH_N / (first reset sent .. everything final). Then,
#       untimed, every account's new password is bind-checked on every target, and the
#       reset log must show each record delivered to each target.
#   (4) two instances (issue 9, item 5): two resetguard-syncd sharing the log, instance ids
#       bench-a and bench-b, claim-lease BENCH_LEASE, each with legacy1 alone: BENCH_TP_WARMUP
#       + BENCH_N resets as in (3), the metrics of both summed: resets propagated per second,
#       against one instance with the same target. Then the takeover: bench-b stops,
#       legacy1 is stopped (SIGSTOP) so that bench-a's deliveries hang, BENCH_HA_N resets
#       are fired, bench-a claims them (the claims counted in the log), bench-b starts
#       again and bench-a is killed with SIGKILL; legacy1 continues. From the kill: until
#       bench-b's first claim-taken-over, and until no record holds a claim or a sealed
#       password.
#   The accounts (BENCH_USERS) are added to the main directory (no password: each one's
#   first password is set by a reset), to legacy1, legacy2 and the extra slapds. The
#   sandbox's velocity limit (20 resets per account per hour) is raised on its policy entry.
#   Proofing tokens (ES256, ial 2, amr hwk) are minted before anything is timed; the policy
#   takes evidence up to 900 s old, so a run must finish within 15 minutes of minting.
#
# All slapds are Debian's, log at level stats (as the sandbox runs them), mdb with fsync;
# everything listens on loopback. Every process started here (or by the sandbox) is stopped
# by pid at the end. Prints figures and ratios, no verdicts; exits 0 unless something broke
# (a setup step failed, a reset failed, a new password did not arrive or a check failed).
#
# Environment (defaults in brackets):
#   BENCH_M [200]            latency: measured resets (one at a time)
#   BENCH_LAT_WARMUP [10]    latency: warm-up resets before them
#   BENCH_POLL_US [1000]     latency: bind poll interval per target, microseconds
#   BENCH_LAT_TIMEOUT [10]   latency: seconds a new password may take on a target
#   BENCH_N [300]            throughput: resets per burst (at most BENCH_USERS: each account
#                            once per burst)
#   BENCH_TP_WARMUP [10]     throughput: warm-up resets before each burst
#   BENCH_TARGETS [1 3 8]    throughput: numbers of targets, one burst each
#   BENCH_CONNS [4]          throughput: concurrent connections firing the resets
#   BENCH_METRICS_POLL_US [10000]  throughput: metrics poll interval
#   BENCH_TP_TIMEOUT [120]   throughput: seconds a burst may take to become final
#   BENCH_USERS [300]        accounts
#   BENCH_LEASE [10]         two instances: claim-lease, seconds (at least 10: op-timeout 5)
#   BENCH_HA_N [50]          two instances: resets whose claims are taken over
#   BENCH_DIR                where to put the sandbox (default: a new temporary directory,
#                            removed at the end); BENCH_KEEP=1 keeps it
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
SLAPD=${SLAPD:-/usr/sbin/slapd}
SLAPADD=${SLAPADD:-/usr/sbin/slapadd}

M=${BENCH_M:-200}
LAT_WARMUP=${BENCH_LAT_WARMUP:-10}
POLL_US=${BENCH_POLL_US:-1000}
LAT_TIMEOUT=${BENCH_LAT_TIMEOUT:-10}
N=${BENCH_N:-300}
TP_WARMUP=${BENCH_TP_WARMUP:-10}
TARGETS=${BENCH_TARGETS:-1 3 8}
CONNS=${BENCH_CONNS:-4}
METRICS_POLL_US=${BENCH_METRICS_POLL_US:-10000}
TP_TIMEOUT=${BENCH_TP_TIMEOUT:-120}
USERS=${BENCH_USERS:-300}
LEASE=${BENCH_LEASE:-10}
HA_N=${BENCH_HA_N:-50}

# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"

need_numbers M LAT_WARMUP POLL_US LAT_TIMEOUT N TP_WARMUP CONNS METRICS_POLL_US TP_TIMEOUT USERS LEASE HA_N
[ "$LEASE" -ge 10 ] || die "BENCH_LEASE ($LEASE) must be at least 10 (twice op-timeout)"
[ "$HA_N" -ge 1 ] && [ "$HA_N" -le "$USERS" ] || die "BENCH_HA_N must be from 1 to BENCH_USERS" 
[ "$M" -ge 1 ] && [ "$N" -ge 1 ] && [ "$USERS" -ge 1 ] && [ "$CONNS" -ge 1 ] &&
	[ "$POLL_US" -ge 1 ] && [ "$METRICS_POLL_US" -ge 1 ] && [ "$LAT_TIMEOUT" -ge 1 ] &&
	[ "$TP_TIMEOUT" -ge 1 ] || die "BENCH_M, BENCH_N, BENCH_USERS, BENCH_CONNS, the poll intervals and timeouts must be >= 1"
[ "$N" -le "$USERS" ] || die "BENCH_N ($N) must not exceed BENCH_USERS ($USERS): each account is reset once per burst"
read -r -a TCOUNTS <<<"$TARGETS"
[ ${#TCOUNTS[@]} -ge 1 ] || die "BENCH_TARGETS is empty"
POOL=0
for t in "${TCOUNTS[@]}"; do
	[[ $t =~ ^[0-9]+$ ]] && [ "$t" -ge 1 ] && [ "$t" -le 32 ] || die "BENCH_TARGETS: '$t' is not a number of targets from 1 to 32"
	[ "$t" -gt "$POOL" ] && POOL=$t
done

# --- everything stops here, also on failure --------------------------------------------
declare -A PID=()
workdir=
sandbox_up=0
stop_all() {
	local name
	# syncd first: it writes to the slapds
	for name in "${!PID[@]}"; do
		[[ $name == syncd* ]] && stop_pid "$name" "${PID[$name]}"
	done
	for name in "${!PID[@]}"; do
		[[ $name == syncd* ]] || stop_pid "$name" "${PID[$name]}"
	done
	if [ "$sandbox_up" = 1 ]; then
		bash "$top/scripts/sandbox" down "$workdir" >/dev/null 2>&1 || say "scripts/sandbox down $workdir failed"
	fi
}
kept_note() { echo "sandbox, databases and logs kept in $workdir"; }
cleanup_at_exit

# --- build -------------------------------------------------------------------------------
[ -x "$top/resetguard-token" ] && [ -x "$top/resetguard-syncd" ] && [ -f "$top/.libs/resetguard.so" ] ||
	"$top/scripts/build"
[ -x "$top/resetguard-token" ] && [ -x "$top/resetguard-syncd" ] && [ -f "$top/.libs/resetguard.so" ] ||
	die "scripts/build did not build resetguard"
mkdir -p "$top/build/bench"
LOAD=$top/build/bench/prop-load
gcc -O2 -o "$LOAD" "$top/bench/prop-load.c" -lldap -llber -lpthread

clean_workdir() {
	[ -f "$workdir/run/slapd.pid" ] && die "$workdir already runs a sandbox: take it down first"
	rm -rf "${workdir:?}/bench" "$workdir"/legacy[0-9]*
}
make_workdir /tmp/rg-bench-syncd.XXXXXX
B=$workdir/bench
mkdir -p "$B"

http_ok() {
	python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
		"$1" >/dev/null 2>&1
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
CLK_TCK=$(getconf CLK_TCK)

# --- the sandbox ---------------------------------------------------------------------------
say "starting a sandbox in $workdir (scripts/sandbox up)"
sandbox_up=1
# no CAEP receiver: it verifies every event with openssl processes, on the CPUs measured
bash "$top/scripts/sandbox" up "$workdir" --no-receiver >"$B/sandbox.out" 2>&1 ||
	{ cat "$B/sandbox.out" >&2; die "scripts/sandbox up failed"; }
# shellcheck disable=SC1091
. "$workdir/env"
MAIN_PID=$(cat "$RG_PID_FILE")

ldap_admin() { # URI DN: ldapmodify/ldapadd as DN with its password, quietly
	local uri=$1 dn=$2 pw=$3
	shift 3
	ldapmodify -x -H "$uri" -D "$dn" -w "$pw" "$@" >/dev/null
}

say "raising the velocity limit of $RG_POLICY_DN and adding syncprov to the main database"
ldap_admin "$RG_URI" "$RG_ADMIN_DN" "$RG_ADMIN_PW" <<LDIF || die "cannot raise the velocity limit"
dn: $RG_POLICY_DN
changetype: modify
replace: rgVelocityLimit
rgVelocityLimit: * target 100000 3600
LDIF
main_db=$(ldapsearch -Y EXTERNAL -Q -H "$RG_LDAPI" -LLL -b cn=config "(olcSuffix=$RG_BASE)" dn |
	sed -n 's/^dn: //p')
[ -n "$main_db" ] || die "cannot find the main database in cn=config"
ldapmodify -Y EXTERNAL -Q -H "$RG_LDAPI" >/dev/null <<LDIF || die "cannot add syncprov to $main_db"
dn: olcOverlay=syncprov,$main_db
changetype: add
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: syncprov
LDIF

# --- accounts ----------------------------------------------------------------------------
# Account i: uid=bench.uNNNN,ou=people in the main directory, the same uid in the legacy1
# layout, cn=Bench User NNNN (mail bench.uNNNN@example.com) in legacy2.
say "adding $USERS accounts to the main directory, legacy1 and legacy2"
legacy_suffix() { echo "dc=$1,dc=example"; }
for ((i = 0; i < USERS; i++)); do printf 'uid=bench.u%04d,ou=people,%s\n' "$i" "$RG_BASE"; done > "$B/dn.main"
for ((i = 0; i < USERS; i++)); do printf 'cn=Bench User %04d,ou=accounts,o=legacy2\n' "$i"; done > "$B/dn.legacy2"
dn_legacy() { # NAME: the DN file of a legacy1-layout directory
	[ -f "$B/dn.$1" ] || for ((i = 0; i < USERS; i++)); do
		printf 'uid=bench.u%04d,ou=users,%s\n' "$i" "$(legacy_suffix "$1")"
	done > "$B/dn.$1"
	echo "$B/dn.$1"
}
init_hash=$(hash_pw "$(rnd)")
legacy_users() { # NAME: LDIF of the accounts in the legacy1 layout
	local s i
	s=$(legacy_suffix "$1")
	for ((i = 0; i < USERS; i++)); do
		printf 'dn: uid=bench.u%04d,ou=users,%s\nobjectClass: account\nobjectClass: simpleSecurityObject\nuid: bench.u%04d\nuserPassword: %s\n\n' \
			"$i" "$s" "$i" "$init_hash"
	done
}
for ((i = 0; i < USERS; i++)); do
	printf 'dn: uid=bench.u%04d,ou=people,%s\nobjectClass: inetOrgPerson\nuid: bench.u%04d\ncn: Bench User %04d\nsn: User%04d\nmail: bench.u%04d@example.com\n\n' \
		"$i" "$RG_BASE" "$i" "$i" "$i" "$i"
done | ldap_admin "$RG_URI" "$RG_ADMIN_DN" "$RG_ADMIN_PW" -a || die "adding the accounts to the main directory failed"
legacy_users legacy1 | ldap_admin "$RG_LEGACY1_URI" "$RG_LEGACY1_ADMIN_DN" "$RG_LEGACY_ADMIN_PW" -a ||
	die "adding the accounts to legacy1 failed"
for ((i = 0; i < USERS; i++)); do
	printf 'dn: cn=Bench User %04d,ou=accounts,o=legacy2\nobjectClass: inetOrgPerson\ncn: Bench User %04d\nsn: User%04d\nmail: bench.u%04d@example.com\nuserPassword: %s\n\n' \
		"$i" "$i" "$i" "$i" "$init_hash"
done | ldap_admin "$RG_LEGACY2_URI" "$RG_LEGACY2_ADMIN_DN" "$RG_LEGACY_ADMIN_PW" -a ||
	die "adding the accounts to legacy2 failed"

# --- more legacy directories, as legacy1 -------------------------------------------------
# The throughput targets: legacy1, then legacy3, legacy4, ... (legacy2 takes passmod and is
# found by a search: it is timed in the latency part only).
# shellcheck source=scripts/lib/legacy.sh
. "$top/scripts/lib/legacy.sh"
# legacy_conf reads these, as in the sandbox.
# shellcheck disable=SC2034
dir=$workdir legacy_pw=$RG_LEGACY_ADMIN_PW
declare -A LURI=([legacy1]=$RG_LEGACY1_URI [legacy2]=$RG_LEGACY2_URI)
declare -A LPID=()
POOL_NAMES=(legacy1)
for ((k = 3; ${#POOL_NAMES[@]} < POOL; k++)); do POOL_NAMES+=("legacy$k"); done
extra=$((POOL - 1))
[ "$extra" -gt 0 ] && say "starting $extra more legacy slapds (legacy1 layout): ${POOL_NAMES[*]:1}"
for name in "${POOL_NAMES[@]:1}"; do
	d=$workdir/$name s=$(legacy_suffix "$name")
	rm -rf "$d"
	mkdir -p "$d/db"
	legacy_conf "$name" "$s" "$d" > "$d/slapd.conf"
	{
		printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: %s\no: %s\n\n' "$s" "$name" "$name"
		printf 'dn: ou=users,%s\nobjectClass: organizationalUnit\nou: users\n\n' "$s"
		legacy_users "$name"
	} | "$SLAPADD" -q -f "$d/slapd.conf" -b "$s" >>"$B/slapadd.log" 2>&1 || die "loading $name failed; see $B/slapadd.log"
	port=$(free_port)
	LURI[$name]="ldap://127.0.0.1:$port"
	"$SLAPD" -n "rg-bench-$name" -h "${LURI[$name]}/" -f "$d/slapd.conf" -d stats >>"$d/slapd.log" 2>&1 &
	PID[$name]=$! LPID[$name]=$!
done
for name in "${POOL_NAMES[@]:1}"; do
	wait_until "${PID[$name]}" ldap_answers "${LURI[$name]}" ||
		{ tail -n 20 "$workdir/$name/slapd.log" >&2; die "$name did not start"; }
done
LPID[legacy1]=$(cat "$workdir/legacy1/slapd.pid")
LPID[legacy2]=$(cat "$workdir/legacy2/slapd.pid")

# --- the syncrepl consumer ---------------------------------------------------------------
# A replica of the main database, as an OpenLDAP deployment would run one. It loads the
# resetguard module for its schema only (the per-account operational attributes are defined
# in its code), with no overlay.
say "starting a syncrepl consumer of $RG_BASE"
C=$B/consumer
mkdir -p "$C/db"
cat > "$C/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/namedobject.schema
include $top/schema/resetguard.schema
pidfile $C/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload $RG_MODULE
database mdb
suffix "$RG_BASE"
rootdn "cn=admin,$RG_BASE"
rootpw $(hash_pw "$RG_ADMIN_PW")
directory $C/db
maxsize 1073741824
index objectClass,entryCSN,entryUUID,uid eq
syncrepl rid=001 provider=$RG_URI type=refreshAndPersist searchbase="$RG_BASE"
  bindmethod=simple binddn="$RG_ADMIN_DN" credentials=$RG_ADMIN_PW retry="1 +" timeout=5
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
CONF
CONSUMER_URI="ldap://127.0.0.1:$(free_port)"
"$SLAPD" -n rg-bench-consumer -h "$CONSUMER_URI/" -f "$C/slapd.conf" -d stats >>"$C/slapd.log" 2>&1 &
PID[consumer]=$!
count_users() { # URI DN PW
	ldapsearch -x -H "$1" -D "$2" -w "$3" -LLL -b "ou=people,$RG_BASE" '(uid=bench.u*)' 1.1 2>/dev/null |
		grep -c '^dn: ' || true
}
got=0
for _ in $(seq 1 300); do
	kill -0 "${PID[consumer]}" 2>/dev/null || break
	got=$(count_users "$CONSUMER_URI" "cn=admin,$RG_BASE" "$RG_ADMIN_PW")
	[ "$got" = "$USERS" ] && break
	sleep 0.1
done
[ "$got" = "$USERS" ] || { tail -n 20 "$C/slapd.log" >&2; die "the consumer holds $got of $USERS accounts after 30 s"; }

# --- proofing tokens, minted before anything is timed ------------------------------------
# Request g resets account g mod USERS and carries token g: the latency part takes the first
# LAT_WARMUP + M, each burst the next TP_WARMUP + N.
total=$((LAT_WARMUP + M + (${#TCOUNTS[@]} + 1) * (TP_WARMUP + N) + HA_N))
mint_range() { # FROM TO OUT
	local i
	for ((i = $1; i < $2; i++)); do
		"$RG_TOKEN" --key "$RG_ISSUER_KEY" --iss "$RG_ISSUER" \
			--sub "$(printf 'uid=bench.u%04d,ou=people,%s' $((i % USERS)) "$RG_BASE")" \
			--ial 2 --amr hwk --ttl 900 || exit 1
	done > "$3"
}
mint_tokens "$total" "$B/tokens"

# --- checks ------------------------------------------------------------------------------
broken=0
check() { # WHAT EXPECTED GOT
	if [ "$2" = "$3" ]; then
		say "check: $1: $3 (as expected)"
	else
		shout "check FAILED: $1: $3, expected $2"
	fi
}
# The reset log, read as the auditor (every record) or as syncd (the sealed passwords).
log_count() { # DN PW FILTER
	ldapsearch -x -H "$RG_URI" -D "$1" -w "$2" -LLL -b "$RG_LOG_BASE" -s one "$3" 1.1 |
		grep -c '^dn: ' || true
}
log_next_number() { # the change number the next record will get (at least)
	ldapsearch -x -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -LLL -b "$RG_LOG_BASE" -s one \
		'(objectClass=rgLogRecord)' rgLogChangeNumber |
		awk '/^rgLogChangeNumber: / { if ($2 > m) m = $2 } END { print m + 1 }'
}
# check_log FIRST_NUMBER EXPECTED TARGET...: the records from FIRST_NUMBER on are EXPECTED
# applied resets, each delivered to every TARGET, and no record holds a sealed password.
check_log() {
	local from=$1 want=$2 t base
	shift 2
	base="(objectClass=rgLogRecord)(rgLogChangeNumber>=$from)(rgLogOutcome=applied)"
	check "reset log: applied records from change $from on" "$want" \
		"$(log_count "$RG_AUDITOR_DN" "$RG_AUDITOR_PW" "(&$base)")"
	for t in "$@"; do
		check "reset log: those with rgLogTargetStatus '$t delivered'" "$want" \
			"$(log_count "$RG_AUDITOR_DN" "$RG_AUDITOR_PW" "(&$base(rgLogTargetStatus=$t delivered *))")"
	done
	check "reset log: records still holding a sealed password (pending)" 0 \
		"$(log_count "$RG_SYNCD_DN" "$RG_SYNCD_PW" '(&(objectClass=rgLogRecord)(rgLogSealedPassword=*))')"
}

mean() { awk '{ s += $1 } END { printf "%.2f", NR ? s / NR : 0 }'; }

# --- (1)+(2) latency -----------------------------------------------------------------------
say "latency: $M resets (+$LAT_WARMUP warm-up) one at a time; each new password polled every $POLL_US us on the consumer, legacy1 and legacy2"
cn_lat=$(log_next_number)
lat_out=$("$LOAD" latency -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -u "$B/dn.main" \
	-t "$B/tokens" -o "$RG_CONTROL_OID" -s 0 -W "$LAT_WARMUP" -n "$M" -i "$POLL_US" -T "$LAT_TIMEOUT" \
	-P "syncrepl=$CONSUMER_URI=$B/dn.main" -P "legacy1=$RG_LEGACY1_URI=$(dn_legacy legacy1)" \
	-P "legacy2=$RG_LEGACY2_URI=$B/dn.legacy2" -L "$B/lat") || true
echo "$lat_out" | sed 's/^/    [latency] /' >&2
if ! grep -q '^RESULT.* errors=0 timeouts=0 ' <<<"$lat_out" || grep -q '^ERROR' <<<"$lat_out"; then
	shout "the latency run HAD ERRORS: its figures are not valid"
fi
check "latency: resets timed" "$M" "$(wc -l < "$B/lat" 2>/dev/null || echo 0)"
check_log "$cn_lat" $((LAT_WARMUP + M)) legacy1 legacy2
# Columns of $B/lat: G PWMOD_MS SYNCREPL LEGACY1 LEGACY2 (ms, -1: timed out).
declare -A LP50=() LP99=() LMEAN=() LMAX=()
lat_col() { # NAME AWK-EXPRESSION
	awk "{ print $2 }" "$B/lat" > "$B/lat.$1"
	LP50[$1]=$(percentile 50 2 < "$B/lat.$1")
	LP99[$1]=$(percentile 99 2 < "$B/lat.$1")
	LMEAN[$1]=$(mean < "$B/lat.$1")
	LMAX[$1]=$(percentile 100 2 < "$B/lat.$1")
}
lat_col pwmod '$2'
lat_col syncrepl '$3'
lat_col legacy1 '$4'
lat_col legacy2 '$5'
lat_col syncd '($5 < 0 || $4 < 0) ? -1 : ($4 > $5 ? $4 : $5)'
polls=$(sed -n 's/^RESULT.* polls=\([0-9]*\).*/\1/p' <<<"$lat_out")

# The consumer is no longer needed; the throughput part runs without it.
stop_pid consumer "${PID[consumer]}"
unset 'PID[consumer]'

# --- (3) throughput ------------------------------------------------------------------------
stop_pidfile "$workdir/run/syncd.pid" # the sandbox's syncd (two targets)
syncd_conf_n() { # COUNT METRICS_PORT: a syncd.conf with the first COUNT targets of the pool
	local k name
	cat <<CONF
# resetguard-syncd for bench/syncd.sh: $1 target(s), otherwise as the sandbox's
log-uri $RG_URI
log-base $RG_LOG_BASE
bind-dn $RG_SYNCD_DN
bind-password-file $workdir/keys/syncd.pw
key-file $RG_SYNCD_KEY
cert-file $RG_SYNCD_CERT
metrics-listen 127.0.0.1:$2
log json
max-attempts 6
retry-base 1
retry-max 20
op-timeout 5
CONF
	for ((k = 0; k < $1; k++)); do
		name=${POOL_NAMES[$k]}
		cat <<CONF

target $name {
	type ldap
	uri ${LURI[$name]}
	bind-dn cn=admin,$(legacy_suffix "$name")
	bind-password-file $workdir/keys/legacy.pw
	map-template uid=%r,ou=users,$(legacy_suffix "$name")
	method hash
	hash-scheme ssha
	timeout 5
}
CONF
	done
}

declare -A TP_SENT=() TP_PROP=() TP_SECS=() TP_DRAIN=() TP_PEAK=() TP_STALL=() CPU_SYNCD=() CPU_MAIN=() CPU_LEG=()
cpu_ms() { awk -v t="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN { printf "%.2f", n ? t / hz * 1e3 / n : 0 }'; }
first=$((LAT_WARMUP + M))
for T in "${TCOUNTS[@]}"; do
	mport=$(free_port)
	conf=$B/syncd-$T.conf
	syncd_conf_n "$T" "$mport" > "$conf"
	"$RG_SYNCD_BIN" -t -f "$conf" >/dev/null 2>"$B/syncd-$T.check" ||
		{ cat "$B/syncd-$T.check" >&2; die "$conf does not check"; }
	"$RG_SYNCD_BIN" -d -f "$conf" >>"$B/syncd-$T.log" 2>&1 &
	PID[syncd-$T]=$!
	wait_until "${PID[syncd-$T]}" http_ok "http://127.0.0.1:$mport/health" ||
		{ tail -n 20 "$B/syncd-$T.log" >&2; die "resetguard-syncd with $T targets did not start"; }
	names=("${POOL_NAMES[@]:0:T}")
	specs=()
	for name in "${names[@]}"; do specs+=(-P "$name=${LURI[$name]}=$(dn_legacy "$name")"); done
	say "throughput: syncd with $T target(s) (${names[*]}): $N resets (+$TP_WARMUP warm-up) on $CONNS connections"
	cn_tp=$(log_next_number)
	c_syncd0=$(cpu_ticks "${PID[syncd-$T]}") c_main0=$(cpu_ticks "$MAIN_PID") c_leg0=0
	for name in "${names[@]}"; do c_leg0=$((c_leg0 + $(cpu_ticks "${LPID[$name]}"))); done
	out=$("$LOAD" burst -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -u "$B/dn.main" \
		-t "$B/tokens" -o "$RG_CONTROL_OID" -s "$first" -W "$TP_WARMUP" -n "$N" -c "$CONNS" \
		-i "$METRICS_POLL_US" -T "$TP_TIMEOUT" -m "http://127.0.0.1:$mport/metrics" "${specs[@]}") || true
	c_syncd1=$(cpu_ticks "${PID[syncd-$T]}") c_main1=$(cpu_ticks "$MAIN_PID") c_leg1=0
	for name in "${names[@]}"; do c_leg1=$((c_leg1 + $(cpu_ticks "${LPID[$name]}"))); done
	first=$((first + TP_WARMUP + N))
	echo "$out" | sed "s/^/    [burst $T] /" >&2
	if ! grep -q '^RESULT.* errors=0 .* failures=0 .* complete=1$' <<<"$out" || grep -q '^ERROR' <<<"$out"; then
		shout "the burst with $T target(s) HAD ERRORS: its figures are not valid"
	fi
	check "burst $T: targets bind-checked" "$T" "$(grep -c '^VERIFY' <<<"$out" || true)"
	check "burst $T: the new passwords that bind, on all targets" "$((N * T))" \
		"$(awk '/^VERIFY/ { sub(/.*ok=/, ""); s += $1 } END { print s + 0 }' <<<"$out")"
	check_log "$cn_tp" $((TP_WARMUP + N)) "${names[@]}"
	field() { sed -n "s/^RESULT.* $1=\\([0-9.]*\\).*/\\1/p" <<<"$out"; }
	TP_SENT[$T]=$(field resets_per_s) TP_PROP[$T]=$(field prop_per_s) TP_SECS[$T]=$(field prop_secs)
	TP_DRAIN[$T]=$(field drain_ms) TP_PEAK[$T]=$(field backlog_peak) TP_STALL[$T]=$(field metrics_max_ms)
	: "${TP_SENT[$T]:=0}" "${TP_PROP[$T]:=0}" "${TP_SECS[$T]:=0}" "${TP_DRAIN[$T]:=0}" "${TP_PEAK[$T]:=0}" "${TP_STALL[$T]:=0}"
	# CPU over warm-up and burst, per reset
	CPU_SYNCD[$T]=$(cpu_ms $((c_syncd1 - c_syncd0)) $((TP_WARMUP + N)))
	CPU_MAIN[$T]=$(cpu_ms $((c_main1 - c_main0)) $((TP_WARMUP + N)))
	CPU_LEG[$T]=$(cpu_ms $((c_leg1 - c_leg0)) $((TP_WARMUP + N)))
	stop_pid "syncd-$T" "${PID[syncd-$T]}"
	unset "PID[syncd-$T]"
done

# --- (4) two instances -----------------------------------------------------------------------
ha_conf() { # NAME METRICS_PORT
	syncd_conf_n 1 "$2" | sed "1a instance $1\nclaim-lease $LEASE"
}
ha_start() { # NAME
	"$RG_SYNCD_BIN" -d -f "$B/$1.conf" >>"$B/$1.log" 2>&1 &
	PID[syncd-$1]=$!
	wait_until "${PID[syncd-$1]}" http_ok "http://127.0.0.1:${HAPORT[$1]}/health" ||
		{ tail -n 20 "$B/$1.log" >&2; die "resetguard-syncd $1 did not start"; }
}
log_claims() { # how many records hold a claim (bench-a's, the one instance running then)
	log_count "$RG_SYNCD_DN" "$RG_SYNCD_PW" "(&(objectClass=rgLogRecord)(rgLogClaim=*))"
}
log_open() { # how many records hold a claim or a sealed password
	log_count "$RG_SYNCD_DN" "$RG_SYNCD_PW" '(&(objectClass=rgLogRecord)(|(rgLogClaim=*)(rgLogSealedPassword=*)))'
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
declare -A HAPORT=()
for name in bench-a bench-b; do
	HAPORT[$name]=$(free_port)
	ha_conf "$name" "${HAPORT[$name]}" > "$B/$name.conf"
	"$RG_SYNCD_BIN" -t -f "$B/$name.conf" >/dev/null || die "$B/$name.conf does not check"
	ha_start "$name"
done
say "two instances: bench-a and bench-b with legacy1, claim-lease $LEASE s: $N resets (+$TP_WARMUP warm-up) on $CONNS connections"
cn_tp=$(log_next_number)
out=$("$LOAD" burst -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -u "$B/dn.main" \
	-t "$B/tokens" -o "$RG_CONTROL_OID" -s "$first" -W "$TP_WARMUP" -n "$N" -c "$CONNS" \
	-i "$METRICS_POLL_US" -T "$TP_TIMEOUT" -m "http://127.0.0.1:${HAPORT[bench-a]}/metrics" \
	-m "http://127.0.0.1:${HAPORT[bench-b]}/metrics" -P "legacy1=${LURI[legacy1]}=$(dn_legacy legacy1)") || true
first=$((first + TP_WARMUP + N))
echo "$out" | sed "s/^/    [two instances] /" >&2
if ! grep -q '^RESULT.* errors=0 .* failures=0 .* complete=1$' <<<"$out" || grep -q '^ERROR' <<<"$out"; then
	shout "the burst with two instances HAD ERRORS: its figures are not valid"
fi
check "two instances: the new passwords that bind on legacy1" "$N" \
	"$(awk '/^VERIFY/ { sub(/.*ok=/, ""); s += $1 } END { print s + 0 }' <<<"$out")"
check_log "$cn_tp" $((TP_WARMUP + N)) legacy1
HA_PROP=$(sed -n 's/^RESULT.* prop_per_s=\([0-9.]*\).*/\1/p' <<<"$out")
: "${HA_PROP:=0}"
HA_SHARE_A=$(grep -c '"event":"record","msg":"change [0-9]* for .* taken"' "$B/bench-a.log" || true)
HA_SHARE_B=$(grep -c '"event":"record","msg":"change [0-9]* for .* taken"' "$B/bench-b.log" || true)

say "takeover: legacy1 stopped, $HA_N resets claimed by bench-a, bench-a killed with SIGKILL"
stop_pid syncd-bench-b "${PID[syncd-bench-b]}"
unset 'PID[syncd-bench-b]'
kill -STOP "${LPID[legacy1]}"
"$LOAD" burst -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -u "$B/dn.main" \
	-t "$B/tokens" -o "$RG_CONTROL_OID" -s "$first" -W 0 -n "$HA_N" -c "$CONNS" \
	-i "$METRICS_POLL_US" -T "$TP_TIMEOUT" -m "http://127.0.0.1:${HAPORT[bench-a]}/metrics" \
	-P "legacy1=${LURI[legacy1]}=$(dn_legacy legacy1)" >"$B/takeover.out" 2>&1 &
PID[load-takeover]=$!
end=$(($(now_ms) + 60000))
while [ "$(log_claims)" -lt "$HA_N" ] && [ "$(now_ms)" -lt "$end" ]; do sleep 0.2; done
HA_HELD=$(log_claims)
ha_start bench-b
lines_b=$(wc -l <"$B/bench-b.log")
kill -9 "${PID[syncd-bench-a]}"
t_kill=$(now_ms)
wait "${PID[syncd-bench-a]}" 2>/dev/null || true
unset 'PID[syncd-bench-a]'
kill -CONT "${LPID[legacy1]}"
end=$((t_kill + (3 * LEASE + 60) * 1000))
t_first= t_all=
while [ "$(now_ms)" -lt "$end" ]; do
	[ -z "$t_first" ] && tail -n +"$((lines_b + 1))" "$B/bench-b.log" | grep -q '"event":"claim-taken-over"' &&
		t_first=$(now_ms)
	[ "$(log_open)" = 0 ] && { t_all=$(now_ms); break; }
	sleep 0.1
done
stop_pid load-takeover "${PID[load-takeover]}"
unset 'PID[load-takeover]'
HA_TAKEN=$(tail -n +"$((lines_b + 1))" "$B/bench-b.log" | grep -c '"event":"claim-taken-over"' || true)
check "takeover: records bench-a held when killed" "$HA_N" "$HA_HELD"
check "takeover: claims bench-b took over" "$HA_N" "$HA_TAKEN"
[ -n "$t_all" ] || shout "takeover: records still open $((3 * LEASE + 60)) s after the kill"
HA_FIRST=n/a HA_ALL=n/a
[ -n "$t_first" ] && HA_FIRST=$((t_first - t_kill))
[ -n "$t_all" ] && HA_ALL=$((t_all - t_kill))
first=$((first + HA_N))
stop_pid syncd-bench-b "${PID[syncd-bench-b]}"
unset 'PID[syncd-bench-b]'

# --- report ------------------------------------------------------------------------------
ver=$(slapd_version)
t1=${TCOUNTS[0]}
echo
echo "resetguard-syncd benchmark: slapd $ver, $(nproc) CPUs (shared), loopback, mdb with fsync, every slapd at log level stats"
echo "  latency: $M resets one at a time (+$LAT_WARMUP warm-up), each of its own account; after each Password Modify"
echo "  response the new password is polled in parallel, with a simple bind every $POLL_US us, on a syncrepl"
echo "  consumer of the main database (refreshAndPersist, the floor) and on syncd's two targets (the same change)"
echo
printf '  %-34s %9s %9s %9s %9s %11s\n' "ms from the reset's response" p50 p99 mean max "p99/floor"
row() { printf '  %-34s %9.2f %9.2f %9.2f %9.2f %11s\n' "$1" "${LP50[$2]}" "${LP99[$2]}" "${LMEAN[$2]}" "${LMAX[$2]}" "$3"; }
row "syncrepl consumer (floor)" syncrepl -
row "syncd -> legacy1 (hash ssha)" legacy1 "$(ratio "${LP99[legacy1]}" "${LP99[syncrepl]}" 2)"
row "syncd -> legacy2 (passmod, search)" legacy2 "$(ratio "${LP99[legacy2]}" "${LP99[syncrepl]}" 2)"
row "syncd, later of the two" syncd "$(ratio "${LP99[syncd]}" "${LP99[syncrepl]}" 2)"
echo "  (the Password Modify itself: p50 ${LP50[pwmod]} ms, p99 ${LP99[pwmod]} ms; $polls binds polled in all;"
echo "   a latency includes up to one poll interval and one bind round trip)"
r99=$(ratio "${LP99[syncd]}" "${LP99[syncrepl]}" 2)
aim_lat=$(awk -v r="$r99" 'BEGIN { if (r == "n/a") print "n/a"; else if (r <= 2) print "within the aim"; else print "outside the aim" }')
echo "  p99(syncd)/p99(syncrepl): $r99   (aim <= 2: $aim_lat)   p50(syncd)/p50(syncrepl): $(ratio "${LP50[syncd]}" "${LP50[syncrepl]}" 2)"
echo
echo "  throughput: $N resets (+$TP_WARMUP warm-up) over $N accounts fired on $CONNS connections; syncd with 1..$POOL ldap"
echo "  targets, each a slapd of its own in the legacy1 layout (method hash ssha); propagated: from the first reset"
echo "  sent until syncd's metrics show every record final (polled every $METRICS_POLL_US us)"
echo
printf '  %-7s %13s %13s %8s %9s %8s %12s %11s %11s %11s\n' targets "resets/s sent" "propagated/s" "total s" \
	"drain ms" "backlog" "metrics ms" "syncd cpu" "main cpu" "legacy cpu"
for T in "${TCOUNTS[@]}"; do
	printf '  %-7s %13.1f %13.1f %8.2f %9.1f %8s %12.1f %11s %11s %11s\n' "$T" "${TP_SENT[$T]}" "${TP_PROP[$T]}" \
		"${TP_SECS[$T]}" "${TP_DRAIN[$T]}" "${TP_PEAK[$T]}" "${TP_STALL[$T]}" "${CPU_SYNCD[$T]}" "${CPU_MAIN[$T]}" "${CPU_LEG[$T]}"
done
echo "  (drain: from the last reset's response until everything was final; backlog: the largest sum of the"
echo "   per-target backlogs the metrics showed; metrics ms: the longest a metrics request took (syncd serves"
echo "   them from its event loop); cpu: ms per reset, warm-up included, of syncd, of the main slapd and of"
echo "   the target slapds together)"
ratios=
for T in "${TCOUNTS[@]:1}"; do
	ratios+="$T/$t1: $(ratio "${TP_PROP[$T]}" "${TP_PROP[$t1]}" 2)   "
done
[ -n "$ratios" ] && echo "  propagated/s ratios ${ratios% }   (aim: flat, 1.00)"
# The event loop must never wait on the directory: its metrics answer within milliseconds
# even in the largest burst.
stall=${TP_STALL[$POOL]:-0}
aim_stall=$(awk -v m="$stall" 'BEGIN { print (m < 50) ? "within the aim" : "outside the aim" }')
echo "  longest /metrics request during the $POOL-target burst: $stall ms   (aim < 50 ms: $aim_stall)"
echo
echo "  two instances sharing the log (claim-lease $LEASE s), legacy1 alone:"
echo "    propagated/s: $HA_PROP with two instances against ${TP_PROP[1]:-n/a} with one (ratio $(ratio "$HA_PROP" "${TP_PROP[1]:-0}" 2));"
echo "    records taken: bench-a $HA_SHARE_A, bench-b $HA_SHARE_B (warm-up included)"
echo "    takeover of $HA_HELD records claimed by an instance killed with SIGKILL: first claim taken over"
echo "    $HA_FIRST ms after the kill, every record final and unclaimed $HA_ALL ms after it"
finish "$broken"
