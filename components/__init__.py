"""Pulumi component resources that deploy a vLLM server on AzureML managed online endpoints."""
