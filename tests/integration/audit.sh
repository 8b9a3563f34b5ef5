#!/bin/bash
# resetguard-audit against a throwaway slapd of its own (not scripts/sandbox): a reset log
# database loaded with fixtures from rg-mklog, then verify, report and pending-review on the
# good log, and verify on logs tampered with offline (by editing the LDIF before slapadd) and
# online (by the log's rootdn). The last line is "N passed, M failed".
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export PATH="$PATH:/usr/sbin"

if [ -f "$top/tests/lib.sh" ]; then
	# shellcheck disable=SC1091
	. "$top/tests/lib.sh"
else
	set -u
	T_PASSED=0 T_FAILED=0
	_t_result() { # NAME OK OUTPUT
		if [ "$2" = 0 ]; then
			T_PASSED=$((T_PASSED + 1)); printf 'ok - %s\n' "$1"
		else
			T_FAILED=$((T_FAILED + 1)); printf 'not ok - %s\n' "$1"
			[ -n "$3" ] && printf '%s\n' "$3" | sed 's/^/#   | /'
		fi
		return 0
	}
	check() { local n=$1 o r; shift; o=$("$@" 2>&1); r=$?; _t_result "$n" "$r" "$o"; }
	check_fails() {
		local n=$1 o r; shift; o=$("$@" 2>&1); r=$?
		[ "$r" -ne 0 ] && r=0 || r=1
		_t_result "$n" "$r" "$o"
	}
	check_eq() {
		local r=1; [ "$2" = "$3" ] && r=0
		_t_result "$1" "$r" "expected: $2
actual:   $3"
	}
	finish() {
		printf '%d passed, %d failed\n' "$T_PASSED" "$T_FAILED"
		[ "$T_FAILED" -eq 0 ]
		exit $?
	}
fi

AUDIT=${RG_AUDIT:-$top/resetguard-audit}
MKLOG=$top/tests/tools/rg-mklog
MODULE=$top/.libs/resetguard.so
for f in "$AUDIT" "$MKLOG" "$MODULE"; do
	[ -x "$f" ] || [ -f "$f" ] || { echo "Bail out! $f is not built (run make)"; exit 1; }
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/rg-audit.XXXXXX") || { echo "Bail out! mktemp"; exit 1; }
slapd_pid=

stop_slapd() {
	local i
	[ -n "$slapd_pid" ] || return 0
	kill "$slapd_pid" 2>/dev/null
	for i in $(seq 50); do
		kill -0 "$slapd_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$slapd_pid" 2>/dev/null && kill -9 "$slapd_pid" 2>/dev/null
	slapd_pid=
}
cleanup() {
	stop_slapd
	rm -rf "$dir"
	if declare -F _sandbox_cleanup >/dev/null; then _sandbox_cleanup; fi
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
CLOSED=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URI=ldap://127.0.0.1:$PORT
LDAPI=ldapi://$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$dir/ldapi")
ADMIN=cn=admin,cn=resetlog
PWFILE=$dir/pw
openssl rand -hex 12 >"$PWFILE"
chmod 600 "$PWFILE"
PW=$(cat "$PWFILE")

# a CA and a server certificate for StartTLS
tls() { openssl "$@" >>"$dir/openssl.log" 2>&1 || { echo "Bail out! openssl $1 failed"; exit 1; }; }
tls req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=resetguard-audit-test-ca -keyout "$dir/ca.key" -out "$dir/ca.pem"
tls req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
	-keyout "$dir/server.key" -out "$dir/server.csr"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$dir/san.ext"
tls x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
	-days 2 -extfile "$dir/san.ext" -out "$dir/server.pem"

cat >"$dir/slapd.conf" <<EOF
include     /etc/ldap/schema/core.schema
include     /etc/ldap/schema/cosine.schema
include     /etc/ldap/schema/inetorgperson.schema
include     /etc/ldap/schema/namedobject.schema
modulepath  /usr/lib/ldap
moduleload  back_mdb
moduleload  $MODULE
include     $top/schema/resetguard.schema
pidfile     $dir/slapd.pid
argsfile    $dir/slapd.args
TLSCACertificateFile  $dir/ca.pem
TLSCertificateFile    $dir/server.pem
TLSCertificateKeyFile $dir/server.key

database    mdb
maxsize     1073741824
suffix      "cn=resetlog"
rootdn      "$ADMIN"
rootpw      $(slappasswd -n -s "$PW")
directory   $dir/db
index       objectClass eq
index       rgLogTime,rgLogTarget,rgLogRequester,rgLogKind,rgLogDecision eq
# the local EXTERNAL identity reads the whole log; anonymous readers keep the default size
# limit, which a paged search does not get around
limits      dn.exact="gidNumber=$(id -g)+uidNumber=$(id -u),cn=peercred,cn=external,cn=auth" size.prtotal=unlimited
access to * by * read
EOF

start_slapd() {
	local i
	slapd -f "$dir/slapd.conf" -h "$URI/ $LDAPI/" >"$dir/slapd.log" 2>&1 ||
		{ echo "Bail out! slapd did not start"; sed 's/^/#   /' "$dir/slapd.log"; exit 1; }
	for i in $(seq 100); do
		[ -s "$dir/slapd.pid" ] && ldapsearch -x -H "$URI" -b "" -s base 1.1 >/dev/null 2>&1 &&
			break
		sleep 0.1
	done
	slapd_pid=$(cat "$dir/slapd.pid" 2>/dev/null)
	[ -n "$slapd_pid" ] || { echo "Bail out! slapd wrote no pid"; exit 1; }
}

# load LDIF: a fresh database with LDIF in it, served by a restarted slapd.
load() {
	stop_slapd
	rm -rf "$dir/db" && mkdir "$dir/db"
	if ! slapadd -q -f "$dir/slapd.conf" -l "$1" >"$dir/slapadd.log" 2>&1; then
		echo "Bail out! slapadd $1 failed"; sed 's/^/#   /' "$dir/slapadd.log"; exit 1
	fi
	rm -f "$dir/slapd.pid"
	start_slapd
}

audit() { "$AUDIT" -H "$URI" -D "$ADMIN" -y "$PWFILE" "$@"; }

# expect_rc RC TEXT CMD...: CMD exits with RC and its output (both streams) contains TEXT.
expect_rc() {
	local rc=$1 text=$2 out got
	shift 2
	out=$("$@" 2>&1)
	got=$?
	printf '%s\n' "$out"
	[ "$got" = "$rc" ] || { echo "exit status $got, expected $rc"; return 1; }
	[[ "$out" == *"$text"* ]] || { echo "the output lacks: $text"; return 1; }
}

# ---- fixtures ----
# 2000 records from 2024-01-01T00:00:00Z, one every 864 s (20 days); exp.py knows the
# generator's rules and lists the numbers a filter must return.
N=2000 START=1704067200 TARGETS=50 REQUESTERS=5 DENIED=7 REVIEW=40 ALERT=31
"$MKLOG" --count $N --start $START --span-days 20 --targets $TARGETS --requesters $REQUESTERS \
	--denied-every $DENIED --review-every $REVIEW --alert-every $ALERT >"$dir/good.ldif" ||
	{ echo "Bail out! rg-mklog failed"; exit 1; }

cat >"$dir/exp.py" <<EOF
import sys
N, START, STEP, T, Q, D, R, A = $N, $START, 864, $TARGETS, $REQUESTERS, $DENIED, $REVIEW, $ALERT
o = {}
args = sys.argv[1:]
while args:
    k = args.pop(0)
    o[k] = True if k in ("--review-required", "--alert", "--pending") else args.pop(0)
out = []
for n in range(1, N + 1):
    denied = n % D == 0
    review = not denied and n % R == 0
    kind = "break-glass" if review else ["self-service", "delegated", "break-glass"][n % 3]
    bg = kind == "break-glass"
    j = n % Q
    req = {"self-service": f"cn=reset-portal{j},ou=services,dc=example,dc=com",
           "delegated": f"uid=helpdesk{j},ou=staff,dc=example,dc=com",
           "break-glass": f"uid=breakglass{j},ou=admins,dc=example,dc=com"}[kind]
    t = START + (n - 1) * STEP
    ok = (t >= int(o.get("--since", 0)) and t <= int(o.get("--until", 1 << 40))
          and o.get("--target", f"uid=user{n % T},ou=people,dc=example,dc=com")
              == f"uid=user{n % T},ou=people,dc=example,dc=com"
          and o.get("--requester", req) == req
          and o.get("--kind", kind) == kind
          and o.get("--decision", "denied" if denied else "allowed") == ("denied" if denied else "allowed")
          and (not o.get("--review-required") or (not denied and bg))
          and (not o.get("--alert") or (n % A == 0 and not denied and not bg))
          and (not o.get("--pending") or review))
    if ok:
        out.append(str(n))
print(",".join(out))
EOF
exp() { python3 "$dir/exp.py" "$@"; }
numbers_json() { python3 -c 'import json, sys; print(",".join(str(r["number"]) for r in json.load(sys.stdin)))'; }

cat >"$dir/tamper.py" <<'EOF'
# tamper.py MODE SRC DST ARGS: delete A B | edit N ATTR VALUE | swap A B | anchor K [HASH] [purge]
#   | graft N FILE (record N as FILE has it) | dup N (record N twice, the copy under another DN)
import sys
mode, src, dst, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
blocks = [b for b in open(src).read().split("\n\n") if b.strip()]
root, recs = blocks[0], {}
for b in blocks[1:]:
    recs[int(b.split("\n")[0].split("=")[1].split(",")[0])] = b
def value(n, attr):
    return [l.split(": ", 1)[1] for l in recs[n].split("\n") if l.startswith(attr + ": ")][0]
fixed = lambda l: l.startswith("dn: ") or l.startswith("rgLogChangeNumber: ")
if mode == "delete":
    for n in range(int(args[0]), int(args[1]) + 1):
        del recs[n]
elif mode == "edit":
    n, attr, val = int(args[0]), args[1], args[2]
    recs[n] = "\n".join(attr + ": " + val if l.startswith(attr + ": ") else l
                        for l in recs[n].split("\n"))
elif mode == "swap":
    a, b = int(args[0]), int(args[1])
    la, lb = recs[a].split("\n"), recs[b].split("\n")
    recs[a] = "\n".join([l for l in la if fixed(l)] + [l for l in lb if not fixed(l)])
    recs[b] = "\n".join([l for l in lb if fixed(l)] + [l for l in la if not fixed(l)])
elif mode == "graft":
    other = [b for b in open(args[1]).read().split("\n\n") if b.strip()]
    n = int(args[0])
    recs[n] = [b for b in other if b.startswith("dn: rgLogChangeNumber=%d," % n)][0]
elif mode == "dup":
    n = int(args[0])
    kind = value(n, "rgLogKind")
    recs[n] += "\n\n" + recs[n].replace("dn: rgLogChangeNumber=%d," % n,
                                        "dn: rgLogChangeNumber=%d+rgLogKind=%s," % (n, kind), 1)
elif mode == "anchor":
    k = int(args[0])
    h = args[1] if len(args) > 1 and args[1] != "-" else value(k, "rgLogHash")
    root += "\nrgLogAnchorNumber: %d\nrgLogAnchorHash: %s" % (k, h)
    if "purge" in args:
        recs = {n: b for n, b in recs.items() if n > k}
with open(dst, "w") as f:
    f.write("\n\n".join([root] + [recs[n] for n in sorted(recs)]) + "\n")
EOF
tamper() { python3 "$dir/tamper.py" "$@"; }
hash_of() { # N [LDIF]
	awk -v dn="dn: rgLogChangeNumber=$1," 'index($0, dn) == 1 { r = 1 }
		r && /^rgLogHash: / { print $2; exit }' "${2:-$dir/good.ldif}"
}

load "$dir/good.ldif"

# ---- verify, good log ----
check "verify: 2000 good records" \
	expect_rc 0 "verified 2000 records (1..2000), head hash $(hash_of 2000)" audit verify
check "verify -v: throughput on stderr" expect_rc 0 "records/s" audit -v verify
check "verify with -w" expect_rc 0 "verified 2000 records" \
	"$AUDIT" -H "$URI" -D "$ADMIN" -w "$PW" verify
check "verify over ldapi with -Y EXTERNAL" expect_rc 0 "verified 2000 records" \
	"$AUDIT" -H "$LDAPI" -Y EXTERNAL verify
check "verify with -Z (StartTLS), the CA from LDAPTLS_CACERT" expect_rc 0 "verified 2000 records" \
	env LDAPTLS_CACERT="$dir/ca.pem" "$AUDIT" -H "$URI" -Z -D "$ADMIN" -y "$PWFILE" verify
check "verify with -Z, a CA the client does not trust: certificate refused, exit 3" \
	expect_rc 3 "StartTLS failed" env -u LDAPTLS_CACERT -u LDAPTLS_REQCERT \
	"$AUDIT" -H "$URI" -Z -D "$ADMIN" -y "$PWFILE" verify
# anonymous keeps the default size limit of 500, which holds for a paged search too: the log
# is read in windows of change numbers, whole, and stderr names the limit to raise
check "verify as anonymous: the size limit (500) does not stop it" \
	expect_rc 0 "verified 2000 records (1..2000), head hash $(hash_of 2000)" "$AUDIT" -H "$URI" verify
check "  stderr names the limit to raise (olcLimits anonymous size=unlimited)" \
	expect_rc 0 "olcLimits (slapd.conf: limits) anonymous size=unlimited" "$AUDIT" -H "$URI" verify
# The windows find a record again; it is handed over once however the base is written.
check "  and with the log base written with other spacing and case (-b 'CN = resetlog')" \
	expect_rc 0 "verified 2000 records (1..2000), head hash $(hash_of 2000)" \
	"$AUDIT" -H "$URI" -b "CN = resetlog" verify
check "verify with a wrong password: exit 3" expect_rc 3 "Invalid credentials" \
	"$AUDIT" -H "$URI" -D "$ADMIN" -w wrong-password verify
check "verify of a base that does not exist: exit 3" expect_rc 3 "No such object" \
	audit -b cn=nothere,cn=resetlog verify
check "verify, unreachable server: exit 3" expect_rc 3 "Can't contact LDAP server" \
	"$AUDIT" -H "ldap://127.0.0.1:$CLOSED" -D "$ADMIN" -y "$PWFILE" verify
check "verify under valgrind: no errors, no leaks" \
	valgrind -q --leak-check=full --error-exitcode=1 "$AUDIT" -H "$URI" -D "$ADMIN" \
	-y "$PWFILE" verify

# ---- usage errors ----
check "bad option: exit 2" expect_rc 2 "usage:" audit --bogus verify
check "no command: exit 2" expect_rc 2 "no command given" audit
check "unknown command: exit 2" expect_rc 2 "unknown command 'frobnicate'" audit frobnicate
check "verify with an argument: exit 2" expect_rc 2 "unexpected argument" audit verify extra
check "report, unknown option: exit 2" expect_rc 2 "unknown option '--colour'" \
	audit report --colour
check "report --since garbage: exit 2" expect_rc 2 "is not a time" audit report --since yesterday
check "report --since 2024-02-30: exit 2" expect_rc 2 "is not a time" \
	audit report --since 2024-02-30
check "report --decision maybe: exit 2" expect_rc 2 "use allowed or denied" \
	audit report --decision maybe
check "report --format xml: exit 2" expect_rc 2 "use table, csv, json or html" audit report --format xml
check "report --target not-a-dn: exit 2" expect_rc 2 "not a valid DN" audit report --target bogus
check "report --since after --until: exit 2" expect_rc 2 "later than" \
	audit report --since 2024-02-01 --until 2024-01-01
check "report --kind without value: exit 2" expect_rc 2 "needs a value" audit report --kind
check "-D without a password: exit 2" expect_rc 2 "-D needs a password" \
	"$AUDIT" -H "$URI" -D "$ADMIN" verify
check "-Y PLAIN: exit 2" expect_rc 2 "only the EXTERNAL mechanism" "$AUDIT" -Y PLAIN verify
check "-H without value: exit 2" expect_rc 2 "needs a value" "$AUDIT" -H
check "-y of a missing file: exit 3" expect_rc 3 "cannot read the password file" \
	"$AUDIT" -H "$URI" -D "$ADMIN" -y "$dir/nonexistent" verify

# ---- report ----
report_is() { # NAME EXP-ARGS -- REPORT-ARGS: the JSON report lists exactly the expected records
	local name=$1 e=() want got
	shift
	while [ "$1" != -- ]; do e+=("$1"); shift; done
	shift
	want=$(exp "${e[@]}")
	got=$(audit report --format json "$@" | numbers_json)
	check_eq "$name ($(awk -F, '{ print NF }' <<<"$want") records)" "$want" "$got"
}
report_is "report: everything" -- 
report_is "report --since/--until dates (whole days)" \
	--since 1704412800 --until 1704844799 -- --since 2024-01-05 --until 2024-01-09
report_is "report --since/--until ISO and generalizedTime" \
	--since 1704283200 --until 1704369600 -- --since 2024-01-03T12:00:00Z --until 20240104120000Z
report_is "report --target" --target uid=user7,ou=people,dc=example,dc=com -- \
	--target uid=user7,ou=people,dc=example,dc=com
report_is "report --requester" --requester uid=helpdesk2,ou=staff,dc=example,dc=com -- \
	--requester uid=helpdesk2,ou=staff,dc=example,dc=com
report_is "report --kind delegated" --kind delegated -- --kind delegated
report_is "report --decision denied" --decision denied -- --decision denied
report_is "report --review-required" --review-required -- --review-required
report_is "report --alert" --alert -- --alert
report_is "report, filters combined" --kind break-glass --decision allowed --since 1704412800 -- \
	--kind break-glass --decision allowed --since 2024-01-05
check_eq "report over ldapi with -Y EXTERNAL (size limit 500: paged again)" "$(exp)" \
	"$("$AUDIT" -H "$LDAPI" -Y EXTERNAL report --format json | numbers_json)"
check "  -v says the search was repeated with paging" expect_rc 0 "searching again with paged" \
	"$AUDIT" -H "$LDAPI" -Y EXTERNAL -v report --kind delegated
check_eq "report as anonymous: the size limit holds for paging too, read in windows" "$(exp)" \
	"$("$AUDIT" -H "$URI" report --format json 2>/dev/null | numbers_json)"
check "  stderr says so and names the limit" expect_rc 0 "reading it in windows of change numbers" \
	"$AUDIT" -H "$URI" report --kind delegated
check_eq "report --kind '*' is escaped: no records" "" \
	"$(audit report --format json --kind '*' | numbers_json)"
check_eq "report --kind with filter syntax is escaped: no records" "" \
	"$(audit report --format json --kind 'delegated)(rgLogKind=*' | numbers_json)"

want=$(exp --kind delegated --decision denied)
out=$(audit report --kind delegated --decision denied)
check_eq "report table: a header and one aligned row per record" \
	"NUMBER TIME KIND DECISION RULE TARGET REQUESTER APPROVER|$want" \
	"$(head -n 1 <<<"$out" | tr -s ' ')|$(tail -n +2 <<<"$out" | awk '{ print $1 }' | paste -sd,)"
check_eq "report table: columns aligned" "$(head -n 1 <<<"$out" | awk '{ print index($0, "KIND") }')" \
	"$(tail -n +2 <<<"$out" | awk '{ print index($0, "delegated") }' | sort -u | paste -sd,)"
check "report csv parses (RFC 4180), all fields" python3 -c '
import csv, sys
rows = list(csv.DictReader(sys.stdin))
assert len(rows) == int(sys.argv[1]), len(rows)
r = [r for r in rows if r["number"] == "1"][0]
assert r["methods"] == "hwk", r
assert r["approver"] == "uid=approver1,ou=staff,dc=example,dc=com", r
assert r["outcome"] == "applied" and r["review_required"] == "FALSE", r
assert r["reason"] == "INC0000001: locked out after travel", r
assert r["time"] == "20240101000000.000000Z", r
r = [r for r in rows if r["number"] == "2"][0]
assert r["review_verdict"].startswith("approved") and r["reviewer"], r
assert len(r["hash"]) == 64 and len(r["prev_hash"]) == 64, r
' "$N" < <(audit report --format csv)
check "report json parses, all fields" python3 -c '
import json, sys
rows = json.load(sys.stdin)
assert len(rows) == int(sys.argv[1])
r = rows[0]
assert r["number"] == 1 and r["methods"] == ["hwk"] and r["level"] == 3, r
assert r["review_required"] is False and r["alert"] is False and r["review_verdict"] is None, r
assert rows[1]["issuer"] is None and rows[1]["methods"] == [], rows[1]
' "$N" < <(audit report --format json)
check "report under valgrind: no errors, no leaks" valgrind -q --leak-check=full \
	--error-exitcode=1 "$AUDIT" -H "$URI" -D "$ADMIN" -y "$PWFILE" report --format json
check "pending-review under valgrind: no errors, no leaks" valgrind -q --leak-check=full \
	--error-exitcode=1 "$AUDIT" -H "$URI" -D "$ADMIN" -y "$PWFILE" pending-review --format csv
check_eq "report json of no records: []" "[]" "$(audit report --format json --kind nothing)"

# ---- pending-review ----
want=$(exp --pending)
check_eq "pending-review lists the review records" "$want" \
	"$(audit pending-review --format json | numbers_json)"
check_eq "pending-review table" "$want" \
	"$(audit pending-review | tail -n +2 | awk '{ print $1 }' | paste -sd,)"
check "pending-review csv parses" python3 -c '
import csv, sys
rows = list(csv.DictReader(sys.stdin))
assert [r["number"] for r in rows] == sys.argv[1].split(","), rows
assert all(r["review_required"] == "TRUE" and r["review_verdict"] == "" for r in rows)
' "$want" < <(audit pending-review --format csv)

# ---- online changes by the log's rootdn ----
first_pending=${want%%,*}
check "rootdn records a review verdict (a status attribute)" ldapmodify -x -H "$URI" \
	-D "$ADMIN" -w "$PW" <<EOF
dn: rgLogChangeNumber=$first_pending,cn=resetlog
changetype: modify
add: rgLogReviewVerdict
rgLogReviewVerdict: approved
-
add: rgLogReviewer
rgLogReviewer: uid=auditor1,ou=audit,dc=example,dc=com
EOF
check_eq "the reviewed record is no longer pending" "${want#*,}" \
	"$(audit pending-review --format json | numbers_json)"
check "status attributes are outside the hash: verify still OK" \
	expect_rc 0 "verified 2000 records" audit verify
check "rootdn rewrites rgLogRuleText of record 1000 online" ldapmodify -x -H "$URI" \
	-D "$ADMIN" -w "$PW" <<EOF
dn: rgLogChangeNumber=1000,cn=resetlog
changetype: modify
replace: rgLogRuleText
rgLogRuleText: allowed by an exception nobody wrote down
EOF
check "verify after the online edit: exit 1 naming 1000" \
	expect_rc 1 "record 1000 was altered: its contents do not match its hash (records up to 999 are intact; the next record is 1001)" \
	audit verify
check "  and under valgrind too (exit 1, no valgrind errors)" \
	expect_rc 1 "record 1000 was altered" valgrind -q --leak-check=full --error-exitcode=9 \
	"$AUDIT" -H "$URI" -D "$ADMIN" -y "$PWFILE" verify

# ---- offline tampering ----
tamper delete "$dir/good.ldif" "$dir/t.ldif" 1234 1234 && load "$dir/t.ldif"
check "deleted record: exit 1 naming the gap" \
	expect_rc 1 "record 1234 is missing (deleted) between 1233 and 1235" audit verify
tamper delete "$dir/good.ldif" "$dir/t.ldif" 1500 1502 && load "$dir/t.ldif"
check "deleted records: exit 1 naming the gap" \
	expect_rc 1 "records 1500..1502 are missing (deleted) between 1499 and 1503" audit verify
tamper delete "$dir/good.ldif" "$dir/t.ldif" 1 1 && load "$dir/t.ldif"
check "deleted first record: exit 1" expect_rc 1 "record 1 is missing (deleted) before 2" \
	audit verify
tamper edit "$dir/good.ldif" "$dir/t.ldif" 500 rgLogRequester \
	uid=helpdesk9,ou=staff,dc=example,dc=com && load "$dir/t.ldif"
check "edited rgLogRequester of record 500: exit 1 naming 500" \
	expect_rc 1 "record 500 was altered: its contents do not match its hash" audit verify
tamper swap "$dir/good.ldif" "$dir/t.ldif" 700 701 && load "$dir/t.ldif"
check "swapped records 700 and 701: exit 1 naming both" \
	expect_rc 1 "record 700 was altered: its contents do not match its hash (records up to 699 are intact; the next record is 701)" \
	audit verify
tamper anchor "$dir/good.ldif" "$dir/t.ldif" 300 - purge && load "$dir/t.ldif"
check "purged 1..300 with the anchor on the root: verified from 301" \
	expect_rc 0 "verified 1700 records (301..2000), head hash $(hash_of 2000)" audit verify
tamper anchor "$dir/good.ldif" "$dir/t.ldif" 300 && load "$dir/t.ldif"
check "anchor with records 1..300 still present: they are ignored" \
	expect_rc 0 "verified 1700 records (301..2000)" audit verify
tamper anchor "$dir/good.ldif" "$dir/t.ldif" 300 "$(hash_of 299)" purge && load "$dir/t.ldif"
check "anchor with a wrong hash: exit 1" \
	expect_rc 1 "record 301 does not follow the anchor (record 300)" audit verify
# A record with awkward values, hashed here from the canonical form as resetguard-audit(1)
# documents it (as an auditor's own tool would): a backslash, a comma in a method, control
# characters, UTF-8, an escape sequence in an IA5 value.
cat >"$dir/tricky.py" <<'PY'
import base64, hashlib, sys
prev = sys.argv[1]
f = [("number", "2001"), ("time", "20240121000000.000000Z"),
     ("target", "uid=user1,ou=people,dc=example,dc=com"),
     ("requester", "uid=helpdesk1,ou=staff,dc=example,dc=com"), ("approver", ""),
     ("kind", "delegated\x1b[2J"), ("decision", "allowed"), ("rule", "allowed"),
     ("ruleText", "C:\\policies\\default"), ("policy", ""), ("operation", "modify"),
     ("issuer", "https://proofing.example.com"), ("level", "2"), ("methods", ["hwk", "a,b"]),
     ("jti", "tricky-1"), ("reason", "line one\nline two\ttab, \"quoted\"; caf\u00e9"),
     ("reviewRequired", "FALSE"), ("alert", "TRUE"), ("prev", prev)]
def esc(v, comma=False):
    out = b""
    for b in v.encode():
        if b == 0x5C:
            out += b"\\\\"
        elif b < 0x20 or b == 0x7F or (comma and b == 0x2C):
            out += b"\\x%02x" % b
        else:
            out += bytes([b])
    return out
text = b"resetguard-log-v1\n"
for k, v in f:
    v = b",".join(esc(m, True) for m in v) if k == "methods" else esc(v)
    text += k.encode() + b"=" + v + b"\n"
attrs = {"number": "rgLogChangeNumber", "time": "rgLogTime", "target": "rgLogTarget",
         "requester": "rgLogRequester", "kind": "rgLogKind", "decision": "rgLogDecision",
         "rule": "rgLogRule", "ruleText": "rgLogRuleText", "operation": "rgLogOperation",
         "issuer": "rgLogIssuer", "level": "rgLogLevel", "methods": "rgLogMethod",
         "jti": "rgLogJti", "reason": "rgLogReason", "alert": "rgLogAlert",
         "prev": "rgLogPrevHash"}
out = "dn: rgLogChangeNumber=2001,cn=resetlog\nobjectClass: rgLogRecord\n"
for k, v in f:
    for x in (v if k == "methods" else [v]) if k in attrs else []:
        out += "%s:: %s\n" % (attrs[k], base64.b64encode(x.encode()).decode())
print(out + "rgLogHash: " + hashlib.sha256(text).hexdigest())
PY
{ cat "$dir/good.ldif"; python3 "$dir/tricky.py" "$(hash_of 2000)"; } >"$dir/t.ldif" &&
	load "$dir/t.ldif"
check "awkward values, hashed from the documented canonical form, verify" \
	expect_rc 0 "verified 2001 records (1..2001)" audit verify
row=$(audit report --since 2024-01-21 --alert | tail -n 1)
check_eq "table: control characters shown as ?" "2001 delegated?[2J" \
	"$(awk '{ print $1, $3 }' <<<"$row")"
check "csv and json carry the awkward values exactly" python3 -c '
import csv, io, json, sys
c = list(csv.DictReader(io.StringIO(sys.argv[1], newline="")))[-1]
j = json.loads(sys.argv[2])[-1]
reason = "line one\nline two\ttab, \"quoted\"; caf\u00e9"
assert c["reason"] == reason and j["reason"] == reason, (c, j)
assert c["methods"] == "hwk;a,b" and j["methods"] == ["hwk", "a,b"], (c, j)
assert c["kind"] == j["kind"] == "delegated\x1b[2J", j
assert c["rule_text"] == j["rule_text"] == "C:\\policies\\default", j
assert j["approver"] is None and j["alert"] is True and j["level"] == 2, j
' "$(audit report --format csv --since 2024-01-21)" "$(audit report --format json --since 2024-01-21)"

"$MKLOG" --first 301 --prev "$(hash_of 300)" --count 100 >"$dir/t.ldif" && load "$dir/t.ldif"
check "rg-mklog --first 301 --prev: a purged log's shape, anchored at 300" \
	expect_rc 0 "verified 100 records (301..400)" audit verify

tamper delete "$dir/good.ldif" "$dir/t.ldif" 1 $N && load "$dir/t.ldif"
check "empty log: verified 0 records" expect_rc 0 "verified 0 records" audit verify

# ---- verify in slices (--jobs) ----
# With -j 4 the 2000 records are read in four searches at once, cut at 501, 1001 and 1501
# (-v lists the slices). Each break, at a seam between two slices (the last record of one,
# the first of the next, or both) and inside one, must give exit status and output exactly
# as one search does.
jobs_agree() { # RC TEXT: verify -j 1 and -j 4 exit RC with the same output, TEXT in it
	local rc=$1 text=$2 one four r1 r4
	one=$(audit verify -j 1 2>&1)
	r1=$?
	four=$(audit -v verify -j 4 2>"$dir/jobs.err")
	r4=$?
	printf -- '-j 1, exit %s:\n%s\n-j 4, exit %s:\n%s\n' "$r1" "$one" "$r4" "$four"
	[ "$r1" = "$rc" ] && [ "$r4" = "$rc" ] || { echo "expected exit $rc"; return 1; }
	[ "$one" = "$four" ] || { echo "the outputs differ"; return 1; }
	[[ "$four" == *"$text"* ]] || { echo "the output lacks: $text"; return 1; }
	grep -q "slice 4 (&(rgLogChangeNumber>=1501)(objectClass=rgLogRecord))" "$dir/jobs.err" ||
		{ cat "$dir/jobs.err"; echo "not read in the 4 slices expected"; return 1; }
}
load "$dir/good.ldif"
check "verify -j 4: 2000 good records in 4 slices, as one search" \
	jobs_agree 0 "verified 2000 records (1..2000), head hash $(hash_of 2000)"
check "  -v lists the slices: the first open below, the last open above" expect_rc 0 \
	"slice 1 (&(!(rgLogChangeNumber>=501))(objectClass=rgLogRecord))" audit -v verify -j 4
check "  --jobs 3 and --jobs 16 verify the same" expect_rc 0 \
	"verified 2000 records (1..2000), head hash $(hash_of 2000)" \
	sh -c '"$@" --jobs 3 && "$@" --jobs 16' sh "$AUDIT" -H "$URI" -D "$ADMIN" -y "$PWFILE" verify
check "  as anonymous, each slice read in windows under the size limit of 500" expect_rc 0 \
	"verified 2000 records (1..2000), head hash $(hash_of 2000)" "$AUDIT" -H "$URI" verify -j 4
check "  under valgrind: no errors, no leaks" valgrind -q --leak-check=full --error-exitcode=1 \
	"$AUDIT" -H "$URI" -D "$ADMIN" -y "$PWFILE" verify -j 4
check "--jobs 0: exit 2" expect_rc 2 "give a number from 1 to 16" audit verify --jobs 0
check "-j 17: exit 2" expect_rc 2 "give a number from 1 to 16" audit verify -j 17
tamper edit "$dir/good.ldif" "$dir/t.ldif" 501 rgLogRequester \
	uid=helpdesk9,ou=staff,dc=example,dc=com && load "$dir/t.ldif"
check "-j 4, the first record of a slice altered (501)" jobs_agree 1 \
	"record 501 was altered: its contents do not match its hash (records up to 500 are intact; the next record is 502)"
tamper edit "$dir/good.ldif" "$dir/t.ldif" 500 rgLogReason tampered && load "$dir/t.ldif"
check "-j 4, the last record of a slice altered (500)" jobs_agree 1 \
	"record 500 was altered: its contents do not match its hash (records up to 499 are intact; the next record is 501)"
tamper edit "$dir/good.ldif" "$dir/t.ldif" 750 rgLogReason tampered && load "$dir/t.ldif"
check "-j 4, a record inside a slice altered (750)" jobs_agree 1 "record 750 was altered"
tamper delete "$dir/good.ldif" "$dir/t.ldif" 1000 1001 && load "$dir/t.ldif"
check "-j 4, the records either side of a seam deleted (1000, 1001)" jobs_agree 1 \
	"records 1000..1001 are missing (deleted) between 999 and 1002"
tamper delete "$dir/good.ldif" "$dir/t.ldif" 1501 1501 && load "$dir/t.ldif"
check "-j 4, the first record of the last slice deleted (1501)" jobs_agree 1 \
	"record 1501 is missing (deleted) between 1500 and 1502"
tamper delete "$dir/good.ldif" "$dir/t.ldif" 1250 1250 && load "$dir/t.ldif"
check "-j 4, a record inside a slice deleted (1250)" jobs_agree 1 \
	"record 1250 is missing (deleted) between 1249 and 1251"
tamper swap "$dir/good.ldif" "$dir/t.ldif" 1500 1501 && load "$dir/t.ldif"
check "-j 4, two records swapped across a seam (1500, 1501)" jobs_agree 1 \
	"record 1500 was altered: its contents do not match its hash (records up to 1499 are intact; the next record is 1501)"
# Another log's record 1001 has a hash of its own that holds, and another prev.
"$MKLOG" --count 1001 --start $START --span-days 20 --targets 51 --requesters $REQUESTERS \
	>"$dir/other.ldif" || { echo "Bail out! rg-mklog failed"; exit 1; }
tamper graft "$dir/good.ldif" "$dir/t.ldif" 1001 "$dir/other.ldif" && load "$dir/t.ldif"
check "-j 4, the first record of a slice replaced by a well-hashed one (1001)" jobs_agree 1 \
	"record 1001 does not follow record 1000: its prev hash does not match (reordered or replaced; the next record is 1002)"
tamper graft "$dir/good.ldif" "$dir/t.ldif" 700 "$dir/other.ldif" && load "$dir/t.ldif"
check "-j 4, a record inside a slice replaced by a well-hashed one (700)" jobs_agree 1 \
	"record 700 does not follow record 699"
tamper dup "$dir/good.ldif" "$dir/t.ldif" 1001 && load "$dir/t.ldif"
check "-j 4, a second record 1001 inserted under another DN, at a seam" jobs_agree 1 \
	"record 1001 appears twice"
{ cat "$dir/good.ldif"; sed -n '/^dn: rgLogChangeNumber=2000,/,/^$/p' "$dir/good.ldif" |
	sed 's/rgLogChangeNumber=2000,/rgLogChangeNumber=2003,/; s/^rgLogChangeNumber: 2000$/rgLogChangeNumber: 2003/'; } \
	>"$dir/t.ldif" && load "$dir/t.ldif"
check "-j 4, a record inserted past the head (2003), in the open last slice" jobs_agree 1 \
	"records 2001..2002 are missing (deleted) between 2000 and 2003"
# Two chains: serverID 1's starts at 2^48 + 1 from the genesis hash; its range is probed too.
"$MKLOG" --count 2000 --first 281474976710657 --prev "$(printf '0%.0s' $(seq 64))" |
	awk 'BEGIN { RS = ""; ORS = "\n\n" } NR > 1' >"$dir/chain1.ldif" &&
	cat "$dir/good.ldif" "$dir/chain1.ldif" >"$dir/t.ldif" && load "$dir/t.ldif"
check "-j 4, two chains: the same verdict on each" expect_rc 0 \
	"chain of serverID 1: verified 2000 records (281474976710657..281474976712656)" \
	sh -c 'a=$("$@" -j 1) && b=$("$@" -j 4) && [ "$a" = "$b" ] && echo "$b"' sh \
	"$AUDIT" -H "$URI" -D "$ADMIN" -y "$PWFILE" verify
check "  slices cut where chain 1 starts and inside it" expect_rc 0 \
	"slice 3 (&(rgLogChangeNumber>=281474976710657)(!(rgLogChangeNumber>=281474976711657))" \
	audit -v verify -j 4

# ---- report --format html ----
# The good log and two records with hostile values (no valid hash: verify is not the point):
# 2001 denied by a rule named like markup, dated before 1970 (the span is too long to draw
# every day), 2002 a break-glass change awaiting review whose requester DN and reason carry
# a script.
zero=$(printf '0%.0s' $(seq 64))
{ cat "$dir/good.ldif"; cat <<EOF; } >"$dir/t.ldif"
dn: rgLogChangeNumber=2001,cn=resetlog
objectClass: rgLogRecord
rgLogChangeNumber: 2001
rgLogTime: 19691231235959.000000Z
rgLogTarget: uid=user1,ou=people,dc=example,dc=com
rgLogRequester: uid=helpdesk1,ou=staff,dc=example,dc=com
rgLogKind: delegated
rgLogDecision: denied
rgLogRule: <img src=x onerror=alert(1)>
rgLogPrevHash: $zero
rgLogHash: $zero

dn: rgLogChangeNumber=2002,cn=resetlog
objectClass: rgLogRecord
rgLogChangeNumber: 2002
rgLogTime: 20240121000001.000000Z
rgLogTarget: uid=user2,ou=people,dc=example,dc=com
rgLogRequester: cn=\<script\>alert(1)\</script\>,ou=staff,dc=example,dc=com
rgLogKind: break-glass
rgLogDecision: allowed
rgLogRule: break-glass
rgLogReviewRequired: TRUE
rgLogReason: <script>alert("r")</script> & 'q'
rgLogPrevHash: $zero
rgLogHash: $zero
EOF
load "$dir/t.ldif"
check "report --format html -o FILE" audit report --format html -o "$dir/report.html"
check_eq "  the file is made with mode 0600" 600 "$(stat -c %a "$dir/report.html")"
check "  a span of 54 years: only the days with records drawn, 1969-12-31 among them" \
	grep -q "Only the days with records are drawn" "$dir/report.html"
check_eq "  and is the page --format html writes to standard output" \
	"$(sed 's/ on [0-9-]* [0-9:]*Z;/;/' "$dir/report.html")" \
	"$(audit report --format html | sed 's/ on [0-9-]* [0-9:]*Z;/;/')"
audit report --format json >"$dir/report.json"
cat >"$dir/html_check.py" <<'PY'
# html_check.py PAGE JSON: the page's numbers are those of the JSON report of the same records
import collections, json, re, sys, xml.etree.ElementTree as ET
page, rows = open(sys.argv[1], encoding="utf-8").read(), json.load(open(sys.argv[2]))
fail = []
def expect(what, want, got):
    if want != got:
        fail.append("%s: expected %r, got %r" % (what, want, got))
low = page.lower()
for bad in ("<script", "<img", "<link", "<iframe", "<object", "<embed", "url(", "@import",
            "http:", "https:"):
    if bad in low:
        fail.append("the page holds %r" % bad)
for tag in re.findall(r"<[a-z][^>]*\b(?:src|href|on[a-z]+)\s*=[^>]*>", low):
    fail.append("a tag loads or runs something: %s" % tag)
numbers = {r["number"] for r in rows}
if 2001 in numbers:
    expect("the markup in the rule, escaped", True,
           "&lt;img src=x onerror=alert(1)&gt;" in page)
if 2002 in numbers:
    expect("the script in the reason, escaped", True,
           "&lt;script&gt;alert(&quot;r&quot;)&lt;/script&gt; &amp; &#39;q&#39;" in page)
    expect("the requester DN with a script, escaped", True,
           re.search(r"cn=\\?&lt;script\\?&gt;alert\(1\)\\?&lt;/script\\?&gt;,ou=staff", page)
           is not None)
summary = {k: int(v) for k, v in re.findall(r'<li id="(\w+)"><b>(\d+)</b>', page)}
expect("summary", {
    "records": len(rows),
    "allowed": sum(r["decision"] != "denied" for r in rows),
    "denied": sum(r["decision"] == "denied" for r in rows),
    "review": sum(r["review_required"] for r in rows),
    "pending": sum(r["review_required"] and r["review_verdict"] is None for r in rows),
    "alerts": sum(r["alert"] for r in rows)}, summary)
svgs = re.findall(r"<svg.*?</svg>", page, re.S)
titles = []
for s in svgs:
    root = ET.fromstring(s)          # well-formed, entities and all
    titles.append((root.get("aria-label"), [t.text for t in root.iter("title")]))
labels = [t[0] for t in titles]
want_labels = ["resets per day by kind and decision", "Denials by rule", "Top requesters",
               "Top targets"]
if not any(r["decision"] == "denied" for r in rows):
    want_labels.remove("Denials by rule")
expect("charts", want_labels, labels)
charts = dict(titles)
def pairs(label):
    return [(t.rsplit(": ", 1)[0], int(t.rsplit(": ", 1)[1])) for t in charts.get(label, [])]
per_day = collections.Counter()
for r in rows:
    t = r["time"]
    per_day["%s-%s-%s %s %s" % (t[0:4], t[4:6], t[6:8], r["kind"], r["decision"])] += 1
expect("resets per day by kind and decision", dict(per_day),
       dict(pairs("resets per day by kind and decision")))
def top(key, n, only=lambda r: True):
    c = collections.Counter(r[key] for r in rows if only(r))
    return sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
expect("denials by rule", top("rule", 15, lambda r: r["decision"] == "denied"),
       pairs("Denials by rule"))
expect("top requesters", top("requester", 10), pairs("Top requesters"))
expect("top targets", top("target", 10), pairs("Top targets"))
pending = page.split("<h2>Pending reviews</h2>", 1)[1].split("<h2>", 1)[0]
expect("pending reviews", [str(r["number"]) for r in rows
                           if r["review_required"] and r["review_verdict"] is None],
       re.findall(r"<tr><td>(\d+)</td>", pending))
records = page.split("<h2>Records</h2>", 1)[1]
expect("records", [str(r["number"]) for r in rows],
       re.findall(r"<tr[^>]*><td>(\d+)</td>", records))
print("\n".join(fail))
sys.exit(1 if fail else 0)
PY
check "html: counts, charts, pending reviews and records as in the JSON report; values escaped; nothing external" \
	python3 "$dir/html_check.py" "$dir/report.html" "$dir/report.json"
check "  the check finds a page that differs (one record left out)" \
	bash -c '! python3 "$1" "$2" <(python3 -c "import json, sys; print(json.dumps(json.load(open(sys.argv[1]))[1:]))" "$3") >/dev/null' \
	_ "$dir/html_check.py" "$dir/report.html" "$dir/report.json"
audit report --format html --decision allowed --since 2024-01-10 -o "$dir/allowed.html"
audit report --format json --decision allowed --since 2024-01-10 >"$dir/allowed.json"
check "html of a filtered report (no denials): its own numbers" \
	python3 "$dir/html_check.py" "$dir/allowed.html" "$dir/allowed.json"
check "  the filter named in the page" grep -q "decision allowed" "$dir/allowed.html"
audit report --format html --kind nothing -o "$dir/empty.html"
check "html of no records: says so" grep -q '<li id="records"><b>0</b>records' "$dir/empty.html"
check_eq "  and draws nothing" 0 "$(grep -c '<svg' "$dir/empty.html")"
check "html when the search fails: exit 3 and no file" bash -c \
	'"$@" 2>/dev/null; [ $? = 3 ] && [ ! -e "${*: -1}" ]' _ \
	"$AUDIT" -H "$URI" -D "$ADMIN" -y "$PWFILE" -b cn=nothere,cn=resetlog report \
	--format html -o "$dir/none.html"
check "html -o into a directory that does not exist: exit 3" \
	expect_rc 3 "cannot write the report" audit report --format html -o "$dir/no/such.html"
check "report --format html under valgrind: no errors, no leaks" valgrind -q --leak-check=full \
	--error-exitcode=1 "$AUDIT" -H "$URI" -D "$ADMIN" -y "$PWFILE" report --format html \
	-o "$dir/vg.html"

finish
