# Sourced by interop-setup.sh and interop-hvm.sh (needs "${sudo[@]}"):
# `ensure_backports` adds Debian's bookworm-backports suite, from the mirror
# this machine already uses, when apt's sources lack it, and runs
# `apt-get update` after adding it. Tools the tests need newer than bookworm
# ships come from there: QEMU 10 (matching the machine's qemu-utils) and
# btrfs-progs >= 6.13 (mkfs.btrfs --compress/--subvol).
backports_list=/etc/apt/sources.list.d/bookworm-backports.list
has_backports() {
  grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null
}
ensure_backports() {
  has_backports && return 0
  local mirror
  mirror="$(grep -rhsE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | head -n 1)"
  [ -n "$mirror" ] || mirror="$(grep -hsE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | grep -v security | awk '{print $2}' | head -n 1)"
  if [ -z "$mirror" ]; then
    echo "interop: no Debian mirror configured in apt's sources; cannot add bookworm-backports" >&2
    return 1
  fi
  echo "interop: adding bookworm-backports ($backports_list)"
  echo "deb $mirror bookworm-backports main" | "${sudo[@]}" tee "$backports_list" >/dev/null
  "${sudo[@]}" apt-get update -q >/dev/null || true
}
