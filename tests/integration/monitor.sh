#!/bin/bash
# Telemetry: the overlay's counters under cn=Monitor move with allowed and denied changes
# (by kind and by rule), with log writes and with alerts; a volume of resets and runs of
# denials per target and per requester raise their alerts (the record flagged for review
# with its reason, a log line) and syncd sends each flagged record to its alert hook (a
# webhook to the sandbox's receiver) and says so on the record and in its metrics; the hash
# chain covers the reason; bad thresholds are refused, in cn=config and with file and line
# in slapd.conf.
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

sandbox_up --syncd

ALICE=$RG_USER_DN CAROL="uid=carol,ou=people,$RG_BASE" BOB=$RG_PRIV_USER_DN
CFG=$(rg_cfg_dn)
TOP='cn=Resetguard,cn=Monitor'

mon() { # mon BASE SCOPE ATTR...: ldapsearch of cn=Monitor as the admin
	ldapsearch -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -LLL -o ldif-wrap=no \
		-b "$1" -s "$2" '(objectClass=*)' "${@:3}" 2>/dev/null
}
DB=$(mon "$TOP" one 1.1 | sed -n 's/^dn: //p')
check_eq "one database publishes its counters under $TOP" 1 "$(printf '%s\n' "$DB" | grep -c .)"
check_eq "  named as back-monitor names the database" "cn=Database 2,$TOP" "$DB"
check_eq "  which is the governed suffix" "$RG_BASE" \
	"$(mon "$DB" base monitoredInfo | sed -n 's/^monitoredInfo: //p')"
_run ldapsearch -x -H "$RG_URI" -LLL -b "$DB" -s base '(objectClass=*)' monitorCounter
check_eq "  anonymous reads nothing there" "" "$(printf %s "$T_OUT" | grep '^dn:' || true)"

# counter RDN...: the monitorCounter of RDN,...,$DB
counter() {
	local dn=$DB r
	for r in "$@"; do dn="cn=$r,$dn"; done
	mon "$dn" base monitorCounter | sed -n 's/^monitorCounter: //p'
}
# snapshot: every counter of the tree, "DN=VALUE" a line
snapshot() {
	mon "$DB" sub monitorCounter | awk '/^dn: /{dn=substr($0,5)} /^monitorCounter: /{print dn "=" $2}'
}
# delta NAME BEFORE-FILE RDN... EXPECTED: the counter moved by EXPECTED since BEFORE-FILE
delta() {
	local name=$1 before=$2 exp=${*: -1} dn=$DB r now then
	for r in "${@:3:$#-3}"; do dn="cn=$r,$dn"; done
	now=$(mon "$dn" base monitorCounter | sed -n 's/^monitorCounter: //p')
	then=$(awk -v k="$dn=" 'index($0, k) == 1 { print substr($0, length(k) + 1) }' "$before")
	check_eq "$name" "$exp" "$((${now:-0} - ${then:-0}))"
}

check_eq "the counters start at zero" 0 "$(counter Judged)"
check_eq "  every rule has its counter" 1 "$(mon "cn=Rules,$DB" one monitorCounter |
	grep -c '^dn: cn=evidence-missing,')"

# ---- counters ----
before=$RG_DIR/before.txt
snapshot >"$before"
new=$(newpw)
check "an allowed self-service reset" ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" \
	-w "$RG_AGENT_PW" -e "$(ctl "$(token --sub "$ALICE" --ial 2 --amr hwk)")" -s "$new" "$ALICE"
delta "  Judged +1" "$before" Judged 1
delta "  Allowed +1" "$before" Allowed 1
delta "  Allowed self-service +1" "$before" Allowed self-service 1
delta "  Denied +0" "$before" Denied 0
delta "  rule allowed +1" "$before" Rules allowed 1
delta "  Log Writes +1" "$before" "Log Writes" 1
us=$(counter "Log Write Microseconds")
check "  Log Write Microseconds moved ($us)" test "${us:-0}" -gt 0

snapshot >"$before"
check_result "a denied self-service reset (no token)" 50 evidence-missing \
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -s "$(newpw)" "$ALICE"
check_result "a denied delegated reset (no token)" 50 evidence-missing \
	ldappasswd -x -H "$RG_URI" -D "$RG_HELPDESK_DN" -w "$RG_HELPDESK_PW" -s "$(newpw)" "$CAROL"
delta "  Judged +2" "$before" Judged 2
delta "  Denied +2" "$before" Denied 2
delta "  Denied self-service +1" "$before" Denied self-service 1
delta "  Denied delegated +1" "$before" Denied delegated 1
delta "  Allowed +0" "$before" Allowed 0
delta "  rule evidence-missing +2" "$before" Rules evidence-missing 2
delta "  Log Writes +2 (denials are recorded too)" "$before" "Log Writes" 2
delta "  no alert is configured: Alerts +0" "$before" Alerts 0

# ---- alerts ----
cfg() { check "$1" cfg_modify <<<"dn: $CFG
changetype: modify
$2"; }
# record N ATTR: ATTR of the newest N-th record (1: the newest), read as the log admin
last_number() {
	ldapsearch -x -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -LLL -o ldif-wrap=no \
		-b "$RG_LOG_BASE" -s one '(objectClass=rgLogRecord)' rgLogChangeNumber |
		sed -n 's/^rgLogChangeNumber: //p' | sort -n | tail -n 1
}
rec() { # rec NUMBER ATTR
	ldapsearch -x -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -LLL -o ldif-wrap=no \
		-b "rgLogChangeNumber=$1,$RG_LOG_BASE" -s base '(objectClass=*)' "$2" |
		sed -n "s/^$2: //p"
}
alerts_logged() { grep -c "resetguard: ALERT $1" "$RG_DIR/slapd.log" || true; }

cfg "resetguard-alert-volume 3 600 is accepted" "replace: olcRgAlertVolume
olcRgAlertVolume: 3 600"
check_eq "  and read back" "3 600" "$(cfg_get olcRgAlertVolume)"
snapshot >"$before"
for i in 1 2 3; do
	dn=$ALICE
	[ "$i" = 2 ] && dn=$CAROL
	check "volume: reset $i of 3 is allowed" ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" \
		-w "$RG_AGENT_PW" -e "$(ctl "$(token --sub "$dn" --ial 2 --amr hwk)")" -s "$(newpw)" "$dn"
	n=$(last_number)
	if [ "$i" -lt 3 ]; then
		check_eq "  its record raised no alert" FALSE "$(rec "$n" rgLogAlert)"
	fi
done
check_eq "  the third reset's record has rgLogAlert TRUE" TRUE "$(rec "$n" rgLogAlert)"
check_eq "  and is up for review" TRUE "$(rec "$n" rgLogReviewRequired)"
reason=$(rec "$n" rgLogAlertReason)
check "  its rgLogAlertReason names the volume alert ($reason)" \
	test "${reason#volume: 3 or more resets in the last 600 seconds}" != "$reason"
check_eq "  the account it reset is up for review" TRUE "$(opattr "$ALICE" rgReviewRequired)"
check_eq "  slapd logged one volume alert" 1 "$(alerts_logged volume)"
delta "  Alerts +1" "$before" Alerts 1
delta "  Alerts volume +1" "$before" Alerts volume 1
cfg "resetguard-alert-volume is removed" "delete: olcRgAlertVolume"
check "a reset after it is allowed" ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" \
	-w "$RG_AGENT_PW" -e "$(ctl "$(token --sub "$CAROL" --ial 2 --amr hwk)")" -s "$(newpw)" "$CAROL"
check_eq "  and raises no alert any more" FALSE "$(rec "$(last_number)" rgLogAlert)"

cfg "resetguard-alert-target-denials 3 600" "replace: olcRgAlertTargetDenials
olcRgAlertTargetDenials: 3 600"
snapshot >"$before"
# Counted from when the alert is set: carol's denial above does not count.
for i in 1 2; do
	check_result "target denials: carol is denied ($i)" 50 evidence-missing \
		ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -s "$(newpw)" "$CAROL"
	check_eq "  denial $i of carol raises no alert" FALSE "$(rec "$(last_number)" rgLogAlert)"
done
check_result "target denials: carol is denied a third time" 50 evidence-missing \
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -s "$(newpw)" "$CAROL"
n=$(last_number)
check_eq "  the third denial's record has rgLogAlert TRUE" TRUE "$(rec "$n" rgLogAlert)"
check_eq "  and is up for review" TRUE "$(rec "$n" rgLogReviewRequired)"
check_eq "  its reason" "target-denials: 3 or more denied changes of \"$CAROL\" in the last 600 seconds (threshold 3)" \
	"$(rec "$n" rgLogAlertReason)"
check_eq "  the rule is still the one that denied it" evidence-missing "$(rec "$n" rgLogRule)"
check_eq "  slapd logged one target-denials alert" 1 "$(alerts_logged target-denials)"
delta "  Alerts target-denials +1" "$before" Alerts target-denials 1
cfg "resetguard-alert-target-denials is removed" "delete: olcRgAlertTargetDenials"

cfg "resetguard-alert-requester-denials 3 600" "replace: olcRgAlertRequesterDenials
olcRgAlertRequesterDenials: 3 600"
snapshot >"$before"
# Three denials by the help desk, of three accounts: no account has a run, the help desk has.
for dn in "$CAROL" "$ALICE"; do
	check_result "requester denials: the help desk is denied on ${dn%%,*}" 50 evidence-missing \
		ldappasswd -x -H "$RG_URI" -D "$RG_HELPDESK_DN" -w "$RG_HELPDESK_PW" -s "$(newpw)" "$dn"
	check_eq "  no alert yet" FALSE "$(rec "$(last_number)" rgLogAlert)"
done
check_result "requester denials: the help desk is denied on uid=root.bob" 50 evidence-missing \
	ldappasswd -x -H "$RG_URI" -D "$RG_HELPDESK_DN" -w "$RG_HELPDESK_PW" -s "$(newpw)" "$BOB"
n=$(last_number)
check_eq "  the third denial by the help desk raises the alert" TRUE "$(rec "$n" rgLogAlert)"
check_eq "  its reason" "requester-denials: 3 or more denied changes by \"$RG_HELPDESK_DN\" in the last 600 seconds (threshold 3)" \
	"$(rec "$n" rgLogAlertReason)"
check_eq "  slapd logged one requester-denials alert" 1 "$(alerts_logged requester-denials)"
delta "  Alerts requester-denials +1" "$before" Alerts requester-denials 1
delta "  Alerts +1" "$before" Alerts 1

cfg "resetguard-alert-requester-denials is removed" "delete: olcRgAlertRequesterDenials"

# The window slides: two denials 3 s apart are no run of 2 within 2 s; a third right after
# the second is.
cfg "resetguard-alert-target-denials 2 2" "replace: olcRgAlertTargetDenials
olcRgAlertTargetDenials: 2 2"
check_result "window: alice is denied" 50 evidence-missing \
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -s "$(newpw)" "$ALICE"
sleep 3
check_result "window: alice is denied again 3 s later" 50 evidence-missing \
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -s "$(newpw)" "$ALICE"
check_eq "  no alert: the first denial has left the window" FALSE "$(rec "$(last_number)" rgLogAlert)"
check_result "window: and once more at once" 50 evidence-missing \
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -s "$(newpw)" "$ALICE"
check_eq "  the alert" TRUE "$(rec "$(last_number)" rgLogAlert)"
cfg "resetguard-alert-target-denials is removed" "delete: olcRgAlertTargetDenials"

# ---- syncd: alert events ----
flagged=$(ldapsearch -x -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -LLL \
	-b "$RG_LOG_BASE" -s one '(rgLogAlert=TRUE)' rgLogChangeNumber |
	sed -n 's/^rgLogChangeNumber: //p' | sort -n | tr '\n' ' ')
check_eq "four records are flagged" 4 "$(wc -w <<<"$flagged")"
# alert_events: "NUMBER DECISION RULE" of each alert the receiver got at /alerts, sorted
alert_events() {
	python3 - "$RG_DIR/hook-requests.jsonl" <<'PY'
import json, sys
seen = set()
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("path") != "/alerts":
        continue
    b = json.loads(r["body"])
    seen.add("%d %s %s %s %s" % (b["change_number"], b["event"], b["uid"], b["decision"],
                                 b["rule"]))
print("\n".join(sorted(seen, key=lambda s: int(s.split()[0]))))
PY
}
for _ in $(seq 1 100); do
	[ "$(alert_events | grep -c .)" -ge 4 ] && break
	sleep 0.1
done
set -- $flagged
check_eq "syncd sent each flagged record to the alert webhook" \
	"$1 alert alice allowed allowed
$2 alert carol denied evidence-missing
$3 alert root.bob denied evidence-missing
$4 alert alice denied evidence-missing" "$(alert_events)"
check "  and no password change went there" test "$(python3 -c '
import json, sys
print(sum(1 for l in open(sys.argv[1]) if json.loads(l).get("path") == "/alerts"
          and json.loads(json.loads(l)["body"])["event"] != "alert"))' "$RG_DIR/hook-requests.jsonl")" = 0
status=
for _ in $(seq 1 50); do
	status=$(rec "$4" rgLogAlertStatus)
	[ -n "$status" ] && break
	sleep 0.1
done
check "  the record says so: rgLogAlertStatus ($status)" \
	test "${status#alerts delivered attempts=1 time=}" != "$status"
metrics=$(curl -s "$RG_SYNCD_METRICS_URL" 2>/dev/null ||
	python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' "$RG_SYNCD_METRICS_URL")
check_eq "  syncd's metrics count four alerts" "resetguard_syncd_alerts_total 4" \
	"$(grep '^resetguard_syncd_alerts_total ' <<<"$metrics")"
check_eq "  and four taken by the hook" 'resetguard_syncd_alert_hook_delivered_total{hook="alerts"} 4' \
	"$(grep '^resetguard_syncd_alert_hook_delivered_total' <<<"$metrics")"
check_eq "  the alert hook is not among the password-change hooks" "" \
	"$(grep '^resetguard_syncd_hook_attempts_total{hook="alerts"}' <<<"$metrics" || true)"

# The shipped dashboard reads what is really published: every counter DN pattern matches a
# counter of this slapd (the names openldap_exporter gives them are their DNs), every syncd
# metric is one syncd serves.
mon "$DB" sub monitorCounter | sed -n 's/^dn: //p' >"$RG_DIR/counter-dns.txt"
check "the Grafana dashboard's patterns match the published counters and metrics" python3 -c '
import json, re, sys
dash = json.load(open(sys.argv[1]))
dns = open(sys.argv[2]).read().split("\n")
served = {l.split("{")[0].split(" ")[0] for l in sys.stdin if l and not l.startswith("#")}
served |= {re.sub(r"_(bucket|sum|count)$", "", m) for m in served}
bad = []
for p in dash["panels"]:
    for t in p.get("targets", []):
        for pat in re.findall(r"dn=~\"([^\"]+)\"", t["expr"]):
            if not any(re.fullmatch(pat, d) for d in dns):
                bad.append("%s: no counter matches %s" % (p["title"], pat))
        for m in re.findall(r"\b(resetguard_syncd_[a-z_]+)", t["expr"]):
            if m not in served and re.sub(r"_(bucket|sum|count)$", "", m) not in served:
                bad.append("%s: syncd serves no %s" % (p["title"], m))
print("\n".join(bad))
sys.exit(1 if bad else 0)' "$RG_TOP/share/grafana/resetguard.json" "$RG_DIR/counter-dns.txt" \
	<<<"$metrics"

check "resetguard-audit verify passes over records with alert reasons" \
	"$RG_TOP/resetguard-audit" -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" verify
check_eq "report --alert lists the four flagged records" 4 \
	"$("$RG_TOP/resetguard-audit" -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" \
		report --alert --format csv | tail -n +2 | grep -c .)"

# ---- bad thresholds ----
# cfg_refused NAME LDIF-CHANGES MESSAGE
cfg_refused() {
	_run cfg_modify <<<"dn: $CFG
changetype: modify
$2"
	if [ "$T_RC" -eq 0 ]; then
		_fail "$1" "the change was accepted"
	elif [[ "$T_OUT" != *"$3"* ]]; then
		_fail "$1" "refused (exit status $T_RC) but the message lacks \"$3\""
	else
		_pass "$1"
	fi
}
cfg_refused "cn=config: a threshold of 0 is refused" "replace: olcRgAlertVolume
olcRgAlertVolume: 0 600" 'count "0" is not a whole number'
cfg_refused "cn=config: a run of more than 1000 denials is refused" "replace: olcRgAlertTargetDenials
olcRgAlertTargetDenials: 1001 600" 'count "1001" is not a whole number from 1 to 1000'
cfg_refused "cn=config: a window of 10x is refused" "replace: olcRgAlertTargetDenials
olcRgAlertTargetDenials: 5 10x" 'window "10x" is not a whole number'
cfg_refused "cn=config: a threshold without a window is refused" "replace: olcRgAlertRequesterDenials
olcRgAlertRequesterDenials: 5" "missing <count> <seconds>"

# syncd_bad NAME VALUE MESSAGE: syncd's configuration with alert-hooks VALUE fails its check,
# naming the file, the line of alert-hooks and MESSAGE.
syncd_bad() {
	local f=$RG_DIR/syncd-bad.conf line
	sed "s/^alert-hooks .*/alert-hooks $2/" "$RG_SYNCD_CONF" >"$f"
	line=$(grep -n '^alert-hooks ' "$f" | cut -d: -f1)
	_run "$RG_TOP/resetguard-syncd" -t -f "$f"
	if [ "$T_RC" -eq 0 ]; then
		_fail "$1" "accepted"
	elif [[ "$T_OUT" != *"$f:$line: $3"* ]]; then
		_fail "$1" "refused, but without \"$f:$line: $3\""
	else
		_pass "$1"
	fi
}
syncd_bad "syncd: alert-hooks naming no hook is refused with file and line" nosuch \
	'alert-hooks: no hook "nosuch" is defined'
syncd_bad "syncd: alert-hooks naming a CAEP hook is refused" sessions \
	'alert-hooks: hook "sessions" is of type caep; alerts go to webhook and exec hooks only'
syncd_bad "syncd: alert-hooks naming a hook twice is refused" "alerts,alerts" \
	'alert-hooks names hook "alerts" twice'

# ---- from slapd.conf, the monitor database first ----
sandbox_up --slapd-conf --no-syncd
DB=$(mon "$TOP" one 1.1 | sed -n 's/^dn: //p')
named=$(ldapsearch -x -H "$RG_URI" -D "$RG_ADMIN_DN" -w "$RG_ADMIN_PW" -LLL -o ldif-wrap=no \
	-b cn=Databases,cn=Monitor -s one "(namingContexts=$RG_BASE)" 1.1 | sed -n 's/^dn: //p')
check_eq "slapd.conf: the counters' database is numbered as back-monitor numbers it" \
	"${named%%,*},$TOP" "$DB"
check_result "slapd.conf: a denied reset" 50 evidence-missing \
	ldappasswd -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" -s "$(newpw)" "$ALICE"
check_eq "  counted" 1 "$(counter Denied self-service)"

conf=$RG_DIR/alerts.conf
# slaptest_bad NAME DIRECTIVE MESSAGE: a minimal slapd.conf ending in DIRECTIVE fails
# slaptest naming the file, the line and MESSAGE.
slaptest_bad() {
	local line
	cat >"$conf" <<EOF
include /etc/ldap/schema/core.schema
include $RG_TOP/schema/resetguard.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload $RG_MODULE
database mdb
suffix "dc=example,dc=com"
directory $RG_DIR
overlay resetguard
resetguard-alert-volume 100 3600
$2
EOF
	line=$(wc -l <"$conf")
	_run slaptest -f "$conf" -u
	if [ "$T_RC" -eq 0 ]; then
		_fail "$1" "slaptest accepted: $2"
	elif [[ "$T_OUT" != *"$conf: line $line"* ]]; then
		_fail "$1" "slaptest failed but does not name \"$conf: line $line\""
	elif [[ "$T_OUT" != *"$3"* ]]; then
		_fail "$1" "slaptest failed but the message lacks \"$3\""
	else
		_pass "$1"
	fi
}
slaptest_bad "slapd.conf: resetguard-alert-target-denials -1 60 fails naming file and line" \
	"resetguard-alert-target-denials -1 60" 'count "-1" is not a whole number'
slaptest_bad "slapd.conf: resetguard-alert-volume 5 99999999 fails naming file and line" \
	"resetguard-alert-volume 5 99999999" 'window "99999999" is not a whole number'

finish
