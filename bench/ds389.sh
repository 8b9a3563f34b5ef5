#!/bin/bash
# What resetguard-plugin.so costs 389 Directory Server: Password Modify throughput of one
# 389-DS sandbox (scripts/sandbox --server 389ds, no syncd) with the plugin, then with the
# plugin disabled, measured with the libldap load generator bench/pwmod-load.c over the
# sandbox's ldapi socket. With the plugin each request is a self-service reset by the portal
# carrying a fresh proofing token (all minted before anything is timed); the policy, its
# group lookups, the token's signature, the record in the log and the per-account
# attributes are all in the figure. Without it, the same resets carry no token.
# Prints figures, no verdict; exits non-zero if a setup step or a request failed.
#
# Environment: BENCH_N [1000] measured requests, BENCH_WARMUP [100], BENCH_USERS [200],
# BENCH_CONNS [4].
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
N=${BENCH_N:-1000} WARMUP=${BENCH_WARMUP:-100} USERS=${BENCH_USERS:-200} CONNS=${BENCH_CONNS:-4}
work=$(mktemp -d "${TMPDIR:-/tmp}/rg-bench389.XXXXXX")
trap 'bash "$top/scripts/sandbox" down "$work/sb" >/dev/null 2>&1; rm -rf "$work"' EXIT

mkdir -p "$top/build/bench"
LOAD=$top/build/bench/pwmod-load
gcc -O2 -o "$LOAD" "$top/bench/pwmod-load.c" -lldap -llber -lpthread

bash "$top/scripts/sandbox" up "$work/sb" --server 389ds --no-syncd >/dev/null
# shellcheck disable=SC1091
. "$work/sb/env"

for i in $(seq 1 "$USERS"); do
	printf 'dn: uid=bench%d,ou=people,%s\nobjectClass: inetOrgPerson\nuid: bench%d\ncn: b\nsn: b\n\n' \
		"$i" "$RG_BASE" "$i"
	echo "uid=bench$i,ou=people,$RG_BASE" >>"$work/users.txt"
done | ldapmodify -Q -Y EXTERNAL -H "$RG_LDAPI" -a >/dev/null
total=$((N + WARMUP))
for g in $(seq 0 $((total - 1))); do
	dn=$(sed -n "$((g % USERS + 1))p" "$work/users.txt")
	"$RG_TOKEN" --key "$RG_ISSUER_KEY" --iss "$RG_ISSUER" --sub "$dn" --ial 2 --amr hwk --ttl 3600
done >"$work/tokens.txt"

run() { # LABEL [pwmod-load options]
	local label=$1
	shift
	printf '%-28s ' "$label"
	"$LOAD" pwmod -H "$RG_URI" -u "$work/users.txt" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" \
		-c "$CONNS" -n "$N" -W "$WARMUP" "$@" | grep '^RESULT'
}
run "389-DS + resetguard" -t "$work/tokens.txt" -o "$RG_CONTROL_OID"
ldapmodify -Q -Y EXTERNAL -H "$RG_LDAPI" >/dev/null <<LDIF
dn: cn=resetguard,cn=plugins,cn=config
changetype: modify
replace: nsslapd-pluginEnabled
nsslapd-pluginEnabled: off
LDIF
bash "$top/scripts/sandbox" restart "$work/sb"
run "389-DS without the plugin"
