#!/usr/bin/env python3
"""Writes the seed corpora of the libFuzzer harnesses into tests/fuzz/corpus/<harness>/.

Seeds are small, meaningful inputs in each harness's input format (see the comment at the
top of each tests/fuzz/fuzz_*.c). Tokens are signed with the test-only keys of
tests/fuzz/keys (openssl(1) makes the signatures), so the evidence harness, which trusts
those keys when scripts/fuzz sets RG_FUZZ_KEYDIR, verifies them all the way to the claims.
ECDSA signatures are randomised, so token seeds already there are kept unless --force is
given; the others are rewritten. Inputs merged by scripts/fuzz --merge are left alone.

usage: tests/fuzz/mkcorpus.py [--force]   (from anywhere; needs python3 and openssl)
  --force   also re-sign the token seeds that are already there
"""
import base64
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = os.path.join(HERE, "keys")
OUT = os.path.join(HERE, "corpus")

ISS_TEST_P256 = "https://idp.example.test"
ISS_TEST_ED25519 = "https://ed-idp.example.test"
ISS_P256 = "https://p256.fuzz.test"
ISS_ED25519 = "https://ed25519.fuzz.test"
SUB = "uid=alice,ou=people,dc=example,dc=test"
NOW = 1700000000
TOKEN = b"eyJ"  # every token seed starts a part with a base64url JSON object
FORCE = "--force" in sys.argv[1:]


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def der_to_raw(der):
    """ECDSA-Sig-Value (DER SEQUENCE of two INTEGERs) to JWS's 64-byte R||S."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        v = der[i + 2:i + 2 + n].lstrip(b"\0")
        out += v.rjust(32, b"\0")
        i += 2 + n
    return out


def sign(key, tbs, raw_der=False):
    with tempfile.TemporaryDirectory() as d:
        kp = os.path.join(d, "key.pem")
        shutil.copy(key, kp)
        os.chmod(kp, 0o600)
        inp = os.path.join(d, "tbs")
        with open(inp, "wb") as f:
            f.write(tbs)
        if "ed25519" in key:
            return subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", kp, "-rawin",
                                   "-in", inp], check=True, capture_output=True).stdout
        der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", kp, inp], check=True,
                             capture_output=True).stdout
        return der if raw_der else der_to_raw(der)


def token(key, header, payload, raw_der=False):
    h = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    p = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
    tbs = (b64u(h) + "." + b64u(p)).encode()
    return tbs + b"." + b64u(sign(key, tbs, raw_der)).encode()


def claims(iss, **kw):
    c = {"iss": iss, "sub": SUB, "jti": "jti-0001", "iat": NOW, "exp": NOW + 300, "ial": 2,
         "amr": ["hwk"]}
    c.update(kw)
    return {k: v for k, v in c.items() if v is not None}


def jdump(o):
    return json.dumps(o, separators=(",", ":")).encode()


def write(harness, name, data):
    d = os.path.join(OUT, harness)
    path = os.path.join(d, name)
    os.makedirs(d, exist_ok=True)
    # A token seed already there is kept: ECDSA signatures are randomised, and rewriting
    # them would change committed bytes without changing what they test.
    token = TOKEN in data or base64.b64encode(TOKEN) in data
    if os.path.exists(path) and token and not FORCE:
        return
    with open(path, "wb") as f:
        f.write(data)


P256 = os.path.join(KEYS, "test-only-p256.pem")
ED = os.path.join(KEYS, "test-only-ed25519.pem")
ES = {"alg": "ES256", "typ": "JWT"}
EDH = {"alg": "EdDSA", "typ": "JWT"}


def jws():
    good = token(P256, ES, claims(ISS_TEST_P256))
    t = {
        "es256": good,
        "eddsa": token(ED, EDH, claims(ISS_TEST_ED25519)),
        "kid-typ": token(P256, {"alg": "ES256", "typ": "secevent+jwt", "kid": "k1"},
                         {"iss": "x", "events": {}}),
        "alg-none": (b64u(b'{"alg":"none"}') + "." + b64u(jdump(claims("x"))) + ".").encode(),
        "alg-hs256": (b64u(b'{"alg":"HS256"}') + "." + b64u(b"{}") + "." + b64u(b"\0" * 32)).encode(),
        "crit": token(P256, {"alg": "ES256", "crit": ["exp"], "exp": 1}, {"a": 1}),
        "header-array": (b64u(b"[]") + "." + b64u(b"{}") + "." + b64u(b"\1" * 64)).encode(),
        "payload-string": token(ED, EDH, b'"just a string"'),
        "dup-header": (b64u(b'{"alg":"ES256","alg":"EdDSA"}') + "." + b64u(b"{}") + "." +
                       b64u(b"\2" * 64)).encode(),
        "der-signature": token(P256, ES, claims(ISS_TEST_P256), raw_der=True),
        "padded": good + b"==",
        "four-parts": good + b".AAAA",
        "empty-parts": b"..",
        "nul-in-header": (b64u(b'{"alg":"ES256\\u0000x"}') + "." + b64u(b"{}") + "." +
                          b64u(b"\3" * 64)).encode(),
        "non-canonical-b64": good[:-1] + (b"B" if good[-1:] == b"A" else b"A"),
    }
    for name, tok in t.items():
        write("jws", "raw-" + name, b"\0" + tok)
    pay = jdump(claims(ISS_P256, approver="uid=bob,dc=example,dc=test", reason="INC-42"))
    write("jws", "sign-p256", b"\1" + pay + b"\x10\x20")
    write("jws", "sign-ed25519", b"\2" + pay + b"\x80\x41")
    write("jws", "sign-nested", b"\1" + b'{"a":{"b":[1,2.5,null,true,"\\u00e9"]}}' + b"\xff\x00")
    write("jws", "sign-not-object", b"\2" + b"[1,2,3]" + b"\x00\x00")
    write("jws", "header-es256-kid", b"\3" + b'{"alg":"ES256","typ":"JWT","kid":"k1"}\0' + pay +
          b"\x40\x07")
    write("jws", "header-eddsa", b"\3" + b'{"alg":"EdDSA"}\0{"x":1}' + b"\x01\x02")
    write("jws", "header-lying-alg", b"\3" + b'{"alg":"EdDSA","typ":"JWT"}\0{}' + b"\x01\x02")
    write("jws", "header-crit", b"\3" + b'{"alg":"ES256","crit":["b64"]}\0{}' + b"\x01\x02")


def evidence():
    ok = claims(ISS_TEST_P256, approver="uid=bob,ou=people,dc=example,dc=test", reason="INC-42",
                amr=["hwk", "face"])
    raw = {
        "p256-full": token(P256, ES, ok),
        "ed25519-minimal": token(ED, EDH, claims(ISS_TEST_ED25519, amr=[])),
        "ed25519-nbf-ial3": token(ED, EDH, claims(ISS_TEST_ED25519, nbf=NOW, ial=3,
                                                  amr=["hwk", "sms", "kba"])),
        "p256-ial-out-of-range": token(P256, ES, claims(ISS_TEST_P256, ial=4)),
        "p256-exp-string": token(P256, ES, claims(ISS_TEST_P256, exp="1700000300")),
        "wrong-key-alg": token(ED, EDH, claims(ISS_TEST_P256)),
        "unknown-issuer": token(P256, ES, claims("https://evil.example")),
        "no-iss": token(P256, ES, {"sub": SUB}),
    }
    for name, tok in raw.items():
        write("evidence", "raw-" + name, b"\0" + tok)
    # claims payloads the harness signs itself (modes 1 and 2)
    for mode, iss in ((1, ISS_P256), (2, ISS_ED25519)):
        tag = "p256" if mode == 1 else "ed25519"
        pays = {
            "ok": jdump(claims(iss, approver="uid=bob,dc=example,dc=test", reason="INC-1",
                               amr=["hwk", "face"])),
            "exp-max": jdump(claims(iss, exp=9223372036854775807)),
            "exp-ms": jdump(claims(iss, exp=(NOW + 300) * 1000)),
            # "never expires" as some issuers write it: 9999-12-31T23:59:59Z
            "exp-9999": jdump(claims(iss, exp=253402300799)),
            "exp-real": b'{"iss":"%s","sub":"u","jti":"j","iat":1700000000.0,"exp":1.7000003e9,"ial":2.0,"amr":[]}' % iss.encode(),
            "exp-huge-real": b'{"iss":"%s","sub":"u","jti":"j","iat":1700000000,"exp":1e300,"ial":2,"amr":[]}' % iss.encode(),
            "iat-negative": jdump(claims(iss, iat=-1)),
            "ial-fraction": b'{"iss":"%s","sub":"u","jti":"j","iat":1700000000,"exp":1700000300,"ial":2.5,"amr":[]}' % iss.encode(),
            "nul-in-sub": b'{"iss":"%s","sub":"a\\u0000b","jti":"j","iat":1700000000,"exp":1700000300,"ial":2,"amr":[]}' % iss.encode(),
            "duplicate-sub": b'{"iss":"%s","sub":"a","sub":"b","jti":"j","iat":1700000000,"exp":1700000300,"ial":2,"amr":[]}' % iss.encode(),
            "amr-17": jdump(claims(iss, amr=["m%d" % i for i in range(17)])),
            "amr-bad-entry": jdump(claims(iss, amr=["hwk", "", 3])),
            "amr-object": jdump(claims(iss, amr={"hwk": True})),
            "approver-number": jdump(claims(iss, approver=7)),
            "long-jti": jdump(claims(iss, jti="j" * 257)),
        }
        for name, p in pays.items():
            write("evidence", "sign-%s-%s" % (tag, name), bytes([mode]) + p)


def control():
    good = token(P256, ES, claims(ISS_TEST_P256))
    write("control", "token", good)
    write("control", "token-newline", good + b"\n")
    write("control", "token-space", good.replace(b".", b". ", 1))
    write("control", "three-dots", good + b".")
    write("control", "dots-only", b"..")
    write("control", "nul", good[:10] + b"\0" + good[11:])
    write("control", "ldif-base64", base64.b64encode(good))
    write("control", "too-long", b"a" * 8190 + b"..")


def policy():
    example = b"""rgResetAgent: cn=reset-portal,ou=services,dc=example,dc=com
rgBreakGlass: cn=break-glass,ou=services,dc=example,dc=com
rgSelfServiceMinIAL: 2
rgSelfServiceMethod: hwk
rgSelfServiceMethod: face
rgForbiddenMethod: kba
rgPrivilegedGroup: cn=privileged,ou=groups,dc=example,dc=com
rgPrivilegedMinIAL: 3
rgPrivilegedMethod: hwk
rgPrivilegedForbiddenMethod: sms
rgDelegatedMinIAL: 1
rgDelegatedRequireApprover: TRUE
rgApproverGroup: cn=approvers,ou=groups,dc=example,dc=com
rgDelegatedRequireReason: TRUE
rgForceChangeAfterDelegated: TRUE
rgMaxEvidenceAge: 900
rgVelocityLimit: * target 20 3600
rgVelocityLimit: delegated requester 50 3600
"""
    write("policy", "manpage-example", example)
    write("policy", "kinds", b"rgAllowedKind: self-change\nrgallowedkind: Self-Service\n"
          b"RGALLOWEDKIND: provisioning\nrgProvisioner: cn=idm,dc=example,dc=com\n"
          b"rgSelfChangeRequireOld: FALSE\n")
    write("policy", "velocity-edges", b"rgVelocityLimit: break-glass target 1 31622400\n"
          b"rgVelocityLimit: * requester 9223372036854775807 1\n"
          b"rgVelocityLimit: self-service target 3 86400 \n")
    write("policy", "bad-ial", b"rgSelfServiceMinIAL: 4\n")
    write("policy", "bad-seconds", b"rgMaxEvidenceAge: 99999999999999999999\n")
    write("policy", "bad-velocity", b"rgVelocityLimit: * sideways 1 1\n")
    write("policy", "unknown-and-empty", b"cn: default\nobjectClass: rgPolicy\n"
          b"rgForbiddenMethod:\n")
    write("policy", "duplicates", b"rgForbiddenMethod: sms\nrgForbiddenMethod: sms\n"
          b"rgForbiddenMethod: kba\nrgBreakGlass: cn=a\nrgBreakGlass: cn=a\n")


def resetlog():
    def rec(number, level, flags, sec, usec, fields, methods):
        head = struct.pack(">QiBqi", number, level, flags, sec, usec)
        return head + b"\x1e".join(fields) + b"\x1e" + b"\x1f".join(methods)

    std = [b"20250101120000.000000Z", b"uid=alice,ou=people,dc=example,dc=test",
           b"cn=reset-portal,ou=services,dc=example,dc=test", b"", b"self-service", b"allowed",
           b"allowed", b"", b"cn=default,ou=policies,dc=example,dc=test", b"passwordModify",
           b"https://idp.example.test", b"jti-0001", b"INC-42", b"0" * 64, b""]
    write("resetlog", "allowed", rec(1, 2, 0, NOW, 123456, std, [b"hwk", b"face"]))
    proxied = list(std)
    proxied[14] = b"cn=proxy,ou=services,dc=example,dc=test"
    write("resetlog", "proxied", rec(2, 3, 0x80, NOW, 0, proxied, [b"hwk"]))
    esc = list(std)
    esc[1] = b"cn=a\\,b\\\\c,dc=x"
    esc[7] = b"line1\nline2\r\x7f\x01tab\t"
    esc[12] = "r\u00e9sum\u00e9 \U0001f600".encode()
    write("resetlog", "escapes", rec(18446744073709551615, 0, 0x7f, 253402300799, 999999, esc,
                                     [b"a,b", b"\\", b"x\x1by"]))
    write("resetlog", "denied-no-evidence", rec(7, -1, 0x3c | 0x1, 0, 0,
                                                [b"20250101120000.000000Z", b"uid=bob", b"uid=bob",
                                                 b"", b"delegated", b"denied",
                                                 b"evidence-missing", b"needs evidence", b"",
                                                 b"modify", b"", b"", b"", b"f" * 64, b""], []))


def audit():
    def entry(attrs):
        return b"\x1e".join(bytes([idx]) + b"\x1f".join(vals) for idx, vals in attrs)

    # indices into audit_hash_attrs: 0 number, 1 time, 2 target, 3 requester,
    # 4 authenticated, 5 approver .. 18 prev, 19 hash, 20 method; then 21 rgLogReason;lang-de,
    # 22 RGLOGHASH, 23 rgLogAnchorNumber, 24 rgLogAnchorHash
    rec = entry([(0, [b"1"]), (1, [b"20250101120000.000000Z"]), (2, [b"uid=alice,dc=test"]),
                 (3, [b"cn=agent,dc=test"]), (4, [b"cn=proxy,dc=test"]), (6, [b"self-service"]),
                 (7, [b"allowed"]), (8, [b"allowed"]), (11, [b"passwordModify"]),
                 (12, [b"https://idp"]), (13, [b"2"]), (14, [b"jti-1"]), (16, [b"FALSE"]),
                 (17, [b"FALSE"]), (18, [b"0" * 64]), (19, [b"1" * 64]),
                 (20, [b"hwk", b"face"]), (21, [b"other"])])
    anchor = entry([(23, [b"1"]), (24, [b"a" * 64])])
    write("audit", "raw-one-record", b"\0" + b"\x1d" + rec)
    write("audit", "raw-anchor", b"\2" + anchor + b"\x1d" + rec + b"\x1d" + rec)
    write("audit", "raw-malformed", b"\4\x1d" + entry([(0, [b"01"]), (13, [b"-1"]), (16, [b"yes"]),
                                                       (18, [b"0" * 65]), (19, [b""]),
                                                       (2, [b"a\0b"]), (22, [b"x"])]))

    def chain_rec(flags, flags2):
        f = [b"20250101120000.000000Z", b"uid=u,dc=x", b"cn=agent,dc=x", b"uid=a,dc=x",
             b"delegated", b"allowed", b"allowed", b"ok", b"cn=p", b"passwordModify",
             b"https://idp", b"jti", b"INC-1", b"cn=proxy,dc=x"]
        return bytes([flags, flags2]) + b"\x1e".join(f) + b"\x1e"

    for name, n, corrupt, anchor_at in (("intact", 3, 0, 0), ("altered", 3, 1 | 4, 0),
                                        ("deleted", 4, 2, 0), ("duplicated", 2, 3, 0),
                                        ("anchored", 5, 0, 2)):
        write("audit", "chain-" + name, bytes([1, n, corrupt, anchor_at]) +
              b"".join(chain_rec(0xff if i % 2 else 0x10, i % 2) for i in range(n + 1)) +
              b"\3\1\2\0")


def audit_checkpoint():
    line = b"resetguard-checkpoint 1 base=cn=resetlog number=42 hash=" + b"ab" * 32 + \
        b" time=2025-01-01T12:00:00Z"
    write("audit_checkpoint", "signed", b"\0" + line + b" hmac-sha256=" + b"0f" * 32 + b"\n")
    write("audit_checkpoint", "unsigned", b"\1" + line + b"\n")
    write("audit_checkpoint", "escaped-base", b"\1resetguard-checkpoint 1 "
          b"base=ou=log%20A,dc=example number=0 hash=" + b"0" * 64 +
          b" time=2025-01-01T12:00:00Z\n")
    write("audit_checkpoint", "version-2", b"\1resetguard-checkpoint 2 base=cn=resetlog\n")
    write("audit_checkpoint", "save-signed", b"\2" + struct.pack(">Q", 1234) + b"\x80" +
          b"cn=resetlog\x1e2025")
    write("audit_checkpoint", "save-odd-base", b"\2" + struct.pack(">Q", 2 ** 64 - 1) + b"\x10" +
          "ou=caf\u00e9 log+cn=x\\,y,dc=example".encode() + b"\x1e9999")


def syncd_config():
    full = b"""# resetguard-syncd.conf
log-uri ldap://127.0.0.1:389
log-base cn=resetlog
bind-dn cn=syncd,ou=services,dc=example,dc=test
bind-password-file @D@/secret
starttls yes
tls-ca-file @D@/ca.pem
key-file @D@/p256.pem
cert-file @D@/ca.pem
state-file /var/lib/resetguard-syncd/state
metrics-listen 127.0.0.1:9464
log json
max-attempts 8
retry-base 2
retry-max 300
op-timeout 10

target legacy1 {
	type ldap
	uri ldap://127.0.0.1:3890
	bind-dn cn=admin,dc=legacy,dc=test
	bind-password-file @D@/secret
	starttls yes
	tls-ca-file @D@/ca.pem
	map-template uid=%r,ou=people,dc=legacy,dc=test
	method hash
	hash-scheme crypt-sha512
}
target ad {
	type ad
	uri ldaps://dc1.example.test
	bind-dn "cn=svc,ou=Service Accounts,dc=corp,dc=test"
	bind-password-file @D@/secret
	map-search-base dc=corp,dc=test
	map-search-filter (&(objectClass=user)(sAMAccountName=%r))
	timeout 20
}
target script {
	type exec
	command @D@/cmd
	args --account %d
	timeout 5
}
hook wh {
	type webhook
	url https://hooks.example.test/reset?src=rg
	secret-file @D@/secret
	tls-ca-file @D@/ca.pem
	timeout 5
}
hook ssf {
	type caep
	url https://[::1]:8443/events
	issuer https://resetguard.example.test
	audience https://ssf.example.test
	signing-key @D@/p256.pem
	key-id k1
	events credential-change session-revoked
}
hook run {
	type exec
	command @D@/cmd
	args one two
}
"""
    write("syncd_config", "full", full)
    write("syncd_config", "sasl-external", b"log-uri ldapi://%2Fvar%2Frun%2Fslapd%2Fldapi\n"
          b"sasl-external yes\nkey-file @D@/p256.pem\ncert-file @D@/ca.pem\n"
          b"state-file /s\nuser root\n"
          b"target t {\n type ldap\n uri ldapi://%2Frun%2Fx\n sasl-external yes\n"
          b" tls-verify no\n map-template %d\n}\n")
    write("syncd_config", "errors-typo", b"log-ur ldap://x\n")
    write("syncd_config", "errors-quote", b'bind-dn "cn=a\\,b\\q"\n')
    write("syncd_config", "errors-block", b"target a {\n type ldap\n target b {\n}\n}\n")
    write("syncd_config", "errors-secret", b"log-uri ldap://h\nbind-dn cn=x\n"
          b"bind-password-file @D@/secret\nkey-file /k\ncert-file /c\nstate-file /s\n"
          b"hook w {\n type webhook\n url http://example.test/\n secret-file @D@/secret-open\n}\n"
          b"hook c {\n type caep\n url https://h/\n issuer i\n audience a\n"
          b" signing-key @D@/ed25519.pem\n}\n"
          b"target e {\n type exec\n command @D@/cmd-open\n}\n")
    write("syncd_config", "errors-ranges", b"max-attempts 0\nretry-base 3601\n"
          b"metrics-listen 0.0.0.0:9464\nretry-max 1\nstarttls yes\nlog-uri ldaps://h\n")


def syncd_status():
    t = b"20250101120000.000000Z"
    vals = [b"legacy1 delivered attempts=1 time=" + t,
            b"legacy2 retrying attempts=3 time=" + t + b" error=connect: refused",
            b"ad failed attempts=8 time=" + t + b" error=attempts=99 in text",
            b"legacy superseded attempts=0 time=" + t]
    write("syncd_status", "parse-legacy1", b"\0legacy1\n" + b"\n".join(vals))
    write("syncd_status", "parse-prefix", b"\0legacy\n" + b"\n".join(vals))
    write("syncd_status", "parse-missing", b"\0hook1\n" + b"\n".join(vals))
    write("syncd_status", "parse-unknown-status", b"\0ad\nad bogus attempts=2 time=x\n" + vals[2])
    write("syncd_status", "format", b"\1\2" + struct.pack(">I", 5) + b"legacy1\x1e" + t +
          b"\x1eserver said: no\nsecond line")
    write("syncd_status", "format-no-error", b"\1\0" + struct.pack(">I", 0) + b"hook.ssf\x1e" + t +
          b"\x1e")


def syncd_http():
    answers = {
        "200": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "202-caep": b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        "400-caep-error": b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 56\r\n\r\n"
                          b'{"err":"invalid_request","description":"bad\\nline\\u0001"}',
        "503-chunked": b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"5\r\nhello\r\n0\r\n\r\n",
        "429-retry-after": b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 10\r\n"
                           b"Content-Length: 4\r\n\r\nslow",
        "408": b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n",
        "301": b"HTTP/1.1 301 Moved\r\nLocation: http://127.0.0.1:1/x\r\nContent-Length: 0\r\n\r\n",
        "close-delimited": b"HTTP/1.0 200 OK\r\n\r\nbody until the connection closes\x1b[31m",
        "100-continue": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        "short-body": b"HTTP/1.1 500 Oops\r\nContent-Length: 100\r\n\r\nshort",
        "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        "big-header": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 17000 + b"\r\n\r\n",
        "big-body": b"HTTP/1.1 500 Big\r\nContent-Length: 66000\r\n\r\n" + b"\x00\xff" * 33000,
    }
    for name, a in answers.items():
        # http_post, the webhook and the caep hook; the big ones once
        for mode in (0,) if len(a) > 4096 else (0, 1, 2):
            write("syncd_http", "%s-%s" % (("post", "webhook", "caep")[mode], name),
                  bytes([mode]) + a)


def main():
    if not os.path.exists(P256) or not os.path.exists(ED):
        sys.exit("mkcorpus: the test-only keys are missing from " + KEYS)
    for fn in (jws, evidence, control, policy, resetlog, audit, audit_checkpoint, syncd_config,
               syncd_status, syncd_http):
        fn()
    print("mkcorpus: seeds written under " + OUT)


if __name__ == "__main__":
    main()
