"""The benchmark workload as a pyinfra deploy (bench/README.md).

Per-device data (tag, assignee_name, assignee_username, desk, helpdesk_phone, app_port)
comes from the generated inventory's host data.
"""

import shlex

from pyinfra import host
from pyinfra.operations import files, server

d = host.data

files.directory(name="directory /etc/bench", path="/etc/bench", mode="755")

for name, src, dest, mode in [
    ("owner file", "owner.conf.j2", "/etc/bench/owner.conf", "644"),
    ("motd", "motd.j2", "/etc/bench/motd", "644"),
    ("app config", "app.ini.j2", "/etc/bench/app.ini", "640"),
]:
    files.template(
        name=name,
        src=f"templates/{src}",
        dest=dest,
        mode=mode,
        tag=d.tag,
        assignee_name=d.assignee_name,
        assignee_username=d.assignee_username,
        desk=d.desk,
        helpdesk_phone=d.helpdesk_phone,
        app_port=d.app_port,
    )

# Guarded commands: pyinfra's server.shell has no creates/unless; the guard is in the shell.
server.shell(
    name="first run stamp (creates)",
    commands=["test -e /etc/bench/first-run || date -u +%Y-%m-%dT%H:%M:%SZ > /etc/bench/first-run"],
)
user = shlex.quote(d.assignee_username)
server.shell(
    name="user account (unless)",
    commands=[
        f"id -u {user} >/dev/null 2>&1 || useradd --create-home --comment "
        f"{shlex.quote(d.assignee_name)} {user}"
    ],
)

files.line(
    name="support banner",
    path="/etc/issue.net",
    line=f"Support: {d.helpdesk_phone}",
    # The line is matched as a regex. escape_regex_characters alone is not idempotent here:
    # it escapes "+" to "\+", which grep's default basic regex reads as "one or more", so the
    # line is never found and is appended again on every run. With extended_regex "\+" is a
    # literal "+".
    escape_regex_characters=True,
    extended_regex=True,
)

server.shell(
    name="verify - owner file names the device",
    commands=[f"grep -qF {shlex.quote(d.tag)} /etc/bench/owner.conf"],
)
