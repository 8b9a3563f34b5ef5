# Shared by tests/integration/syncd-ha.sh, tests/trials/syncd-kill.sh and bench/syncd.sh's
# two-instance figures: syncd instances of the caller's own on a sandbox (sourced env), an
# exec store that records every delivery in order, reset bursts over several accounts, and
# the verdict on a burst (lost, out of order, records not final). Sourced; needs W (a work
# directory), RG_* from the sandbox's env, and tests/lib.sh's token and ctl.

HA_SYNCD=${RG_SYNCD_BIN:-$RG_TOP/resetguard-syncd}
HA_ACCOUNTS=("$RG_USER_DN" "uid=carol,ou=people,$RG_BASE" "$RG_PRIV_USER_DN")
declare -A HA_PID HA_PORT

ha_now_ms() { echo $(($(date +%s%N) / 1000000)); }

ha_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ha_conf NAME LEASE [DELAY]: the configuration of instance NAME, in $W/NAME.conf, with
# one exec target that appends each delivery to $W/store (after DELAY seconds).
ha_conf() {
	local port
	port=$(ha_free_port)
	HA_PORT[$1]=$port
	(umask 077 && printf '%s\n' "$RG_SYNCD_PW" >"$W/syncd.pw")
	cat >"$W/$1.conf" <<CONF
instance $1
claim-lease $2
log-uri $RG_URI
log-base $RG_LOG_BASE
bind-dn $RG_SYNCD_DN
bind-password-file $W/syncd.pw
key-file $RG_SYNCD_KEY
cert-file $RG_SYNCD_CERT
metrics-listen 127.0.0.1:$port
log json
max-attempts 50
retry-base 1
retry-max 1
op-timeout 1

target store {
	type exec
	command $RG_TOP/tests/tools/order-store
	args $W/store ${3:-0.05}
	timeout 1
}
CONF
}

ha_healthy() { # NAME
	python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
		"http://127.0.0.1:${HA_PORT[$1]}/health" >/dev/null 2>&1
}

# ha_start NAME: starts instance NAME in the background (its log $W/NAME.log), waits for
# /health. Not inside check, whose subshell would lose the pid. A metrics port that another
# process took since it was picked is picked again.
ha_start() {
	local try
	for try in 1 2 3; do
		"$HA_SYNCD" -d -f "$W/$1.conf" >>"$W/$1.log" 2>&1 &
		HA_PID[$1]=$!
		for _ in $(seq 1 100); do
			ha_healthy "$1" && return 0
			kill -0 "${HA_PID[$1]}" 2>/dev/null || break
			sleep 0.05
		done
		wait "${HA_PID[$1]}" 2>/dev/null
		HA_PID[$1]=
		tail -n 2 "$W/$1.log" | grep -q 'cannot listen for metrics' || return 1
		HA_PORT[$1]=$(ha_free_port)
		sed -i "s/^metrics-listen .*/metrics-listen 127.0.0.1:${HA_PORT[$1]}/" "$W/$1.conf"
	done
	return 1
}

ha_stop() { # NAME: SIGTERM, then waits
	local pid=${HA_PID[$1]:-}
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	HA_PID[$1]=
	return 0
}

ha_kill9() { # NAME
	kill -9 "${HA_PID[$1]}" 2>/dev/null
	wait "${HA_PID[$1]}" 2>/dev/null
	HA_PID[$1]=
	return 0
}

ha_stop_all() {
	local n
	for n in "${!HA_PID[@]}"; do
		ha_stop "$n"
	done
}

# The resets: the agent resets each account with a fresh password; $W/sent gets
# "ACCOUNT INDEX SHA" per reset, INDEX counting each account's resets in order.
ha_reset() { # DN PW
	local tok
	if [ "$1" = "$RG_PRIV_USER_DN" ]; then
		tok=$(token --sub "$1" --ial 3 --amr hwk)
	else
		tok=$(token --sub "$1" --ial 2 --amr hwk,face)
	fi
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -e "$(ctl "$tok")" \
		-s "$2" "$1" >/dev/null 2>&1
}

# ha_burst N: N resets of each account, the accounts in parallel, each account's one after
# another (so its change numbers follow the order of its passwords); an account's INDEX
# goes on from its earlier bursts in $W/sent.
ha_burst() {
	local a pids=() i pw
	for a in "${HA_ACCOUNTS[@]}"; do
		(
			base=$(grep -c "^$a " "$W/sent" 2>/dev/null)
			for i in $(seq $((base + 1)) $((base + $1))); do
				pw="Ha-$(openssl rand -hex 8)"
				ha_reset "$a" "$pw" || { echo "reset of $a failed" >&2; continue; }
				printf '%s %s %s\n' "$a" "$i" "$(printf %s "$pw" | sha256sum | cut -d ' ' -f 1)" >>"$W/sent"
			done
		) &
		pids+=("$!")
	done
	for a in "${pids[@]}"; do
		wait "$a"
	done
}

ha_last_change() {
	ldapsearch -x -H "$RG_URI" -D "$RG_SYNCD_DN" -w "$RG_SYNCD_PW" -LLL -b "$RG_LOG_BASE" \
		-s one '(objectClass=rgLogRecord)' rgLogChangeNumber 2>/dev/null |
		sed -n 's/^rgLogChangeNumber: //p' | sort -n | tail -n 1
}

# ha_unfinished FROM: the applied records numbered above FROM that still hold a sealed
# password or a claim, or whose store status is not final: one line each.
ha_unfinished() {
	ldapsearch -x -H "$RG_URI" -D "$RG_SYNCD_DN" -w "$RG_SYNCD_PW" -LLL -o ldif_wrap=no \
		-b "$RG_LOG_BASE" -s one \
		"(&(objectClass=rgLogRecord)(rgLogOutcome=applied)(rgLogChangeNumber>=$(($1 + 1))))" \
		rgLogChangeNumber rgLogSealedPassword rgLogClaim rgLogTargetStatus 2>/dev/null |
		awk '/^dn: /{ if (n != "" && (bad || !final)) print n; n=""; bad=0; final=0 }
			/^rgLogChangeNumber: /{ n=$2 }
			/^rgLogSealedPassword/ || /^rgLogClaim/ { bad=1 }
			/^rgLogTargetStatus: store (delivered|superseded|failed) / { final=1 }
			END { if (n != "" && (bad || !final)) print n }'
}

# ha_settled FROM: every record of the burst is final (no output from ha_unfinished).
ha_settled() {
	local out
	out=$(ha_unfinished "$1") || return 1
	[ -z "$out" ]
}

# ha_verdict: "lost L out-of-order O deliveries D" over $W/sent and $W/store. Lost: an
# account whose store does not end with its newest password. Out of order: a delivery of an
# account's password older than one the store already got.
ha_verdict() {
	python3 - "$W/sent" "$W/store" <<'EOF'
import sys
sent, index, newest = {}, {}, {}
for line in open(sys.argv[1]):
    acct, i, sha = line.split()
    index[sha] = (acct.lower(), int(i))
    if int(i) >= newest.get(acct.lower(), (0, ""))[0]:
        newest[acct.lower()] = (int(i), sha)
last, best, ooo, n = {}, {}, 0, 0
try:
    lines = [l.split() for l in open(sys.argv[2])]
except FileNotFoundError:
    lines = []
for t, acct, sha in sorted(lines, key=lambda l: int(l[0])):
    n += 1
    a = acct.lower()
    if sha not in index:
        continue   # a password of an earlier burst
    i = index[sha][1]
    if i < best.get(a, 0):
        ooo += 1
    best[a] = max(best.get(a, 0), i)
    last[a] = sha
lost = sum(1 for a, (i, sha) in newest.items() if last.get(a) != sha)
print("lost %d out-of-order %d deliveries %d" % (lost, ooo, n))
EOF
}
