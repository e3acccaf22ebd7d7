# Installs what deskready's demo and tests need on a Debian machine. Sourced by
# scripts/test and scripts/demo; safe to run again (installs only what is missing).

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages: the lab's real devices (OpenSSH), print server (CUPS) and printers
# (ippeveprinter, which needs avahi and dbus), busybox and csh (a device whose /bin/sh is
# busybox, a root whose login shell is csh), full lab devices (systemd-nspawn over a
# debootstrapped base root), PostgreSQL (the team store's tests start private clusters),
# the signed apt repository tests build for full devices (dpkg-deb, apt-ftparchive from
# apt-utils, gpg), a headless browser for the report test and handoff PDFs (chromium) and
# poppler-utils to check those PDFs (pdftotext, pdftoppm), plus what ssh2's C library
# builds with.
DESKREADY_PACKAGES="shellcheck postgresql busybox-static csh openssh-server openssh-client sudo chromium poppler-utils cups cups-client cups-ipp-utils avahi-daemon dbus systemd-container debootstrap apt-utils gnupg libssl-dev pkg-config gcc make ca-certificates curl"

ensure_packages() {
    local missing=()
    for p in $DESKREADY_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        echo "installing the Rust toolchain with rustup"
        curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
}

# The base root of full lab devices (Debian bookworm with systemd and sshd), made once per
# machine by scripts/lab-base; DESKREADY_LAB_BASE names where it is.
ensure_lab_base() {
    DESKREADY_LAB_BASE="$(as_root "$(dirname "${BASH_SOURCE[0]}")/lab-base")"
    export DESKREADY_LAB_BASE
}
