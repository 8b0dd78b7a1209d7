"""Provisioning: the Terraform runner and the RunPod API client (issue 6). No Qt here."""
