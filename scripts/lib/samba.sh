# shellcheck shell=bash
# Sourced by scripts/sandbox (--ad) and tests/integration/ad-samba.sh: a throwaway Active
# Directory domain served by Samba's AD DC (Debian's samba-ad-dc), for syncd's ad target.
#
#   samba_up DIR       provisions the domain RG.TEST under DIR and starts `samba -i` on a
#                      loopback address of its own; sets the SAMBA_* variables below
#   samba_user NAME PW creates an enabled user NAME (sAMAccountName) in CN=Users
#   samba_grant_reset NAME  gives user NAME the Reset Password right on CN=Users' users
#   samba_ldap TOOL ARGS...  an ldap-utils TOOL against the DC over LDAPS, CA verified
#   samba_down DIR     stops the DC and gives its loopback address back
#
# Samba's LDAP ports are fixed (389 and 636) and it listens only on addresses that are on
# an interface, so each DC gets an address 127.0.0.N of its own, added to lo for its
# lifetime: runs side by side never clash. Adding it needs root (Samba needs root anyway).
# Only the ldap service runs: no RPC endpoint mapper, KDC, SMB or DNS, hence no dynamic RPC
# port range to clash with other servers, and the DC answers within a second.
#
# Its TLS certificate is made here, for the address (IP SAN), by a CA of the DC's own in
# DIR/tls/ca.pem (SAMBA_CA): Samba's self-made one names the host, which a client that
# connects to an address would rightly refuse.

SAMBA_REALM=RG.TEST
SAMBA_DOMAIN=RG
SAMBA_BASE=DC=rg,DC=test
SAMBA_USERS=CN=Users,$SAMBA_BASE
SAMBA_ADMIN_DN=CN=Administrator,CN=Users,$SAMBA_BASE

_samba_die() {
	echo "samba: $*" >&2
	return 1
}

# A free 127.0.0.N, claimed by adding it to lo: `ip addr add` fails when another run holds
# it, so the claim is atomic; DIR/run/samba.ip says to give it back. Something listening on
# every address at 389 or 636 would take the DC's ports whatever the address: then no
# address helps. Where no address may be added (a container without CAP_NET_ADMIN),
# 127.0.0.1 serves when its ports are free, and runs cannot go side by side.
_samba_claim_ip() {
	local d=$1 n why
	if ss -Hltn | awk '{ print $4 }' | grep -Eq '^(0\.0\.0\.0|\*|\[::\]):(389|636)$'; then
		_samba_die "a server listens on every address at port 389 or 636: stop it first"
		return 1
	fi
	for _ in $(seq 1 40); do
		n=$((2 + RANDOM % 249))
		ss -Hltn | awk '{ print $4 }' | grep -q "^127\.0\.0\.$n:" && continue
		if why=$(ip addr add "127.0.0.$n/32" dev lo 2>&1); then
			SAMBA_IP=127.0.0.$n
			echo "$SAMBA_IP" >"$d/run/samba.ip"
			return 0
		fi
		[[ $why == *"not permitted"* ]] && break
	done
	if ! ss -Hltn | awk '{ print $4 }' | grep -Eq '^127\.0\.0\.1:(389|636)$'; then
		SAMBA_IP=127.0.0.1
		return 0
	fi
	_samba_die "no loopback address for the DC: none of 127.0.0.2-250 could be added to lo, and 127.0.0.1:389 or 636 is taken"
}

# The DC's certificate: a CA of its own and a server certificate for its address.
_samba_certs() {
	local k=$1/tls ossl=(openssl req -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256)
	mkdir -p "$k"
	(
		umask 077
		"${ossl[@]}" -x509 -days 3650 -keyout "$k/ca.key" -out "$k/ca.pem" \
			-subj /CN=resetguard-samba-ca &&
			"${ossl[@]}" -keyout "$k/key.pem" -out "$k/server.csr" -subj "/CN=$SAMBA_IP" &&
			printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$SAMBA_IP" >"$k/server.ext" &&
			openssl x509 -req -in "$k/server.csr" -CA "$k/ca.pem" -CAkey "$k/ca.key" \
				-CAcreateserial -days 3650 -extfile "$k/server.ext" -out "$k/cert.pem"
	) >"$1/pki.log" 2>&1 || { _samba_die "cannot make the DC's certificate; see $1/pki.log"; return 1; }
	chmod 644 "$k/ca.pem" "$k/cert.pem"
}

samba_ldap() {
	local tool=$1
	shift
	env -u LDAPNOINIT LDAPTLS_CACERT="$SAMBA_CA" LDAPTLS_REQCERT=demand \
		"$tool" -x -H "$SAMBA_URI" "$@"
}

# samba_user NAME PW: an enabled user (userAccountControl 512) with password PW.
samba_user() {
	local pw16
	pw16=$(printf '"%s"' "$2" | iconv -f UTF-8 -t UTF-16LE | base64 -w0)
	printf 'dn: CN=%s,%s\nobjectClass: user\nsAMAccountName: %s\nunicodePwd:: %s\nuserAccountControl: 512\n' \
		"$1" "$SAMBA_USERS" "$1" "$pw16" |
		samba_ldap ldapadd -D "$SAMBA_ADMIN_DN" -w "$SAMBA_ADMIN_PW" >/dev/null
}

# A SID in its string form, from the base64 objectSid an LDIF search shows.
_samba_sid() {
	python3 -c 'import base64, struct, sys
b = base64.b64decode(sys.argv[1])
auth = int.from_bytes(b[2:8], "big")
subs = struct.unpack("<%dI" % b[1], b[8:8 + 4 * b[1]])
print("S-%d-%d" % (b[0], auth) + "".join("-%d" % s for s in subs))' "$1"
}

# samba_grant_reset NAME: the delegation an administrator gives a password sync service —
# the Reset Password extended right (00299570-...) on user objects (bf967aba-...) below
# CN=Users, and nothing else. samba-tool writes it to the DC's database directly.
samba_grant_reset() {
	local b64 sid
	b64=$(samba_ldap ldapsearch -D "$SAMBA_ADMIN_DN" -w "$SAMBA_ADMIN_PW" -LLL -o ldif-wrap=no \
		-b "CN=$1,$SAMBA_USERS" -s base objectSid | sed -n 's/^objectSid:: //p')
	sid=$(_samba_sid "$b64") || return 1
	samba-tool dsacl set -H "$SAMBA_DIR/dc/private/sam.ldb" --objectdn="$SAMBA_USERS" \
		--sddl="(OA;CI;CR;00299570-246d-11d0-a768-00aa006e0529;bf967aba-0de6-11d0-a285-00aa003049e2;$sid)" \
		>>"$SAMBA_DIR/provision.log" 2>&1
}

samba_up() {
	local d=$1 opts
	if ! command -v samba-tool >/dev/null || ! command -v samba >/dev/null; then
		_samba_die "Samba's AD DC is not installed (samba-ad-dc samba-ad-provision samba winbind; scripts/bootstrap)"
		return 1
	fi
	[ "$(id -u)" -eq 0 ] || { _samba_die "Samba's AD DC and its loopback address need root"; return 1; }
	rm -rf "${d:?}/dc" "$d/tls" "$d/run"
	mkdir -p "$d/run"
	_samba_claim_ip "$d" || return 1
	SAMBA_DIR=$d
	SAMBA_URI=ldaps://$SAMBA_IP
	SAMBA_CA=$d/tls/ca.pem
	SAMBA_ADMIN_PW="Adm-$(openssl rand -hex 12)"
	_samba_certs "$d" || return 1
	# Everything the DC writes stays under DIR: pid file, logs, state, the certificate.
	opts=("interfaces=$SAMBA_IP" "bind interfaces only=yes" "server services=ldap"
		"prefork children=1" "pid directory=$d/run" "log file=$d/samba.log"
		"tls enabled=yes" "tls keyfile=$d/tls/key.pem" "tls certfile=$d/tls/cert.pem"
		"tls cafile=$d/tls/ca.pem")
	samba-tool domain provision --realm="$SAMBA_REALM" --domain="$SAMBA_DOMAIN" \
		--host-name=rgdc --server-role=dc --dns-backend=NONE --targetdir="$d/dc" \
		--adminpass="$SAMBA_ADMIN_PW" "${opts[@]/#/--option=}" >"$d/provision.log" 2>&1 ||
		{ tail -n 20 "$d/provision.log" >&2; _samba_die "provisioning failed; see $d/provision.log"; return 1; }
	# Samba takes the password before a reset for another hour by default (NTLM's grace
	# for cached clients, applied to simple binds too; provision does not keep the option):
	# none here, so a reset shows at once.
	samba -i -s "$d/dc/etc/smb.conf" --option="old password allowed period=0" \
		>>"$d/samba.log" 2>&1 &
	echo $! >"$d/run/samba-main.pid"
	for _ in $(seq 1 150); do
		samba_ldap ldapsearch -b '' -s base 1.1 >/dev/null 2>&1 && return 0
		kill -0 "$(cat "$d/run/samba-main.pid")" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 20 "$d/samba.log" >&2
	_samba_die "the DC did not answer on $SAMBA_URI; see $d/samba.log"
}

# Safe under set -e (scripts/sandbox): nothing here fails the caller.
samba_down() {
	local d=$1 pid ip
	if [ -f "$d/run/samba-main.pid" ]; then
		pid=$(cat "$d/run/samba-main.pid")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
		rm -f "$d/run/samba-main.pid"
	fi
	if [ -f "$d/run/samba.ip" ]; then
		ip=$(cat "$d/run/samba.ip")
		ip addr del "$ip/32" dev lo 2>/dev/null || true
		rm -f "$d/run/samba.ip"
	fi
	return 0
}
