"""The DynamoDB store's SMS consent port: one item per account, `SMSCONSENT#<account>`,
found by the number that texts back through `GSI1` `SMSPHONE#<phone>`."""

from collections.abc import Sequence

from portal.adapters.dynamodb.database import DynamoDbTable
from portal.adapters.dynamodb.table import Item, key_condition, parse_required_ts, parse_ts, ts
from portal.domain.texting import SmsConsent

SK = "SMSCONSENT"


class DynamoDbSmsConsents(DynamoDbTable):
    def sms_consent(self, account_number: str) -> SmsConsent | None:
        item = self.db.get(_pk(account_number), SK)
        return _consent(item) if item else None

    def save_sms_consent(self, consent: SmsConsent) -> None:
        item: Item = {
            "PK": _pk(consent.account_number),
            "SK": SK,
            "GSI1PK": f"SMSPHONE#{consent.phone}",
            "GSI1SK": consent.account_number,
            "account_number": consent.account_number,
            "phone": consent.phone,
            "given_at": ts(consent.given_at),
            "source": consent.source,
            "time_zone": consent.time_zone,
        }
        if consent.stopped_at is not None:
            item["stopped_at"] = ts(consent.stopped_at)
        self.db.put(item)

    def sms_consents(self, account_numbers: Sequence[str]) -> dict[str, SmsConsent]:
        if not account_numbers:
            return {}
        items = self.db.get_many([(_pk(n), SK) for n in account_numbers])
        return {item["account_number"]: _consent(item) for item in items}

    def sms_consents_for_phone(self, phone: str) -> list[SmsConsent]:
        found = self.db.query(IndexName="GSI1", **key_condition("GSI1PK", f"SMSPHONE#{phone}"))
        # The index is read eventually consistent: each account's item is read again.
        numbers = sorted({item["account_number"] for item in found})
        return [c for n in numbers if (c := self.sms_consent(n)) and c.phone == phone]


def _pk(account_number: str) -> str:
    return f"SMSCONSENT#{account_number}"


def _consent(item: Item) -> SmsConsent:
    return SmsConsent(
        account_number=item["account_number"],
        phone=item["phone"],
        given_at=parse_required_ts(item["given_at"]),
        source=item["source"],
        stopped_at=parse_ts(item.get("stopped_at")),
        time_zone=item.get("time_zone", ""),
    )
