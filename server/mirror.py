"""The provider network mirror, served by coderd under /terraform-mirror/.

With ``CODER_PROVIDER_MIRROR_SERVE``, every machine in the network can point
terraform at ``ACCESS_URL/terraform-mirror/`` (``network_mirror``) and get the
same providers the built-in provisioners use. The files and the path rules
are ``mirror_tools.serve``'s: only regular files under the mirror's
``providers/`` folder, nothing hidden, GET and HEAD.
"""
from __future__ import annotations

from pathlib import Path

from flask import Flask, abort, request, send_file

from mirror_tools.serve import content_type, resolve

PREFIX = "/terraform-mirror/"


def init_app(app: Flask, mirror_dir: Path) -> None:
    root = mirror_dir / "providers" if (mirror_dir / "providers").is_dir() else mirror_dir

    @app.route(PREFIX + "<path:subpath>", methods=["GET", "HEAD"])
    def terraform_mirror(subpath: str):
        path = resolve(root.resolve(), request.path, PREFIX)
        if path is None:
            abort(404)
        return send_file(path, mimetype=content_type(path.name), conditional=True, max_age=300)
