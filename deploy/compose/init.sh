#!/bin/sh
# Writes the secrets deploy/compose.yaml needs into deploy/compose/secrets/
# (never committed) and deploy/.env (the secrets' group id), then says how
# to start. Run it once from anywhere:
#
#   deploy/compose/init.sh && docker compose -f deploy/compose.yaml up -d
#
# Every secret is random; nothing is a default. Files are mode 0640 with
# your group: the containers read them through that group (group_add), so
# no other user on this machine can. It needs openssl for the self-signed
# TLS certificate; replace secrets/tls.crt and tls.key with your own at will.
# It refuses to overwrite existing secrets (the database has their
# passwords); remove deploy/compose/secrets and the compose volumes to start over.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir="$here/secrets"
if [ -e "$dir" ]; then
	echo "init.sh: $dir exists; not overwriting it" >&2
	exit 1
fi
umask 027
mkdir -m 0750 "$dir"

rand() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
b32() { head -c "$1" /dev/urandom | base32 | tr 'A-Z' 'a-z' | tr -d '=\n'; }
put() { printf '%s' "$2" >"$dir/$1"; chmod 0640 "$dir/$1"; }

owner_pw=$(rand 24)
service_pw=$(rand 24)
redis_pw=$(rand 24)
put pg-superuser-password "$(rand 24)"
put pg-owner-password "$owner_pw"
put pg-service-password "$service_pw"
put pg-owner-dsn "postgres://telamentis_owner:$owner_pw@postgres:5432/telamentis?sslmode=disable"
put pg-service-dsn "postgres://telamentis:$service_pw@postgres:5432/telamentis?sslmode=disable"
put redis-password "$redis_pw"
put redis.conf "requirepass $redis_pw
"
put master-key "$(rand 32)"
put admin-token "$(rand 32)"
# An API key token: tm_<16 base32>_<52 base32>, the first system admin.
put bootstrap-admin-key "tm_$(b32 10 | cut -c1-16)_$(b32 40 | cut -c1-52)"
# kgctl wants its key file readable by you alone.
cp "$dir/bootstrap-admin-key" "$dir/kgctl-admin-key"
chmod 0600 "$dir/kgctl-admin-key"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
	-subj /CN=localhost -addext "subjectAltName=DNS:localhost,DNS:telamentis,IP:127.0.0.1" \
	-keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
chmod 0640 "$dir/tls.key" "$dir/tls.crt"

printf 'TELAMENTIS_SECRETS_GID=%s\n' "$(id -g)" >"$here/../.env"

cat <<MSG
Secrets written to $dir.
Start:   docker compose -f deploy/compose.yaml up -d
Admin:   the system admin API key is in $dir/kgctl-admin-key
Client:  TELAMENTIS_ENDPOINT=https://localhost:8443 TELAMENTIS_CA_CERT=$dir/tls.crt \\
         TELAMENTIS_API_KEY_FILE=$dir/kgctl-admin-key kgctl tenant list
MSG
