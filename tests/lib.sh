# shellcheck shell=bash
# A tiny test library for resetguard's integration tests. Source it from a test script:
#
#   . "$(dirname "$0")/../lib.sh"
#   sandbox_up [--ppolicy] ...
#   check NAME CMD...                     passes when CMD exits 0
#   check_fails NAME CMD...               passes when CMD exits non-zero
#   check_result NAME CODE RULE CMD...    an ldap-utils CMD fails with LDAP result CODE and
#                                         the text "(resetguard rule RULE)"; RULE "-" asserts
#                                         only the code
#   finish                                prints "N passed, M failed", exits 1 if M > 0
#
# Each check prints "ok - NAME" or "not ok - NAME" followed, on failure only, by the command
# (passwords masked) and its output. No `set -e`: a failing command is a result, not an exit.
set -u

RG_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PATH:/usr/sbin"

T_PASSED=0
T_FAILED=0
T_OUT=
T_RC=0
T_SANDBOXES=()

# The command line with the values of password options replaced by ***.
_masked_cmd() {
	local out='' mask=0 a
	for a in "$@"; do
		if [ "$mask" = 1 ]; then
			out+=" ***"
			mask=0
			continue
		fi
		case "$a" in
		-w | -s | -a | -y | -W) out+=" $a"; mask=1 ;;
		*) out+=" $(printf %q "$a")" ;;
		esac
	done
	printf '%s' "${out# }"
}

_pass() {
	T_PASSED=$((T_PASSED + 1))
	printf 'ok - %s\n' "$1"
}

# _fail NAME WHY CMD...
_fail() {
	local name=$1 why=$2
	shift 2
	T_FAILED=$((T_FAILED + 1))
	printf 'not ok - %s\n' "$name"
	printf '#   %s\n' "$why"
	[ $# -gt 0 ] && printf '#   command: %s\n' "$(_masked_cmd "$@")"
	[ -n "$T_OUT" ] && printf '%s\n' "$T_OUT" | sed 's/^/#   | /'
	return 0
}

# Runs CMD with stdin untouched, keeps its combined output in T_OUT and status in T_RC.
_run() {
	T_OUT=$("$@" 2>&1)
	T_RC=$?
}

check() {
	local name=$1
	shift
	_run "$@"
	if [ "$T_RC" -eq 0 ]; then
		_pass "$name"
	else
		_fail "$name" "expected success, exit status $T_RC" "$@"
	fi
}

check_fails() {
	local name=$1
	shift
	_run "$@"
	if [ "$T_RC" -ne 0 ]; then
		_pass "$name"
	else
		_fail "$name" "expected failure, exit status 0" "$@"
	fi
}

# The LDAP result code of the last ldap-utils command: ldapmodify, ldapadd, ldapsearch and
# ldapwhoami exit with it; ldappasswd exits 1 on any failure and prints the code on its
# "Result: TEXT (N)" line, so it is read from there.
_ldap_code() {
	local code=
	if [ "$T_RC" -eq 1 ]; then
		code=$(printf '%s\n' "$T_OUT" | sed -n 's/^Result: .*(\([0-9]\{1,\}\))$/\1/p' | tail -n 1)
	fi
	printf '%s' "${code:-$T_RC}"
}

check_result() {
	local name=$1 code=$2 rule=$3 got
	shift 3
	_run "$@"
	got=$(_ldap_code)
	if [ "$got" != "$code" ]; then
		_fail "$name" "expected LDAP result $code, got $got (exit status $T_RC)" "$@"
	elif [ "$rule" != - ] && [[ "$T_OUT" != *"(resetguard rule $rule)"* ]]; then
		_fail "$name" "LDAP result $code but not the text \"(resetguard rule $rule)\"" "$@"
	else
		_pass "$name"
	fi
}

# A check on a condition computed by the caller: check_eq NAME EXPECTED ACTUAL.
check_eq() {
	T_OUT=
	if [ "$2" = "$3" ]; then
		_pass "$1"
	else
		T_OUT="expected: $2
actual:   $3"
		_fail "$1" "values differ"
	fi
}

finish() {
	printf '%d passed, %d failed\n' "$T_PASSED" "$T_FAILED"
	[ "$T_FAILED" -eq 0 ]
	exit $?
}

# ---- sandbox ----

_sandbox_cleanup() {
	local d
	for d in "${T_SANDBOXES[@]}"; do
		[ -d "$d" ] || continue
		bash "$RG_TOP/scripts/sandbox" down "$d" >/dev/null 2>&1
		rm -rf "$d"
	done
}
trap _sandbox_cleanup EXIT
trap 'exit 130' INT TERM

# work_dir NAME: W, a temporary directory of this script's own, and MY_PIDS, the daemons it
# starts itself; at exit they are stopped and W removed, then the sandboxes go. A script with
# more to undo sets its own EXIT trap, which ends with _work_cleanup.
work_dir() {
	W=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
	MY_PIDS=()
	trap _work_cleanup EXIT
}
_work_cleanup() {
	local p
	for p in "${MY_PIDS[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$W"
	_sandbox_cleanup
}

# sandbox_up [--slapd-conf] [--ppolicy] [--exempt-rootdn] [--syncd [N]]: a new sandbox in a new temporary
# directory whose env is sourced into this shell; the EXIT trap takes it down and removes the
# directory however the script ends. A sandbox that does not start ends the script.
sandbox_up() {
	local d
	d=$(mktemp -d "${TMPDIR:-/tmp}/rg-test.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
	T_SANDBOXES+=("$d")
	# Overlay tests need no legacy stores: syncd's tests ask for them with --syncd.
	local opts=() a syncd=0
	while [ $# -gt 0 ]; do
		a=$1
		shift
		if [ "$a" = --syncd ] && [[ ${1:-} =~ ^[0-9]+$ ]]; then
			syncd=1 opts+=(--syncd "$1") # instances: for scripts/sandbox
			shift
		elif [ "$a" = --syncd ]; then
			syncd=1
		else
			opts+=("$a")
		fi
	done
	[ "$syncd" = 1 ] || opts+=(--no-syncd)
	# RG_TEST_SERVER=389ds runs a test against 389-DS and resetguard-plugin.so.
	[ -n "${RG_TEST_SERVER:-}" ] && opts+=(--server "$RG_TEST_SERVER")
	# RG_TEST_ATOMIC=1 puts the reset log in the accounts' database (atomic mode).
	[ "${RG_TEST_ATOMIC:-0}" = 1 ] && opts+=(--atomic)
	if ! T_OUT=$(bash "$RG_TOP/scripts/sandbox" up "$d" "${opts[@]}" 2>&1); then
		printf 'Bail out! sandbox up %s failed\n%s\n' "$*" "$T_OUT" | sed '2,$s/^/#   /'
		exit 1
	fi
	# shellcheck disable=SC1091
	. "$d/env"
}

# sandbox_down: takes the current sandbox down now (the directory stays until exit).
sandbox_down() {
	bash "$RG_TOP/scripts/sandbox" down "$RG_DIR" >/dev/null 2>&1
}

# ---- helpers ----

# token ARGS...: a proofing token from the sandbox issuer (--key and --iss given unless the
# caller names its own).
token() {
	local key=(--key "$RG_ISSUER_KEY") iss=(--iss "$RG_ISSUER") a
	for a in "$@"; do
		case "$a" in
		--key) key=() ;;
		--iss) iss=() ;;
		esac
	done
	"$RG_TOKEN" "${key[@]}" "${iss[@]}" "$@"
}

# b64 [STRING]: standard base64 on one line, of STRING or of standard input.
b64() {
	if [ $# -gt 0 ]; then printf %s "$1" | base64 -w0; else base64 -w0; fi
}

# b64url STRING: unpadded base64url.
b64url() {
	printf %s "$1" | base64 -w0 | tr '+/' '-_' | tr -d '='
}

# ctl TOKEN: the ldap-utils -e argument that attaches TOKEN as the proofing control.
ctl() {
	printf '%s=%s' "$RG_CONTROL_OID" "$(b64 "$1")"
}

newpw() {
	printf 'Pw-%s' "$(openssl rand -hex 8)"
}

binds() {
	ldapwhoami -x -H "$RG_URI" -D "$1" -w "$2"
}

# current_pw DN FILE: of the passwords written down in FILE before each was sent (a reset
# whose answer a crash may have lost), the one that binds now, trying the last first.
current_pw() {
	local pw
	while read -r pw; do
		binds "$1" "$pw" >/dev/null 2>&1 && { echo "$pw"; return 0; }
	done < <(tac "$2")
	return 1
}

# not_binds DN PW: the bind fails with invalidCredentials (49), not some other error.
not_binds() {
	local rc
	ldapwhoami -x -H "$RG_URI" -D "$1" -w "$2" >/dev/null 2>&1
	rc=$?
	[ "$rc" -eq 49 ] || { echo "bind returned $rc, expected 49"; return 1; }
}

# opattr DN ATTR: the values of an (operational) attribute, one a line, read as the rootdn.
opattr() {
	ldapsearch -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -LLL -o ldif-wrap=no \
		-b "$1" -s base '(objectClass=*)' "$2" 2>/dev/null |
		sed -n "s/^$2: //Ip"
}

# ldif_modify DN CHANGES... as BINDDN PW [ldapmodify options]: see modify_pw.
# modify_pw BINDDN PW DN OP NEWPW [ldapmodify options...]: a Modify of userPassword with OP
# (replace, add or delete; delete NEWPW "" deletes all values).
modify_pw() {
	local bdn=$1 bpw=$2 dn=$3 op=$4 val=$5
	shift 5
	{
		printf 'dn: %s\nchangetype: modify\n%s: userPassword\n' "$dn" "$op"
		[ -n "$val" ] && printf 'userPassword: %s\n' "$val"
	} | ldapmodify -x -H "$RG_URI" -D "$bdn" -w "$bpw" "$@"
}

# self_change_modify DN OLD NEW [options]: delete the old value and add the new one, as DN.
self_change_modify() {
	local dn=$1 old=$2 new=$3
	shift 3
	printf 'dn: %s\nchangetype: modify\ndelete: userPassword\nuserPassword: %s\n-\nadd: userPassword\nuserPassword: %s\n' \
		"$dn" "$old" "$new" | ldapmodify -x -H "$RG_URI" -D "$dn" -w "$old" "$@"
}

# as_admin LDAPMODIFY-ARGS...: ldapmodify as the rootdn of the main database.
as_admin() {
	ldapmodify -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" "$@"
}

# cfg_modify: ldapmodify of cn=config over ldapi with SASL EXTERNAL, LDIF on stdin.
cfg_modify() {
	ldapmodify -Q -Y EXTERNAL -H "$RG_LDAPI" "$@"
}

# cfg_get ATTR: values of ATTR in the overlay's cn=config entry.
cfg_get() {
	ldapsearch -Q -Y EXTERNAL -H "$RG_LDAPI" -LLL -o ldif-wrap=no -b "$(rg_cfg_dn)" -s base \
		'(objectClass=*)' "$1" | sed -n "s/^$1: //Ip"
}

rg_cfg_dn() {
	ldapsearch -Q -Y EXTERNAL -H "$RG_LDAPI" -LLL -o ldif-wrap=no -b cn=config \
		'(objectClass=olcRgConfig)' 1.1 | sed -n 's/^dn: //p' | head -n 1
}

# unchanged DN OLDPW NEWPW COUNT: the old password still binds, the new one does not, and
# rgResetCount is still COUNT ("" for none). Prints what differs.
unchanged() {
	local dn=$1 old=$2 new=$3 count=$4 c ok=0
	binds "$dn" "$old" >/dev/null 2>&1 || { echo "old password of $dn no longer binds"; ok=1; }
	if [ -n "$new" ] && not_binds "$dn" "$new" >/dev/null 2>&1; then :
	elif [ -n "$new" ]; then echo "new password of $dn binds"; ok=1; fi
	c=$(opattr "$dn" rgResetCount)
	[ "$c" = "$count" ] || { echo "rgResetCount of $dn is '$c', expected '$count'"; ok=1; }
	return $ok
}
