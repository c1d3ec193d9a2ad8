#!/usr/bin/env bash
# Builds the Debian package with cargo-deb, installs it with dpkg, checks what a technician
# meets (the binary and its version, a man page per command, the bash completion offering fault
# names, the zsh and fish completions, the service unit under systemd-analyze verify, the
# configuration as a conffile that `serve --check` accepts), then removes and purges it and
# checks nothing is left. Run by .ci/run after the build; by hand: `sudo packaging/check-deb.sh`.
# Needs root (dpkg -i); otherwise it says so and checks nothing. Set KEEP_DEB=1 to keep the .deb.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "note: packaging/check-deb.sh needs root (dpkg -i): the Debian package was NOT checked" >&2
  exit 0
fi
if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "cargo-deb is missing: cargo install cargo-deb --locked" >&2
  exit 1
fi
apt_install() {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
command -v man >/dev/null 2>&1 || apt_install man-db
command -v systemd-analyze >/dev/null 2>&1 || apt_install systemd

if dpkg -s sipa-check >/dev/null 2>&1; then
  echo "sipa-check is installed already: purging it before the check" >&2
  dpkg -P sipa-check >/dev/null
fi
if [ -e /usr/bin/sipa-check ]; then
  echo "/usr/bin/sipa-check exists and is no package's: cannot check that removal removes it" >&2
  exit 1
fi

fail() { echo "check-deb: $*" >&2; exit 1; }
cleanup() {
  dpkg -P sipa-check >/dev/null 2>&1 || true
  [ "${KEEP_DEB:-0}" = 1 ] || rm -rf target/debian
  # target/sipa-check holds cargo-deb's stripped-binary scratch file.
  rm -rf target/assets target/sipa-check
}
trap cleanup EXIT

cargo build --locked --release
packaging/assets.sh target/release/sipa-check target/assets
cargo deb --locked --no-build --output target/debian/
deb=$(ls target/debian/sipa-check_*.deb)
echo "built $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'

dpkg -i "$deb"

# The binary on PATH, the same build as target/release.
want=$(target/release/sipa-check --version)
got=$(/usr/bin/sipa-check --version)
[ "$got" = "$want" ] || fail "installed --version says '$got', the build '$want'"
grep -Eq '^sipa-check [0-9]+\.[0-9]+\.[0-9]+ \(commit ([0-9a-f]{12}|unknown)\)$' <<<"$got" \
  || fail "--version is not 'sipa-check X.Y.Z (commit C)': $got"
echo "ok: $got"

# One man page per command, found by man.
pages=0
for page in target/assets/man/*.1; do
  name=$(basename "$page" .1)
  man -w "$name" >/dev/null || fail "man -w $name finds nothing"
  pages=$((pages + 1))
done
[ "$pages" -ge 13 ] || fail "only $pages man pages"
man -w sipa-check-run
MANWIDTH=100 man sipa-check-run 2>/dev/null | grep -q "EXIT STATUS" || fail "man sipa-check-run has no EXIT STATUS"
echo "ok: $pages man pages"

# The bash completion offers fault names (not files) after `lab --fault`.
completion=/usr/share/bash-completion/completions/sipa-check
offered=$(cd /tmp && bash -c '
  source "$1"
  f=$(complete -p sipa-check | sed -E "s/.*-F ([^ ]+).*/\1/")
  COMP_WORDS=(sipa-check lab --fault ""); COMP_CWORD=3
  "$f" sipa-check "" --fault
  printf "%s\n" "${COMPREPLY[@]}"' _ "$completion")
grep -qx one-domain-unanchored <<<"$offered" || fail "bash completion does not offer one-domain-unanchored: $offered"
echo "ok: bash completes $(wc -l <<<"$offered") fault names"
for f in /usr/share/zsh/vendor-completions/_sipa-check /usr/share/fish/vendor_completions.d/sipa-check.fish; do
  grep -q one-domain-unanchored "$f" || fail "$f lacks the fault names"
done
echo "ok: zsh and fish completions"

# The shipped files.
for f in /usr/share/sipa-check/office365.toml /usr/share/sipa-check/monitoring/sipa-check-rules.yml \
  /usr/share/doc/sipa-check/copyright; do
  [ -s "$f" ] || fail "$f is missing"
done
/usr/bin/sipa-check validate /usr/share/sipa-check/office365.toml >/dev/null \
  || fail "the installed template does not validate"

# The service: its unit verifies, its configuration is a conffile that serve --check accepts.
unit=$(dpkg -L sipa-check | grep '/systemd/system/sipa-check\.service$') || fail "no sipa-check.service"
systemd-analyze verify "$unit" || fail "systemd-analyze verify $unit"
for key in DynamicUser=yes ProtectSystem=strict NoNewPrivileges=yes Restart=on-failure \
  'ExecStart=/usr/bin/sipa-check serve /etc/sipa-check/serve.toml' ConfigurationDirectory=sipa-check; do
  grep -qx "$key" "$unit" || fail "$unit lacks $key"
done
dpkg-query -W -f='${Conffiles}\n' sipa-check | grep -q ' /etc/sipa-check/serve.toml ' \
  || fail "/etc/sipa-check/serve.toml is not a conffile"
/usr/bin/sipa-check serve --check /etc/sipa-check/serve.toml >/dev/null \
  || fail "serve --check refuses the installed /etc/sipa-check/serve.toml"
echo "ok: $unit verifies; /etc/sipa-check/serve.toml is a conffile serve --check accepts"

# Removal takes the binary and keeps the configuration; purge takes the configuration too.
dpkg -r sipa-check >/dev/null
[ ! -e /usr/bin/sipa-check ] || fail "dpkg -r left /usr/bin/sipa-check"
[ ! -e "$completion" ] || fail "dpkg -r left $completion"
[ -e /etc/sipa-check/serve.toml ] || fail "dpkg -r removed the conffile"
dpkg -P sipa-check >/dev/null
[ ! -e /etc/sipa-check/serve.toml ] || fail "dpkg -P left /etc/sipa-check/serve.toml"
! dpkg -s sipa-check >/dev/null 2>&1 || fail "sipa-check is still known to dpkg"
echo "ok: removed and purged cleanly"
echo "check-deb: the Debian package passed"
