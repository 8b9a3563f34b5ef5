#!/bin/bash
# The client guide, resetguard-clients(7), against the sandbox: every snippet of
# tests/clients/ (which the page shows verbatim) makes an allowed reset with the proofing
# control and shows a denial with its rule; python-ldap's positional LDAPControl sends no
# value (protocolError); nslcd's sequence for a user's own change leaves a denied
# old-password-required record before the allowed one; PHP's ldap_exop_passwd() and the
# ldap_mod_replace() of LTB Self Service Password cannot send the control, and
# ldap_error() does not show the rule.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

PAGE=$RG_TOP/man/resetguard-clients.7
C=$RG_TOP/tests/clients
# Debian's interpreter, where python3-ldap and python3-ldap3 are, whatever python3 is first
# in PATH.
PY=/usr/bin/python3

for s in "$C"/*; do
	f=tests/clients/$(basename "$s")
	_run python3 "$RG_TOP/scripts/man-include" --extract "$PAGE" "$f"
	if [ "$T_RC" -eq 0 ] && [ "$T_OUT"$'\n' = "$(cat "$s")"$'\n' ]; then
		_pass "resetguard-clients(7) shows $f as it is"
	else
		_fail "resetguard-clients(7) shows $f as it is" "missing or different: run scripts/man-include"
	fi
done

missing=
for p in python3-ldap python3-ldap3 php-cli php-ldap; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=" $p"
done
if [ -n "$missing" ]; then
	_fail "the client libraries are installed" "missing:$missing (scripts/bootstrap installs them)"
	finish
fi

sandbox_up
W=$(mktemp -d "${TMPDIR:-/tmp}/rg-clients.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
trap 'rm -rf "$W"; _sandbox_cleanup' EXIT
check "libldap.c compiles with -Wall -Wextra -Werror" \
	gcc -Wall -Wextra -Werror -o "$W/libldap" "$C/libldap.c" -lldap -llber

export LDAP_URI=$RG_URI BIND_DN=$RG_AGENT_DN BIND_PW=$RG_AGENT_PW TARGET_DN=$RG_USER_DN
CUR=$RG_USER_PW

run_snippet() {  # FILE: the snippet, by its kind
	case $1 in
	*.sh) bash "$C/$1" ;;
	*.py) "$PY" "$C/$1" ;;
	*.php) php "$C/$1" ;;
	*.c) "$W/libldap" ;;
	esac
}

# snippet FILE DENIAL-TEXT: an allowed reset (alice binds with the new password), then a
# denied one (kba evidence) whose output has DENIAL-TEXT and the rule, alice unchanged.
snippet() {
	local f=$1 shown=$2
	export NEW_PW TOKEN
	NEW_PW=$(newpw)
	TOKEN=$(token --sub "$RG_USER_DN" --ial 2 --amr hwk)
	check "$f: a reset with the proofing control is allowed" run_snippet "$f"
	if check "$f: alice binds with the new password" binds "$RG_USER_DN" "$NEW_PW"; then
		CUR=$NEW_PW
	fi
	NEW_PW=$(newpw)
	TOKEN=$(token --sub "$RG_USER_DN" --ial 2 --amr hwk,kba)
	check_fails "$f: a reset on kba evidence is denied" run_snippet "$f"
	local out=$T_OUT
	if [[ "$out" == *"$shown"* && "$out" == *"(resetguard rule method-forbidden)"* ]]; then
		_pass "$f: the denial shows \"$shown\" and the rule"
	else
		_fail "$f: the denial shows \"$shown\" and the rule" "not in the output"
	fi
	check "$f: alice's password is unchanged by the denial" binds "$RG_USER_DN" "$CUR"
}

snippet ldappasswd.sh 'Result: Constraint violation (19)'
snippet python-ldap.py 'CONSTRAINT_VIOLATION 19 (Constraint violation)'
snippet ldap3-reset.py 'constraintViolation 19'
snippet php-exop.php 'Constraint violation (19)'
snippet php-modify.php 'Constraint violation (19)'
snippet libldap.c 'Constraint violation (19)'

check "php-modify.php stored a hash, not the password" \
	bash -c "ldapsearch -x -H '$RG_URI' -D '$RG_ADMIN_DN' -w '$RG_ADMIN_PW' -LLL -o ldif-wrap=no \
		-b '$RG_USER_DN' -s base userPassword | grep -q '^userPassword:: e1NTSEF9'"

# python-ldap's positional form: no value, protocolError, nothing changed or recorded.
records() {
	ldapsearch -x -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -LLL -b "$RG_LOG_BASE" \
		-s one "(rgLogTarget=$RG_USER_DN)" 1.1 | grep -c '^dn:'
}
n=$(records)
export NEW_PW TOKEN
NEW_PW=$(newpw)
TOKEN=$(token --sub "$RG_USER_DN" --ial 2 --amr hwk)
check_fails "python-ldap-positional.py: LDAPControl(OID, True, token) is refused" \
	"$PY" "$C/python-ldap-positional.py"
check_eq "python-ldap-positional.py: protocolError, the control has no value" yes \
	"$([[ "$T_OUT" == *PROTOCOL_ERROR*"has no value"* ]] && echo yes)"
check "python-ldap-positional.py: alice's password is unchanged" binds "$RG_USER_DN" "$CUR"
check_eq "python-ldap-positional.py: no record is written" "$n" "$(records)"

# nslcd's sequence: without the old password (denied), then with it (allowed).
NEW_PW=$(newpw)
check "nslcd-passwd.py: alice changes her own password" \
	env OLD_PW="$CUR" "$PY" "$C/nslcd-passwd.py"
check_eq "nslcd-passwd.py: the first attempt is denied old-password-required" yes \
	"$([[ "$T_OUT" == *"without the old password:"*"(resetguard rule old-password-required)"* ]] && echo yes)"
check "nslcd-passwd.py: alice binds with the new password" binds "$RG_USER_DN" "$NEW_PW"
CUR=$NEW_PW
check_eq "nslcd-passwd.py: a denied then an allowed self-change record" \
	"self-change denied old-password-required
self-change allowed allowed" \
	"$(ldapsearch -x -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -LLL -o ldif-wrap=no \
		-b "$RG_LOG_BASE" -s one "(rgLogTarget=$RG_USER_DN)" rgLogChangeNumber rgLogKind \
		rgLogDecision rgLogRule | awk '
		/^rgLogChangeNumber:/ { n = $2 } /^rgLogKind:/ { k = $2 }
		/^rgLogDecision:/ { d = $2 } /^rgLogRule:/ { r = $2 }
		/^$/ { if (n) print n, k, d, r; n = "" } END { if (n) print n, k, d, r }' |
		sort -n | tail -n 2 | cut -d' ' -f2-)"

# PHP's ldap_exop_passwd() and LTB Self Service Password's ldap_mod_replace() send no
# control: denied evidence-missing; ldap_error() names the result only.
NEW_PW=$(newpw)
cat >"$W/ssp.php" <<'EOF'
<?php
$ld = ldap_connect(getenv('LDAP_URI'));
ldap_set_option($ld, LDAP_OPT_PROTOCOL_VERSION, 3);
ldap_bind($ld, getenv('BIND_DN'), getenv('BIND_PW')) or exit(2);
$ok = @ldap_exop_passwd($ld, getenv('TARGET_DN'), '', getenv('NEW_PW'));
ldap_get_option($ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, $diag);
echo 'exop_passwd: ', $ok ? 'ok' : 'failed', ' ', ldap_error($ld), ' | ', $diag, "\n";
@ldap_mod_replace($ld, getenv('TARGET_DN'), ['userPassword' => getenv('NEW_PW')]);
echo 'LDAP - Modify password error ', ldap_errno($ld), ' (', ldap_error($ld), ")\n";
EOF
check "PHP without the control: ldap_exop_passwd() and ldap_mod_replace()" php "$W/ssp.php"
out=$T_OUT
check_eq "ldap_exop_passwd() is denied evidence-missing (in the diagnostic only)" yes \
	"$([[ "$out" == *"exop_passwd: failed Insufficient access | "*"(resetguard rule evidence-missing)"* ]] && echo yes)"
check_eq "Self Service Password's log line names the result, not the rule" \
	"LDAP - Modify password error 50 (Insufficient access)" "$(tail -n 1 <<<"$out")"
check "alice's password is unchanged by them" binds "$RG_USER_DN" "$CUR"

finish
