#!/usr/bin/env bash
# Debian's cloud-init for tests/interop_userdata.rs: the package is
# downloaded and unpacked (never installed, never committed) into
# target/interop/cloud-init/, and the Debian Python modules it imports are
# installed with apt, so that Debian's /usr/bin/python3 can run its
# cloudinit.user_data.UserDataProcessor and `cloud-init schema`.
set -euo pipefail
root_dir="$(cd "$(dirname "$0")/.." && pwd)"
debs="$root_dir/target/interop/debs"
extract="$root_dir/target/interop/cloud-init"
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
mkdir -p "$debs" "$extract"

py_pkgs=(python3-yaml python3-jinja2 python3-jsonschema python3-configobj python3-jsonpatch
  python3-requests python3-oauthlib python3-netifaces)
missing=()
for p in "${py_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "interop-cloud-init: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! ls "$debs"/cloud-init_*.deb >/dev/null 2>&1; then
  echo "interop-cloud-init: downloading cloud-init"
  (cd "$debs" && apt-get download -q -o APT::Sandbox::User="$(id -un)" cloud-init >/dev/null)
fi
deb="$(ls "$debs"/cloud-init_*.deb | tail -1)"
dpkg -x "$deb" "$extract"
echo "interop-cloud-init: extracted $(basename "$deb") into ${extract#"$root_dir"/}"
PYTHONPATH="$extract/usr/lib/python3/dist-packages" /usr/bin/python3 -c \
  'import cloudinit.user_data, cloudinit.config.schema' &&
  echo "interop-cloud-init: ok cloudinit.user_data" || { echo "interop-cloud-init: MISSING python modules" >&2; exit 1; }
