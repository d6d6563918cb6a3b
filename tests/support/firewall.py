"""How the Azure Firewall behind an AzureML managed network matches an FQDN rule, for tests.

MicrosoftDocs/azure-docs articles/firewall/firewall-faq.yml, "How do wildcards work in target URLs
and target FQDNs in application rules?": a TargetFQDN asterisk works only on the left-most side and
"means literally anything to the left will match", several labels deep (`*.contoso.com` matches
`any.contoso.com`; the apex `contoso.com` needs its own rule); `*contoso.com` also matches the apex
and lookalikes such as `th3re4lcontoso.com`. Names compare without case.
"""

from __future__ import annotations


def firewall_allows(rule: str, host: str) -> bool:
    rule, host = rule.lower().rstrip("."), host.lower().rstrip(".")
    if rule.startswith("*"):
        return host.endswith(rule[1:]) and host != rule[2:]
    return host == rule
