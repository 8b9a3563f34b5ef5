#!/usr/bin/python3
# The mistake to avoid with python-ldap: LDAPControl(OID, True, token)
# puts the token in controlValue, which the base class does not encode:
# the control goes without a value, and slapd refuses the operation
# with protocolError (2).
import os
import sys

import ldap
from ldap.controls import LDAPControl

PROOFING_OID = "2.25.30299494411348485370983023088693649332.3.1"
env = os.environ

conn = ldap.initialize(env["LDAP_URI"])
conn.simple_bind_s(env["BIND_DN"], env["BIND_PW"])
wrong = LDAPControl(PROOFING_OID, True, env["TOKEN"].encode())
try:
    conn.passwd_s(env["TARGET_DN"], None, env["NEW_PW"],
                  serverctrls=[wrong])
except ldap.PROTOCOL_ERROR as e:
    print(f"PROTOCOL_ERROR: {e.args[0].get('info', '')}", file=sys.stderr)
    sys.exit(1)
print("password set")
