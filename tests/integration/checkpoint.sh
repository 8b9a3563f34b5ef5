#!/bin/bash
# resetguard-audit verify --checkpoint (issue 8, class 4): the chain anchored outside the
# database. Whoever can rewrite the log offline (slapcat, edit, slapadd) can hash the chain
# again after an edit, or cut its tail, and verify alone still passes; against the head that
# the last verify kept in a checkpoint file it must not. Tampering is done offline as in
# resetlog.sh, with the canonical form of slapo-resetguard(5) recomputed here in Python.
# RG_AUDIT=PATH runs another resetguard-audit (to show that these tests fail without the
# checkpoint).
# shellcheck source=tests/lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"

AUDIT=${RG_AUDIT:-$RG_TOP/resetguard-audit}
[ -x "$AUDIT" ] || make -s -C "$RG_TOP" resetguard-audit >/dev/null 2>&1
[ -x "$AUDIT" ] || { echo "Bail out! $AUDIT is not built (make resetguard-audit)"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rg-checkpoint.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
trap 'rm -rf "$WORK"; _sandbox_cleanup' EXIT
START=$SECONDS

audit() { "$AUDIT" -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" "$@"; }
sandbox_cmd() { bash "$RG_TOP/scripts/sandbox" "$1" "$RG_DIR" >>"$WORK/sandbox.out" 2>&1; }

# make_records N: N denied attempts, on one connection.
make_records() {
	local i
	for i in $(seq 1 "$1"); do
		printf 'dn: %s\nchangetype: modify\nreplace: userPassword\nuserPassword: Cp-%s\n\n' "$RG_USER_DN" "$i"
	done | ldapmodify -c -x -H "$RG_URI" -D "$RG_AGENT_DN" -w "$RG_AGENT_PW" >/dev/null 2>&1
}

# expect CODE TEXT CMD...: CMD exits with CODE and says TEXT (on stdout or stderr).
expect() {
	local code=$1 text=$2
	shift 2
	_run "$@"
	[ "$T_RC" = "$code" ] || { printf 'exit status %s, expected %s\n%s\n' "$T_RC" "$code" "$T_OUT"; return 1; }
	[[ "$T_OUT" == *"$text"* ]] || { printf 'no "%s" in:\n%s\n' "$text" "$T_OUT"; return 1; }
}
# cp_field FILE NAME: the value of NAME= in a checkpoint file.
cp_field() { tr ' ' '\n' <"$1" | sed -n "s/^$2=//p"; }

cat >"$WORK/edit.py" <<'PY'
# edit.py MODE K SRC DST [HASH]: a slapcat dump of the log, changed as an attacker with
# offline access would, hashes recomputed so that the chain is intact in itself.
#   rechain K     record K's requester changed, K and every later record hashed again
#   truncate K    records after K removed
#   purge K       records up to K removed, the anchor set to K and K's hash (as a purge does)
#   hash K        prints record K's rgLogHash (DST ignored)
import base64, hashlib, sys

mode, k, src, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
blocks = [b for b in open(src, "rb").read().split(b"\n\n") if b.strip()]

def parse(block):
    out = []
    for line in block.split(b"\n"):
        if line.startswith(b"#") or line.startswith(b"dn:") or b":" not in line:
            continue
        name, rest = line.split(b":", 1)
        if rest.startswith(b":"):
            value = base64.b64decode(rest[1:].strip())
        else:
            value = rest[1:] if rest.startswith(b" ") else rest
        out.append((name.decode().lower(), value))
    return out

def first(attrs, name, default=b""):
    for n, v in attrs:
        if n == name.lower():
            return v
    return default

def esc(v, methods=False):
    out = bytearray()
    for b in v:
        if b == 0x5C:
            out += b"\\\\"
        elif b < 0x20 or b == 0x7F or (methods and b == 0x2C):
            out += b"\\x%02x" % b
        else:
            out.append(b)
    return bytes(out)

FIELDS = [("number", "rgLogChangeNumber"), ("time", "rgLogTime"), ("target", "rgLogTarget"),
          ("requester", "rgLogRequester"), ("approver", "rgLogApprover"), ("kind", "rgLogKind"),
          ("decision", "rgLogDecision"), ("rule", "rgLogRule"), ("ruleText", "rgLogRuleText"),
          ("policy", "rgLogPolicy"), ("operation", "rgLogOperation"), ("issuer", "rgLogIssuer"),
          ("level", "rgLogLevel"), ("methods", None), ("jti", "rgLogJti"),
          ("reason", "rgLogReason"), ("reviewRequired", "rgLogReviewRequired"),
          ("alert", "rgLogAlert"), ("prev", "rgLogPrevHash")]

def canonical(attrs):
    text = b"resetguard-log-v1\n"
    for name, attr in FIELDS:
        if attr is None:
            v = b",".join(esc(m, True) for n, m in attrs if n == "rglogmethod")
        elif name in ("reviewRequired", "alert"):
            v = first(attrs, attr, b"FALSE")
        else:
            v = esc(first(attrs, attr))
        text += name.encode() + b"=" + v + b"\n"
    return text

def render(attrs, dn):
    lines = [b"dn: " + dn]
    for n, v in attrs:
        safe = v and all(0x20 <= c < 0x7F for c in v) and v[:1] not in (b" ", b":", b"<")
        lines.append(n.encode() + (b": " + v if safe or not v else b":: " + base64.b64encode(v)))
    return b"\n".join(lines)

entries = []
for b in blocks:
    dn = b.split(b"\n", 1)[0][4:]
    entries.append([dn, parse(b)])
records = {int(first(a, "rgLogChangeNumber")): e for e in entries
           for a in [e[1]] if first(a, "rgLogChangeNumber")}

def setattr_(attrs, name, value):
    for i, (n, v) in enumerate(attrs):
        if n == name.lower():
            attrs[i] = (n, value)
            return
    attrs.append((name.lower(), value))

if mode == "hash":
    print(first(records[k][1], "rgLogHash").decode())
    sys.exit(0)
if mode == "rechain":
    setattr_(records[k][1], "rgLogRequester", b"uid=mgr.lee,ou=staff,dc=example,dc=com")
    for n in sorted(records):
        if n < k:
            continue
        attrs = records[n][1]
        if n > k:
            setattr_(attrs, "rgLogPrevHash", first(records[n - 1][1], "rgLogHash"))
        setattr_(attrs, "rgLogHash", hashlib.sha256(canonical(attrs)).hexdigest().encode())
elif mode == "truncate":
    entries = [e for e in entries if not first(e[1], "rgLogChangeNumber") or
               int(first(e[1], "rgLogChangeNumber")) <= k]
elif mode == "purge":
    anchor = first(records[k][1], "rgLogHash")
    entries = [e for e in entries if not first(e[1], "rgLogChangeNumber") or
               int(first(e[1], "rgLogChangeNumber")) > k]
    for e in entries:
        if b"rglogroot" in [v.lower() for n, v in e[1] if n == "objectclass"]:
            setattr_(e[1], "rgLogAnchorNumber", str(k).encode())
            setattr_(e[1], "rgLogAnchorHash", anchor)
else:
    sys.exit("unknown mode " + mode)
open(dst, "wb").write(b"\n\n".join(render(a, dn) for dn, a in entries) + b"\n")
PY

# offline MODE K [MODE K...]: slapd stopped, the log dumped, changed by each MODE in turn,
# loaded into a fresh log database, slapd started. restore undoes it.
offline() {
	local src=$WORK/log.ldif i=0
	sandbox_down
	while [ $# -ge 2 ]; do
		i=$((i + 1))
		python3 "$WORK/edit.py" "$1" "$2" "$src" "$WORK/t$i.ldif" || return 1
		src=$WORK/t$i.ldif
		shift 2
	done
	rm -rf "$RG_DIR/logdb" && mkdir "$RG_DIR/logdb" &&
		slapadd -q -F "$RG_DIR/slapd.d" -b "$RG_LOG_BASE" -l "$src" >"$WORK/slapadd.out" 2>&1 &&
		sandbox_cmd restart
}
restore() {
	sandbox_down
	rm -rf "$RG_DIR/logdb" && cp -a "$WORK/logdb.orig" "$RG_DIR/logdb" && sandbox_cmd restart
}
# snapshot: the log as it is now becomes what offline edits and restore start from.
snapshot() {
	sandbox_down
	rm -rf "$WORK/logdb.orig" && cp -a "$RG_DIR/logdb" "$WORK/logdb.orig" &&
		slapcat -F "$RG_DIR/slapd.d" -b "$RG_LOG_BASE" -o ldif-wrap=no -l "$WORK/log.ldif" 2>/dev/null &&
		sandbox_cmd restart
}

###########################################################################################
sandbox_up
CP=$WORK/checkpoint CPK=$WORK/checkpoint.signed KEY=$WORK/checkpoint.key
(umask 077 && openssl rand -out "$KEY" 32)

echo "# a checkpoint follows the log as it grows"
make_records 6
check "verify --checkpoint FILE creates it at the head" \
	expect 0 "created at record 6" audit verify --checkpoint "$CP"
check_eq "  mode 0600" 600 "$(stat -c %a "$CP")"
check "  one line: resetguard-checkpoint 1 base= number= hash= time=" grep -Eqx \
	'resetguard-checkpoint 1 base=cn=resetlog number=6 hash=[0-9a-f]{64} time=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z' "$CP"
check_eq "  its hash is record 6's" "$(audit verify | sed -n 's/.*head hash //p')" "$(cp_field "$CP" hash)"
cp "$CP" "$WORK/cp6"
make_records 4
check "after normal growth verify passes, the checkpoint confirmed" \
	expect 0 "record 6 from" audit verify --checkpoint "$CP"
check_eq "  and advanced to the new head" 10 "$(cp_field "$CP" number)"
check "and again with no growth" expect 0 "now holds record 10" audit verify --checkpoint "$CP"
check "a signed checkpoint (--checkpoint-key) is created" \
	expect 0 "created at record 10" audit verify --checkpoint "$CPK" --checkpoint-key "$KEY"
check "  it carries hmac-sha256=" grep -Eq ' hmac-sha256=[0-9a-f]{64}$' "$CPK"
check "  and verifies with its key" \
	expect 0 "record 10 from" audit verify --checkpoint "$CPK" --checkpoint-key "$KEY"
cp "$CP" "$WORK/cp10"
cp "$CPK" "$WORK/cpk10"
snapshot

echo "# re-chained offline"
if offline rechain 3; then
	check "without a checkpoint the re-chained log verifies (what the checkpoint is for)" \
		expect 0 "verified 10 records" audit verify
	check "with the checkpoint verify fails naming the re-chaining" \
		expect 1 "re-chained or edited: record 10 has hash" audit verify --checkpoint "$CP"
	check "  and read in 4 slices at once (--jobs 4) too" \
		expect 1 "re-chained or edited: record 10 has hash" audit verify -j 4 --checkpoint "$CP"
	check "  and the checkpoint is not moved" cmp "$CP" "$WORK/cp10"
	REHASH=$(python3 "$WORK/edit.py" hash 10 "$WORK/t1.ldif" /dev/null)
	# The attacker writes the new hash into the checkpoint as well.
	sed "s/hash=[0-9a-f]*/hash=$REHASH/" "$WORK/cpk10" >"$CPK"
	check "a signed checkpoint edited to the new hash by someone without the key is refused" \
		expect 1 "checkpoint signature does not verify" audit verify --checkpoint "$CPK" --checkpoint-key "$KEY"
	sed -e "s/hash=[0-9a-f]*/hash=$REHASH/" -e 's/ hmac-sha256=.*//' "$WORK/cpk10" >"$CPK"
	check "  as is one with its signature removed" \
		expect 1 "has no signature" audit verify --checkpoint "$CPK" --checkpoint-key "$KEY"
	head -c 32 /dev/urandom >"$WORK/other.key" && chmod 600 "$WORK/other.key"
	cp "$WORK/cpk10" "$CPK"
	check "  and the right one checked with another key" \
		expect 1 "checkpoint signature does not verify" audit verify --checkpoint "$CPK" --checkpoint-key "$WORK/other.key"
	cp "$WORK/cpk10" "$CPK"
	check "the untouched signed checkpoint also names the re-chaining" \
		expect 1 "re-chained or edited: record 10" audit verify --checkpoint "$CPK" --checkpoint-key "$KEY"
else
	_fail "re-chain the log offline" "could not load it: $(cat "$WORK/slapadd.out")"
fi
restore

echo "# truncated offline"
if offline truncate 7; then
	check "without a checkpoint the truncated log verifies" expect 0 "verified 7 records" audit verify
	check "with the checkpoint verify fails naming the truncation" \
		expect 1 "truncated: the log ends at record 7" audit verify --checkpoint "$CP"
	check "  and the checkpoint is not moved" cmp "$CP" "$WORK/cp10"
else
	_fail "truncate the log offline" "could not load it: $(cat "$WORK/slapadd.out")"
fi
restore

echo "# re-chained and truncated below the checkpoint"
if offline rechain 2 truncate 8; then
	check "verify fails naming the truncation" \
		expect 1 "truncated" audit verify --checkpoint "$CP"
else
	_fail "re-chain and truncate the log offline" "could not load it: $(cat "$WORK/slapadd.out")"
fi
restore

echo "# purges"
if offline purge 6; then
	cp "$WORK/cp6" "$WORK/cp6.try"
	check "a checkpoint at the purge anchor is checked against the anchor's hash" \
		expect 0 "record 6 from" audit verify --checkpoint "$WORK/cp6.try"
	check_eq "  and advanced" 10 "$(cp_field "$WORK/cp6.try" number)"
else
	_fail "purge the log offline" "could not load it: $(cat "$WORK/slapadd.out")"
fi
restore
if offline rechain 3 purge 6; then
	cp "$WORK/cp6" "$WORK/cp6.try"
	check "a re-chained log purged up to the checkpoint: the anchor's hash names the re-chaining" \
		expect 1 "re-chained or edited: record 6" audit verify --checkpoint "$WORK/cp6.try"
else
	_fail "re-chain and purge the log offline" "could not load it: $(cat "$WORK/slapadd.out")"
fi
restore
if offline purge 8; then
	cp "$WORK/cp6" "$WORK/cp6.try"
	check "a checkpoint below the purge anchor is reported as such (exit 4)" \
		expect 4 "checkpoint predates the purge" audit verify --checkpoint "$WORK/cp6.try"
	check "  and not moved" cmp "$WORK/cp6.try" "$WORK/cp6"
else
	_fail "purge the log offline" "could not load it: $(cat "$WORK/slapadd.out")"
fi
restore

echo "# the original log again"
make_records 2
check "normal growth: verify passes" expect 0 "record 10 from" audit verify --checkpoint "$CP"
check_eq "  and the checkpoint advances" 12 "$(cp_field "$CP" number)"
cp "$WORK/cpk10" "$CPK"
check "  the signed one too" expect 0 "now holds record 12" \
	audit verify --checkpoint "$CPK" --checkpoint-key "$KEY"

echo "# the checkpoint file itself"
printf 'resetguard-checkpoint 1 base=cn=resetlog number=12\n' >"$WORK/bad" && chmod 600 "$WORK/bad"
check "a malformed checkpoint is refused (exit 1)" expect 1 "malformed" audit verify --checkpoint "$WORK/bad"
cp "$CP" "$WORK/open" && chmod 666 "$WORK/open"
check "a checkpoint writable by others is refused (exit 3)" expect 3 "writable by group or others" \
	audit verify --checkpoint "$WORK/open"
chmod 644 "$KEY"
check "a key readable by others is refused (exit 3)" expect 3 "accessible by group or others" \
	audit verify --checkpoint "$CPK" --checkpoint-key "$KEY"
chmod 600 "$KEY"
check "a signed checkpoint without its key: exit 2" expect 2 "give its key" audit verify --checkpoint "$CPK"
check "--checkpoint-key alone: exit 2" expect 2 "needs --checkpoint" audit verify --checkpoint-key "$KEY"
check "a checkpoint of another log base: exit 2" expect 2 "is for the log cn=resetlog" \
	"$AUDIT" -H "$RG_URI" -D "$RG_AUDITOR_DN" -w "$RG_AUDITOR_PW" -b cn=elsewhere verify --checkpoint "$CP"

echo "# runtime $((SECONDS - START)) s"
finish
