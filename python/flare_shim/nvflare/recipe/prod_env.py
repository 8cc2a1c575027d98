"""FLARE's ProdEnv: the job submitted to a running federation with an admin's startup kit."""

import os

from .admin_env import AdminEnv


class ProdEnv(AdminEnv):
    def __init__(self, *, startup_kit_location: str, login_timeout: float = 5.0, username=None, extra=None):
        super().__init__(extra)
        if not os.path.isdir(os.path.join(startup_kit_location, "startup")):
            raise ValueError(f"startup_kit_location {startup_kit_location!r}: not an admin startup kit (no startup/ folder in it)")
        self.startup_kit_location = startup_kit_location
        self.login_timeout = login_timeout

    def admin_kit(self) -> str:
        return self.startup_kit_location
