# Sourced by scripts/install.sh and benchmarks/setup.sh.
# apt_install PKG... — installs Debian packages quietly, through sudo when not root.
apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
