"""OutboxTexts: the local default TextSender, one JSON file per text in a folder."""

import json
import os
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from portal.ports.sms import OutgoingText, check_text


class OutboxTexts:
    def __init__(self, folder: str | Path, origination_number: str = ""):
        self.folder = Path(folder)
        self.origination_number = origination_number

    def send(self, text: OutgoingText) -> str:
        check_text(text)
        self.folder.mkdir(parents=True, exist_ok=True)
        sent_at = datetime.now(UTC)
        name = f"{sent_at.strftime('%Y%m%dT%H%M%S%f')}-{text.kind}-{uuid.uuid4().hex[:8]}.json"
        data = {
            "kind": text.kind,
            "to": text.to,
            "from": self.origination_number,
            "body": text.body,
            "sent_at": sent_at.isoformat(),
        }
        # Write then rename, so a reader never sees half a text.
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False, indent=1)
        os.replace(tmp, self.folder / name)
        return name


def read_outbox(folder: str | Path) -> list[dict[str, str]]:
    """The texts in an outbox folder, oldest first (tests and `portal demo` read them)."""
    path = Path(folder)
    if not path.is_dir():
        return []
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(path.glob("*.json"))]
