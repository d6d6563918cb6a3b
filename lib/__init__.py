"""Plumbing that is not a component: Azure facts, naming, roles, the ARM client, tokens, runtime detection."""
