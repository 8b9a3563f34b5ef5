#!/usr/bin/python3
"""A replace of DN's userPassword inside an LDAP transaction (RFC 5805), then its commit, as
`ldapmodify -E txn=commit` sends them, with one difference: the commit waits a moment after
the Modify's answer. slapd 2.5.13's txn_preop queues the operation on the transaction and
lets the connection go before it sends that answer, so a commit arriving at once can run and
free the operation while the answer's sending still uses it: slapd crashed that way in this
test now and then, with or without resetguard. An attacker may do it; a test must not, or it
measures the race instead of the overlay.

Prints the commit's result as ldapmodify does and exits with its code (0 on success).
usage: txn-modify.py URI BINDDN PASSWORD DN NEWPASSWORD [-e OID=BASE64VALUE]"""
import base64
import sys
import time

import ldap
import ldap.extop
from ldap.controls import RequestControl

TXN_START, TXN_SPEC, TXN_END = "1.3.6.1.1.21.1", "1.3.6.1.1.21.2", "1.3.6.1.1.21.3"


def der_octets(tag, body):
    assert len(body) < 128, "short DER lengths only"
    return bytes([tag, len(body)]) + body


def main(argv):
    if len(argv) not in (6, 8) or (len(argv) == 8 and argv[6] != "-e"):
        sys.exit(__doc__.strip().splitlines()[-1])
    uri, binddn, password, dn, newpw = argv[1:6]
    ctrls = []
    if len(argv) == 8:
        oid, _, value = argv[7].partition("=")
        ctrls.append(RequestControl(oid, True, base64.b64decode(value)))
    conn = ldap.initialize(uri)
    conn.protocol_version = 3
    step = "bind"
    try:
        conn.simple_bind_s(binddn, password)
        step = "transaction start"
        _, txn_id = conn.extop_s(ldap.extop.ExtendedRequest(TXN_START, None))
        step = "modify"
        conn.modify_ext_s(dn, [(ldap.MOD_REPLACE, "userPassword", [newpw.encode()])],
                          serverctrls=ctrls + [RequestControl(TXN_SPEC, True, txn_id)])
        time.sleep(0.2)
        step = "transaction end"
        # TxnEndReq ::= SEQUENCE { commit BOOLEAN DEFAULT TRUE, identifier OCTET STRING }
        conn.extop_s(ldap.extop.ExtendedRequest(TXN_END, der_octets(0x30, der_octets(0x04, txn_id))))
    except ldap.LDAPError as e:
        info = e.args[0] if e.args and isinstance(e.args[0], dict) else {}
        code = info.get("result", 1)
        print("%s: %s (%d)" % (step, info.get("desc", str(e)), code))
        if info.get("info"):
            print("\tadditional info: %s" % info["info"])
        return code
    finally:
        conn.unbind_s()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
