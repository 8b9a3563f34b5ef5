#!/bin/bash
# The notify hook: after each allowed reset, the account holder gets a message at the
# address the main directory holds for them (mail), through a sendmail-compatible program
# (here a fake one that keeps each message); it says who changed the password, when, how,
# and where to report a change they did not make, and never holds a password.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

T_START=$(date +%s)
sandbox_up --syncd

work_dir rg-notify
export LDAPNOINIT=1

SYNCD=${RG_SYNCD_BIN:-$RG_TOP/resetguard-syncd}
HEALTH_URL=${RG_SYNCD_METRICS_URL%/metrics}/health
SYNCD_LOG=$W/syncd.log
CAROL_DN="uid=carol,ou=people,$RG_BASE"
USED=()

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
stop_pid() {
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq 1 100); do
		kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
healthy() {
	python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
		"$HEALTH_URL" >/dev/null 2>&1
}
np() { # VAR
	local v
	v="Nt-$(openssl rand -hex 8)"
	USED+=("$v")
	printf -v "$1" %s "$v"
}
reset() { # DN PW
	local tok
	if [ "$1" = "$RG_PRIV_USER_DN" ]; then
		tok=$(token --sub "$1" --ial 3 --amr hwk)
	else
		tok=$(token --sub "$1" --ial 2 --amr hwk,face)
	fi
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -e "$(ctl "$tok")" -s "$2" "$1"
}
as_syncd() {
	ldapsearch -x -H "$RG_URI" -D "$RG_SYNCD_DN" -w "$RG_SYNCD_PW" -LLL -o ldif_wrap=no "$@"
}
last_change() {
	as_syncd -b "$RG_LOG_BASE" -s one '(objectClass=rgLogRecord)' rgLogChangeNumber 2>/dev/null |
		sed -n 's/^rgLogChangeNumber: //p' | sort -n | tail -n 1
}
hstat() { # N HOOK: the record's status value for HOOK
	as_syncd -b "rgLogChangeNumber=$1,$RG_LOG_BASE" -s base '(objectClass=*)' rgLogHookStatus \
		2>/dev/null | sed -n "s/^rgLogHookStatus: \($2 .*\)/\1/p"
}
# msg_to ADDRESS: the file of the message whose To: header names ADDRESS
msg_to() { grep -l -m 1 "^To: .*$1" "$W"/mail/msg.* 2>/dev/null | head -n 1; }

check "the velocity limit is raised for this test" as_admin <<EOF
dn: $RG_POLICY_DN
changetype: modify
replace: rgVelocityLimit
rgVelocityLimit: * target 1000 3600
EOF
check "alice and root.bob get addresses (carol has none)" as_admin <<EOF
dn: $RG_USER_DN
changetype: modify
add: mail
mail: alice@example.com

dn: $RG_PRIV_USER_DN
changetype: modify
add: mail
mail: root.bob@example.com
mail: bob@home.example.net
EOF

mkdir -p "$W/mail"
cat >"$W/sendmail" <<EOF
#!/bin/sh
# A sendmail that keeps each message it is given, and its arguments.
f=\$(mktemp "$W/mail/msg.XXXXXX") || exit 75
printf '%s\n' "\$*" >"\$f.args"
cat >"\$f"
EOF
chmod 755 "$W/sendmail"
check "syncd stops" stop_pid "$(cat "$RG_SYNCD_PID_FILE")"
{
	cat "$RG_SYNCD_CONF"
	printf '\nhook holder {\n\ttype notify\n\tsendmail-program %s\n\tfrom Password service <noreply@example.com>\n\treport-contact %s\n}\n' \
		"$W/sendmail" "the IT service desk (+1 555 0100, security@example.com)"
} >"$W/notify.conf"
check "a configuration with a notify hook checks" "$SYNCD" -t -f "$W/notify.conf"
"$SYNCD" -d -f "$W/notify.conf" >>"$SYNCD_LOG" 2>&1 &
MY_PIDS+=("$!")
SYNCD_PID=$!
check "syncd starts with it" waitfor 10 healthy

np A1
check "a self-service reset of alice" reset "$RG_USER_DN" "$A1"
na=$(last_change)
np B1
check "a self-service reset of root.bob" reset "$RG_PRIV_USER_DN" "$B1"
nb=$(last_change)
np C1
check "a self-service reset of carol" reset "$CAROL_DN" "$C1"
nc=$(last_change)
today=$(date -u +%F)

check "alice is told (10 s)" waitfor 10 test -n "$(msg_to alice@example.com)"
ma=$(msg_to alice@example.com)
check "  through sendmail -t -oi" grep -qx -- "-t -oi" "$ma.args"
check "  From: the configured sender" grep -qx "From: Password service <noreply@example.com>" "$ma"
check "  To: her address only" grep -qx "To: alice@example.com" "$ma"
check "  Subject: says what happened" grep -qx "Subject: Your password was changed" "$ma"
check "  a text/plain UTF-8 body" grep -qx "Content-Type: text/plain; charset=UTF-8" "$ma"
check "  who: the account, alice" grep -q "your account alice was changed" "$ma"
check "  when: today, in UTC" grep -q "was changed on $today [0-9:]* UTC" "$ma"
check "  how: the self-service reset" grep -q "through the self-service password reset" "$ma"
check "  how to report it was not them, with the reference of the change" \
	eval 'tr "\n" " " <"$ma" | grep -q "report it at once to the IT service desk (+1 555 0100, security@example.com), quoting reference $na\."'
check "root.bob is told at both his addresses, in one message" \
	waitfor 10 grep -qx "To: root.bob@example.com, bob@home.example.net" "$(msg_to root.bob@example.com)"
check "  about his own change" grep -q "quoting reference $nb\." "$(msg_to root.bob@example.com)"
check "the records say: holder delivered (alice, root.bob)" \
	waitfor 10 eval '[[ "$(hstat "$na" holder)" == "holder delivered "* && "$(hstat "$nb" holder)" == "holder delivered "* ]]'
check "carol, without an address: holder failed, and why" \
	waitfor 20 eval '[[ "$(hstat "$nc" holder)" == "holder failed "*"has no usable address in mail: nobody to notify"* ]]'
check "  with an ALERT line" grep -q "\"event\":\"alert\".*ALERT change $nc for .*hook holder failed" "$SYNCD_LOG"
check_eq "two messages were sent in all" 2 "$(ls "$W"/mail/msg.* | grep -vc '\.args$')"

printf '%s\n' "${USED[@]}" >"$W/used"
check_eq "no password in any message (grep of every password of this test)" "" \
	"$(grep -rlaF -f "$W/used" "$W/mail")"
check "  (the search finds one planted, as a self-test)" \
	eval 'printf "x%sx\n" "$A1" >"$W/mail/plant" && grep -rqaF -f "$W/used" "$W/mail"; r=$?; rm -f "$W/mail/plant"; exit $r'
check_eq "no password in syncd's log" "" "$(grep -aF -f "$W/used" "$SYNCD_LOG")"
check "syncd stops" stop_pid "$SYNCD_PID"

echo "# runtime $(($(date +%s) - T_START)) s"
finish
