# shellcheck shell=bash
# Shell helpers of bench/overlay.sh, bench/log.sh and bench/syncd.sh, which source this file
# (`. "$top/bench/lib.sh"`) after `set -euo pipefail`. The sourcing script provides:
#   workdir, and clean_workdir    make_workdir's work directory; clean_workdir empties a
#                                 BENCH_DIR of an earlier run's files
#   stop_all                      stops every process the script started (the EXIT trap
#                                 calls it; it must return 0)
#   kept_note                     optional: the line said when the work directory is kept
#   mint_range FROM TO OUT        for mint_tokens: writes tokens FROM..TO-1, one a line
#   broken                        1 once something failed (set by shout)
#   SLAPD, LOGLEVEL               for slapd_version, loglevel_check and loglevel_name

die() { echo "bench: $*" >&2; exit 1; }
say() { echo "bench: $*" >&2; }
banner() {
	echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
	echo "!!! bench: $*" >&2
	echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
}
# shellcheck disable=SC2034 # broken is the sourcing script's, passed to finish
shout() { banner "$@"; broken=1; } # a failure: the figures of this run are not valid

# --- knobs -------------------------------------------------------------------------------
need_numbers() { # VAR...: the value of each (knob BENCH_VAR) must be a whole number
	local v
	for v in "$@"; do
		[[ ${!v} =~ ^[0-9]+$ ]] || die "BENCH_$v must be a number, not '${!v}'"
	done
}
loglevel_check() { # BENCH_LOGLEVEL, in LOGLEVEL: a slapd log level word, or none (0)
	case "$LOGLEVEL" in
	none | 0) LOGLEVEL=0 ;;
	*) [[ $LOGLEVEL =~ ^[a-zA-Z0-9]+$ ]] || die "BENCH_LOGLEVEL must be a slapd log level word or none" ;;
	esac
}
loglevel_name() { if [ "$LOGLEVEL" = 0 ]; then echo none; else echo "$LOGLEVEL"; fi; }

# --- work directory and processes: everything stops at exit, also on failure ------------
# Running, and not a zombie (a child that exited is one until waited for).
alive() { local st; st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) && [ "${st%% *}" != Z ]; }
stop_pid() { # WHAT PID: SIGTERM, up to 10 s to go, then SIGKILL
	local pid=$2
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 100); do
		alive "$pid" || break
		sleep 0.1
	done
	alive "$pid" && { say "$1 ($pid) did not stop: killing it"; kill -9 "$pid" 2>/dev/null || true; }
	wait "$pid" 2>/dev/null || true
}
kept_note() { echo "databases and logs kept in $workdir"; }
bench_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_all
	if [ -n "$workdir" ]; then
		if [ "$rc" -ne 0 ] || [ "${BENCH_KEEP:-0}" = 1 ]; then
			say "$(kept_note)"
		elif [ -z "${BENCH_DIR:-}" ]; then
			rm -rf "$workdir"
		fi
	fi
	exit "$rc"
}
cleanup_at_exit() {
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}
make_workdir() { # TEMPLATE: workdir = BENCH_DIR (made, then clean_workdir) or a new mktemp -d TEMPLATE
	if [ -n "${BENCH_DIR:-}" ]; then
		mkdir -p "$BENCH_DIR"
		workdir=$(cd "$BENCH_DIR" && pwd)
		clean_workdir
	else
		workdir=$(mktemp -d "$1")
	fi
	chmod 700 "$workdir"
}

# --- servers -----------------------------------------------------------------------------
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
rnd() { openssl rand -hex 12; }
hash_pw() { /usr/sbin/slappasswd -h '{SSHA}' -s "$1"; }
ldap_answers() { ldapsearch -x -H "$1" -b '' -s base -LLL 1.1 >/dev/null 2>&1; } # URI
# wait_until PID COMMAND...: runs COMMAND every 0.1 s until it succeeds (0); 1 as soon as PID
# is gone, 2 when it has not succeeded in 100 tries.
wait_until() {
	local pid=$1
	shift
	for _ in $(seq 1 100); do
		"$@" && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 2
}
slapd_version() { "$SLAPD" -VV 2>&1 | sed -n 's/.*slapd \([^ ]*\) .*/\1/p' | head -n 1; }

# --- proofing tokens ---------------------------------------------------------------------
# mint_tokens TOTAL OUT: TOTAL distinct tokens into OUT, one a line, minted by mint_range in
# one job per CPU (parts in OUT's directory, tok.J).
mint_tokens() {
	local total=$1 out=$2 dir t0 jobs_n chunk j from to p mint_pids=()
	dir=$(dirname "$out")
	say "minting $total proofing tokens"
	t0=$(date +%s.%N)
	jobs_n=$(nproc)
	chunk=$(((total + jobs_n - 1) / jobs_n))
	for ((j = 0; j < jobs_n; j++)); do
		from=$((j * chunk)) to=$(((j + 1) * chunk))
		[ "$to" -gt "$total" ] && to=$total
		[ "$from" -ge "$to" ] && continue
		mint_range "$from" "$to" "$dir/tok.$j" &
		mint_pids+=($!)
	done
	for p in "${mint_pids[@]}"; do wait "$p" || die "resetguard-token failed"; done
	for ((j = 0; j < jobs_n; j++)); do [ -f "$dir/tok.$j" ] && cat "$dir/tok.$j"; done > "$out"
	rm -f "$dir"/tok.*
	[ "$(wc -l < "$out")" -eq "$total" ] || die "minted $(wc -l < "$out") tokens, not $total"
	[ "$(sort -u "$out" | wc -l)" -eq "$total" ] || die "minted tokens are not all distinct"
	say "minted $total tokens in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s (not part of any figure)"
}

# --- figures -----------------------------------------------------------------------------
# Nearest-rank percentile P of the numbers on standard input (as pwmod-load computes it),
# with DIGITS decimals.
percentile() { # P DIGITS
	sort -g | awk -v p="$1" -v fmt="%.$2f" '{ v[NR] = $1 } END { k = int(p / 100 * NR + 0.999999999); if (k < 1) k = 1; if (k > NR) k = NR; printf fmt, NR ? v[k] : 0 }'
}
median() { # FORMAT NUMBER...: the median, printed with the awk printf FORMAT (%s: as it is)
	local fmt=$1
	shift
	printf '%s\n' "$@" | sort -g | awk -v fmt="$fmt" '{ v[NR] = $1 } END { printf fmt, (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v x="$1" -v y="$2" -v fmt="%.$3f" 'BEGIN { if (y > 0) printf fmt, x / y; else print "n/a" }'; } # X Y DIGITS

# finish BROKEN: exits 0, or with BROKEN 1 (the run had errors) 1 after a notice.
finish() {
	if [ "$1" = 1 ]; then
		echo
		echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
		echo "!!! THIS RUN HAD ERRORS (see the messages above): THE FIGURES ARE NOT VALID"
		echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
		exit 1
	fi
	exit 0
}
