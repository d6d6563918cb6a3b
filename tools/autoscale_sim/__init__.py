"""What-if simulator for a stack's autoscale setting: ``python -m tools.autoscale_sim``.

It replays traffic against the autoscale inputs the program declares (run under the offline mocks)
with Azure Monitor's evaluation rules and a stated model of AzureML and vLLM, and reports
instance-hours, cost, lost requests and latency against an oracle. docs/autoscale.md explains the
model and how to tune thresholds with it.
"""
