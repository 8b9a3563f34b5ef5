SUFFIX='dc=example,dc=com'             # the database to govern
ISSUER='https://proofing.example.com'  # iss of the proofing tokens
LDAPI='ldapi:///'                      # slapd's ldapi socket
LOGDIR=/var/lib/ldap/resetlog          # the reset log's directory
KEYDIR=/etc/ldap/resetguard            # public keys, read by slapd
SYNCDIR=/etc/resetguard                # syncd's configuration, secrets
ROOTAUTH=-W                            # or -y FILE: the rootdn password
