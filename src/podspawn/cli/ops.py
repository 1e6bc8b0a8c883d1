"""``podspawn verify-image``: is an image fit to serve sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from podspawn.cli.app import App

if TYPE_CHECKING:
    from podspawn.services.verify_image import ImageReport


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
    log.configure(app.config().log_file, role="verify")
    report = verify(runtime=get_runtime(), image=image)
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
