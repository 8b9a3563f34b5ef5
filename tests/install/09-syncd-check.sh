runuser -u _resetguard -- resetguard-syncd -t -f "$SYNCDIR/syncd.conf"
