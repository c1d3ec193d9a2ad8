#!/usr/bin/env bash
# The SIPA check as admins script it today, one step after another with dig and curl: the
# baseline that `cargo run --release --example bench` times sipa-check against. It makes the
# same checks as scenarios/bench/office365-lab.toml, against the same lab, and really checks:
# any wrong answer makes it exit 1.
#
#   ci/sequential-check.sh --dns 127.0.0.1:PORT --http-port PORT --https-port PORT \
#       --cacert LAB-CA.pem [--anchor 127.0.0.2] [--samples 3]
#
# (the ports and CA are what `sipa-check lab --serve` prints). For each login host and port: dig
# the name against the lab DNS, then curl the login URL through the lab gateway (port 80: a 301
# to https; port 443: the OpenID configuration with an issuer, the chain checked against the lab
# CA). Then for each echo observer: dig its name and curl it N times, each on a new connection;
# the canary must always show the anchor IP, the control never.
#
# Like a canary-only scenario, its echo checks prove the shared path (forwarding rule, gateway,
# connectors), not that each login host is in the segment: the login-host checks pass whether or
# not a host is anchored (sipa-check calls this "path only").
#
# Only loopback is ever contacted: a DNS server or an answer outside 127.0.0.0/8 is an error.
# Exit codes: 0 all checks passed, 1 a check failed, 2 bad usage or dig/curl missing.
set -uo pipefail

HOSTS=(login.microsoftonline.com login.windows.net login.microsoft.com)
PORTS=(80 443)
CANARY=canary.sipa-lab.test
CONTROL=control.sipa-lab.test
OPENID_PATH=/common/.well-known/openid-configuration
ANCHOR=127.0.0.2
SAMPLES=3
DNS= HTTP_PORT= HTTPS_PORT= CACERT=

usage() {
  sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --dns) DNS=${2:-}; shift 2 ;;
    --http-port) HTTP_PORT=${2:-}; shift 2 ;;
    --https-port) HTTPS_PORT=${2:-}; shift 2 ;;
    --cacert) CACERT=${2:-}; shift 2 ;;
    --anchor) ANCHOR=${2:-}; shift 2 ;;
    --samples) SAMPLES=${2:-}; shift 2 ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
[ -n "$DNS" ] && [ -n "$HTTP_PORT" ] && [ -n "$HTTPS_PORT" ] && [ -n "$CACERT" ] || usage
for tool in dig curl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: $tool is missing (dig: apt-get install bind9-dnsutils; curl: apt-get install curl)" >&2
    exit 2
  fi
done

is_loopback() { [[ "$1" =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]]; }

DNS_IP=${DNS%:*}
DNS_PORT=${DNS##*:}
is_loopback "$DNS_IP" || { echo "error: --dns $DNS is not a loopback address" >&2; exit 2; }

failures=0
pass() { printf 'PASS  %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*"; failures=$((failures + 1)); }

# Sets ADDR to the first A record of $1 from the lab DNS; fails unless it is loopback.
resolve() {
  ADDR=$(dig "@$DNS_IP" -p "$DNS_PORT" +short +time=3 +tries=1 A "$1" 2>&1 | grep -m1 -E '^[0-9.]+$')
  if [ -z "$ADDR" ]; then
    fail "$1 resolve: no A record"
    return 1
  fi
  if ! is_loopback "$ADDR"; then
    fail "$1 resolve: $ADDR is not loopback, not contacting it"
    return 1
  fi
  pass "$1 resolve: $ADDR"
}

# curl through the lab gateway: $1 host, $2 port, $3 resolved address, then curl arguments.
lab_curl() {
  local host=$1 port=$2 addr=$3
  shift 3
  local gateway_port=$HTTP_PORT
  [ "$port" = 443 ] && gateway_port=$HTTPS_PORT
  curl -q -sS --max-time 5 --noproxy '*' --cacert "$CACERT" \
    --connect-to "$host:$port:$addr:$gateway_port" "$@"
}

for host in "${HOSTS[@]}"; do
  for port in "${PORTS[@]}"; do
    resolve "$host" || continue
    addr=$ADDR
    if [ "$port" = 80 ]; then
      got=$(lab_curl "$host" 80 "$addr" -o /dev/null -w '%{http_code} %{redirect_url}' "http://$host/")
      if [[ "$got" == "301 https://$host/"* ]]; then
        pass "$host:80 http redirect: $got"
      else
        fail "$host:80 http redirect: expected 301 to https://$host/, got '$got'"
      fi
    else
      body=$(lab_curl "$host" 443 "$addr" -w '\n%{http_code}' "https://$host$OPENID_PATH")
      status=${body##*$'\n'}
      if [ "$status" = 200 ] && grep -q '"issuer":"[^"]' <<<"$body"; then
        pass "$host:443 openid-configuration: 200 with an issuer"
      else
        fail "$host:443 openid-configuration: got status '$status'"
      fi
    fi
  done
done

# role: anchored (every sample must be the anchor) or control (no sample may be).
check_echo() {
  local host=$1 port=$2 role=$3 scheme=http addr seen ok=1 i
  [ "$port" = 443 ] && scheme=https
  resolve "$host" || return
  addr=$ADDR
  local ips=()
  for ((i = 0; i < SAMPLES; i++)); do
    seen=$(lab_curl "$host" "$port" "$addr" "$scheme://$host/echo/ip")
    ips+=("${seen:-<nothing>}")
    if [ "$role" = anchored ] && [ "$seen" != "$ANCHOR" ]; then ok=0; fi
    if [ "$role" = control ] && { [ "$seen" = "$ANCHOR" ] || ! [[ "$seen" =~ ^[0-9a-fA-F:.]+$ ]]; }; then
      ok=0
    fi
  done
  if [ "$ok" = 1 ]; then
    pass "$host:$port egress $role: ${ips[*]}"
  else
    fail "$host:$port egress $role: saw ${ips[*]} (anchor $ANCHOR)"
  fi
}

for port in "${PORTS[@]}"; do
  check_echo "$CANARY" "$port" anchored
  check_echo "$CONTROL" "$port" control
done

if [ "$failures" -gt 0 ]; then
  echo "FAIL: $failures check(s) failed"
  exit 1
fi
echo "PASS: every check passed"
