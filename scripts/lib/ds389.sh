# shellcheck shell=bash
# The 389 Directory Server side of scripts/sandbox (--server 389ds): an instance of
# Debian's 389-ds-base under DIR/ds, created by dscreate with a private prefix (no systemd,
# nothing outside DIR), listening on 127.0.0.1 and on DIR/run/ldapi, with
# resetguard-plugin.so, the same example policy, people, reset log and ACIs as the slapd
# sandbox (as 389-DS ACIs). The server runs as root, like the slapd sandbox's server runs as
# the caller; its pid is in DIR/run/slapd.pid, so `sandbox down` stops it the same way.
#
# Sourced by scripts/sandbox, which provides $dir, $top, $port, $base, the passwords,
# die, hash_pw, gen_data and gen_log_data.

# The instance is named after its port: 389-DS names shared memory after the instance
# (/dev/shm/sem.slapd-NAME.stats), and sandboxes may run side by side.
ds389_paths() {
	DS_INSTANCE=rg$port
	ds_prefix=$dir/ds
	ds_cfg=$ds_prefix/etc/dirsrv/slapd-$DS_INSTANCE
	ds_errors=$ds_prefix/var/log/dirsrv/slapd-$DS_INSTANCE/errors
}

# defaults.inf is what tells lib389 where an installation keeps everything: a copy of the
# system's with every path under the prefix, and no systemd.
ds389_defaults() {
	local p=$ds_prefix
	mkdir -p "$p/share/dirsrv/inf" "$p/etc" "$p/tmp" "$p/dbhome" "$p/inst"
	cp -r /etc/dirsrv "$p/etc/"
	sed -e 's/^with_systemd = 1/with_systemd = 0/' \
		-e "s#^tmp_dir = .*#tmp_dir = $p/tmp#" \
		-e "s#^sysconf_dir = .*#sysconf_dir = $p/etc#" \
		-e "s#^initconfig_dir = .*#initconfig_dir = $p/etc/default#" \
		-e "s#^config_dir = .*#config_dir = $p/etc/dirsrv/slapd-{instance_name}#" \
		-e "s#^local_state_dir = .*#local_state_dir = $p/var#" \
		-e "s#^run_dir = .*#run_dir = $dir/run#" \
		-e "s#^ldapi = .*#ldapi = $dir/run/ldapi#" \
		-e "s#^pid_file = .*#pid_file = $dir/run/slapd.pid#" \
		-e "s#^inst_dir = .*#inst_dir = $p/inst/slapd-{instance_name}#" \
		-e "s#^tmpfiles_d = .*#tmpfiles_d = $p/etc/tmpfiles.d#" \
		-e "s#^schema_dir = .*#schema_dir = $p/etc/dirsrv/slapd-{instance_name}/schema#" \
		-e "s#^cert_dir = .*#cert_dir = $p/etc/dirsrv/slapd-{instance_name}#" \
		-e "s#^lock_dir = .*#lock_dir = $dir/run/lock#" \
		-e "s#= /var/#= $p/var/#" \
		-e "s#^db_home_dir = .*#db_home_dir = $p/dbhome#" \
		-e 's/^user = .*/user = root/' -e 's/^group = .*/group = root/' \
		/usr/share/dirsrv/inf/defaults.inf >"$p/share/dirsrv/inf/defaults.inf"
	mkdir -p "$p/var/log/dirsrv/slapd-$DS_INSTANCE" "$p/var/lib/dirsrv/slapd-$DS_INSTANCE/db" \
		"$p/var/lib/dirsrv/slapd-$DS_INSTANCE/bak" "$p/var/lib/dirsrv/slapd-$DS_INSTANCE/ldif" \
		"$p/etc/default" "$p/etc/tmpfiles.d" "$dir/run/lock"
}

ds389_create() {
	cat >"$ds_prefix/instance.inf" <<INF
[general]
full_machine_name = localhost
start = False
strict_host_checking = False
[slapd]
instance_name = $DS_INSTANCE
port = $port
secure_port = 0
self_sign_cert = False
root_password = $admin_pw
user = root
group = root
[backend-userroot]
sample_entries = no
suffix = $base
INF
	PREFIX=$ds_prefix dscreate from-file "$ds_prefix/instance.inf" >"$dir/dscreate.log" 2>&1 ||
		{ tail -n 20 "$dir/dscreate.log" >&2; die "dscreate failed; see $dir/dscreate.log"; }
	# resetguard's schema, the configuration of the plugin's instance: a file in the
	# instance's schema directory, read when the server starts.
	cp "$top/schema/resetguard-389ds.ldif" "$ds_cfg/schema/98resetguard.ldif"
}

ds389_start() {
	rm -f "$dir/run/slapd.pid"
	/usr/sbin/ns-slapd -D "$ds_cfg" -i "$dir/run/slapd.pid" >>"$dir/slapd.log" 2>&1 ||
		{ tail -n 20 "$ds_errors" >&2; die "ns-slapd did not start; see $ds_errors"; }
	for _ in $(seq 1 300); do
		if [ -s "$dir/run/slapd.pid" ] &&
			ldapsearch -x -H "$ldapi" -b '' -s base -LLL 1.1 >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	tail -n 20 "$ds_errors" >&2
	die "389-DS did not start; see $ds_errors"
}

ds389_stop() {
	local pid
	[ -f "$dir/run/slapd.pid" ] || return 0
	pid=$(cat "$dir/run/slapd.pid")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || { rm -f "$dir/run/slapd.pid"; return 0; }
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$dir/run/slapd.pid"
}

# ldapmodify as the Directory Manager, over ldapi (root's autobind maps to it).
ds389_modify() {
	ldapmodify -Q -Y EXTERNAL -H "$ldapi" "$@" >>"$dir/ds-config.log" 2>&1 ||
		{ tail -n 20 "$dir/ds-config.log" >&2; die "configuring 389-DS failed; see $dir/ds-config.log"; }
}

# Loopback only; the access log written as it happens (tests read it); the cleartext of a
# Modify's or Add's new password kept beside the change for the plugin to seal, and never
# written to the changelog (nolog). syncd follows the log by RFC 4533, which 389-DS's
# Content Synchronization plugin serves from the retro changelog, kept for the log only.
ds389_server_config() {
	cat <<LDIF
dn: cn=config
changetype: modify
replace: nsslapd-listenhost
nsslapd-listenhost: 127.0.0.1
-
replace: nsslapd-accesslog-logbuffering
nsslapd-accesslog-logbuffering: off
-
replace: nsslapd-unhashed-pw-switch
nsslapd-unhashed-pw-switch: nolog

dn: cn=Retro Changelog Plugin,cn=plugins,cn=config
changetype: modify
replace: nsslapd-pluginEnabled
nsslapd-pluginEnabled: on
-
replace: nsslapd-include-suffix
nsslapd-include-suffix: cn=resetlog
-
replace: nsslapd-attribute
nsslapd-attribute: nsuniqueid:targetUniqueId

dn: cn=Content Synchronization,cn=plugins,cn=config
changetype: modify
replace: nsslapd-pluginEnabled
nsslapd-pluginEnabled: on

dn: cn=resetlog,cn=ldbm database,cn=plugins,cn=config
changetype: add
objectClass: top
objectClass: extensibleObject
objectClass: nsBackendInstance
cn: resetlog
nsslapd-suffix: cn=resetlog

dn: cn="cn=resetlog",cn=mapping tree,cn=config
changetype: add
objectClass: top
objectClass: extensibleObject
objectClass: nsMappingTree
cn: cn=resetlog
nsslapd-state: backend
nsslapd-backend: resetlog
LDIF
	for a in rgLogTarget rgLogRequester rgLogApprover rgLogKind rgLogDecision rgLogReviewRequired rgLogJti rgLogOutcome; do
		printf '\ndn: cn=%s,cn=index,cn=resetlog,cn=ldbm database,cn=plugins,cn=config\nchangetype: add\nobjectClass: top\nobjectClass: nsIndex\ncn: %s\nnsSystemIndex: false\nnsIndexType: eq\n' "$a" "$a"
	done
}

ds389_plugin_entry() {
	cat <<LDIF
dn: cn=resetguard,cn=plugins,cn=config
changetype: add
objectClass: top
objectClass: nsSlapdPlugin
objectClass: extensibleObject
cn: resetguard
nsslapd-pluginPath: $top/.libs/resetguard-plugin.so
nsslapd-pluginInitfunc: resetguard_init
nsslapd-pluginType: betxnpreoperation
nsslapd-pluginEnabled: on
nsslapd-pluginId: resetguard
nsslapd-pluginVersion: 0.1.0
nsslapd-pluginVendor: resetguard
nsslapd-pluginDescription: governs every password change by a reset policy
resetguard-default-policy: cn=default,ou=policies,$base
resetguard-issuer: https://proofing.example.com $dir/keys/issuer.pem
resetguard-rootdn: $rootdn_mode
resetguard-seal-cert: $dir/keys/syncd.pem
resetguard-log: cn=resetlog
LDIF
}

# The slapd sandbox's ACLs as ACIs: users change their own password, the portal, the help
# desk and the break-glass identity may set others' (resetguard then decides); users read
# entries but passwords; auditors read the log but sealed passwords and give verdicts;
# syncd reads it and writes propagation status; users read the records about themselves.
# Auditors and syncd read the whole log at any size.
ds389_acis() {
	local portal="cn=reset-portal,ou=services,$base" hd="cn=helpdesk,ou=groups,$base"
	local bg="cn=break-glass,ou=services,$base" aud="cn=auditors,ou=groups,$base"
	local syncd="cn=syncd,ou=services,$base"
	cat <<LDIF
dn: $base
changetype: modify
add: aci
aci: (targetattr="userPassword")(version 3.0; acl "resetguard: who may set passwords"; allow (write) userdn="ldap:///self" or userdn="ldap:///$portal" or groupdn="ldap:///$hd" or userdn="ldap:///$bg";)
aci: (targetattr!="userPassword")(version 3.0; acl "resetguard: users read"; allow (read, search, compare) userdn="ldap:///all";)
aci: (targetattr="rgPolicySubentry || rgLastResetTime || rgLastResetKind || rgResetCount")(version 3.0; acl "resetguard: users read reset attributes"; allow (read, search, compare) userdn="ldap:///all";)

dn: uid=auditor.kim,ou=staff,$base
changetype: modify
replace: nsSizeLimit
nsSizeLimit: -1
-
replace: nsLookThroughLimit
nsLookThroughLimit: -1

dn: $syncd
changetype: modify
replace: nsSizeLimit
nsSizeLimit: -1
-
replace: nsLookThroughLimit
nsLookThroughLimit: -1

dn: cn=resetlog
changetype: modify
add: aci
aci: (targetattr!="rgLogSealedPassword")(version 3.0; acl "resetguard: auditors read the log"; allow (read, search, compare) groupdn="ldap:///$aud";)
aci: (targetattr="rgLogReviewVerdict")(version 3.0; acl "resetguard: auditors review"; allow (write) groupdn="ldap:///$aud";)
aci: (targetattr="*")(version 3.0; acl "resetguard: syncd reads the log"; allow (read, search, compare) userdn="ldap:///$syncd";)
aci: (targetattr="rgLogTargetStatus || rgLogHookStatus || rgLogAlertStatus || rgLogClaim || rgLogSealedPassword")(version 3.0; acl "resetguard: syncd writes status"; allow (write) userdn="ldap:///$syncd";)
aci: (targetattr!="rgLogSealedPassword")(targetfilter="(objectClass=rgLogRecord)")(version 3.0; acl "resetguard: users read their records"; allow (read, search, compare) userattr="rgLogTarget#USERDN";)
LDIF
}

ds389_up() {
	command -v dscreate >/dev/null && [ -x /usr/sbin/ns-slapd ] ||
		die "389-DS is not installed: run scripts/bootstrap (389-ds-base)"
	[ -f "$top/.libs/resetguard-plugin.so" ] ||
		die "resetguard-plugin.so is not built: install 389-ds-base-dev and run scripts/build"
	ds389_paths
	rm -rf "$ds_prefix"
	ds389_defaults
	ds389_create
	ds389_start
	ds389_server_config | ds389_modify
	# The example data goes in ungoverned, as a directory's initial load would: the
	# plugin is enabled after it.
	# dscreate may have made a bare suffix entry; the example data brings its own.
	if ldapsearch -Q -Y EXTERNAL -H "$ldapi" -b "$base" -s base -LLL 1.1 >/dev/null 2>&1; then
		printf 'dn: %s\nchangetype: delete\n' "$base" | ds389_modify
	fi
	gen_data | ds389_modify -a
	gen_log_data | ds389_modify -a
	ds389_acis | ds389_modify
	ds389_plugin_entry | ds389_modify
	ds389_stop
	ds389_start
	grep -q "resetguard - governing password changes" "$ds_errors" ||
		{ tail -n 20 "$ds_errors" >&2; die "resetguard-plugin.so did not start; see $ds_errors"; }
	printf "RG_DS_LOG_DIR='%s'\n" "${ds_errors%/errors}" >>"$dir/env"
}
