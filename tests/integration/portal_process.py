"""The portal served over HTTP in a process of its own (what `portal serve` runs), for tests
that kill a server mid-request. Settings come from the environment as for `portal serve`;
the clock is read from the file named by PORTAL_TEST_CLOCK_FILE, so a test can move it.

    python -m tests.integration.portal_process PORT
"""

import os
import sys
from datetime import datetime
from pathlib import Path


class FileClock:
    def __init__(self, path: str):
        self.path = Path(path)

    def now(self) -> datetime:
        return datetime.fromisoformat(self.path.read_text().strip())


def main() -> None:
    from portal import create_app
    from portal.bootstrap import build_services
    from portal.config import Settings

    clock = FileClock(os.environ["PORTAL_TEST_CLOCK_FILE"])
    app = create_app(services=build_services(Settings.from_env(), clock=clock))
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True, load_dotenv=False)


if __name__ == "__main__":
    main()
