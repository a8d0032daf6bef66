"""The receiving server's verdict on who sent a message (Authentication-Results, RFC 8601).

Only headers stamped by the installation's own mail server count (`REPORTCHAIN_AUTHSERV_ID`):
anyone can add a header of that name, so one naming another server is ignored, and one naming ours
that cannot be read is taken as a failure. DMARC decides when the server reports it; without it, an
SPF or DKIM `fail` for the From domain does.
"""

from __future__ import annotations

import authres


def _domain(value: str) -> str:
    return value.rsplit("@", 1)[-1].strip().strip(".").lower()


def authentication_failure(headers: tuple[str, ...], authserv_id: str | None, from_address: str) -> str | None:
    """Why the message fails our server's checks (an English detail for the record), or None."""
    if not authserv_id:
        return None
    from_domain = _domain(from_address)
    dmarc, others = [], []
    for value in headers:
        try:
            parsed = authres.AuthenticationResultsHeader.parse("Authentication-Results: " + value)
        except Exception:  # authres raises its own SyntaxError and more on garbage
            if value.strip().split(";", 1)[0].split()[:1] == [authserv_id]:
                return f"unreadable Authentication-Results from {authserv_id}"
            continue
        if (parsed.authserv_id or "").lower() != authserv_id.lower():
            continue
        for result in parsed.results:
            domains = {_domain(p.value) for p in result.properties if p.name in ("from", "d", "i", "mailfrom")}
            entry = (result.method.lower(), (result.result or "").lower(), domains)
            (dmarc if entry[0] == "dmarc" else others).append(entry)
    if dmarc:
        failed = [e for e in dmarc if e[1] == "fail"]
        return f"dmarc=fail from {authserv_id}" if failed else None
    passed = {method for method, result, domains in others if result == "pass" and from_domain in domains}
    for method, result, domains in others:  # a second, valid DKIM signature of the domain outweighs a broken one
        if (method in ("spf", "dkim") and result == "fail" and (not domains or from_domain in domains)
                and method not in passed):
            return f"{method}=fail for {from_domain} from {authserv_id}"
    return None
