#!/usr/bin/env python3
"""Prepares one contender's inputs from a bench site copy whose lab is up (not timed).

    prepare.py DESKREADY SITE OUTDIR

Reads the devices (tag, assignee, desk, profile vars) with `deskready devices` and their
lab addresses with `deskready lab status`, then writes into OUTDIR:

- hosts.json            [{tag, host, port, key, vars...}] (for reference)
- ansible-inventory.yml the devices with their per-device variables (JSON is valid YAML)
- pyinfra_inventory.py  the same for pyinfra
- scripts/TAG.sh        the pre-rendered POSIX shell script for the device (OpenSSH, floor)
- manifest.tsv          HOST:PORT<TAB>scripts/TAG.sh, one line per device

Templates are rendered with Jinja2 from bench/ansible/templates (the same text as the
bench site's Tera templates; bench/run checks the files the contenders write are identical).
Runs with the bench venv's python (Jinja2 comes with ansible-core).
"""

import json
import os
import shlex
import subprocess
import sys

import jinja2

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The profile's variables (bench/site/profiles/bench.yaml).
HELPDESK_PHONE = "+44 20 7946 0000"
APP_PORT = "8443"


def dr_json(dr, site, *args):
    out = subprocess.run(
        [dr, "--site", site, "--format", "json", *args], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)


def shell_script(d, env):
    """One script doing the whole workload, idempotent, with the same guarantees as
    deskready's: contents staged first, files replaced by temp + chmod + sync + rename only
    when they differ, modes fixed, guarded commands, a line added when missing, the verify
    check. Prints `BENCH changed=N` last."""
    q = shlex.quote
    files = [
        ("/etc/bench/owner.conf", "owner.conf.j2", "644"),
        ("/etc/bench/motd", "motd.j2", "644"),
        ("/etc/bench/app.ini", "app.ini.j2", "640"),
    ]
    s = [
        "set -eu",
        "umask 022",
        "export LC_ALL=C",
        "changed=0",
        'T=$(mktemp -d); trap \'rm -rf "$T"\' EXIT',
    ]
    # Stage every file's content (quoted heredocs: no expansion).
    for i, (_, tpl, _) in enumerate(files):
        content = env.get_template(tpl).render(**d)
        assert "BENCH_EOF" not in content
        s.append(f"cat > \"$T/f{i}\" <<'BENCH_EOF'\n{content}BENCH_EOF" if content.endswith("\n")
                 else f"printf %s {q(content)} > \"$T/f{i}\"")
    # directory /etc/bench 0755
    s.append(
        'p=/etc/bench; if [ ! -d "$p" ] || [ "$(stat -c %a "$p")" != 755 ]; then '
        'mkdir -p "$p" && chmod 755 "$p"; changed=$((changed+1)); fi'
    )
    for i, (path, _, mode) in enumerate(files):
        s.append(
            f"p={q(path)}; if ! cmp -s \"$T/f{i}\" \"$p\"; then t=\"$p.bench-$$\"; "
            f"cp \"$T/f{i}\" \"$t\" && chmod {mode} \"$t\" && sync \"$t\" && mv -f \"$t\" \"$p\"; "
            f"changed=$((changed+1)); "
            f"elif [ \"$(stat -c %a \"$p\")\" != {mode} ]; then chmod {mode} \"$p\"; changed=$((changed+1)); fi"
        )
    # command, creates:
    s.append(
        "if [ ! -e /etc/bench/first-run ]; then "
        "sh -c 'date -u +%Y-%m-%dT%H:%M:%SZ > /etc/bench/first-run' </dev/null >/dev/null; "
        "changed=$((changed+1)); fi"
    )
    # command, unless:
    user = q(d["assignee_username"])
    s.append(
        f"if ! id -u {user} >/dev/null 2>&1; then "
        f"useradd --create-home --comment {q(d['assignee_name'])} {user} </dev/null >/dev/null; "
        "changed=$((changed+1)); fi"
    )
    # line in a file
    line = f"Support: {d['helpdesk_phone']}"
    s.append(
        f"p=/etc/issue.net; l={q(line)}; if ! grep -qxF -e \"$l\" \"$p\" 2>/dev/null; then "
        't="$p.bench-$$"; { [ ! -e "$p" ] || cp -p "$p" "$t"; } && '
        '{ [ ! -s "$t" ] || [ "$(tail -c 1 "$t" | wc -l)" = 1 ] || echo >> "$t"; } && '
        "printf '%s\\n' \"$l\" >> \"$t\" && sync \"$t\" && mv -f \"$t\" \"$p\"; "
        "changed=$((changed+1)); fi"
    )
    # verify
    s.append(
        f"grep -qF {q(d['tag'])} /etc/bench/owner.conf || {{ echo 'verify failed: owner file'; exit 1; }}"
    )
    s.append('echo "BENCH changed=$changed"')
    return "\n".join(s) + "\n"


def main():
    dr, site, out = sys.argv[1:4]
    devices = {d["tag"]: d for d in dr_json(dr, site, "devices")}
    lab = dr_json(dr, site, "lab", "status")
    key = lab["key_file"]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.path.join(BENCH, "ansible", "templates")),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    hosts = []
    for entry in lab["devices"]:
        tag = entry["device"]
        dev = devices[tag]
        host, port = entry["address"].rsplit(":", 1)
        hosts.append(
            {
                "tag": tag,
                "host": host,
                "port": int(port),
                "key": key,
                "assignee_name": dev["assignee"]["name"],
                "assignee_username": dev["assignee"]["username"],
                "desk": dev["location"]["desk"],
                "helpdesk_phone": HELPDESK_PHONE,
                "app_port": APP_PORT,
            }
        )
    os.makedirs(os.path.join(out, "scripts"), exist_ok=True)
    with open(os.path.join(out, "hosts.json"), "w") as f:
        json.dump(hosts, f, indent=1)

    data_keys = ["tag", "assignee_name", "assignee_username", "desk", "helpdesk_phone", "app_port"]
    inv = {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": key,
            },
            "hosts": {
                h["tag"]: {"ansible_host": h["host"], "ansible_port": h["port"], **{k: h[k] for k in data_keys}}
                for h in hosts
            },
        }
    }
    with open(os.path.join(out, "ansible-inventory.yml"), "w") as f:
        json.dump(inv, f, indent=1)

    with open(os.path.join(out, "pyinfra_inventory.py"), "w") as f:
        f.write("# Generated by bench/lib/prepare.py\n")
        f.write("hosts = [\n")
        for h in hosts:
            data = {
                "ssh_port": h["port"],
                "ssh_user": "root",
                "ssh_key": key,
                "ssh_strict_host_key_checking": "off",
                "ssh_known_hosts_file": "/dev/null",
                **{k: h[k] for k in data_keys},
            }
            f.write(f"    ({h['host']!r}, {data!r}),\n")
        f.write("]\n")

    with open(os.path.join(out, "manifest.tsv"), "w") as m:
        for h in hosts:
            path = os.path.join(out, "scripts", f"{h['tag']}.sh")
            with open(path, "w") as f:
                f.write(shell_script(h, env))
            m.write(f"{h['host']}:{h['port']}\t{path}\n")


if __name__ == "__main__":
    main()
