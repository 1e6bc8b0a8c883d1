"""``podspawn doctor`` and ``podspawn verify-image``: is the server, or an image, fit to serve."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from podspawn.cli.app import App

if TYPE_CHECKING:
    from podspawn.services.doctor import Check
    from podspawn.services.verify_image import ImageReport

STATUSES = ("ok", "warn", "FAIL")


@click.command("doctor")
@click.option("--sshd-config", default="/etc/ssh/sshd_config", show_default=True,
              metavar="PATH", help="The sshd_config that server-setup wrote to.")
@click.pass_obj
def doctor(app: App, sshd_config: str) -> int:
    """Check this server: Docker, sshd, sudo, modes, state, images, disk, address pools."""
    from podspawn import log
    from podspawn.cli.server import own_binary
    from podspawn.services.doctor import diagnose
    from podspawn.services.privileges import require_root

    require_root("doctor")
    config = app.config()
    log.configure(config.log_file, role="doctor")
    checks = diagnose(config=config, config_path=app.resolved_config_path(),
                      binary=own_binary(), sshd_config=sshd_config)
    counts = {status: sum(1 for c in checks if c.status == status) for status in STATUSES}
    if app.json_mode:
        app.output.data({"healthy": counts["FAIL"] == 0, "counts": counts,
                         "checks": [{"name": c.name, "status": c.status, "message": c.message,
                                     "fix": c.fix or None} for c in checks]})
    else:
        for line in check_lines(checks):
            app.output.line(line)
        app.output.line(", ".join(f"{counts[s]} {s}" for s in STATUSES))
    return 1 if counts["FAIL"] else 0


def check_lines(checks: Sequence[Check]) -> list[str]:
    """One line per check: status, name, what was found and, unless ok, the fix."""
    width = max((len(c.name) for c in checks), default=0)
    return [f"{c.status:<4}  {c.name:<{width}}  {c.message}" + (f"; fix: {c.fix}" if c.fix
                                                                  else "")
            for c in checks]


@click.command("verify-image")
@click.argument("image")
@click.pass_obj
def verify_image(app: App, image: str) -> int:
    """Check that IMAGE can serve sessions (shell, sudo, sftp, sshd, rsync, ...)."""
    from podspawn import log
    from podspawn.runtime import get_runtime
    from podspawn.services.privileges import require_root
    from podspawn.services.verify_image import verify_image as verify

    require_root("verify-image")
    config = app.config()
    log.configure(config.log_file, role="verify")
    report = verify(runtime=get_runtime(config.runtime.backend), image=image)
    if app.json_mode:
        app.output.data({
            "image": report.image, "ok": report.ok,
            "missing_packages": list(report.missing_packages),
            "findings": [{"name": f.name, "present": f.present, "required": f.required,
                          "package": f.package, "why": f.why} for f in report.findings],
        })
    else:
        for line in image_lines(report):
            app.output.line(line)
    return 0 if report.ok else 1


def image_lines(report: ImageReport) -> list[str]:
    width = max(len(f.name) for f in report.findings)
    lines = []
    for f in report.findings:
        status = "ok" if f.present else "FAIL" if f.required else "warn"
        detail = ("present" if f.present
                  else f"missing, needed for {f.why}; add the Debian package {f.package}")
        lines.append(f"{status:<4}  {f.name:<{width}}  {detail}")
    if report.missing_packages:
        verdict = ("can serve sessions, without some extras" if report.ok
                   else "cannot serve sessions")
        lines.append(f"{report.image} {verdict}; add to the Podfile: packages: "
                     f"[{', '.join(report.missing_packages)}]")
    else:
        lines.append(f"{report.image} has everything a session uses")
    return lines
