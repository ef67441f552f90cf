#!/usr/bin/env bash
# Installs meshcc: the binary, a systemd unit for the agent, a config file, a masquerade
# directory, shell completions and man pages. `--uninstall` removes exactly what an install
# put there (listed in $PREFIX/lib/meshcc/installed-files), and nothing else.
#
#   scripts/install.sh [--prefix /usr/local] [--sysconfdir /etc] [--destdir DIR]
#                      [--binary PATH] [--no-start]
#   scripts/install.sh --uninstall [--prefix /usr/local] [--destdir DIR]
#
# --destdir stages everything under DIR (for packaging): paths inside the files are the final
# ones. The unit goes to SYSCONFDIR/systemd/system, the config to SYSCONFDIR/meshcc. Only a
# real install (no --destdir, no --no-start) on a machine running systemd enables and starts
# the agent. Without --binary, it builds target/release/meshcc.
set -euo pipefail

prefix=/usr/local
sysconfdir=/etc
destdir=
binary=
start=1
uninstall=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --destdir) destdir="$2"; shift 2 ;;
    --sysconfdir) sysconfdir="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    --no-start) start=0; shift ;;
    --uninstall) uninstall=1; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option '$1'; see 'scripts/install.sh --help'." >&2; exit 2 ;;
  esac
done

libdir="$prefix/lib/meshcc"
manifest="$destdir$libdir/installed-files"
unit="$sysconfdir/systemd/system/meshcc-agent.service"
config="$sysconfdir/meshcc/agent.toml"
# Only a real install on a machine booted with systemd touches the service manager.
use_systemctl() {
  [ -z "$destdir" ] && [ "$start" = 1 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null
}

if [ "$uninstall" = 1 ]; then
  if [ ! -f "$manifest" ]; then
    echo "install.sh: no meshcc install found under $destdir$prefix (no $manifest); nothing removed." >&2
    exit 1
  fi
  if use_systemctl && systemctl list-unit-files meshcc-agent.service >/dev/null 2>&1; then
    systemctl disable --now meshcc-agent.service || true
  fi
  # Files and links first (the list itself among them), then the directories the install
  # made, deepest first; a directory somebody has since put files into stays.
  mapfile -t paths < <(tac "$manifest")
  for path in "${paths[@]}"; do
    if [ -L "$destdir$path" ] || [ -f "$destdir$path" ]; then rm -f "$destdir$path"; fi
  done
  for path in "${paths[@]}"; do
    if [ -d "$destdir$path" ] && [ ! -L "$destdir$path" ]; then rmdir "$destdir$path" 2>/dev/null || true; fi
  done
  if use_systemctl; then systemctl daemon-reload; fi
  echo "meshcc is uninstalled from $destdir$prefix (the agent's state in /var/lib/meshcc is left; remove it by hand if wanted)."
  exit 0
fi

if [ -z "$binary" ]; then
  here="$(cd "$(dirname "$0")/.." && pwd)"
  (cd "$here" && cargo build --release -p meshcc)
  binary="${CARGO_TARGET_DIR:-$here/target}/release/meshcc"
fi
if [ ! -x "$binary" ]; then
  echo "install.sh: $binary is not an executable meshcc; build it (cargo build --release -p meshcc) or give --binary PATH." >&2
  exit 1
fi

staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
# The list of what this install creates; it lands in $libdir last, as a file of its own.
list="$staging/installed-files"
: > "$list"
# A reinstall keeps what the first install made on the list (its directories exist now, and
# would not be recorded again).
if [ -f "$manifest" ]; then cat "$manifest" > "$list"; fi
[ -z "$destdir" ] || mkdir -p "$destdir"
# Records a directory we create (only if it did not exist) or a file we write.
new_dir() {
  local d
  for d in "$@"; do
    local missing=() p="$d"
    while [ "$p" != / ] && [ ! -d "$destdir$p" ]; do missing=("$p" "${missing[@]}"); p="$(dirname "$p")"; done
    for p in "${missing[@]}"; do mkdir "$destdir$p"; echo "$p" >> "$list"; done
  done
}
put() { # put MODE SOURCE-FILE DEST
  new_dir "$(dirname "$3")"
  install -m "$1" "$2" "$destdir$3"
  echo "$3" >> "$list"
}

put 0755 "$binary" "$prefix/bin/meshcc"
installed="$destdir$prefix/bin/meshcc"

# The masquerade directory: links to the final path of the binary.
masq="$libdir/masquerade"
new_dir "$masq"
"$installed" setup-masquerade "$destdir$masq" --meshcc "$prefix/bin/meshcc" >/dev/null
for link in "$destdir$masq"/*; do echo "$masq/$(basename "$link")" >> "$list"; done

# Completions and man pages.
"$installed" completions bash > "$staging/meshcc.bash"
"$installed" completions zsh > "$staging/_meshcc"
"$installed" completions fish > "$staging/meshcc.fish"
put 0644 "$staging/meshcc.bash" "$prefix/share/bash-completion/completions/meshcc"
put 0644 "$staging/_meshcc" "$prefix/share/zsh/site-functions/_meshcc"
put 0644 "$staging/meshcc.fish" "$prefix/share/fish/vendor_completions.d/meshcc.fish"
"$installed" man --out-dir "$staging/man1"
for page in "$staging"/man1/*.1; do put 0644 "$page" "$prefix/share/man/man1/$(basename "$page")"; done

# The agent's config file: every option commented out, so the defaults hold until edited.
# An existing one is the administrator's and is kept.
if [ ! -e "$destdir$config" ]; then
  cat > "$staging/agent.toml" <<TOML
# meshcc agent settings; the keys are \`meshcc agent\`'s long options (see \`meshcc agent --help\`).
# state_dir = "/var/lib/meshcc"
# listen = ["/ip4/0.0.0.0/tcp/7070"]
# peer = ["/ip4/192.0.2.10/tcp/7070"]    # where multicast does not reach
# slots = 4
# no_remote = false
# mesh_key = "/etc/meshcc/mesh.key"       # a private mesh: head -c 32 /dev/urandom | base64 > mesh.key
# no_mdns = false
# store_limit_mb = 10240
TOML
  put 0644 "$staging/agent.toml" "$config"
fi

cat > "$staging/meshcc-agent.service" <<UNIT
[Unit]
Description=meshcc agent: peer-to-peer distributed C/C++ compiles
Documentation=man:meshcc(1) man:meshcc-agent(1)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
# Root: the sandbox stages each job's root, then drops to an unprivileged user.
ExecStart=$prefix/bin/meshcc agent --config $config --state-dir /var/lib/meshcc
Environment=MESHCC_LOG_LEVEL=info
StateDirectory=meshcc
Restart=on-failure
RestartSec=2s
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
UNIT
put 0644 "$staging/meshcc-agent.service" "$unit"

echo "$libdir/installed-files" >> "$list"
awk '!seen[$0]++' "$list" > "$list.unique"
install -m 0644 "$list.unique" "$manifest"

if use_systemctl; then
  systemctl daemon-reload
  systemctl enable --now meshcc-agent.service
fi

cat <<DONE
meshcc is installed in $destdir$prefix.
  service:     $destdir$unit $(use_systemctl && echo "(enabled and started: systemctl status meshcc-agent)" || echo "(not started)")
  no systemd:  setsid -f $prefix/bin/meshcc agent --config $config </dev/null >>/var/log/meshcc-agent.log 2>&1
  masquerade:  export PATH=$masq:\$PATH
  check:       meshcc doctor
  uninstall:   scripts/install.sh --uninstall --prefix $prefix${destdir:+ --destdir $destdir}
DONE
