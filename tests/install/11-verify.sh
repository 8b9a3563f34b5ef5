resetguard-audit -Y EXTERNAL -H "$LDAPI" verify
