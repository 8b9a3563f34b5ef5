# Sourced by scripts/sandbox: the two legacy directories, the CAEP receiver and
# resetguard-syncd.
#
# legacy1 (dc=legacy1,dc=example) keeps accounts as uid=NAME,ou=users with pre-hashed
#   {SSHA} userPassword values written by syncd ("method hash").
# legacy2 (o=legacy2) keeps accounts as cn=FULL NAME,ou=accounts found by mail, and takes
#   the Password Modify extended operation ("method passmod").
# Both are separate Debian slapd processes on their own loopback ports.
# ad (--ad) is a Samba AD domain controller (scripts/lib/samba.sh) with the accounts alice
#   and root.bob (sAMAccountName, as their uid); carol has none there.

legacy_conf() {  # NAME SUFFIX PORT-DIR
	cat <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile $3/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
password-hash {SSHA}
database mdb
suffix "$2"
rootdn "cn=admin,$2"
rootpw $(hash_pw "$legacy_pw")
directory $3/db
maxsize 268435456
index objectClass,uid,mail eq
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
CONF
}

legacy1_data() {
	local s=dc=legacy1,dc=example
	printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: legacy1\no: Legacy One\n\n' "$s"
	printf 'dn: ou=users,%s\nobjectClass: organizationalUnit\nou: users\n\n' "$s"
	for u in alice root.bob carol; do
		printf 'dn: uid=%s,ou=users,%s\nobjectClass: account\nobjectClass: simpleSecurityObject\nuid: %s\nuserPassword: %s\n\n' \
			"$u" "$s" "$u" "$(hash_pw "$(openssl rand -hex 12)")"
	done
}

legacy2_data() {
	local s=o=legacy2
	printf 'dn: %s\nobjectClass: organization\no: legacy2\n\n' "$s"
	printf 'dn: ou=accounts,%s\nobjectClass: organizationalUnit\nou: accounts\n\n' "$s"
	printf 'dn: cn=Alice Example,ou=accounts,%s\nobjectClass: inetOrgPerson\ncn: Alice Example\nsn: Example\nmail: alice@example.com\nuserPassword: %s\n\n' \
		"$s" "$(hash_pw "$(openssl rand -hex 12)")"
	printf 'dn: cn=Bob Root,ou=accounts,%s\nobjectClass: inetOrgPerson\ncn: Bob Root\nsn: Root\nmail: root.bob@example.com\nuserPassword: %s\n\n' \
		"$s" "$(hash_pw "$(openssl rand -hex 12)")"
}

legacy_start() {  # NAME PORT
	local d=$dir/$1
	rm -f "$d/slapd.pid"
	/usr/sbin/slapd -n "resetguard-$1" -h "ldap://127.0.0.1:$2/" -f "$d/slapd.conf" \
		-d stats >>"$d/slapd.log" 2>&1 &
	for _ in $(seq 1 100); do
		ldapsearch -x -H "ldap://127.0.0.1:$2" -b '' -s base 1.1 >/dev/null 2>&1 && return 0
		kill -0 $! 2>/dev/null || break
		sleep 0.1
	done
	tail -n 20 "$d/slapd.log" >&2
	die "$1 did not start; see $d/slapd.log"
}

legacy_up() {
	local n suffix
	for n in legacy1 legacy2; do
		rm -rf "${dir:?}/$n"
		mkdir -p "$dir/$n/db"
		case $n in legacy1) suffix=dc=legacy1,dc=example ;; legacy2) suffix=o=legacy2 ;; esac
		legacy_conf "$n" "$suffix" "$dir/$n" > "$dir/$n/slapd.conf"
		"${n}_data" | "$SLAPADD" -f "$dir/$n/slapd.conf" -b "$suffix" \
			>>"$dir/slapadd.log" 2>&1 || die "loading $n failed; see $dir/slapadd.log"
	done
	legacy_start legacy1 "$legacy1_port"
	legacy_start legacy2 "$legacy2_port"
}

# The CAEP receiver: tests/tools/set-receiver.py over HTTPS on loopback, its certificate
# from a CA of the sandbox's own (which syncd's hook trusts), verifying each Security Event
# Token's signature with the hook's public key and its issuer, audience and key id; every
# verified event is one JSON line in $dir/hook-received.jsonl (RG_HOOK_RECEIVED), every
# request one in $dir/hook-requests.jsonl.
receiver_up() {
	local k=$dir/keys ossl=(openssl req -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256)
	(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$k/caep.key" 2>/dev/null) || die "cannot make the CAEP signing key"
	openssl pkey -in "$k/caep.key" -pubout -out "$k/caep.pub" 2>/dev/null
	{
		"${ossl[@]}" -x509 -days 3650 -keyout "$k/hook-ca.key" -out "$k/hook-ca.pem" \
			-subj /CN=resetguard-sandbox-hook-ca &&
		"${ossl[@]}" -keyout "$k/hook-server.key" -out "$k/hook-server.csr" -subj /CN=127.0.0.1 &&
		printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$k/hook-server.ext" &&
		openssl x509 -req -in "$k/hook-server.csr" -CA "$k/hook-ca.pem" -CAkey "$k/hook-ca.key" \
			-CAcreateserial -days 3650 -extfile "$k/hook-server.ext" -out "$k/hook-server.pem"
	} >"$dir/receiver-pki.log" 2>&1 || die "cannot make the receiver's certificate; see $dir/receiver-pki.log"
	chmod 644 "$k/hook-ca.pem"
	: >"$dir/hook-received.jsonl"
	rm -f "$dir/run/receiver.port"
	python3 "$top/tests/tools/set-receiver.py" --port "$receiver_port" \
		--port-file "$dir/run/receiver.port" --cert "$k/hook-server.pem" --key "$k/hook-server.key" \
		--verify-key "$k/caep.pub" --expect-iss https://resetguard.sandbox \
		--expect-aud https://receiver.sandbox --expect-kid sandbox-1 \
		--log "$dir/hook-requests.jsonl" --events "$dir/hook-received.jsonl" \
		>>"$dir/receiver.log" 2>&1 &
	echo $! >"$dir/run/receiver.pid"
	for _ in $(seq 1 100); do
		[ -s "$dir/run/receiver.port" ] && return 0
		kill -0 "$(cat "$dir/run/receiver.pid")" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 20 "$dir/receiver.log" >&2
	die "the CAEP receiver did not start; see $dir/receiver.log"
}

hook_conf() {
	[ "$receiver" = 1 ] || return 0
	cat <<CONF

# Revocation: CAEP credential-change and session-revoked events to the sandbox's receiver.
hook sessions {
	type caep
	url https://127.0.0.1:$receiver_port/events
	issuer https://resetguard.sandbox
	audience https://receiver.sandbox
	key-id sandbox-1
	signing-key $dir/keys/caep.key
	tls-ca-file $dir/keys/hook-ca.pem
	timeout 5
}

# Alert events (the anomalies the overlay flags) as the webhook's JSON document, to the same
# receiver; the hook takes alerts only, never password changes.
hook alerts {
	type webhook
	url https://127.0.0.1:$receiver_port/alerts
	secret-file $dir/keys/alerts.secret
	tls-ca-file $dir/keys/hook-ca.pem
	timeout 5
}
alert-hooks alerts
CONF
}

syncd_conf() { # [METRICS_PORT INSTANCE]
	cat <<CONF
# resetguard-syncd for the sandbox: follows the reset log, feeds both legacy directories.
instance ${2:-sandbox-1}
$([ "${server:-openldap}" = 389ds ] && echo "single-instance yes")
log-uri ldap://127.0.0.1:$port${providers_uri2:+ $providers_uri2}
log-base $log_base
bind-dn cn=syncd,ou=services,$base
bind-password-file $dir/keys/syncd.pw
key-file $dir/keys/syncd.key
cert-file $dir/keys/syncd.pem
metrics-listen 127.0.0.1:${1:-$metrics_port}
log json
max-attempts 6
retry-base 1
retry-max 20
op-timeout 5

target legacy1 {
	type ldap
	uri ldap://127.0.0.1:$legacy1_port
	bind-dn cn=admin,dc=legacy1,dc=example
	bind-password-file $dir/keys/legacy.pw
	map-template uid=%r,ou=users,dc=legacy1,dc=example
	method hash
	hash-scheme ssha
	timeout 5
}

target legacy2 {
	type ldap
	uri ldap://127.0.0.1:$legacy2_port
	bind-dn cn=admin,o=legacy2
	bind-password-file $dir/keys/legacy.pw
	map-search-base ou=accounts,o=legacy2
	map-search-filter (mail=%r@example.com)
	method passmod
	timeout 5
}
CONF
	ad_conf
	hook_conf
}

# The sandbox's Active Directory: its accounts are found by sAMAccountName, as their uid in
# the main directory; its CA is the DC's own, so verification stays on; syncd binds as
# CN=resetguard, which holds the Reset Password right on the users and no more.
ad_up() {
	local svc_pw
	svc_pw="Svc-$(rnd)"
	samba_up "$dir/ad" || die "the Samba AD DC did not start; see $dir/ad"
	{ samba_user alice "Ad-$(rnd)" && samba_user root.bob "Ad-$(rnd)" &&
		samba_user resetguard "$svc_pw" && samba_grant_reset resetguard; } ||
		die "cannot create the sandbox's accounts in the Samba AD DC; see $dir/ad/provision.log"
	(umask 077 && printf '%s\n' "$svc_pw" >"$dir/keys/ad.pw")
	cat >>"$dir/env" <<ENV
RG_AD_URI='$SAMBA_URI'
RG_AD_CA='$SAMBA_CA'
RG_AD_BASE='$SAMBA_BASE'
RG_AD_ADMIN_DN='$SAMBA_ADMIN_DN'
RG_AD_ADMIN_PW='$SAMBA_ADMIN_PW'
RG_AD_SYNC_DN='CN=resetguard,$SAMBA_USERS'
RG_AD_USER_DN='CN=alice,$SAMBA_USERS'
RG_AD_PRIV_USER_DN='CN=root.bob,$SAMBA_USERS'
ENV
}

ad_conf() {
	[ "$ad" = 1 ] || return 0
	cat <<CONF

# Active Directory (a Samba DC): unicodePwd over LDAPS, the DC's certificate verified.
target ad {
	type ad
	uri $SAMBA_URI
	tls-ca-file $SAMBA_CA
	bind-dn CN=resetguard,$SAMBA_USERS
	bind-password-file $dir/keys/ad.pw
	map-search-base $SAMBA_USERS
	map-search-filter (sAMAccountName=%r)
	timeout 5
}
CONF
}

# The files of instance K: the first is syncd.conf, syncd.log, run/syncd.pid; the others
# syncd-K.conf, syncd-K.log, run/syncd-K.pid.
syncd_file() { # K PREFIX SUFFIX
	if [ "$1" = 1 ]; then echo "$2$3"; else echo "$2-$1$3"; fi
}

syncd_start() { # [K METRICS_PORT]
	local k=${1:-1} mport=${2:-$metrics_port} pidf log
	pidf=$(syncd_file "$k" "$dir/run/syncd" .pid)
	log=$(syncd_file "$k" "$dir/syncd" .log)
	rm -f "$pidf"
	"${RG_SYNCD_BIN:-$top/resetguard-syncd}" -d -f "$(syncd_file "$k" "$dir/syncd" .conf)" \
		>>"$log" 2>&1 &
	echo $! > "$pidf"
	for _ in $(seq 1 100); do
		curl_ok "http://127.0.0.1:$mport/health" && return 0
		kill -0 "$(cat "$pidf")" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 20 "$log" >&2
	die "resetguard-syncd did not start; see $log"
}

# Without curl: python3's urllib, which the sandbox already needs for free ports.
curl_ok() {
	python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
		"$1" >/dev/null 2>&1
}

syncd_up() {
	(umask 077 && printf '%s\n' "$syncd_pw" > "$dir/keys/syncd.pw" &&
		printf '%s\n' "$legacy_pw" > "$dir/keys/legacy.pw" &&
		openssl rand -hex 32 > "$dir/keys/alerts.secret")
	[ "$receiver" = 1 ] && receiver_up
	local k mport conf pids=() ports=()
	# Instances share the log through their claims on its records; each has its own
	# instance id, metrics port, configuration, log and pid file.
	for k in $(seq 1 "${nsyncd:-1}"); do
		if [ "$k" = 1 ]; then mport=$metrics_port; else mport=$(free_port); fi
		conf=$(syncd_file "$k" "$dir/syncd" .conf)
		syncd_conf "$mport" "sandbox-$k" > "$conf"
		"$top/resetguard-syncd" -t -f "$conf" >/dev/null ||
			die "the sandbox's $(basename "$conf") does not check: $top/resetguard-syncd -t -f $conf"
		syncd_start "$k" "$mport"
		pids+=("$(cat "$(syncd_file "$k" "$dir/run/syncd" .pid)")")
		ports+=("$mport")
	done
	printf "RG_SYNCD_PIDS='%s'\nRG_SYNCD_METRICS_PORTS='%s'\n" "${pids[*]}" "${ports[*]}" >>"$dir/env"
}

stop_pidfile() {  # FILE
	local pid
	[ -f "$1" ] || return 0
	pid=$(cat "$1")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || { rm -f "$1"; return 0; }
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$1"
}

legacy_syncd_down() {
	local f
	for f in "$dir"/run/syncd*.pid; do
		stop_pidfile "$f"
	done
	stop_pidfile "$dir/run/receiver.pid"
	stop_pidfile "$dir/legacy1/slapd.pid"
	stop_pidfile "$dir/legacy2/slapd.pid"
	samba_down "$dir/ad"
}
