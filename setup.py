"""Packaging for gae-emu.

`handlers/` is shipped as the package `gae_emu.handlers` (a package-dir mapping, so it works for
both `pip install .` and `pip install -e .`), and the top-level `app.yaml` is copied next to it in
the built wheel by `build_py` below. `gae_emu.runtime.builtin.builtin_app_yaml()` finds it in either
layout.
"""
import os
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildPyWithBuiltinAppYaml(build_py):
    """Copy the top-level app.yaml into the built `gae_emu/handlers/` package."""

    def run(self) -> None:
        super().run()
        target = os.path.join(self.build_lib, "gae_emu", "handlers")
        os.makedirs(target, exist_ok=True)
        shutil.copyfile(os.path.join(HERE, "app.yaml"), os.path.join(target, "app.yaml"))


packages = find_packages(include=["gae_emu", "gae_emu.*"]) + ["gae_emu.handlers"]

setup(
    name="gae-emu",
    version="0.1.0",
    description="A local emulator of Google App Engine (standard environment, Python)",
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read()
    if os.path.exists(os.path.join(HERE, "README.md"))
    else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=packages,
    package_dir={"gae_emu.handlers": "handlers"},
    package_data={"gae_emu.handlers": ["*.yaml", "templates/*"]},
    include_package_data=True,
    # tzdata: cron.yaml time zones through zoneinfo on systems without zone files (Windows, slim images).
    install_requires=["werkzeug>=2.2", "pyyaml>=5.4", "click>=8.0", "tzdata"],
    extras_require={
        "test": ["pytest>=7", "setuptools>=64", "wheel", "selenium>=4.10", "appengine-python-standard>=1.1", "flask",
                 "hypothesis>=6.100", "uvicorn", "django",
                 "grpcio>=1.50", "google-cloud-datastore>=2.16", "google-cloud-ndb>=2.3", "google-cloud-tasks>=2.13"],
        "google": ["appengine-python-standard>=1.1"],
        # The Cloud Datastore v1 and Cloud Tasks v2 APIs (gae_emu/cloud): Google's published message
        # classes and grpcio.
        "cloud": ["grpcio>=1.50", "google-cloud-datastore>=2.16", "google-cloud-tasks>=2.13"],
        "bench": ["huey", "dramatiq[redis]", "redis"],
    },
    entry_points={
        "console_scripts": ["gae-emu = gae_emu.cli:main"],
        "pytest11": ["gae_emu = gae_emu.testing"],
    },
    cmdclass={"build_py": BuildPyWithBuiltinAppYaml},
)
