"""``podspawn images bootstrap IMAGE``."""

from __future__ import annotations

import click

from podspawn.cli.app import App


@click.group("images")
def images() -> None:
    """Build base images on servers that cannot pull."""


@images.command("bootstrap")
@click.argument("image")
@click.option("--mirror", metavar="URL",
              help="Debian/Ubuntu mirror (default images.mirror, else the host's apt source).")
@click.pass_obj
def bootstrap(app: App, image: str, mirror: str | None) -> None:
    """Build IMAGE (debian:<suite> or ubuntu:<version>) with debootstrap and tag it."""
    from podspawn import log
    from podspawn.runtime import get_runtime
    from podspawn.services.images import bootstrap as run
    from podspawn.services.privileges import require_root

    require_root("images bootstrap")
    config = app.config()
    log.configure(config.log_file, role="images")
    out = app.output
    image_id = run(runtime=get_runtime(config.runtime.backend), image=image,
                   mirror=mirror or config.images.mirror, progress=out.info)
    if app.json_mode:
        out.data({"image": image, "id": image_id})
        return
    out.line(f"built {image} ({image_id[7:19]})")
