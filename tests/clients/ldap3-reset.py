#!/usr/bin/python3
# A reset with the proofing control, by ldap3 (python3-ldap3): the
# Password Modify operation. A control is a tuple (OID, criticality,
# value); the value is sent as it is.
import os
import sys

from ldap3 import Connection, Server

PROOFING_OID = "2.25.30299494411348485370983023088693649332.3.1"
env = os.environ

conn = Connection(Server(env["LDAP_URI"]), env["BIND_DN"], env["BIND_PW"],
                  auto_bind=True)
ok = conn.extend.standard.modify_password(
    env["TARGET_DN"], new_password=env["NEW_PW"],
    controls=[(PROOFING_OID, True, env["TOKEN"].encode())])
if not ok:
    r = conn.result  # {'result': 19, 'description': ..., 'message': ...}
    print(f"{r['description']} {r['result']}: {r['message']}",
          file=sys.stderr)
    sys.exit(1)
print("password set")
