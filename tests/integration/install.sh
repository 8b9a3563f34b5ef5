#!/bin/bash
# The installation of slapo-resetguard(5) (INSTALLATION ON DEBIAN), end to end, from the
# Debian packages:
#   1. builds the packages with scripts/package (into a temporary directory; or takes the
#      .deb files of RG_INSTALL_DEBS=DIR), installs them into this machine with apt-get and
#      checks their files, ownerships, unit and dependencies;
#   2. makes a stock Debian slapd instance in a temporary directory, from the slapd
#      package's own /usr/share/slapd/slapd.init.ldif with its placeholders replaced as
#      slapd's postinst does, running as openldap on a free loopback port and an ldapi
#      socket, and loads the people, services and groups of a site into it;
#   3. runs the procedure's blocks, read from the installed man page (and checked equal to
#      tests/install/*.sh), in one bash with `set -euo pipefail`; only 01-settings.sh (this
#      instance's values), 08-syncd-target.sh (a second slapd as the legacy store) and
#      10-syncd-start.sh (no systemd here: the unit's ExecStart, run as its User with no new
#      privileges and no capabilities) are replaced;
#   4. makes a governed reset, sees a denial with its rule, verifies and reports the log as
#      an auditor, sees resetguard-syncd deliver the new password to the second slapd,
#      restarts slapd and resets again, and purges the packages if it installed them.
# Needs root (apt-get, slapd -u openldap, runuser); runs on loopback only; stops everything
# it started by pid, also on failure, and leaves no file behind but the packages' state
# when they were installed before (then they stay, upgraded to this tree's).
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "# install.sh installs packages and runs slapd as openldap: it needs root; skipped"
	finish
fi

PACKAGES=(slapd-resetguard resetguard-syncd resetguard-tools)
UNIT=/lib/systemd/system/resetguard-syncd.service
MANPAGE=/usr/share/man/man5/slapo-resetguard.5.gz
SUFFIX=dc=install,dc=test
ISSUER=https://proofing.install.test
OID=2.25.30299494411348485370983023088693649332.3.1
export LDAPNOINIT=1

# One run at a time on a machine: two would install and purge the same packages.
exec 9>/run/lock/resetguard-install-test.lock
flock -w 900 9 || { echo "Bail out! another install.sh holds /run/lock/resetguard-install-test.lock"; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/rg-install.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
chmod 755 "$W"     # slapd runs as openldap, syncd as _resetguard: they traverse it
mkdir -p "$W/run" "$W/pw" "$W/admin"
chmod 700 "$W/pw" "$W/admin"
PURGE=0

stop_pid() {  # PID: TERM, then KILL after 10 s
	local p=$1
	[ -n "$p" ] || return 0
	kill "$p" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$p" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$p" 2>/dev/null
}
cleanup() {
	local f
	for f in "$W/run/syncd.pid" "$W/run/slapd.pid" "$W/run/legacy.pid"; do
		[ -f "$f" ] && stop_pid "$(cat "$f")"
	done
	rm -f /var/lib/resetguard/syncd.state /var/lib/resetguard/syncd.state.tmp
	if [ "$PURGE" = 1 ]; then
		apt-get purge -q -y -o DPkg::Lock::Timeout=600 "${PACKAGES[@]}" >/dev/null 2>&1
	fi
	rm -rf "$W"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
newpw() { openssl rand -hex 12; }
# pwfile NAME: a new random password in $W/pw/NAME (no newline, for -y), its path printed.
pwfile() { (umask 077 && newpw | tr -d '\n' >"$W/pw/$1") && echo "$W/pw/$1"; }
hash() { slappasswd -h '{SSHA}' -T "$1"; }
owner_mode() { stat -c '%U:%G %a' "$1"; }

# ---- 1. the packages ----

if [ -n "${RG_INSTALL_DEBS:-}" ]; then
	DEBS=$RG_INSTALL_DEBS
else
	DEBS=$W/dist
	t0=$(date +%s)
	check "scripts/package builds the packages" bash "$RG_TOP/scripts/package" "$DEBS"
	echo "# scripts/package took $(($(date +%s) - t0)) s"
fi
debs=()
for p in "${PACKAGES[@]}"; do
	f=$(ls "$DEBS/${p}_"*.deb 2>/dev/null | head -n 1)
	[ -n "$f" ] || { echo "Bail out! no ${p}_*.deb in $DEBS"; exit 1; }
	debs+=("$f")
done
before=$(dpkg-query -W -f='${Status}\n' "${PACKAGES[@]}" 2>/dev/null | grep -c 'install ok installed')
[ "$before" -eq 0 ] && PURGE=1
check "apt-get installs ${PACKAGES[*]}" \
	apt-get install -q -y -o DPkg::Lock::Timeout=600 --no-install-recommends "${debs[@]}"
[ "$T_RC" -eq 0 ] || { echo "Bail out! the packages do not install"; exit 1; }

missing=
for f in /usr/lib/ldap/resetguard.so /etc/ldap/schema/resetguard.schema \
	/etc/ldap/schema/resetguard.ldif /usr/share/resetguard/01-modules.ldif \
	/usr/share/resetguard/02-logdb.ldif /usr/share/resetguard/03-logdb-overlays.ldif \
	/usr/share/resetguard/04-logroot.ldif /usr/share/resetguard/05-access.ldif \
	/usr/share/resetguard/06-policy.ldif /usr/share/resetguard/07-overlay.ldif \
	/usr/share/resetguard/grafana/resetguard.json \
	/usr/sbin/resetguard-syncd /usr/bin/resetguard-audit /usr/bin/resetguard-token \
	"$UNIT" /etc/resetguard/syncd.conf "$MANPAGE" \
	/usr/share/man/man8/resetguard-syncd.8.gz /usr/share/man/man5/resetguard-syncd.conf.5.gz \
	/usr/share/man/man1/resetguard-audit.1.gz /usr/share/man/man1/resetguard-token.1.gz \
	/usr/share/man/man7/resetguard-clients.7.gz; do
	[ -e "$f" ] || missing+=" $f"
done
check_eq "the packages install every documented path" "" "$missing"
check_eq "slapd-resetguard depends on exactly the installed slapd" \
	"slapd (= $(dpkg-query -W -f='${Version}' slapd))" \
	"$(dpkg-query -W -f='${Depends}' slapd-resetguard | tr ',' '\n' | sed -n 's/^ *\(slapd (.*)\)$/\1/p')"
check "the system user _resetguard exists" id _resetguard
check_eq "/etc/resetguard is root:_resetguard 750" "root:_resetguard 750" "$(owner_mode /etc/resetguard)"
check_eq "/etc/resetguard/syncd.conf is root:_resetguard 640 (a conffile)" \
	"root:_resetguard 640 conffile" \
	"$(owner_mode /etc/resetguard/syncd.conf) $(dpkg-query -W -f='${Conffiles}' resetguard-syncd |
		grep -q ' /etc/resetguard/syncd.conf ' && echo conffile)"
check_eq "/var/lib/resetguard is _resetguard:_resetguard 700" "_resetguard:_resetguard 700" \
	"$(owner_mode /var/lib/resetguard)"
check "the default syncd.conf is valid (resetguard-syncd -t)" \
	runuser -u _resetguard -- /usr/sbin/resetguard-syncd -t -f /etc/resetguard/syncd.conf
if command -v systemd-analyze >/dev/null; then
	check "systemd-analyze verify $UNIT" systemd-analyze verify "$UNIT"
fi
unit_lacks=
for d in 'Type=exec' 'User=_resetguard' 'ProtectSystem=strict' 'ProtectHome=yes' \
	'PrivateTmp=yes' 'NoNewPrivileges=yes' 'CapabilityBoundingSet=' 'Restart=on-failure' \
	'ReadWritePaths=/var/lib/resetguard' \
	'ExecStart=/usr/sbin/resetguard-syncd -f /etc/resetguard/syncd.conf'; do
	grep -qx "$d" "$UNIT" || unit_lacks+=" $d"
done
check_eq "the unit is hardened and runs the daemon in the foreground" "" "$unit_lacks"
check_eq "the unit is not enabled by the installation" "" \
	"$(ls /etc/systemd/system/multi-user.target.wants/resetguard-syncd.service 2>/dev/null)"
check_fails "the installed man page names no unreplaced directory" \
	zgrep -E 'ETCDIR|MODULEDIR|PKGDATADIR|\$\{libdir\}' "$MANPAGE"

# The procedure as the installed page shows it, block by block, equal to tests/install.
steps=()
for f in "$RG_TOP"/tests/install/*.sh; do
	steps+=("$(basename "$f")")
	_run python3 "$RG_TOP/scripts/man-include" --extract "$MANPAGE" "tests/install/${steps[-1]}"
	if [ "$T_RC" -eq 0 ] && [ "$T_OUT"$'\n' = "$(cat "$f")"$'\n' ]; then
		_pass "the installed slapo-resetguard(5) shows tests/install/${steps[-1]}"
	else
		_fail "the installed slapo-resetguard(5) shows tests/install/${steps[-1]}" \
			"the block differs or is missing (run scripts/man-include)"
	fi
done

# ---- 2. a stock Debian instance, and a legacy store ----

PORT=$(free_port)
LPORT=$(free_port)
URI=ldap://127.0.0.1:$PORT
LURI=ldap://127.0.0.1:$LPORT
LDAPI="ldapi://$(printf %s "$W/run/ldapi" | sed 's,/,%2F,g')"
ROOTPW=$(pwfile rootdn)
mkdir -p "$W/slapd.d" "$W/db"
# What slapd's postinst does (create_new_slapd_conf): @SUFFIX@ and @PASSWORD@ (a hash);
# the paths of /var are moved into the temporary directory.
sed -e "s|@SUFFIX@|$SUFFIX|g" -e "s|@PASSWORD@|$(hash "$ROOTPW")|g" \
	-e "s|/var/run/slapd/|$W/run/|g" -e "s|/var/lib/ldap|$W/db|g" \
	/usr/share/slapd/slapd.init.ldif >"$W/init.ldif"
printf 'dn: %s\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\no: Install test\ndc: install\n' \
	"$SUFFIX" >"$W/base.ldif"
check "slapadd loads slapd.init.ldif and the base entry" \
	bash -c "slapadd -F '$W/slapd.d' -b cn=config -l '$W/init.ldif' &&
		slapadd -F '$W/slapd.d' -b '$SUFFIX' -l '$W/base.ldif'"
chown -R openldap:openldap "$W/slapd.d" "$W/db" "$W/run"

start_slapd() {
	rm -f "$W/run/slapd.pid"
	/usr/sbin/slapd -h "$URI/ $LDAPI" -u openldap -g openldap -F "$W/slapd.d" -d 256 \
		>>"$W/slapd.log" 2>&1 &
	for _ in $(seq 200); do
		[ -s "$W/run/slapd.pid" ] && ldapsearch -x -H "$URI" -b '' -s base 1.1 >/dev/null 2>&1 &&
			return 0
		sleep 0.1
	done
	tail -n 20 "$W/slapd.log"
	return 1
}
stop_slapd() { stop_pid "$(cat "$W/run/slapd.pid" 2>/dev/null)"; rm -f "$W/run/slapd.pid"; }
check "the stock slapd starts as openldap on $URI and $W/run/ldapi" start_slapd
[ "$T_RC" -eq 0 ] || { echo "Bail out! slapd does not start"; exit 1; }

# The legacy store: another slapd, whose alice gets the new password from syncd.
LEGACYPW=$(pwfile legacy)
mkdir -p "$W/legacy/db"
cat >"$W/legacy/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
pidfile $W/run/legacy.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
suffix "dc=legacy,dc=example"
rootdn "cn=admin,dc=legacy,dc=example"
rootpw $(hash "$LEGACYPW")
directory $W/legacy/db
maxsize 268435456
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
EOF
printf 'dn: dc=legacy,dc=example\nobjectClass: dcObject\nobjectClass: organization\ndc: legacy\no: Legacy\n\ndn: ou=users,dc=legacy,dc=example\nobjectClass: organizationalUnit\nou: users\n\ndn: uid=alice,ou=users,dc=legacy,dc=example\nobjectClass: account\nobjectClass: simpleSecurityObject\nuid: alice\nuserPassword: %s\n' \
	"$(slappasswd -h '{SSHA}' -s "$(newpw)")" >"$W/legacy/data.ldif"
start_legacy() {
	slapadd -f "$W/legacy/slapd.conf" -l "$W/legacy/data.ldif" >"$W/legacy/slapadd.log" 2>&1 ||
		{ cat "$W/legacy/slapadd.log"; return 1; }
	/usr/sbin/slapd -h "$LURI/" -f "$W/legacy/slapd.conf" -d 256 >"$W/legacy/slapd.log" 2>&1 &
	for _ in $(seq 100); do
		ldapsearch -x -H "$LURI" -b '' -s base 1.1 >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
check "the legacy slapd starts on $LURI" start_legacy

# The site: people, the services and staff that the policy and the access controls name.
AGENTPW=$(pwfile portal) HDPW=$(pwfile helpdesk) AUDPW=$(pwfile auditor)
ALICEPW=$(pwfile alice) BGPW=$(pwfile breakglass) MGRPW=$(pwfile approver)
ALICE=uid=alice,ou=people,$SUFFIX
AGENT=cn=reset-portal,ou=services,$SUFFIX
AUDITOR=uid=auditor.kim,ou=staff,$SUFFIX
svc() { printf 'dn: cn=%s,ou=services,%s\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\ncn: %s\nuserPassword: %s\n\n' "$1" "$SUFFIX" "$1" "$(hash "$2")"; }
person() { printf 'dn: uid=%s,%s,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nuserPassword: %s\n\n' "$1" "$2" "$SUFFIX" "$1" "$1" "$1" "$(hash "$3")"; }
group() { printf 'dn: cn=%s,ou=groups,%s\nobjectClass: groupOfNames\ncn: %s\nmember: %s\n\n' "$1" "$SUFFIX" "$1" "$2"; }
{
	for ou in people staff services groups; do
		printf 'dn: ou=%s,%s\nobjectClass: organizationalUnit\nou: %s\n\n' "$ou" "$SUFFIX" "$ou"
	done
	person alice ou=people "$ALICEPW"
	person hd.ops ou=staff "$HDPW"
	person mgr.lee ou=staff "$MGRPW"
	person auditor.kim ou=staff "$AUDPW"
	svc reset-portal "$AGENTPW"
	svc break-glass "$BGPW"
	group helpdesk "uid=hd.ops,ou=staff,$SUFFIX"
	group approvers "uid=mgr.lee,ou=staff,$SUFFIX"
	group auditors "$AUDITOR"
	group privileged "cn=nobody,$SUFFIX"
} >"$W/site.ldif"
check "the site's entries are added as the rootdn" \
	ldapadd -x -H "$LDAPI" -D "cn=admin,$SUFFIX" -y "$ROOTPW" -f "$W/site.ldif"

# ---- 3. the procedure ----

mkdir -p "$W/ldap-keys"                  # what slapd-resetguard ships as /etc/ldap/resetguard
cp -a /etc/resetguard "$W/syncd"         # the installed /etc/resetguard, ownerships and all
{
	echo 'set -euo pipefail'
	echo "cd '$W/admin'"
	for s in "${steps[@]}"; do
		case $s in
		01-settings.sh)
			cat <<EOF
SUFFIX='$SUFFIX'
ISSUER='$ISSUER'
LDAPI='$LDAPI'
LOGDIR='$W/resetlog'
KEYDIR='$W/ldap-keys'
SYNCDIR='$W/syncd'
ROOTAUTH='-y $ROOTPW'
EOF
			;;
		08-syncd-target.sh)
			cat <<EOF
cp '$LEGACYPW' "\$SYNCDIR/legacy.pw"
chown _resetguard: "\$SYNCDIR/legacy.pw"
cat >>"\$SYNCDIR/syncd.conf" <<END

target legacy {
    type ldap
    uri $LURI
    bind-dn cn=admin,dc=legacy,dc=example
    bind-password-file \$SYNCDIR/legacy.pw
    map-template uid=%r,ou=users,dc=legacy,dc=example
    method passmod
}
END
EOF
			;;
		10-syncd-start.sh)
			# The unit's command, as its user, with what setpriv can give of its sandbox.
			cat <<EOF
unit_user=\$(sed -n 's/^User=//p' $UNIT)
unit_cmd=\$(sed -n 's/^ExecStart=//p' $UNIT)
unit_cmd=\${unit_cmd//\/etc\/resetguard\//\$SYNCDIR/}
(umask 077 && exec setpriv --reuid="\$unit_user" --regid="\$unit_user" --init-groups \
    --no-new-privs --bounding-set=-all --inh-caps=-all -- \$unit_cmd \
    >>'$W/syncd.log' 2>&1) &
echo \$! > '$W/run/syncd.pid'
sleep 1
kill -0 \$(cat '$W/run/syncd.pid')
EOF
			;;
		*)
			python3 "$RG_TOP/scripts/man-include" --extract "$MANPAGE" "tests/install/$s" ||
				cat "$RG_TOP/tests/install/$s"
			;;
		esac
		echo "echo '@@ step $s done'"
	done
} >"$W/procedure.sh"
bash "$W/procedure.sh" >"$W/procedure.log" 2>&1
for s in "${steps[@]}"; do
	if grep -qx "@@ step $s done" "$W/procedure.log"; then
		_pass "procedure step $s"
	else
		T_OUT=$(grep -v '^@@' "$W/procedure.log" | tail -n 25)
		_fail "procedure step $s" "the step failed: the procedure's last output follows"
		tail -n 30 "$W/slapd.log" | sed 's/^/#   slapd: /'
		echo "Bail out! the documented procedure failed at $s"
		exit 1
	fi
done

# ---- 4. what the procedure set up ----

tok() { resetguard-token --key "$W/admin/issuer.key" --iss "$ISSUER" "$@"; }
ctl() { printf '%s=%s' "$OID" "$(printf %s "$1" | base64 -w0)"; }
NEW1=$(newpw)
check "a governed self-service reset by the portal (IAL 2, hwk) is allowed" \
	ldappasswd -x -H "$URI" -D "$AGENT" -y "$AGENTPW" \
	-e "$(ctl "$(tok --sub "$ALICE" --ial 2 --amr hwk)")" -s "$NEW1" "$ALICE"
check "alice binds with the new password" ldapwhoami -x -H "$URI" -D "$ALICE" -w "$NEW1"
check_eq "the reset is recorded on alice (rgLastResetKind)" self-service \
	"$(ldapsearch -x -H "$URI" -D "cn=admin,$SUFFIX" -y "$ROOTPW" -LLL -b "$ALICE" -s base \
		rgLastResetKind | sed -n 's/^rgLastResetKind: //p')"
check_result "a reset on kba evidence is denied by its rule" 19 method-forbidden \
	ldappasswd -x -H "$URI" -D "$AGENT" -y "$AGENTPW" \
	-e "$(ctl "$(tok --sub "$ALICE" --ial 2 --amr hwk,kba)")" -s "$(newpw)" "$ALICE"
check "alice still binds with the password of the allowed reset" \
	ldapwhoami -x -H "$URI" -D "$ALICE" -w "$NEW1"
check_result "a reset without a token is denied" 50 evidence-missing \
	ldappasswd -x -H "$URI" -D "$AGENT" -y "$AGENTPW" -s "$(newpw)" "$ALICE"

audit() { resetguard-audit -H "$URI" -D "$AUDITOR" -y "$AUDPW" "$@"; }
check "resetguard-audit verify, as an auditor" audit verify
check "resetguard-audit report --format csv, as an auditor" audit report --format csv
report=$T_OUT
check_eq "the report has the allowed reset and the denial with its rule" "1 1" \
	"$(grep -c ',allowed,' <<<"$report") $(grep -c 'method-forbidden' <<<"$report")"
check "resetguard-audit verify, as root over ldapi" \
	resetguard-audit -Y EXTERNAL -H "$LDAPI" verify
check_eq "alice finds the three records of her account in the log" 3 \
	"$(ldapsearch -x -H "$URI" -D "$ALICE" -w "$NEW1" -LLL -b cn=resetlog -s one \
		"(rgLogTarget=$ALICE)" rgLogDecision | grep -c '^rgLogDecision:')"

# resetguard-syncd delivers to the legacy store.
delivered() {
	for _ in $(seq 100); do
		ldapwhoami -x -H "$LURI" -D uid=alice,ou=users,dc=legacy,dc=example -w "$1" \
			>/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "the legacy store's alice does not bind with the new password"
	ldapsearch -x -H "$URI" -D "$AUDITOR" -y "$AUDPW" -LLL -b cn=resetlog -s one \
		rgLogTargetStatus
	tail -n 20 "$W/syncd.log"
	return 1
}
check "resetguard-syncd delivers the new password to the legacy slapd" delivered "$NEW1"
syncd_pid=$(cat "$W/run/syncd.pid")
check_eq "resetguard-syncd runs as _resetguard, no new privileges, no capabilities" \
	"$(id -u _resetguard) 1 0000000000000000" \
	"$(awk '/^Uid:/ { u = $2 } /^NoNewPrivs:/ { n = $2 } /^CapBnd:/ { c = $2 } END { print u, n, c }' \
		"/proc/$syncd_pid/status")"
status_ok() {
	ldapsearch -x -H "$URI" -D "$AUDITOR" -y "$AUDPW" -LLL -o ldif-wrap=no -b cn=resetlog -s one \
		'(rgLogDecision=allowed)' rgLogTargetStatus rgLogSealedPassword | tee "$W/status" |
		grep -q '^rgLogTargetStatus: legacy delivered ' &&
		! grep -q '^rgLogSealedPassword' "$W/status"
}
check "the record says legacy delivered, and its sealed password is gone" status_ok

# The configuration holds across a restart of slapd, which loads the module by name.
stop_slapd
check "slapd starts again with the configuration the procedure wrote" start_slapd
NEW2=$(newpw)
check "after the restart, a governed reset is allowed" \
	ldappasswd -x -H "$URI" -D "$AGENT" -y "$AGENTPW" \
	-e "$(ctl "$(tok --sub "$ALICE" --ial 2 --amr face)")" -s "$NEW2" "$ALICE"
check "and reaches the legacy store (syncd reconnected)" delivered "$NEW2"
check "resetguard-audit verify, after the restart" audit verify

check "resetguard-syncd drains and exits 0 on SIGTERM" \
	bash -c "kill $syncd_pid; for i in \$(seq 100); do kill -0 $syncd_pid 2>/dev/null || exit 0; sleep 0.1; done; exit 1"
rm -f "$W/run/syncd.pid"

leaks=$(grep -rlF -e "$NEW1" -e "$NEW2" /etc/resetguard /var/lib/resetguard /usr/share/resetguard \
	"$W/syncd" "$W/syncd.log" "$W/slapd.log" 2>/dev/null)
check_eq "no new password in clear in syncd's files, state or logs" "" "$leaks"

if [ "$PURGE" = 1 ]; then
	check "apt-get purge removes the packages" \
		apt-get purge -q -y -o DPkg::Lock::Timeout=600 "${PACKAGES[@]}"
	check_eq "the purge removes the statoverrides and the state directory" "" \
		"$(dpkg-statoverride --list | grep resetguard; ls -d /var/lib/resetguard /usr/lib/ldap/resetguard.so 2>/dev/null)"
	PURGE=0
else
	echo "# the packages were installed before this test: they stay (now this tree's)"
fi
finish
