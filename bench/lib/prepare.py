#!/usr/bin/env python3
"""Prepares one contender's inputs from a bench site copy whose lab is up (not timed).

    prepare.py DESKREADY SITE OUTDIR

Reads the devices (tag, assignee, desk, profile vars) with `deskready devices` and their
lab addresses with `deskready lab status`, then writes into OUTDIR:

- hosts.json            [{tag, host, port, key, vars...}] (for reference)
- ansible-inventory.yml the devices with their per-device variables (JSON is valid YAML)
- pyinfra_inventory.py  the same for pyinfra
- scripts/KIND/TAG.sh   the pre-rendered POSIX shell scripts for the device, one per KIND:
    floor    the least work: no probing, no staging, no sync; each file written with one
             redirection (the shell's printf builtin) to a name beside it and renamed; the
             workload's own guards only (`creates:`, `unless:`, the line); same script on
             every run, so a re-run rewrites the three files (same contents)
    guarded  the floor plus one `sha256sum` and one `stat` of the three files at the start;
             a file is rewritten only when its digest or mode differs
    durable  deskready's guarantees: contents staged to a temp dir, `cmp` per file, temp +
             chmod + `sync` + rename, line through temp + `sync` + rename (also OpenSSH's)
- manifest-KIND.tsv     HOST:PORT<TAB>scripts/KIND/TAG.sh, one line per device

Every script ends with `BENCH changed=N`: the resources it wrote or ran on the device (for
the floor's re-run, the three files it rewrote with the same contents).

Templates are rendered with Jinja2 from bench/ansible/templates (the same text as the
bench site's Tera templates; bench/run checks the files the contenders write are identical).
Runs with the bench venv's python (Jinja2 comes with ansible-core).
"""

import hashlib
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


# The workload's files: path, Jinja2 template, mode.
FILES = [
    ("/etc/bench/owner.conf", "owner.conf.j2", "644"),
    ("/etc/bench/motd", "motd.j2", "644"),
    ("/etc/bench/app.ini", "app.ini.j2", "640"),
]
# The mode's complement, for the umask a file is created under (no chmod needed).
UMASK = {"644": "022", "640": "027"}


def least_work_script(d, env, guarded):
    """The least work that leaves a fresh device in the workload's state: builtins where the
    shell has one (printf, test, umask), one process where it has not (mkdir once, mv per
    file, the guarded commands and their guards, grep for the line and the check). Files are
    created under the umask that gives their mode, written by one redirection and renamed
    over the old one (atomic, not durable: no sync). With `guarded`, one sha256sum and one
    stat of the files first, and a file is written only when its digest or mode differs."""
    q = shlex.quote
    s = ["set -eu", "export LC_ALL=C", "n=0", "umask 022", "[ -d /etc/bench ] || { mkdir /etc/bench; n=$((n+1)); }"]
    paths = " ".join(q(p) for p, _, _ in FILES)
    if guarded:
        s.append(f"h=$(sha256sum {paths} 2>/dev/null || :)")
        s.append(f"m=$(stat -c '%a %n' {paths} 2>/dev/null || :)")
    for i, (path, tpl, mode) in enumerate(FILES):
        content = env.get_template(tpl).render(**d)
        t = q(path + ".new")
        write = f"printf %s {q(content)} > {t}"
        if UMASK[mode] != "022":
            write = f"umask {UMASK[mode]}; {write}; umask 022"
        write = f"{write}; mv -f {t} {q(path)}; n=$((n+1))"
        if guarded:
            digest = hashlib.sha256(content.encode()).hexdigest()
            s.append(f"w{i}() {{ {write}; }}")
            s.append(f'case "$h" in *"{digest}  {path}"*) case "$m" in *"{mode} {path}"*) ;; *) w{i};; esac;; *) w{i};; esac')
        else:
            s.append(write)
    # command, creates:
    s.append(
        "[ -e /etc/bench/first-run ] || { date -u +%Y-%m-%dT%H:%M:%SZ > /etc/bench/first-run; n=$((n+1)); }"
    )
    # command, unless:
    user = q(d["assignee_username"])
    s.append(
        f"id -u {user} >/dev/null 2>&1 || "
        f"{{ useradd --create-home --comment {q(d['assignee_name'])} {user} </dev/null >/dev/null; n=$((n+1)); }}"
    )
    # line in a file: appended in place (one redirection)
    line = f"Support: {d['helpdesk_phone']}"
    s.append(f"grep -qxF -e {q(line)} /etc/issue.net 2>/dev/null || {{ printf '%s\\n' {q(line)} >> /etc/issue.net; n=$((n+1)); }}")
    # verify
    s.append(f"grep -qF {q(d['tag'])} /etc/bench/owner.conf || {{ echo 'verify failed: owner file'; exit 1; }}")
    s.append('echo "BENCH changed=$n"')
    return "\n".join(s) + "\n"


def durable_script(d, env):
    """One script doing the whole workload, idempotent, with the same guarantees as
    deskready's: contents staged first, files replaced by temp + chmod + sync + rename only
    when they differ, modes fixed, guarded commands, a line added when missing, the verify
    check. Prints `BENCH changed=N` last."""
    q = shlex.quote
    files = FILES
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
    os.makedirs(out, exist_ok=True)
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

    kinds = {
        "floor": lambda h: least_work_script(h, env, guarded=False),
        "guarded": lambda h: least_work_script(h, env, guarded=True),
        "durable": lambda h: durable_script(h, env),
    }
    for kind, render in kinds.items():
        os.makedirs(os.path.join(out, "scripts", kind), exist_ok=True)
        with open(os.path.join(out, f"manifest-{kind}.tsv"), "w") as m:
            for h in hosts:
                path = os.path.join(out, "scripts", kind, f"{h['tag']}.sh")
                with open(path, "w") as f:
                    f.write(render(h))
                m.write(f"{h['host']}:{h['port']}\t{path}\n")


if __name__ == "__main__":
    main()
