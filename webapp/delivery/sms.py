"""SMS channel: a small sender interface, chosen by SMS_BACKEND.

- console: development; prints the message (with its link) and keeps it in the dev outbox.
  Refused in production.
- outbox: tests; messages kept in memory on the app (`sms.outbox(app)`).
- twilio: production, through the official `twilio` package.

Numbers must be valid E.164. Senders raise SmsError(result=...) so the batch can tell a
refused number (failed) from a provider hiccup (retried with back-off) and from a rate limit
(the run slows down).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

import phonenumbers
from flask import Flask, current_app

from webapp.delivery import devoutbox, messages
from webapp.delivery.messages import Prepared
from webapp.delivery.outcomes import DeliveryConfigError, Result

log = logging.getLogger(__name__)


class SmsError(Exception):
    """A provider's refusal: `result` says whether it is for good, for now, or a rate limit."""

    def __init__(self, reason: str, *, result: Result) -> None:
        super().__init__(reason)
        self.reason = reason
        self.result = result


@dataclass(frozen=True)
class SmsMessage:
    to: str
    body: str


class SmsSender(Protocol):
    def send(self, to: str, body: str) -> str:
        """Send one message and return the provider's id for it."""
        ...


def valid_e164(number: str | None) -> str | None:
    """Return the number in E.164 form if it is a valid one, else None."""
    if not number or not number.startswith("+"):
        return None
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    formatted = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return formatted if formatted == number else None


class ConsoleSender:
    """Development: print each message and keep it in the dev outbox (links are clickable)."""

    def send(self, to: str, body: str) -> str:
        print(f"[SMS to {to}] {body}", flush=True)  # noqa: T201 (development only)
        if devoutbox.enabled():
            return devoutbox.store("sms", to, f"SMS to {to}", body)
        return "console"


class OutboxSender:
    """Tests: keep messages in memory on the app."""

    def __init__(self, app: Flask) -> None:
        self.messages: list[SmsMessage] = app.extensions.setdefault("keyslip_sms_outbox", [])

    def send(self, to: str, body: str) -> str:
        self.messages.append(SmsMessage(to, body))
        return f"outbox-{len(self.messages)}"


class TwilioSender:
    """Production: Twilio's REST API. Pass `client` to use a fake in tests."""

    def __init__(self, cfg: dict, client: Any = None) -> None:
        if client is None:
            from twilio.rest import Client

            if not (cfg.get("TWILIO_ACCOUNT_SID") and cfg.get("TWILIO_AUTH_TOKEN")):
                raise DeliveryConfigError(
                    "SMS is not configured: set FLASK_TWILIO_ACCOUNT_SID and "
                    "FLASK_TWILIO_AUTH_TOKEN."
                )
            client = Client(cfg["TWILIO_ACCOUNT_SID"], cfg["TWILIO_AUTH_TOKEN"])
        self.client = client
        self.origin: dict[str, str] = {}
        if cfg.get("TWILIO_MESSAGING_SERVICE_SID"):
            self.origin["messaging_service_sid"] = cfg["TWILIO_MESSAGING_SERVICE_SID"]
        elif cfg.get("TWILIO_FROM_NUMBER"):
            self.origin["from_"] = cfg["TWILIO_FROM_NUMBER"]
        else:
            raise DeliveryConfigError(
                "SMS is not configured: set FLASK_TWILIO_FROM_NUMBER or "
                "FLASK_TWILIO_MESSAGING_SERVICE_SID."
            )

    def send(self, to: str, body: str) -> str:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            message = self.client.messages.create(to=to, body=body, **self.origin)
        except TwilioRestException as exc:
            raise SmsError(
                f"{exc.status} {exc.code}: {exc.msg}"[:500], result=_twilio_result(exc.status)
            ) from exc
        except (TwilioException, OSError) as exc:
            raise SmsError(f"{type(exc).__name__}: {exc}"[:500], result=Result.RETRY) from exc
        return message.sid


def _twilio_result(status: int) -> Result:
    """429 asks us to slow down; 5xx is the provider's trouble; other 4xx are for good."""
    if status == 429:
        return Result.THROTTLED
    return Result.RETRY if status >= 500 else Result.FAILED


def sender() -> SmsSender:
    """Build the sender SMS_BACKEND names; console and outbox are refused in production."""
    app = current_app._get_current_object()
    backend = app.config["SMS_BACKEND"]
    if backend in ("console", "outbox") and app.config["ENVIRONMENT"] == "production":
        raise DeliveryConfigError(f"SMS_BACKEND={backend} is not allowed in production.")
    if backend == "console":
        return ConsoleSender()
    if backend == "outbox":
        return OutboxSender(app)
    if backend == "twilio":
        factory = app.extensions.get("keyslip_twilio_client")
        return TwilioSender(app.config, factory() if factory else None)
    raise DeliveryConfigError(f"SMS_BACKEND must be console, outbox or twilio, not {backend!r}")


def outbox(app: Flask) -> list[SmsMessage]:
    """The in-memory outbox of SMS_BACKEND=outbox."""
    return app.extensions.setdefault("keyslip_sms_outbox", [])


class SmsChannel:
    """Render and send each delivery's SMS; stop the run after repeated provider trouble."""

    def __init__(self, provider: SmsSender, give_up_after: int = 3) -> None:
        self.provider = provider
        self.give_up_after = give_up_after
        self.trouble = 0  # provider hiccups in a row

    def deliver(self, prepared: Prepared) -> tuple[Result, str | None]:
        try:
            self.provider.send(prepared.to, messages.sms_text(prepared))
        except SmsError as exc:
            if exc.result is not Result.RETRY:
                return exc.result, exc.reason
            self.trouble += 1
            if self.trouble >= self.give_up_after:
                # No retry storm: the rest of the batch waits for the next run.
                return Result.INTERRUPTED, exc.reason
            return Result.RETRY, exc.reason
        self.trouble = 0
        return Result.SENT, None

    def close(self) -> None:
        """Each message is its own request: nothing is held open."""
