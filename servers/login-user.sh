#!/bin/sh
# Create (or check) the ftps-compat login account and its PAM service.
# Usage: login-user.sh [ACCOUNT_YAML]     (default: account.yaml next to this script)
# Runs as root on the native host, inside an mmdebstrap rootfs (chroot) and in a
# Dockerfile build. POSIX sh only: no bash in the minimal images.
# Idempotent: an existing account with the right uid/gid keeps its entry (the
# password is set again); a name or id clash with something else is an error.
set -eu

account=${1:-$(dirname "$0")/account.yaml}
[ -r "$account" ] || { echo "login-user: cannot read $account" >&2; exit 1; }
get() { sed -n "s/^$1:[[:space:]]*//p" "$account" | sed 's/[[:space:]]*$//'; }
user=$(get user); password=$(get password); uid=$(get uid); gid=$(get gid)
for v in user password uid gid; do
    eval "[ -n \"\$$v\" ]" || { echo "login-user: no '$v:' in $account" >&2; exit 1; }
done

fail() { echo "login-user: $*" >&2; exit 1; }

# Group: name $user, id $gid.
if line=$(getent group "$user"); then
    [ "$(echo "$line" | cut -d: -f3)" = "$gid" ] || fail "group $user exists with gid $(echo "$line" | cut -d: -f3), expected $gid"
    echo "login-user: group $user ($gid) already present"
else
    if other=$(getent group "$gid"); then fail "gid $gid is taken by group ${other%%:*}"; fi
    groupadd -g "$gid" "$user"
    echo "login-user: created group $user ($gid)"
fi

# User: no login shell; home "/" because vsftpd chdirs to the home directory
# before local_root ("500 OOPS: cannot change directory:/nonexistent"). The FTP
# root is set per server instance by the server configs (vsftpd local_root,
# proftpd DefaultRoot, pure-ftpd virtual user).
home=/ shell=/usr/sbin/nologin
if line=$(getent passwd "$user"); then
    [ "$(echo "$line" | cut -d: -f3)" = "$uid" ] || fail "user $user exists with uid $(echo "$line" | cut -d: -f3), expected $uid"
    [ "$(echo "$line" | cut -d: -f4)" = "$gid" ] || fail "user $user exists with gid $(echo "$line" | cut -d: -f4), expected $gid"
    if [ "$(echo "$line" | cut -d: -f6)" != "$home" ] || [ "$(echo "$line" | cut -d: -f7)" != "$shell" ]; then
        usermod -d "$home" -s "$shell" "$user"
        echo "login-user: user $user: home set to $home, shell to $shell"
    fi
    echo "login-user: user $user ($uid:$gid) already present"
else
    if other=$(getent passwd "$uid"); then fail "uid $uid is taken by user ${other%%:*}"; fi
    useradd -u "$uid" -g "$gid" -M -d "$home" -s "$shell" -c "ftps-compat test login" "$user"
    echo "login-user: created user $user ($uid:$gid, home $home, shell $shell)"
fi
echo "$user:$password" | chpasswd
echo "login-user: password of $user set"

# PAM service for vsftpd (pam_service_name=ftps-compat). Debian's own
# /etc/pam.d/vsftpd ends with pam_shells, which rejects a nologin account.
mkdir -p /etc/pam.d
cat > /etc/pam.d/ftps-compat <<'PAM'
# ftps-compat test servers (vsftpd pam_service_name=ftps-compat).
# Password check against /etc/shadow only: the test account has no login shell.
auth     required  pam_unix.so
account  required  pam_unix.so
session  required  pam_permit.so
PAM
echo "login-user: wrote /etc/pam.d/ftps-compat"
