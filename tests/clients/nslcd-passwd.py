#!/usr/bin/python3
# What nslcd (nss-pam-ldapd, behind PAM's passwd) sends for a user's own
# password change, in python-ldap: on a new connection bound as the user
# with the old password, Password Modify without the old password, then,
# if that fails, with it (myldap_passwd() in nslcd/myldap.c). No control.
import os
import sys

import ldap

env = os.environ
user, old, new = env["TARGET_DN"], env["OLD_PW"], env["NEW_PW"]

conn = ldap.initialize(env["LDAP_URI"])
conn.simple_bind_s(user, old)
try:
    conn.passwd_s(user, None, new)
except ldap.LDAPError as e:
    print(f"without the old password: {e.args[0].get('info', '')}",
          file=sys.stderr)
    conn.passwd_s(user, old, new)
print("password changed")
