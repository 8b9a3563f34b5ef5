#!/usr/bin/python3
# A reset with the proofing control, by python-ldap (python3-ldap):
# the Password Modify operation.
import os
import sys

import ldap
from ldap.controls import LDAPControl

PROOFING_OID = "2.25.30299494411348485370983023088693649332.3.1"
env = os.environ

conn = ldap.initialize(env["LDAP_URI"])
conn.simple_bind_s(env["BIND_DN"], env["BIND_PW"])
# The token, as bytes, goes in encodedControlValue: the third positional
# argument is controlValue, which the base LDAPControl never encodes.
proofing = LDAPControl(PROOFING_OID, True,
                       encodedControlValue=env["TOKEN"].encode())
try:
    conn.passwd_s(env["TARGET_DN"], None, env["NEW_PW"],
                  serverctrls=[proofing])
except ldap.LDAPError as e:
    err = e.args[0]  # {'result': 19, 'desc': ..., 'info': ...}
    print(f"{type(e).__name__} {err['result']} ({err['desc']}): "
          f"{err.get('info', '')}", file=sys.stderr)
    sys.exit(1)
print("password set")
