"""Which configuration keys anything in this program reads, outside the project's own.

Pulumi hands a program every key of the stack's configuration, and each namespace belongs to
whoever reads it: the project (``vllm-azureml:``), a provider (``azure-native:``, ``docker:``) or the
engine (``pulumi:``). A key in any other namespace is read by nothing, so a typo there
(``vllm-azurml:authMode: AADToken``) leaves the setting at its default while the stack file looks
configured. The same holds for a misspelt provider key: ``azure-native:subscriptonId`` leaves the
provider on the login's default subscription. :func:`namespace_problems` refuses both, with a
did-you-mean that sees through lookalike characters (lib/lookalikes.py).

The keys each provider reads are its schema's config variables, which its SDK exposes one property
each (pulumi_azure_native 3.29.0 and pulumi_docker 5.2.0, ``config/vars.py``;
tests/lib/test_config_namespaces.py checks this table against the installed SDKs). The engine reads
``pulumi:disable-default-providers`` (pulumi/pulumi pkg/resource/deploy/source_eval.go,
``shouldDenyRequest``: ``GetPackageConfig("pulumi")["disable-default-providers"]``).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping

from lib.lookalikes import lookalike_of, odd_characters, skeleton
from lib.quoting import echo

PROVIDER_KEYS: Mapping[str, frozenset[str]] = {
    "azure-native": frozenset(
        {
            "auxiliaryTenantIds",
            "clientCertificatePassword",
            "clientCertificatePath",
            "clientId",
            "clientSecret",
            "disableInstanceDiscovery",
            "disablePulumiPartnerId",
            "environment",
            "location",
            "metadataHost",
            "msiEndpoint",
            "oidcRequestToken",
            "oidcRequestUrl",
            "oidcToken",
            "oidcTokenFilePath",
            "partnerId",
            "subscriptionId",
            "tenantId",
            "useDefaultAzureCredential",
            "useMsi",
            "useOidc",
        }
    ),
    "docker": frozenset(
        {
            "caMaterial",
            "certMaterial",
            "certPath",
            "context",
            "disableDockerDaemonCheck",
            "host",
            "keyMaterial",
            "registryAuth",
            "sshOpts",
        }
    ),
    "pulumi": frozenset({"disable-default-providers"}),
}

# Provider keys that hold a credential: in a stack file only as `secure:` values
# (`pulumi config set --secret`), never in plaintext that a commit would publish.
PROVIDER_SECRET_KEYS = frozenset(
    {
        "azure-native:clientCertificatePassword",
        "azure-native:clientSecret",
        "azure-native:oidcRequestToken",
        "azure-native:oidcToken",
        "docker:keyMaterial",
        "docker:registryAuth",
    }
)


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    """A hint naming the known name ``name`` imitates or nearly spells, or ""."""
    options = sorted(known)
    twin = lookalike_of(name, options)
    if twin is not None:
        odd = odd_characters(name)
        how = (
            f"it contains {', '.join(odd[:3])}"
            if odd
            else "it has a lookalike letter, such as I for l"
        )
        return f" (did you mean {twin!r}? {how})"
    folded = {skeleton(option): option for option in options}
    close = difflib.get_close_matches(skeleton(name), list(folded), n=1, cutoff=0.75)
    return f" (did you mean {folded[close[0]]!r}?)" if close else ""


class _Hints:
    """Did-you-means for the first keys refused only: a message lists about fifty problems, and
    thousands of wrong keys must not cost thousands of fuzzy searches."""

    limit = 50

    def __init__(self) -> None:
        self.given = 0

    def of(self, name: str, known: Iterable[str]) -> str:
        self.given += 1
        return _did_you_mean(name, known) if self.given <= self.limit else ""


def namespace_problems(
    keys: Iterable[str], project: str, secret_keys: Collection[str] = ()
) -> list[str]:
    """One message per key that nothing reads, or that holds a provider credential in plaintext.

    ``keys`` are full keys (``namespace:name``); project keys are the settings' to judge, so they
    pass here. Linear in the number of keys: each is looked up in sets; the did-you-mean search
    runs only for the first keys refused.
    """
    namespaces = [project, *PROVIDER_KEYS]
    problems: list[str] = []
    hints = _Hints()
    for key in keys:
        namespace, separator, name = key.partition(":")
        if not separator:
            problems.append(
                f"{echo(key)}: a configuration key is namespace:name, for example "
                f"{project}:{name or 'owner'}"
            )
        elif namespace == project:
            continue
        elif namespace not in PROVIDER_KEYS:
            problems.append(
                f"{echo(key)}: namespace {echo(namespace)} is read by nothing in this program"
                f"{hints.of(namespace, namespaces)}; the namespaces read are "
                f"{', '.join(namespaces)}"
            )
        elif name not in PROVIDER_KEYS[namespace]:
            problems.append(
                f"{echo(key)}: the {namespace} provider reads no key {echo(name)}"
                f"{hints.of(name, PROVIDER_KEYS[namespace])}; it reads "
                f"{', '.join(sorted(PROVIDER_KEYS[namespace]))}"
            )
        elif key in PROVIDER_SECRET_KEYS and key not in secret_keys:
            problems.append(
                f"{key}: holds a credential in plaintext; remove it and set it encrypted: "
                f"`pulumi config set --secret {key} <value>`"
            )
    return problems
