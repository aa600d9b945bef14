#!/usr/bin/env python3
"""Reads a calendar the way a calendar program would, for the tests.

Standard input is an email (RFC 5322; its text/calendar part is read) or an
.ics file. Prints JSON: the calendar's METHOD and its one event's UID,
SUMMARY, LOCATION, URL, STATUS, SEQUENCE, DTSTART (ISO 8601, in its zone)
and the DTSTART's TZID; parsed with Python's `email` and the `icalendar`
package (a third party's parser), never by hand.
"""

import email
import email.policy
import json
import sys

import icalendar

raw = sys.stdin.buffer.read()
if raw.lstrip().startswith(b"BEGIN:VCALENDAR"):
    ics, content_type = raw, None
else:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    ics, content_type = part.get_payload(decode=True), part.get("Content-Type")

calendar = icalendar.Calendar.from_ical(ics)
event = next(c for c in calendar.walk() if c.name == "VEVENT")
start = event.decoded("DTSTART")
print(json.dumps({
    "content_type": content_type,
    "method": str(calendar.get("METHOD")),
    "timezones": [str(c.get("TZID")) for c in calendar.walk() if c.name == "VTIMEZONE"],
    "uid": str(event.get("UID")),
    "summary": str(event.get("SUMMARY")),
    "location": str(event.get("LOCATION")),
    "url": str(event.get("URL")),
    "status": str(event.get("STATUS")),
    "sequence": int(event.get("SEQUENCE", 0)),
    "dtstart": start.isoformat(),
    "tzid": event["DTSTART"].params.get("TZID"),
}))
