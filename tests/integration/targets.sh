#!/bin/bash
# syncd's ldap, ad and exec targets against two real Debian slapd "legacy" directories
# started here: legacy1 (dc=legacy1, accounts by DN template, pre-hashed userPassword in
# {SSHA}, {SSHA512} and {CRYPT}, SASL EXTERNAL over ldapi) and legacy2 (o=legacy2, accounts
# found by search, Password Modify exop, an ldaps listener with a test CA, and an AD-style
# unicodePwd attribute). Each target is driven by tests/tools/target-driver, which runs one
# configured target and delivers the passwords it reads on stdin.
top=$(cd "$(dirname "$0")/../.." && pwd)
if [ -f "$top/tests/lib.sh" ]; then
	# shellcheck source=tests/lib.sh
	. "$top/tests/lib.sh"
else
	set -u
	T_PASSED=0 T_FAILED=0 T_OUT=
	_pass() { T_PASSED=$((T_PASSED + 1)); printf 'ok - %s\n' "$1"; }
	_fail() {
		T_FAILED=$((T_FAILED + 1)); printf 'not ok - %s\n#   %s\n' "$1" "$2"
		[ -n "$T_OUT" ] && printf '%s\n' "$T_OUT" | sed 's/^/#   | /'; return 0
	}
	check() {
		local name=$1
		shift
		if T_OUT=$("$@" 2>&1); then _pass "$name"; else _fail "$name" "expected success"; fi
	}
	check_eq() {
		T_OUT="expected: $2
actual:   $3"
		if [ "$2" = "$3" ]; then _pass "$1"; else _fail "$1" "values differ"; fi
	}
	finish() { printf '%d passed, %d failed\n' "$T_PASSED" "$T_FAILED"; [ "$T_FAILED" -eq 0 ]; exit $?; }
fi
export PATH="$PATH:/usr/sbin"
# ldap-utils must not pick up a user's ldaprc; the driver sets its own TLS options anyway
export LDAPNOINIT=1

W=$(mktemp -d "${TMPDIR:-/tmp}/rg-targets.XXXXXX") || { echo "Bail out! mktemp"; exit 1; }
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$W"
	if declare -F _sandbox_cleanup >/dev/null; then _sandbox_cleanup; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bail() {
	printf 'Bail out! %s\n' "$1"
	T_FAILED=$((T_FAILED + 1))
	finish
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
rnd() { openssl rand -hex 8; }
USED=()        # every test password, for the final search of the files
ALL_OUT=       # everything the driver printed
# newpw: a fresh test password in $pw, remembered in USED
newpw() { pw="N3w-$(rnd)"; USED+=("$pw"); }

# ---- the driver: $TARGET_DRIVER if set, else the one make built if current, else one built
# here; $TARGET_DRIVER_WRAP (e.g. "valgrind -q --error-exitcode=99") runs it under a tool ----
srcs=("$top"/syncd/{confkv,securefile,spawn,dirconn,map,pwhash,scrub}.[ch] \
	"$top"/syncd/targets/*.[ch] "$top"/syncd/target.h "$top"/lib/errbuf.c \
	"$top"/tests/tools/target-driver.c)
DRIVER=${TARGET_DRIVER:-$top/tests/tools/target-driver}
[ -n "${TARGET_DRIVER:-}" ] || for s in "${srcs[@]}"; do [ "$s" -nt "$DRIVER" ] && DRIVER=; done
if [ -z "$DRIVER" ] || [ ! -x "$DRIVER" ]; then
	DRIVER=$W/target-driver
	${CC:-cc} -std=gnu11 -O1 -g -D_GNU_SOURCE -I "$top/lib" -iquote "$top/syncd" \
		$(printf '%s\n' "${srcs[@]}" | grep '\.c$') -o "$DRIVER" \
		-lldap -llber -lcrypto -lcrypt -lpthread >"$W/cc.log" 2>&1 ||
		bail "cannot build the target driver: $(cat "$W/cc.log")"
fi

# deliver CONF ACCOUNT PW...: one delivery per password; output in D_OUT, status in D_RC.
deliver() {
	local conf=$1 acct=$2
	shift 2
	# shellcheck disable=SC2086
	D_OUT=$(printf '%s\n' "$@" | ${TARGET_DRIVER_WRAP:-} "$DRIVER" "$W/conf/$conf.conf" "$acct" 2>&1)
	D_RC=$?
	ALL_OUT+="$D_OUT"$'\n'
}
# matches TEXT GLOB: TEXT matches the glob (a pattern on purpose, hence unquoted)
# shellcheck disable=SC2053
matches() { [[ $1 == $2 ]] || { printf 'output:   %s\nexpected: %s\n' "$1" "$2"; return 1; }; }
binds() { ldapwhoami -x -H "$1" -D "$2" -w "$3"; }
not_binds() {
	ldapwhoami -x -H "$1" -D "$2" -w "$3" >/dev/null 2>&1
	local rc=$?
	[ $rc -eq 49 ] || { echo "bind returned $rc, expected 49"; return 1; }
}
# admin_attr URI ROOTDN DN ATTR: the first value of ATTR, as "attr: v" or "attr:: b64".
admin_attr() {
	ldapsearch -x -H "$1" -D "$2" -w "$ADMIN_PW" -LLL -o ldif-wrap=no -b "$3" -s base \
		'(objectClass=*)' "$4" | grep -i "^$4:" | head -n 1
}
b64dec_value() { sed 's/^[^:]*:: //' | base64 -d 2>/dev/null; }

# ---- test CAs and the server certificate ----
mkdir -p "$W/ca" "$W/conf" "$W/l1/db" "$W/l2/db"
cat >"$W/ca/ext.cnf" <<'EOF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[srv]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
EOF
mkcert() {
	local c=$W/ca ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	openssl req -x509 "${ec[@]}" -config "$c/ext.cnf" -extensions ca -keyout "$c/ca.key" \
		-out "$c/ca.pem" -days 2 -subj "/CN=resetguard test CA" &&
	openssl req -x509 "${ec[@]}" -config "$c/ext.cnf" -extensions ca -keyout "$c/other.key" \
		-out "$c/other.pem" -days 2 -subj "/CN=some other CA" &&
	openssl req -new "${ec[@]}" -config "$c/ext.cnf" -keyout "$c/srv.key" -out "$c/srv.csr" \
		-subj "/CN=127.0.0.1" &&
	openssl x509 -req -in "$c/srv.csr" -CA "$c/ca.pem" -CAkey "$c/ca.key" -CAcreateserial \
		-days 2 -extfile "$c/ext.cnf" -extensions srv -out "$c/srv.pem"
}
mkcert >"$W/ca/log" 2>&1 || bail "openssl: $(cat "$W/ca/log")"

# ---- the two legacy directories ----
[ -f /usr/lib/ldap/pw-sha2.so ] || [ -f /usr/lib/ldap/pw-sha2.la ] ||
	bail "/usr/lib/ldap/pw-sha2 is missing: {SSHA512} cannot be verified"
ADMIN_PW=$(rnd)
L1_SYNC_PW=$(rnd) L2_SYNC_PW=$(rnd)
hash() { slappasswd -h '{SSHA}' -s "$1"; }
P1=$(free_port) P2=$(free_port) P2S=$(free_port)
L1=ldap://127.0.0.1:$P1 L2=ldap://127.0.0.1:$P2 L2S=ldaps://127.0.0.1:$P2S
L1I="ldapi://$(printf '%s' "$W/l1/ldapi" | sed 's|/|%2F|g')"
EXTERNAL_DN="gidNumber=$(id -g)+uidNumber=$(id -u),cn=peercred,cn=external,cn=auth"

common_conf() {  # DIR
	cat <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile $1/slapd.pid
argsfile $1/slapd.args
password-hash {SSHA}
EOF
}
{
	common_conf "$W/l1"
	cat <<EOF
moduleload pw-sha2
database mdb
suffix "dc=legacy1"
rootdn "cn=admin,dc=legacy1"
rootpw $(hash "$ADMIN_PW")
directory $W/l1/db
maxsize 16777216
access to attrs=userPassword
	by dn.exact="cn=sync,dc=legacy1" write
	by dn.exact="$EXTERNAL_DN" write
	by anonymous auth
	by * none
access to * by dn.exact="cn=sync,dc=legacy1" read by dn.exact="$EXTERNAL_DN" read
	by self read by anonymous auth by * none
EOF
} >"$W/l1/slapd.conf"
{
	common_conf "$W/l2"
	cat <<EOF
attributetype ( 1.2.840.113556.1.4.90 NAME 'unicodePwd'
	DESC 'stands in for Active Directory in the ad target test'
	EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
objectclass ( 2.25.302994944113485370983023088693649332.9.1 NAME 'rgTestAdAccount'
	AUXILIARY MAY unicodePwd )
TLSCACertificateFile $W/ca/ca.pem
TLSCertificateFile $W/ca/srv.pem
TLSCertificateKeyFile $W/ca/srv.key
database mdb
suffix "o=legacy2"
rootdn "cn=admin,o=legacy2"
rootpw $(hash "$ADMIN_PW")
directory $W/l2/db
maxsize 16777216
index mail eq
access to attrs=userPassword,unicodePwd
	by dn.exact="cn=sync,o=legacy2" write
	by anonymous auth
	by * none
access to * by dn.exact="cn=sync,o=legacy2" read by self read by anonymous auth by * none
EOF
} >"$W/l2/slapd.conf"

OLD=()   # old password of each account, by the order created
person() {  # DN RDN-ATTR VALUE [MAIL]
	local pw
	pw="Old-$(rnd)"
	OLD+=("$pw")
	printf 'dn: %s\nobjectClass: inetOrgPerson\n%s: %s\ncn: %s\nsn: Test\nuserPassword: %s\n' \
		"$1" "$2" "$3" "$3" "$(hash "$pw")"
	[ -n "${4:-}" ] && printf 'mail: %s\n' "$4"
	printf '\n'
}
{
	printf 'dn: dc=legacy1\nobjectClass: dcObject\nobjectClass: organization\ndc: legacy1\no: legacy1\n\n'
	printf 'dn: ou=users,dc=legacy1\nobjectClass: organizationalUnit\nou: users\n\n'
	printf 'dn: cn=sync,dc=legacy1\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: sync\nuserPassword: %s\n\n' "$(hash "$L1_SYNC_PW")"
	for u in alice bob carol dave; do person "uid=$u,ou=users,dc=legacy1" uid "$u"; done
} >"$W/l1/data.ldif"
{
	printf 'dn: o=legacy2\nobjectClass: organization\no: legacy2\n\n'
	printf 'dn: ou=accounts,o=legacy2\nobjectClass: organizationalUnit\nou: accounts\n\n'
	printf 'dn: cn=sync,o=legacy2\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: sync\nuserPassword: %s\n\n' "$(hash "$L2_SYNC_PW")"
	person "cn=Erin Example,ou=accounts,o=legacy2" cn "Erin Example" erin@example.com
	person "cn=Twin One,ou=accounts,o=legacy2" cn "Twin One" twin@example.com
	person "cn=Twin Two,ou=accounts,o=legacy2" cn "Twin Two" twin@example.com
	printf 'dn: cn=Frank AD,ou=accounts,o=legacy2\nobjectClass: inetOrgPerson\nobjectClass: rgTestAdAccount\ncn: Frank AD\nsn: Test\nmail: frank@example.com\n\n'
} >"$W/l2/data.ldif"
OLD_ERIN=${OLD[4]}

start_slapd() {  # NAME URLS...
	local d=$W/$1 name=$1
	shift
	# 7>&-: a slapd started while the FIFO test holds fd 7 must not keep the FIFO open
	slapd -h "$*" -f "$d/slapd.conf" -d stats >>"$d/slapd.log" 2>&1 7>&- &
	PIDS+=($!)
	printf -v "PID_$name" '%s' "$!"
	for _ in $(seq 1 100); do
		ldapsearch -x -H "${1%/}" -b '' -s base -LLL 1.1 >/dev/null 2>&1 && return 0
		kill -0 "$!" 2>/dev/null || break
		sleep 0.1
	done
	bail "slapd $name did not start: $(tail -n 5 "$d/slapd.log")"
}
for l in l1 l2; do
	slapadd -q -f "$W/$l/slapd.conf" -l "$W/$l/data.ldif" >"$W/$l/slapadd.log" 2>&1 ||
		bail "slapadd $l: $(cat "$W/$l/slapadd.log")"
done
start_slapd l1 "$L1/" "$L1I"
start_slapd l2 "$L2/" "$L2S/"

printf '%s\n' "$L1_SYNC_PW" >"$W/l1.pw"
printf '%s\n' "$L2_SYNC_PW" >"$W/l2.pw"
printf 'wrong-%s\n' "$(rnd)" >"$W/bad.pw"
chmod 600 "$W/l1.pw" "$W/l2.pw" "$W/bad.pw"

# conf NAME KIND KEY-VALUE-LINES...: a target block in $W/conf/NAME.conf
conf() {
	local name=$1 kind=$2
	shift 2
	{ printf 'target %s {\n\ttype %s\n' "$name" "$kind"; printf '\t%s\n' "$@"; printf '}\n'; } \
		>"$W/conf/$name.conf"
}
L1_AUTH=("bind-dn cn=sync,dc=legacy1" "bind-password-file $W/l1.pw")
L2_AUTH=("bind-dn cn=sync,o=legacy2" "bind-password-file $W/l2.pw")
L1_MAP="map-template uid=%r,ou=users,dc=legacy1"
L2_MAP=("map-search-base ou=accounts,o=legacy2" "map-search-filter (mail=%r@example.com)")

# ---- legacy1: pre-hashed userPassword ----
mods() { grep -c 'MOD attr=userPassword' "$W/l1/slapd.log"; }
for scheme in ssha ssha512 crypt-sha512; do
	case $scheme in
	ssha) user=alice prefix='{SSHA}' ;;
	ssha512) user=bob prefix='{SSHA512}' ;;
	crypt-sha512) user=carol prefix='{CRYPT}$6$' ;;
	esac
	dn="uid=$user,ou=users,dc=legacy1"
	conf "l1-$scheme" ldap "uri $L1" "${L1_AUTH[@]}" "$L1_MAP" "method hash" "hash-scheme $scheme"
	newpw
	deliver "l1-$scheme" "uid=$user,ou=people,dc=example,dc=org" "$pw"
	check_eq "ldap target, method hash $scheme: delivered" DONE "$D_OUT"
	check "  the new password binds on legacy1" binds "$L1" "$dn" "$pw"
	stored=$(admin_attr "$L1" cn=admin,dc=legacy1 "$dn" userPassword | b64dec_value)
	check "  stored as $prefix" matches "$stored" "$prefix*"
	[ $user = alice ] && alice_pw=$pw
done

# the pre-bind: the same password again is not written
dn=uid=alice,ou=users,dc=legacy1
before=$(mods) ts=$(admin_attr "$L1" cn=admin,dc=legacy1 "$dn" modifyTimestamp)
sleep 1.1
deliver l1-ssha "uid=alice,ou=people,dc=example,dc=org" "$alice_pw"
check_eq "the same password again: DONE" DONE "$D_OUT"
check_eq "  without a write (no MOD in legacy1's log)" "$before" "$(mods)"
check_eq "  modifyTimestamp unchanged" "$ts" "$(admin_attr "$L1" cn=admin,dc=legacy1 "$dn" modifyTimestamp)"
newpw
deliver l1-ssha "uid=alice,ou=people,dc=example,dc=org" "$pw" "$pw"
check_eq "two new deliveries on one kept connection: the second skips the write" \
	$'DONE\nDONE' "$D_OUT"
check_eq "  exactly one MOD in legacy1's log" $((before + 1)) "$(mods)"
check "  the new password binds" binds "$L1" "$dn" "$pw"

# SASL EXTERNAL over ldapi, Password Modify
conf l1-external ldap "uri $L1I" "sasl-external yes" "$L1_MAP"
newpw
deliver l1-external "uid=dave,ou=people,dc=example,dc=org" "$pw"
check_eq "ldap target, sasl-external over ldapi, passmod: delivered" DONE "$D_OUT"
check "  the new password binds" binds "$L1" "uid=dave,ou=users,dc=legacy1" "$pw"

# no such account
newpw
deliver l1-ssha "uid=nobody,ou=people,dc=example,dc=org" "$pw"
check "an account missing from legacy1: FAIL naming the mapped DN" \
	matches "$D_OUT" "FAIL: modify userPassword on uid=nobody,ou=users,dc=legacy1: *"

# a wrong service password
conf l1-badbind ldap "uri $L1" "bind-dn cn=sync,dc=legacy1" "bind-password-file $W/bad.pw" \
	"$L1_MAP" "method hash" "hash-scheme ssha"
newpw
deliver l1-badbind "uid=alice,ou=people,dc=example,dc=org" "$pw"
check "a wrong service password: FAIL with invalid credentials" \
	matches "$D_OUT" "FAIL: service bind to $L1 as cn=sync,dc=legacy1: Invalid credentials*"

# ---- legacy2: accounts found by search, Password Modify ----
erin="cn=Erin Example,ou=accounts,o=legacy2"
exops() { grep -c 'PASSMOD' "$W/l2/slapd.log"; }
conf l2-plain ldap "uri $L2" "${L2_AUTH[@]}" "${L2_MAP[@]}"
newpw
before=$(exops)
deliver l2-plain "uid=erin,ou=people,dc=example,dc=org" "$pw"
check_eq "ldap target, map-search-filter, passmod: delivered" DONE "$D_OUT"
check "  the new password binds on legacy2" binds "$L2" "$erin" "$pw"
check_eq "  by one Password Modify" $((before + 1)) "$(exops)"
deliver l2-plain "uid=erin,ou=people,dc=example,dc=org" "$pw"
check_eq "  the same password again: DONE without another exop" "DONE $((before + 1))" "$D_OUT $(exops)"
OLD_ERIN=$pw
newpw
deliver l2-plain "uid=nobody,ou=people,dc=example,dc=org" "$pw"
check "no entry matches the filter: FAIL no account" matches "$D_OUT" "FAIL: no account matches (mail=nobody@example.com)*"
newpw
deliver l2-plain "uid=twin,ou=people,dc=example,dc=org" "$pw"
check "two entries match: FAIL ambiguous" matches "$D_OUT" "FAIL: ambiguous account mapping*"
newpw
deliver l2-plain "uid=a*)(mail=*,ou=people,dc=example,dc=org" "$pw"
check "filter metacharacters in the RDN value are escaped: no match, not a wildcard" \
	matches "$D_OUT" 'FAIL: no account matches (mail=a\\2A\\29\\28mail=\\2A@example.com)*'

# ---- TLS ----
conf l2-ldaps ldap "uri $L2S" "tls-ca-file $W/ca/ca.pem" "${L2_AUTH[@]}" "${L2_MAP[@]}"
newpw
deliver l2-ldaps "uid=erin,ou=people,dc=example,dc=org" "$pw"
check_eq "ldaps with the right CA: delivered" DONE "$D_OUT"
check "  the new password binds" binds "$L2" "$erin" "$pw"
conf l2-starttls ldap "uri $L2" "starttls yes" "tls-ca-file $W/ca/ca.pem" "${L2_AUTH[@]}" "${L2_MAP[@]}"
newpw
deliver l2-starttls "uid=erin,ou=people,dc=example,dc=org" "$pw"
check_eq "StartTLS with the right CA: delivered" DONE "$D_OUT"
check "  the new password binds" binds "$L2" "$erin" "$pw"
OLD_ERIN=$pw
for v in other-ca no-ca starttls-other-ca wrong-name; do
	case $v in
	wrong-name) conf l2-$v ldap "uri ldaps://localhost:$P2S" "tls-ca-file $W/ca/ca.pem" \
		"${L2_AUTH[@]}" "${L2_MAP[@]}" ;;
	other-ca) conf l2-$v ldap "uri $L2S" "tls-ca-file $W/ca/other.pem" "${L2_AUTH[@]}" "${L2_MAP[@]}" ;;
	no-ca) conf l2-$v ldap "uri $L2S" "${L2_AUTH[@]}" "${L2_MAP[@]}" ;;
	starttls-other-ca) conf l2-$v ldap "uri $L2" "starttls yes" "tls-ca-file $W/ca/other.pem" \
		"${L2_AUTH[@]}" "${L2_MAP[@]}" ;;
	esac
	newpw
	deliver l2-$v "uid=erin,ou=people,dc=example,dc=org" "$pw"
	printf "# %s\n" "$D_OUT"
	check "TLS $v: not delivered, with a certificate error" \
		bash -c '[[ $1 == @(RETRY|FAIL):* ]] && grep -qiE "certif|verif|trust|issuer|signer" <<<"$1" || { echo "$1"; exit 1; }' _ "$D_OUT"
	check "  the old password still binds, the new one does not" \
		bash -c 'ldapwhoami -x -H "$1" -D "$2" -w "$3" && ! ldapwhoami -x -H "$1" -D "$2" -w "$4"' \
		_ "$L2" "$erin" "$OLD_ERIN" "$pw"
done
conf l2-noverify ldap "uri $L2S" "tls-verify no" "${L2_AUTH[@]}" "${L2_MAP[@]}"
newpw
deliver l2-noverify "uid=erin,ou=people,dc=example,dc=org" "$pw"
check_eq "tls-verify no on a loopback host: delivered without a CA" DONE "$D_OUT"
conf l2-remote-noverify ldap "uri ldaps://192.0.2.1" "tls-verify no" "${L2_AUTH[@]}" "${L2_MAP[@]}"
newpw
deliver l2-remote-noverify "uid=erin,ou=people,dc=example,dc=org" "$pw"
check "tls-verify no for a remote host: refused at configuration" \
	matches "$D_OUT" "CONFIG: $W/conf/l2-remote-noverify.conf:4: tls-verify no is allowed only*"

# ---- ad: unicodePwd as quoted UTF-16LE over TLS ----
frank="cn=Frank AD,ou=accounts,o=legacy2"
conf ad-plain ad "uri $L2" "${L2_AUTH[@]}" "${L2_MAP[@]}"
newpw
deliver ad-plain "uid=frank,ou=people,dc=example,dc=org" "$pw"
check "ad target over plain ldap://: refused at configuration" \
	matches "$D_OUT" "CONFIG: *: Active Directory accepts unicodePwd only over an encrypted connection*"
conf ad ad "uri $L2S" "tls-ca-file $W/ca/ca.pem" "${L2_AUTH[@]}" "${L2_MAP[@]}"
pw="Ünï-€-😀-$(rnd)"
USED+=("$pw")
deliver ad "uid=frank,ou=people,dc=example,dc=org" "$pw"
check_eq "ad target over ldaps: delivered" DONE "$D_OUT"
want=$(printf '"%s"' "$pw" | iconv -f UTF-8 -t UTF-16LE | base64 -w0)
got=$(admin_attr "$L2" cn=admin,o=legacy2 "$frank" unicodePwd | sed 's/^[^:]*:: //')
check_eq "  unicodePwd is the quoted password in UTF-16LE (surrogate pair included)" "$want" "$got"
printf 'ab\377cd\n' >"$W/bad-utf8"
# shellcheck disable=SC2086
D_OUT=$(${TARGET_DRIVER_WRAP:-} "$DRIVER" "$W/conf/ad.conf" "uid=frank,ou=people,dc=example,dc=org" \
	<"$W/bad-utf8" 2>&1)
ALL_OUT+="$D_OUT"$'\n'
check "  a password that is not UTF-8: FAIL" matches "$D_OUT" "FAIL: *not valid UTF-8*"

# ---- exec ----
mkdir -p "$W/exec" && cp "$top/tests/tools/fake-store" "$W/exec/" && chmod 755 "$W/exec/fake-store"
conf exec exec "command $W/exec/fake-store" "args --argv $W/exec/argv --record $W/exec/rec ok"
newpw
deliver exec "uid=gina,ou=people,dc=example,dc=org" "$pw"
check_eq "exec target with fake-store: delivered" DONE "$D_OUT"
check_eq "  fake-store read the account and a password of the right length" \
	"account=uid=gina,ou=people,dc=example,dc=org length=${#pw}" "$(tr '\n' ' ' <"$W/exec/rec" | sed 's/ $//')"

# ---- the kept connection outlives a restart of the store ----
# One driver process, fed through a FIFO: a delivery, legacy1 restarted (the kept
# connection is now dead), another delivery, which must reconnect rather than ask to retry.
mkfifo "$W/fifo"
# shellcheck disable=SC2086
${TARGET_DRIVER_WRAP:-} "$DRIVER" "$W/conf/l1-ssha.conf" "uid=alice,ou=people,dc=example,dc=org" \
	<"$W/fifo" >"$W/fifo.out" 2>&1 &
drv=$!
exec 7>"$W/fifo"
newpw
printf '%s\n' "$pw" >&7
for _ in $(seq 1 100); do [ -s "$W/fifo.out" ] && break; sleep 0.1; done
# shellcheck disable=SC2154 # set by start_slapd
kill "$PID_l1" && wait "$PID_l1" 2>/dev/null
start_slapd l1 "$L1/" "$L1I"
newpw
printf '%s\n' "$pw" >&7
exec 7>&-
wait "$drv"
D_OUT=$(cat "$W/fifo.out")
ALL_OUT+="$D_OUT"$'\n'
check_eq "legacy1 restarted between two deliveries: the second reconnects at once" \
	$'DONE\nDONE' "$D_OUT"
check "  the second password binds" binds "$L1" "uid=alice,ou=users,dc=legacy1" "$pw"

# ---- a store that is down ----
kill "$PID_l1" && wait "$PID_l1" 2>/dev/null
newpw
deliver l1-ssha "uid=alice,ou=people,dc=example,dc=org" "$pw"
check "legacy1 stopped: RETRY" matches "$D_OUT" "RETRY: service bind to $L1 as cn=sync,dc=legacy1: Can't contact LDAP server*"
check_eq "  exit status 75" 75 "$D_RC"

# ---- no password anywhere ----
leaks=
for p in "${USED[@]}"; do
	f=$(grep -r -a -l -F -D skip -e "$p" "$W" 2>/dev/null)
	[ -n "$f" ] && leaks+="a test password is in: $f"$'\n'
	[[ $ALL_OUT == *"$p"* ]] && leaks+="a test password is in the driver's output"$'\n'
done
check_eq "no test password in any file under $W nor in the driver's output (${#USED[@]} passwords)" "" "$leaks"

finish
