#!/bin/bash
# Two providers against one (issue 13), on sandboxes (scripts/sandbox up).
#
#   (1) reset throughput: Password Modify with a fresh proofing token each, BENCH_CONNS
#       connections (bench/pwmod-load.c), on a one-provider sandbox, then on a two-provider
#       one (--providers 2) with the connections split over both providers, then on that
#       one with all of them on provider 1 (what replication costs the provider that takes
#       the load). Resets are spread over BENCH_USERS accounts.
#   (2) latency, one reset at a time on the two-provider sandbox with syncd (which follows
#       provider 1, bench/prop-load.c polling with binds of the new password): from the
#       Password Modify response on provider 1 until the account binds on provider 2 (plain
#       syncrepl of an entry, the floor) and on legacy1 (syncd); the same with the resets
#       sent to provider 2, whose records reach syncd through provider 1. Then, with
#       ldapsearch polls (a process each: a resolution of a few ms), from the response on
#       provider 1 until the record is on provider 2, and until its outcome is there.
#
# Environment: BENCH_N [1500] measured resets per throughput run, BENCH_WARMUP [150],
# BENCH_CONNS [4], BENCH_USERS [150], BENCH_M [30] resets per latency run. Prints figures,
# no verdicts; everything runs on loopback and is stopped at the end.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
N=${BENCH_N:-1500}
WARMUP=${BENCH_WARMUP:-150}
CONNS=${BENCH_CONNS:-4}
USERS=${BENCH_USERS:-150}
M=${BENCH_M:-30}

W=$(mktemp -d "${TMPDIR:-/tmp}/rg-bench-mp.XXXXXX")
cleanup() {
	for d in "$W"/one "$W"/two; do
		[ -f "$d/env" ] && bash "$top/scripts/sandbox" down "$d" >/dev/null 2>&1
	done
	rm -rf "$W"
}
trap cleanup EXIT
say() { echo "bench: $*" >&2; }

mkdir -p "$top/build/bench"
gcc -O2 -o "$top/build/bench/pwmod-load" "$top/bench/pwmod-load.c" -lldap -llber -lpthread
gcc -O2 -o "$top/build/bench/prop-load" "$top/bench/prop-load.c" -lldap -llber -lpthread
LOAD=$top/build/bench/pwmod-load PROP=$top/build/bench/prop-load

# setup DIR [sandbox options]: a sandbox, USERS accounts without a password, a velocity limit
# no run reaches, tokens for them (line g for account g mod USERS), DIR/users.
setup() {
	local d=$1
	shift
	bash "$top/scripts/sandbox" up "$d" "$@" >/dev/null
	# shellcheck disable=SC1091
	. "$d/env"
	for i in $(seq 1 "$USERS"); do
		printf 'dn: uid=b%04d,ou=people,%s\nobjectClass: inetOrgPerson\nuid: b%04d\ncn: b\nsn: b\n\n' \
			"$i" "$RG_BASE" "$i"
	done | ldapmodify -x -a -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" >/dev/null
	printf 'dn: %s\nchangetype: modify\nreplace: rgVelocityLimit\nrgVelocityLimit: * target 1000000 3600\n' \
		"$RG_POLICY_DN" | ldapmodify -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" >/dev/null
	for i in $(seq 1 "$USERS"); do printf 'uid=b%04d,ou=people,%s\n' "$i" "$RG_BASE"; done >"$d/users"
	say "minting $((3 * (N + WARMUP))) tokens for $d"
	for ((g = 0; g < 3 * (N + WARMUP); g++)); do
		"$RG_TOKEN" --key "$RG_ISSUER_KEY" --iss "$RG_ISSUER" --sub "$(sed -n "$((g % USERS + 1))p" "$d/users")" \
			--ial 2 --amr hwk --ttl 900
	done >"$d/tokens"
}

# load URI CONNS FIRST: one pwmod-load run; prints its ops/s
load() {
	local out
	out=$("$LOAD" pwmod -H "$1" -u "$D/users" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -t "$D/tokens" \
		-o "$RG_CONTROL_OID" -c "$2" -n "$N" -W "$WARMUP" -s "$3")
	grep -q ' errors=0$' <<<"$out" || { echo "$out" >&2; say "a run had errors"; exit 1; }
	sed -n 's/.* ops_per_s=\([0-9.]*\) .*/\1/p' <<<"$out"
}

echo "== (1) reset throughput, $CONNS connections, $N resets"
D=$W/one
setup "$D" --no-syncd
one=$(load "$RG_URI" "$CONNS" 0)
bash "$top/scripts/sandbox" down "$D" >/dev/null
echo "one provider:                         $one resets/s"

D=$W/two
setup "$D" --providers 2 --no-receiver
# the accounts must be on provider 2 before it resets them
for _ in $(seq 1 100); do
	ldapsearch -x -H "$RG_URI2" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -b "$(tail -n 1 "$D/users")" -s base 1.1 \
		>/dev/null 2>&1 && break
	sleep 0.1
done
# half the connections on each provider, each with its own slice of the tokens
half=$((CONNS / 2))
load "$RG_URI" "$half" 0 >"$W/a" &
pa=$!
b=$(load "$RG_URI2" "$((CONNS - half))" "$((N + WARMUP))")
wait "$pa"
a=$(cat "$W/a")
echo "two providers, $half+$((CONNS - half)) connections:       $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.0f", a + b }') resets/s (provider 1 $a, provider 2 $b)"
c=$(load "$RG_URI" "$CONNS" "$((2 * (N + WARMUP)))")
echo "two providers, all on provider 1:     $c resets/s"
# How far replication of the log fell behind the load: from the end of the run until
# provider 2 holds as many records as provider 1.
nrec() { # URI
	ldapsearch -x -H "$1" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -LLL -b "$RG_LOG_BASE" -s one \
		'(objectClass=rgLogRecord)' 1.1 2>/dev/null | grep -c '^dn:'
}
t0=$(date +%s%N)
until [ "$(nrec "$RG_URI2")" -ge "$(nrec "$RG_URI")" ]; do sleep 0.2; done
echo "provider 2 caught up with the log $(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }') s after the run ended ($(nrec "$RG_URI") records)"

echo "== (2) latency, $M resets one at a time (ms from the Password Modify response)"
printf '%s\n' "$RG_USER_DN" >"$W/dn.main"
printf '%s\n' "$RG_LEGACY1_USER_DN" >"$W/dn.legacy1"
for g in $(seq 0 $((2 * M + 9))); do
	"$RG_TOKEN" --key "$RG_ISSUER_KEY" --iss "$RG_ISSUER" --sub "$RG_USER_DN" --ial 2 --amr hwk --ttl 900
done >"$W/tok.lat"
pct() { # FILE COLUMN P: the nearest-rank percentile P of a column
	awk -v c="$2" '{ print $c }' "$1" | sort -n |
		awk -v p="$3" '{ a[NR] = $1 } END { i = int(NR * p + 0.999); if (i < 1) i = 1; print a[i] }'
}
lat() { # LABEL URI FIRST OTHER OTHER-URI
	local out
	out=$("$PROP" latency -H "$2" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -u "$W/dn.main" -t "$W/tok.lat" \
		-o "$RG_CONTROL_OID" -s "$3" -W 5 -n "$M" -i 1000 -T 30 \
		-P "provider$4=$5=$W/dn.main" -P "legacy1=$RG_LEGACY1_URI=$W/dn.legacy1" -L "$W/lat") || true
	grep -q '^RESULT.* errors=0 timeouts=0 ' <<<"$out" || { echo "$out" >&2; say "the latency run had errors"; }
	printf '%s: provider %s has the account p50 %s p90 %s; legacy1 (syncd) p50 %s p90 %s\n' "$1" "$4" \
		"$(pct "$W/lat" 3 0.5)" "$(pct "$W/lat" 3 0.9)" "$(pct "$W/lat" 4 0.5)" "$(pct "$W/lat" 4 0.9)"
}
lat "reset on provider 1" "$RG_URI" 0 2 "$RG_URI2"
lat "reset on provider 2" "$RG_URI2" "$((M + 5))" 1 "$RG_URI"

# the record on provider 2, by ldapsearch polls
now_ms() { echo $(($(date +%s%N) / 1000000)); }
records2() { # FILTER: how many records of alice on provider 2 match
	ldapsearch -x -H "$RG_URI2" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -LLL -b "$RG_LOG_BASE" -s one \
		"(&(rgLogTarget=$RG_USER_DN)$1)" 1.1 2>/dev/null | grep -c '^dn:'
}
: >"$W/rec"
for i in $(seq 1 10); do
	before=$(records2 "")
	t=$("$RG_TOKEN" --key "$RG_ISSUER_KEY" --iss "$RG_ISSUER" --sub "$RG_USER_DN" --ial 2 --amr hwk --ttl 900)
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" \
		-e "$RG_CONTROL_OID=$(printf %s "$t" | base64 -w0)" -s "Pw-$i-$RANDOM$RANDOM" "$RG_USER_DN" >/dev/null
	t0=$(now_ms)
	until [ "$(records2 "")" -gt "$before" ]; do :; done
	t1=$(now_ms)
	until [ "$(records2 "(rgLogOutcome=applied)")" -gt "$before" ]; do :; done
	echo "$((t1 - t0)) $(($(now_ms) - t0))" >>"$W/rec"
done
printf 'reset on provider 1: its record on provider 2 p50 %s ms (max %s), with its outcome p50 %s ms (max %s) (polls of a few ms)\n' \
	"$(pct "$W/rec" 1 0.5)" "$(pct "$W/rec" 1 1)" "$(pct "$W/rec" 2 0.5)" "$(pct "$W/rec" 2 1)"
