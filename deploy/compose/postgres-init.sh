#!/bin/sh
# Creates TelaMentis's database and its two roles on the first start of the
# postgres service (docs/deploy/postgres.md, "Roles"): the owner, which runs
# `telamentis migrate`, and the service role, which `telamentis serve` uses
# and which owns nothing and cannot bypass row-level security. The passwords
# come from the secret files init.sh wrote; psql passes them as variables,
# never on a command line.
set -eu
owner_pw=$(cat /run/secrets/pg-owner-password)
service_pw=$(cat /run/secrets/pg-service-password)
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
	-v owner_pw="$owner_pw" -v service_pw="$service_pw" <<'SQL'
CREATE ROLE telamentis_owner LOGIN PASSWORD :'owner_pw' NOSUPERUSER NOCREATEROLE NOCREATEDB NOBYPASSRLS;
CREATE ROLE telamentis LOGIN PASSWORD :'service_pw' NOSUPERUSER NOCREATEROLE NOCREATEDB NOBYPASSRLS;
CREATE DATABASE telamentis OWNER telamentis_owner;
REVOKE ALL ON DATABASE telamentis FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE telamentis TO telamentis;
\c telamentis
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
