systemctl enable --now resetguard-syncd
systemctl status resetguard-syncd
