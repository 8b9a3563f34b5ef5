SUFFIX='dc=example,dc=com'             # the suffix of the database to govern
ISSUER='https://proofing.example.com'  # the proofing service's name (iss of its tokens)
LDAPI='ldapi:///'                      # slapd's ldapi socket (Debian's is the default)
LOGDIR=/var/lib/ldap/resetlog          # the directory of the reset log database
KEYDIR=/etc/ldap/resetguard            # the public keys slapd reads
SYNCDIR=/etc/resetguard                # resetguard-syncd's configuration and secrets
ROOTAUTH=-W                            # -W asks for the rootdn's password, -y FILE reads it
