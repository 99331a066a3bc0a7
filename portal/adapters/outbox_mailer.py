"""OutboxMailer: the local default Mailer, one .eml file per message in a folder."""

import os
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from portal.ports.mail import OutgoingMessage


class OutboxMailer:
    def __init__(self, folder: str | Path, sender: str):
        self.folder = Path(folder)
        self.sender = sender

    def send(self, message: OutgoingMessage) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"{stamp}-{message.kind}-{uuid.uuid4().hex[:8]}.eml"
        # LF line ends, as .eml files on this machine have always been written.
        data = message.to_bytes(self.sender, linesep="\n")
        # Write then rename, so a reader never sees half a message.
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, self.folder / name)
        return name
