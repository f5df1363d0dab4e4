"""Write the HTML of one Russian survey invitation (as the outbox would send it) to a file,
for the screenshot ``invitation-ru.png``:

    .venv/bin/python docs/screenshots/invitation_ru.py /tmp/invitation-ru.html
    chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
      --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
      --window-size=760,520 --screenshot=docs/screenshots/invitation-ru.png \
      file:///tmp/invitation-ru.html
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from cx_tasks.config import Settings
from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.surveys.invitations import invitation_mail

CONFIG = Settings(data_dir=Path("/nonexistent"), warehouse_url="", source_url="",
                  rules_dir=None, survey_base_url="http://127.0.0.1:8765",
                  survey_secret_text="screenshot-only")
INVITATION = {"invitation_id": "inv:delivery_completed:O00000031:P00042",
              "contact_id": "P00042", "survey_id": "tx_delivery_completed", "language": "ru",
              "full_name": "Иванов Олег Антонович", "client_name": "ООО «Алтайхимпром»",
              "order_id": "O00000031", "ref_id": "O00000031"}

if __name__ == "__main__":
    mail, _ = invitation_mail(INVITATION, survey_catalogue(), CONFIG, datetime(2026, 12, 6, 9))
    assert mail.html is not None
    Path(sys.argv[1]).write_text(mail.html, encoding="utf-8")
