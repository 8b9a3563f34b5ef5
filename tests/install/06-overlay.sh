rgldif 07-overlay.ldif | ldapadd -Q -Y EXTERNAL -H "$LDAPI"
