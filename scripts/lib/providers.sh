# Sourced by scripts/sandbox: a second provider (--providers 2). Both slapd run resetguard
# and replicate the directory and the reset log to each other (syncrepl in multi-provider
# mode, refreshAndPersist); provider 1 has serverID 1 and provider 2 serverID 2, so each
# numbers and chains its own records (slapo-resetguard(5), REPLICATION). Provider 2 lives in
# DIR/p2 (its own slapd.d, databases, ldapi socket and slapd.log) and shares DIR/keys.
# Its databases start as a copy of provider 1's (slapcat, then slapadd), so that the entries
# have the same entryUUIDs on both: two separate loads would make them different entries.

# providers_cnconfig SID OTHER_URI: provider SID's cn=config, on stdin provider-neutral as
# gen_cnconfig writes it: the serverID, syncprov on the main database, and on both databases
# a syncrepl from the other provider with multi-provider mode. The log database gets the
# rootpw its replication binds with (rglog refuses that identity's writes all the same).
# In atomic mode the log is a subtree of the main database, whose one syncrepl carries it,
# and gen_cnconfig has already put syncprov there, after resetguard and rglog.
providers_cnconfig() {
	local sid=$1 other=$2 logpw mainpw
	logpw=$(hash_pw "$admin_pw")
	mainpw=$admin_pw
	awk -v ov=$((seq_rg + 1)) -v sid="$sid" -v other="$other" -v base="$base" -v pw="$mainpw" -v logpw="$logpw" -v atomic="$([ "$log_mode" = atomic ] && echo 1)" '
	function repl(rid, suffix, binddn) {
		printf "olcSyncrepl: rid=%03d provider=%s bindmethod=simple binddn=\"%s\" credentials=%s searchbase=\"%s\" type=refreshAndPersist retry=\"1 +\" timeout=3 network-timeout=3\n", rid, other, binddn, pw, suffix
		print "olcMultiProvider: TRUE"
	}
	{ print }
	$0 == "cn: config" { print "olcServerID: " sid }
	$0 == "olcSuffix: cn=resetlog" {
		print "olcRootPW: " logpw
		repl(sid * 10 + 1, "cn=resetlog", "cn=admin,cn=resetlog")
	}
	$0 == "olcSuffix: " base { repl(sid * 10 + 2, base, "cn=admin," base) }
	END {
		if (atomic) exit
		printf "\ndn: olcOverlay={%d}syncprov,olcDatabase={2}mdb,cn=config\n", ov
		print "objectClass: olcOverlayConfig"
		print "objectClass: olcSyncProvConfig"
		printf "olcOverlay: {%d}syncprov\n", ov
	}'
}

# providers_up: after provider 1's databases are loaded and before it starts.
providers_up() {
	local p2=$dir/p2 raw dbs
	rm -rf "$p2"
	mkdir -p "$p2/slapd.d" "$p2/db" "$p2/logdb" "$p2/run"
	ln -s ../keys "$p2/keys"
	: > "$p2/slapd.log"
	raw=$(gen_cnconfig "$seq_rg")
	printf '%s\n' "$raw" | providers_cnconfig 1 "ldap://127.0.0.1:$port2" > "$dir/config.ldif"
	(dir=$p2 && gen_cnconfig "$seq_rg") | providers_cnconfig 2 "ldap://127.0.0.1:$port" \
		> "$p2/config.ldif"
	rm -rf "$dir/slapd.d"
	mkdir -p "$dir/slapd.d"
	for d in "$dir" "$p2"; do
		"$SLAPADD" -F "$d/slapd.d" -n 0 -l "$d/config.ldif" >>"$dir/slapadd.log" 2>&1 ||
			{ cat "$dir/slapadd.log" >&2; die "loading cn=config of $d failed"; }
	done
	rm -rf "$dir/db" "$dir/logdb" && mkdir -p "$dir/db" "$dir/logdb"
	if [ "$log_mode" = atomic ]; then
		dbs=("$base")
		{ gen_data; echo; gen_log_data; } | "$SLAPADD" -F "$dir/slapd.d" -b "$base" -w \
			>>"$dir/slapadd.log" 2>&1
	else
		dbs=(cn=resetlog "$base")
		gen_log_data | "$SLAPADD" -F "$dir/slapd.d" -b cn=resetlog -w >>"$dir/slapadd.log" 2>&1 &&
			gen_data | "$SLAPADD" -F "$dir/slapd.d" -b "$base" -w >>"$dir/slapadd.log" 2>&1
	fi || { cat "$dir/slapadd.log" >&2; die "loading provider 1 failed"; }
	for b in "${dbs[@]}"; do
		/usr/sbin/slapcat -F "$dir/slapd.d" -b "$b" |
			"$SLAPADD" -F "$p2/slapd.d" -b "$b" -w >>"$dir/slapadd.log" 2>&1 ||
			{ cat "$dir/slapadd.log" >&2; die "copying $b to provider 2 failed"; }
	done
	# syncd follows provider 1 and fails over to provider 2 (legacy.sh, syncd_conf)
	providers_uri2=ldap://127.0.0.1:$port2
	cat >>"$dir/env" <<ENV
RG_PROVIDERS=2
RG_URI2='ldap://127.0.0.1:$port2'
RG_LDAPI2='$ldapi2'
RG_PORT2='$port2'
RG_PID_FILE2='$p2/run/slapd.pid'
RG_DIR2='$p2'
ENV
}

providers_start() {
	(dir=$dir/p2 port=$port2 ldapi=$ldapi2 && start_slapd)
}

providers_stop() {
	[ -d "$dir/p2" ] || return 0
	(dir=$dir/p2 && stop_slapd)
}
